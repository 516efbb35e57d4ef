"""Tenant-safe executors (issue 13, part 1), at the adapter: the python allowlist, the egress
policy at save time and when connecting (real sockets, no respx), forbidden headers and URL
credentials, and one failure reason whatever the cause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import pytest

from adapters.executors.bridge import GraphExecutorBridge, validate_executor
from adapters.executors.egress import (
    DestinationRefused,
    EgressPolicy,
    GuardedBackend,
    executor_client,
)
from adapters.executors.python_executor import PythonExecutor, module_allowed
from ports.errors import ExecutorFailed
from ports.values import AgentRequest

PROD = EgressPolicy(allow_private=False)
DEV = EgressPolicy(allow_private=True)
GENERIC = "http executor: no usable answer from the agent"
PUBLIC_IP = "93.184.216.34"


def make_request() -> AgentRequest:
    return AgentRequest(
        agent_id="agent-1",
        session_id="twilio_agent-1_+14155550100",
        message="hello",
        history=(),
        lead_contact="+14155550100",
        lead_name="Ana",
        platform="whatsapp",
        lead_phone="+14155550100",
    )


# --- python targets ---------------------------------------------------------------------------


def test_module_prefixes_match_whole_dotted_segments() -> None:
    allow = ("agents", "company.bots")
    assert module_allowed("agents", allow)
    assert module_allowed("agents.sales.graph", allow)
    assert module_allowed("company.bots.x", allow)
    assert not module_allowed("agentsx", allow)
    assert not module_allowed("company", allow)
    assert not module_allowed("company.botsy", allow)
    assert not module_allowed("os", allow)
    assert module_allowed("os", None)


def test_an_empty_allowlist_refuses_the_python_kind_naming_kind() -> None:
    errors = validate_executor({"kind": "python", "target": "os:system"}, python_allow=())
    assert "kind" in errors and "PYTHON_EXECUTOR_ALLOW" in errors["kind"]


def test_a_target_outside_the_allowlist_is_refused_naming_target() -> None:
    allow = ("adapters.executors.examples",)
    for target in ("os:system", "subprocess:getoutput", "adapters.executors.examplesx:f"):
        errors = validate_executor({"kind": "python", "target": target}, python_allow=allow)
        assert set(errors) == {"target"}, target
    ok = {"kind": "python", "target": "adapters.executors.examples:shout"}
    assert validate_executor(ok, python_allow=allow) == {}
    assert validate_executor({"kind": "python", "target": "os:system"}) == {}  # dev: any


async def test_the_allowlist_is_enforced_again_when_running() -> None:
    executor = PythonExecutor(("adapters.executors.examples",))
    with pytest.raises(ExecutorFailed, match="PYTHON_EXECUTOR_ALLOW"):
        await executor.run("os:system", make_request())
    assert await executor.run("adapters.executors.examples:shout", make_request())


@pytest.mark.parametrize(
    "target",
    [
        # an allowed module is no way out: not through a module it imported ...
        "adapters.executors.python_executor:importlib.import_module",
        "adapters.executors.python_executor:asyncio.subprocess.create_subprocess_shell",
        # ... nor a function or class it imported from elsewhere ...
        "adapters.executors.python_executor:replace",
        "adapters.executors.python_executor:Any",
        # ... nor a private or dunder attribute
        "adapters.executors.python_executor:_foreign",
        "adapters.executors.python_executor:__builtins__",
    ],
)
async def test_an_allowed_module_cannot_lead_outside_the_allowlist(target: str) -> None:
    executor = PythonExecutor(("adapters.executors",))
    with pytest.raises(ExecutorFailed, match="not allowed"):
        executor.resolve(target)


# --- URLs at save time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/reply",
        "http://127.1/reply",
        "http://2130706433/reply",
        "http://0x7f000001/reply",
        "http://0177.0.0.1/reply",
        "http://[::1]:8000/reply",
        "http://[::ffff:127.0.0.1]/reply",
        "http://localhost:8000/reply",
        "http://LOCALHOST./reply",
        "http://api.localhost/reply",
        "http://0.0.0.0:8000/reply",
        "http://[::]/reply",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.1.1/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.5/",
        "http://172.16.0.1/",
        "http://192.168.1.10/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
    ],
)
def test_non_public_destinations_are_refused_in_prod(url: str) -> None:
    for spec, field_name in (
        ({"kind": "http", "url": url}, "url"),
        ({"kind": "langgraph_server", "url": url, "assistant_id": "agent"}, "url"),
        ({"kind": "openai", "base_url": url, "model": "m"}, "base_url"),
    ):
        errors = validate_executor(spec, egress=PROD)
        assert set(errors) == {field_name}, (url, errors)


def test_public_destinations_are_accepted_in_prod() -> None:
    for url in (
        "https://agent.example.com/reply",
        f"http://{PUBLIC_IP}:8080/",
        "https://[2606:4700::1111]/",
    ):
        assert validate_executor({"kind": "http", "url": url}, egress=PROD) == {}


def test_dev_allows_private_destinations_but_never_metadata() -> None:
    for url in ("http://127.0.0.1:8000/", "http://localhost/", "http://10.0.0.5/"):
        assert validate_executor({"kind": "http", "url": url}, egress=DEV) == {}
    for url in (
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/",
        "http://[::ffff:169.254.169.254]/",
    ):
        assert "url" in validate_executor({"kind": "http", "url": url}, egress=DEV), url


def test_the_gateway_itself_is_refused() -> None:
    policy = EgressPolicy.of(False, "https://gw.example.com")
    for url in ("https://gw.example.com/api/agents", "https://GW.example.com:443/x"):
        assert "itself" in validate_executor({"kind": "http", "url": url}, egress=policy)["url"]
    other_port = {"kind": "http", "url": "https://gw.example.com:8443/"}
    assert validate_executor(other_port, egress=policy) == {}


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cretPw@agent.example.com/",
        "https://tok3nValue@agent.example.com/",
        "http://:s3cretPw@a.example/",
    ],
)
def test_credentials_in_urls_are_refused_everywhere(url: str) -> None:
    for policy in (PROD, DEV):
        for spec, name in (
            ({"kind": "http", "url": url}, "url"),
            ({"kind": "langgraph_server", "url": url, "assistant_id": "a"}, "url"),
            ({"kind": "openai", "base_url": url, "model": "m"}, "base_url"),
        ):
            errors = validate_executor(spec, egress=policy)
            assert "credentials" in errors.get(name, ""), (url, errors)
            assert "s3cretPw" not in errors[name] and "tok3nValue" not in errors[name]


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "content-length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Authorization",
        "proxy-connection",
    ],
)
def test_hop_by_hop_and_framing_headers_are_refused_naming_them(name: str) -> None:
    spec = {"kind": "http", "url": "https://agent.example.com/", "headers": {name: "x"}}
    errors = validate_executor(spec)
    assert name in errors["headers"]


def test_ordinary_headers_are_fine() -> None:
    headers = {"Authorization": "Bearer x", "X-Api-Key": "k", "X-Tenant": "t"}
    spec = {"kind": "http", "url": "https://agent.example.com/", "headers": headers}
    assert validate_executor(spec, egress=PROD) == {}


async def test_a_spec_stored_before_the_policy_is_refused_when_run() -> None:
    async with executor_client(PROD) as client:
        bridge = GraphExecutorBridge(client, default_timeout_s=2.0, egress=PROD)
        for spec in (
            {"kind": "http", "url": "http://169.254.169.254/latest/meta-data/"},
            {"kind": "http", "url": "http://user:pw@agent.example.com/"},
            {"kind": "http", "url": "https://agent.example.com/", "headers": {"Host": "x"}},
        ):
            with pytest.raises(ExecutorFailed, match="spec refused"):
                await bridge.run(spec, make_request())


# --- when connecting: a real server on 127.0.0.1, names resolved by a fake resolver ----------


@dataclass
class Agent:
    """A tiny HTTP/1.1 server on 127.0.0.1 that counts connections and answers `respond`."""

    respond: Callable[[bytes], Awaitable[bytes | None]]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            self.requests.append(head)
            answer = await self.respond(head)
            if answer is not None:
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def http_answer(status: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n{extra}\r\n"
    ).encode() + body


async def ok(head: bytes) -> bytes:
    return http_answer("200 OK", b'{"reply": "hi from the agent"}')


@pytest.fixture
async def agent() -> AsyncIterator[Agent]:
    double = Agent(ok)
    server = await asyncio.start_server(double.handle, "127.0.0.1", 0)
    double.port = server.sockets[0].getsockname()[1]
    async with server:
        yield double


def resolving(mapping: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise OSError("no such name")
        return mapping[host]

    return resolve


async def run_http(policy: EgressPolicy, url: str, resolver: Any, timeout_s: float = 2.0) -> str:
    async with executor_client(policy, resolver=resolver) as client:
        bridge = GraphExecutorBridge(client, default_timeout_s=timeout_s, egress=policy)
        return await bridge.run({"kind": "http", "url": url}, make_request())


async def test_dev_reaches_a_name_that_resolves_to_loopback(agent: Agent) -> None:
    resolver = resolving({"agent.example": ["127.0.0.1"]})
    reply = await run_http(DEV, f"http://agent.example:{agent.port}/reply", resolver)
    assert reply == "hi from the agent"
    assert f"host: agent.example:{agent.port}".encode() in agent.requests[0].lower()


async def test_prod_refuses_a_name_rebound_to_loopback_before_dialling(agent: Agent) -> None:
    # Saved while it resolved to a public address; now it answers 127.0.0.1 (DNS rebinding).
    url = f"http://agent.example:{agent.port}/reply"
    assert validate_executor({"kind": "http", "url": url}, egress=PROD) == {}
    resolver = resolving({"agent.example": ["127.0.0.1"]})
    with pytest.raises(ExecutorFailed) as info:
        await run_http(PROD, url, resolver)
    assert str(info.value) == GENERIC
    assert agent.connections == 0


async def test_prod_refuses_when_any_resolved_address_is_private() -> None:
    backend = GuardedBackend(PROD, resolving({"agent.example": [PUBLIC_IP, "10.1.2.3"]}))
    with pytest.raises(DestinationRefused):
        await backend.check("agent.example", 443)
    backend = GuardedBackend(PROD, resolving({"agent.example": ["::ffff:169.254.169.254"]}))
    with pytest.raises(DestinationRefused):
        await backend.check("agent.example", 80)
    backend = GuardedBackend(PROD, resolving({"agent.example": [PUBLIC_IP]}))
    assert [str(a) for a in await backend.check("agent.example", 443)] == [PUBLIC_IP]


async def test_metadata_is_refused_when_connecting_even_in_dev() -> None:
    backend = GuardedBackend(DEV, resolving({"agent.example": ["169.254.169.254"]}))
    with pytest.raises(DestinationRefused):
        await backend.check("agent.example", 80)


async def test_the_gateways_public_address_is_refused_when_connecting() -> None:
    policy = EgressPolicy.of(False, "https://gw.example.com")
    resolver = resolving({"gw.example.com": [PUBLIC_IP], "alias.example": [PUBLIC_IP]})
    backend = GuardedBackend(policy, resolver)
    with pytest.raises(DestinationRefused):
        await backend.check("alias.example", 443)
    assert await backend.check("alias.example", 8443)  # another port of that address


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, local: str, peer: str) -> None:
        self.info = {"client_addr": (local, 50000), "server_addr": (peer, 443)}
        self.closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return None

    async def aclose(self) -> None:
        self.closed = True

    def get_extra_info(self, info: str) -> Any:
        return self.info.get(info)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.dialled: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> _Stream:
        self.dialled.append(host)
        return self.stream


async def test_the_checked_address_is_the_one_dialled_and_this_host_is_refused() -> None:
    resolver = resolving({"agent.example": [PUBLIC_IP]})
    own = _Backend(_Stream(local=PUBLIC_IP, peer=PUBLIC_IP))  # our own public address
    with pytest.raises(DestinationRefused):
        await GuardedBackend(PROD, resolver, inner=own).connect_tcp("agent.example", 443)
    assert own.dialled == [PUBLIC_IP] and own.stream.closed
    remote = _Backend(_Stream(local="203.0.113.9", peer=PUBLIC_IP))
    stream = await GuardedBackend(PROD, resolver, inner=remote).connect_tcp("agent.example", 443)
    assert stream is remote.stream and not remote.stream.closed


async def test_redirects_are_not_followed(agent: Agent) -> None:
    async def redirect(head: bytes) -> bytes:
        return http_answer("302 Found", b"", f"Location: http://127.0.0.1:{agent.port}/x\r\n")

    agent.respond = redirect
    resolver = resolving({"agent.example": ["127.0.0.1"]})
    with pytest.raises(ExecutorFailed):
        await run_http(DEV, f"http://agent.example:{agent.port}/reply", resolver)
    assert len(agent.requests) == 1


# --- one reason for every failure -------------------------------------------------------------


async def test_every_failure_to_reach_an_agent_reads_the_same(agent: Agent) -> None:
    """Closed port, silent port, TLS to a plain server, HTTP 500, a body that is not JSON, a
    reply without `reply`, an unresolvable name: one reason, so none can map ports."""
    resolver = resolving({"agent.example": ["127.0.0.1"]})
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    closed_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()

    async def silent(head: bytes) -> None:
        await asyncio.sleep(5)

    async def status_500(head: bytes) -> bytes:
        return http_answer("500 Internal Server Error", b'{"error": "boom"}')

    async def not_json(head: bytes) -> bytes:
        return http_answer("200 OK", b"<html>proxy</html>")

    async def no_reply(head: bytes) -> bytes:
        return http_answer("200 OK", b'{"answer": "x"}')

    base = f"agent.example:{agent.port}/reply"
    reasons: dict[str, str] = {}

    async def reason(case: str, url: str, timeout_s: float = 2.0) -> None:
        with pytest.raises(ExecutorFailed) as info:
            await run_http(DEV, url, resolver, timeout_s)
        reasons[case] = str(info.value)

    await reason("refused", f"http://agent.example:{closed_port}/reply")
    await reason("unresolvable", "http://nowhere.example/reply")
    agent.respond = silent
    await reason("timeout", f"http://{base}", timeout_s=0.3)
    agent.respond = ok
    await reason("tls", f"https://{base}")
    for case, respond in (("500", status_500), ("not json", not_json), ("no reply", no_reply)):
        agent.respond = respond
        await reason(case, f"http://{base}")
    assert set(reasons.values()) == {GENERIC}, reasons
