"""A new lead's webhook event from the intake: the outbox row is written with the lead (memory
stores), scheduled after the commit, and scheduling never fails or holds up the accept."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest

from adapters.persistence.memory.lead_webhooks import MemoryLeadWebhookStore
from core import lead_webhook
from core.conversation import Intake
from core.lead_events import DELIVERED
from core.lead_webhook import LeadEventDelivery, LeadWebhooks
from ports.values import LeadRecord, WebhookOutcome, lead_event_id
from tests.unit.fakes import PHONE, World

URL = "https://crm.example.com/hook"
SECRET = "a-long-crm-secret-0123456789"


@dataclass
class Poster:
    outcomes: list[WebhookOutcome] = field(default_factory=list)
    posts: list[tuple[str, bytes]] = field(default_factory=list)

    def url_problem(self, url: str) -> str | None:
        return None

    async def post(self, url: str, secret: str, delivery_id: str, body: bytes) -> WebhookOutcome:
        self.posts.append((delivery_id, body))
        return self.outcomes.pop(0) if self.outcomes else WebhookOutcome(200)


@dataclass
class Scheduler:
    deferred: list[tuple[str, float]] = field(default_factory=list)
    fail: Exception | None = None
    hang: bool = False

    async def defer(self, delivery_id: str, delay_s: float) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail is not None:
            raise self.fail
        self.deferred.append((delivery_id, delay_s))


class Hooked:
    def __init__(self) -> None:
        self.world = World()
        self.store = MemoryLeadWebhookStore(self.world.db)
        self.poster = Poster()
        self.scheduler = Scheduler()
        self.delivery = LeadEventDelivery(
            self.store,
            self.poster,
            self.world.vault,
            self.world.clock,
            self.scheduler,
            self.serialize,
        )
        w = self.world
        self.intake = Intake(w.messages, w.queue, w.clock, w.catalog, lead_events=self.delivery)
        self.hooks = LeadWebhooks(self.store, w.agents, self.poster, w.vault, w.clock)

    @staticmethod
    def serialize(lead: LeadRecord) -> dict[str, object]:
        return {"id": lead.id, "contact": lead.contact, "name": lead.name}

    async def agent(self) -> str:
        agent_id = await self.world.new_agent()
        workspace = self.world.db.agents[agent_id].workspace_id
        await self.hooks.configure(workspace, agent_id, URL, SECRET)
        return agent_id


@pytest.fixture
def hooked() -> Hooked:
    return Hooked()


async def test_a_new_lead_is_scheduled_once_and_delivered(hooked: Hooked) -> None:
    agent_id = await hooked.agent()
    await hooked.intake.accept(hooked.world.inbound(agent_id, "SM1"))
    await hooked.intake.accept(hooked.world.inbound(agent_id, "SM1"))  # a duplicate
    delivery_id = lead_event_id(agent_id, "whatsapp", PHONE)
    assert hooked.scheduler.deferred == [(delivery_id, 0.0)]
    assert await hooked.delivery.deliver(delivery_id) == DELIVERED
    await hooked.intake.accept(hooked.world.inbound(agent_id, "SM2"))  # not a new lead
    assert hooked.scheduler.deferred == [(delivery_id, 0.0)]
    [(posted_id, body)] = hooked.poster.posts
    assert posted_id == delivery_id
    assert json.loads(body) == {
        "event": "lead.created",
        "lead": {"id": "1", "contact": PHONE, "name": "Ana"},
    }


async def test_an_agent_without_a_webhook_gets_no_delivery(hooked: Hooked) -> None:
    agent_id = await hooked.world.new_agent()
    await hooked.intake.accept(hooked.world.inbound(agent_id, "SM1"))
    assert hooked.scheduler.deferred == []
    assert hooked.store.deliveries == {}


async def test_a_planned_retry_is_not_moved_by_the_leads_next_message(hooked: Hooked) -> None:
    agent_id = await hooked.agent()
    await hooked.intake.accept(hooked.world.inbound(agent_id, "SM1"))
    hooked.poster.outcomes = [WebhookOutcome(503)]
    delivery_id = lead_event_id(agent_id, "whatsapp", PHONE)
    await hooked.delivery.deliver(delivery_id)
    hooked.scheduler.deferred.clear()
    await hooked.intake.accept(hooked.world.inbound(agent_id, "SM2"))
    assert hooked.scheduler.deferred == []


async def test_a_failing_scheduler_never_fails_the_accept(hooked: Hooked) -> None:
    agent_id = await hooked.agent()
    hooked.scheduler.fail = ConnectionError("job queue down")
    result = await hooked.intake.accept(hooked.world.inbound(agent_id, "SM1"))
    assert not result.duplicate and hooked.world.queue.enqueued
    assert await hooked.store.due_deliveries(10)  # stored: the sweep schedules it
    hooked.scheduler.fail = None
    assert await hooked.delivery.resume_pending() == 1
    assert hooked.scheduler.deferred == [(lead_event_id(agent_id, "whatsapp", PHONE), 0.0)]


async def test_a_hanging_scheduler_holds_the_accept_at_most_briefly(
    hooked: Hooked, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lead_webhook, "ANNOUNCE_TIMEOUT_S", 0.05)
    agent_id = await hooked.agent()
    hooked.scheduler.hang = True
    result = await asyncio.wait_for(
        hooked.intake.accept(hooked.world.inbound(agent_id, "SM1")), timeout=2
    )
    assert not result.duplicate


async def test_deleting_the_agent_removes_its_webhook_and_deliveries(hooked: Hooked) -> None:
    agent_id = await hooked.agent()
    await hooked.intake.accept(hooked.world.inbound(agent_id, "SM1"))
    assert await hooked.world.agents.delete_agent(agent_id)
    assert hooked.store.webhooks == {} and hooked.store.deliveries == {}
