"""Migration 1 (identity per agent and kind) keeps the data a database of the first version
holds, on SQLite and on PostgreSQL; and the same external id at two agents is two messages."""

from __future__ import annotations

import importlib.util
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from adapters.persistence.tortoise.database import MIGRATIONS
from core.delivery import DeliveryReports
from ports.values import InboundMessage, SendReceipt
from tests.contract.conftest import DEFAULT_POSTGRES_URL, Stores, _tortoise_on

T0 = datetime(2026, 11, 1, tzinfo=UTC)
WORKSPACE = "11111111-1111-4111-8111-111111111111"
AGENT_A = "22222222-2222-4222-8222-222222222222"

PHONE = "+14155550100"
OLD_SESSION = f"twilio_{AGENT_A}_{PHONE}"

# What version 1 stored: one agent, one WhatsApp lead, a session with channel `twilio`, a
# user message and its sent reply.
_ROWS = [
    "INSERT INTO workspace (id, name, created_at) VALUES ('{ws}', 'acme', '{t}')",
    "INSERT INTO agent (id, name, executor, created_at, workspace_id) "
    "VALUES ('{a}', 'bot', '{{\"kind\": \"demo\"}}', '{t}', '{ws}')",
    "INSERT INTO lead (id, platform, contact, name, first_seen_at, last_seen_at, "
    "message_count, agent_id) VALUES (1, 'whatsapp', '{p}', 'Ana', '{t}', '{t}', 1, '{a}')",
    "INSERT INTO session (id, channel, contact, created_at, agent_id, lead_id) "
    "VALUES ('{s}', 'twilio', '{p}', '{t}', '{a}', 1)",
    "INSERT INTO message (id, role, content, status, pending, external_id, created_at, "
    "updated_at, session_id) "
    "VALUES (1, 'user', 'hi', 'answered', {f}, 'SMin', '{t}', '{t}', '{s}')",
    "INSERT INTO message (id, role, content, status, pending, external_id, reply_to_id, "
    "created_at, updated_at, session_id) "
    "VALUES (2, 'assistant', 'hello', 'sent', {f}, 'SMout', 1, '{t}', '{t}', '{s}')",
]


def _init_sql(dialect: str) -> str:
    path = next(MIGRATIONS.glob("models/0_*.py"))
    spec = importlib.util.spec_from_file_location("init_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._POSTGRES if dialect == "postgres" else module._SQLITE)


def _rows(false: str) -> list[str]:
    values = {"ws": WORKSPACE, "a": AGENT_A, "p": PHONE, "s": OLD_SESSION, "t": T0, "f": false}
    return [row.format(**values) for row in _ROWS]


async def _old_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_init_sql("postgres"))
        for row in _rows("false"):
            await conn.execute(row)
        await conn.execute("SELECT setval('message_id_seq', 2); SELECT setval('lead_id_seq', 1)")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """A database laid out and filled by the first version, then migrated."""
    if request.param == "sqlite":
        path = tmp_path / "old.sqlite3"
        with sqlite3.connect(path) as db:
            db.executescript(_init_sql("sqlite"))
            for row in _rows("0"):
                db.execute(row)
        async with _tortoise_on(f"sqlite://{path}") as stores:
            yield stores
        return
    import asyncpg

    server = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    admin = await asyncpg.connect(server, timeout=5)
    name = f"gwmig_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        await _old_postgres(url)
        async with _tortoise_on(url) as stores:
            yield stores
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_existing_rows_survive_with_their_kind(migrated: Stores) -> None:
    messages = await migrated.messages.session_messages(OLD_SESSION)
    assert [(m.id, m.role, m.kind, m.agent_id, m.contact, m.external_id) for m in messages] == [
        (1, "user", "whatsapp", AGENT_A, PHONE, "SMin"),
        (2, "assistant", "whatsapp", AGENT_A, PHONE, "SMout"),
    ]
    lead = await migrated.messages.lead_for_session(OLD_SESSION)
    assert lead is not None and (lead.platform, lead.contact, lead.name) == (
        "whatsapp",
        PHONE,
        "Ana",
    )
    # Delivery reports still find the old reply, and a retry of the old message is a duplicate.
    reports = DeliveryReports(migrated.messages)
    assert await reports.record(AGENT_A, "whatsapp", "SMout", "read", None, T0)
    again = InboundMessage(AGENT_A, "whatsapp", PHONE, "SMin", "hi")
    result = await migrated.messages.accept_inbound(again, OLD_SESSION, T0)
    assert result.duplicate and result.message_id == 1


async def test_new_ids_continue_after_the_old_ones_and_are_unique_per_agent(
    migrated: Stores,
) -> None:
    await migrated.agents.create_agent(WORKSPACE, "other", {"kind": "demo"}, T0)
    (other,) = [a for a in await migrated.agents.list_agents(WORKSPACE) if a.name == "other"]
    same_id = InboundMessage(other.id, "whatsapp", PHONE, "SMin", "hi at the other agent")
    result = await migrated.messages.accept_inbound(same_id, f"twilio_{other.id}_{PHONE}", T0)
    assert not result.duplicate and result.message_id > 2
    reply = (await migrated.messages.complete(result.message_id, "answered", "ok", T0)).reply
    # The old reply's provider id is taken at agent A only.
    await migrated.messages.mark_sent(reply.id, SendReceipt("SMout"), T0)


async def test_the_same_external_id_at_two_agents_is_two_messages(stores: Stores) -> None:
    workspace = await stores.workspaces.ensure_workspace("acme", T0)
    a = await stores.agents.create_agent(workspace, "a", {"kind": "demo"}, T0)
    b = await stores.agents.create_agent(workspace, "b", {"kind": "demo"}, T0)
    results = []
    for agent in (a.id, b.id):
        message = InboundMessage(agent, "telegram", "42", "1001", "hello")
        results.append(await stores.messages.accept_inbound(message, f"telegram_{agent}_42", T0))
    assert [r.duplicate for r in results] == [False, False]
    assert results[0].session_id != results[1].session_id
    # ... while the same id on another kind of the same agent is another message too,
    other_kind = InboundMessage(a.id, "sms", PHONE, "1001", "hello")
    result = await stores.messages.accept_inbound(other_kind, f"sms_{a.id}_{PHONE}", T0)
    assert not result.duplicate
    # ... and a retry at the same agent and kind is a duplicate.
    retry = InboundMessage(a.id, "telegram", "42", "1001", "hello")
    assert (await stores.messages.accept_inbound(retry, f"telegram_{a.id}_42", T0)).duplicate
