"""PostgreSQL: a webhook's answer job is written in the message's own transaction.

One commit stores the message and its Procrastinate job (`answer_job`), so a crash after the
commit can no longer leave a stored message without a job; a duplicate webhook defers nothing;
a job of the session already waiting is kept (the queueing lock), not an error; and the row is
the one Procrastinate's own defer writes: its worker runs it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from adapters.persistence.tortoise.database import apply_migrations, close_database, open_database
from adapters.persistence.tortoise.directory import TortoiseAgentStore, TortoiseWorkspaceStore
from adapters.persistence.tortoise.messages import TortoiseMessageStore
from adapters.queue.procrastinate_queue import QUEUE, TASK, ProcrastinateWorkQueue, answer_job
from ports.errors import Conflict
from ports.values import InboundMessage

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PHONE = "+15550001111"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclass
class World:
    url: str
    db: asyncpg.Connection  # a connection of its own: sees only what was committed
    store: TortoiseMessageStore
    agent_id: str

    def session(self, contact: str = PHONE) -> str:
        return f"twilio_{self.agent_id}_{contact}"

    async def accept(self, external_id: str, contact: str = PHONE) -> Any:
        message = InboundMessage(self.agent_id, "whatsapp", contact, external_id, "hi", "Ana")
        return await self.store.accept_inbound(message, self.session(contact), T0)

    async def jobs(self) -> list[asyncpg.Record]:
        return await self.db.fetch(  # type: ignore[no-any-return]
            "SELECT queue_name, task_name, lock, queueing_lock, args, status"
            " FROM procrastinate_jobs ORDER BY id"
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    server = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        admin = await asyncpg.connect(server, timeout=5)
    except (OSError, asyncpg.PostgresError) as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {server}: {e}")
        pytest.skip(f"PostgreSQL is not reachable at {server}: {e}")
    name = f"gwtest_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    try:
        await apply_migrations(url, ProcrastinateWorkQueue(url, run_worker=False).ensure_schema)
        await open_database(url)
        db = await asyncpg.connect(url)
        try:
            workspace = await TortoiseWorkspaceStore().ensure_workspace("acme", T0)
            agent = await TortoiseAgentStore().create_agent(workspace, "bot", {"kind": "demo"}, T0)
            yield World(url, db, TortoiseMessageStore(job=answer_job), agent.id)
        finally:
            await db.close()
            await close_database()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_job_is_committed_with_the_message(world: World) -> None:
    result = await world.accept("SM1")

    # Nothing was deferred after the commit, yet the job is there for any process to take.
    assert (result.duplicate, result.queued) == (False, True)
    jobs = await world.jobs()
    assert [(j["queue_name"], j["task_name"], j["lock"], j["queueing_lock"]) for j in jobs] == [
        (QUEUE, TASK, world.session(), world.session())
    ]
    assert jobs[0]["status"] == "todo"
    assert jobs[0]["args"] == f'{{"session_id": "{world.session()}"}}'
    stored = await world.db.fetchval("SELECT count(*) FROM message WHERE external_id = 'SM1'")
    assert stored == 1


async def test_a_duplicate_webhook_defers_nothing(world: World) -> None:
    first = await world.accept("SM1")
    await world.db.execute("DELETE FROM procrastinate_jobs")  # the first job already ran

    again = await world.accept("SM1")

    assert (again.duplicate, again.queued, again.message_id) == (True, False, first.message_id)
    assert await world.jobs() == []


async def test_a_waiting_job_of_the_session_is_kept_and_the_message_stored(world: World) -> None:
    await world.accept("SM1")

    second = await world.accept("SM2")  # the queueing lock's conflict is no error

    assert (second.duplicate, second.queued) == (False, True)
    assert len(await world.jobs()) == 1
    pending = await world.db.fetchval("SELECT count(*) FROM message WHERE pending")
    assert pending == 2


async def test_a_session_being_answered_gets_a_new_waiting_job(world: World) -> None:
    await world.accept("SM1")
    await world.db.execute("UPDATE procrastinate_jobs SET status = 'doing'")

    await world.accept("SM2")

    assert [j["status"] for j in await world.jobs()] == ["doing", "todo"]


async def test_other_sessions_get_their_own_jobs(world: World) -> None:
    await world.accept("SM1")
    await world.accept("SM2", contact="+15550002222")

    assert [j["lock"] for j in await world.jobs()] == [
        world.session(),
        world.session("+15550002222"),
    ]


async def test_a_refused_message_leaves_no_job(world: World) -> None:
    stranger = InboundMessage(
        "00000000-0000-4000-8000-000000000000", "whatsapp", PHONE, "SM9", "hi", "Ana"
    )
    with pytest.raises(Conflict):
        await world.store.accept_inbound(stranger, f"twilio_x_{PHONE}", T0)

    assert await world.jobs() == []


async def test_procrastinates_worker_runs_the_job_written_in_the_transaction(
    world: World,
) -> None:
    queue = ProcrastinateWorkQueue(world.url, concurrency=4)
    ran: asyncio.Queue[str] = asyncio.Queue()

    async def handler(session_id: str) -> None:
        await ran.put(session_id)

    await queue.start(handler)
    try:
        await world.accept("SM1")
        assert await asyncio.wait_for(ran.get(), timeout=30) == world.session()
    finally:
        await queue.stop(5)


async def test_the_pools_take_connections_back_without_a_reset_round_trip(world: World) -> None:
    from tortoise import connections

    from adapters.persistence.tortoise.database import keep_session

    for name in ("default", "worker"):
        client: Any = connections.get(name)
        await client.execute_query("SELECT 1")
        assert client._pool._reset is keep_session
