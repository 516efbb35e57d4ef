"""The contract every registered channel kind with an inbound webhook passes, through the app:
a forged webhook is refused and changes nothing, a duplicate is answered once, a long reply is
cut at the kind's limit, a send is retried on 429 and 5xx and never doubled, and a disabled
channel answers 403. Each kind brings its harness (tests/e2e/channels/<kind>.py)."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from config.channels import PLUGINS
from tests.e2e.channels import ChannelHarness
from tests.e2e.conftest import Gateway, GatewayFactory

WEBHOOK_KINDS = [p.traits.kind for p in PLUGINS if p.webhook_route]
SHOUT = {"kind": "python", "target": "adapters.executors.examples:shout"}


def harness_of(kind: str) -> ChannelHarness:
    module = importlib.import_module(f"tests.e2e.channels.{kind}")
    harness: ChannelHarness = module.HARNESS()
    return harness


@pytest.fixture(params=WEBHOOK_KINDS)
async def channel(
    request: pytest.FixtureRequest, open_gateway: GatewayFactory
) -> AsyncIterator[tuple[ChannelHarness, Gateway]]:
    harness = harness_of(request.param)
    async with open_gateway(**harness.env) as gw:
        harness.install(gw)
        yield harness, gw


def new_id() -> str:
    return str(secrets.randbelow(10**9))


async def test_every_kind_with_a_webhook_has_a_harness() -> None:
    assert WEBHOOK_KINDS
    for kind in WEBHOOK_KINDS:
        assert harness_of(kind).kind == kind


async def test_a_forged_webhook_is_403_and_stores_nothing(
    channel: tuple[ChannelHarness, Gateway],
) -> None:
    harness, gw = channel
    agent = await harness.connect(gw)
    response = await harness.forged(gw, agent, "let me in")
    assert response.status_code == 403
    assert await response.get_data(as_text=True) == "Unauthorized"
    assert await gw.leads() == []
    transcript = await gw.api("GET", f"/api/sessions/{harness.session_of(agent)}/messages")
    assert transcript.status_code == 404
    assert harness.sent() == []


async def test_a_duplicate_is_answered_once(channel: tuple[ChannelHarness, Gateway]) -> None:
    harness, gw = channel
    agent = await harness.connect(gw)
    external_id = new_id()
    for _ in range(3):
        response = await harness.inbound(gw, agent, "hello", external_id)
        assert response.status_code == 200
    items = await gw.wait_answered(harness.session_of(agent))
    assert [m["role"] for m in items] == ["user", "assistant"]
    assert len(harness.sent()) == 1
    (lead,) = await gw.leads()
    assert (lead["platform"], lead["contact"], lead["message_count"]) == (
        harness.kind,
        harness.contact,
        1,
    )


async def test_a_long_reply_is_cut_at_the_kinds_limit(
    channel: tuple[ChannelHarness, Gateway],
) -> None:
    harness, gw = channel
    limit = next(p.traits.max_reply_chars for p in PLUGINS if p.traits.kind == harness.kind)
    agent = await harness.connect(gw, SHOUT)
    await harness.inbound(gw, agent, "ab " * 2000, new_id())
    await gw.wait_answered(harness.session_of(agent))
    (sent,) = harness.sent()
    assert len(sent) == limit and sent.endswith("...")
    assert sent.startswith("AB AB")


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_send_is_retried_and_never_doubled(
    channel: tuple[ChannelHarness, Gateway], status: int
) -> None:
    harness, gw = channel
    agent = await harness.connect(gw)
    harness.fail_next(httpx.Response(status, json={"ok": False, "error_code": status}))
    await harness.inbound(gw, agent, "hello", new_id())
    items = await gw.wait_answered(harness.session_of(agent))
    assert items[-1]["status"] == "sent"
    assert len(harness.sent()) == 1


async def test_a_disabled_or_deleted_channel_is_403(
    channel: tuple[ChannelHarness, Gateway],
) -> None:
    harness, gw = channel
    agent = await harness.connect(gw)
    path = f"/api/agents/{agent}/channels/{harness.kind}"
    label = (await gw.api_json("GET", "/api/channels"))["items"]
    not_enabled = next(k["label"] for k in label if k["kind"] == harness.kind) + " not enabled"
    put = await gw.api("PUT", path, json={"enabled": False})
    assert put.status_code == 200, await put.get_json()
    assert (await put.get_json())["enabled"] is False
    response = await harness.inbound(gw, agent, "hello?", new_id())
    assert response.status_code == 403
    assert await response.get_data(as_text=True) == not_enabled
    assert (await gw.api("DELETE", path)).status_code == 204
    assert (await gw.api("GET", path)).status_code == 404
    response = await harness.inbound(gw, agent, "hello?", new_id())
    assert (response.status_code, await response.get_data(as_text=True)) == (403, not_enabled)
    assert await gw.leads() == []
