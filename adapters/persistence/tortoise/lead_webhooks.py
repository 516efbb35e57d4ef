"""LeadWebhookStore on Tortoise: webhooks, the delivery outbox and its log, by hand-written
statements (see sql.fetch). The outbox row itself is written by TortoiseMessageStore's
accept_inbound (`lead_event_statement`), in the lead's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.persistence.tortoise.mappers import lead_from_row
from adapters.persistence.tortoise.sql import (
    DEFAULT,
    Statement,
    as_uuid,
    execute,
    fetch,
    now_param,
    to_time,
    unavailable_on_db_error,
)
from ports.values import PENDING_EVENT, InboundMessage, LeadDelivery, LeadWebhook, lead_event_id

# A new lead (its count is 1 right after the upsert that created it) of an agent with a
# webhook gets its pending delivery; a repeat changes nothing.
_OUTBOX = """
INSERT INTO lead_delivery (delivery_id, agent_id, lead_id, status, attempts, created_at)
SELECT ?, w.agent_id, l.id, ?, 0, ?
FROM lead_webhook w JOIN lead l ON l.agent_id = w.agent_id
WHERE w.agent_id = ? AND l.platform = ? AND l.contact = ? AND l.message_count = 1
ON CONFLICT (delivery_id) DO NOTHING
"""
_WEBHOOK = "SELECT agent_id, url, secret, updated_at FROM lead_webhook"
_SAVE = """
INSERT INTO lead_webhook (agent_id, url, secret, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (agent_id) DO UPDATE SET
  url = excluded.url, secret = excluded.secret, updated_at = excluded.updated_at
"""
_DELETE = "DELETE FROM lead_webhook WHERE agent_id = ?"
_CLAIM = """
UPDATE lead_delivery SET claimed_until = ?
WHERE delivery_id = ? AND status = ?
  AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
  AND (claimed_until IS NULL OR claimed_until <= ?)
RETURNING id
"""
_DELIVERIES = """
SELECT d.delivery_id, d.agent_id, d.status, d.attempts, d.created_at, d.next_attempt_at,
       d.last_attempt_at, d.last_status_code, d.last_error, d.body,
       l.id AS lead_id, l.platform, l.contact, l.name, l.first_seen_at, l.last_seen_at,
       l.message_count, l.opted_out
FROM lead_delivery d JOIN lead l ON l.id = d.lead_id
"""
_KEEP_BODY = """
UPDATE lead_delivery SET body = COALESCE(body, ?) WHERE delivery_id = ? RETURNING body
"""
_RECORD = """
UPDATE lead_delivery SET status = ?, attempts = attempts + 1, last_attempt_at = ?,
  last_status_code = ?, last_error = ?, next_attempt_at = ?, claimed_until = NULL
WHERE delivery_id = ?
"""
# When it is planned, and not before a claim's lease ends (an attempt may still be under way).
_DUE = """
SELECT delivery_id, CASE WHEN claimed_until IS NOT NULL
    AND claimed_until > COALESCE(next_attempt_at, created_at)
  THEN claimed_until ELSE COALESCE(next_attempt_at, created_at) END AS planned
FROM lead_delivery WHERE status = ? ORDER BY planned, id LIMIT ?
"""
_UNATTEMPTED = """
SELECT 1 AS found FROM lead_delivery WHERE delivery_id = ? AND status = ? AND attempts = 0
"""


def lead_event_statement(message: InboundMessage, when: Any) -> Statement:
    """The outbox write for accept_inbound's transaction: a pending delivery when the
    message's lead was created by it and its agent has a webhook, else nothing."""
    delivery_id = lead_event_id(message.agent_id, message.kind, message.contact)
    values = [delivery_id, PENDING_EVENT, when, message.agent_id, message.kind, message.contact]
    return (_OUTBOX, values)


def _webhook(r: dict[str, Any]) -> LeadWebhook:
    return LeadWebhook(str(r["agent_id"]), r["url"], r["secret"], to_time(r["updated_at"]))


def _time(value: Any) -> datetime | None:
    return None if value is None else to_time(value)


def _delivery(r: dict[str, Any]) -> LeadDelivery:
    lead = lead_from_row({**r, "id": r["lead_id"]})
    body = r["body"]
    return LeadDelivery(
        delivery_id=r["delivery_id"],
        agent_id=str(r["agent_id"]),
        lead=lead,
        status=r["status"],
        attempts=int(r["attempts"]),
        created_at=to_time(r["created_at"]),
        next_attempt_at=_time(r["next_attempt_at"]),
        last_attempt_at=_time(r["last_attempt_at"]),
        last_status_code=r["last_status_code"],
        last_error=r["last_error"],
        body=None if body is None else bytes(body),
    )


class TortoiseLeadWebhookStore:
    def __init__(self, connection: str = DEFAULT) -> None:
        self._c = connection

    def _t(self, value: datetime | None) -> Any:
        return None if value is None else now_param(value, self._c)

    @unavailable_on_db_error
    async def get_webhook(self, agent_id: str) -> LeadWebhook | None:
        key = as_uuid(agent_id)
        if key is None:
            return None
        rows = await fetch(_WEBHOOK + " WHERE agent_id = ?", [str(key)], self._c)
        return _webhook(rows[0]) if rows else None

    @unavailable_on_db_error
    async def save_webhook(self, webhook: LeadWebhook) -> None:
        values = [webhook.agent_id, webhook.url, webhook.secret, self._t(webhook.updated_at)]
        await execute(_SAVE, values, self._c)

    @unavailable_on_db_error
    async def delete_webhook(self, agent_id: str) -> bool:
        key = as_uuid(agent_id)
        return key is not None and await execute(_DELETE, [str(key)], self._c) > 0

    @unavailable_on_db_error
    async def all_webhooks(self) -> list[LeadWebhook]:
        return [_webhook(r) for r in await fetch(_WEBHOOK + " ORDER BY agent_id", [], self._c)]

    @unavailable_on_db_error
    async def claim_delivery(
        self, delivery_id: str, at: datetime, lease_until: datetime
    ) -> LeadDelivery | None:
        now = self._t(at)
        values = [self._t(lease_until), delivery_id, PENDING_EVENT, now, now]
        if not await fetch(_CLAIM, values, self._c):
            return None
        rows = await fetch(_DELIVERIES + "WHERE d.delivery_id = ?", [delivery_id], self._c)
        return _delivery(rows[0]) if rows else None

    @unavailable_on_db_error
    async def keep_body(self, delivery_id: str, body: bytes) -> bytes:
        rows = await fetch(_KEEP_BODY, [body, delivery_id], self._c)
        return bytes(rows[0]["body"]) if rows else body

    @unavailable_on_db_error
    async def record_attempt(
        self,
        delivery_id: str,
        status: str,
        at: datetime,
        status_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        values = [
            status, self._t(at), status_code, error, self._t(next_attempt_at), delivery_id
        ]  # fmt: skip
        await execute(_RECORD, values, self._c)

    @unavailable_on_db_error
    async def due_deliveries(self, limit: int) -> list[tuple[str, datetime]]:
        rows = await fetch(_DUE, [PENDING_EVENT, max(limit, 0)], self._c)
        return [(r["delivery_id"], to_time(r["planned"])) for r in rows]

    @unavailable_on_db_error
    async def is_unattempted(self, delivery_id: str) -> bool:
        return bool(await fetch(_UNATTEMPTED, [delivery_id, PENDING_EVENT], self._c))

    @unavailable_on_db_error
    async def recent_deliveries(self, agent_id: str, limit: int) -> list[LeadDelivery]:
        key = as_uuid(agent_id)
        if key is None:
            return []
        sql = _DELIVERIES + "WHERE d.agent_id = ? ORDER BY d.id DESC LIMIT ?"
        return [_delivery(r) for r in await fetch(sql, [str(key), max(limit, 0)], self._c)]
