"""The httpcore backend on asyncio's transports (adapters/asyncio_backend.py), over real
sockets: requests and pooled reuse, a connection the server closed while idle, bodies larger
than the read buffer both ways, TLS with certificate and host name checks, and each failure
as the httpx error a caller expects."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters import lean_http
from adapters.asyncio_backend import AsyncioTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Serve = Callable[..., Awaitable[tuple[str, list[int]]]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def _answer(body: bytes, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts a server with a handler; gives its base URL and the peers' ports it saw."""
    servers: list[asyncio.Server] = []

    async def start(
        handler: Handler, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[str, list[int]]:
        peers: list[int] = []

        async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer.get_extra_info("peername")[1])
            await handler(reader, writer)

        server = await asyncio.start_server(_serving(counted), "127.0.0.1", 0, ssl=ssl_context)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        scheme = "https" if ssl_context else "http"
        host = "localhost" if ssl_context else "127.0.0.1"
        return f"{scheme}://{host}:{port}", peers

    yield start
    for server in servers:
        server.close()


def _client(ssl_context: ssl.SSLContext | None = None, **kwargs: object) -> httpx.AsyncClient:
    transport = AsyncioTransport(
        ssl_context or ssl.create_default_context(), httpx.Limits(max_connections=10)
    )
    return httpx.AsyncClient(transport=transport, **kwargs)  # type: ignore[arg-type]


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        _, body = await _read_request(reader)
        writer.write(_answer(b"got " + body))
        await writer.drain()


async def test_requests_are_answered_and_the_connection_is_reused(serve: Serve) -> None:
    base, peers = await serve(echo_forever)
    async with _client() as client:
        for text in ("one", "two", "three"):
            answer = await lean_http.send(client, "POST", f"{base}/x", data={"t": text})
            assert answer.status_code == 200
            assert answer.text == f"got t={text}"
        response = await client.get(f"{base}/y")  # through httpx's own client path too
        assert response.text == "got "
    assert len(peers) == 1


async def test_a_connection_the_server_closed_while_idle_is_not_used_again(serve: Serve) -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(_answer(b"once"))  # keep-alive promised, then closed anyway
        await writer.drain()

    base, peers = await serve(once)
    async with _client() as client:
        assert (await client.post(f"{base}/a", content=b"1")).text == "once"
        await asyncio.sleep(0.05)  # the close reaches the idle pooled connection
        assert (await client.post(f"{base}/b", content=b"2")).text == "once"
    assert len(peers) == 2


async def test_bodies_larger_than_the_buffers_go_both_ways(serve: Serve) -> None:
    big = bytes(range(256)) * 16_384  # 4 MiB

    async def sized(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            _, body = await _read_request(reader)
            await asyncio.sleep(0.05)  # the client's upload fills the kernel's buffers first
            writer.write(_answer(body[::-1] + big))
            await writer.drain()

    base, _ = await serve(sized)
    async with _client() as client:
        response = await client.post(f"{base}/big", content=big)
        assert response.content == big[::-1] + big


async def test_a_server_that_never_answers_is_a_read_timeout(serve: Serve) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    base, _ = await serve(silent)
    async with _client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await lean_http.send(client, "POST", f"{base}/x", data={"a": "b"}, timeout=0.2)


async def test_a_server_that_stops_reading_is_a_write_timeout(serve: Serve) -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    base, _ = await serve(deaf)
    async with _client() as client:
        with pytest.raises(httpx.WriteTimeout):
            await client.post(f"{base}/x", content=b"x" * 64 * 1024 * 1024, timeout=0.3)


async def test_a_connection_cut_before_the_answer_is_a_read_error(serve: Serve) -> None:
    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.transport.abort()

    base, _ = await serve(rude)
    async with _client() as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await client.post(f"{base}/x", content=b"1")


async def test_nobody_listening_is_a_connect_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with _client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


def _certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for `localhost` and a client context that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    return server, ssl.create_default_context(cafile=str(cert_path))


async def test_tls_checks_the_certificate_and_the_host_name(serve: Serve, tmp_path: Path) -> None:
    server_context, trusting = _certificate(tmp_path)
    base, _ = await serve(echo_forever, server_context)
    async with _client(trusting) as client:
        answer = await lean_http.send(client, "POST", f"{base}/x", data={"tls": "yes"})
        assert answer.text == "got tls=yes"
        response = await client.post(f"{base}/again", content=b"2")
        assert response.text == "got 2"
    async with _client(ssl.create_default_context()) as client:  # the system's CAs only
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{base}/x")
    port = base.rsplit(":", 1)[1]
    async with _client(trusting) as client:  # the certificate does not name this host
        with pytest.raises(httpx.ConnectError, match=r"match|mismatch"):
            await client.get(f"https://127.0.0.1:{port}/x")


def test_the_same_on_uvloop_the_services_loop(tmp_path: Path) -> None:
    """`serve` runs on uvloop, whose transports are not asyncio's classes."""
    import uvloop

    server_context, trusting = _certificate(tmp_path)

    async def scenario() -> None:
        plain = await asyncio.start_server(_serving(echo_forever), "127.0.0.1", 0)
        tls = await asyncio.start_server(_serving(echo_forever), "127.0.0.1", 0, ssl=server_context)
        silent = await asyncio.start_server(_serving(_never), "127.0.0.1", 0)
        try:
            async with _client(trusting) as client:
                for server, base in (
                    (plain, "http://127.0.0.1"),
                    (tls, "https://localhost"),
                ):
                    url = f"{base}:{server.sockets[0].getsockname()[1]}/x"
                    for text in ("a", "b"):
                        answer = await lean_http.send(client, "POST", url, data={"t": text})
                        assert answer.text == f"got t={text}"
                port = silent.sockets[0].getsockname()[1]
                with pytest.raises(httpx.ReadTimeout):
                    await client.post(f"http://127.0.0.1:{port}/", content=b"1", timeout=0.2)
        finally:
            for server in (plain, tls, silent):
                server.close()

    uvloop.run(scenario())


def _serving(handler: Handler) -> Handler:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return on_connection


async def _never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.sleep(5)


def test_a_name_is_looked_up_first_and_a_slow_look_up_is_a_connect_timeout_with_nothing_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name is resolved before dialling, each address tried in turn; a look-up that
    outlasts the connect timeout is a ConnectTimeout, and one that fails a ConnectError, with
    no failure left unretrieved on the loop (uvloop's own look-up inside create_connection
    left one per timed-out dial)."""
    import socket

    import uvloop

    unhandled: list[dict[str, object]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: unhandled.append(context))
        server = await asyncio.start_server(_serving(echo_forever), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        refused = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        closed = refused.sockets[0].getsockname()[1]
        refused.close()
        await refused.wait_closed()
        real = loop.getaddrinfo

        async def names(host: str, port: int, **kwargs: object) -> list[Any]:
            if host == "slow.test":
                await asyncio.sleep(0.5)
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            if host == "none.test":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            if host == "two.test":  # the first address refuses, the second answers
                first = await real("127.0.0.1", closed, type=socket.SOCK_STREAM)
                second = await real("127.0.0.1", port, type=socket.SOCK_STREAM)
                return [*first, *second]
            return list(await real(host, port, **kwargs))  # type: ignore[arg-type]

        monkeypatch.setattr(loop, "getaddrinfo", names)
        try:
            async with _client() as client:
                with pytest.raises(httpx.ConnectTimeout):
                    await client.get("http://slow.test/", timeout=0.1)
                with pytest.raises(httpx.ConnectError, match="not known"):
                    await client.get("http://none.test/")
                answer = await client.post(f"http://two.test:{port}/x", content=b"2")
                assert answer.text == "got 2"
            await asyncio.sleep(0.6)  # the slow look-up has ended by now
        finally:
            server.close()

    uvloop.run(scenario())
    import gc

    gc.collect()
    assert unhandled == []
