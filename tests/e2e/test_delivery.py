"""Replies: truncation, delivery status, duplicates, concurrency, failures and retries."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import httpx
import regex

from core.conversation import APOLOGY
from ports.values import InboundMessage
from tests.e2e.conftest import OTHER_TOKEN, PHONE, Gateway, GatewayFactory, twilio_error

SHOUT = {"kind": "python", "target": "adapters.executors.examples:shout"}
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


def quoted(body: str) -> str:
    """What the demo agent says it was told: `You said: “...”`."""
    match = re.search(r"You said: “(.*?)”", body)
    assert match, body
    return match.group(1)


async def test_a_long_reply_is_cut_to_1500_with_dots(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent(SHOUT)
    message = "a" * 1495 + FAMILY + "b" * 500  # the family straddles the cut

    await gateway.webhook(agent, gateway.inbound(body=message))
    items = await gateway.wait_answered(gateway.session_of(agent))

    (sent,) = gateway.twilio.sent
    assert sent.body == "A" * 1495 + "..."
    assert items[1]["content"] == sent.body
    assert items[1]["status"] == "sent"


async def test_long_replies_never_split_a_cluster_and_stay_within_1500(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent(SHOUT)
    session = gateway.session_of(agent)
    messages = [
        "é" * 2000,
        "e\u0301" * 1000,
        "\U0001f1eb\U0001f1f7" * 900,
        "x" + FAMILY * 400,
        "z" * 1500,
    ]
    for i, message in enumerate(messages, start=1):
        await gateway.webhook(agent, gateway.inbound(body=message))
        await gateway.wait_answered(session, users=i)

    for message, sent in zip(messages, gateway.twilio.sent, strict=True):
        reply = message.upper()
        if len(reply) <= 1500:
            assert sent.body == reply
            continue
        assert len(sent.body) <= 1500 and sent.body.endswith("...")
        kept = sent.body[:-3]
        whole = regex.findall(r"\X", reply)
        assert regex.findall(r"\X", kept) == whole[: len(regex.findall(r"\X", kept))]
        assert len(kept) > 1400  # cut near the limit, not somewhere early


async def test_status_callbacks_move_delivery_forward_never_back(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    await gateway.webhook(agent)
    await gateway.wait_answered(session)
    sid = gateway.twilio.sent[0].sid

    async def reply_status() -> str:
        return str((await gateway.messages(session))[1]["status"])

    response = await gateway.status_callback(agent, sid, "delivered")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert await reply_status() == "delivered"
    await gateway.status_callback(agent, sid, "read")
    assert await reply_status() == "read"
    late = await gateway.status_callback(agent, sid, "delivered")
    assert late.status_code == 200
    assert await reply_status() == "read"
    await gateway.status_callback(agent, sid, "sent")
    assert await reply_status() == "read"


async def test_a_failed_delivery_is_recorded(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    await gateway.webhook(agent)
    await gateway.wait_answered(session)

    await gateway.status_callback(agent, gateway.twilio.sent[0].sid, "undelivered")

    assert (await gateway.messages(session))[1]["status"] == "undelivered"


async def test_a_delivery_error_code_is_recorded_with_its_meaning(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    await gateway.webhook(agent)
    await gateway.wait_answered(session)

    sid = gateway.twilio.sent[0].sid
    await gateway.status_callback(agent, sid, "failed", error_code="63016")

    reply = (await gateway.messages(session))[1]
    assert reply["status"] == "failed"
    assert reply["error"].startswith("63016: outside WhatsApp's 24-hour window")


async def test_status_callbacks_need_a_valid_signature(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    await gateway.webhook(agent)
    await gateway.wait_answered(session)
    sid = gateway.twilio.sent[0].sid
    params = {"MessageSid": sid, "MessageStatus": "read", "AccountSid": "AC" + "0" * 32}

    forged = await gateway.webhook(agent, params, suffix="/status", signature="Zm9yZ2Vk")
    wrong_account = await gateway.webhook(agent, params, suffix="/status")

    assert (forged.status_code, await forged.get_data(as_text=True)) == (403, "Unauthorized")
    assert wrong_account.status_code == 403
    assert (await gateway.messages(session))[1]["status"] == "sent"


async def test_a_status_callback_cannot_touch_another_agents_message(gateway: Gateway) -> None:
    victim = await gateway.whatsapp_agent()
    session = gateway.session_of(victim)
    await gateway.webhook(victim)
    await gateway.wait_answered(session)
    # Someone else's agent, in their own workspace with their own Twilio account.
    other_key = await gateway.container.admin().create_api_key("someone-else")
    other_sid = "AC" + "e" * 32
    attacker = await gateway.whatsapp_agent(
        key=other_key, account_sid=other_sid, auth_token=OTHER_TOKEN
    )

    response = await gateway.status_callback(
        attacker, gateway.twilio.sent[0].sid, "read", account_sid=other_sid, token=OTHER_TOKEN
    )

    assert response.status_code in (200, 404)
    assert (await gateway.messages(session))[1]["status"] == "sent"


async def test_a_repeated_message_sid_is_acknowledged_and_answered_once(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    params = gateway.inbound(body="only once")

    first = await gateway.webhook(agent, params)
    await gateway.wait_answered(session)
    second = await gateway.webhook(agent, params)
    third = await gateway.webhook(agent, params)
    await gateway.webhook(agent, gateway.inbound(body="next"))  # proves the worker ran after
    items = await gateway.wait_answered(session, users=2)

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert [m["content"] for m in items if m["role"] == "user"] == ["only once", "next"]
    assert len(gateway.twilio.sent) == 2
    (lead,) = await gateway.leads()
    assert lead["message_count"] == 2


async def test_the_same_message_sid_twice_at_once_is_answered_once(gateway: Gateway) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    params = gateway.inbound(body="twice at once")

    responses = await asyncio.gather(gateway.webhook(agent, params), gateway.webhook(agent, params))
    await gateway.webhook(agent, gateway.inbound(body="next"))
    items = await gateway.wait_answered(session, users=2)

    assert [r.status_code for r in responses] == [200, 200]
    assert [m["content"] for m in items if m["role"] == "user"] == ["twice at once", "next"]
    assert len(gateway.twilio.sent) == 2
    (lead,) = await gateway.leads()
    assert lead["message_count"] == 2


async def test_ten_simultaneous_first_messages_make_one_lead_and_ten_ordered_replies(
    gateway: Gateway,
) -> None:
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    bodies = [f"message {i}" for i in range(10)]

    responses = await asyncio.gather(
        *(gateway.webhook(agent, gateway.inbound(body=b)) for b in bodies)
    )
    items = await gateway.wait_answered(session, users=10)

    assert [r.status_code for r in responses] == [200] * 10
    (lead,) = await gateway.leads()
    assert lead["message_count"] == 10
    assert lead["phone"] == PHONE
    arrival = [m["content"] for m in items if m["role"] == "user"]
    assert sorted(arrival) == sorted(bodies)
    assert len(gateway.twilio.sent) == 10
    assert [quoted(m.body) for m in gateway.twilio.sent] == arrival
    replies = [m for m in items if m["role"] == "assistant"]
    assert [m["content"] for m in replies] == gateway.twilio.bodies()
    assert {m["status"] for m in items} == {"answered", "sent"}


async def test_a_failing_agent_leaves_the_message_failed_and_apologises(gateway: Gateway) -> None:
    agent_url = "https://agent.test/reply"
    route = gateway.router.post(agent_url).mock(return_value=httpx.Response(500))
    agent = await gateway.whatsapp_agent({"kind": "http", "url": agent_url, "timeout_s": 5})

    response = await gateway.webhook(agent, gateway.inbound(body="are you there?"))
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert response.status_code == 200
    assert route.call_count == 1
    assert [(m["role"], m["content"], m["status"]) for m in items] == [
        ("user", "are you there?", "failed"),
        ("assistant", APOLOGY, "sent"),
    ]
    assert gateway.twilio.bodies() == [APOLOGY]


async def test_a_timed_out_agent_leaves_the_message_failed_and_apologises(
    gateway: Gateway,
) -> None:
    agent_url = "https://agent.test/slow"

    async def too_slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"reply": "too late"})

    gateway.router.post(agent_url).mock(side_effect=too_slow)
    agent = await gateway.whatsapp_agent({"kind": "http", "url": agent_url, "timeout_s": 0.2})

    response = await gateway.webhook(agent, gateway.inbound(body="hurry"))
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert response.status_code == 200
    assert [(m["content"], m["status"]) for m in items] == [
        ("hurry", "failed"),
        (APOLOGY, "sent"),
    ]
    assert gateway.twilio.bodies() == [APOLOGY]


async def test_the_agent_gets_the_configured_history_window(
    open_gateway: GatewayFactory,
) -> None:
    async with open_gateway(HISTORY_WINDOW="3") as gw:
        agent_url = "https://agent.test/reply"
        route = gw.router.post(agent_url).mock(
            return_value=httpx.Response(200, json={"reply": "noted"})
        )
        agent = await gw.whatsapp_agent({"kind": "http", "url": agent_url})
        session = gw.session_of(agent)
        for i in range(4):
            await gw.webhook(agent, gw.inbound(body=f"m{i}"))
            await gw.wait_answered(session, users=i + 1)

        history = json.loads(route.calls.last.request.content)["history"]
        assert history == [
            {"role": "assistant", "content": "noted"},
            {"role": "user", "content": "m2"},
            {"role": "assistant", "content": "noted"},
        ]


async def test_an_http_agent_gets_the_contract_request(gateway: Gateway) -> None:
    agent_url = "https://agent.test/reply"
    route = gateway.router.post(agent_url).mock(
        return_value=httpx.Response(200, json={"reply": "Hi from HTTP"})
    )
    agent = await gateway.whatsapp_agent(
        {"kind": "http", "url": agent_url, "headers": {"X-Agent-Key": "k1"}}
    )
    session = gateway.session_of(agent)

    await gateway.webhook(agent, gateway.inbound(body="one"))
    await gateway.wait_answered(session)
    await gateway.webhook(agent, gateway.inbound(body="two"))
    await gateway.wait_answered(session, users=2)

    request = route.calls.last.request
    assert request.headers["X-Agent-Key"] == "k1"
    assert json.loads(request.content) == {
        "agent_id": agent,
        "session_id": session,
        "message": "two",
        "history": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "Hi from HTTP"},
        ],
        "lead": {"phone": PHONE, "contact": PHONE, "name": "Ana", "platform": "whatsapp"},
    }
    assert gateway.twilio.bodies() == ["Hi from HTTP", "Hi from HTTP"]


async def test_a_python_graph_agent_answers(gateway: Gateway) -> None:
    graph = {"kind": "python", "target": "adapters.executors.examples:echo_graph"}
    agent = await gateway.whatsapp_agent(graph)

    await gateway.webhook(agent, gateway.inbound(body="ping", name="Bea"))
    await gateway.wait_answered(gateway.session_of(agent))

    assert gateway.twilio.bodies() == ["Bea, you said: ping"]


async def test_a_429_is_retried_and_the_reply_sent_once(gateway: Gateway) -> None:
    gateway.twilio.faults = [twilio_error(429, 20429)]
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent)
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert gateway.twilio.create.call_count == 2
    assert len(gateway.twilio.sent) == 1
    assert items[1]["status"] == "sent"


async def test_5xx_and_connection_errors_are_retried(gateway: Gateway) -> None:
    gateway.twilio.faults = [
        twilio_error(503, 20503),
        httpx.ConnectError("refused"),
        twilio_error(500, 20500),
    ]
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent)
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert gateway.twilio.create.call_count == 4
    assert len(gateway.twilio.sent) == 1
    assert items[1]["status"] == "sent"


async def test_a_refused_message_is_not_retried_and_is_marked_failed(gateway: Gateway) -> None:
    gateway.twilio.faults = [twilio_error(400, 63016)]
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent)
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert gateway.twilio.create.call_count == 1
    assert [m["status"] for m in items] == ["answered", "failed"]


async def test_a_send_whose_answer_was_lost_is_found_and_not_repeated(gateway: Gateway) -> None:
    gateway.twilio.lost_answers = 1  # Twilio took the message, the answer never came back
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent)
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert len(gateway.twilio.sent) == 1
    assert gateway.twilio.list.call_count >= 1
    assert items[1]["status"] == "sent"


async def test_a_send_that_never_arrived_is_resent_after_the_lookup(gateway: Gateway) -> None:
    gateway.twilio.faults = [httpx.ReadTimeout("no answer")]  # lost before Twilio saw it
    agent = await gateway.whatsapp_agent()

    await gateway.webhook(agent)
    items = await gateway.wait_answered(gateway.session_of(agent))

    assert len(gateway.twilio.sent) == 1
    assert gateway.twilio.list.call_count >= 1
    assert items[1]["status"] == "sent"


async def test_an_interrupted_reply_is_not_mistaken_for_an_identical_earlier_one(
    gateway: Gateway,
) -> None:
    agent_url = "https://agent.test/reply"
    gateway.router.post(agent_url).mock(return_value=httpx.Response(200, json={"reply": "OK"}))
    agent = await gateway.whatsapp_agent({"kind": "http", "url": agent_url})
    session = gateway.session_of(agent)
    await gateway.webhook(agent, gateway.inbound(body="first"))
    await gateway.wait_answered(session)
    first_sent_at = gateway.twilio.sent[0].date_created
    # A second "OK" reply whose send was interrupted by a crash before its POST left,
    # half a second after the first one reached Twilio.
    store = gateway.container.message_store()
    accepted = await store.accept_inbound(
        InboundMessage(agent, "whatsapp", PHONE, "SM" + "2" * 32, "second", "Ana"),
        session,
        first_sent_at,
    )
    reply = (await store.complete(accepted.message_id, "answered", "OK", first_sent_at)).reply
    await store.mark_sending(reply.id, first_sent_at + timedelta(milliseconds=500))

    await gateway.container.recovery().resume_pending()  # what the restart does
    await gateway.webhook(agent, gateway.inbound(body="third"))
    items = await gateway.wait_answered(session, users=3, timeout=5)

    assert gateway.twilio.bodies() == ["OK", "OK", "OK"]
    assert [m["status"] for m in items if m["role"] == "assistant"] == ["sent"] * 3


async def test_a_status_callback_that_beats_the_send_answer_is_kept_and_applied(
    gateway: Gateway,
) -> None:
    """Twilio can post `delivered` before its 201 reaches us: the report is parked, then
    applied when the sid is stored, and a late `sent` does not move it back."""
    agent = await gateway.whatsapp_agent()
    session = gateway.session_of(agent)
    record = gateway.twilio._create
    answers = []

    async def create_then_report(request: httpx.Request, account_sid: str) -> httpx.Response:
        response = record(request, account_sid)  # Twilio has created the message ...
        sid = response.json()["sid"]
        for status in ("delivered", "sent"):  # ... and reports on it before answering
            answers.append(await gateway.status_callback(agent, sid, status))
        return response

    gateway.twilio.create.side_effect = create_then_report
    await gateway.webhook(agent)
    items = await gateway.wait_for(
        session, lambda items: len(items) == 2 and items[1]["status"] == "delivered"
    )
    assert [a.status_code for a in answers] == [200, 200]
    assert items[1]["status"] == "delivered"
    assert len(gateway.twilio.sent) == 1
