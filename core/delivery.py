"""Delivery reports: a provider's status for an outbound message only ever moves it forward.

Written once, here: the stores only read, compare-and-set and park."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from core import operations
from ports.driven import MessageStore
from ports.values import (
    ASSISTANT_STATUSES,
    DELIVERED,
    FAILED,
    QUEUED,
    READ,
    SENDING,
    SENT,
    UNDELIVERED,
    UNKNOWN,
)

# Reports arrive out of order: a status only replaces one of lower rank (never `read` back
# to `delivered`; a late `sent` never hides `undelivered`).
RANK = {QUEUED: 0, SENDING: 1, UNKNOWN: 2, SENT: 3, UNDELIVERED: 4, FAILED: 4, DELIVERED: 5}
RANK[READ] = 6


def advances(current: str, reported: str) -> bool:
    return RANK.get(reported, 0) > RANK.get(current, 0)


@dataclass
class DeliveryReports:
    """Applies delivery reports; one that arrives before its message's provider id is stored
    is parked and applied when the id lands (`apply_parked`)."""

    store: MessageStore

    async def record(
        self,
        agent_id: str,
        kind: str,
        external_id: str,
        status: str,
        error: str | None,
        at: datetime,
    ) -> bool:
        """True when the report reached its message now; False when there is none yet (the
        report is then parked, and applied when its provider id is stored)."""
        if status not in ASSISTANT_STATUSES:  # accepted, scheduled, canceled: nothing to show
            return await self.store.delivery_target(agent_id, kind, external_id) is not None
        if await self._apply(agent_id, kind, external_id, status, error, at):
            return True
        await self.store.park_delivery(agent_id, kind, external_id, status, error, at)
        # The id may have landed between the look-up and the parking: look once more.
        if await self.store.delivery_target(agent_id, kind, external_id) is None:
            return False
        await self.apply_parked(agent_id, kind, external_id, at)
        return True

    async def apply_parked(self, agent_id: str, kind: str, external_id: str, at: datetime) -> None:
        taken = await self.store.take_parked(agent_id, kind, external_id)
        await self.apply_taken(agent_id, kind, external_id, taken, at)

    async def apply_taken(
        self,
        agent_id: str,
        kind: str,
        external_id: str,
        reports: Iterable[tuple[str, str | None]],
        at: datetime,
    ) -> None:
        """Apply reports already taken from the parked ones (`MessageStore.mark_sent` takes
        them in its own step), in the order they came."""
        for status, error in reports:
            await self._apply(agent_id, kind, external_id, status, error, at)

    async def _apply(
        self,
        agent_id: str,
        kind: str,
        external_id: str,
        status: str,
        error: str | None,
        at: datetime,
    ) -> bool:
        """False when there is no such message (yet)."""
        for _ in range(5):  # compare and set: another report may win the race
            target = await self.store.delivery_target(agent_id, kind, external_id)
            if target is None:
                return False
            message_id, current = target
            if not advances(current, status):
                return True
            attention = operations.on_reply_status(status)
            if await self.store.set_delivery(message_id, current, status, error, at, attention):
                return True
        return True
