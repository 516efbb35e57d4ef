"""An httpcore network backend on asyncio's own transports and protocols.

httpcore's default backend on asyncio is anyio's: each read and each write opens a cancel
scope for its timeout (`anyio.fail_after`, which looks up the current task), anyio wraps the
socket in streams of its own, and telling whether an idle pooled connection is still usable
polls its socket with a system call. That is a good share of the CPU an HTTP request costs
the gateway, and it sends three per message (the typing indicator, the reply, and an agent
call where the agent is remote).

Here a connection is an `asyncio.Protocol` that buffers what arrives: a read takes from the
buffer or waits on one future, a write hands the bytes to the transport (waiting only while
the transport asks to pause), a timeout is one timer, and "is the idle connection readable"
is read from the protocol's state. TLS goes through `loop.start_tls`, certificates and SNI as
httpcore asks. Failures are httpcore's exceptions, as with the anyio backend, so httpx sees
them the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any, cast

import httpcore
import httpx

# Reading from the socket pauses while this much waits to be read.
_HIGH_WATER = 256 * 1024


class _Connection(asyncio.Protocol):
    """What the transport delivers, kept until a read takes it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.paused = False
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake()
        self._writable(exc or ConnectionResetError("connection closed"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._writable(None)

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _writable(self, exc: BaseException | None) -> None:
        waiter, self.writable = self.writable, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def take(self, max_bytes: int) -> bytes:
        if len(self.buffer) <= max_bytes:
            data = bytes(self.buffer)
            self.buffer.clear()
        else:
            data = bytes(self.buffer[:max_bytes])
            del self.buffer[:max_bytes]
        if self.reading_paused and len(self.buffer) <= _HIGH_WATER:
            self.reading_paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        return data


async def _within(
    loop: asyncio.AbstractEventLoop,
    waiter: asyncio.Future[None],
    timeout: float | None,  # noqa: ASYNC109 - the caller's, from httpcore
    error: type[Exception],
) -> None:
    """Waits for `waiter`; `error` is raised if it is not done within `timeout` seconds."""
    if timeout is None:
        await waiter
        return
    timer = loop.call_later(timeout, _fail, waiter, error)
    try:
        await waiter
    finally:
        timer.cancel()


def _fail(waiter: asyncio.Future[None], error: type[Exception]) -> None:
    if not waiter.done():
        waiter.set_exception(error("timed out"))


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, loop: asyncio.AbstractEventLoop, connection: _Connection) -> None:
        self._loop = loop
        self._connection = connection

    async def read(
        self,
        max_bytes: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> bytes:
        connection = self._connection
        if not connection.buffer and not connection.eof:
            waiter = connection.waiter = self._loop.create_future()
            await _within(self._loop, waiter, timeout, httpcore.ReadTimeout)
        if connection.buffer:
            return connection.take(max_bytes)
        if connection.error is not None:
            raise httpcore.ReadError(str(connection.error) or type(connection.error).__name__)
        return b""  # the peer closed the connection

    async def write(
        self,
        buffer: bytes,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> None:
        if not buffer:
            return
        connection = self._connection
        transport = connection.transport
        if transport is None or transport.is_closing():
            raise httpcore.WriteError("connection closed")
        transport.write(buffer)
        if connection.paused:  # the kernel's buffer is full: wait until it drains
            waiter = connection.writable = self._loop.create_future()
            try:
                await _within(self._loop, waiter, timeout, httpcore.WriteTimeout)
            except OSError as e:
                raise httpcore.WriteError(str(e)) from e

    async def aclose(self) -> None:
        transport = self._connection.transport
        if transport is not None:
            transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        transport = self._connection.transport
        if transport is None:
            raise httpcore.ConnectError("connection closed")
        protocol = _Connection()
        handshake = self._loop.start_tls(
            transport, protocol, ssl_context, server_hostname=server_hostname
        )
        try:
            tls = await asyncio.wait_for(handshake, timeout)
        except TimeoutError:
            transport.close()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError) as e:
            transport.close()
            raise httpcore.ConnectError(str(e)) from e
        if tls is None:
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        protocol.connection_made(tls)
        return AsyncioStream(self._loop, protocol)

    def get_extra_info(self, info: str) -> Any:
        transport = self._connection.transport
        if info == "is_readable":
            # An idle connection that got data or was closed is no longer usable.
            connection = self._connection
            return bool(connection.buffer) or connection.eof or transport is None
        if transport is None:
            return None
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        return None


async def _dial(
    loop: asyncio.AbstractEventLoop,
    connection: _Connection,
    host: str,
    port: int,
    local_address: str | None,
) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
    """Resolve, then connect to each address in turn. The name is looked up here rather than
    by `create_connection`: uvloop's, cancelled by a timeout while its look-up runs, leaves
    that look-up's failure unretrieved, and asyncio logs one error per dial at exit. An
    address needs no look-up: it goes straight to `create_connection`, which parses it (the
    loop's `getaddrinfo` would cost asyncio a trip through its thread pool, ~0.15 ms)."""
    local_addr = (local_address, 0) if local_address else None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return await loop.create_connection(lambda: connection, host, port, local_addr=local_addr)
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    failure: OSError = OSError(f"no address for {host}")
    for family, _, proto, _, address in infos:
        try:
            return await loop.create_connection(
                lambda: connection,
                str(address[0]),
                int(address[1]),
                family=family,
                proto=proto,
                local_addr=local_addr,
            )
        except OSError as e:
            failure = e
    raise failure


async def _dialled(
    dial: Awaitable[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]],
    timeout: float | None,  # noqa: ASYNC109 - httpcore's, passed on
) -> asyncio.BaseTransport:
    """The transport of a connection being made, or httpcore's connect errors."""
    try:
        transport, _ = await asyncio.wait_for(dial, timeout)
    except TimeoutError:
        raise httpcore.ConnectTimeout("connect timed out") from None
    except OSError as e:
        raise httpcore.ConnectError(str(e) or type(e).__name__) from e
    return transport


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend over asyncio's transports (see the module's docstring)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        connection = _Connection()
        dial = _dial(loop, connection, host, port, local_address)
        transport = await _dialled(dial, timeout)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return AsyncioStream(loop, connection)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        connection = _Connection()
        await _dialled(loop.create_unix_connection(lambda: connection, path), timeout)
        return AsyncioStream(loop, connection)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (HTTP/1.1, no proxy of its own: the client's mounts still route to
    environment proxies) whose connection pool dials through `backend`, `AsyncioBackend` by
    default."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        limits: httpx.Limits,
        backend: httpcore.AsyncNetworkBackend | None = None,
        trust_env: bool = True,
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=trust_env)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend or AsyncioBackend(),
        )
