"""MessageStore on Tortoise: sessions, messages and the lead upsert, each step one transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

from tortoise.functions import Min
from tortoise.transactions import in_transaction

from adapters.persistence.tortoise.mappers import to_lead, to_message
from adapters.persistence.tortoise.models import Lead, Message, Session
from adapters.persistence.tortoise.sql import db_time, placeholders, unavailable_on_db_error
from ports.values import (
    ASSISTANT,
    ASSISTANT_STATUSES,
    FAILED,
    PROCESSING,
    QUEUED,
    SENDING,
    UNDELIVERED,
    UNKNOWN,
    AcceptResult,
    HistoryEntry,
    InboundMessage,
    LeadRecord,
    SendReceipt,
    StoredMessage,
)

_UPSERT_LEAD = """
INSERT INTO lead (agent_id, platform, contact, name, first_seen_at, last_seen_at, message_count)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (agent_id, platform, contact) DO UPDATE SET
  last_seen_at = excluded.last_seen_at,
  message_count = lead.message_count + 1,
  name = COALESCE(excluded.name, lead.name)
RETURNING id
"""
_INSERT_SESSION = """
INSERT INTO session (id, agent_id, lead_id, channel, contact, created_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
"""
_INSERT_MESSAGE = """
INSERT INTO message (session_id, role, content, status, pending, external_id, created_at,
                     updated_at)
VALUES (?, 'user', ?, 'received', ?, ?, ?, ?) ON CONFLICT (external_id) DO NOTHING
RETURNING id
"""

# Delivery reports arrive out of order: a status only replaces one of lower rank.
_RANK = {QUEUED: 0, SENDING: 1, UNKNOWN: 2, "sent": 3, UNDELIVERED: 4, FAILED: 4}
_RANK.update({"delivered": 5, "read": 6})


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class _Duplicate(Exception):
    """Rolls the transaction back when the message was already stored."""


class TortoiseMessageStore:
    @unavailable_on_db_error
    async def accept_inbound(
        self, message: InboundMessage, session_id: str, at: datetime
    ) -> AcceptResult:
        try:
            async with in_transaction() as conn:
                when = db_time(conn, at)
                rows = await conn.execute_query_dict(
                    placeholders(conn, _UPSERT_LEAD),
                    [
                        message.agent_id,
                        message.platform,
                        message.contact,
                        message.sender_name,
                        when,
                        when,
                    ],
                )
                lead_id = rows[0]["id"]
                await conn.execute_query(
                    placeholders(conn, _INSERT_SESSION),
                    [session_id, message.agent_id, lead_id, message.channel, message.contact, when],
                )
                rows = await conn.execute_query_dict(
                    placeholders(conn, _INSERT_MESSAGE),
                    [session_id, message.body, True, message.external_id, when, when],
                )
                if not rows:
                    raise _Duplicate
                return AcceptResult(session_id, int(rows[0]["id"]), False, str(lead_id))
        except _Duplicate:
            existing = await Message.get(external_id=message.external_id)
            return AcceptResult(existing.session_id, existing.id, True, "")  # type: ignore[attr-defined]

    @unavailable_on_db_error
    async def next_pending(self, session_id: str) -> StoredMessage | None:
        row = (
            await Message.filter(session_id=session_id, pending=True)
            .order_by("id")
            .select_related("session")
            .first()
        )
        return None if row is None else to_message(row)

    @unavailable_on_db_error
    async def history(self, session_id: str, before_id: int, limit: int) -> list[HistoryEntry]:
        rows = (
            await Message.filter(session_id=session_id, id__lt=before_id)
            .order_by("-id")
            .limit(limit)
            .values_list("role", "content")
        )
        return [HistoryEntry(role, content) for role, content in reversed(rows)]

    @unavailable_on_db_error
    async def mark_processing(self, message_id: int, at: datetime) -> None:
        await Message.filter(id=message_id).update(status=PROCESSING, updated_at=at)

    @unavailable_on_db_error
    async def reply_of(self, user_message_id: int) -> StoredMessage | None:
        row = await Message.filter(reply_to_id=user_message_id).select_related("session").first()
        return None if row is None else to_message(row)

    @unavailable_on_db_error
    async def complete(
        self, user_message_id: int, user_status: str, reply: str, at: datetime
    ) -> StoredMessage:
        async with in_transaction():
            user = await Message.get(id=user_message_id).select_related("session")
            user.status, user.pending, user.updated_at = user_status, False, at
            await user.save(update_fields=["status", "pending", "updated_at"])
            row = await Message.create(
                session_id=user.session_id,  # type: ignore[attr-defined]
                role=ASSISTANT,
                content=reply,
                status=QUEUED,
                pending=True,
                reply_to_id=user.id,
                created_at=at,
                updated_at=at,
            )
            row.session = user.session
        return to_message(row)

    @unavailable_on_db_error
    async def mark_sending(self, message_id: int, at: datetime) -> None:
        # The first attempt's start is kept: a lookup after several crashes must reach back to it.
        async with in_transaction():
            await Message.filter(id=message_id, attempt_started_at__isnull=True).update(
                attempt_started_at=at
            )
            await Message.filter(id=message_id).update(status=SENDING, updated_at=at)

    @unavailable_on_db_error
    async def mark_sent(self, message_id: int, receipt: SendReceipt, at: datetime) -> None:
        async with in_transaction():
            row = await Message.get(id=message_id)
            status = row.status if _RANK.get(row.status, 0) > _RANK["sent"] else receipt.status
            row.status, row.pending, row.updated_at = status, False, at
            row.external_id = receipt.external_id
            await row.save(update_fields=["status", "pending", "updated_at", "external_id"])

    @unavailable_on_db_error
    async def mark_send_failed(
        self, message_id: int, status: str, error: str, at: datetime
    ) -> None:
        await Message.filter(id=message_id).update(
            status=status, pending=False, error=error[:500], updated_at=at
        )

    @unavailable_on_db_error
    async def record_delivery(
        self, agent_id: str, external_id: str, status: str, error: str | None, at: datetime
    ) -> bool:
        key = _uuid_or_none(agent_id)
        if key is None:
            return False
        mine = Message.filter(external_id=external_id, role=ASSISTANT, session__agent_id=key)
        if status not in ASSISTANT_STATUSES:
            return await mine.exists()
        async with in_transaction():
            row = await mine.first()
            if row is None:
                return False
            if _RANK.get(status, 0) > _RANK.get(row.status, 0):
                row.status, row.updated_at = status, at
                row.error = error or row.error
                await row.save(update_fields=["status", "updated_at", "error"])
            return True

    @unavailable_on_db_error
    async def sessions_with_pending_work(self, limit: int) -> list[str]:
        rows = (
            await Message.filter(pending=True)
            .annotate(first=Min("id"))
            .group_by("session_id")
            .order_by("first")
            .limit(limit)
            .values_list("session_id", flat=True)
        )
        return [str(r) for r in rows]

    @unavailable_on_db_error
    async def session_agent(self, session_id: str) -> str | None:
        agent_id = await Session.filter(id=session_id).first().values_list("agent_id", flat=True)
        return None if agent_id is None else str(agent_id)

    @unavailable_on_db_error
    async def session_messages(self, session_id: str) -> list[StoredMessage]:
        rows = await Message.filter(session_id=session_id).order_by("id").select_related("session")
        return [to_message(r) for r in rows]

    @unavailable_on_db_error
    async def pending_stats(self) -> tuple[int, datetime | None]:
        query = Message.filter(pending=True, role="user")
        count = await query.count()
        oldest = await query.order_by("id").first().values_list("created_at", flat=True)
        return count, oldest  # type: ignore[return-value]

    @unavailable_on_db_error
    async def lead_for_session(self, session_id: str) -> LeadRecord | None:
        session = await Session.filter(id=session_id).first()
        if session is None:
            return None
        lead = await Lead.get(id=session.lead_id)  # type: ignore[attr-defined]
        return to_lead(lead)
