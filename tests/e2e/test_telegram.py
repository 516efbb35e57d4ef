"""Telegram end to end through the app: saving a bot sets its webhook, updates are checked in
the contract's order, replies go out through sendMessage, and the token never leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.channels.telegram.double import make_update
from tests.e2e.channels.telegram import BOT_TOKEN, CHAT_ID, TelegramHarness
from tests.e2e.conftest import Gateway, GatewayFactory

MARKDOWN = {"kind": "python", "target": "tests.e2e.test_telegram:markdown_agent"}


async def markdown_agent(payload: dict[str, object]) -> str:
    return "**Order 42** is _on its way_: `track-42`"


@pytest.fixture
async def tg(open_gateway: GatewayFactory) -> AsyncIterator[tuple[TelegramHarness, Gateway]]:
    harness = TelegramHarness()
    async with open_gateway(**harness.env) as gw:
        harness.install(gw)
        yield harness, gw


async def test_saving_checks_the_token_and_sets_the_webhook_with_a_secret(
    tg: tuple[TelegramHarness, Gateway],
) -> None:
    harness, gw = tg
    agent = await harness.connect(gw)
    assert harness.api is not None
    assert harness.api.calls == ["getMe", "setWebhook"]
    assert harness.api.webhook is not None
    assert harness.api.webhook["url"] == f"http://localhost/webhooks/telegram/{agent}"
    assert len(harness.api.secret) >= 32
    shown = await gw.api_json("GET", f"/api/agents/{agent}/channels/telegram")
    assert shown == {
        "kind": "telegram",
        "enabled": True,
        "webhook_url": f"http://localhost/webhooks/telegram/{agent}",
        "bot_token_set": True,
        "bot_username": "shop_bot",
    }
    listed = await gw.api_json("GET", f"/api/agents/{agent}/channels")
    assert listed == {"items": [shown]}


async def test_a_token_telegram_refuses_is_422_on_its_field_and_nothing_is_saved(
    tg: tuple[TelegramHarness, Gateway],
) -> None:
    harness, gw = tg
    agent = await gw.create_agent()
    path = f"/api/agents/{agent}/channels/telegram"
    for token in ("987654321:AAH" + "y" * 32, "not a token"):
        response = await gw.api("PUT", path, json={"bot_token": token})
        assert response.status_code == 422
        assert set((await response.get_json())["fields"]) == {"bot_token"}
    assert (await gw.api("GET", path)).status_code == 404
    assert harness.api is not None and harness.api.webhook is None


async def test_an_update_is_answered_with_plain_text_and_becomes_a_lead(
    tg: tuple[TelegramHarness, Gateway],
) -> None:
    harness, gw = tg
    agent = await harness.connect(gw, MARKDOWN)
    assert (await harness.inbound(gw, agent, "where is my order?", "5001")).status_code == 200
    items = await gw.wait_answered(harness.session_of(agent))
    assert items[-1]["status"] == "sent"
    assert harness.api is not None
    assert harness.api.sent == [
        {"chat_id": int(CHAT_ID), "text": "Order 42 is on its way: track-42"}
    ]
    (lead,) = await gw.leads(platform="telegram")
    assert (lead["contact"], lead["phone"], lead["name"]) == (CHAT_ID, None, "Ada Lovelace")


async def test_the_webhook_checks_come_in_the_contracts_order(
    tg: tuple[TelegramHarness, Gateway],
) -> None:
    harness, gw = tg
    agent = await harness.connect(gw)
    assert harness.api is not None
    secret = {"X-Telegram-Bot-Api-Secret-Token": harness.api.secret}
    path = f"/webhooks/telegram/{agent}"

    async def post(target: str, **kwargs: object) -> tuple[int, str]:
        response = await gw.request("POST", target, **kwargs)
        return response.status_code, await response.get_data(as_text=True)

    big = {"update_id": 1, "pad": "x" * 70_000}
    assert (await post(path, json=big, headers=secret))[0] == 413
    other = "00000000-0000-4000-8000-000000000000"
    assert (await post(f"/webhooks/telegram/{other}", json={}, headers=secret))[0] == 404
    assert await post(path, json=make_update(1, 42, "hi")) == (403, "Unauthorized")
    bad = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
    assert await post(path, json=make_update(1, 42, "hi"), headers=bad) == (403, "Unauthorized")
    raw = {"headers": {**secret, "Content-Type": "application/json"}, "data": "{nope"}
    assert (await post(path, **raw))[0] == 400
    assert (await post(path, json={"message": {}}, headers=secret))[0] == 400
    assert await gw.leads() == []
    unconfigured = await gw.create_agent()
    got = await post(f"/webhooks/telegram/{unconfigured}", json={}, headers=secret)
    assert got == (403, "Telegram not enabled")


async def test_an_update_without_text_is_acknowledged_and_not_answered(
    tg: tuple[TelegramHarness, Gateway],
) -> None:
    harness, gw = tg
    agent = await harness.connect(gw)
    assert harness.api is not None
    update = make_update(7001, int(CHAT_ID), "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "CAACAgIAAx", "emoji": "👍"}
    headers = {"X-Telegram-Bot-Api-Secret-Token": harness.api.secret}
    response = await gw.request("POST", f"/webhooks/telegram/{agent}", json=update, headers=headers)
    assert response.status_code == 200
    assert await gw.leads() == []
    assert harness.api.sent == []
    # A photo with a caption is answered: the caption is its text.
    update = make_update(7002, int(CHAT_ID), "x", username="ada")
    del update["message"]["text"]
    update["message"]["caption"] = "is this in stock?"
    response = await gw.request("POST", f"/webhooks/telegram/{agent}", json=update, headers=headers)
    assert response.status_code == 200
    await gw.wait_answered(harness.session_of(agent))
    (lead,) = await gw.leads()
    assert lead["name"] == "Ada"


async def test_disabling_and_deleting_remove_the_webhook_and_keep_the_token_secret(
    tg: tuple[TelegramHarness, Gateway],
) -> None:
    harness, gw = tg
    agent = await harness.connect(gw)
    assert harness.api is not None
    first_secret = harness.api.secret
    path = f"/api/agents/{agent}/channels/telegram"
    disabled = await gw.api_json("PUT", path, json={"enabled": False})
    assert disabled["enabled"] is False and disabled["bot_token_set"] is True
    assert harness.api.calls[-1] == "deleteWebhook" and harness.api.webhook is None
    # Enabled again without the token: the stored one is used, with a fresh secret.
    again = await gw.api_json("PUT", path, json={"enabled": True})
    assert again["enabled"] is True and harness.api.calls[-2:] == ["getMe", "setWebhook"]
    assert harness.api.secret != first_secret
    secret_forms_before_delete = harness.api.secret.encode()
    assert (await gw.api("DELETE", path)).status_code == 204
    assert harness.api.calls[-1] == "deleteWebhook"
    assert (await gw.api("DELETE", path)).status_code == 404
    secret_forms = [BOT_TOKEN.encode(), BOT_TOKEN.split(":")[1].encode(), first_secret.encode()]
    data = Path(gw.settings.data_dir)
    for file in data.glob("*.sqlite3*"):
        content = file.read_bytes()
        assert not any(form in content for form in secret_forms), file.name
        assert secret_forms_before_delete not in content
    for body in gw.bodies:
        assert not any(form in body for form in secret_forms)
