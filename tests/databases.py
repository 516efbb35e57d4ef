"""`database_env`: the settings that put a test's gateway on SQLite and (marked `postgres`) on
a fresh PostgreSQL database. Import it into a test module to run its tests on both.

Tortoise keeps per-dialect SQL on its model classes, so one pytest process runs one of them:
the default run is `pytest -m "not postgres"`, PostgreSQL runs in `pytest -m postgres`.
PostgreSQL comes from TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
without it the PostgreSQL variants skip, except with CI=true where that is a failure."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_env(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """{} for SQLite (the default file in DATA_DIR), else {"DATABASE_URL": a fresh database}."""
    if request.param == "sqlite":
        yield {}
        return
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
        yield {"DATABASE_URL": urlunsplit(urlsplit(server)._replace(path=f"/{name}"))}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
