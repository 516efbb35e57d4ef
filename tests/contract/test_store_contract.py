"""The persistence contract (the ports.driven docstrings), run against every store backend."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.delivery import DeliveryReports
from ports.errors import Conflict, NotFound
from ports.values import (
    AcceptResult,
    ChannelRecord,
    InboundMessage,
    LeadRecord,
    Reach,
    SendReceipt,
)
from tests.contract.conftest import Stores

T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
PHONE = "+14155550100"


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def session_of(agent_id: str, contact: str = PHONE) -> str:
    return f"twilio_{agent_id}_{contact}"


async def new_agent(stores: Stores, workspace: str = "acme", name: str = "bot") -> str:
    workspace_id = await stores.workspaces.ensure_workspace(workspace, T0)
    agent = await stores.agents.create_agent(workspace_id, name, {"kind": "demo"}, T0)
    return agent.id


async def accept(
    stores: Stores,
    agent_id: str,
    external_id: str,
    seconds: int = 0,
    *,
    body: str = "hi",
    contact: str = PHONE,
    name: str | None = None,
    platform: str = "whatsapp",
) -> AcceptResult:
    message = InboundMessage(agent_id, platform, contact, external_id, body, name)
    return await stores.messages.accept_inbound(message, session_of(agent_id, contact), at(seconds))


async def all_leads(stores: Stores, workspace: str = "acme") -> list[LeadRecord]:
    workspace_id = await stores.workspaces.ensure_workspace(workspace, T0)
    return [lead async for lead in stores.leads.iterate_leads(workspace_id, None, None, None)]


# --- workspaces, api keys, settings --------------------------------------------------------


async def test_workspace_ensure_is_idempotent_and_keys_find_it(stores: Stores) -> None:
    first = await stores.workspaces.ensure_workspace("acme", T0)
    assert await stores.workspaces.ensure_workspace("acme", at(5)) == first
    other = await stores.workspaces.ensure_workspace("globex", T0)
    assert other != first

    await stores.workspaces.add_api_key(first, "a" * 64, T0)
    await stores.workspaces.add_api_key(other, "b" * 64, T0)
    assert await stores.workspaces.workspace_for_key("a" * 64) == first
    assert await stores.workspaces.workspace_for_key("b" * 64) == other
    assert await stores.workspaces.workspace_for_key("c" * 64) is None
    with pytest.raises(Conflict):
        await stores.workspaces.add_api_key(other, "a" * 64, T0)


async def test_settings_are_stored_and_overwritten(stores: Stores) -> None:
    assert await stores.workspaces.get_setting("demo") is None
    await stores.workspaces.set_setting("demo", "1")
    await stores.workspaces.set_setting("demo", "2")
    assert await stores.workspaces.get_setting("demo") == "2"


# --- agents and channels -------------------------------------------------------------------


async def test_agents_are_created_listed_and_scoped_to_their_workspace(stores: Stores) -> None:
    acme = await stores.workspaces.ensure_workspace("acme", T0)
    globex = await stores.workspaces.ensure_workspace("globex", T0)
    one = await stores.agents.create_agent(acme, "one", {"kind": "http", "n": [1, 2]}, T0)
    two = await stores.agents.create_agent(acme, "two", {"kind": "demo"}, at(1))
    other = await stores.agents.create_agent(globex, "other", {"kind": "demo"}, T0)

    assert str(uuid.UUID(one.id)) == one.id and one.workspace_id == acme
    assert (one.name, one.executor, one.created_at) == ("one", {"kind": "http", "n": [1, 2]}, T0)
    assert await stores.agents.get_agent(one.id) == one
    assert [a.id for a in await stores.agents.list_agents(acme)] == [one.id, two.id]
    assert [a.id for a in await stores.agents.list_agents(globex)] == [other.id]
    assert await stores.agents.list_agents(str(uuid.uuid4())) == []
    assert await stores.agents.get_agent("not-a-uuid") is None
    assert await stores.agents.get_agent(str(uuid.uuid4())) is None


async def test_agents_are_paged_oldest_first_after_a_given_agent(stores: Stores) -> None:
    acme = await stores.workspaces.ensure_workspace("acme", T0)
    globex = await stores.workspaces.ensure_workspace("globex", T0)
    # Three created at the same instant: their ids order them.
    made = [await stores.agents.create_agent(acme, f"a{i}", {"kind": "demo"}, T0) for i in range(3)]
    made += [await stores.agents.create_agent(acme, "late", {"kind": "demo"}, at(5))]
    other = await stores.agents.create_agent(globex, "other", {"kind": "demo"}, T0)
    order = [a.id for a in sorted(made, key=lambda a: (a.created_at, uuid.UUID(a.id)))]
    assert [a.id for a in await stores.agents.list_agents(acme)] == order

    pages, after = [], None
    while page := await stores.agents.list_agents(acme, 2, after):
        pages.append([a.id for a in page])
        after = page[-1].id
    assert pages == [order[:2], order[2:]]
    assert await stores.agents.list_agents(acme, 10, order[-1]) == []
    for stranger in (other.id, str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(NotFound):
            await stores.agents.list_agents(acme, 2, stranger)


async def test_an_agent_needs_an_existing_workspace(stores: Stores) -> None:
    with pytest.raises(Conflict):
        await stores.agents.create_agent(str(uuid.uuid4()), "x", {}, T0)


async def test_save_channel_inserts_then_updates_the_same_agent_and_kind(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    second_id = await new_agent(stores, name="second")
    assert await stores.agents.get_channel(agent_id, "whatsapp") is None

    first = ChannelRecord(agent_id, "whatsapp", {"from": "+1"}, {"token": "ct1"}, False, T0)
    assert await stores.agents.save_channel(first) == first
    assert await stores.agents.get_channel(agent_id, "whatsapp") == first

    changed = ChannelRecord(agent_id, "whatsapp", {"from": "+2"}, {"token": "ct2"}, True, at(9))
    assert await stores.agents.save_channel(changed) == changed
    assert await stores.agents.get_channel(agent_id, "whatsapp") == changed

    web = ChannelRecord(agent_id, "web", {}, {}, True, T0)
    theirs = ChannelRecord(second_id, "whatsapp", {"from": "+3"}, {}, True, T0)
    await stores.agents.save_channel(web)
    await stores.agents.save_channel(theirs)
    assert await stores.agents.all_channels() == [changed, web, theirs]
    assert await stores.agents.get_channel(second_id, "web") is None
    assert await stores.agents.get_channel("not-a-uuid", "whatsapp") is None


# --- accepting inbound messages and the lead upsert ----------------------------------------


async def test_accept_inbound_stores_a_received_message_and_drops_duplicates(
    stores: Stores,
) -> None:
    agent_id = await new_agent(stores)
    session_id = session_of(agent_id)
    result = await accept(stores, agent_id, "SM1", body="hello", name="Ann")
    assert (result.session_id, result.duplicate) == (session_id, False)

    [stored] = await stores.messages.session_messages(session_id)
    assert (stored.id, stored.session_id, stored.agent_id) == (
        result.message_id,
        session_id,
        agent_id,
    )
    assert (stored.kind, stored.contact, stored.role) == ("whatsapp", PHONE, "user")
    assert (stored.content, stored.status, stored.external_id) == ("hello", "received", "SM1")
    assert stored.created_at == T0 and stored.reply_to_id is None
    lead = await stores.messages.lead_for_session(session_id)
    assert lead is not None and lead.id == result.lead_id
    assert (lead.agent_id, lead.platform, lead.contact, lead.name) == (
        agent_id, "whatsapp", PHONE, "Ann",
    )  # fmt: skip
    assert (lead.first_seen_at, lead.last_seen_at, lead.message_count) == (T0, T0, 1)

    again = await accept(stores, agent_id, "SM1", 60, body="retry", name="Bob")
    assert again.duplicate and again.message_id == result.message_id
    assert again.session_id == session_id
    assert await stores.messages.session_messages(session_id) == [stored]
    assert await stores.messages.lead_for_session(session_id) == lead
    assert await all_leads(stores) == [lead]


async def test_accept_inbound_for_an_unknown_agent_is_refused(stores: Stores) -> None:
    await new_agent(stores)
    with pytest.raises(Conflict):
        await accept(stores, str(uuid.uuid4()), "SM1")


async def test_one_lead_per_contact_counts_messages_and_keeps_the_latest_name(
    stores: Stores,
) -> None:
    agent_id = await new_agent(stores)
    first = await accept(stores, agent_id, "SM1", 0, name=None)
    second = await accept(stores, agent_id, "SM2", 30, name="Ann")
    third = await accept(stores, agent_id, "SM3", 60, name=None)  # a missing name keeps the old
    assert first.lead_id == second.lead_id == third.lead_id
    assert (first.new_lead, second.new_lead, third.new_lead) == (True, False, False)
    again = await accept(stores, agent_id, "SM1", 70)
    assert again.duplicate and not again.new_lead

    [lead] = await all_leads(stores)
    assert (lead.id, lead.name, lead.message_count) == (first.lead_id, "Ann", 3)
    assert (lead.first_seen_at, lead.last_seen_at) == (T0, at(60))

    other = await accept(stores, agent_id, "SM4", 90, contact="+14155550111", name="Bo")
    assert other.lead_id != first.lead_id and other.new_lead
    assert other.session_id == session_of(agent_id, "+14155550111")
    leads = await all_leads(stores)
    assert [(x.contact, x.message_count) for x in leads] == [("+14155550111", 1), (PHONE, 3)]


async def test_session_agent_and_lead_for_session(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SM1")
    assert await stores.messages.session_agent(result.session_id) == agent_id
    assert await stores.messages.session_agent("twilio_nobody_+1") is None
    lead = await stores.messages.lead_for_session(result.session_id)
    assert lead is not None and lead.id == result.lead_id
    assert await stores.messages.lead_for_session("twilio_nobody_+1") is None
    assert await stores.messages.session_messages("twilio_nobody_+1") == []


# --- the work cycle ------------------------------------------------------------------------


async def test_a_message_moves_through_processing_reply_sending_and_sent(stores: Stores) -> None:
    m = stores.messages
    agent_id = await new_agent(stores)
    first = await accept(stores, agent_id, "SM1", 0, body="one")
    second = await accept(stores, agent_id, "SM2", 1, body="two")
    session_id = first.session_id

    pending = await m.next_pending(session_id)
    assert pending is not None and (pending.id, pending.status) == (first.message_id, "received")
    assert (await m.start_answer(first.message_id, first.session_id, at(2), 0)).attempts == 1
    pending = await m.next_pending(session_id)
    assert pending is not None and (pending.id, pending.status) == (first.message_id, "processing")
    assert await m.reply_of(first.message_id) is None

    outgoing = await m.complete(first.message_id, "answered", "hello back", at(3))
    assert outgoing.reach == Reach(False, at(1))  # the person's last message: the second
    reply = outgoing.reply
    # Stored with its send attempt started: a crash before the send is looked up first.
    assert (reply.role, reply.status, reply.content) == ("assistant", "sending", "hello back")
    assert (reply.reply_to_id, reply.session_id, reply.agent_id) == (
        first.message_id, session_id, agent_id,
    )  # fmt: skip
    assert (reply.kind, reply.contact, reply.created_at) == ("whatsapp", PHONE, at(3))
    assert reply.external_id is None and reply.attempt_started_at == at(3)
    assert reply.id > second.message_id
    assert await m.reply_of(first.message_id) == reply
    # The unsent reply goes before the second user message, although its id is higher:
    # replies leave in the order of the messages they answer (the fault soak found the old
    # "oldest id first" rule sending the second answer before the first after a crash).
    pending = await m.next_pending(session_id)
    assert pending == reply

    await m.mark_sending(reply.id, at(5))
    await m.mark_sending(reply.id, at(6))
    pending = await m.next_pending(session_id)
    assert pending is not None and pending.id == reply.id
    assert (pending.status, pending.attempt_started_at) == ("sending", at(3))  # the first kept

    after = await m.mark_sent(reply.id, SendReceipt("SMout1"), at(7))
    assert after.parked == ()
    pending = await m.next_pending(session_id)
    assert pending is not None and pending.id == second.message_id
    assert after.next_pending == pending  # read in mark_sent's own step
    reply2 = (await m.complete(second.message_id, "answered", "two back", at(4))).reply
    pending = await m.next_pending(session_id)
    assert pending is not None and pending.id == reply2.id
    await m.mark_send_failed(reply2.id, "failed", "x" * 600, at(8))
    assert await m.next_pending(session_id) is None

    by_id = {s.id: s for s in await m.session_messages(session_id)}
    assert list(by_id) == [first.message_id, second.message_id, reply.id, reply2.id]
    assert by_id[first.message_id].status == by_id[second.message_id].status == "answered"
    sent = by_id[reply.id]
    assert (sent.status, sent.external_id, sent.attempt_started_at) == ("sent", "SMout1", at(3))
    failed = by_id[reply2.id]
    assert (failed.status, failed.error, failed.external_id) == ("failed", "x" * 500, None)


async def test_a_failed_user_message_is_no_longer_pending(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SM1")
    reply = (await stores.messages.complete(result.message_id, "failed", "sorry", at(1))).reply
    pending = await stores.messages.next_pending(result.session_id)
    assert pending is not None and pending.id == reply.id
    [user, _] = await stores.messages.session_messages(result.session_id)
    assert user.status == "failed"


async def test_completing_an_unknown_message_keeps_nothing(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SM1")
    with pytest.raises(NotFound):
        await stores.messages.complete(result.message_id + 1000, "answered", "ok", at(1))
    assert [m.role for m in await stores.messages.session_messages(result.session_id)] == ["user"]
    summary = await stores.messages.session_summary(result.session_id)
    assert summary is not None and summary.last_message == "hi"


async def test_a_reply_completed_with_a_reason_keeps_it_and_is_the_last_message(
    stores: Stores,
) -> None:
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SM1")
    reply = (
        await stores.messages.complete(
            result.message_id, "failed", "sorry", at(1), reason="poison", attention=True
        )
    ).reply
    [user, stored] = await stores.messages.session_messages(result.session_id)
    assert (user.status, user.error, stored.id, stored.reply_to_id) == (
        "failed", "poison", reply.id, result.message_id,
    )  # fmt: skip
    assert (reply.contact, reply.kind, reply.session_id) == (
        "+14155550100", "whatsapp", result.session_id,
    )  # fmt: skip
    summary = await stores.messages.session_summary(result.session_id)
    assert summary is not None
    assert (summary.last_message, summary.needs_attention) == ("sorry", True)


async def test_record_delivery_only_moves_forward(stores: Stores) -> None:
    m = stores.messages
    reports = DeliveryReports(m)
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SMin")
    reply = (await m.complete(result.message_id, "answered", "ok", at(1))).reply
    await m.mark_sending(reply.id, at(2))
    await m.mark_sent(reply.id, SendReceipt("SMout"), at(3))

    async def status() -> tuple[str, str | None]:
        row = await m.reply_of(result.message_id)
        assert row is not None
        return row.status, row.error

    assert await reports.record(agent_id, "whatsapp", "SMout", "sent", None, at(4))
    assert await status() == ("sent", None)
    assert await reports.record(agent_id, "whatsapp", "SMout", "delivered", None, at(5))
    assert await status() == ("delivered", None)
    assert await reports.record(agent_id, "whatsapp", "SMout", "read", None, at(6))
    assert await reports.record(
        agent_id, "whatsapp", "SMout", "delivered", None, at(7)
    )  # late report
    assert await reports.record(agent_id, "whatsapp", "SMout", "failed", "30008", at(8))
    assert await status() == ("read", None)
    assert await reports.record(
        agent_id, "whatsapp", "SMout", "accepted", None, at(9)
    )  # not ours: ignored
    assert await status() == ("read", None)
    assert not await reports.record(agent_id, "whatsapp", "SMnope", "delivered", None, at(10))
    assert not await reports.record(
        agent_id, "whatsapp", "SMin", "delivered", None, at(10)
    )  # a user message
    other_agent = await new_agent(stores)
    assert not await reports.record(other_agent, "whatsapp", "SMout", "failed", "1", at(11))
    assert not await reports.record("not-a-uuid", "whatsapp", "SMout", "failed", "1", at(11))
    assert [s.status for s in await m.session_messages(result.session_id)] == ["answered", "read"]


async def test_record_delivery_failure_keeps_its_error(stores: Stores) -> None:
    m = stores.messages
    reports = DeliveryReports(m)
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SMin")
    reply = (await m.complete(result.message_id, "answered", "ok", at(1))).reply
    await m.mark_sent(reply.id, SendReceipt("SMout", "queued"), at(3))
    assert await m.next_pending(result.session_id) is None
    assert await reports.record(agent_id, "whatsapp", "SMout", "undelivered", "30003", at(4))
    assert await reports.record(agent_id, "whatsapp", "SMout", "sent", None, at(5))
    row = await m.reply_of(result.message_id)
    assert row is not None and (row.status, row.error) == ("undelivered", "30003")


async def test_history_is_the_last_messages_before_one_oldest_first(stores: Stores) -> None:
    m = stores.messages
    agent_id = await new_agent(stores)
    ids: list[int] = []
    for i in range(3):
        result = await accept(stores, agent_id, f"SM{i}", i, body=f"q{i}")
        reply = (await m.complete(result.message_id, "answered", f"a{i}", at(i))).reply
        ids += [result.message_id, reply.id]
    await accept(stores, agent_id, "SMother", 9, contact="+14155550111", body="elsewhere")
    session_id = session_of(agent_id)

    last = ids[-1]
    got = await m.history(session_id, last, 3)
    assert [(h.role, h.content) for h in got] == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
    ]
    assert [h.content for h in await m.history(session_id, last, 100)] == [
        "q0", "a0", "q1", "a1", "q2",
    ]  # fmt: skip
    assert await m.history(session_id, ids[0], 10) == []
    assert [h.content for h in await m.history(session_id, last + 1, 2)] == ["q2", "a2"]


async def test_sessions_with_pending_work_oldest_first(stores: Stores) -> None:
    m = stores.messages
    agent_id = await new_agent(stores)
    a = await accept(stores, agent_id, "SM1", 0, contact="+14155550101")
    b = await accept(stores, agent_id, "SM2", 1, contact="+14155550102")
    c = await accept(stores, agent_id, "SM3", 2, contact="+14155550103")
    await accept(stores, agent_id, "SM4", 3, contact="+14155550101")
    assert await m.sessions_with_pending_work(10) == [a.session_id, b.session_id, c.session_id]
    assert await m.sessions_with_pending_work(2) == [a.session_id, b.session_id]

    reply = (await m.complete(b.message_id, "answered", "ok", at(4))).reply
    assert await m.sessions_with_pending_work(10) == [a.session_id, c.session_id, b.session_id]
    await m.mark_sent(reply.id, SendReceipt("SMout"), at(5))
    assert (await m.start_answer(c.message_id, c.session_id, at(6), 0)).attempts == 1
    assert await m.sessions_with_pending_work(10) == [a.session_id, c.session_id]


async def test_sessions_with_pending_work_created_before_leaves_out_the_newer_ones(
    stores: Stores,
) -> None:
    m = stores.messages
    agent_id = await new_agent(stores)
    a = await accept(stores, agent_id, "SM1", 0, contact="+14155550101")
    b = await accept(stores, agent_id, "SM2", 10, contact="+14155550102")
    await accept(stores, agent_id, "SM3", 20, contact="+14155550101")  # a's newer message

    assert await m.sessions_with_pending_work(10, at(5)) == [a.session_id]
    assert await m.sessions_with_pending_work(10, at(10)) == [a.session_id]
    assert await m.sessions_with_pending_work(10, at(11)) == [a.session_id, b.session_id]
    assert await m.sessions_with_pending_work(10, at(0)) == []


# --- leads ---------------------------------------------------------------------------------


async def test_list_leads_filters_by_agent_platform_and_search(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    other_id = await new_agent(stores, name="other")
    foreign_id = await new_agent(stores, workspace="globex")
    workspace_id = await stores.workspaces.ensure_workspace("acme", T0)
    await accept(stores, agent_id, "SM1", contact="+14155550101", name="Ann Smith")
    await accept(stores, agent_id, "SM2", contact="+14155550202", name="Bob")
    await accept(stores, agent_id, "SM3", contact="visitor-7", platform="web")
    await accept(stores, other_id, "SM4", contact="+14155550101", name="Ann")
    await accept(stores, foreign_id, "SM5", contact="+14155550101", name="Ann")

    async def contacts(
        agent: str | None = None, platform: str | None = None, search: str | None = None
    ) -> list[tuple[str, str]]:
        page = await stores.leads.list_leads(workspace_id, agent, platform, search, 50, None)
        assert page.next_cursor is None
        return [(x.agent_id, x.contact) for x in page.items]

    assert len(await contacts()) == 4
    assert await contacts(agent=agent_id) == [
        (agent_id, "visitor-7"), (agent_id, "+14155550202"), (agent_id, "+14155550101"),
    ]  # fmt: skip
    assert await contacts(agent="not-a-uuid") == []
    assert await contacts(platform="web") == [(agent_id, "visitor-7")]
    assert await contacts(search="0101") == [(other_id, "+14155550101"), (agent_id, "+14155550101")]
    assert await contacts(search="sMiTh") == [(agent_id, "+14155550101")]
    assert await contacts(agent=agent_id, search="ann") == [(agent_id, "+14155550101")]
    assert await contacts(agent=agent_id, platform="whatsapp", search="bob") == [
        (agent_id, "+14155550202")
    ]
    assert await contacts(search="nobody") == []


async def test_list_leads_pages_newest_first_with_an_opaque_cursor(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    workspace_id = await stores.workspaces.ensure_workspace("acme", T0)
    for i in range(7):
        await accept(stores, agent_id, f"SM{i}", i, contact=f"+1415555010{i}")

    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        page = await stores.leads.list_leads(workspace_id, None, None, None, 3, cursor)
        sizes.append(len(page.items))
        seen += [x.contact for x in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sizes == [3, 3, 1]
    assert seen == [f"+1415555010{i}" for i in reversed(range(7))]

    exact = await stores.leads.list_leads(workspace_id, None, None, None, 7, None)
    assert len(exact.items) == 7 and exact.next_cursor is None
    for bad in ("garbage!", "bGVhZDp4", "dXNlcjox"):  # not base64, "lead:x", "user:1"
        with pytest.raises(ValueError):
            await stores.leads.list_leads(workspace_id, None, None, None, 3, bad)


async def test_iterate_leads_yields_every_match(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    for i in range(7):
        await accept(stores, agent_id, f"SM{i}", i, contact=f"+1415555010{i}")
    workspace_id = await stores.workspaces.ensure_workspace("acme", T0)
    leads = [x async for x in stores.leads.iterate_leads(workspace_id, agent_id, "whatsapp", None)]
    assert [x.contact for x in leads] == [f"+1415555010{i}" for i in reversed(range(7))]
    assert await all_leads(stores, "globex") == []


# --- concurrency ---------------------------------------------------------------------------


async def test_concurrent_messages_from_one_contact_make_one_lead(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    results = await asyncio.gather(*(accept(stores, agent_id, f"SM{i}", i) for i in range(10)))
    assert not any(r.duplicate for r in results)
    assert len({r.lead_id for r in results}) == 1
    assert len({r.message_id for r in results}) == 10
    [lead] = await all_leads(stores)
    assert lead.message_count == 10
    assert len(await stores.messages.session_messages(session_of(agent_id))) == 10


async def test_concurrent_copies_of_one_message_are_stored_once(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    results = await asyncio.gather(*(accept(stores, agent_id, "SMsame", i) for i in range(5)))
    assert sorted(r.duplicate for r in results) == [False] + [True] * 4
    assert len({r.message_id for r in results}) == 1
    [lead] = await all_leads(stores)
    assert lead.message_count == 1
    assert len(await stores.messages.session_messages(session_of(agent_id))) == 1


async def test_a_report_before_its_provider_id_is_parked_then_applied(stores: Stores) -> None:
    m = stores.messages
    reports = DeliveryReports(m)
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SMin")
    reply = (await m.complete(result.message_id, "answered", "ok", at(1))).reply
    await m.mark_sending(reply.id, at(2))
    # Twilio's callbacks can beat the 201 that tells us the sid.
    assert not await reports.record(agent_id, "whatsapp", "SMout", "delivered", None, at(3))
    assert not await reports.record(agent_id, "whatsapp", "SMout", "sent", None, at(3))
    other_agent = await new_agent(stores)
    assert not await reports.record(other_agent, "whatsapp", "SMout", "read", None, at(3))
    after = await m.mark_sent(reply.id, SendReceipt("SMout"), at(4))
    assert after.parked == (("delivered", None), ("sent", None))  # taken, in the order they came
    await reports.apply_taken(agent_id, "whatsapp", "SMout", after.parked, at(5))
    row = await m.reply_of(result.message_id)
    assert row is not None and row.status == "delivered"  # not moved back by the late `sent`
    assert await m.take_parked(agent_id, "whatsapp", "SMout") == []
    # The other agent's report is still parked, and only its own clean-up removes it.
    assert await m.drop_parked(at(2)) == 0
    assert await m.drop_parked(at(10)) == 1


async def test_answer_attempts_are_counted_before_the_agent_runs(stores: Stores) -> None:
    m = stores.messages
    agent_id = await new_agent(stores)
    result = await accept(stores, agent_id, "SMin")
    assert [
        (await m.start_answer(result.message_id, result.session_id, at(i), 0)).attempts
        for i in (1, 2, 3)
    ] == [
        1,
        2,
        3,
    ]
    (user,) = await m.session_messages(result.session_id)
    assert (user.status, user.attempts) == ("processing", 3)
    await m.complete(result.message_id, "failed", "sorry", at(4), reason="poison")
    user, _ = await m.session_messages(result.session_id)
    assert (user.status, user.error) == ("failed", "poison")


async def test_start_answer_gives_the_lead_and_the_history_window_with_the_attempt(
    stores: Stores,
) -> None:
    m = stores.messages
    agent_id = await new_agent(stores)
    ids = []
    for i in range(3):
        accepted = await accept(stores, agent_id, f"SM{i}", 2 * i, body=f"q{i}", name="Ana")
        reply = (await m.complete(accepted.message_id, "answered", f"a{i}", at(2 * i + 1))).reply
        await m.mark_sent(reply.id, SendReceipt(f"SMa{i}"), at(2 * i + 1))
        ids.append(accepted.message_id)
    last = await accept(stores, agent_id, "SM9", 10, body="now")

    start = await m.start_answer(last.message_id, last.session_id, at(11), 3)

    assert start.attempts == 1
    assert start.lead == await m.lead_for_session(last.session_id)
    assert start.lead is not None and (start.lead.contact, start.lead.name) == (PHONE, "Ana")
    assert start.lead.message_count == 4 and start.lead.opted_out is False
    assert [(h.role, h.content) for h in start.history] == [
        ("assistant", "a1"), ("user", "q2"), ("assistant", "a2"),
    ]  # fmt: skip
    assert list(start.history) == await m.history(last.session_id, last.message_id, 3)
    (user,) = [x for x in await m.session_messages(last.session_id) if x.id == last.message_id]
    assert (user.status, user.attempts) == ("processing", 1)

    again = await m.start_answer(last.message_id, last.session_id, at(12), 0)
    assert (again.attempts, again.history) == (2, ())
    first = await m.start_answer(ids[0], last.session_id, at(13), 5)
    assert first.history == ()
    other = await accept(stores, agent_id, "SMx", 14, contact="+14155550177")
    with pytest.raises(NotFound):  # a message of another session
        await m.start_answer(other.message_id, last.session_id, at(15), 5)


async def test_begin_next_finds_the_next_message_and_starts_a_users_answer_in_one_step(
    stores: Stores,
) -> None:
    m = stores.messages
    agent_id = await new_agent(stores)
    assert await m.begin_next(session_of(agent_id), at(0), 5) is None  # no session yet
    done = await accept(stores, agent_id, "SM0", body="q0", name="Ana")
    reply = (await m.complete(done.message_id, "answered", "a0", at(1))).reply
    await m.mark_sent(reply.id, SendReceipt("SMa0"), at(1))
    assert await m.begin_next(done.session_id, at(2), 5) is None  # idle
    first = await accept(stores, agent_id, "SM1", 3, body="one")
    await accept(stores, agent_id, "SM2", 4, body="two")

    began = await m.begin_next(first.session_id, at(5), 5)

    assert began is not None and began.message.id == first.message_id
    assert (began.message.role, began.message.content) == ("user", "one")
    assert began.start is not None and began.start.attempts == 1
    assert began.start.lead == await m.lead_for_session(first.session_id)
    assert [(h.role, h.content) for h in began.start.history] == [
        ("user", "q0"), ("assistant", "a0"),
    ]  # fmt: skip
    user = [x for x in await m.session_messages(first.session_id) if x.id == first.message_id]
    assert (user[0].status, user[0].attempts) == ("processing", 1)
    again = await m.begin_next(first.session_id, at(6), 1)  # the same message, not yet done
    assert again is not None and again.message.id == first.message_id
    assert again.start is not None and again.start.attempts == 2
    assert [h.content for h in again.start.history] == ["a0"]

    # A reply whose delivery was interrupted comes first, and is not started as an answer.
    reply = (await m.complete(first.message_id, "answered", "re: one", at(7))).reply
    await m.mark_sending(reply.id, at(8))
    pending = await m.begin_next(first.session_id, at(9), 5)
    assert pending is not None and (pending.message.id, pending.start) == (reply.id, None)
    sent = [x for x in await m.session_messages(first.session_id) if x.id == reply.id]
    assert (sent[0].status, sent[0].attempts) == ("sending", 0)


async def test_an_interrupted_reply_goes_out_before_newer_user_messages(stores: Stores) -> None:
    """A reply stored after the next user message arrived (its agent was working) has a higher
    id; if its delivery was interrupted it must still leave before that message is answered."""
    m = stores.messages
    agent_id = await new_agent(stores)
    first = await accept(stores, agent_id, "SM1", body="one")
    await m.start_answer(first.message_id, first.session_id, at(1), 0)
    second = await accept(stores, agent_id, "SM2", 2, body="two")  # while the agent works
    reply = (await m.complete(first.message_id, "answered", "re: one", at(3))).reply
    await m.mark_sending(reply.id, at(4))  # ... and the process dies here
    assert reply.id > second.message_id
    pending = await m.next_pending(first.session_id)
    assert pending is not None and pending.id == reply.id
    await m.mark_sent(reply.id, SendReceipt("SMre1"), at(5))
    pending = await m.next_pending(first.session_id)
    assert pending is not None and pending.id == second.message_id
