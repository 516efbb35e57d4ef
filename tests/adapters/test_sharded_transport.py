"""ShardedTransport: requests spread over several pools, each with its share of the limits,
all closed together; the executor client and the channels' client use it."""

from __future__ import annotations

import httpx
import pytest

from adapters.executors.egress import EgressPolicy, GuardedTransport, executor_client
from adapters.sharded_transport import ShardedTransport, shard_limits
from config.container import _http_client


class Recording(httpx.AsyncBaseTransport):
    def __init__(self, name: int, limits: httpx.Limits) -> None:
        self.name, self.limits = name, limits
        self.seen: list[str] = []
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(str(request.url))
        return httpx.Response(200, json={"shard": self.name})

    async def aclose(self) -> None:
        self.closed = True


def test_each_pool_gets_its_share_of_the_limits() -> None:
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=500)
    assert shard_limits(limits, 16).max_connections == 125
    assert shard_limits(limits, 16).max_keepalive_connections == 32
    assert shard_limits(httpx.Limits(max_connections=3), 16).max_connections == 1
    assert shard_limits(httpx.Limits(max_connections=None), 4).max_connections is None
    with pytest.raises(ValueError):
        ShardedTransport([])


async def test_requests_go_round_robin_and_all_pools_close() -> None:
    made: list[Recording] = []

    def make(each: httpx.Limits) -> Recording:
        made.append(Recording(len(made), each))
        return made[-1]

    transport = ShardedTransport.of(make, httpx.Limits(max_connections=40), shards=4)
    assert [t.limits.max_connections for t in made] == [10, 10, 10, 10]
    async with httpx.AsyncClient(transport=transport) as client:
        shards = [(await client.get(f"https://agent.test/{i}")).json()["shard"] for i in range(8)]
    assert shards == [0, 1, 2, 3, 0, 1, 2, 3]
    assert all(t.closed for t in made)
    assert made[1].seen == ["https://agent.test/1", "https://agent.test/5"]


def test_the_executor_and_channel_clients_spread_over_guarded_and_plain_pools() -> None:
    client = executor_client(EgressPolicy.of(allow_private=False))
    transport = client._transport
    assert isinstance(transport, ShardedTransport) and len(transport.transports) > 1
    assert all(isinstance(t, GuardedTransport) for t in transport.transports)
    shared = _http_client()._transport
    assert isinstance(shared, ShardedTransport) and len(shared.transports) > 1
