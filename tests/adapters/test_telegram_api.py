"""TelegramBotApi against respx (Telegram's exact JSON) and against the Bot API double."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from adapters.channels.telegram.api import (
    InvalidToken,
    TelegramBotApi,
    TelegramRefused,
    TelegramUnavailable,
)
from adapters.channels.telegram.double import (
    TelegramDoubleStore,
    create_telegram_double_app,
    make_update,
)
from ports.errors import SendFailed, SendOutcomeUnknown

TOKEN = "4839574812:AAFD39kkdpWt3ywyRZergyOLMaJhac60qcU"
BASE = "https://api.telegram.org"
BOT = f"/bot{TOKEN}"
CHAT = "987654321"
SECRET = "s3cr3t-Webhook_token"
LOGGER = "adapters.channels.telegram"

ME = {
    "id": 4839574812,
    "is_bot": True,
    "first_name": "Gateway",
    "username": "gateway_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MESSAGE: dict[str, Any] = {
    "message_id": 42,
    "from": {"id": 4839574812, "is_bot": True, "first_name": "Gateway"},
    "chat": {"id": 987654321, "first_name": "Ada", "type": "private"},
    "date": 1767323045,
    "text": "olá",
}
SENT = {"ok": True, "result": MESSAGE}
UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}
NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
CHAT_NOT_FOUND = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
BLOCKED = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
SERVER_ERROR = {"ok": False, "error_code": 500, "description": "Internal Server Error"}


def flood(seconds: int) -> httpx.Response:
    body = {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {seconds}",
        "parameters": {"retry_after": seconds},
    }
    return httpx.Response(429, json=body)


def leaky(kind: type[httpx.TransportError]) -> Any:
    """A side effect raising `kind` whose message names the URL, token included."""

    def raise_it(request: httpx.Request) -> None:
        raise kind(f"failed on {request.url}", request=request)

    return raise_it


def assert_no_token(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert exc.__cause__ is None and exc.__context__ is None
    rendered = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), rendered, str(exc.args)):
        assert TOKEN not in text and TOKEN.split(":")[1] not in text
    for record in caplog.records:
        assert TOKEN.split(":")[1] not in record.getMessage()


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def delays() -> list[float]:
    return []


@pytest.fixture
def api(http: httpx.AsyncClient, delays: list[float]) -> TelegramBotApi:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return TelegramBotApi(http, max_attempts=4, base_delay_s=0.5, max_delay_s=10.0, sleep=sleep)


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


# getMe


async def test_get_me_posts_json_and_returns_the_user(
    router: respx.MockRouter, api: TelegramBotApi
) -> None:
    route = router.post(f"{BOT}/getMe").respond(json={"ok": True, "result": ME})
    assert await api.get_me(TOKEN) == ME
    assert route.calls.last.request.method == "POST"
    assert route.calls.last.request.headers["content-type"] == "application/json"
    assert sent_json(route) == {}


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, UNAUTHORIZED), (404, NOT_FOUND), (400, CHAT_NOT_FOUND)],
)
async def test_get_me_refusals_are_invalid_token(
    router: respx.MockRouter,
    api: TelegramBotApi,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: dict[str, Any],
) -> None:
    router.post(f"{BOT}/getMe").respond(status, json=body)
    with pytest.raises(InvalidToken) as caught:
        await api.get_me(TOKEN)
    assert (caught.value.description, caught.value.code) == (body["description"], status)
    assert_no_token(caught.value, caplog)


async def test_malformed_tokens_never_reach_the_network(
    router: respx.MockRouter, api: TelegramBotApi
) -> None:
    route = router.route().respond(json={"ok": True, "result": ME})
    for bad in ("", "no-colon", "123:abc/../../x", "abc:def"):
        with pytest.raises(InvalidToken):
            await api.get_me(bad)
        with pytest.raises(SendFailed):
            await api.send_message(bad, CHAT, "hi")
        await api.send_chat_action(bad, CHAT)
    assert not route.called


@pytest.mark.parametrize(
    "effect",
    [
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(500, json=SERVER_ERROR),
        flood(3),
        leaky(httpx.ConnectError),
        leaky(httpx.ReadTimeout),
    ],
)
async def test_get_me_outages_are_unavailable(
    router: respx.MockRouter, api: TelegramBotApi, caplog: pytest.LogCaptureFixture, effect: Any
) -> None:
    router.post(f"{BOT}/getMe").mock(side_effect=[effect])
    with pytest.raises(TelegramUnavailable) as caught:
        await api.get_me(TOKEN)
    assert_no_token(caught.value, caplog)


# setWebhook / deleteWebhook


async def test_set_webhook_sends_secret_and_update_types(
    router: respx.MockRouter, api: TelegramBotApi
) -> None:
    answer = {"ok": True, "result": True, "description": "Webhook was set"}
    route = router.post(f"{BOT}/setWebhook").respond(json=answer)
    await api.set_webhook(TOKEN, "https://gw.example/webhooks/telegram/a1", SECRET)
    assert sent_json(route) == {
        "url": "https://gw.example/webhooks/telegram/a1",
        "secret_token": SECRET,
        "allowed_updates": ["message"],
        "drop_pending_updates": False,
    }


@pytest.mark.parametrize("secret", ["", "has space", "colon:inside", "é", "x" * 257])
async def test_set_webhook_rejects_secrets_telegram_would_refuse(
    router: respx.MockRouter, api: TelegramBotApi, secret: str
) -> None:
    route = router.route()
    with pytest.raises(ValueError) as caught:
        await api.set_webhook(TOKEN, "https://gw.example/h", secret)
    assert not route.called
    assert not secret or secret not in str(caught.value)


async def test_set_webhook_refusals(
    router: respx.MockRouter, api: TelegramBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    bad_url = {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
    }
    router.post(f"{BOT}/setWebhook").mock(
        side_effect=[httpx.Response(400, json=bad_url), httpx.Response(401, json=UNAUTHORIZED)]
    )
    with pytest.raises(TelegramRefused) as refused:
        await api.set_webhook(TOKEN, "http://gw.example/h", SECRET)
    assert not isinstance(refused.value, InvalidToken)
    assert (refused.value.description, refused.value.code) == (bad_url["description"], 400)
    with pytest.raises(InvalidToken) as invalid:  # an InvalidToken is a TelegramRefused too
        await api.set_webhook(TOKEN, "https://gw.example/h", SECRET)
    assert_no_token(refused.value, caplog)
    assert_no_token(invalid.value, caplog)


async def test_set_webhook_outage_is_unavailable(
    router: respx.MockRouter, api: TelegramBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    router.post(f"{BOT}/setWebhook").mock(side_effect=leaky(httpx.ConnectTimeout))
    with pytest.raises(TelegramUnavailable) as caught:
        await api.set_webhook(TOKEN, "https://gw.example/h", SECRET)
    assert_no_token(caught.value, caplog)


async def test_delete_webhook_keeps_pending_updates(
    router: respx.MockRouter, api: TelegramBotApi
) -> None:
    answer = {"ok": True, "result": True, "description": "Webhook was deleted"}
    route = router.post(f"{BOT}/deleteWebhook").respond(json=answer)
    await api.delete_webhook(TOKEN)
    assert sent_json(route) == {"drop_pending_updates": False}


# sendMessage


async def test_send_message_returns_chat_and_message_id(
    router: respx.MockRouter, api: TelegramBotApi, delays: list[float]
) -> None:
    route = router.post(f"{BOT}/sendMessage").respond(json=SENT)
    assert await api.send_message(TOKEN, CHAT, "olá") == "987654321:42"
    assert sent_json(route) == {"chat_id": 987654321, "text": "olá"}
    assert delays == []


async def test_usernames_are_sent_as_strings(router: respx.MockRouter, api: TelegramBotApi) -> None:
    answer = {"ok": True, "result": {**MESSAGE, "chat": {"id": -1001234, "type": "channel"}}}
    route = router.post(f"{BOT}/sendMessage").respond(json=answer)
    assert await api.send_message(TOKEN, "@news", "hi") == "-1001234:42"
    assert sent_json(route)["chat_id"] == "@news"


async def test_flood_control_waits_retry_after_capped(
    router: respx.MockRouter, api: TelegramBotApi, delays: list[float]
) -> None:
    route = router.post(f"{BOT}/sendMessage").mock(
        side_effect=[flood(3), flood(2282), httpx.Response(200, json=SENT)]
    )
    assert await api.send_message(TOKEN, CHAT, "olá") == "987654321:42"
    assert delays == [3.0, 10.0]
    assert route.call_count == 3


@pytest.mark.parametrize(
    "effect",
    [
        httpx.Response(500, json=SERVER_ERROR),
        httpx.Response(502, text="Bad Gateway"),
        leaky(httpx.ConnectError),
        leaky(httpx.ConnectTimeout),
        leaky(httpx.PoolTimeout),
    ],
)
async def test_not_delivered_attempts_retry_with_jittered_backoff(
    router: respx.MockRouter, api: TelegramBotApi, delays: list[float], effect: Any
) -> None:
    route = router.post(f"{BOT}/sendMessage").mock(
        side_effect=[effect, effect, effect, httpx.Response(200, json=SENT)]
    )
    assert await api.send_message(TOKEN, CHAT, "olá") == "987654321:42"
    assert route.call_count == 4
    assert len(delays) == 3
    for attempt, delay in enumerate(delays, start=1):
        assert 0.0 <= delay <= 0.5 * 2 ** (attempt - 1)


async def test_gives_up_after_max_attempts(
    router: respx.MockRouter,
    api: TelegramBotApi,
    delays: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = router.post(f"{BOT}/sendMessage").respond(500, json=SERVER_ERROR)
    with pytest.raises(SendFailed) as caught:
        await api.send_message(TOKEN, CHAT, "olá")
    assert (route.call_count, len(delays), caught.value.code) == (4, 3, "500")
    assert "gave up after 4 attempts" in str(caught.value)
    assert_no_token(caught.value, caplog)


async def test_connection_failures_give_up_too(
    router: respx.MockRouter, api: TelegramBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    router.post(f"{BOT}/sendMessage").mock(side_effect=leaky(httpx.ConnectError))
    with pytest.raises(SendFailed) as caught:
        await api.send_message(TOKEN, CHAT, "olá")
    assert caught.value.code is None
    assert "ConnectError" in str(caught.value)
    assert_no_token(caught.value, caplog)


@pytest.mark.parametrize(
    ("status", "body"),
    [(400, CHAT_NOT_FOUND), (403, BLOCKED), (401, UNAUTHORIZED), (404, NOT_FOUND)],
)
async def test_other_client_errors_are_final(
    router: respx.MockRouter,
    api: TelegramBotApi,
    delays: list[float],
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: dict[str, Any],
) -> None:
    route = router.post(f"{BOT}/sendMessage").respond(status, json=body)
    with pytest.raises(SendFailed) as caught:
        await api.send_message(TOKEN, CHAT, "olá")
    assert (route.call_count, delays, caught.value.code) == (1, [], str(status))
    assert body["description"] in str(caught.value)
    assert_no_token(caught.value, caplog)


@pytest.mark.parametrize(
    "effect",
    [
        leaky(httpx.ReadTimeout),
        leaky(httpx.ReadError),
        leaky(httpx.RemoteProtocolError),
        leaky(httpx.WriteTimeout),
        httpx.Response(200, text="<html>proxy says hi</html>"),
        httpx.Response(200, json={"ok": True}),
    ],
)
async def test_possibly_delivered_attempts_are_never_resent(
    router: respx.MockRouter,
    api: TelegramBotApi,
    delays: list[float],
    caplog: pytest.LogCaptureFixture,
    effect: Any,
) -> None:
    route = router.post(f"{BOT}/sendMessage").mock(
        side_effect=[effect, httpx.Response(200, json=SENT)]
    )
    with pytest.raises(SendOutcomeUnknown) as caught:
        await api.send_message(TOKEN, CHAT, "olá")
    assert (route.call_count, delays) == (1, [])
    assert_no_token(caught.value, caplog)


async def test_a_description_quoting_the_token_is_scrubbed(
    router: respx.MockRouter, api: TelegramBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"ok": False, "error_code": 400, "description": f"Bad Request: {TOKEN} is odd"}
    router.post(f"{BOT}/sendMessage").respond(400, json=body)
    with pytest.raises(SendFailed) as caught:
        await api.send_message(TOKEN, CHAT, "olá")
    assert "<token>" in str(caught.value)
    assert_no_token(caught.value, caplog)


# sendChatAction


async def test_chat_action_is_one_quiet_attempt(
    router: respx.MockRouter,
    api: TelegramBotApi,
    delays: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = router.post(f"{BOT}/sendChatAction").mock(
        side_effect=[
            httpx.Response(200, json={"ok": True, "result": True}),
            httpx.Response(403, json=BLOCKED),
            flood(5),
            leaky(httpx.ConnectError),
            leaky(httpx.ReadTimeout),
            RuntimeError(f"unexpected {TOKEN}"),
        ]
    )
    for _ in range(6):
        await api.send_chat_action(TOKEN, CHAT)  # returns, never raises
    assert route.call_count == 6 and delays == []
    assert sent_json(route, 0) == {"chat_id": 987654321, "action": "typing"}
    mine = [r for r in caplog.records if r.name.startswith(LOGGER)]
    assert {r.levelno for r in mine} == {logging.DEBUG}
    assert all(TOKEN.split(":")[1] not in r.getMessage() for r in caplog.records)


# Against the double, over ASGITransport

DOUBLE = "http://double.test/sandbox/telegram"


@pytest.fixture
def store() -> TelegramDoubleStore:
    return TelegramDoubleStore(clock=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


@pytest.fixture
async def web(store: TelegramDoubleStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_telegram_double_app(store)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Quart types ASGI strictly
    async with httpx.AsyncClient(transport=transport, base_url=DOUBLE) as client:
        yield client


@pytest.fixture
def bot(web: httpx.AsyncClient, delays: list[float]) -> TelegramBotApi:
    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    return TelegramBotApi(web, DOUBLE, max_attempts=3, sleep=sleep)


async def test_double_get_me_and_token_checks(
    bot: TelegramBotApi, store: TelegramDoubleStore, web: httpx.AsyncClient
) -> None:
    me = await bot.get_me(TOKEN)
    assert (me["id"], me["is_bot"]) == (4839574812, True)
    store.tokens = {TOKEN}
    other = "1234567:" + "A" * 35
    with pytest.raises(InvalidToken) as caught:
        await bot.get_me(other)
    assert (caught.value.code, caught.value.description) == (401, "Unauthorized")
    malformed = await web.post("/botnot-a-token/getMe")
    assert (malformed.status_code, malformed.json()) == (404, NOT_FOUND)
    unknown = await web.post(f"{BOT}/getUpdatez")
    assert unknown.json() == NOT_FOUND


async def test_double_webhook_lifecycle(
    bot: TelegramBotApi, store: TelegramDoubleStore, web: httpx.AsyncClient
) -> None:
    await bot.set_webhook(TOKEN, "https://gw.example/webhooks/telegram/a1", SECRET)
    hook = store.webhooks[TOKEN]
    assert (hook.url, hook.secret_token, hook.allowed_updates) == (
        "https://gw.example/webhooks/telegram/a1",
        SECRET,
        ["message"],
    )
    info = (await web.get(f"{BOT}/getWebhookInfo")).json()["result"]
    assert info["url"] == hook.url and info["allowed_updates"] == ["message"]
    assert SECRET not in json.dumps(info)

    raw = await web.post(f"{BOT}/setWebhook", json={"url": "https://x", "secret_token": "a:b"})
    assert raw.json()["description"] == "Bad Request: secret token contains unallowed characters"
    store.require_https = True
    with pytest.raises(TelegramRefused) as caught:
        await bot.set_webhook(TOKEN, "http://gw.example/h", SECRET)
    assert caught.value.description.startswith("Bad Request: bad webhook")

    await bot.delete_webhook(TOKEN)
    assert TOKEN not in store.webhooks
    empty = (await web.get(f"{BOT}/getWebhookInfo")).json()["result"]
    assert empty == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


async def test_double_records_messages_with_per_chat_ids(
    bot: TelegramBotApi, store: TelegramDoubleStore, web: httpx.AsyncClient
) -> None:
    first = await bot.send_message(TOKEN, CHAT, "one")
    second = await bot.send_message(TOKEN, CHAT, "two")
    other = await bot.send_message(TOKEN, "111", "three")
    assert (first, second, other) == (f"{CHAT}:1", f"{CHAT}:2", "111:1")
    page = (await web.get("/messages")).json()
    assert page["count"] == 3
    assert page["messages"][0] == {
        "bot_id": 4839574812,
        "chat_id": CHAT,
        "text": "one",
        "message_id": 1,
        "date": int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()),
    }
    assert TOKEN.split(":")[1] not in json.dumps(page)


async def test_double_validates_like_telegram(
    bot: TelegramBotApi, store: TelegramDoubleStore, web: httpx.AsyncClient
) -> None:
    no_chat = await web.post(f"{BOT}/sendMessage", json={"text": "hi"})
    no_text = await web.post(f"{BOT}/sendMessage", json={"chat_id": 1})
    assert (no_chat.status_code, no_chat.json()["description"]) == (
        400,
        "Bad Request: chat_id is empty",
    )
    assert no_text.json()["description"] == "Bad Request: message text is empty"
    await bot.send_message(TOKEN, CHAT, "x" * 4096)
    with pytest.raises(SendFailed) as long:
        await bot.send_message(TOKEN, CHAT, "x" * 4097)
    assert long.value.code == "400" and "message is too long" in str(long.value)
    store.blocked_chats.add(CHAT)
    with pytest.raises(SendFailed) as blocked:
        await bot.send_message(TOKEN, CHAT, "hi")
    assert blocked.value.code == "403"
    # Form and query parameters work too, and method names are case-insensitive.
    form = await web.post(f"{BOT}/SENDMESSAGE", data={"chat_id": "5", "text": "form"})
    query = await web.get(f"{BOT}/sendmessage", params={"chat_id": "6", "text": "query"})
    assert form.json()["result"]["chat"]["id"] == 5 and query.json()["ok"] is True
    assert [m.text for m in store.messages] == ["x" * 4096, "form", "query"]


async def test_double_faults_drive_the_retry_policy(
    bot: TelegramBotApi, store: TelegramDoubleStore, web: httpx.AsyncClient, delays: list[float]
) -> None:
    store.fail_next(2, status=429, retry_after=3)
    raw = await web.post(f"{BOT}/sendMessage", json={"chat_id": CHAT, "text": "hi"})
    assert raw.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert await bot.send_message(TOKEN, CHAT, "hi") == f"{CHAT}:1"
    assert delays == [3.0]

    store.fail_next(3, status=502)
    with pytest.raises(SendFailed) as caught:
        await bot.send_message(TOKEN, CHAT, "hi")
    assert caught.value.code == "502"
    assert len(store.messages) == 1

    store.fail_next(1, status=500, method="getMe")
    with pytest.raises(TelegramUnavailable):
        await bot.get_me(TOKEN)


async def test_double_chat_actions(bot: TelegramBotApi, store: TelegramDoubleStore) -> None:
    await bot.send_chat_action(TOKEN, CHAT)
    await bot.send_chat_action(TOKEN, CHAT, "dancing")  # refused, and swallowed
    assert store.actions == [(CHAT, "typing")]


def test_make_update_is_a_private_text_update() -> None:
    update = make_update(10, 987654321, "/start promo", last_name="Lovelace", username="ada")
    message = update["message"]
    assert update["update_id"] == 10
    assert message["chat"] == {
        "id": 987654321,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "username": "ada",
        "type": "private",
    }
    assert message["from"]["id"] == 987654321 and message["from"]["is_bot"] is False
    assert message["text"] == "/start promo" and isinstance(message["date"], int)
    assert message["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    plain = make_update(11, "5", "hello", message_id=99, date=1)["message"]
    assert "entities" not in plain and "last_name" not in plain["chat"]
    assert (plain["message_id"], plain["date"], plain["chat"]["id"]) == (99, 1, 5)
