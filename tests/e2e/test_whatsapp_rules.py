"""WhatsApp's rules through the app, on SQLite and PostgreSQL: the reply window (measured from
the person's last message), templates outside it, STOP/START, and SMS's 21610 opt-out."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.administration import OPTED_OUT_REFUSAL, WINDOW_REFUSAL
from core.reachability import START_CONFIRMATION, STOP_CONFIRMATION
from tests.databases import database_env
from tests.e2e.channels.sms import sms_form
from tests.e2e.conftest import PHONE, Gateway, GatewayFactory, twilio_error
from tests.e2e.test_sms import post_sms, sms_agent

__all__ = ["database_env"]

TEMPLATE = {"content_sid": "HX" + "0123456789abcdef" * 2, "variables": {"1": "Ana", "2": "12:30"}}
WINDOW_S = 2


@pytest.fixture
async def gw(open_gateway: GatewayFactory, database_env: dict[str, str]) -> AsyncIterator[Gateway]:
    async with open_gateway(WHATSAPP_WINDOW_S=str(WINDOW_S), **database_env) as gateway:
        yield gateway


def counting_agent(gateway: Gateway, delay_s: float = 0.0) -> list[dict[str, Any]]:
    """An http agent at agent.test that answers "agent here" (after `delay_s`); returns the
    requests it got."""
    seen: list[dict[str, Any]] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        await asyncio.sleep(delay_s)
        return httpx.Response(200, json={"reply": "agent here"})

    gateway.router.post("https://agent.test/reply").mock(side_effect=answer)
    return seen


HTTP_AGENT = {"kind": "http", "url": "https://agent.test/reply"}


async def human(gateway: Gateway, session: str, status: int, **body: Any) -> Any:
    path = f"/api/sessions/{session}/messages"
    return await gateway.api_json("POST", path, status, json=body)


async def settled(gateway: Gateway, session: str, count: int) -> list[dict[str, Any]]:
    def done(items: list[dict[str, Any]]) -> bool:
        return len(items) == count and all(
            m["status"] not in ("queued", "sending", "received", "processing") for m in items
        )

    return await gateway.wait_for(session, done)


async def test_the_window_is_measured_from_the_last_user_message_and_a_template_goes_out(
    gw: Gateway,
) -> None:
    counting_agent(gw)
    agent = await gw.whatsapp_agent(HTTP_AGENT)
    await gw.webhook(agent, gw.inbound("hello"))
    wrote = time.monotonic()
    session = gw.session_of(agent)
    await gw.wait_answered(session)

    # Inside the window, a person's free-form reply goes out.
    await human(gw, session, 202, content="Maria here")
    await settled(gw, session, 3)
    await asyncio.sleep(max(0.0, wrote + WINDOW_S / 2 + 0.2 - time.monotonic()))
    await human(gw, session, 202, content="still here")
    await settled(gw, session, 4)
    # The window closes WINDOW_S after "hello", though the last message is newer than that.
    await asyncio.sleep(max(0.0, wrote + WINDOW_S + 0.2 - time.monotonic()))
    refused = await human(gw, session, 409, content="too late")
    assert refused == {"error": WINDOW_REFUSAL}
    assert len(await gw.messages(session)) == 4  # nothing was stored

    # A template may go out at any time: ContentSid and ContentVariables, no Body.
    body = await human(gw, session, 202, template=TEMPLATE)
    assert body["status"] == "queued"
    items = await settled(gw, session, 5)
    assert (items[-1]["role"], items[-1]["status"]) == ("human", "sent")
    assert items[-1]["content"] == f"[template {TEMPLATE['content_sid']}]"
    form = gw.twilio.sent[-1].form
    assert form["ContentSid"] == TEMPLATE["content_sid"]
    assert json.loads(form["ContentVariables"]) == TEMPLATE["variables"]
    assert "Body" not in form

    # The person answers: the window opens again.
    await gw.webhook(agent, gw.inbound("thanks"))
    await settled(gw, session, 7)
    await human(gw, session, 202, content="you're welcome")
    items = await settled(gw, session, 8)
    assert items[-1]["status"] == "sent"


async def test_an_agent_reply_that_would_go_out_late_is_failed_outside_window(
    gw: Gateway,
) -> None:
    counting_agent(gw, delay_s=WINDOW_S + 0.3)
    agent = await gw.whatsapp_agent(HTTP_AGENT)
    await gw.webhook(agent, gw.inbound("hello"))
    session = gw.session_of(agent)
    items = await settled(gw, session, 2)
    assert (items[-1]["role"], items[-1]["status"], items[-1]["error"]) == (
        "assistant", "failed", "outside_window",
    )  # fmt: skip
    assert gw.twilio.sent == []
    (summary,) = (await gw.api_json("GET", "/api/sessions"))["items"]
    assert summary["needs_attention"] is True  # a person should send a template


async def test_bad_templates_and_templates_elsewhere_are_refused(gw: Gateway) -> None:
    agent = await gw.whatsapp_agent()
    await gw.webhook(agent, gw.inbound("hello"))
    session = gw.session_of(agent)
    await gw.wait_answered(session)
    bad: list[Any] = [
        {"content_sid": "HX123"},
        {"content_sid": "MG" + "0" * 32},
        "HX" + "0" * 32,
        {"content_sid": "HX" + "0" * 32, "variables": {"1": 5}},
        {"content_sid": "HX" + "0" * 32, "variables": {"a b": "x"}},
        {"content_sid": "HX" + "0" * 32, "variables": ["x"]},
    ]
    for template in bad:
        reply = await human(gw, session, 422, template=template)
        assert "template" in reply["fields"], template
    both = await human(gw, session, 422, content="hi", template=TEMPLATE)
    assert "template" in both["fields"]

    sms = await sms_agent(gw)
    assert await post_sms(gw, sms, sms_form("hi")) == 200
    sms_session = f"sms_{sms}_{PHONE}"
    await gw.wait_answered(sms_session)
    reply = await human(gw, sms_session, 422, template=TEMPLATE)
    assert reply["fields"] == {"template": "sms has no templates"}
    assert len(await gw.messages(session)) == 2


async def test_stop_silences_the_gateway_until_start(gw: Gateway) -> None:
    seen = counting_agent(gw)
    agent = await gw.whatsapp_agent(HTTP_AGENT)
    await gw.webhook(agent, gw.inbound("hello"))
    session = gw.session_of(agent)
    await gw.wait_answered(session)
    assert len(seen) == 1

    # " stop " in any case: one confirmation, the agent is not called, the lead is flagged.
    assert (await gw.webhook(agent, gw.inbound("  Stop "))).status_code == 200
    items = await settled(gw, session, 4)
    assert [m.body for m in gw.twilio.sent] == ["agent here", STOP_CONFIRMATION]
    assert (items[-2]["status"], items[-1]["status"]) == ("answered", "sent")
    assert len(seen) == 1
    (lead,) = await gw.leads()
    assert lead["opted_out"] is True
    csv = await gw.api("GET", "/api/leads.csv")
    assert (await csv.get_data(as_text=True)).splitlines()[1].endswith(",true")

    # Nothing else reaches the contact: not the agent, not a human, not a template.
    assert await human(gw, session, 409, content="wait!") == {"error": OPTED_OUT_REFUSAL}
    assert await human(gw, session, 409, template=TEMPLATE) == {"error": OPTED_OUT_REFUSAL}
    await gw.webhook(agent, gw.inbound("are you there?"))
    items = await settled(gw, session, 5)
    assert (items[-1]["status"], items[-1]["error"]) == ("failed", "opted_out")
    await asyncio.sleep(0.2)
    assert len(gw.twilio.sent) == 2 and len(seen) == 1
    (summary,) = (await gw.api_json("GET", "/api/sessions"))["items"]
    assert summary["needs_attention"] is False  # nobody can do anything about it

    # START lifts it: a confirmation, then the agent answers again.
    await gw.webhook(agent, gw.inbound("START"))
    await settled(gw, session, 7)
    assert gw.twilio.sent[-1].body == START_CONFIRMATION
    (lead,) = await gw.leads()
    assert lead["opted_out"] is False
    await gw.webhook(agent, gw.inbound("hello again"))
    await settled(gw, session, 9)
    assert gw.twilio.sent[-1].body == "agent here" and len(seen) == 2
    # The agent never saw the stop and start words as messages to answer.
    assert seen[-1]["message"] == "hello again"


async def test_stop_in_a_paused_session_is_confirmed_and_a_stopped_reply_is_not_sent(
    gw: Gateway,
) -> None:
    counting_agent(gw)
    agent = await gw.whatsapp_agent(HTTP_AGENT)
    await gw.webhook(agent, gw.inbound("hello"))
    session = gw.session_of(agent)
    await gw.wait_answered(session)
    await gw.api_json("PUT", f"/api/sessions/{session}/agent", json={"paused": True})
    await gw.webhook(agent, gw.inbound("stop"))
    await settled(gw, session, 4)
    assert gw.twilio.sent[-1].body == STOP_CONFIRMATION
    assert [m["content"] for m in await gw.messages(session)][-2:] == ["stop", STOP_CONFIRMATION]


async def test_words_that_only_contain_a_stop_word_are_ordinary_messages(gw: Gateway) -> None:
    seen = counting_agent(gw)
    agent = await gw.whatsapp_agent(HTTP_AGENT)
    for text in ("please stop", "stop.", "STOP STOP", "endless"):
        await gw.webhook(agent, gw.inbound(text))
    session = gw.session_of(agent)
    await settled(gw, session, 8)
    assert len(seen) == 4
    (lead,) = await gw.leads()
    assert lead["opted_out"] is False


async def test_sms_21610_sets_the_leads_flag_and_the_next_reply_is_not_attempted(
    gw: Gateway,
) -> None:
    agent = await sms_agent(gw)
    gw.twilio.faults.append(twilio_error(400, 21610))
    assert await post_sms(gw, agent, sms_form("hi")) == 200
    session = f"sms_{agent}_{PHONE}"
    items = await gw.wait_answered(session)
    assert items[-1]["status"] == "failed" and "21610" in items[-1]["error"]
    (lead,) = await gw.leads()
    assert lead["opted_out"] is True
    # Twilio answers STOP/START on SMS itself: the gateway only keeps the flag.
    assert await post_sms(gw, agent, sms_form("START")) == 200
    await gw.wait_for(session, lambda i: len(i) == 3 and i[-1]["status"] == "answered")
    (lead,) = await gw.leads()
    assert lead["opted_out"] is False
    assert gw.twilio.create.call_count == 1  # no confirmation of ours on SMS


async def test_start_from_someone_who_never_stopped_is_answered_by_the_agent(gw: Gateway) -> None:
    seen = counting_agent(gw)
    agent = await gw.whatsapp_agent(HTTP_AGENT)
    await gw.webhook(agent, gw.inbound("Start"))  # a click-to-chat greeting
    session = gw.session_of(agent)
    await settled(gw, session, 2)
    assert [m.body for m in gw.twilio.sent] == ["agent here"] and len(seen) == 1


async def test_a_second_stop_gets_no_second_confirmation(gw: Gateway) -> None:
    counting_agent(gw)
    agent = await gw.whatsapp_agent(HTTP_AGENT)
    await gw.webhook(agent, gw.inbound("STOP"))
    session = gw.session_of(agent)
    await settled(gw, session, 2)
    await gw.webhook(agent, gw.inbound("stop"))
    items = await settled(gw, session, 3)
    assert items[-1]["status"] == "answered"
    await asyncio.sleep(0.2)
    assert [m.body for m in gw.twilio.sent] == [STOP_CONFIRMATION]
