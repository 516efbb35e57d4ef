"""Fixtures for the multi-process PostgreSQL tests: a fresh database per test, a Twilio double
subprocess, and a `gateway` that starts `python -m app serve` processes against them.

PostgreSQL comes from TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
the tests skip when it is unreachable, except with CI=true where that is a failure.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from adapters.queue.procrastinate_queue import psycopg_conninfo
from adapters.vault.aesgcm import KeyRing

from .harness import Child, Children, Gateway, start_twilio_double

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _connect(url: str, timeout: float) -> psycopg.Connection:
    return psycopg.connect(psycopg_conninfo(url), autocommit=True, connect_timeout=int(timeout))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url = server_url()
    try:
        _connect(url, 5).close()
    except psycopg.Error as e:
        reason = f"PostgreSQL is not reachable at {url} ({type(e).__name__}: {e})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(f"{reason}; set TEST_POSTGRES_URL or start PostgreSQL")
    return url


@pytest.fixture
def database_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards (forcibly)."""
    name = f"gwtest_{secrets.token_hex(6)}"
    with _connect(postgres_server, 5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(postgres_server)._replace(path=f"/{name}"))
    finally:
        # A test may have restarted PostgreSQL: give it a moment to accept connections.
        deadline = time.monotonic() + 30
        while True:
            try:
                with _connect(postgres_server, 5) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


@pytest.fixture
def children(tmp_path: Path, database_url: str) -> Iterator[Children]:
    """Subprocesses of the test; all killed (by pid) at teardown, their log tails printed.

    Depends on `database_url` so that the children are gone before the database is dropped."""
    registry = Children(tmp_path / "logs")
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def twilio_double(children: Children) -> Child:
    return start_twilio_double(children)


@pytest.fixture(scope="session")
def vault_keys() -> str:
    """One keyring for every process on a database, so each can read the others' secrets."""
    return KeyRing.generate("k1").serialize()


@pytest.fixture
def gateway(
    database_url: str, children: Children, tmp_path: Path, twilio_double: Child, vault_keys: str
) -> Gateway:
    return Gateway(children, tmp_path / "data", database_url, twilio_double, vault_keys)
