"""Human takeover across two `python -m app serve` processes on one PostgreSQL database:
the paused flag lives in the database, so a pause made through one process holds the messages
the other one receives, and a human's reply from either goes out once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .harness import (
    Child,
    Gateway,
    post_webhook,
    sent_messages,
    wait_for,
    wait_http,
    webhook_params,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PHONE = "+14155550142"


@pytest.fixture
def pair(gateway: Gateway) -> tuple[Child, Child]:
    a = gateway.spawn("A")
    b = gateway.spawn("B")
    for child in (a, b):
        wait_http(child, "/readyz")
    return a, b


async def test_pause_on_one_process_holds_a_message_arriving_at_the_other(
    gateway: Gateway, pair: tuple[Child, Child]
) -> None:
    a, b = pair
    agent = gateway.create_agent(a)
    session = agent.session_id(PHONE)
    async with httpx.AsyncClient(timeout=20) as client:
        first = await post_webhook(client, b, agent, webhook_params(agent, PHONE, "hello"))
        assert first.status_code == 200
        await gateway.settled_session(a, agent, PHONE, 2)

        with gateway.admin(a) as api:
            paused = api.put(f"/api/sessions/{session}/agent", json={"paused": True})
            assert paused.status_code == 200 and paused.json() == {"paused": True}

        held = await post_webhook(client, b, agent, webhook_params(agent, PHONE, "a person?"))
        assert held.status_code == 200
        await wait_for(
            lambda: len(gateway.session(b, agent, PHONE)) == 3, 15, "the held message stored"
        )
        await asyncio.sleep(1.5)  # time either worker would need to answer it
        items = gateway.session(a, agent, PHONE)
        assert [(m["role"], m["status"]) for m in items][-1] == ("user", "held")
        assert len(items) == 3 and len(sent_messages(gateway.double)) == 1

        with gateway.admin(b) as api:
            reply = api.post(f"/api/sessions/{session}/messages", json={"content": "Human here"})
            assert reply.status_code == 202, reply.text
            inbox = api.get("/api/sessions", params={"status": "paused"}).json()["items"]
            assert [s["session_id"] for s in inbox] == [session]
        await gateway.settled_session(a, agent, PHONE, 4)
        await asyncio.sleep(1.0)
        bodies = [m["body"] for m in sent_messages(gateway.double)]
        assert bodies.count("Human here") == 1
