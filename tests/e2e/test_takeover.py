"""Human takeover through the app: pause, held messages, a human's reply sent through the
session's channel by the same delivery path (never doubled), resume, and the agent's history."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.e2e.conftest import Gateway, twilio_error


async def held_and_quiet(gateway: Gateway, session: str, count: int) -> list[dict[str, Any]]:
    await asyncio.sleep(0.3)  # time the worker would have needed to answer
    items = await gateway.messages(session)
    assert len(items) == count, items
    return items


async def test_while_paused_messages_are_held_and_the_agent_is_not_called(
    gateway: Gateway,
) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound("hello"))
    session = gateway.session_of(agent)
    await gateway.wait_answered(session)

    body = await gateway.api_json("PUT", f"/api/sessions/{session}/agent", json={"paused": True})
    assert body == {"paused": True}
    assert (await gateway.webhook(agent, gateway.inbound("a human please"))).status_code == 200
    items = await held_and_quiet(gateway, session, 3)
    assert (items[-1]["role"], items[-1]["status"]) == ("user", "held")
    assert len(gateway.twilio.sent) == 1  # only the answer from before the pause

    (summary,) = (await gateway.api_json("GET", "/api/sessions"))["items"]
    assert summary["paused"] is True and summary["needs_attention"] is True
    paused = await gateway.api_json("GET", "/api/sessions?status=paused")
    assert [s["session_id"] for s in paused["items"]] == [session]

    # Resuming does not answer what was held; the next message is answered again.
    body = await gateway.api_json("PUT", f"/api/sessions/{session}/agent", json={"paused": False})
    assert body == {"paused": False}
    await held_and_quiet(gateway, session, 3)
    await gateway.webhook(agent, gateway.inbound("are you back?"))
    items = await gateway.wait_for(session, lambda i: len(i) == 5 and i[-1]["status"] == "sent")
    assert [m["status"] for m in items[:3]] == ["answered", "sent", "held"]
    assert len(gateway.twilio.sent) == 2


async def test_a_human_reply_goes_out_through_the_channel_and_the_agent_sees_it(
    gateway: Gateway,
) -> None:
    seen: list[dict[str, Any]] = []

    def agent_answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"reply": "agent here"})

    gateway.router.post("https://agent.test/reply").mock(side_effect=agent_answer)
    agent = await gateway.whatsapp_agent({"kind": "http", "url": "https://agent.test/reply"})
    await gateway.webhook(agent, gateway.inbound("hello"))
    session = gateway.session_of(agent)
    await gateway.wait_answered(session)

    body = await gateway.api_json(
        "POST", f"/api/sessions/{session}/messages", 202, json={"content": "Maria here, hi!"}
    )
    assert set(body) == {"id", "status"} and body["status"] == "queued"
    items = await gateway.wait_for(session, lambda i: i[-1]["status"] == "sent")
    assert (items[-1]["role"], items[-1]["content"]) == ("human", "Maria here, hi!")
    assert "author" in items[-1]
    assert gateway.twilio.sent[-1].body == "Maria here, hi!"
    assert gateway.twilio.sent[-1].form["To"] == gateway.twilio.sent[0].form["To"]

    await gateway.webhook(agent, gateway.inbound("thanks"))
    await gateway.wait_for(session, lambda i: len(i) == 5 and i[-1]["status"] == "sent")
    history = seen[-1]["history"]
    assert history[-1] == {"role": "assistant", "content": "Maria here, hi!", "by": "human"}
    assert history[-2] == {"role": "assistant", "content": "agent here"}


async def test_a_human_reply_during_a_twilio_500_is_sent_once(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound("hello"))
    session = gateway.session_of(agent)
    await gateway.wait_answered(session)
    await gateway.api_json("PUT", f"/api/sessions/{session}/agent", json={"paused": True})

    # Twilio takes the message but answers 500: the outcome is unknown, looked up, not resent.
    twilio = gateway.twilio
    answers: list[httpx.Response] = []

    def created_then_500(request: httpx.Request, account_sid: str) -> httpx.Response:
        answered = twilio._create(request, account_sid)
        answers.append(answered)
        return twilio_error(500, 20500) if len(answers) == 1 else answered

    gateway.twilio.create.side_effect = created_then_500
    await gateway.api_json(
        "POST", f"/api/sessions/{session}/messages", 202, json={"content": "one time only"}
    )
    items = await gateway.wait_for(
        session, lambda i: i[-1]["role"] == "human" and i[-1]["status"] not in ("queued", "sending")
    )
    assert [m.body for m in gateway.twilio.sent].count("one time only") == 1
    assert items[-1]["status"] == "sent"


async def test_takeover_refusals(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound("hello"))
    session = gateway.session_of(agent)
    await gateway.wait_answered(session)
    for body in ({}, {"paused": "yes"}, {"paused": 1}):
        reply = await gateway.api_json("PUT", f"/api/sessions/{session}/agent", 422, json=body)
        assert "paused" in reply["fields"]
    bad: list[dict[str, object]] = [
        {}, {"content": ""}, {"content": "   "}, {"content": 5}, {"content": "x" * 5000},
    ]  # fmt: skip
    for content in bad:
        path = f"/api/sessions/{session}/messages"
        reply = await gateway.api_json("POST", path, 422, json=content)
        assert "content" in reply["fields"], content
    other = await gateway.container.admin().create_api_key("other")
    refused: list[tuple[str, str, dict[str, object]]] = [
        ("PUT", f"/api/sessions/{session}/agent", {"paused": True}),
        ("POST", f"/api/sessions/{session}/messages", {"content": "hi"}),
        ("PUT", "/api/sessions/nope/agent", {"paused": True}),
        ("POST", "/api/sessions/nope/messages", {"content": "hi"}),
    ]
    for method, path, payload in refused:
        response = await gateway.api(method, path, key=other, json=payload)
        assert response.status_code == 404, path
    (summary,) = (await gateway.api_json("GET", "/api/sessions"))["items"]
    assert summary["paused"] is False


async def test_who_paused_and_replied_is_recorded_with_the_key_label(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    await gateway.webhook(agent, gateway.inbound("hello"))
    session = gateway.session_of(agent)
    await gateway.wait_answered(session)
    maria = await gateway.container.admin().create_api_key("ws", label="Maria")
    await gateway.api_json(
        "PUT", f"/api/sessions/{session}/agent", key=maria, json={"paused": True}
    )
    await gateway.api_json(
        "POST", f"/api/sessions/{session}/messages", 202, key=maria, json={"content": "hi"}
    )
    items = await gateway.wait_for(session, lambda i: i[-1]["status"] == "sent")
    assert items[-1]["author"].startswith("Maria (")
    admin = gateway.container.admin()
    actor = await admin.identify(maria)
    assert actor is not None and actor.label == "Maria"
    summary = await admin.session_summary(actor.workspace_id, session)
    assert summary.paused_by == f"Maria ({actor.workspace_id})"
