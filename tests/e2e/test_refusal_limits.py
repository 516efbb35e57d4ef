"""Refused credentials are limited per client address (quart-rate-limiter's 429 with
Retry-After): the admin API's 401s here, the UI's failed sign-ins in tests/ui/test_sign_out.py.
Webhooks are outside the limiter: a correctly signed one is never refused with 429."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Quart

from adapters.inbound.http.throttle import ClientAddress, ExpiringMemoryStore
from tests.e2e.conftest import Gateway, GatewayFactory


def peer(address: str) -> dict[str, Any]:
    """The ASGI scope of a request from `address` (the test client has no peer otherwise)."""
    return {"client": (address, 40000)}


async def bad_key(gw: Gateway, address: str, **headers: str) -> int:
    response = await gw.request(
        "GET",
        "/api/agents",
        headers={"Authorization": "Bearer gw_guessed", **headers},
        scope_base=peer(address),
    )
    return response.status_code


async def good_key(gw: Gateway, address: str, **headers: str) -> int:
    response = await gw.api("GET", "/api/agents", headers=headers, scope_base=peer(address))
    return response.status_code


async def test_a_401_flood_gets_429_with_retry_after_for_that_address_only(
    open_gateway: GatewayFactory,
) -> None:
    async with open_gateway(AUTH_FAILURE_LIMIT="3", AUTH_FAILURE_WINDOW_S="60") as gw:
        attacker, neighbour = "203.0.113.7", "198.51.100.20"
        assert [await bad_key(gw, attacker) for _ in range(3)] == [401, 401, 401]

        limited = await gw.request(
            "GET",
            "/api/leads",
            headers={"Authorization": "Bearer gw_guessed"},
            scope_base=peer(attacker),
        )
        assert limited.status_code == 429
        assert limited.content_type == "application/json"
        assert await limited.get_json() == {"error": "too many requests"}
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        # Over the limit, even the right key is refused: a 429 must not tell a guess apart.
        assert await good_key(gw, attacker) == 429
        # Another address is not touched, and has its own count.
        assert await good_key(gw, neighbour) == 200
        assert await bad_key(gw, neighbour) == 401


async def test_only_refusals_count_and_the_count_runs_down(open_gateway: GatewayFactory) -> None:
    # 2 refusals per second: a burst of 2, then one more every half second.
    async with open_gateway(AUTH_FAILURE_LIMIT="2", AUTH_FAILURE_WINDOW_S="1") as gw:
        client = "192.0.2.44"
        for _ in range(30):  # accepted requests never count
            assert await good_key(gw, client) == 200
        assert [await bad_key(gw, client) for _ in range(3)] == [401, 401, 429]
        await asyncio.sleep(0.6)
        assert await bad_key(gw, client) == 401
        assert await bad_key(gw, client) == 429
        await asyncio.sleep(1.1)
        assert await good_key(gw, client) == 200


async def test_a_signed_webhook_is_never_limited(open_gateway: GatewayFactory) -> None:
    async with open_gateway(AUTH_FAILURE_LIMIT="2", AUTH_FAILURE_WINDOW_S="60") as gw:
        agent = await gw.whatsapp_agent()
        twilio = "54.172.60.1"  # Twilio's webhooks come from a few shared addresses
        # Someone at the same address floods the API until it is limited...
        assert [await bad_key(gw, twilio) for _ in range(3)] == [401, 401, 429]
        # ...and badly signed webhooks are refused (403) but never counted nor limited.
        for _ in range(10):
            forged = await gw.webhook(agent, signature="forged", scope_base=peer(twilio))
            assert forged.status_code == 403
        for _ in range(20):
            signed = await gw.webhook(agent, gw.inbound(), scope_base=peer(twilio))
            assert signed.status_code == 200, await signed.get_data(as_text=True)
        # Webhook refusals from a fresh address do not lock its API out either.
        fresh = "54.172.60.2"
        for _ in range(10):
            forged = await gw.webhook(agent, signature="forged", scope_base=peer(fresh))
            assert forged.status_code == 403
        assert await good_key(gw, fresh) == 200


async def test_behind_a_trusted_proxy_the_forwarded_client_counts(
    open_gateway: GatewayFactory,
) -> None:
    env = {"AUTH_FAILURE_LIMIT": "2", "TRUSTED_PROXIES": "10.0.0.0/8"}
    async with open_gateway(**env) as gw:
        proxy = "10.0.0.5"
        first = {"X-Forwarded-For": "198.51.100.1, 10.0.0.9"}
        assert [await bad_key(gw, proxy, **first) for _ in range(3)] == [401, 401, 429]
        # Other clients behind the same proxy are not locked out with the first one.
        assert await good_key(gw, proxy, **{"X-Forwarded-For": "198.51.100.2"}) == 200
        assert await good_key(gw, proxy, **first) == 429
        # From an untrusted peer, X-Forwarded-For is ignored: rotating it does not help.
        stranger = "203.0.113.50"
        statuses = [
            await bad_key(gw, stranger, **{"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(3)
        ]
        assert statuses == [401, 401, 429]


async def test_the_limit_can_be_turned_off(open_gateway: GatewayFactory) -> None:
    async with open_gateway(AUTH_FAILURE_LIMIT="0") as gw:
        assert {await bad_key(gw, "203.0.113.8") for _ in range(30)} == {401}


async def client_of(remote: str, trusted: str = "", forwarded: str | None = None) -> str:
    app = Quart(__name__)
    networks = [ipaddress.ip_network(n) for n in trusted.split(",") if n]
    headers = {"Remote-Addr": remote}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    async with app.test_request_context("/api/agents", headers=headers):
        return ClientAddress(networks)()


async def test_client_addresses() -> None:
    assert await client_of("203.0.113.7") == "203.0.113.7"
    assert await client_of("203.0.113.7", forwarded="1.2.3.4") == "203.0.113.7"  # not trusted
    assert await client_of("10.0.0.1", "10.0.0.0/8", "1.2.3.4, 10.0.0.2") == "1.2.3.4"
    assert await client_of("10.0.0.1", "10.0.0.0/8", "5.6.7.8, 1.2.3.4") == "1.2.3.4"  # nearest
    assert await client_of("10.0.0.1", "10.0.0.0/8", "1.2.3.4, junk") == "10.0.0.1"  # stop at junk
    assert await client_of("10.0.0.1", "10.0.0.0/8", "10.0.0.3") == "10.0.0.3"  # all proxies
    # An IPv6 host usually holds a whole /64: it counts as one client.
    one = await client_of("2001:db8:1:2:aaaa::1")
    assert one == await client_of("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert await client_of("2001:db8:1:3::1") != one
    assert await client_of("<local>") == "<local>"


async def test_the_store_forgets_paid_debts() -> None:
    store = ExpiringMemoryStore(sweep_every_s=0)
    now = datetime.now(UTC)
    for n in range(1000):
        await store.set(f"old-{n}", now - timedelta(seconds=1))
    await store.set("current", now + timedelta(seconds=60))
    assert len(store) == 1
    assert await store.get("current", now) > now
    assert await store.get("old-1", now) == now
