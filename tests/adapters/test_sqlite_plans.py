"""Every hand-written statement of the SQLite store finds its rows through an index.

A statement that scans a table costs time in proportion to the rows stored: with 50,000
conversations, three statements on every message's path that referred to the written row
from a subquery of RETURNING took 3 - 6 ms each instead of 10 - 20 us (SQLite plans such a
subquery as a scan). This reads SQLite's own plan of each statement on the migrated schema.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from adapters.persistence.tortoise import directory, lead_webhooks, messages
from adapters.persistence.tortoise.database import apply_migrations

# Fragments completed by their callers, and reads of small or admin-only tables.
NOT_HOT = {
    "_MESSAGES",  # the column list: every user adds a WHERE
    "_SUMMARY_COLUMNS",  # the same for sessions
    "_SESSIONS",  # the inbox's base: its callers add filters and the cursor
    "_REPLY_OF",  # only the store's tests read it (no index on reply_to_id)
    "_WEBHOOK",  # lead_webhook: one row per agent that has one, read by key after it
    "_DELIVERIES",  # the delivery log's base: its callers add the agent and the cursor
}
# Names of derived tables in the statements (scanning those is reading their few rows).
DERIVED = {"past", "upserted"}


def statements() -> list[tuple[str, str]]:
    found = []
    for module in (messages, directory, lead_webhooks):
        for name, value in vars(module).items():
            texts = value.items() if isinstance(value, dict) else [(None, value)]
            for key, sql in texts:
                if not isinstance(sql, str) or name in NOT_HOT or "{" in sql:
                    continue  # a template: its formatted versions are checked
                if name.endswith("_PG") or key == "postgres" or "$1" in sql:
                    continue  # PostgreSQL's own
                if not re.match(r"\s*(WITH|SELECT|INSERT|UPDATE|DELETE)\b", sql, re.I):
                    continue
                found.append((f"{module.__name__}.{name}" + (f"[{key}]" if key else ""), sql))
    return found


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    import asyncio

    path = Path(tmp_path_factory.mktemp("plans")) / "gateway.sqlite3"
    asyncio.run(apply_migrations(f"sqlite://{path}"))
    return sqlite3.connect(path)


def test_the_statements_are_found() -> None:
    names = {name.rsplit(".", 1)[1] for name, _ in statements()}
    assert {"_INSERT_MESSAGE", "_INSERT_REPLY", "_MARK_SENDING", "_NEXT_PENDING"} <= names
    assert "_START_ANSWER_OF[sqlite]" in names


@pytest.mark.parametrize(("name", "sql"), statements(), ids=[n for n, _ in statements()])
def test_no_statement_scans_a_table(db: sqlite3.Connection, name: str, sql: str) -> None:
    plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?"))]
    scans = [
        step
        for step in plan
        if step.startswith("SCAN ") and step.split()[1] not in DERIVED | {"CONSTANT"}
    ]
    assert not scans, f"{name} scans: {scans} (plan: {plan})"
