"""`python -m app vault rotate` end to end on SQLite, with running gateways (processes) holding
k1 only, then k1 and k2, then k2 only: see `tests.postgres.harness.check_vault_rotation` (the
same scenario runs on PostgreSQL in tests/postgres/test_vault_rotate.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres.harness import Children, Gateway, check_vault_rotation, start_twilio_double

pytestmark = pytest.mark.slow


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    children = Children(tmp_path / "logs")
    try:
        double = start_twilio_double(children)
        database_url = f"sqlite://{tmp_path / 'db' / 'gateway.sqlite3'}"
        yield Gateway(children, tmp_path / "data", database_url, double, vault_keys="")
    finally:
        children.close()


async def test_vault_rotate_with_a_running_gateway_holding_two_keys(gateway: Gateway) -> None:
    await check_vault_rotation(gateway)
