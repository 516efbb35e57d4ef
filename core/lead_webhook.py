"""The new-lead webhook's use cases: configure it, deliver a lead event, resume after a crash.

A delivery is claimed (so two jobs for one id never post at once), posted with no database
transaction open, judged by `RetryPolicy`, recorded, and re-deferred when it is to be retried.
The secret is sealed in the vault, bound to `agent:<id>:lead-webhook:secret`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from core.errors import NotFoundError, ValidationFailed
from core.lead_events import FAILED, PENDING, RetryPolicy, event_body
from ports.driven import (
    AgentStore,
    Clock,
    DeliveryScheduler,
    LeadEventPoster,
    LeadWebhookStore,
    SecretVault,
)
from ports.errors import VaultError
from ports.values import (
    InboundMessage,
    LeadDelivery,
    LeadRecord,
    LeadWebhook,
    ShownWebhook,
    WebhookOutcome,
    lead_event_id,
)

log = logging.getLogger(__name__)

MAX_SECRET_CHARS = 500
ANNOUNCE_TIMEOUT_S = 2.0  # the webhook's answer never waits longer for the scheduling
LEASE = timedelta(seconds=60)  # longer than a POST may take (its timeout is 10 s)
NO_WEBHOOK = "no lead webhook is configured"
UNREADABLE = "the webhook secret cannot be opened"

LeadSerializer = Callable[[LeadRecord], Mapping[str, Any]]


__all__ = ["LeadEventDelivery", "LeadWebhooks", "ShownWebhook", "webhook_secret_context"]


def webhook_secret_context(agent_id: str) -> str:
    return f"agent:{agent_id}:lead-webhook:secret"


@dataclass
class LeadWebhooks:
    """Set, show, remove and rotate agents' new-lead webhooks."""

    store: LeadWebhookStore
    agents: AgentStore
    poster: LeadEventPoster
    vault: SecretVault
    clock: Clock

    async def _owned(self, workspace_id: str, agent_id: str) -> str:
        agent = await self.agents.get_agent(agent_id)
        if agent is None or agent.workspace_id != workspace_id:
            raise NotFoundError("agent not found")
        return agent.id

    async def configure(
        self, workspace_id: str, agent_id: str, url: object, secret: object
    ) -> ShownWebhook:
        agent = await self._owned(workspace_id, agent_id)
        errors: dict[str, str] = {}
        if not isinstance(url, str) or not url:
            errors["url"] = "required: the http(s) URL that receives lead events"
        elif (problem := self.poster.url_problem(url)) is not None:
            errors["url"] = problem
        if not isinstance(secret, str) or not 16 <= len(secret) <= MAX_SECRET_CHARS:
            errors["secret"] = f"required: 16 to {MAX_SECRET_CHARS} characters"
        elif not secret.isprintable():
            errors["secret"] = "must be printable text"  # noqa: S105 - a message, no secret
        if errors:
            raise ValidationFailed(errors)
        assert isinstance(url, str) and isinstance(secret, str)
        sealed = self.vault.encrypt(secret, webhook_secret_context(agent))
        await self.store.save_webhook(LeadWebhook(agent, url, sealed, self.clock.now()))
        return ShownWebhook(url, True)

    async def get(self, workspace_id: str, agent_id: str, log_size: int = 20) -> ShownWebhook:
        """The webhook with its newest deliveries; NotFound when none is configured."""
        agent = await self._owned(workspace_id, agent_id)
        webhook = await self.store.get_webhook(agent)
        if webhook is None:
            raise NotFoundError("no lead webhook is configured for this agent")
        recent = await self.store.recent_deliveries(agent, log_size)
        return ShownWebhook(webhook.url, True, tuple(recent))

    async def delete(self, workspace_id: str, agent_id: str) -> None:
        agent = await self._owned(workspace_id, agent_id)
        if not await self.store.delete_webhook(agent):
            raise NotFoundError("no lead webhook is configured for this agent")

    async def rotate_secrets(self) -> int:
        """Re-seal every webhook secret not sealed with the newest key; how many were."""
        changed = 0
        for webhook in await self.store.all_webhooks():
            if self.vault.is_current(webhook.secret):
                continue
            context = webhook_secret_context(webhook.agent_id)
            fresh = self.vault.encrypt(self.vault.decrypt(webhook.secret, context), context)
            await self.store.save_webhook(replace(webhook, secret=fresh))
            changed += 1
        return changed


@dataclass
class LeadEventDelivery:
    """Delivers lead events: one attempt per call, retries deferred to the scheduler."""

    store: LeadWebhookStore
    poster: LeadEventPoster
    vault: SecretVault
    clock: Clock
    scheduler: DeliveryScheduler
    serialize: LeadSerializer
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    async def announce(self, message: InboundMessage) -> None:
        """After an inbound message is stored: when it created a lead whose agent has a
        webhook (its pending delivery was written with the lead), schedule the first attempt.
        Never raises and never waits long: a failure is logged and the recovery sweep
        schedules the stored delivery."""
        delivery_id = lead_event_id(message.agent_id, message.kind, message.contact)
        try:
            async with asyncio.timeout(ANNOUNCE_TIMEOUT_S):
                if await self.store.is_unattempted(delivery_id):
                    await self.scheduler.defer(delivery_id, 0.0)
        except Exception as e:  # the row is stored: the sweep finds it
            log.warning("lead event %s not scheduled (%s)", delivery_id, type(e).__name__)

    async def deliver(self, delivery_id: str) -> str | None:
        """Attempt the delivery if it is due; returns its status afterwards, None when there
        was nothing to do (delivered, failed, not due yet, or claimed by another attempt)."""
        now = self.clock.now()
        claimed = await self.store.claim_delivery(delivery_id, now, now + LEASE)
        if claimed is None:
            return None
        attempt = claimed.attempts + 1
        webhook = await self.store.get_webhook(claimed.agent_id)
        if webhook is None:
            await self._record(claimed, FAILED, None, NO_WEBHOOK, None)
            return FAILED
        try:
            secret = self.vault.decrypt(webhook.secret, webhook_secret_context(webhook.agent_id))
        except VaultError:
            # Keys may be fixed (VAULT_KEYS restored): retried like an unreachable receiver.
            decision = self.policy.decide(attempt, WebhookOutcome(None, UNREADABLE))
            return await self._after(claimed, decision.status, decision.delay_s, None, UNREADABLE)
        body = claimed.body
        if body is None:
            body = await self.store.keep_body(delivery_id, event_body(self.serialize(claimed.lead)))
        outcome = await self.poster.post(webhook.url, secret, delivery_id, body)  # no transaction
        decision = self.policy.decide(attempt, outcome)
        log.info(
            "lead event %s attempt %d: %s", delivery_id, attempt, decision.error or "delivered"
        )
        return await self._after(
            claimed, decision.status, decision.delay_s, outcome.status_code, decision.error
        )

    async def _after(
        self,
        claimed: LeadDelivery,
        status: str,
        delay_s: float | None,
        code: int | None,
        error: str | None,
    ) -> str:
        await self._record(claimed, status, code, error, delay_s)
        if status == PENDING and delay_s is not None:
            await self.scheduler.defer(claimed.delivery_id, delay_s)
        return status

    async def _record(
        self,
        claimed: LeadDelivery,
        status: str,
        code: int | None,
        error: str | None,
        delay_s: float | None,
    ) -> None:
        now = self.clock.now()
        following = None if delay_s is None else now + timedelta(seconds=delay_s)
        await self.store.record_attempt(claimed.delivery_id, status, now, code, error, following)

    async def resume_pending(self, limit: int = 1000, horizon_s: float | None = None) -> int:
        """Defer pending deliveries again (at start and periodically): one still pending when
        the process died is delivered, at its planned time or now when that has passed. With
        `horizon_s`, only those planned within it (a later sweep takes the others in time), so
        a sweep never re-defers hours of backlog. Returns how many were deferred."""
        now = self.clock.now()
        count = 0
        for delivery_id, at in await self.store.due_deliveries(limit):
            wait = max(0.0, (at - now).total_seconds())
            if horizon_s is not None and wait > horizon_s:
                break  # soonest first: the rest are later still
            await self.scheduler.defer(delivery_id, wait)
            count += 1
        return count
