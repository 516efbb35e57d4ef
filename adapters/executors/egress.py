"""Where a tenant's agent may be reached: the egress policy of the `http`, `openai` and
`langgraph_server` executors (docs/security.md, "Executors and tenants").

Two checks, one policy:
- at save time (`EgressPolicy.url_problem`, no DNS): the URL's host when it is an address
  literal (any spelling the resolver accepts: `127.1`, `2130706433`, `0x7f.0.0.1`,
  `[::ffff:127.0.0.1]`), a name that always means this machine (`localhost`, `*.localhost`),
  a metadata name, or the gateway's own public host and port;
- at connect time (`GuardedBackend`, the httpcore network backend of the executors' own
  client): every address the name resolves to, then the peer actually dialled. A name that
  resolved to a public address when saved and to 127.0.0.1 later (DNS rebinding) is refused
  here, because the check and the dial use the same resolved address.

Refused unless `allow_private` (EXECUTOR_ALLOW_PRIVATE): every address that is not globally
routable (loopback, link-local, unspecified, RFC 1918 / ULA private ranges, shared and
reserved space, multicast), this host itself (the peer's address is one of our own), and the
gateway's public host and port. Cloud metadata endpoints are refused always: no agent needs
the host's cloud credentials.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import typing
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore
import httpx

from adapters.asyncio_backend import AsyncioBackend, AsyncioTransport
from adapters.sharded_transport import ShardedTransport

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_IPV4_LEGACY = frozenset("0123456789abcdefxABCDEFX.")


class DestinationRefused(httpcore.ConnectError):
    """The executor's destination is outside the egress policy (raised while connecting, so
    httpx reports it as any other connect failure and the caller cannot tell them apart)."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _unmapped(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped `::ffff:a.b.c.d`, 6to4
    `2002::/16`, the NAT64 well-known prefix `64:ff9b::/96`), else `ip` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_category(ip: IPAddress) -> str | None:
    """Why an address is not a public one ('loopback', 'private', ...), None when public."""
    ip = _unmapped(ip)
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata"
    if ip.is_loopback:
        return "a loopback"
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_link_local:
        return "a link-local"
    if ip.is_multicast:
        return "a multicast"
    if ip.is_private:
        return "a private"
    if not ip.is_global:
        return "a reserved"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names without DNS, in every spelling the C resolver accepts
    (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`), None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and set(host) <= _IPV4_LEGACY and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _normal_host(host: str) -> str:
    return unicodedata.normalize("NFKC", host).lower().rstrip(".")


def _port_of(scheme: str, port: int | None) -> int:
    return port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


@dataclass(frozen=True)
class EgressPolicy:
    """`allow_private=True` (dev and test default) lifts every rule but the metadata one.
    `gateway`: the (host, port) pairs that are the gateway itself (PUBLIC_BASE_URL)."""

    allow_private: bool = True
    gateway: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @classmethod
    def of(cls, allow_private: bool, public_base_url: str | None = None) -> EgressPolicy:
        gateway: set[tuple[str, int]] = set()
        if public_base_url:
            parts = urlsplit(public_base_url)
            if parts.hostname:
                scheme = parts.scheme.lower()
                gateway.add((_normal_host(parts.hostname), _port_of(scheme, parts.port)))
        return cls(allow_private=allow_private, gateway=frozenset(gateway))

    def address_problem(self, ip: IPAddress) -> str | None:
        category = address_category(ip)
        if category is None or (self.allow_private and category != "a cloud metadata"):
            return None
        return f"points at {category} address: agents must be reachable on the internet"

    def host_problem(self, scheme: str, host: str, port: int | None) -> str | None:
        """Save-time check of a URL's host (no DNS: see the module docstring)."""
        name = _normal_host(host)
        ip = literal_address(name)
        if ip is not None:
            return self.address_problem(ip)
        if name in METADATA_NAMES:
            return "points at a cloud metadata address: agents must be reachable on the internet"
        if self.allow_private:
            return None
        if name == "localhost" or name.endswith(".localhost"):
            return "points at a loopback address: agents must be reachable on the internet"
        if (name, _port_of(scheme.lower(), port)) in self.gateway:
            return "points at the gateway itself"
        return None

    def url_problem(self, url: str) -> str | None:
        """Why an agent URL is refused (credentials, a forbidden host), None when fine."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return "not a valid URL"
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            return (
                "must not contain credentials (user:password@): put them in a header "
                "or in api_key, which are stored encrypted"
            )
        if not parts.hostname:
            return "must be an http:// or https:// URL with a host"
        return self.host_problem(parts.scheme, parts.hostname, port)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, as the OS resolver answers (asyncio's thread pool)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves the host itself, refuses the connection when
    any address it resolves to is outside the policy, then dials the checked address (TLS
    still verifies and sends SNI for the host name: httpcore takes it from the URL) and checks
    the peer it got: an address of this very host is refused unless private ones are allowed.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        """`resolver` None: `system_resolver`, looked up at each connection."""
        self._policy = policy
        self._resolver = resolver
        self._inner = inner or AsyncioBackend()
        self._gateway_addresses: dict[tuple[str, int], frozenset[IPAddress]] = {}

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            found = await (self._resolver or system_resolver)(host, port)
        except OSError as e:
            raise httpcore.ConnectError("name resolution failed") from e
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                raise DestinationRefused("unreadable address") from None
        if not addresses:
            raise httpcore.ConnectError("name resolution failed")
        return addresses

    async def _is_gateway(self, ip: IPAddress, port: int) -> bool:
        for host, gateway_port in self._policy.gateway:
            if gateway_port != port:
                continue
            key = (host, gateway_port)
            if key not in self._gateway_addresses:
                try:
                    resolved = await self._addresses(host, gateway_port)
                except httpcore.ConnectError:
                    resolved = []
                self._gateway_addresses[key] = frozenset(_unmapped(a) for a in resolved)
            if _unmapped(ip) in self._gateway_addresses[key]:
                return True
        return False

    async def check(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to dial for (host, port); DestinationRefused when any is refused."""
        if self._policy.host_problem("", host, port) is not None:
            raise DestinationRefused("destination refused")
        addresses = await self._addresses(host, port)
        for ip in addresses:
            if self._policy.address_problem(ip) is not None:
                raise DestinationRefused("destination refused")
            if not self._policy.allow_private and await self._is_gateway(ip, port):
                raise DestinationRefused("destination refused")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.check(host, port)
        last: Exception | None = None
        for ip in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
                continue
            await self._check_peer(stream, ip)
            return stream
        raise last or httpcore.ConnectError("no address to connect to")

    async def _check_peer(self, stream: httpcore.AsyncNetworkStream, dialled: IPAddress) -> None:
        """The peer must be the address checked; unless private addresses are allowed, it must
        not be this host (our own address: the source the kernel picked equals the peer)."""
        peer = stream.get_extra_info("server_addr")
        local = stream.get_extra_info("client_addr")
        try:
            peer_ip = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
            local_ip = ipaddress.ip_address(str(local[0]).split("%", 1)[0])
        except (TypeError, IndexError, ValueError):
            await stream.aclose()
            raise DestinationRefused("destination refused") from None
        refused = _unmapped(peer_ip) != _unmapped(dialled) or (
            not self._policy.allow_private and _unmapped(peer_ip) == _unmapped(local_ip)
        )
        if refused or self._policy.address_problem(peer_ip) is not None:
            await stream.aclose()
            raise DestinationRefused("destination refused")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("unix sockets are not executor destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(AsyncioTransport):
    """httpx's transport over a connection pool that dials through `GuardedBackend`. Never
    uses an environment proxy: through a proxy the address dialled would be the proxy's, and
    the check would not see the agent's."""

    def __init__(
        self,
        policy: EgressPolicy,
        limits: httpx.Limits,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        # One SSL context may serve many transports (loading the CA bundle costs ~20 ms).
        ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        super().__init__(ssl_context, limits, GuardedBackend(policy, resolver), trust_env=False)


def executor_client(
    policy: EgressPolicy,
    limits: httpx.Limits | None = None,
    resolver: Resolver | None = None,
    **kwargs: typing.Any,
) -> httpx.AsyncClient:
    """The httpx client for executor calls only (the channels keep the shared one):
    destinations checked when connecting, no redirects, no environment proxies."""
    limits = limits or httpx.Limits(max_connections=2000, max_keepalive_connections=500)
    # Several guarded pools, taken in turn: one pool's upkeep grows with the square of its
    # connections (adapters/sharded_transport.py).
    context = httpx.create_ssl_context(trust_env=False)
    transport = ShardedTransport.of(
        lambda each: GuardedTransport(policy, each, resolver, context), limits
    )
    return httpx.AsyncClient(
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        **kwargs,
    )
