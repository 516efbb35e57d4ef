"""Multi-process harness: gateway, Twilio double and agent servers as real subprocesses.

Every child is started in its own session with stdout and stderr captured to a file; the
`Children` registry kills each one by its pid (SIGKILL) at teardown and prints the tail of its
log, which pytest shows when the test failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BOT_NUMBER = "+14155238886"
DOUBLE_PREFIX = "/sandbox/twilio"
IN_PROGRESS = {"received", "processing", "queued", "sending"}

_DOUBLE_CODE = """
import asyncio, sys
from adapters.sandbox.twilio_double import TwilioDoubleStore, run_twilio_double
asyncio.run(run_twilio_double("127.0.0.1", int(sys.argv[1]), TwilioDoubleStore()))
"""

# A stand-in agent for the `http` executor: waits `delay` seconds, then answers. A message
# containing "hang" is never answered. GET /calls lists the messages it was asked about.
_AGENT_CODE = """
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, delay, reply = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
calls, lock = [], threading.Lock()

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _json(self, status, data):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            self._json(200, {"calls": len(calls), "messages": list(calls)})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        message = payload["message"]
        with lock:
            calls.append(message)
        if "hang" in message:
            time.sleep(3600)
            return
        time.sleep(delay)
        text = reply.replace("{message}", message)
        self._json(200, {"reply": text})

server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
server.serve_forever()
"""

# A stand-in agent that shakes hands instead of sleeping: each request is recorded (GET /calls)
# the moment it arrives; a message starting with "hold" is then held, its answer not written,
# until POST /release {"message": ...} lets it go (for this request and every later one). A test
# waits for the call, does what it must while the agent surely has the request and surely has
# not answered (kill a process, stop the database), then releases it. Others are answered at
# once. The reply is `reply` with `{message}` replaced.
_HELD_AGENT_CODE = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, reply = int(sys.argv[1]), sys.argv[2]
calls, released, changed = [], set(), threading.Condition()

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _json(self, status, data):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with changed:
            self._json(200, {"calls": len(calls), "messages": list(calls)})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        message = payload["message"]
        if self.path == "/release":
            with changed:
                released.add(message)
                changed.notify_all()
            self._json(200, {"released": message})
            return
        with changed:
            calls.append(message)  # the handshake: "I have the request"
            if message.startswith("hold"):
                if not changed.wait_for(lambda: message in released, timeout=120):
                    return
        self._json(200, {"reply": reply.replace("{message}", message)})

server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal this child by its own pid (never by name) and reap it."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)


class Children:
    """Every subprocess a test starts; `close()` kills them all and prints their log tails."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.items: list[Child] = []

    def spawn(
        self, name: str, args: list[str], env: Mapping[str, str], port: int | None = None
    ) -> Child:
        log_path = self.log_dir / f"{name}-{len(self.items)}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, proc, log_path, port)
        self.items.append(child)
        return child

    def close(self) -> None:
        for child in self.items:
            try:
                child.kill()
            except Exception as e:  # keep killing the others
                print(f"could not stop {child.name} (pid {child.pid}): {e!r}")
        for child in self.items:
            print(f"----- {child.name} (pid {child.pid}, exit {child.proc.returncode}) -----")
            print(child.tail())


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    for name in ("DATABASE_URL", "PUBLIC_BASE_URL", "TRUSTED_PROXIES", "VAULT_KEYS", "APP_ENV"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    return env


def wait_http(child: Child, path: str, timeout: float = 60.0) -> None:
    """Polls `GET path` on `child` until it answers 200; fails early if the child exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not child.alive():
                raise AssertionError(
                    f"{child.name} exited with {child.proc.returncode} before {path} was 200:\n"
                    f"{child.tail()}"
                )
            try:
                response = client.get(child.url + path)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as e:
                last = type(e).__name__
            time.sleep(0.1)
    raise AssertionError(f"{child.name}: {path} not 200 after {timeout:g}s ({last})")


def start_twilio_double(children: Children) -> Child:
    port = free_port()
    child = children.spawn(
        "twilio-double", [PYTHON, "-c", _DOUBLE_CODE, str(port)], base_env(), port
    )
    wait_http(child, f"{DOUBLE_PREFIX}/messages", timeout=30)
    return child


def start_agent_server(children: Children, delay_s: float, reply: str) -> Child:
    """`reply` may contain `{message}`, replaced by the user's message."""
    port = free_port()
    args = [PYTHON, "-c", _AGENT_CODE, str(port), str(delay_s), reply]
    child = children.spawn("agent", args, base_env(), port)
    wait_http(child, "/calls", timeout=30)
    return child


def start_held_agent(children: Children, reply: str) -> Child:
    """The handshaking agent (see _HELD_AGENT_CODE): messages starting with "hold" wait for
    `release_agent`; `reply` may contain `{message}`."""
    port = free_port()
    child = children.spawn(
        "held-agent", [PYTHON, "-c", _HELD_AGENT_CODE, str(port), reply], base_env(), port
    )
    wait_http(child, "/calls", timeout=30)
    return child


def release_agent(agent: Child, message: str) -> None:
    """Lets the held agent answer `message`, now and whenever it is asked again."""
    response = httpx.post(agent.url + "/release", json={"message": message}, timeout=5)
    assert response.status_code == 200, response.text


def agent_calls(agent: Child) -> list[str]:
    return list(httpx.get(agent.url + "/calls", timeout=5).json()["messages"])


def sent_messages(double: Child) -> list[dict[str, Any]]:
    """Everything the Twilio double recorded, in the order it was sent."""
    data = httpx.get(double.url + f"{DOUBLE_PREFIX}/messages", timeout=5).json()
    assert data["count"] == len(data["messages"])
    return list(data["messages"])


@dataclass(frozen=True)
class Agent:
    id: str
    account_sid: str
    auth_token: str

    def session_id(self, phone: str) -> str:
        return f"twilio_{self.id}_{phone}"


@dataclass
class Gateway:
    """Starts `python -m app` processes sharing one database, one vault keyring and one double."""

    children: Children
    data_root: Path
    database_url: str
    double: Child
    vault_keys: str
    extra_env: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None
    _count: int = 0

    def env(self, **overrides: str) -> dict[str, str]:
        self._count += 1
        env = base_env()
        env.update(
            {
                "APP_ENV": "test",
                "DATA_DIR": str(self.data_root / f"p{self._count}"),
                "DATABASE_URL": self.database_url,
                "TWILIO_API_BASE_URL": self.double.url + DOUBLE_PREFIX,
                "VAULT_KEYS": self.vault_keys,
                "RECOVERY_INTERVAL_S": "1",
                "SEND_BASE_DELAY_S": "0.05",
                "SHUTDOWN_DEADLINE_S": "2",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def spawn(self, name: str, port: int | None = None, **env: str) -> Child:
        port = port or free_port()
        args = [PYTHON, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return self.children.spawn(name, args, self.env(**env), port)

    def start(self, name: str, port: int | None = None, **env: str) -> Child:
        child = self.spawn(name, port, **env)
        wait_http(child, "/readyz")
        return child

    def keys_create(self) -> str:
        if self.api_key is None:
            done = subprocess.run(
                [PYTHON, "-m", "app", "keys", "create", "--workspace", "pgtest"],
                cwd=ROOT,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
            assert done.returncode == 0, f"keys create failed:\n{done.stdout}\n{done.stderr}"
            self.api_key = done.stdout.strip().splitlines()[-1].strip()
        return self.api_key

    def admin(self, server: Child) -> httpx.Client:
        return httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {self.keys_create()}"},
            timeout=10,
        )

    def create_agent(self, server: Child, executor: dict[str, Any] | None = None) -> Agent:
        sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
        with self.admin(server) as api:
            created = api.post(
                "/api/agents", json={"name": "pg agent", "executor": executor or {"kind": "demo"}}
            )
            assert created.status_code == 201, created.text
            agent_id = created.json()["id"]
            channel = api.put(
                f"/api/agents/{agent_id}/channels/whatsapp",
                json={
                    "account_sid": sid,
                    "auth_token": token,
                    "phone_number": BOT_NUMBER,
                    "enabled": True,
                },
            )
            assert channel.status_code == 200, channel.text
        return Agent(agent_id, sid, token)

    def leads(self, server: Child, agent: Agent) -> list[dict[str, Any]]:
        with self.admin(server) as api:
            response = api.get("/api/leads", params={"agent_id": agent.id, "limit": 500})
            assert response.status_code == 200, response.text
            return list(response.json()["items"])

    def session(self, server: Child, agent: Agent, phone: str) -> list[dict[str, Any]]:
        with self.admin(server) as api:
            response = api.get(f"/api/sessions/{agent.session_id(phone)}/messages")
            assert response.status_code == 200, response.text
            return list(response.json()["items"])

    async def settled_session(
        self, server: Child, agent: Agent, phone: str, count: int, timeout: float = 15
    ) -> list[dict[str, Any]]:
        """The session once it holds `count` messages, none of them still in progress (a reply
        reaches the double a moment before it is marked `sent`)."""
        items: list[dict[str, Any]] = []

        def settled() -> bool:
            nonlocal items
            items = self.session(server, agent, phone)
            return len(items) >= count and not any(m["status"] in IN_PROGRESS for m in items)

        try:
            await wait_for(settled, timeout, f"{count} settled messages in the session")
        except AssertionError as e:
            raise AssertionError(f"{e}: {[(m['role'], m['status']) for m in items]}") from None
        return items


def webhook_params(
    agent: Agent, phone: str, body: str, message_sid: str | None = None
) -> dict[str, str]:
    return {
        "AccountSid": agent.account_sid,
        "MessageSid": message_sid or "SM" + secrets.token_hex(16),
        "From": f"whatsapp:{phone}",
        "To": f"whatsapp:{BOT_NUMBER}",
        "Body": body,
        "ProfileName": "Pat Tester",
        "WaId": phone.lstrip("+"),
        "NumMedia": "0",
    }


async def post_webhook(
    client: httpx.AsyncClient, server: Child, agent: Agent, params: Mapping[str, str]
) -> httpx.Response:
    """POSTs a webhook signed exactly as Twilio signs it for this server's own URL."""
    url = f"{server.url}/webhooks/twilio/{agent.id}"
    signature = RequestValidator(agent.auth_token).compute_signature(url, dict(params))
    return await client.post(url, data=dict(params), headers={"X-Twilio-Signature": signature})


async def wait_for(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)


_QUOTED = re.compile(r"You said: “([^”]*)”")


def quoted(reply: str) -> str | None:
    """The user's message as the demo agent quotes it (`You said: “...”`)."""
    match = _QUOTED.search(reply)
    return match.group(1) if match else None


# -- vault rotation (shared by tests/e2e/test_vault_rotate.py and tests/postgres/) ---------------

TWILIO_ROUTES = {"whatsapp": ("twilio", "whatsapp:{}"), "sms": ("sms", "{}")}


def run_cli(gateway: Gateway, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m app ARGS` with this gateway's settings (plus `env`), to completion."""
    return subprocess.run(
        [PYTHON, "-m", "app", *args],
        cwd=ROOT,
        env=gateway.env(**env),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def stored_channel_secrets(database_url: str) -> dict[tuple[str, str], dict[str, str]]:
    """Every channel's sealed secrets as the database holds them: (agent id, kind) -> name ->
    ciphertext, read with a plain driver (not the gateway's code)."""
    query = "SELECT agent_id, kind, secrets FROM channel"
    if database_url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite://")) as db:
            rows = db.execute(query).fetchall()
    else:
        import psycopg

        from adapters.queue.procrastinate_queue import psycopg_conninfo

        with psycopg.connect(psycopg_conninfo(database_url), autocommit=True) as db:
            rows = db.execute(query).fetchall()
    return {
        (str(agent), str(kind)): dict(json.loads(raw) if isinstance(raw, str) else raw)
        for agent, kind, raw in rows
    }


def key_id(ciphertext: str) -> str:
    """The keyring key a vault ciphertext is sealed under (`v1.<kid>.<wrapped>.<sealed>`)."""
    version, kid, *_ = ciphertext.split(".")
    assert version == "v1", ciphertext[:8]
    return kid


def add_twilio_channel(gateway: Gateway, server: Child, kind: str) -> Agent:
    """A new agent with the Twilio channel `kind` (whatsapp or sms) saved through the API."""
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    with gateway.admin(server) as api:
        created = api.post(
            "/api/agents", json={"name": f"{kind} agent", "executor": {"kind": "demo"}}
        )
        assert created.status_code == 201, created.text
        agent_id = created.json()["id"]
        body = {
            "account_sid": sid,
            "auth_token": token,
            "phone_number": BOT_NUMBER,
            "enabled": True,
        }
        saved = api.put(f"/api/agents/{agent_id}/channels/{kind}", json=body)
        assert saved.status_code == 200, saved.text
    return Agent(agent_id, sid, token)


async def post_twilio(
    client: httpx.AsyncClient, server: Child, kind: str, agent: Agent, phone: str, body: str
) -> httpx.Response:
    """A message to the `kind` webhook, signed as Twilio signs it with the agent's token."""
    route, address = TWILIO_ROUTES[kind]
    url = f"{server.url}/webhooks/{route}/{agent.id}"
    params = {
        "AccountSid": agent.account_sid,
        "MessageSid": "SM" + secrets.token_hex(16),
        "From": address.format(phone),
        "To": address.format(BOT_NUMBER),
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(agent.auth_token).compute_signature(url, params)
    return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})


async def check_vault_rotation(gateway: Gateway) -> None:
    """`python -m app vault rotate` end to end, on the gateway's database:

    1. a gateway holding only k1 seals the channels' secrets under k1;
    2. a gateway holding k1,k2 (newest last) accepts webhooks whose secrets are sealed under
       k1, and seals a channel saved now under k2;
    3. `vault rotate` (while that gateway runs) re-encrypts exactly the k1 secrets under k2:
       every ciphertext changes its key id, none is left under k1;
    4. the running gateway still accepts a webhook on every channel, and so does a gateway that
       holds k2 alone (k1 retired), which proves nothing needs k1 any more; a second rotate
       has nothing to do.
    """
    from adapters.vault.aesgcm import KeyRing

    old = KeyRing.generate("k1")
    both = old.with_new_key("k2")
    newest = KeyRing([("k2", both.key("k2") or b"")])
    gateway.vault_keys = old.serialize()
    phone = "+14155550777"
    delivered: dict[str, list[str]] = {}  # agent id -> texts acknowledged

    async def accepted_everywhere(
        server: Child, agents: dict[str, tuple[str, Agent]], label: str
    ) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for agent_id, (kind, agent) in agents.items():
                text = f"{label} on {kind}"
                response = await post_twilio(client, server, kind, agent, phone, text)
                assert response.status_code == 200, (label, kind, response.text)
                delivered.setdefault(agent_id, []).append(text)

    first = gateway.start("k1-only")
    agents: dict[str, tuple[str, Agent]] = {}
    for kind in ("whatsapp", "sms"):
        made = add_twilio_channel(gateway, first, kind)
        agents[made.id] = (kind, made)
    await accepted_everywhere(first, agents, "sealed under k1")
    before = stored_channel_secrets(gateway.database_url)
    assert {key_id(c) for s in before.values() for c in s.values()} == {"k1"}, before
    first.kill(signal.SIGTERM)

    gateway.vault_keys = both.serialize()
    running = gateway.start("k1-and-k2")
    await accepted_everywhere(running, agents, "two keys, old seal")
    late = add_twilio_channel(gateway, running, "whatsapp")
    sealed_late = stored_channel_secrets(gateway.database_url)[(late.id, "whatsapp")]
    assert {key_id(c) for c in sealed_late.values()} == {"k2"}, "new secrets use the newest key"

    rotated = run_cli(gateway, "vault", "rotate")
    assert rotated.returncode == 0, f"{rotated.stdout}\n{rotated.stderr}"
    old_count = sum(len(s) for s in before.values())
    assert f"re-encrypted {old_count} secret(s)" in rotated.stdout, rotated.stdout

    after = stored_channel_secrets(gateway.database_url)
    assert set(after) == set(before) | {(late.id, "whatsapp")}
    for where, sealed in before.items():
        assert set(after[where]) == set(sealed), where
        for name, ciphertext in sealed.items():
            assert after[where][name] != ciphertext, (where, name)
            assert key_id(after[where][name]) == "k2", (where, name)
    assert after[(late.id, "whatsapp")] == sealed_late  # already current: left alone

    agents[late.id] = ("whatsapp", late)
    await accepted_everywhere(running, agents, "after rotate, two keys")
    with gateway.admin(running) as api:
        for agent_id, (kind, _) in agents.items():
            shown = api.get(f"/api/agents/{agent_id}/channels/{kind}")
            assert shown.status_code == 200 and shown.json()["auth_token_set"], shown.text
    running.kill(signal.SIGTERM)

    gateway.vault_keys = newest.serialize()
    retired = gateway.start("k2-only")
    await accepted_everywhere(retired, agents, "k1 retired")
    again = run_cli(gateway, "vault", "rotate")
    assert again.returncode == 0 and "re-encrypted 0 secret(s)" in again.stdout, again.stdout
    for agent_id, (kind, _) in agents.items():
        prefix = "twilio" if kind == "whatsapp" else "sms"
        session = f"{prefix}_{agent_id}_{phone}"
        with gateway.admin(retired) as api:
            items = api.get(f"/api/sessions/{session}/messages").json()["items"]
        users = [m["content"] for m in items if m["role"] == "user"]
        assert users == delivered[agent_id], (kind, users)
    retired.kill(signal.SIGTERM)
