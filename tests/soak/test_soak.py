"""Fault soak: thousands of messages through real processes while everything fails a little.

The Twilio double answers 10 % of creations with a 500 (half of them for messages it did
create), 5 % with a 429 and 2 % only after the client gave up; the agent fails 5 % of the time;
one gateway process is SIGKILLed and started again mid-run; on PostgreSQL the database restarts
once. Then every message is checked: answered exactly once or visibly failed with an apology,
none lost, none doubled, and each person's replies in the order they wrote.

Size: SOAK_MESSAGES (default 600 here; the issue's full run is 5000) over SOAK_PHONES (60;
500): `SOAK_MESSAGES=5000 SOAK_PHONES=500 .venv/bin/pytest -m soak` runs it in full. The counts
are printed in pytest's output. SOAK_RESTART_POSTGRES=0 leaves PostgreSQL running (a server
shared with others).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.conversation import APOLOGY
from tests.postgres.harness import (
    DOUBLE_PREFIX,
    PYTHON,
    Agent,
    Child,
    Children,
    Gateway,
    base_env,
    free_port,
    post_webhook,
    wait_http,
    webhook_params,
)
from tests.postgres.test_crash import _pg_ctl, _pg_is_running, _pg_stop, _pg_version

MESSAGES = int(os.environ.get("SOAK_MESSAGES", "600"))
PHONES = int(os.environ.get("SOAK_PHONES", "60"))
SEED = int(os.environ.get("SOAK_SEED", "20261202"))
# The PostgreSQL restart stops every other client of the server: 0 skips it on a shared one.
RESTART_POSTGRES = os.environ.get("SOAK_RESTART_POSTGRES", "1") != "0"
# pytest-timeout's 180 s (pyproject.toml) fits the test command's 600 messages; the full size
# takes 100 - 300 s on the 2-core machine, so the bound grows with the size asked for.
pytestmark = [pytest.mark.soak, pytest.mark.slow, pytest.mark.timeout(max(180, MESSAGES // 8))]

_CHAOS_DOUBLE = """
import asyncio, sys
from adapters.sandbox.twilio_double import Chaos, TwilioDoubleStore, run_twilio_double
chaos = Chaos(server_error=0.05, created_error=0.05, too_many=0.05, timeout=0.02,
              timeout_s=17.0, seed=int(sys.argv[2]))
asyncio.run(run_twilio_double("127.0.0.1", int(sys.argv[1]), TwilioDoubleStore(chaos=chaos)))
"""

# An agent that holds many requests at once (asyncio) and fails 5 % of them with a 500.
_CHAOS_AGENT = """
import asyncio, json, random, sys
rng = random.Random(int(sys.argv[2]))

async def handle(reader, writer):
    try:
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        length = 0
        for line in head.split(b"\\r\\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = json.loads(await reader.readexactly(length)) if length else {}
        await asyncio.sleep(rng.uniform(0.0, 0.05))
        if rng.random() < 0.05:
            status, body = "500 Internal Server Error", b'{"error": "agent failed"}'
        else:
            status = "200 OK"
            body = json.dumps({"reply": "re: " + payload.get("message", "")}).encode()
        head = (f"HTTP/1.1 {status}\\r\\nContent-Type: application/json\\r\\n"
                f"Content-Length: {len(body)}\\r\\nConnection: close\\r\\n\\r\\n")
        writer.write(head.encode() + body)
        await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def start_chaos(children: Children) -> tuple[Child, Child]:
    port = free_port()
    double = children.spawn(
        "chaos-double", [PYTHON, "-c", _CHAOS_DOUBLE, str(port), str(SEED)], base_env(), port
    )
    wait_http(double, f"{DOUBLE_PREFIX}/messages", timeout=30)
    port = free_port()
    agent = children.spawn(
        "chaos-agent", [PYTHON, "-c", _CHAOS_AGENT, str(port), str(SEED)], base_env(), port
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(agent.url, json={"message": "ping"}, timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return double, agent


def plan() -> dict[str, list[str]]:
    """MESSAGES texts spread over PHONES phones, unique so each reply can be traced."""
    rng = random.Random(SEED)
    phones = [f"+1415{7000000 + i:07d}" for i in range(PHONES)]
    texts: dict[str, list[str]] = defaultdict(list)
    for n in range(MESSAGES):
        phone = rng.choice(phones)
        texts[phone].append(f"m{n}-{phone[-4:]}")
    return texts


# Webhooks in flight at once, below the client's pool (200 connections). With 500 phones each
# waiting on the pool, httpcore's bookkeeping (quadratic in requests x connections, redone on
# every pool timeout) once starved the test's own event loop: its connections never finished
# dialling, and a run sent nothing for ten minutes.
IN_FLIGHT = 100


async def deliver(
    client: httpx.AsyncClient,
    servers: list[Child],
    agent: Agent,
    phone: str,
    text: str,
    gate: asyncio.Semaphore,
) -> None:
    """One webhook, retried like Twilio does (same MessageSid) until a 200."""
    params = webhook_params(agent, phone, text, "SM" + secrets.token_hex(16))
    for attempt in range(600):
        alive = [s for s in servers if s.alive()]
        server = alive[attempt % len(alive)] if alive else servers[0]
        try:
            async with gate:
                response = await post_webhook(client, server, agent, params)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"webhook for {text} never acknowledged")


def _restart_postgres(version: str) -> tuple[float, str | None]:
    """Restarts the local cluster (`_pg_stop`, then a start): how long that took, and who was
    connected when the stop hung."""
    started = time.monotonic()
    hung = _pg_stop(version)
    _pg_ctl(version, "start")
    return time.monotonic() - started, hung


async def run_soak(
    gateway: Gateway, names: list[str], restart_postgres: bool, show: Any = print
) -> None:
    double, agent_server = start_chaos(gateway.children)
    gateway.double = double
    servers = [gateway.start(name, SEND_MAX_ATTEMPTS="8") for name in names]
    executor = {"kind": "http", "url": agent_server.url + "/reply", "timeout_s": 10}
    agent = gateway.create_agent(servers[0], executor)
    texts = plan()
    started = time.monotonic()

    gate = asyncio.Semaphore(IN_FLIGHT)
    restart: dict[str, float] = {}

    async def one_phone(client: httpx.AsyncClient, phone: str) -> None:
        for text in texts[phone]:
            await deliver(client, servers, agent, phone, text, gate)
            await asyncio.sleep(random.uniform(0.0, 0.3))

    async def chaos_monkey() -> None:
        await asyncio.sleep(3)
        victim = servers[0]
        victim.kill()  # SIGKILL, mid-run
        await asyncio.sleep(1)
        servers[0] = gateway.spawn(names[0] + "-again", SEND_MAX_ATTEMPTS="8")
        # A process that cannot reach its database at start exits (its supervisor starts it
        # again): let it come up before the database goes away.
        await asyncio.to_thread(wait_http, servers[0], "/readyz", 90)
        if restart_postgres:
            await asyncio.sleep(3)
            version = _pg_version()
            took, slow = await asyncio.to_thread(_restart_postgres, version)
            restart["seconds"] = round(took, 1)
            if slow:
                show(f"PostgreSQL's fast stop hung ({took:.0f} s to restart); connected:\n{slow}")
            assert _pg_is_running(version)

    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        await asyncio.gather(chaos_monkey(), *(one_phone(client, p) for p in texts))
    sent_in = time.monotonic() - started
    for server in servers:
        await asyncio.to_thread(wait_http, server, "/readyz", 90)
    report = await settle_and_check(gateway, servers, agent, texts, double)
    report["seconds_to_send"] = round(sent_in, 1)
    report["seconds_total"] = round(time.monotonic() - started, 1)
    if restart:
        report["postgres_restart_s"] = restart["seconds"]
    show(f"soak ({', '.join(names)}, {MESSAGES} messages, {PHONES} phones): {report}")
    assert report["lost"] == 0, report
    assert report["doubled"] == 0, report
    assert report["out_of_order"] == 0, report
    assert report["answered"] + report["failed_with_apology"] + report["unknown"] == MESSAGES


async def settle_and_check(
    gateway: Gateway,
    servers: list[Child],
    agent: Agent,
    texts: dict[str, list[str]],
    double: Child,
) -> dict[str, Any]:
    server = next(s for s in servers if s.alive())
    pending = {"received", "processing", "queued", "sending"}
    deadline = time.monotonic() + 240
    sessions: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        sessions = {p: gateway.session(server, agent, p) for p in texts}
        if not any(m["status"] in pending for items in sessions.values() for m in items):
            break
        await asyncio.sleep(1)
    else:
        stuck = [m for items in sessions.values() for m in items if m["status"] in pending]
        raise AssertionError(f"{len(stuck)} messages never settled: {stuck[:5]}")
    recorded = httpx.get(f"{double.url}{DOUBLE_PREFIX}/messages", timeout=30).json()["messages"]
    at_twilio: dict[str, list[str]] = defaultdict(list)
    for m in recorded:  # in the order Twilio created them
        at_twilio[m["to"].removeprefix("whatsapp:")].append(m["body"])
    counts: Counter[str] = Counter()
    for phone, wrote in texts.items():
        items = sessions[phone]
        users = [m for m in items if m["role"] == "user"]
        replies = [m for m in items if m["role"] == "assistant"]
        stored = [m["content"] for m in users]
        counts["lost"] += len([t for t in wrote if t not in stored])
        counts["stored_twice"] += len(stored) - len(set(stored))
        counts["replies_missing"] += max(len(users) - len(replies), 0)
        got = at_twilio.get(phone, [])
        bodies = Counter(got)
        for user in users:
            if user["status"] == "answered":
                want = "re: " + user["content"]
                if bodies[want] == 1:
                    counts["answered"] += 1
                elif bodies[want] == 0:
                    status = next((r["status"] for r in replies if r["content"] == want), "missing")
                    counts["unknown" if status == "unknown" else "lost"] += 1
                else:
                    counts["doubled"] += 1
            elif user["status"] == "failed":
                counts["failed_with_apology"] += 1
        apologies_stored = len(
            [r for r in replies if r["content"] == APOLOGY and r["status"] != "unknown"]
        )
        if bodies[APOLOGY] > apologies_stored:
            counts["doubled"] += bodies[APOLOGY] - apologies_stored
        order = [b for b in got if b != APOLOGY]
        expected = ["re: " + t for t in wrote if "re: " + t in order]
        if order != expected:
            counts["out_of_order"] += 1

    for key in ("lost", "doubled", "out_of_order", "unknown", "answered", "failed_with_apology"):
        counts.setdefault(key, 0)
    counts["twilio_records"] = len(recorded)
    return dict(counts)


def reporter(request: pytest.FixtureRequest) -> Any:
    """Writes the soak's counts into pytest's own output (shown even when it passes)."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if terminal is None or capture is None:
        return print

    def show(line: str) -> None:
        with capture.global_and_fixture_disabled():
            terminal.write_line("\n" + line)

    return show


async def test_soak_on_sqlite(
    local_children: Children, tmp_path: Path, vault_keys: str, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite://{tmp_path / 'soak.sqlite3'}"
    placeholder = Child("none", None, tmp_path / "none.log")  # type: ignore[arg-type]
    gateway = Gateway(local_children, tmp_path / "data", url, placeholder, vault_keys)
    await run_soak(gateway, ["S"], restart_postgres=False, show=reporter(request))


@pytest.mark.postgres
async def test_soak_on_postgres_with_two_processes(
    children: Children,
    tmp_path: Path,
    database_url: str,
    vault_keys: str,
    request: pytest.FixtureRequest,
) -> None:
    placeholder = Child("none", None, tmp_path / "none.log")  # type: ignore[arg-type]
    gateway = Gateway(children, tmp_path / "data", database_url, placeholder, vault_keys)
    await run_soak(gateway, ["A", "B"], restart_postgres=RESTART_POSTGRES, show=reporter(request))
