"""LeadWebhookStore kept in process memory (the unit tests' store): webhooks, the delivery
outbox and its log, with the same claim rules as a database store would keep."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ports.values import LeadDelivery, LeadWebhook

PENDING = "pending"


class MemoryLeadWebhookStore:
    def __init__(self) -> None:
        self.webhooks: dict[str, LeadWebhook] = {}
        self.deliveries: dict[str, LeadDelivery] = {}  # insertion order = creation order
        self.claims: dict[str, datetime] = {}

    def add_delivery(self, delivery: LeadDelivery) -> None:
        """The outbox write (what accept_inbound does in the lead's transaction)."""
        self.deliveries[delivery.delivery_id] = delivery

    async def get_webhook(self, agent_id: str) -> LeadWebhook | None:
        return self.webhooks.get(agent_id)

    async def save_webhook(self, webhook: LeadWebhook) -> None:
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

    async def due_deliveries(self, limit: int) -> list[tuple[str, datetime]]:
        rows = [d for d in self.deliveries.values() if d.status == PENDING]
        rows = [d for d in rows if d.delivery_id not in self.claims]
        rows.sort(key=lambda d: d.next_attempt_at or d.created_at)
        return [(d.delivery_id, d.next_attempt_at or d.created_at) for d in rows[:limit]]

    async def recent_deliveries(self, agent_id: str, limit: int) -> list[LeadDelivery]:
        mine = [d for d in self.deliveries.values() if d.agent_id == agent_id]
        return list(reversed(mine))[:limit]
