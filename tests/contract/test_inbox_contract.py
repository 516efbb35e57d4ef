"""The inbox's store contract (MessageStore.list_sessions and the session summary kept by the
steps that change messages), on memory, SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from core import operations
from core.delivery import DeliveryReports
from ports.errors import NotFound
from ports.values import (
    ANSWERED,
    FAILED,
    HELD,
    HUMAN,
    LAST_MESSAGE_CHARS,
    NEEDS_ATTENTION,
    PAUSED,
    UNDELIVERED,
    UNKNOWN,
    Actor,
    InboundMessage,
    SendReceipt,
    SessionSummary,
)
from tests.contract.conftest import Stores
from tests.contract.test_store_contract import PHONE, at, new_agent, session_of

OTHER = "+14155550199"


async def arrive(
    stores: Stores, agent_id: str, sid: str, seconds: int, *, body: str = "hi",
    contact: str = PHONE, name: str | None = "Ana",
) -> int:  # fmt: skip
    message = InboundMessage(agent_id, "whatsapp", contact, sid, body, name)
    result = await stores.messages.accept_inbound(
        message,
        session_of(agent_id, contact),
        at(seconds),
        attention=operations.on_user_message(paused=False),
        attention_if_paused=operations.on_user_message(paused=True),
    )
    return result.message_id


async def inbox(stores: Stores, workspace: str = "acme", **filters: object) -> list[SessionSummary]:
    workspace_id = await stores.workspaces.ensure_workspace(workspace, at(0))
    page = await stores.messages.list_sessions(
        workspace_id,
        filters.get("agent_id"),  # type: ignore[arg-type]
        filters.get("kind"),  # type: ignore[arg-type]
        filters.get("status"),  # type: ignore[arg-type]
        int(filters.get("limit", 50)),  # type: ignore[call-overload]
        filters.get("cursor"),  # type: ignore[arg-type]
    )
    return list(page.items)


async def test_sessions_are_listed_by_latest_activity_with_their_last_message(
    stores: Stores,
) -> None:
    agent = await new_agent(stores)
    await arrive(stores, agent, "SM1", 0, body="first from Ana")
    await arrive(stores, agent, "SM2", 5, body="hello from Bo", contact=OTHER, name=None)
    assert [s.contact for s in await inbox(stores)] == [OTHER, PHONE]

    await arrive(stores, agent, "SM3", 9, body="Ana again")
    items = await inbox(stores)
    assert [s.contact for s in items] == [PHONE, OTHER]
    first = items[0]
    assert first == SessionSummary(
        session_id=session_of(agent),
        agent_id=agent,
        kind="whatsapp",
        contact=PHONE,
        name="Ana",
        last_message_at=at(9),
        last_message="Ana again",
        paused=False,
        needs_attention=False,
        last_user_at=at(9),
    )
    assert items[1].name is None


async def test_a_reply_is_the_last_message_and_a_retry_changes_nothing(stores: Stores) -> None:
    agent = await new_agent(stores)
    user = await arrive(stores, agent, "SM1", 0)
    await stores.messages.complete(user, ANSWERED, "x" * 1000, at(3), attention=False)
    (summary,) = await inbox(stores)
    assert summary.last_message == "x" * LAST_MESSAGE_CHARS
    assert summary.last_message_at == at(3)

    await arrive(stores, agent, "SM1", 8)  # Twilio's retry of the same MessageSid
    assert await inbox(stores) == [summary]


async def test_needs_attention_follows_the_flags_the_core_decides(stores: Stores) -> None:
    agent = await new_agent(stores)
    user = await arrive(stores, agent, "SM1", 0)
    reply = (
        await stores.messages.complete(
            user, FAILED, "Sorry", at(1), attention=operations.on_answer(FAILED)
        )
    ).reply
    assert [s.needs_attention for s in await inbox(stores)] == [True]
    # Sending the apology fine does not hide that the agent failed.
    await stores.messages.mark_sent(reply.id, SendReceipt("SMr1"), at(2))
    assert [s.needs_attention for s in await inbox(stores, status=NEEDS_ATTENTION)] == [True]

    # A new message starts afresh, and a good answer keeps it clear ...
    user = await arrive(stores, agent, "SM2", 3)
    assert await inbox(stores, status=NEEDS_ATTENTION) == []
    reply = (
        await stores.messages.complete(
            user, ANSWERED, "ok", at(4), attention=operations.on_answer(ANSWERED)
        )
    ).reply
    await stores.messages.mark_sent(reply.id, SendReceipt("SMr2"), at(5))
    assert await inbox(stores, status=NEEDS_ATTENTION) == []

    # ... until the provider reports the reply undelivered.
    reports = DeliveryReports(stores.messages)
    assert await reports.record(agent, "whatsapp", "SMr2", UNDELIVERED, "63016", at(6))
    (flagged,) = await inbox(stores, status=NEEDS_ATTENTION)
    assert flagged.contact == PHONE


async def test_a_send_with_an_unknown_outcome_needs_attention(stores: Stores) -> None:
    agent = await new_agent(stores)
    user = await arrive(stores, agent, "SM1", 0)
    reply = (await stores.messages.complete(user, ANSWERED, "ok", at(1), attention=False)).reply
    await stores.messages.mark_send_failed(
        reply.id, UNKNOWN, "timeout", at(2), operations.on_reply_status(UNKNOWN)
    )
    assert [s.needs_attention for s in await inbox(stores)] == [True]


async def test_the_inbox_is_scoped_filtered_and_paged(stores: Stores) -> None:
    agent = await new_agent(stores)
    second = await new_agent(stores, name="second")
    stranger = await new_agent(stores, workspace="globex")
    for i in range(5):
        await arrive(stores, agent, f"SMa{i}", i, contact=f"+1415555010{i}")
    await arrive(stores, second, "SMb", 10)
    await arrive(stores, stranger, "SMc", 11)

    everything = await inbox(stores)
    assert len(everything) == 6
    assert everything[0].agent_id == second
    assert [s.agent_id for s in await inbox(stores, workspace="globex")] == [stranger]
    assert len(await inbox(stores, agent_id=agent)) == 5
    assert await inbox(stores, agent_id="not-a-uuid") == []
    assert await inbox(stores, kind="sms") == []
    assert len(await inbox(stores, kind="whatsapp")) == 6

    workspace_id = await stores.workspaces.ensure_workspace("acme", at(0))
    seen: list[str] = []
    cursor = None
    while True:
        page = await stores.messages.list_sessions(workspace_id, None, None, None, 4, cursor)
        seen += [s.session_id for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [s.session_id for s in everything]
    with pytest.raises(ValueError):
        await stores.messages.list_sessions(workspace_id, None, None, None, 4, "bogus")


# --- human takeover ------------------------------------------------------------------------


async def test_a_paused_sessions_messages_are_held_and_never_pending(stores: Stores) -> None:
    agent = await new_agent(stores)
    user = await arrive(stores, agent, "SM1", 0)
    await stores.messages.complete(user, ANSWERED, "ok", at(1), attention=False)
    session = session_of(agent)
    assert await stores.messages.set_paused(session, True, "Maria (ws)", at(2), None)
    assert not await stores.messages.set_paused("no-such-session", True, None, at(2), None)

    await arrive(stores, agent, "SM2", 3, body="anyone?")
    rows = await stores.messages.session_messages(session)
    assert (rows[-1].status, rows[-1].content) == (HELD, "anyone?")
    pending = await stores.messages.next_pending(session)
    assert pending is not None and pending.role == "assistant"  # the earlier reply, not it
    (summary,) = await inbox(stores, status=PAUSED)
    assert (summary.paused, summary.paused_by, summary.needs_attention) == (
        True, "Maria (ws)", True,
    )  # fmt: skip

    # Resumed: the held message stays held, and the next one is answered as usual.
    assert await stores.messages.set_paused(session, False, "Maria (ws)", at(4), False)
    assert await inbox(stores, status=PAUSED) == []
    assert await inbox(stores, status=NEEDS_ATTENTION) == []
    await arrive(stores, agent, "SM3", 5)
    assert (await stores.messages.session_messages(session))[-2].status == HELD
    assert (await stores.messages.session_messages(session))[-1].status == "received"


async def test_a_human_message_is_an_outbound_message_like_a_reply(stores: Stores) -> None:
    agent = await new_agent(stores)
    await arrive(stores, agent, "SM1", 0)
    session = session_of(agent)
    human = await stores.messages.add_human_message(session, "Maria here", "Maria", at(1), False)
    assert (human.role, human.status, human.author, human.contact) == (
        HUMAN, "queued", "Maria", PHONE,
    )  # fmt: skip
    stored = (await stores.messages.session_messages(session))[-1]
    assert (stored.id, stored.role, stored.author) == (human.id, HUMAN, "Maria")
    history = await stores.messages.history(session, human.id + 1, 10)
    assert [h.role for h in history] == ["user", HUMAN]
    (summary,) = await inbox(stores)
    assert summary.last_message == "Maria here"

    # Sent and reported like an agent's reply.
    await stores.messages.mark_sending(human.id, at(2))
    await stores.messages.mark_sent(human.id, SendReceipt("SMh1"), at(3))
    assert await stores.messages.delivery_target(agent, "whatsapp", "SMh1") == (human.id, "sent")
    with pytest.raises(NotFound):
        await stores.messages.add_human_message("no-such-session", "x", None, at(4), False)


async def test_an_api_keys_label_is_kept(stores: Stores) -> None:
    workspace = await stores.workspaces.ensure_workspace("acme", at(0))
    await stores.workspaces.add_api_key(workspace, "a" * 64, at(0), "Maria")
    await stores.workspaces.add_api_key(workspace, "b" * 64, at(0))
    assert await stores.workspaces.key_owner("a" * 64) == Actor(workspace, "Maria")
    assert await stores.workspaces.key_owner("b" * 64) == Actor(workspace, None)
    assert await stores.workspaces.key_owner("c" * 64) is None
