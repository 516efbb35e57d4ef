"""The new-lead webhook end to end on the real app (SQLite, in-process timers): a CRM-like
receiver on loopback gets signed `lead.created` events that the docs' snippet verifies, retried
with the same delivery id, once per lead, never holding up Twilio's webhook; the secret is
never stored, logged or answered in the clear."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path

import pytest
import respx

from adapters.inbound.http import schemas
from tests.e2e.conftest import PHONE, Gateway, GatewayFactory
from tests.lead_receiver import Receiver, docs_verifier, lead_receiver

SECRET = "crm-secret-" + "7f3a9c1e5b2d4f60"
FAST = {"LEAD_WEBHOOK_RETRY_BASE_S": "0.2", "RECOVERY_INTERVAL_S": "0.5"}


def pass_loopback(router: respx.MockRouter) -> None:
    """The receiver is a real server on loopback: respx lets those requests through."""
    router.route(host="127.0.0.1").pass_through()


async def hook(gw: Gateway, agent_id: str, url: str, secret: str = SECRET) -> dict[str, object]:
    body = {"url": url, "secret": secret}
    shown = await gw.api_json("PUT", f"/api/agents/{agent_id}/lead-webhook", json=body)
    assert isinstance(shown, dict)
    return shown


async def log_of(gw: Gateway, agent_id: str) -> list[dict[str, object]]:
    body = await gw.api_json("GET", f"/api/agents/{agent_id}/lead-webhook")
    return list(body["deliveries"])


async def settled_log(gw: Gateway, agent_id: str, status: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 15
    while True:
        entries = await log_of(gw, agent_id)
        if entries and entries[0]["status"] == status:
            return entries
        assert time.monotonic() < deadline, entries
        await asyncio.sleep(0.05)


@pytest.fixture
async def receiver() -> Receiver:  # type: ignore[misc]
    async with lead_receiver() as r:
        yield r


async def test_a_new_lead_arrives_signed_as_the_docs_verify_it(
    open_gateway: GatewayFactory, router: respx.MockRouter, receiver: Receiver
) -> None:
    pass_loopback(router)
    async with open_gateway(**FAST) as gw:
        agent = await gw.whatsapp_agent()
        assert await hook(gw, agent, receiver.url) == {"url": receiver.url, "secret_set": True}
        response = await gw.webhook(agent, gw.inbound(body="Hi, I want a quote", name="Ada"))
        assert response.status_code == 200
        [event] = await receiver.wait(1)
        verify = docs_verifier()
        assert verify(SECRET, event.body, event.headers["X-Gateway-Signature"])
        assert not verify("another-secret-0123456789", event.body, event.headers[
            "X-Gateway-Signature"
        ])  # fmt: skip
        assert not verify(SECRET, event.body + b" ", event.headers["X-Gateway-Signature"])
        digest = hmac.new(SECRET.encode(), event.body, hashlib.sha256).hexdigest()
        assert event.headers["X-Gateway-Signature"] == f"sha256={digest}"
        assert event.headers["X-Gateway-Event"] == "lead.created"
        assert event.headers["Content-Type"] == "application/json"
        [lead] = await gw.leads()
        assert json.loads(event.body) == {"event": "lead.created", "lead": {**lead}}
        assert lead["phone"] == PHONE and lead["name"] == "Ada"
        [entry] = await settled_log(gw, agent, "delivered")
        shown = await gw.api_json("GET", f"/api/agents/{agent}/lead-webhook")
        schemas.LeadWebhook.model_validate(shown)  # as /openapi.json documents it
        assert set(shown) == set(schemas.LeadWebhook.model_fields)
        assert set(entry) == set(schemas.LeadDeliveryEntry.model_fields)
        assert entry["id"] == event.headers["X-Gateway-Delivery"]
        assert (entry["attempts"], entry["last_status_code"], entry["lead_id"]) == (
            1, 200, lead["id"],
        )  # fmt: skip


async def test_a_500_is_retried_with_the_same_delivery_id_and_body(
    open_gateway: GatewayFactory, router: respx.MockRouter, receiver: Receiver
) -> None:
    pass_loopback(router)
    receiver.statuses = [500, 503]
    async with open_gateway(**FAST) as gw:
        agent = await gw.whatsapp_agent()
        await hook(gw, agent, receiver.url)
        await gw.webhook(agent)
        events = await receiver.wait(3)
        assert len({e.headers["X-Gateway-Delivery"] for e in events}) == 1
        assert len({e.body for e in events}) == 1
        [entry] = await settled_log(gw, agent, "delivered")
        assert (entry["attempts"], entry["last_status_code"]) == (3, 200)
        await asyncio.sleep(0.6)  # a sweep later: nothing more is sent
        assert len(receiver.received) == 3


async def test_a_4xx_fails_at_once_and_the_log_says_why(
    open_gateway: GatewayFactory, router: respx.MockRouter, receiver: Receiver
) -> None:
    pass_loopback(router)
    receiver.statuses = [410]
    async with open_gateway(**FAST) as gw:
        agent = await gw.whatsapp_agent()
        await hook(gw, agent, receiver.url)
        await gw.webhook(agent)
        [entry] = await settled_log(gw, agent, "failed")
        assert (entry["attempts"], entry["last_status_code"]) == (1, 410)
        assert entry["last_error"] == "HTTP 410"
        await asyncio.sleep(0.6)
        assert len(receiver.received) == 1


async def test_one_event_per_lead_whatever_twilio_repeats(
    open_gateway: GatewayFactory, router: respx.MockRouter, receiver: Receiver
) -> None:
    pass_loopback(router)
    async with open_gateway(**FAST) as gw:
        agent = await gw.whatsapp_agent()
        await hook(gw, agent, receiver.url)
        form = gw.inbound(sid="SM" + "d1" * 16)
        for _ in range(3):  # Twilio retrying its webhook
            assert (await gw.webhook(agent, form)).status_code == 200
        await gw.webhook(agent, gw.inbound(body="second message of the same lead"))
        await receiver.wait(1)
        await gw.wait_answered(gw.session_of(agent), users=2)
        await asyncio.sleep(0.6)  # a sweep later
        assert len(receiver.received) == 1
        assert len(await log_of(gw, agent)) == 1
        await gw.webhook(agent, gw.inbound(phone="+14155550123"))  # another person: a lead
        await receiver.wait(2)


async def test_the_webhooks_answer_never_waits_for_the_receiver(
    open_gateway: GatewayFactory, router: respx.MockRouter, receiver: Receiver
) -> None:
    pass_loopback(router)
    receiver.hang = True
    async with open_gateway(**FAST) as gw:
        agent = await gw.whatsapp_agent()
        await hook(gw, agent, receiver.url)
        started = time.monotonic()
        response = await gw.webhook(agent)
        assert response.status_code == 200
        assert time.monotonic() - started < 2
        await asyncio.wait_for(receiver.arrived.wait(), 10)  # the receiver holds the POST
        answered = time.monotonic()
        second = await gw.webhook(agent, gw.inbound(phone="+14155550123"))
        assert second.status_code == 200 and time.monotonic() - answered < 2
        await gw.wait_answered(gw.session_of(agent))  # the agent answers meanwhile
        [entry, *_] = await log_of(gw, agent)
        assert entry["status"] == "pending"


async def test_the_api_is_workspace_scoped_and_checks_its_input(
    open_gateway: GatewayFactory, receiver: Receiver
) -> None:
    async with open_gateway() as gw:
        agent = await gw.whatsapp_agent()
        path = f"/api/agents/{agent}/lead-webhook"
        missing = await gw.api_json("GET", path, 404)
        assert "error" in missing
        await gw.api_json("DELETE", path, 404)
        bad = await gw.api_json("PUT", path, 422, json={"url": "ftp://x", "secret": "short"})
        assert set(bad["fields"]) == {"url", "secret"}
        none = await gw.api_json("PUT", path, 422, json={})
        assert set(none["fields"]) == {"url", "secret"}
        creds = {"url": "https://user:pw@crm.example.com/h", "secret": SECRET}
        assert "url" in (await gw.api_json("PUT", path, 422, json=creds))["fields"]
        malformed = await gw.api("PUT", path, data=b"{not json", headers={
            "Content-Type": "application/json"
        })  # fmt: skip
        assert malformed.status_code == 400
        await hook(gw, agent, receiver.url)

        other_key = await gw.container.admin().create_api_key("other")
        for method, body in (
            ("GET", None),
            ("DELETE", None),
            ("PUT", {"url": receiver.url, "secret": SECRET}),
        ):
            answer = await gw.api(method, path, key=other_key, json=body)
            assert answer.status_code == 404, method
        await gw.api_json("GET", "/api/agents/not-an-id/lead-webhook", 404)

        shown = await gw.api_json("GET", path)
        assert shown == {"url": receiver.url, "secret_set": True, "deliveries": []}
        assert (await gw.api("DELETE", path)).status_code == 204
        await gw.api_json("GET", path, 404)


async def test_the_secret_is_never_stored_logged_or_answered(
    open_gateway: GatewayFactory,
    router: respx.MockRouter,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    pass_loopback(router)
    receiver.statuses = [500]
    async with open_gateway(**FAST) as gw:
        data_dir = gw.settings.data_dir
        agent = await gw.whatsapp_agent()
        await hook(gw, agent, receiver.url)
        await hook(gw, agent, receiver.url, SECRET + "-2")  # replaced
        await hook(gw, agent, receiver.url)
        await gw.webhook(agent)
        await receiver.wait(2)
        await settled_log(gw, agent, "delivered")
        await gw.api("GET", f"/api/agents/{agent}/lead-webhook")
        await gw.api("GET", f"/api/agents/{agent}")
        bodies = list(gw.bodies)
    files = {str(p): p.read_bytes() for p in Path(data_dir).rglob("*") if p.is_file()}
    assert any(receiver.url.encode() in content for content in files.values())  # it can see
    out = capsys.readouterr()
    for secret in (SECRET, SECRET + "-2"):
        for name, content in files.items():
            assert secret.encode() not in content, name
        assert all(secret.encode() not in body for body in bodies)
        assert secret not in caplog.text
        assert secret not in out.out and secret not in out.err
