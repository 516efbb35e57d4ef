"""The opt-out and reply-window facts the stores keep for core.reachability, on memory, SQLite
and PostgreSQL alike: the lead's flag set with its stop or start word, what `mark_sending`
hands back, a stop word never held, a template kept with its message."""

from __future__ import annotations

import pytest

from ports.errors import NotFound
from ports.values import ANSWERED, FAILED, HELD, HUMAN, RECEIVED, InboundMessage, Reach, Template
from tests.contract.conftest import Stores
from tests.contract.test_store_contract import PHONE, at, new_agent, session_of


async def arrive(
    stores: Stores, agent: str, sid: str, seconds: int, body: str = "hi",
    opt_out: bool | None = None,
) -> int:  # fmt: skip
    message = InboundMessage(agent, "whatsapp", PHONE, sid, body, "Ana")
    control = None if opt_out is None else ("stop" if opt_out else "start")
    result = await stores.messages.accept_inbound(
        message, session_of(agent), at(seconds), opt_out=opt_out, control=control
    )
    return result.message_id


async def test_mark_sending_hands_back_the_opt_out_and_the_last_user_message_time(
    stores: Stores,
) -> None:
    agent = await new_agent(stores)
    first = await arrive(stores, agent, "SM1", 0)
    reply = (await stores.messages.complete(first, ANSWERED, "hello", at(1))).reply
    assert await stores.messages.mark_sending(reply.id, at(2)) == Reach(False, at(0))

    # A human's message later does not move the window: only the person's messages do.
    session = session_of(agent)
    human = await stores.messages.add_human_message(session, "Maria", "Maria (ws)", at(30), None)
    assert await stores.messages.mark_sending(human.id, at(31)) == Reach(False, at(0))
    summary = await stores.messages.session_summary(session)
    assert summary is not None and summary.last_user_at == at(0)

    await arrive(stores, agent, "SM2", 40, body="STOP", opt_out=True)
    assert await stores.messages.mark_sending(human.id, at(41)) == Reach(True, at(40))
    lead = await stores.messages.lead_for_session(session)
    assert lead is not None and lead.opted_out is True
    summary = await stores.messages.session_summary(session)
    assert summary is not None and summary.opted_out is True

    # An ordinary message leaves the flag as it is; START lifts it.
    await arrive(stores, agent, "SM3", 50, body="hello?")
    assert (await stores.messages.mark_sending(human.id, at(51))).opted_out is True
    await arrive(stores, agent, "SM4", 60, body="START", opt_out=False)
    assert await stores.messages.mark_sending(human.id, at(61)) == Reach(False, at(60))
    with pytest.raises(NotFound):
        await stores.messages.mark_sending(999_999, at(62))


async def test_a_duplicate_stop_word_changes_nothing(stores: Stores) -> None:
    agent = await new_agent(stores)
    await arrive(stores, agent, "SM1", 0, body="STOP", opt_out=True)
    await arrive(stores, agent, "SM2", 5, body="START", opt_out=False)
    again = await stores.messages.accept_inbound(
        InboundMessage(agent, "whatsapp", PHONE, "SM1", "STOP", "Ana"),
        session_of(agent), at(9), opt_out=True,
    )  # fmt: skip
    assert again.duplicate
    lead = await stores.messages.lead_for_session(session_of(agent))
    assert lead is not None and (lead.opted_out, lead.message_count) == (False, 2)


async def test_a_stop_word_is_never_held_but_other_messages_of_a_paused_session_are(
    stores: Stores,
) -> None:
    agent = await new_agent(stores)
    first = await arrive(stores, agent, "SM1", 0)
    session = session_of(agent)
    assert await stores.messages.set_paused(session, True, "Maria (ws)", at(1), None)
    held = await arrive(stores, agent, "SM2", 2, body="hello?")
    stop = await arrive(stores, agent, "SM3", 3, body="stop", opt_out=True)
    rows = {m.id: m for m in await stores.messages.session_messages(session)}
    assert (rows[held].status, rows[stop].status) == (HELD, RECEIVED)
    assert (rows[held].control, rows[stop].control) == (None, "stop")
    # The first message (never answered here) comes first, then the stop word; not the held.
    pending = await stores.messages.next_pending(session)
    assert pending is not None and pending.id == first
    await stores.messages.close_unanswered(first, ANSWERED, None, at(4), attention=False)
    pending = await stores.messages.next_pending(session)
    assert pending is not None and pending.id == stop


async def test_close_unanswered_sets_the_status_and_reason_without_a_reply(
    stores: Stores,
) -> None:
    agent = await new_agent(stores)
    message = await arrive(stores, agent, "SM1", 0)
    await stores.messages.close_unanswered(message, FAILED, "opted_out", at(1), attention=False)
    (stored,) = await stores.messages.session_messages(session_of(agent))
    assert (stored.status, stored.error) == (FAILED, "opted_out")
    assert await stores.messages.next_pending(session_of(agent)) is None
    summary = await stores.messages.session_summary(session_of(agent))
    assert summary is not None and summary.needs_attention is False
    with pytest.raises(NotFound):
        await stores.messages.close_unanswered(999_999, FAILED, None, at(2))


async def test_set_opted_out_flags_the_lead_of_a_messages_session(stores: Stores) -> None:
    agent = await new_agent(stores)
    first = await arrive(stores, agent, "SM1", 0)
    reply = (await stores.messages.complete(first, ANSWERED, "hello", at(1))).reply
    await stores.messages.set_opted_out(reply.id, True)
    lead = await stores.messages.lead_for_session(session_of(agent))
    assert lead is not None and lead.opted_out is True


async def test_a_template_is_kept_with_its_message(stores: Stores) -> None:
    agent = await new_agent(stores)
    await arrive(stores, agent, "SM1", 0)
    template = Template("HX" + "a" * 32, {"1": "Ana", "name": "12:30"})
    stored = await stores.messages.add_human_message(
        session_of(agent), template.label, "Maria (ws)", at(1), None, template=template
    )
    assert (stored.role, stored.template) == (HUMAN, template)
    # Read back as the worker reads it: a reply goes before any user message.
    pending = await stores.messages.next_pending(session_of(agent))
    assert pending is not None and pending.id == stored.id and pending.template == template
    *_, last = await stores.messages.session_messages(session_of(agent))
    assert last.template == template
