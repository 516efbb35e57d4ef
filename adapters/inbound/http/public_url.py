"""The URL a request was made to as the outside world sees it (what Twilio signed)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from quart import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """`TRUSTED_PROXIES`: comma-separated addresses or CIDRs."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


class PublicUrl:
    """Builds public URLs from `PUBLIC_BASE_URL`, or from the request itself, believing
    `X-Forwarded-Proto/Host` only from trusted proxies."""

    def __init__(self, base_url: str | None, trusted_proxies: Iterable[Network] = ()) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.trusted = tuple(trusted_proxies)

    def _from_trusted_proxy(self, request: Request) -> bool:
        if not self.trusted or not request.remote_addr:
            return False
        try:
            address = ipaddress.ip_address(request.remote_addr)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def base(self, request: Request) -> str:
        if self.base_url:
            return self.base_url
        scheme, host = request.scheme, request.host
        if self._from_trusted_proxy(request):
            scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
            host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip()
        return f"{scheme}://{host}"

    def of(self, request: Request) -> str:
        """The full URL of this request: base + path + query string."""
        url = self.base(request) + request.path
        if request.query_string:
            url += "?" + request.query_string.decode("latin-1")
        return url
