"""`python -m app vault rotate` end to end on PostgreSQL, with running gateways (processes) holding
k1 only, then k1 and k2, then k2 only: see `harness.check_vault_rotation`."""

from __future__ import annotations

import pytest

from .harness import Gateway, check_vault_rotation

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def test_vault_rotate_with_a_running_gateway_holding_two_keys(gateway: Gateway) -> None:
    await check_vault_rotation(gateway)
