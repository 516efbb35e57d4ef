"""The person sees that an answer is coming: WhatsApp's typing indicator (Twilio Messaging v2,
which also marks the message read) and Telegram's sendChatAction, best effort."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.channels.telegram import CHAT_ID, TelegramHarness
from tests.e2e.conftest import ACCOUNT_SID, AUTH_TOKEN, Gateway, GatewayFactory, basic_auth


async def test_whatsapp_shows_typing_for_the_message_being_answered(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    params = gateway.inbound("hello")
    await gateway.webhook(agent, params)
    await gateway.wait_answered(gateway.session_of(agent))
    assert gateway.twilio.typing == [
        {
            "messageId": params["MessageSid"],
            "channel": "whatsapp",
            "auth": basic_auth(ACCOUNT_SID, AUTH_TOKEN),
        }
    ]


async def test_a_failing_typing_indicator_never_fails_or_holds_the_reply(
    gateway: Gateway,
) -> None:
    gateway.twilio.typing_fails = True
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound("hello"))
    items = await gateway.wait_answered(gateway.session_of(agent))
    assert items[-1]["status"] == "sent"
    assert len(gateway.twilio.sent) == 1


@pytest.fixture
async def tg(open_gateway: GatewayFactory) -> AsyncIterator[tuple[TelegramHarness, Gateway]]:
    harness = TelegramHarness()
    async with open_gateway(**harness.env) as gw:
        harness.install(gw)
        yield harness, gw


async def test_telegram_shows_typing_while_the_agent_answers(
    tg: tuple[TelegramHarness, Gateway],
) -> None:
    harness, gw = tg
    agent = await harness.connect(gw)
    await harness.inbound(gw, agent, "hi", "8001")
    await gw.wait_answered(harness.session_of(agent))
    assert harness.api is not None
    assert harness.api.actions == [{"chat_id": int(CHAT_ID), "action": "typing"}]
