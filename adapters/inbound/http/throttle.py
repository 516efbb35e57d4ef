"""Refused credentials, limited per client address (quart-rate-limiter's limits and 429).

quart-rate-limiter's own `RateLimiter` counts every request before its view runs. What is
limited here is only what was refused: the admin API's 401/403 answers and the UI's failed
sign-ins. So its pieces are used the other way round: before the view, a client over the limit
gets `RateLimitExceeded` (429 with `Retry-After`), whatever it sends, even a valid key; after
the view, a 401/403 answer adds one to the client's count, the same GCRA arithmetic as the
extension (a `RateLimit` of `count` per `period`: a burst of `count` refusals, then one every
`period / count`).

Only routes marked with `limit_refusals` (a view function or a whole blueprint) take part.
Webhooks are never marked: a correctly signed webhook must never meet a 429 (a refused Twilio
retry is a lost message), and a wrongly signed one costs no database work worth limiting.

The store is per process (several processes each allow `count`); entries whose debt has been
paid are dropped, so a flood from many addresses cannot grow memory without bound.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from quart import Quart, Response, current_app, request
from quart_rate_limiter import RateLimit, RateLimitExceeded
from quart_rate_limiter.store import RateLimiterStoreABC

from adapters.inbound.http.public_url import Network

REFUSED_STATUSES = frozenset({401, 403})
_MARK = "_gateway_limits_refusals"
T = TypeVar("T")


def limit_refusals(target: T) -> T:
    """Marks a view function or a blueprint: its 401/403 answers count against the client's
    address, and a client over the limit gets 429 there until its count has run down."""
    setattr(target, _MARK, True)
    return target


class ExpiringMemoryStore(RateLimiterStoreABC):
    """quart-rate-limiter's in-memory store, forgetting theoretical arrival times that are in
    the past (a past TAT is the same as none)."""

    def __init__(self, sweep_every_s: float = 60.0) -> None:
        self._tats: dict[str, datetime] = {}
        self._sweep_every_s = sweep_every_s
        self._swept = time.monotonic()

    async def get(self, key: str, default: datetime) -> datetime:
        return self._tats.get(key, default)

    async def set(self, key: str, tat: datetime) -> None:
        self._tats[key] = tat
        if time.monotonic() - self._swept >= self._sweep_every_s:
            self._swept = time.monotonic()
            now = datetime.now(UTC)
            self._tats = {k: v for k, v in self._tats.items() if v > now}

    def __len__(self) -> int:
        return len(self._tats)

    async def before_serving(self) -> None:
        return None

    async def after_serving(self) -> None:
        return None


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


class ClientAddress:
    """Who is asking: the peer's address, or behind trusted proxies the nearest address in
    `X-Forwarded-For` that is not one of them (the same trust as `PublicUrl`: headers from
    anyone else are ignored). IPv6 clients count per /64, which one host usually holds whole."""

    def __init__(self, trusted_proxies: Iterable[Network] = ()) -> None:
        self.trusted = tuple(trusted_proxies)

    def _trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self.trusted)

    def __call__(self) -> str:
        peer = _address(request.remote_addr)
        if peer is None:
            return str(request.remote_addr or "unknown")[:64]
        client = peer
        if self.trusted and self._trusted(peer):
            hops = ",".join(request.headers.getlist("X-Forwarded-For")).split(",")
            for hop in reversed(hops):
                address = _address(hop)
                if address is None:
                    break  # a malformed entry: trust nothing further left
                client = address
                if not self._trusted(address):
                    break
        if client.version == 6:
            return str(ipaddress.ip_network(f"{client}/64", strict=False))
        return str(client)


class RefusalLimiter:
    """Installed on the app with `init_app`; see the module doc."""

    def __init__(
        self,
        limit: RateLimit,
        client: ClientAddress,
        store: RateLimiterStoreABC | None = None,
    ) -> None:
        self.limit = limit
        self.client = client
        self.store = store if store is not None else ExpiringMemoryStore()

    def init_app(self, app: Quart) -> None:
        app.before_request(self._check)
        app.after_request(self._count)
        app.before_serving(self.store.before_serving)
        app.after_serving(self.store.after_serving)

    @staticmethod
    def _applies() -> bool:
        view = current_app.view_functions.get(request.endpoint or "")
        blueprint = current_app.blueprints.get(request.blueprint or "")
        return bool(getattr(view, _MARK, False) or getattr(blueprint, _MARK, False))

    def _key(self) -> str:
        return f"refused-{self.limit.key}-{self.client()}"

    async def _tat(self, key: str, now: datetime) -> datetime:
        stored = await self.store.get(key, now)
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        return max(stored, now)

    async def _check(self) -> None:
        if not self._applies():
            return
        now = datetime.now(UTC)
        tat = await self._tat(self._key(), now)
        allowed = self.limit.period.total_seconds() - self.limit.inverse
        ahead = (tat - now).total_seconds()
        if ahead > allowed:
            raise RateLimitExceeded(max(1, math.ceil(ahead - allowed)))

    async def _count(self, response: Response) -> Response:
        if response.status_code in REFUSED_STATUSES and self._applies():
            key = self._key()
            now = datetime.now(UTC)
            tat = await self._tat(key, now)
            await self.store.set(key, tat + timedelta(seconds=self.limit.inverse))
        return response

    def __repr__(self) -> str:
        return f"RefusalLimiter({self.limit.count} per {self.limit.period})"
