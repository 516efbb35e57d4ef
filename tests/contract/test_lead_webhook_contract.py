"""The lead webhook's store contract (LeadWebhookStore, and the outbox row accept_inbound
writes with a new lead), on memory, SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid

import pytest

from ports.errors import Conflict
from ports.values import LeadWebhook, lead_event_id
from tests.contract.conftest import Stores
from tests.contract.test_store_contract import PHONE, T0, accept, at, new_agent

URL = "https://crm.example.com/hook"
OTHER = "+14155550199"


async def hooked(stores: Stores, name: str = "bot") -> str:
    agent_id = await new_agent(stores, name=name)
    await stores.lead_webhooks.save_webhook(LeadWebhook(agent_id, URL, "sealed-1", T0))
    return agent_id


async def test_a_webhook_is_saved_replaced_listed_and_deleted(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    hooks = stores.lead_webhooks
    assert await hooks.get_webhook(agent_id) is None
    assert await hooks.get_webhook("not-a-uuid") is None
    await hooks.save_webhook(LeadWebhook(agent_id, URL, "sealed-1", T0))
    await hooks.save_webhook(LeadWebhook(agent_id, URL + "/2", "sealed-2", at(5)))
    assert await hooks.get_webhook(agent_id) == LeadWebhook(agent_id, URL + "/2", "sealed-2", at(5))
    assert await hooks.all_webhooks() == [LeadWebhook(agent_id, URL + "/2", "sealed-2", at(5))]
    assert await hooks.delete_webhook(agent_id) is True
    assert await hooks.delete_webhook(agent_id) is False
    assert await hooks.delete_webhook("not-a-uuid") is False
    assert await hooks.get_webhook(agent_id) is None


async def test_a_webhook_needs_an_existing_agent(stores: Stores) -> None:
    with pytest.raises(Conflict):
        await stores.lead_webhooks.save_webhook(LeadWebhook(str(uuid.uuid4()), URL, "s", T0))


async def test_a_new_lead_of_a_hooked_agent_gets_one_pending_delivery(stores: Stores) -> None:
    agent_id = await hooked(stores)
    plain = await new_agent(stores, name="no-hook")
    first = await accept(stores, agent_id, "SM1", 0, name="Ada")
    duplicate = await accept(stores, agent_id, "SM1", 1)  # a duplicate: nothing more
    again = await accept(stores, agent_id, "SM2", 2)  # the same lead again: not new
    unhooked = await accept(stores, plain, "SM3", 3)  # no webhook: no delivery
    assert (first.lead_event, duplicate.lead_event, again.lead_event) == (True, False, False)
    assert unhooked.new_lead and not unhooked.lead_event  # nothing to schedule, nothing read
    delivery_id = lead_event_id(agent_id, "whatsapp", PHONE)
    assert await stores.lead_webhooks.is_unattempted(delivery_id)
    assert not await stores.lead_webhooks.is_unattempted(lead_event_id(plain, "whatsapp", PHONE))
    assert await stores.lead_webhooks.due_deliveries(10) == [(delivery_id, at(0))]
    [row] = await stores.lead_webhooks.recent_deliveries(agent_id, 10)
    assert (row.delivery_id, row.agent_id, row.status, row.attempts) == (
        delivery_id, agent_id, "pending", 0,
    )  # fmt: skip
    assert (row.created_at, row.body, row.last_status_code) == (at(0), None, None)
    assert (row.lead.contact, row.lead.name, row.lead.platform) == (PHONE, "Ada", "whatsapp")
    assert await stores.lead_webhooks.recent_deliveries(plain, 10) == []


async def test_a_lead_created_before_the_webhook_gets_none(stores: Stores) -> None:
    agent_id = await new_agent(stores)
    await accept(stores, agent_id, "SM1", 0)
    await stores.lead_webhooks.save_webhook(LeadWebhook(agent_id, URL, "sealed-1", T0))
    await accept(stores, agent_id, "SM2", 1)
    assert await stores.lead_webhooks.due_deliveries(10) == []


async def test_claim_keep_body_and_record_an_attempt(stores: Stores) -> None:
    agent_id = await hooked(stores)
    await accept(stores, agent_id, "SM1", 0, name="Ada")
    await accept(stores, agent_id, "SM2", 1)
    hooks = stores.lead_webhooks
    delivery_id = lead_event_id(agent_id, "whatsapp", PHONE)
    claimed = await hooks.claim_delivery(delivery_id, at(2), at(62))
    assert claimed is not None and claimed.delivery_id == delivery_id
    assert claimed.lead.message_count == 2  # the lead as it is now
    assert await hooks.claim_delivery(delivery_id, at(3), at(63)) is None  # held
    assert await hooks.claim_delivery("no-such-id", at(3), at(63)) is None
    assert await hooks.due_deliveries(10) == [(delivery_id, at(62))]  # after the lease
    assert await hooks.keep_body(delivery_id, b'{"a":1}') == b'{"a":1}'
    assert await hooks.keep_body(delivery_id, b'{"b":2}') == b'{"a":1}'  # the first one stays
    await hooks.record_attempt(delivery_id, "pending", at(4), 503, "HTTP 503", at(14))
    assert not await hooks.is_unattempted(delivery_id)  # pending, but a retry is planned
    assert await hooks.due_deliveries(10) == [(delivery_id, at(14))]
    assert await hooks.claim_delivery(delivery_id, at(13), at(73)) is None  # not due yet
    again = await hooks.claim_delivery(delivery_id, at(14), at(74))
    assert again is not None and again.attempts == 1 and again.body == b'{"a":1}'
    assert (again.last_status_code, again.last_error) == (503, "HTTP 503")
    assert (again.last_attempt_at, again.next_attempt_at) == (at(4), at(14))
    await hooks.record_attempt(delivery_id, "delivered", at(15), 200, None, None)
    [row] = await hooks.recent_deliveries(agent_id, 10)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        "delivered", 2, 200, None,
    )  # fmt: skip
    assert await hooks.claim_delivery(delivery_id, at(99), at(159)) is None  # done
    assert await hooks.due_deliveries(10) == []
    assert not await hooks.is_unattempted(delivery_id)


async def test_an_expired_claim_can_be_taken_again(stores: Stores) -> None:
    agent_id = await hooked(stores)
    await accept(stores, agent_id, "SM1", 0)
    delivery_id = lead_event_id(agent_id, "whatsapp", PHONE)
    assert await stores.lead_webhooks.claim_delivery(delivery_id, at(1), at(61)) is not None
    assert await stores.lead_webhooks.claim_delivery(delivery_id, at(61), at(121)) is not None


async def test_the_log_is_newest_first_and_per_agent(stores: Stores) -> None:
    agent_id = await hooked(stores)
    other = await hooked(stores, name="other")
    await accept(stores, agent_id, "SM1", 0)
    await accept(stores, agent_id, "SM2", 1, contact=OTHER)
    await accept(stores, other, "SM3", 2)
    first = lead_event_id(agent_id, "whatsapp", PHONE)
    second = lead_event_id(agent_id, "whatsapp", OTHER)
    recent = await stores.lead_webhooks.recent_deliveries(agent_id, 10)
    assert [d.delivery_id for d in recent] == [second, first]
    assert [d.delivery_id for d in await stores.lead_webhooks.recent_deliveries(agent_id, 1)] == [
        second
    ]
    due = await stores.lead_webhooks.due_deliveries(2)
    assert [d for d, _ in due] == [first, second]


async def test_deleting_the_agent_removes_its_webhook_and_deliveries(stores: Stores) -> None:
    agent_id = await hooked(stores)
    await accept(stores, agent_id, "SM1", 0)
    assert await stores.agents.delete_agent(agent_id)
    assert await stores.lead_webhooks.get_webhook(agent_id) is None
    assert await stores.lead_webhooks.due_deliveries(10) == []
    assert await stores.lead_webhooks.recent_deliveries(agent_id, 10) == []


async def test_deleting_the_webhook_keeps_the_log(stores: Stores) -> None:
    agent_id = await hooked(stores)
    await accept(stores, agent_id, "SM1", 0)
    assert await stores.lead_webhooks.delete_webhook(agent_id)
    assert len(await stores.lead_webhooks.recent_deliveries(agent_id, 10)) == 1
