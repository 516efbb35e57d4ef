"""Intake, Responder and Recovery over the memory stores with recording fakes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from dependency_injector import providers

from adapters.queue.inprocess import InProcessWorkQueue
from config.container import build_container
from core.conversation import APOLOGY, Intake, Recovery
from ports.errors import SendFailed, SendOutcomeUnknown
from ports.values import (
    ANSWERED,
    ASSISTANT,
    USER,
    AcceptResult,
    AgentRequest,
    HistoryEntry,
    SendReceipt,
    StoredMessage,
)
from tests.conftest import SettingsFactory
from tests.unit.fakes import PHONE, FakeExecutor, FakeSender, World


@pytest.fixture
def world() -> World:
    return World()


def statuses(messages: list[StoredMessage]) -> list[tuple[str, str, str]]:
    return [(m.role, m.content, m.status) for m in messages]


# --- Intake -----------------------------------------------------------------------------------


async def test_accept_stores_the_message_and_queues_its_session(world: World) -> None:
    agent = await world.new_agent()

    result = await world.intake.accept(world.inbound(agent, "SM1", "hello"))

    assert result.duplicate is False
    assert result.session_id == f"twilio_{agent}_{PHONE}"
    assert world.queue.enqueued == [result.session_id]
    stored = await world.messages.session_messages(result.session_id)
    assert statuses(stored) == [(USER, "hello", "received")]
    lead = await world.messages.lead_for_session(result.session_id)
    assert lead is not None
    assert (lead.contact, lead.platform, lead.name, lead.message_count) == (
        PHONE, "whatsapp", "Ana", 1,
    )  # fmt: skip


async def test_a_duplicate_is_acknowledged_but_neither_stored_nor_queued_again(
    world: World,
) -> None:
    agent = await world.new_agent()
    first = await world.intake.accept(world.inbound(agent, "SM1", "hello"))

    again = await world.intake.accept(world.inbound(agent, "SM1", "hello"))

    assert again.duplicate is True
    assert again.message_id == first.message_id
    assert world.queue.enqueued == [first.session_id]
    assert len(await world.messages.session_messages(first.session_id)) == 1
    lead = await world.messages.lead_for_session(first.session_id)
    assert lead is not None and lead.message_count == 1


async def test_a_message_whose_store_queued_its_job_is_not_enqueued_again(world: World) -> None:
    """PostgreSQL's store writes the answer job in the message's transaction (queued=True):
    Intake then defers nothing (no second commit per webhook)."""
    agent = await world.new_agent()
    store = world.messages

    class QueuingStore:
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def accept_inbound(self, *args: object, **kwargs: object) -> AcceptResult:
            result = await store.accept_inbound(*args, **kwargs)  # type: ignore[arg-type]
            return dataclasses.replace(result, queued=not result.duplicate)

    intake = Intake(QueuingStore(), world.queue, world.clock, world.catalog)  # type: ignore[arg-type]

    result = await intake.accept(world.inbound(agent, "SM1", "hello"))

    assert (result.duplicate, result.queued) == (False, True)
    assert world.queue.enqueued == []
    assert len(await store.session_messages(result.session_id)) == 1


async def test_record_delivery_moves_forward_only(world: World) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1")
    await world.responder().answer_session(session)
    sid = f"SM{1:032x}"

    assert await world.intake.record_delivery(agent, "whatsapp", sid, "delivered", None) is True
    assert await world.intake.record_delivery(agent, "whatsapp", sid, "read", None) is True
    assert await world.intake.record_delivery(agent, "whatsapp", sid, "delivered", None) is True
    assert await world.intake.record_delivery(agent, "whatsapp", "SMunknown", "read", None) is False

    reply = (await world.messages.session_messages(session))[-1]
    assert (reply.role, reply.status) == (ASSISTANT, "read")


# --- Responder --------------------------------------------------------------------------------


async def test_pending_messages_are_answered_and_sent_in_arrival_order(world: World) -> None:
    agent = await world.new_agent()
    for i in range(1, 4):
        session = await world.receive(agent, f"SM{i}", f"message {i}")

    await world.responder().answer_session(session)

    assert [r.message for r in world.executor.requests] == ["message 1", "message 2", "message 3"]
    assert [s.body for s in world.sender.sent] == [
        "re: message 1",
        "re: message 2",
        "re: message 3",
    ]
    assert {(s.contact, s.kind, s.agent_id) for s in world.sender.sent} == {
        (PHONE, "whatsapp", agent)
    }
    stored = await world.messages.session_messages(session)
    users = [m for m in stored if m.role == USER]
    replies = [m for m in stored if m.role == ASSISTANT]
    assert [m.status for m in users] == [ANSWERED] * 3
    assert [(m.content, m.status) for m in replies] == [
        (f"re: message {i}", "sent") for i in range(1, 4)
    ]
    assert [m.reply_to_id for m in replies] == [m.id for m in users]
    assert await world.messages.next_pending(session) is None


async def test_answering_again_sends_nothing_more(world: World) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1")
    responder = world.responder()
    await responder.answer_session(session)

    await responder.answer_session(session)

    assert len(world.executor.requests) == 1
    assert len(world.sender.sent) == 1


async def test_the_agent_gets_the_request_with_the_lead(world: World) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1", "hello")

    await world.responder().answer_session(session)

    (request,) = world.executor.requests
    assert request.as_json() == {
        "agent_id": agent,
        "session_id": session,
        "message": "hello",
        "history": [],
        "lead": {"phone": PHONE, "contact": PHONE, "name": "Ana", "platform": "whatsapp"},
    }


async def test_history_holds_earlier_messages_only_never_the_current_or_later(
    world: World,
) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1", "first")
    await world.responder().answer_session(session)  # first -> "re: first", sent
    await world.receive(agent, "SM2", "second")
    await world.receive(agent, "SM3", "third")

    await world.responder().answer_session(session)

    by_message = {r.message: list(r.history) for r in world.executor.requests}
    assert by_message["first"] == []
    assert by_message["second"] == [
        HistoryEntry(USER, "first"),
        HistoryEntry(ASSISTANT, "re: first"),
    ]
    # "third" was stored before the reply to "second": that reply is later, so it is not there.
    assert by_message["third"] == [
        HistoryEntry(USER, "first"),
        HistoryEntry(ASSISTANT, "re: first"),
        HistoryEntry(USER, "second"),
    ]


async def seed_sent_turns(world: World, agent: str, turns: int) -> str:
    """`turns` user messages, each answered and sent: 2 * turns stored messages."""
    session = ""
    for i in range(turns):
        result = await world.intake.accept(world.inbound(agent, f"SMold{i}", f"u{i}"))
        session = result.session_id
        reply = (
            await world.messages.complete(result.message_id, ANSWERED, f"a{i}", world.clock.now())
        ).reply
        await world.messages.mark_sending(reply.id, world.clock.now())
        await world.messages.mark_sent(reply.id, SendReceipt(f"SMa{i}"), world.clock.now())
    return session


async def test_history_window_defaults_to_the_50_most_recent_oldest_first(world: World) -> None:
    agent = await world.new_agent()
    session = await seed_sent_turns(world, agent, 30)  # 60 stored messages
    await world.receive(agent, "SMnew", "newest")
    responder = world.responder()
    assert responder.history_window == 50

    await responder.answer_session(session)

    (request,) = world.executor.requests
    everything = [(m.role, m.content) for m in await world.messages.session_messages(session)]
    expected = [HistoryEntry(role, content) for role, content in everything[:60][-50:]]
    assert list(request.history) == expected
    assert request.history[0] == HistoryEntry(USER, "u5")
    assert request.history[-1] == HistoryEntry(ASSISTANT, "a29")


async def test_the_container_wires_the_history_window_setting(
    make_settings: SettingsFactory,
) -> None:
    default = build_container(make_settings(), persistence="memory")
    narrow = build_container(make_settings(HISTORY_WINDOW="3"), persistence="memory")
    assert default.responder().history_window == 50
    assert narrow.responder().history_window == 3


async def test_a_memory_container_answers_a_message_end_to_end(
    make_settings: SettingsFactory,
) -> None:
    container = build_container(make_settings(HISTORY_WINDOW="2"), persistence="memory")
    executor, sender = FakeExecutor(), FakeSender()
    container.executor.override(providers.Object(executor))
    container.sender.override(providers.Object(sender))
    admin = container.admin()
    workspace = await admin.authenticate(await admin.create_api_key("acme"))
    assert workspace is not None
    agent = await admin.create_agent(workspace, "bot", {"kind": "demo"})
    world = World()
    session = ""
    for i in range(3):
        accepted = await container.intake().accept(world.inbound(agent.id, f"SM{i}", f"m{i}"))
        session = accepted.session_id
        await container.responder().answer_session(session)

    assert [s.body for s in sender.sent] == ["re: m0", "re: m1", "re: m2"]
    assert list(executor.requests[2].history) == [
        HistoryEntry(USER, "m1"),
        HistoryEntry(ASSISTANT, "re: m1"),
    ]
    stored = await admin.session_messages(workspace, session)
    assert [m.status for m in stored] == ["answered", "sent"] * 3


async def test_a_failing_agent_marks_the_message_failed_and_sends_an_apology(
    world: World,
) -> None:
    agent = await world.new_agent()
    world.executor.fail_on = {"boom"}
    session = await world.receive(agent, "SM1", "boom")
    await world.receive(agent, "SM2", "fine")

    await world.responder().answer_session(session)

    stored = await world.messages.session_messages(session)
    assert statuses(stored) == [
        (USER, "boom", "failed"),
        (USER, "fine", "answered"),
        (ASSISTANT, APOLOGY, "sent"),
        (ASSISTANT, "re: fine", "sent"),
    ]
    assert [s.body for s in world.sender.sent] == [APOLOGY, "re: fine"]
    assert 0 < len(APOLOGY) <= 160


async def test_a_refused_send_marks_the_reply_failed_and_goes_on(world: World) -> None:
    agent = await world.new_agent()
    world.sender.outcomes = [SendFailed("twilio refused the message: HTTP 400", code="21617")]
    session = await world.receive(agent, "SM1", "one")
    await world.receive(agent, "SM2", "two")

    await world.responder().answer_session(session)

    replies = [m for m in await world.messages.session_messages(session) if m.role == ASSISTANT]
    assert [(m.content, m.status) for m in replies] == [("re: one", "failed"), ("re: two", "sent")]
    assert replies[0].error is not None and "HTTP 400" in replies[0].error
    assert await world.messages.next_pending(session) is None


async def test_an_unknown_send_outcome_marks_the_reply_unknown(world: World) -> None:
    agent = await world.new_agent()
    world.sender.outcomes = [SendOutcomeUnknown("send outcome unknown: no answer")]
    session = await world.receive(agent, "SM1", "one")

    await world.responder().answer_session(session)

    reply = (await world.messages.session_messages(session))[-1]
    assert (reply.role, reply.status) == (ASSISTANT, "unknown")
    assert len(world.sender.sent) == 1
    assert await world.messages.next_pending(session) is None


async def test_a_reply_left_sending_by_a_crash_is_resent_with_the_attempt_time(
    world: World,
) -> None:
    agent = await world.new_agent()
    accepted = await world.intake.accept(world.inbound(agent, "SM1", "hello"))
    first_attempt = world.clock.now()
    # The reply is stored with its attempt started ...
    reply = (
        await world.messages.complete(accepted.message_id, ANSWERED, "stored reply", first_attempt)
    ).reply
    await world.messages.mark_sending(reply.id, world.clock.now())  # ... and then the process died

    await world.responder().answer_session(accepted.session_id)

    assert world.executor.requests == []  # the agent is not asked again
    (outbound,) = world.sender.sent
    assert outbound.message_id == reply.id
    assert outbound.body == "stored reply"
    assert outbound.previous_attempt_at == first_attempt
    final = (await world.messages.session_messages(accepted.session_id))[-1]
    assert final.status == "sent"


async def test_a_first_send_carries_no_previous_attempt(world: World) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1")

    await world.responder().answer_session(session)

    assert [s.previous_attempt_at for s in world.sender.sent] == [None]


async def test_a_message_left_processing_by_a_crash_is_answered_once(world: World) -> None:
    agent = await world.new_agent()
    accepted = await world.intake.accept(world.inbound(agent, "SM1", "hello"))
    await world.messages.start_answer(
        accepted.message_id, accepted.session_id, world.clock.now(), 0
    )

    await world.responder().answer_session(accepted.session_id)

    assert [r.message for r in world.executor.requests] == ["hello"]
    assert statuses(await world.messages.session_messages(accepted.session_id)) == [
        (USER, "hello", "answered"),
        (ASSISTANT, "re: hello", "sent"),
    ]


async def test_a_reply_is_truncated_before_it_is_stored_and_sent(world: World) -> None:
    agent = await world.new_agent()
    world.executor.reply = lambda r: "x" * 1600
    session = await world.receive(agent, "SM1")

    await world.responder().answer_session(session)

    (outbound,) = world.sender.sent
    assert outbound.body == "x" * 1497 + "..."
    assert (await world.messages.session_messages(session))[-1].content == outbound.body


# --- Recovery and the in-process queue --------------------------------------------------------


async def test_recovery_queues_every_session_with_pending_work_once(world: World) -> None:
    agent = await world.new_agent()
    idle = await world.receive(agent, "SM0", phone="+14155550199")
    await world.responder().answer_session(idle)
    busy_a = await world.receive(agent, "SM1", phone="+14155550101")
    await world.receive(agent, "SM2", phone="+14155550101")
    busy_b = await world.receive(agent, "SM3", phone="+14155550102")
    world.queue.enqueued.clear()

    resumed = await world.recovery.resume_pending()

    assert resumed == 2
    assert world.queue.enqueued == [busy_a, busy_b]


async def test_recovery_respects_the_batch_size(world: World) -> None:
    agent = await world.new_agent()
    for i in range(5):
        await world.receive(agent, f"SM{i}", phone=f"+1415555010{i}")
    world.queue.enqueued.clear()

    assert await world.recovery.resume_pending(batch=3) == 3
    assert len(world.queue.enqueued) == 3


async def test_the_periodic_sweep_leaves_out_sessions_whose_work_is_newer_than_settled_s(
    world: World,
) -> None:
    agent = await world.new_agent()
    old = await world.receive(agent, "SM1", phone="+14155550101")
    world.clock.current += timedelta(seconds=30)
    await world.receive(agent, "SM2", phone="+14155550102")  # just arrived: its job has it
    world.queue.enqueued.clear()
    sweep = Recovery(world.messages, world.queue, world.clock)

    assert await sweep.resume_pending(settled_s=15) == 1
    assert world.queue.enqueued == [old]
    assert await sweep.resume_pending() == 2  # at start: everything pending


async def test_recovery_finds_a_reply_stuck_in_sending(world: World) -> None:
    agent = await world.new_agent()
    accepted = await world.intake.accept(world.inbound(agent, "SM1"))
    reply = (
        await world.messages.complete(accepted.message_id, ANSWERED, "r", world.clock.now())
    ).reply
    await world.messages.mark_sending(reply.id, world.clock.now())
    world.queue.enqueued.clear()

    assert await world.recovery.resume_pending() == 1
    assert world.queue.enqueued == [accepted.session_id]


async def test_the_in_process_queue_runs_a_session_one_at_a_time_and_misses_nothing(
    world: World,
) -> None:
    agent = await world.new_agent()
    running, overlap = 0, 0
    responder = world.responder()

    async def handler(session_id: str) -> None:
        nonlocal running, overlap
        running += 1
        overlap = max(overlap, running)
        await asyncio.sleep(0.001)
        await responder.answer_session(session_id)
        running -= 1

    queue = InProcessWorkQueue(concurrency=4)
    world.intake.queue = queue
    await queue.start(handler)
    for i in range(20):
        session = await world.receive(agent, f"SM{i}", f"m{i}")
        await asyncio.sleep(0)
    await queue.stop(deadline_s=5)

    assert overlap == 1
    assert [s.body for s in world.sender.sent] == [f"re: m{i}" for i in range(20)]
    assert await world.messages.next_pending(session) is None


async def test_a_message_arriving_while_its_session_is_answered_is_answered_too(
    world: World,
) -> None:
    agent = await world.new_agent()
    world.executor.gate = asyncio.Event()
    queue = InProcessWorkQueue()
    world.intake.queue = queue
    await queue.start(world.responder().answer_session)
    session = await world.receive(agent, "SM1", "first")
    while not world.executor.requests:  # the worker is now inside the agent call
        await asyncio.sleep(0)

    await world.receive(agent, "SM2", "second")
    world.executor.gate.set()
    await queue.stop(deadline_s=5)

    assert [r.message for r in world.executor.requests] == ["first", "second"]
    assert [s.body for s in world.sender.sent] == ["re: first", "re: second"]
    assert await world.messages.next_pending(session) is None


async def test_the_in_process_queue_leaves_work_to_recovery_once_stopped(world: World) -> None:
    calls: list[str] = []

    async def handler(session_id: str) -> None:
        calls.append(session_id)

    queue = InProcessWorkQueue()
    await queue.enqueue("before-start")
    await queue.start(handler)
    await queue.stop(deadline_s=1)
    await queue.enqueue("after-stop")
    await asyncio.sleep(0)

    assert calls == []


async def test_a_message_that_killed_the_process_three_times_is_quarantined(
    world: World,
) -> None:
    agent = await world.new_agent()
    poison = await world.intake.accept(world.inbound(agent, "SM1", "crash me"))
    await world.intake.accept(world.inbound(agent, "SM2", "next"))
    for _ in range(3):  # three starts that never completed: the process died in each
        await world.messages.start_answer(
            poison.message_id, poison.session_id, world.clock.now(), 0
        )

    await world.responder().answer_session(poison.session_id)

    # The agent never sees the poison message again; the session moves on.
    assert [r.message for r in world.executor.requests] == ["next"]
    stored = await world.messages.session_messages(poison.session_id)
    assert statuses(stored) == [
        (USER, "crash me", "failed"),
        (USER, "next", "answered"),
        (ASSISTANT, APOLOGY, "sent"),
        (ASSISTANT, "re: next", "sent"),
    ]
    assert stored[0].error == "poison"
    assert [s.body for s in world.sender.sent] == [APOLOGY, "re: next"]


async def test_two_interrupted_answers_are_still_answered(world: World) -> None:
    agent = await world.new_agent()
    accepted = await world.intake.accept(world.inbound(agent, "SM1", "hello"))
    for _ in range(2):
        await world.messages.start_answer(
            accepted.message_id, accepted.session_id, world.clock.now(), 0
        )

    await world.responder().answer_session(accepted.session_id)

    assert [r.message for r in world.executor.requests] == ["hello"]


async def test_a_report_before_the_send_returns_is_applied_when_the_sid_lands(
    world: World,
) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1")
    sid = f"SM{1:032x}"  # the fake sender's first receipt
    assert await world.intake.record_delivery(agent, "whatsapp", sid, "delivered", None) is False

    await world.responder().answer_session(session)

    reply = (await world.messages.session_messages(session))[-1]
    assert (reply.external_id, reply.status) == (sid, "delivered")


async def test_sessions_of_one_agent_are_answered_in_parallel_up_to_its_max_concurrency(
    world: World,
) -> None:
    workspace = await world.workspaces.ensure_workspace("acme", world.clock.now())
    agent = await world.agents.create_agent(
        workspace, "bot", {"kind": "demo", "max_concurrency": 3}, world.clock.now()
    )
    running = 0
    peak = 0
    release = asyncio.Event()

    async def slow(executor: object, request: object) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return "ok"

    world.executor.run = slow  # type: ignore[method-assign]
    sessions = [await world.receive(agent.id, f"SM{i}", phone=f"+1415555{i:04d}") for i in range(8)]
    responder = world.responder()
    tasks = [asyncio.create_task(responder.answer_session(s)) for s in sessions]
    for _ in range(50):
        await asyncio.sleep(0)
    assert (running, peak) == (3, 3)
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3


async def test_the_channel_is_told_an_answer_is_coming_for_each_message(world: World) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1")
    await world.responder().answer_session(session)
    await asyncio.sleep(0)  # the indicator runs beside the answer, never before it
    assert world.catalog.typing == [("whatsapp", PHONE, "SM1")]


async def test_typing_indicators_past_the_limit_wait_their_turn_and_are_dropped_once_answered(
    world: World,
) -> None:
    """A burst of answers sends at most `typing_concurrency` indicators at once; the others
    wait, in order, and one whose answer went while it waited is never sent."""
    agent = await world.new_agent()
    gate = asyncio.Event()
    in_flight, peak, shown = 0, 0, []

    async def answering(kind: str, agent_id: str, contact: str, external_id: str | None) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        shown.append(external_id)
        await gate.wait()
        in_flight -= 1

    world.catalog.answering = answering  # type: ignore[method-assign]
    waiting = asyncio.Event()

    async def run(executor: object, request: AgentRequest) -> str:
        if request.message != "fast":
            await waiting.wait()
        return "ok"

    world.executor.run = run  # type: ignore[method-assign]
    sessions = [
        await world.receive(agent, f"SM{i}", body="fast" if i == 3 else "slow", phone=f"+1{i:010d}")
        for i in range(5)
    ]
    responder = world.responder(typing_concurrency=2)
    tasks = [asyncio.create_task(responder.answer_session(s)) for s in sessions]
    for _ in range(50):
        await asyncio.sleep(0)
    assert (peak, shown) == (2, ["SM0", "SM1"])
    assert len(world.sender.sent) == 1  # SM3's agent answered while its indicator waited
    gate.set()
    waiting.set()
    await asyncio.gather(*tasks)
    for _ in range(20):
        await asyncio.sleep(0)
    assert shown == ["SM0", "SM1", "SM2", "SM4"]  # SM3's was dropped: its reply had gone
    assert peak == 2
    assert len(world.sender.sent) == 5


async def test_a_failing_typing_indicator_never_touches_the_answer(world: World) -> None:
    agent = await world.new_agent()

    async def broken(*args: object) -> None:
        raise RuntimeError("indicator down")

    world.catalog.answering = broken  # type: ignore[method-assign,assignment]
    responder = world.responder(typing_concurrency=1)
    for i in range(3):
        session = await world.receive(agent, f"SM{i}", phone=f"+1{i:010d}")
        await responder.answer_session(session)
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(world.sender.sent) == 3
    assert responder._typing_now == 0


async def test_replies_are_rendered_for_the_medium_unless_the_executor_says_plain(
    world: World,
) -> None:
    world.catalog._render = lambda text: f"<rendered {text}>"
    workspace = await world.workspaces.ensure_workspace("acme", world.clock.now())
    rendered = await world.agents.create_agent(workspace, "a", {"kind": "demo"}, world.clock.now())
    plain = await world.agents.create_agent(
        workspace, "b", {"kind": "demo", "format": "plain"}, world.clock.now()
    )
    for agent in (rendered, plain):
        session = await world.receive(agent.id, f"SM-{agent.name}")
        await world.responder().answer_session(session)
    assert [s.body for s in world.sender.sent] == ["<rendered re: hi>", "re: hi"]
