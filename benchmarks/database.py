"""The run's database (a temporary SQLite file, or a fresh PostgreSQL database dropped after),
the direct insert that gives a session a long history in well under a second, and a sampler
of the service's PostgreSQL connections."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmarks.runner import cpu_seconds

_COLUMNS = (
    "session_id", "agent_id", "kind", "role", "content", "status", "pending", "external_id",
    "created_at", "updated_at",
)  # fmt: skip
_INSERT_SQLITE = f"INSERT INTO message ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * 10)})"  # noqa: S608 (fixed columns)
_SESSION = "SELECT agent_id, kind FROM session WHERE id = {}"


def is_postgres(url: str | None) -> bool:
    return bool(url) and urlsplit(url or "").scheme in ("postgres", "postgresql")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


@contextlib.asynccontextmanager
async def run_database(
    server_url: str | None, data_dir: Path, keep: bool = False
) -> AsyncIterator[str]:
    """The DATABASE_URL for this run: SQLite in `data_dir`, or on the PostgreSQL server of
    `server_url` a new database `bench_<hex>` that is dropped when the block ends (unless
    `keep`)."""
    if not is_postgres(server_url):
        yield f"sqlite://{data_dir / 'app.sqlite3'}"
        return
    import asyncpg

    assert server_url is not None
    name = "bench_" + secrets.token_hex(6)
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_url, name)
    finally:
        if not keep:
            await _drop(server_url, name)


async def _drop(server_url: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url)
    try:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except asyncpg.PostgresSyntaxError:  # before PostgreSQL 13
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()


def _history_rows(session_id: str, agent_id: Any, kind: str, count: int) -> list[tuple[Any, ...]]:
    """`count` answered turns, alternately the user's and the agent's, oldest first."""
    start = datetime.now(UTC) - timedelta(seconds=count + 60)
    rows = []
    for i in range(count):
        at = start + timedelta(seconds=i)
        if i % 2 == 0:
            row = ("user", f"earlier question {i // 2}", "answered")
        else:
            row = ("assistant", f"earlier answer {i // 2}", "delivered")
        sid = "SM" + secrets.token_hex(16)
        rows.append((session_id, agent_id, kind, *row, False, sid, at, at))
    return rows


async def seed_history(database_url: str, session_id: str, count: int) -> None:
    """Insert `count` already answered messages into an existing session, as the service
    would have stored them (not pending, so no worker picks them up)."""
    if count <= 0:
        return
    if not is_postgres(database_url):
        path = database_url.removeprefix("sqlite://")
        await asyncio.to_thread(_seed_sqlite, path, session_id, count)
        return
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        agent_id, kind = await conn.fetchrow(_SESSION.format("$1"), session_id)
        rows = _history_rows(session_id, agent_id, kind, count)
        await conn.copy_records_to_table("message", records=rows, columns=list(_COLUMNS))
    finally:
        await conn.close()


def _seed_sqlite(path: str, session_id: str, count: int) -> None:
    # Tortoise keeps SQLite datetimes as ISO text and booleans as 0/1.
    def text(row: tuple[Any, ...]) -> tuple[Any, ...]:
        *head, pending, ext, created, updated = row
        return (*head, int(pending), ext, created.isoformat(sep=" "), updated.isoformat(sep=" "))

    conn = sqlite3.connect(path, timeout=30)
    try:
        agent_id, kind = conn.execute(_SESSION.format("?"), (session_id,)).fetchone()
        rows = _history_rows(session_id, agent_id, kind, count)
        with conn:
            conn.executemany(_INSERT_SQLITE, [text(r) for r in rows])
    finally:
        conn.close()


_ACTIVITY = """
SELECT count(*) AS open,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS in_transaction,
       array_agg(pid) AS pids
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


@dataclass
class Activity:
    """The service's PostgreSQL connections, sampled every 50 ms while a phase runs."""

    samples: int = 0
    max_open: int = 0
    max_active: int = 0
    active_sum: int = 0
    max_in_transaction: int = 0
    # CPU seconds of the backends serving the run (when the server runs on this machine).
    cpu_s: float = 0.0
    _cpu_at_start: dict[int, float] = field(default_factory=dict)

    def see(self, pids: list[int]) -> None:
        for pid in pids:
            if pid not in self._cpu_at_start:
                self._cpu_at_start[pid] = cpu_seconds(pid) if self.samples == 0 else 0.0

    def finish(self) -> None:
        self.cpu_s = sum(cpu_seconds(pid) - at for pid, at in self._cpu_at_start.items())

    @property
    def mean_active(self) -> float:
        return self.active_sum / self.samples if self.samples else 0.0

    def describe(self) -> str:
        return (
            f"PostgreSQL connections of the run: at most {self.max_open} open, "
            f"{self.mean_active:.1f} busy on average (at most {self.max_active}), "
            f"at most {self.max_in_transaction} idle in a transaction ({self.samples} samples); "
            f"their backends used {self.cpu_s:.2f} s of CPU"
        )


@contextlib.asynccontextmanager
async def sampling_activity(database_url: str) -> AsyncIterator[Activity | None]:
    """On PostgreSQL, sample the run's connections (pg_stat_activity) during the block; on
    SQLite, nothing (None)."""
    if not is_postgres(database_url):
        yield None
        return
    import asyncpg

    activity = Activity()
    conn = await asyncpg.connect(database_url)
    stop = asyncio.Event()

    async def sample() -> None:
        # Never cancelled mid-query (that leaves the connection unusable): it stops between
        # two samples; a failing sample ends the sampling, never the run.
        with contextlib.suppress(Exception):
            while not stop.is_set():
                row = await conn.fetchrow(_ACTIVITY)
                activity.see(list(row["pids"] or []))
                activity.samples += 1
                activity.max_open = max(activity.max_open, row["open"])
                activity.max_active = max(activity.max_active, row["active"])
                activity.active_sum += row["active"]
                activity.max_in_transaction = max(
                    activity.max_in_transaction, row["in_transaction"]
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)

    task = asyncio.create_task(sample())
    try:
        yield activity
    finally:
        stop.set()
        await task
        activity.finish()
        await conn.close()
