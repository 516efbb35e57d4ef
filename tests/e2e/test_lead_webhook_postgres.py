"""On PostgreSQL the lead events go through Procrastinate: each attempt is a
`deliver_lead_event(delivery_id)` job, a retry one scheduled at its backoff time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import psycopg
import pytest
import respx

from adapters.queue.procrastinate_queue import LEAD_QUEUE, LEAD_TASK, psycopg_conninfo
from tests.databases import database_env  # noqa: F401 (fixture)
from tests.e2e.conftest import GatewayFactory
from tests.e2e.test_lead_webhook import SECRET, hook, log_of, pass_loopback
from tests.lead_receiver import lead_receiver

pytestmark = pytest.mark.postgres


async def lead_jobs(url: str) -> list[tuple[str, dict[str, str], str, datetime]]:
    async with await psycopg.AsyncConnection.connect(psycopg_conninfo(url)) as conn:
        cursor = await conn.execute(
            "SELECT queue_name, args, status, scheduled_at FROM procrastinate_jobs "
            "WHERE task_name = %s ORDER BY id",
            [LEAD_TASK],
        )
        rows = await cursor.fetchall()
    return [(q, a if isinstance(a, dict) else json.loads(a), s, t) for q, a, s, t in rows]


@pytest.mark.parametrize("database_env", ["postgres"], indirect=True)
async def test_a_retry_is_a_procrastinate_job_at_its_time(
    open_gateway: GatewayFactory,
    router: respx.MockRouter,
    database_env: dict[str, str],  # noqa: F811
) -> None:
    url = database_env["DATABASE_URL"]
    pass_loopback(router)
    async with (
        lead_receiver() as receiver,
        open_gateway(
            LEAD_WEBHOOK_RETRY_BASE_S="30", RECOVERY_INTERVAL_S="0.2", **database_env
        ) as gw,
    ):
        receiver.statuses = [503]
        agent = await gw.whatsapp_agent()
        await hook(gw, agent, receiver.url, SECRET)
        before = datetime.now(UTC)
        await gw.webhook(agent)
        [first] = await receiver.wait(1)
        delivery_id = first.headers["X-Gateway-Delivery"]
        for _ in range(200):  # until the failed attempt is recorded
            [entry] = await log_of(gw, agent)
            if entry["attempts"] == 1:
                break
            await asyncio.sleep(0.05)
        for _ in range(100):  # the retry job is deferred right after the attempt is recorded
            jobs = [j for j in await lead_jobs(url) if j[2] == "todo"]
            if jobs:
                break
            await asyncio.sleep(0.05)
        [(queue, args, _, scheduled_at)] = jobs
        assert (queue, args) == (LEAD_QUEUE, {"delivery_id": delivery_id})
        assert 25 < (scheduled_at - before).total_seconds() < 40  # the 30 s backoff
        assert entry["attempts"] == 1 and entry["last_status_code"] == 503
        await asyncio.sleep(1.0)  # sweeps add no second waiting job (queueing lock)
        assert len([j for j in await lead_jobs(url) if j[2] == "todo"]) == 1
        assert len(receiver.received) == 1
