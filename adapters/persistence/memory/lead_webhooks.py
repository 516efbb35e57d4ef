"""LeadWebhookStore kept in process memory (the unit tests' store): webhooks, the delivery
outbox and its log, with the same claim rules as a database store would keep."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ports.errors import Conflict
from ports.values import LeadDelivery, LeadWebhook

if TYPE_CHECKING:
    from adapters.persistence.memory.stores import MemoryDatabase

PENDING = "pending"


class MemoryLeadWebhookStore:
    """Alone (unit tests) or on a MemoryDatabase shared with the MemoryMessageStore, whose
    accept_inbound then writes the outbox row of a new lead (and whose agent deletion removes
    an agent's webhook and deliveries)."""

    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self.db = db
        self.webhooks: dict[str, LeadWebhook] = {} if db is None else db.lead_webhooks
        # Insertion order = creation order.
        self.deliveries: dict[str, LeadDelivery] = {} if db is None else db.lead_deliveries
        self.claims: dict[str, datetime] = {} if db is None else db.lead_claims

    def add_delivery(self, delivery: LeadDelivery) -> None:
        """The outbox write (what accept_inbound does in the lead's transaction)."""
        self.deliveries[delivery.delivery_id] = delivery

    async def get_webhook(self, agent_id: str) -> LeadWebhook | None:
        return self.webhooks.get(agent_id)

    async def save_webhook(self, webhook: LeadWebhook) -> None:
        if self.db is not None and webhook.agent_id not in self.db.agents:
            raise Conflict("conflicting write: unknown agent")
        self.webhooks[webhook.agent_id] = webhook

    async def delete_webhook(self, agent_id: str) -> bool:
        return self.webhooks.pop(agent_id, None) is not None

    async def all_webhooks(self) -> list[LeadWebhook]:
        return list(self.webhooks.values())

    async def claim_delivery(
        self, delivery_id: str, at: datetime, lease_until: datetime
    ) -> LeadDelivery | None:
        row = self.deliveries.get(delivery_id)
        if row is None or row.status != PENDING:
            return None
        if row.next_attempt_at is not None and row.next_attempt_at > at:
            return None
        claim = self.claims.get(delivery_id)
        if claim is not None and claim > at:
            return None
        self.claims[delivery_id] = lease_until
        if self.db is not None and (lead := self.db.leads.get(int(row.lead.id))) is not None:
            row = replace(row, lead=lead)  # as a database store joins it: the lead as it is now
        return row

    async def keep_body(self, delivery_id: str, body: bytes) -> bytes:
        row = self.deliveries[delivery_id]
        if row.body is None:
            row = replace(row, body=body)
            self.deliveries[delivery_id] = row
        assert row.body is not None
        return row.body

    async def record_attempt(
        self,
        delivery_id: str,
        status: str,
        at: datetime,
        status_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        row = self.deliveries.get(delivery_id)
        if row is None:
            return
        self.claims.pop(delivery_id, None)
        self.deliveries[delivery_id] = replace(
            row,
            status=status,
            attempts=row.attempts + 1,
            last_attempt_at=at,
            last_status_code=status_code,
            last_error=error,
            next_attempt_at=next_attempt_at,
        )

    def _planned(self, row: LeadDelivery) -> datetime:
        planned = row.next_attempt_at or row.created_at
        lease = self.claims.get(row.delivery_id)
        return planned if lease is None or lease <= planned else lease

    async def due_deliveries(self, limit: int) -> list[tuple[str, datetime]]:
        rows = [(self._planned(d), n, d) for n, d in enumerate(self.deliveries.values())]
        rows = [r for r in rows if r[2].status == PENDING]
        rows.sort(key=lambda r: (r[0], r[1]))
        return [(d.delivery_id, at) for at, _, d in rows[: max(limit, 0)]]

    async def is_unattempted(self, delivery_id: str) -> bool:
        row = self.deliveries.get(delivery_id)
        return row is not None and row.status == PENDING and row.attempts == 0

    async def recent_deliveries(self, agent_id: str, limit: int) -> list[LeadDelivery]:
        mine = [d for d in self.deliveries.values() if d.agent_id == agent_id]
        return list(reversed(mine))[:limit]
