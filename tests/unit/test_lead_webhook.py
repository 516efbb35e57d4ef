"""The new-lead webhook's use cases on memory stores: configure, deliver, retry, resume."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from adapters.persistence.memory.lead_webhooks import MemoryLeadWebhookStore
from adapters.persistence.memory.stores import (
    MemoryAgentStore,
    MemoryDatabase,
    MemoryWorkspaceStore,
)
from adapters.vault.aesgcm import AesGcmVault, KeyRing
from core.errors import NotFoundError, ValidationFailed
from core.lead_events import DELIVERED, FAILED, PENDING, RetryPolicy
from core.lead_webhook import NO_WEBHOOK, LeadEventDelivery, LeadWebhooks
from ports.errors import VaultError
from ports.values import LeadDelivery, LeadRecord, WebhookOutcome

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
URL = "https://crm.example.com/hook"
SECRET = "a-long-crm-secret-0123456789"


class Clock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current


@dataclass
class Poster:
    """Answers with the scripted outcomes in turn and records every post."""

    outcomes: list[WebhookOutcome] = field(default_factory=list)
    posts: list[tuple[str, str, str, bytes]] = field(default_factory=list)

    def url_problem(self, url: str) -> str | None:
        return None if url.startswith("https://") else "must be an https URL here"

    async def post(self, url: str, secret: str, delivery_id: str, body: bytes) -> WebhookOutcome:
        self.posts.append((url, secret, delivery_id, body))
        return self.outcomes.pop(0)


@dataclass
class Scheduler:
    deferred: list[tuple[str, float]] = field(default_factory=list)

    async def defer(self, delivery_id: str, delay_s: float) -> None:
        self.deferred.append((delivery_id, delay_s))


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    db: MemoryDatabase = field(default_factory=MemoryDatabase)
    store: MemoryLeadWebhookStore = field(default_factory=MemoryLeadWebhookStore)
    poster: Poster = field(default_factory=Poster)
    scheduler: Scheduler = field(default_factory=Scheduler)
    vault: AesGcmVault = field(default_factory=lambda: AesGcmVault(KeyRing.generate("k1")))
    serialized: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.agents = MemoryAgentStore(self.db)
        self.hooks = LeadWebhooks(self.store, self.agents, self.poster, self.vault, self.clock)
        self.delivery = LeadEventDelivery(
            self.store,
            self.poster,
            self.vault,
            self.clock,
            self.scheduler,
            self.serialize,
            RetryPolicy(base_delay_s=10, max_delay_s=60, max_attempts=4),
        )

    def serialize(self, lead: LeadRecord) -> dict[str, object]:
        self.serialized.append(lead.id)
        return {"id": lead.id, "contact": lead.contact, "message_count": lead.message_count}

    async def agent(self) -> tuple[str, str]:
        workspace = await MemoryWorkspaceStore(self.db).ensure_workspace("w", T0)
        agent = await self.agents.create_agent(workspace, "A", {"kind": "demo"}, T0)
        return workspace, agent.id

    def new_lead(self, agent_id: str, delivery_id: str = "d-1") -> None:
        lead = LeadRecord("7", agent_id, "whatsapp", "+14155550100", "Ada", T0, T0, 1)
        self.store.add_delivery(LeadDelivery(delivery_id, agent_id, lead, PENDING, 0, T0))

    def later(self, seconds: float) -> None:
        self.clock.current += timedelta(seconds=seconds)


@pytest.fixture
async def world() -> World:
    return World()


async def configured(world: World) -> tuple[str, str]:
    workspace, agent_id = await world.agent()
    await world.hooks.configure(workspace, agent_id, URL, SECRET)
    return workspace, agent_id


async def test_the_secret_is_sealed_bound_to_the_agent_and_never_shown(world: World) -> None:
    workspace, agent_id = await world.agent()
    shown = await world.hooks.configure(workspace, agent_id, URL, SECRET)
    stored = world.store.webhooks[agent_id]
    assert SECRET not in stored.secret
    assert world.vault.decrypt(stored.secret, f"agent:{agent_id}:lead-webhook:secret") == SECRET
    with pytest.raises(VaultError):
        world.vault.decrypt(stored.secret, "agent:other:lead-webhook:secret")
    got = await world.hooks.get(workspace, agent_id)
    assert (shown.secret_set, got.url, got.secret_set) == (True, URL, True)
    assert SECRET not in repr(got) and SECRET not in repr(shown)


async def test_bad_input_names_its_fields(world: World) -> None:
    workspace, agent_id = await world.agent()
    with pytest.raises(ValidationFailed) as e:
        await world.hooks.configure(workspace, agent_id, "http://x", "short")
    assert set(e.value.fields) == {"url", "secret"}
    with pytest.raises(ValidationFailed) as e:
        await world.hooks.configure(workspace, agent_id, None, None)
    assert set(e.value.fields) == {"url", "secret"}
    assert agent_id not in world.store.webhooks


async def test_another_workspace_cannot_see_or_change_it(world: World) -> None:
    _, agent_id = await configured(world)
    other = await MemoryWorkspaceStore(world.db).ensure_workspace("other", T0)
    with pytest.raises(NotFoundError):
        await world.hooks.get(other, agent_id)
    with pytest.raises(NotFoundError):
        await world.hooks.configure(other, agent_id, URL, SECRET)
    with pytest.raises(NotFoundError):
        await world.hooks.delete(other, agent_id)
    assert agent_id in world.store.webhooks


async def test_delete_removes_it(world: World) -> None:
    workspace, agent_id = await configured(world)
    await world.hooks.delete(workspace, agent_id)
    with pytest.raises(NotFoundError):
        await world.hooks.get(workspace, agent_id)
    with pytest.raises(NotFoundError):
        await world.hooks.delete(workspace, agent_id)


async def test_a_5xx_is_retried_after_the_backoff_with_the_same_id_and_body(
    world: World,
) -> None:
    _, agent_id = await configured(world)
    world.new_lead(agent_id)
    world.poster.outcomes = [WebhookOutcome(503), WebhookOutcome(None, "timed out")]
    world.poster.outcomes.append(WebhookOutcome(200))
    assert await world.delivery.deliver("d-1") == PENDING
    assert world.scheduler.deferred == [("d-1", 10)]
    assert await world.delivery.deliver("d-1") is None  # not due yet: nothing posted
    world.later(10)
    assert await world.delivery.deliver("d-1") == PENDING
    assert world.scheduler.deferred[-1] == ("d-1", 20)
    world.later(20)
    assert await world.delivery.deliver("d-1") == DELIVERED
    assert len(world.poster.posts) == 3
    assert {p[2] for p in world.poster.posts} == {"d-1"}
    assert len({p[3] for p in world.poster.posts}) == 1  # the same signed bytes each time
    assert {(p[0], p[1]) for p in world.poster.posts} == {(URL, SECRET)}
    assert json.loads(world.poster.posts[0][3])["event"] == "lead.created"
    assert world.serialized == ["7"]  # the body is built once, then kept
    row = world.store.deliveries["d-1"]
    assert (row.status, row.attempts, row.last_status_code) == (DELIVERED, 3, 200)
    assert await world.delivery.deliver("d-1") is None  # delivered: never again


async def test_a_4xx_fails_at_once(world: World) -> None:
    _, agent_id = await configured(world)
    world.new_lead(agent_id)
    world.poster.outcomes = [WebhookOutcome(410)]
    assert await world.delivery.deliver("d-1") == FAILED
    assert world.scheduler.deferred == []
    row = world.store.deliveries["d-1"]
    assert (row.attempts, row.last_status_code, row.last_error) == (1, 410, "HTTP 410")


async def test_it_fails_after_the_last_attempt(world: World) -> None:
    _, agent_id = await configured(world)
    world.new_lead(agent_id)
    world.poster.outcomes = [WebhookOutcome(429)] * 4
    statuses = []
    for _ in range(4):
        statuses.append(await world.delivery.deliver("d-1"))
        world.later(3600)
    assert statuses == [PENDING, PENDING, PENDING, FAILED]
    assert [d for _, d in world.scheduler.deferred] == [10, 20, 40]
    assert world.store.deliveries["d-1"].last_error == "HTTP 429"


async def test_a_claimed_delivery_is_not_posted_twice_at_once(world: World) -> None:
    _, agent_id = await configured(world)
    world.new_lead(agent_id)
    lease = world.clock.now() + timedelta(seconds=60)
    assert await world.store.claim_delivery("d-1", world.clock.now(), lease) is not None
    assert await world.delivery.deliver("d-1") is None  # another attempt holds it
    assert world.poster.posts == []


async def test_an_event_whose_webhook_was_removed_fails_visibly(world: World) -> None:
    workspace, agent_id = await configured(world)
    world.new_lead(agent_id)
    await world.hooks.delete(workspace, agent_id)
    assert await world.delivery.deliver("d-1") == FAILED
    assert world.store.deliveries["d-1"].last_error == NO_WEBHOOK
    assert world.poster.posts == []


async def test_resume_defers_pending_deliveries_at_their_time(world: World) -> None:
    _, agent_id = await configured(world)
    world.new_lead(agent_id, "d-1")
    world.new_lead(agent_id, "d-2")
    world.poster.outcomes = [WebhookOutcome(500), WebhookOutcome(204)]
    await world.delivery.deliver("d-1")  # retry planned in 10 s
    await world.delivery.deliver("d-2")  # delivered
    world.scheduler.deferred.clear()
    world.later(4)
    assert await world.delivery.resume_pending() == 1
    assert world.scheduler.deferred == [("d-1", 6)]


async def test_the_log_shows_the_newest_first(world: World) -> None:
    workspace, agent_id = await configured(world)
    world.new_lead(agent_id, "d-1")
    world.new_lead(agent_id, "d-2")
    world.poster.outcomes = [WebhookOutcome(500)]
    await world.delivery.deliver("d-1")
    shown = await world.hooks.get(workspace, agent_id)
    assert [d.delivery_id for d in shown.deliveries] == ["d-2", "d-1"]
    assert shown.deliveries[1].last_status_code == 500


async def test_rotation_reseals_with_the_newest_key(world: World) -> None:
    _, agent_id = await configured(world)
    old = world.store.webhooks[agent_id].secret
    new_ring = world.vault.keyring.with_new_key("k2")
    vault = AesGcmVault(new_ring)
    hooks = LeadWebhooks(world.store, world.agents, world.poster, vault, world.clock)
    assert await hooks.rotate_secrets() == 1
    assert await hooks.rotate_secrets() == 0
    fresh = world.store.webhooks[agent_id].secret
    assert fresh != old and vault.is_current(fresh)
    newest_only = AesGcmVault(KeyRing.parse(new_ring.serialize().split(",")[-1]))
    assert newest_only.decrypt(fresh, f"agent:{agent_id}:lead-webhook:secret") == SECRET


async def test_resume_with_a_horizon_leaves_later_deliveries_to_a_later_sweep(
    world: World,
) -> None:
    _, agent_id = await configured(world)
    world.new_lead(agent_id, "d-1")
    world.new_lead(agent_id, "d-2")
    world.poster.outcomes = [WebhookOutcome(500)]
    await world.delivery.deliver("d-1")  # retry planned in 10 s; d-2 is due now
    world.scheduler.deferred.clear()
    assert await world.delivery.resume_pending(horizon_s=5) == 1
    assert world.scheduler.deferred == [("d-2", 0)]
    world.later(6)
    assert await world.delivery.resume_pending(horizon_s=5) == 2
    assert world.scheduler.deferred[-1] == ("d-1", 4)
