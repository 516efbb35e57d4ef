"""Tenant-safe executors through the app (issue 13, part 1): what an admin key may make the
gateway run or reach, in prod and in dev/test, at save time and when the agent is called."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.executors import egress
from config.settings import Settings, SettingsError
from tests.e2e.conftest import Gateway, GatewayFactory

VAULT_KEYS = "k1:" + base64.b64encode(bytes(range(32))).decode()
PROD = {"APP_ENV": "prod", "VAULT_KEYS": VAULT_KEYS}
GENERIC = "http executor: no usable answer from the agent"


async def save(gw: Gateway, executor: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = {"name": "Tenant bot", "executor": executor}
    response = await gw.api("POST", "/api/agents", json=body)
    return response.status_code, await response.get_json()


def fields(body: dict[str, Any]) -> dict[str, str]:
    found = body.get("fields") or body.get("errors") or body.get("details") or {}
    assert isinstance(found, dict), body
    return found


# --- settings ---------------------------------------------------------------------------------


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path), **env})


def test_the_defaults_are_open_in_dev_and_test_and_closed_in_prod(tmp_path: Path) -> None:
    for app_env in ("dev", "test"):
        s = settings(tmp_path, APP_ENV=app_env)
        assert (s.executor_allow_private, s.python_executor_allow) == (True, None)
    s = settings(tmp_path, **PROD)
    assert (s.executor_allow_private, s.python_executor_allow) == (False, ())
    s = settings(
        tmp_path, **PROD, EXECUTOR_ALLOW_PRIVATE="true", PYTHON_EXECUTOR_ALLOW=" agents., acme.bots"
    )
    assert (s.executor_allow_private, s.python_executor_allow) == (True, ("agents", "acme.bots"))
    assert settings(tmp_path, **PROD, PYTHON_EXECUTOR_ALLOW="").python_executor_allow == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [("EXECUTOR_ALLOW_PRIVATE", "yes"), ("PYTHON_EXECUTOR_ALLOW", "agents,os:system")],
)
def test_bad_executor_settings_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as info:
        settings(tmp_path, **PROD, **{name: value})
    assert "\n" not in str(info.value)


# --- python targets ---------------------------------------------------------------------------


async def test_prod_refuses_the_python_kind_without_an_allowlist(
    open_gateway: GatewayFactory,
) -> None:
    async with open_gateway(**PROD) as gw:
        for target in ("os:system", "subprocess:getoutput", "adapters.executors.examples:shout"):
            status, body = await save(gw, {"kind": "python", "target": target})
            assert status == 422, body
            assert "PYTHON_EXECUTOR_ALLOW" in fields(body)["executor.kind"]


async def test_prod_runs_only_python_targets_under_the_allowlist(
    open_gateway: GatewayFactory,
) -> None:
    async with open_gateway(**PROD, PYTHON_EXECUTOR_ALLOW="adapters.executors.examples") as gw:
        for target in ("os:system", "adapters.executors.examplesx:shout"):
            status, body = await save(gw, {"kind": "python", "target": target})
            assert status == 422 and "executor.target" in fields(body), body
        agent = await gw.whatsapp_agent(
            {"kind": "python", "target": "adapters.executors.examples:shout"}
        )
        await gw.webhook(agent, gw.inbound(body="hello"))
        items = await gw.wait_answered(gw.session_of(agent))
        assert items[1]["status"] == "sent" and not items[1]["content"].startswith("Sorry")


async def test_test_env_keeps_any_python_target(gateway: Gateway) -> None:
    status, body = await save(gateway, {"kind": "python", "target": "tests.agents.poison:x"})
    assert status == 201, body


# --- URLs at save time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://127.0.0.1:8000/api/agents",
        "http://localhost:8000/",
        "http://10.0.0.5/reply",
        "http://[::1]/",
        "http://2130706433/",
    ],
)
async def test_prod_refuses_non_public_agent_urls(open_gateway: GatewayFactory, url: str) -> None:
    async with open_gateway(**PROD) as gw:
        status, body = await save(gw, {"kind": "http", "url": url})
        assert status == 422 and "executor.url" in fields(body), body
        status, body = await save(gw, {"kind": "openai", "base_url": url, "model": "m"})
        assert status == 422 and "executor.base_url" in fields(body), body
        lg = {"kind": "langgraph_server", "url": url, "assistant_id": "agent"}
        status, body = await save(gw, lg)
        assert status == 422 and "executor.url" in fields(body), body


async def test_prod_refuses_the_gateway_itself(open_gateway: GatewayFactory) -> None:
    async with open_gateway(**PROD, PUBLIC_BASE_URL="https://gw.example.com") as gw:
        url = "https://gw.example.com/api/agents"
        status, body = await save(gw, {"kind": "http", "url": url})
        assert status == 422 and "itself" in fields(body)["executor.url"], body


async def test_prod_with_private_allowed_accepts_internal_agents(
    open_gateway: GatewayFactory,
) -> None:
    async with open_gateway(**PROD, EXECUTOR_ALLOW_PRIVATE="true") as gw:
        status, body = await save(gw, {"kind": "http", "url": "http://10.0.0.5/reply"})
        assert status == 201, body
        status, body = await save(gw, {"kind": "http", "url": "http://169.254.169.254/"})
        assert status == 422, body  # metadata never


async def test_test_env_allows_loopback_but_never_metadata(gateway: Gateway) -> None:
    status, body = await save(gateway, {"kind": "http", "url": "http://127.0.0.1:9/reply"})
    assert status == 201, body
    status, body = await save(gateway, {"kind": "http", "url": "http://169.254.169.254/"})
    assert status == 422 and "executor.url" in fields(body), body


async def test_credentials_in_an_agent_url_are_refused_and_not_echoed(gateway: Gateway) -> None:
    status, body = await save(gateway, {"kind": "http", "url": "https://bob:Pw-9x7@agent.test/"})
    assert status == 422 and "credentials" in fields(body)["executor.url"], body
    assert "Pw-9x7" not in str(body)


@pytest.mark.parametrize("header", ["Host", "Content-Length", "Transfer-Encoding", "Proxy-X"])
async def test_framing_and_hop_by_hop_headers_are_refused(gateway: Gateway, header: str) -> None:
    spec = {"kind": "http", "url": "https://agent.test/", "headers": {header: "x"}}
    status, body = await save(gateway, spec)
    assert status == 422 and header in fields(body)["executor.headers"], body


# --- when the agent is called: DNS rebinding, through the app ---------------------------------


class LocalAgent:
    """An HTTP agent on 127.0.0.1 that counts the connections it gets."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        body = b'{"reply": "hello from a local agent"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def local_agent(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LocalAgent]:
    """`agent.example` resolves to 127.0.0.1 (as a rebinding DNS server would answer once the
    URL was saved), and the agent there is real: the executors' client dials it."""
    agent = LocalAgent()
    server = await asyncio.start_server(agent.handle, "127.0.0.1", 0)
    agent.port = server.sockets[0].getsockname()[1]

    async def resolve(host: str, port: int) -> list[str]:
        if host == "agent.example":
            return ["127.0.0.1"]
        raise OSError("unknown name")

    monkeypatch.setattr(egress, "system_resolver", resolve)
    async with server:
        yield agent


async def answer_through(gw: Gateway, agent: LocalAgent) -> dict[str, Any]:
    gw.router.route(host="agent.example").pass_through()  # real sockets, not respx
    url = f"http://agent.example:{agent.port}/reply"
    agent_id = await gw.whatsapp_agent({"kind": "http", "url": url})
    await gw.webhook(agent_id, gw.inbound(body="hello"))
    items = await gw.wait_answered(gw.session_of(agent_id))
    return items[1]


async def test_test_env_reaches_a_local_agent(gateway: Gateway, local_agent: LocalAgent) -> None:
    reply = await answer_through(gateway, local_agent)
    assert reply["content"] == "hello from a local agent"
    assert local_agent.connections == 1


async def test_prod_refuses_a_name_rebound_to_loopback_when_connecting(
    open_gateway: GatewayFactory, local_agent: LocalAgent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with open_gateway(**PROD) as gw:
        reply = await answer_through(gw, local_agent)
    assert reply["content"].startswith("Sorry")
    assert local_agent.connections == 0
    assert GENERIC in caplog.text
