"""Two `python -m app serve` processes on one PostgreSQL database: an agent edited or deleted
through one is seen as such by the other within seconds (each process caches agents for a
couple of seconds: adapters/persistence/tortoise/directory.py AgentCache)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from .harness import (
    Agent,
    Child,
    Gateway,
    post_webhook,
    sent_messages,
    start_agent_server,
    wait_for,
    wait_http,
    webhook_params,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CACHE_TTL_S = 2.0
SLACK_S = 2.0  # process scheduling, polling interval


@pytest.fixture
def pair(gateway: Gateway) -> tuple[Child, Child]:
    a, b = gateway.spawn("A"), gateway.spawn("B")
    for child in (a, b):
        wait_http(child, "/readyz")
    return a, b


def executor_for(server: Child) -> dict[str, object]:
    return {"kind": "http", "url": f"{server.url}/reply", "headers": {"X-Version": "secret"}}


async def seconds_until(check: object, timeout: float) -> float:
    started = time.monotonic()
    await wait_for(check, timeout, "the other process to see the change", interval=0.1)  # type: ignore[arg-type]
    return time.monotonic() - started


async def test_a_patch_on_one_process_is_seen_by_the_other_within_seconds(
    gateway: Gateway, pair: tuple[Child, Child]
) -> None:
    a, b = pair
    v1 = start_agent_server(gateway.children, 0.0, "v1: {message}")
    v2 = start_agent_server(gateway.children, 0.0, "v2: {message}")
    agent: Agent = gateway.create_agent(a, executor_for(v1))

    async with httpx.AsyncClient(timeout=20) as client:
        # B answers with v1 and has the agent cached.
        response = await post_webhook(
            client, b, agent, webhook_params(agent, "+14155550600", "one")
        )
        assert response.status_code == 200
        await wait_for(lambda: len(sent_messages(gateway.double)) == 1, 20, "the first reply")
        assert sent_messages(gateway.double)[0]["body"] == "v1: one"
        with gateway.admin(b) as api_b:
            assert api_b.get(f"/api/agents/{agent.id}").json()["name"] == "pg agent"

        with gateway.admin(a) as api_a:
            shown = api_a.get(f"/api/agents/{agent.id}").json()["executor"]
            assert shown["headers"] == {"X-Version": "***"}
            moved = {**shown, "url": f"{v2.url}/reply"}
            refused = api_a.patch(f"/api/agents/{agent.id}", json={"executor": moved})
            assert refused.status_code == 422, refused.text
            # Another server: the header's value is typed again (a kept one would be refused).
            patched = api_a.patch(
                f"/api/agents/{agent.id}",
                json={"name": "pg agent v2", "executor": executor_for(v2)},
            )
            assert patched.status_code == 200, patched.text
        with gateway.admin(b) as api_b:

            def b_sees_it() -> bool:
                return bool(api_b.get(f"/api/agents/{agent.id}").json()["name"] == "pg agent v2")

            took = await seconds_until(b_sees_it, CACHE_TTL_S + SLACK_S)
        assert took <= CACHE_TTL_S + SLACK_S

        # From now on every reply, whichever process's worker answers, is the new executor's.
        phones = [f"+1415555{i:04d}" for i in range(610, 620)]
        for i, phone in enumerate(phones):
            server = (a, b)[i % 2]
            params = webhook_params(agent, phone, f"m{i}")
            assert (await post_webhook(client, server, agent, params)).status_code == 200
        await wait_for(lambda: len(sent_messages(gateway.double)) == 11, 30, "11 replies")
        bodies = [m["body"] for m in sent_messages(gateway.double)[1:]]
        assert sorted(bodies) == sorted(f"v2: m{i}" for i in range(10))


async def test_a_delete_on_one_process_turns_the_others_webhook_away(
    gateway: Gateway, pair: tuple[Child, Child]
) -> None:
    a, b = pair
    agent: Agent = gateway.create_agent(a)
    async with httpx.AsyncClient(timeout=20) as client:
        first = await post_webhook(client, b, agent, webhook_params(agent, "+14155550700", "hi"))
        assert first.status_code == 200  # B has the agent cached now
        await wait_for(lambda: len(sent_messages(gateway.double)) == 1, 20, "the reply")

        with gateway.admin(a) as api_a:
            assert api_a.delete(f"/api/agents/{agent.id}").status_code == 204
        deleted_at = time.monotonic()

        statuses: list[int] = []

        async def b_refuses() -> bool:
            params = webhook_params(agent, "+14155550700", "still there?")
            statuses.append((await post_webhook(client, b, agent, params)).status_code)
            return statuses[-1] == 404

        await wait_for(b_refuses, CACHE_TTL_S + SLACK_S, "B's webhook to answer 404", 0.1)
        assert time.monotonic() - deleted_at <= CACHE_TTL_S + SLACK_S
        # A message B took in the last moments before it knew is never answered: its rows are
        # gone with the agent. Nothing else was sent.
        await asyncio.sleep(1.0)
        assert len(sent_messages(gateway.double)) == 1
        with gateway.admin(b) as api_b:
            assert api_b.get(f"/api/agents/{agent.id}").status_code == 404
