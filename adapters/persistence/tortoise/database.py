"""Opening, migrating and closing the database (SQLite by aiosqlite, PostgreSQL by asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aerich import Command
from tortoise import Tortoise, connections

MODELS = ["adapters.persistence.tortoise.models", "aerich.models"]
MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite's own companions of the database file; it creates them with the main file's mode.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
log = logging.getLogger(__name__)


def is_sqlite(database_url: str) -> bool:
    return database_url.startswith("sqlite://")


def sqlite_path(database_url: str) -> Path:
    return Path(database_url.removeprefix("sqlite://"))


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if absent; the directory made for it gets 0o700
    whatever the umask. An existing directory is left as it is (it may be shared, like ".")."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:  # created meanwhile by another process, which made it private
        return
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask


def _make_private(path: Path) -> None:
    try:
        os.chmod(path, PRIVATE_FILE)
    except FileNotFoundError:
        pass
    except PermissionError:  # another owner's file: say so rather than refuse to start
        log.warning("cannot make %s private (mode 0600): not its owner", path)


def prepare_sqlite(database_url: str) -> None:
    """The database holds lead data: its folder (0o700 when this creates it) and the file,
    created 0o600 before SQLite opens it, whatever the umask. SQLite gives the -wal and -shm
    files it creates the main file's mode; existing ones (older versions left them 0o644)
    are made 0o600 too."""
    path = sqlite_path(database_url)
    if str(path) in ("", ":memory:"):
        return
    _make_private_dir(path.parent)
    # Made here, never wider than 0o600, then exactly 0o600 (whatever the umask) together
    # with any companion file already there.
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, PRIVATE_FILE))
    for name in ("", *SQLITE_SIDE_FILES):
        _make_private(path.with_name(path.name + name))


async def keep_session(connection: Any) -> None:
    """asyncpg's pool `reset`: nothing more than asyncpg's own clean-up on release (an open
    transaction rolled back, listeners dropped).

    Its default runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` each time a
    connection goes back to the pool, and Tortoise takes one from the pool per statement: a
    second round trip for every statement of the hot path. Nothing on these pools leaves
    session state behind (no SET, LISTEN, cursors or session advisory locks: the migration
    lock has a connection of its own), so there is nothing to reset. Whoever adds session
    state to these pools must use `SET LOCAL` / transaction-scoped locks instead."""


def tortoise_config(database_url: str, pool_size: int = 10) -> dict[str, Any]:
    """Tortoise's config for a `sqlite://path` or `postgres://user:pass@host:port/db` URL."""
    if is_sqlite(database_url):
        path = sqlite_path(database_url)
        connection: dict[str, Any] = {
            "engine": "tortoise.backends.sqlite",
            "credentials": {
                "file_path": str(path),
                # WAL + synchronous=NORMAL survives a process crash (the contract's "durable");
                # busy_timeout makes a second process wait for the write lock instead of failing.
                "journal_mode": "WAL",
                "synchronous": "NORMAL",
                "busy_timeout": 10000,
                "foreign_keys": "ON",
            },
        }
    else:
        parts = urlsplit(database_url)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError("DATABASE_URL must start with sqlite:// or postgres://")
        connection = {
            "engine": "tortoise.backends.asyncpg",
            "credentials": {
                "host": parts.hostname or "127.0.0.1",
                "port": parts.port or 5432,
                "user": parts.username or "postgres",
                "password": parts.password or "",
                "database": parts.path.lstrip("/") or "postgres",
                "minsize": 1,
                "maxsize": pool_size,
                "reset": keep_session,  # passed on to asyncpg.create_pool
            },
        }
    return {
        # Same database twice: "worker" keeps the worker's statements off the webhooks' queue.
        "connections": {"default": connection, "worker": dict(connection)},
        "apps": {"models": {"models": MODELS, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_database(database_url: str) -> None:
    if is_sqlite(database_url):
        prepare_sqlite(database_url)
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    if is_sqlite(database_url):
        # Both connections opened now, under Tortoise's lock, rather than by the first
        # statement to need each (under group commit, a batch). Opened that way, in about one
        # run in four of tests/e2e/test_agents.py's sealing test, the stopped service still
        # held the file open and SQLite neither merged nor removed the WAL, with the sealed
        # secret's old value in it; opened here, 0 runs in 24. Every aiosqlite connection was
        # closed in both cases: why the file stayed open is not established.
        for client in connections.all():
            async with client.acquire_connection():
                pass


async def close_database() -> None:
    await Tortoise.close_connections()


async def ping() -> bool:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # any failure means "not reachable"
        return False
    return True


@contextlib.asynccontextmanager
async def migration_lock(database_url: str) -> AsyncIterator[None]:
    """Only one process migrates at a time, so several instances may start together."""
    if is_sqlite(database_url):
        lock_path = sqlite_path(database_url).with_suffix(".migrate.lock")
        _make_private_dir(lock_path.parent)
        flags = os.O_RDWR | os.O_CREAT
        with os.fdopen(os.open(lock_path, flags, PRIVATE_FILE), "w") as handle:
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    import asyncpg  # only needed on PostgreSQL

    key = int.from_bytes(hashlib.sha256(b"gateway-migrations").digest()[:8], "big", signed=True)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", key)
        yield
    finally:
        with contextlib.suppress(Exception):
            await conn.execute("SELECT pg_advisory_unlock($1)", key)
        await conn.close()


async def apply_migrations(
    database_url: str, then: Callable[[], Awaitable[object]] | None = None
) -> list[str]:
    """Apply pending Aerich migrations (then `then()`) under the migration lock; returns the
    migrations applied.

    Runs in a fresh context so Aerich's Tortoise set-up never mixes with the service's own."""
    loop = asyncio.get_running_loop()
    task = _apply_migrations(database_url, then)
    return await loop.create_task(task, context=contextvars.Context())


async def _apply_migrations(
    database_url: str, then: Callable[[], Awaitable[object]] | None
) -> list[str]:
    if is_sqlite(database_url):
        prepare_sqlite(database_url)
    async with migration_lock(database_url):
        command = Command(
            tortoise_config=tortoise_config(database_url, pool_size=2),
            app="models",
            location=str(MIGRATIONS),
        )
        async with command:
            await command.init()
            applied = await command.upgrade(run_in_transaction=True)
        if then is not None:  # e.g. the job engine's schema, under the same lock
            await then()
    for name in applied:
        log.info("applied migration %s", name)
    return applied
