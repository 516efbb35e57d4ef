"""needs_attention: the rule (core.operations) and the flags the use cases hand the stores."""

from __future__ import annotations

import pytest

from core import operations
from core.errors import ValidationFailed
from ports.errors import SendFailed, SendOutcomeUnknown
from ports.values import (
    ANSWERED,
    DELIVERED,
    FAILED,
    READ,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    SessionSummary,
)
from tests.unit.fakes import World


@pytest.fixture
def world() -> World:
    return World()


def test_the_rule() -> None:
    assert operations.on_user_message(paused=False) is False
    assert operations.on_user_message(paused=True) is True
    assert operations.on_answer(FAILED) is True
    assert operations.on_answer(ANSWERED) is False
    for bad in (UNDELIVERED, FAILED, UNKNOWN):
        assert operations.on_reply_status(bad) is True
    for good in (SENT, DELIVERED, READ):
        assert operations.on_reply_status(good) is None  # leaves the flag as it is


async def inbox(world: World, status: str | None = None) -> list[SessionSummary]:
    workspace_id = await world.workspaces.ensure_workspace("acme", world.clock.now())
    page = await world.admin.list_sessions(workspace_id, None, None, status, 50, None)
    return list(page.items)


async def test_an_answered_and_sent_message_needs_no_attention(world: World) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1", "hello")
    await world.responder().answer_session(session)
    (summary,) = await inbox(world)
    assert (summary.last_message, summary.needs_attention) == ("re: hello", False)


@pytest.mark.parametrize(
    "outcome", [SendFailed("21211 invalid number"), SendOutcomeUnknown("timeout")]
)
async def test_a_reply_that_did_not_leave_needs_attention(world: World, outcome: Exception) -> None:
    agent = await world.new_agent()
    world.sender.outcomes = [outcome]
    session = await world.receive(agent, "SM1")
    await world.responder().answer_session(session)
    assert [s.session_id for s in await inbox(world, "needs_attention")] == [session]


async def test_a_failed_agent_needs_attention_until_the_next_message_is_answered(
    world: World,
) -> None:
    agent = await world.new_agent()
    world.executor.fail_on = {"boom"}
    session = await world.receive(agent, "SM1", "boom")
    await world.responder().answer_session(session)
    assert [s.needs_attention for s in await inbox(world)] == [True]  # the apology was sent

    await world.receive(agent, "SM2", "fine now?")
    await world.responder().answer_session(session)
    assert [s.needs_attention for s in await inbox(world)] == [False]


async def test_an_undelivered_report_needs_attention(world: World) -> None:
    agent = await world.new_agent()
    session = await world.receive(agent, "SM1")
    await world.responder().answer_session(session)
    sid = f"SM{1:032x}"
    assert await world.intake.record_delivery(agent, "whatsapp", sid, UNDELIVERED, "63016")
    assert [s.needs_attention for s in await inbox(world)] == [True]


async def test_an_unknown_filter_is_refused(world: World) -> None:
    with pytest.raises(ValidationFailed):
        await inbox(world, "open")
