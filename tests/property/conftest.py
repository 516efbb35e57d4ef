"""The running gateway the property tests share: one app per test, on SQLite and (marked
`postgres`) on PostgreSQL.

Tortoise caches each model's SQL per dialect, so one pytest process runs one of them: the
default run is `pytest -m "not postgres"`, PostgreSQL runs in `pytest -m postgres`. PostgreSQL
comes from TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres); without it
the PostgreSQL variants skip, except with CI=true where that is a failure."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.channels.telegram import TELEGRAM_BASE
from tests.e2e.conftest import Gateway, GatewayFactory, open_gateway, router

__all__ = ["database_env", "gw", "open_gateway", "router"]

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings that put the gateway on this database. SQLite: a new file per test (the
    default in the test's DATA_DIR). PostgreSQL: one database for the session, created empty
    and dropped at the end; every test makes its own agents and every example its own ids, so
    sharing it is as sound as sharing the app between examples, and saves a migration per test.
    """
    if request.param == "sqlite":
        yield {}
        return
    import psycopg

    from adapters.queue.procrastinate_queue import psycopg_conninfo

    server = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(psycopg_conninfo(server), autocommit=True, connect_timeout=5)

    try:
        connect().close()
    except psycopg.Error as e:
        reason = f"PostgreSQL is not reachable at {server} ({type(e).__name__}: {e})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(f"{reason}; set TEST_POSTGRES_URL or start PostgreSQL")
    name = f"gwprop_{secrets.token_hex(6)}"
    with connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DATABASE_URL": urlunsplit(urlsplit(server)._replace(path=f"/{name}"))}
    finally:
        with connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _ShortRepr(Gateway):
    """The gateway with a repr of one line (Hypothesis prints the fixtures of a failing example,
    and the plain repr holds every response body seen)."""

    def __repr__(self) -> str:
        return f"Gateway(database_url={self.settings.database_url!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis's pretty printer
        printer.text(repr(self))


@pytest.fixture
async def gw(open_gateway: GatewayFactory, database_env: dict[str, str]) -> AsyncIterator[Gateway]:
    """One started gateway for the whole test: every example of a property runs against it."""
    async with open_gateway(TELEGRAM_API_BASE_URL=TELEGRAM_BASE, **database_env) as gateway:
        yield _ShortRepr(**{f.name: getattr(gateway, f.name) for f in fields(gateway)})
