"""The `stores` fixture: one set of contract tests run against every persistence backend.

Tortoise caches each model's SQL per dialect, so SQLite and PostgreSQL cannot share a pytest
process: the default run is `pytest -m "not postgres"`, PostgreSQL runs in `pytest -m postgres`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from adapters.persistence.memory.lead_webhooks import MemoryLeadWebhookStore
from adapters.persistence.memory.stores import (
    MemoryAgentStore,
    MemoryDatabase,
    MemoryLeadStore,
    MemoryMessageStore,
    MemoryWorkspaceStore,
)
from ports.driven import AgentStore, LeadStore, LeadWebhookStore, MessageStore, WorkspaceStore

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Stores:
    messages: MessageStore
    leads: LeadStore
    agents: AgentStore
    workspaces: WorkspaceStore
    lead_webhooks: LeadWebhookStore


def _memory() -> Stores:
    db = MemoryDatabase()
    return Stores(
        MemoryMessageStore(db),
        MemoryLeadStore(db),
        MemoryAgentStore(db),
        MemoryWorkspaceStore(db),
        MemoryLeadWebhookStore(db),
    )


def _tortoise() -> Stores:
    from adapters.persistence.tortoise.directory import (
        TortoiseAgentStore,
        TortoiseLeadStore,
        TortoiseWorkspaceStore,
    )
    from adapters.persistence.tortoise.lead_webhooks import TortoiseLeadWebhookStore
    from adapters.persistence.tortoise.messages import TortoiseMessageStore

    return Stores(
        TortoiseMessageStore(),
        TortoiseLeadStore(),
        TortoiseAgentStore(),
        TortoiseWorkspaceStore(),
        TortoiseLeadWebhookStore(),
    )


@asynccontextmanager
async def _tortoise_on(url: str) -> AsyncIterator[Stores]:
    from adapters.persistence.tortoise.database import (
        apply_migrations,
        close_database,
        open_database,
    )

    await apply_migrations(url)
    await open_database(url)
    try:
        yield _tortoise()
    finally:
        await close_database()


@asynccontextmanager
async def _postgres() -> AsyncIterator[Stores]:
    import asyncpg

    server = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        admin = await asyncpg.connect(server, timeout=5)
    except (OSError, asyncpg.PostgresError) as e:
        reason = f"PostgreSQL is not reachable at {server} ({type(e).__name__}: {e})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(f"{reason}; set TEST_POSTGRES_URL or start PostgreSQL")
    name = f"gwtest_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        async with _tortoise_on(url) as stores:
            yield stores
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield _memory()
    elif request.param == "sqlite":
        async with _tortoise_on(f"sqlite://{tmp_path / 'gateway.sqlite3'}") as s:
            yield s
    else:
        async with _postgres() as s:
            yield s
