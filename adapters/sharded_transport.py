"""An httpx transport that spreads requests over several connection pools.

httpcore 1.0's pool re-examines every pooled connection (and, for each idle one, counts all
of them again) whenever a request starts or ends: its cost grows with the square of the
connections open (encode/httpcore#1035). With hundreds of agent calls in flight at LLM
latency that scan was the gateway's largest CPU cost (docs/performance.md). Several smaller
pools, taken in turn, keep each scan short; together they allow as many connections as one
pool of the combined size, and each keeps its own idle connections for reuse.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from types import TracebackType

import httpx

# Enough that a burst of 500 calls leaves about 30 connections per pool.
DEFAULT_SHARDS = 16


def shard_limits(limits: httpx.Limits, shards: int) -> httpx.Limits:
    """One pool's share of `limits` (at least one connection each)."""

    def share(value: int | None) -> int | None:
        return None if value is None else max(1, -(-value // shards))

    return httpx.Limits(
        max_connections=share(limits.max_connections),
        max_keepalive_connections=share(limits.max_keepalive_connections),
        keepalive_expiry=limits.keepalive_expiry,
    )


class ShardedTransport(httpx.AsyncBaseTransport):
    """Hands each request to the next of its transports, round robin."""

    def __init__(self, transports: Sequence[httpx.AsyncBaseTransport]) -> None:
        if not transports:
            raise ValueError("at least one transport")
        self._transports = tuple(transports)
        self._next = itertools.cycle(self._transports)

    @classmethod
    def of(
        cls,
        make: Callable[[httpx.Limits], httpx.AsyncBaseTransport],
        limits: httpx.Limits,
        shards: int = DEFAULT_SHARDS,
    ) -> ShardedTransport:
        """`shards` transports made by `make`, each with its share of `limits`."""
        each = shard_limits(limits, shards)
        return cls([make(each) for _ in range(shards)])

    @property
    def transports(self) -> tuple[httpx.AsyncBaseTransport, ...]:
        return self._transports

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._next).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()

    async def __aenter__(self) -> ShardedTransport:
        for transport in self._transports:
            await transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        for transport in self._transports:
            await transport.__aexit__(exc_type, exc_value, traceback)
