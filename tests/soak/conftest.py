"""The soak's fixtures come from the multi-process harness (tests/postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres.conftest import (  # noqa: F401 (fixtures)
    children,
    database_url,
    postgres_server,
    vault_keys,
)
from tests.postgres.harness import Children


@pytest.fixture
def local_children(tmp_path: Path) -> Iterator[Children]:
    """Subprocesses of a test that needs no PostgreSQL."""
    registry = Children(tmp_path / "logs")
    try:
        yield registry
    finally:
        registry.close()
