"""Crash safety with real processes: `python -m app serve` is SIGKILLed and started again.

A Twilio REST double and an HTTP agent run as their own processes; the gateway is killed
while the agent is working, or right after the reply reached Twilio. Either way the reply
reaches Twilio exactly once. "While the agent is working" is a handshake, not a sleep: the
agent records each request the moment it has it and holds its answer until the test lets it go.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import twilio_signature

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "c0ffee00" * 4
AUTH_TOKEN = "CrashTestToken00" + "0123456789abcdef"
NUMBER = "+14155238886"
PHONE = "+5511987654321"

DOUBLE = """
import asyncio, sys
from adapters.sandbox.twilio_double import TwilioDoubleStore, run_twilio_double
asyncio.run(run_twilio_double("127.0.0.1", int(sys.argv[1]), TwilioDoubleStore()))
"""

# An HTTP agent that shakes hands: every request is appended to the calls file (argv[2]) as
# soon as it arrives, before anything else. A message starting with "hold" is then held, its
# answer not written, until the test releases it (POST /release {"message": ...}); the others
# are answered at once. So the test kills the gateway while the agent surely has the request
# and has surely not answered, with no sleep to race.
HELD_AGENT = textwrap.dedent(
    """
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    released, changed = set(), threading.Condition()

    class Agent(BaseHTTPRequestHandler):
        def _answer(self, data):
            body = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            message = payload["message"]
            if self.path == "/release":
                with changed:
                    released.add(message)
                    changed.notify_all()
                self._answer({"released": message})
                return
            with open(sys.argv[2], "a") as log:  # the handshake: "I have the request"
                log.write(message + "\\n")
            if message.startswith("hold"):
                with changed:
                    if not changed.wait_for(lambda: message in released, timeout=120):
                        return
            self._answer({"reply": "Slow answer to " + message})

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Agent)
    server.daemon_threads = True
    server.serve_forever()
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class Processes:
    """Starts children with their output in files; kills every one of them at the end."""

    directory: Path
    env: dict[str, str]
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.directory / f"{name}.log").open("ab") as out:
            child = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env=self.env, stdout=out, stderr=out
            )
        self.children.append(child)
        return child

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=10)


@dataclass
class Rig:
    procs: Processes
    double_url: str
    agent_calls: Path
    agent_url: str
    agent_base: str
    gateway: subprocess.Popen[bytes] | None = None
    base: str = ""
    key: str = ""

    def start_gateway(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.gateway = self.procs.start("gateway", "-m", "app", "serve", "--port", str(port))
        wait_until(
            lambda: httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200,
            30,
            f"the gateway to serve; its log:\n{self.procs.log('gateway')}",
        )

    def ensure_gateway(self) -> None:
        if self.gateway is None or self.gateway.poll() is not None:
            self.start_gateway()

    def kill_gateway(self) -> None:
        assert self.gateway is not None
        self.gateway.send_signal(signal.SIGKILL)
        self.gateway.wait(timeout=10)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.request(method, f"{self.base}{path}", headers=headers, timeout=10, **kwargs)

    def sent_to_twilio(self, about: str | None = None) -> list[dict[str, Any]]:
        """Messages the double accepted (those replying to `about`, when given)."""
        response = httpx.get(f"{self.double_url}/messages", timeout=5)
        sent = list(response.json()["messages"])
        return [m for m in sent if about is None or m["body"].endswith(f" to {about}")]

    def release(self, message: str) -> None:
        """Lets the agent answer `message` (now, and whenever it is asked again)."""
        response = httpx.post(f"{self.agent_base}/release", json={"message": message}, timeout=5)
        assert response.status_code == 200, response.text

    def agent_calls_about(self, message: str) -> int:
        if not self.agent_calls.exists():
            return 0
        return self.agent_calls.read_text().splitlines().count(message)

    def session(self, agent_id: str) -> list[dict[str, Any]]:
        response = self.api("GET", f"/api/sessions/twilio_{agent_id}_{PHONE}/messages")
        return list(response.json()["items"]) if response.status_code == 200 else []

    def whatsapp_agent(self, agent_url: str) -> str:
        executor = {"kind": "http", "url": agent_url, "timeout_s": 20}
        created = self.api("POST", "/api/agents", json={"name": "slow", "executor": executor})
        assert created.status_code == 201, created.text
        agent_id = str(created.json()["id"])
        channel = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "phone_number": NUMBER,
            "enabled": True,
        }
        put = self.api("PUT", f"/api/agents/{agent_id}/channels/whatsapp", json=channel)
        assert put.status_code == 200, put.text
        return agent_id

    def post_message(self, agent_id: str, body: str) -> httpx.Response:
        url = f"{self.base}/webhooks/twilio/{agent_id}"
        params = {
            "MessageSid": "SM" + os.urandom(16).hex(),
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{PHONE}",
            "To": f"whatsapp:{NUMBER}",
            "Body": body,
            "ProfileName": "Crash Tester",
            "WaId": PHONE.lstrip("+"),
            "NumMedia": "0",
        }
        signature = twilio_signature(url, params, AUTH_TOKEN)
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """One double, one slow agent and one data directory for the module; each test makes its
    own agent (so its own session) and leaves a gateway running for the next one."""
    tmp_path = tmp_path_factory.mktemp("crash")
    double_port, agent_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "test",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite://{data_dir / 'app.sqlite3'}",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{double_port}/sandbox/twilio",
        "RECOVERY_INTERVAL_S": "0.5",
        "SEND_BASE_DELAY_S": "0.05",
        "SHUTDOWN_DEADLINE_S": "2",
    }
    for name in ("PUBLIC_BASE_URL", "TRUSTED_PROXIES", "VAULT_KEYS", "HISTORY_WINDOW"):
        env.pop(name, None)
    procs = Processes(tmp_path, env)
    try:
        procs.start("double", "-c", DOUBLE, str(double_port))
        calls = tmp_path / "agent-calls.txt"
        procs.start("agent", "-c", HELD_AGENT, str(agent_port), str(calls))
        rig = Rig(
            procs,
            f"http://127.0.0.1:{double_port}/sandbox/twilio",
            calls,
            f"http://127.0.0.1:{agent_port}/reply",
            f"http://127.0.0.1:{agent_port}",
        )
        # The key is made by the CLI on the same DATA_DIR while the gateway starts up.
        keys = procs.start("keys", "-m", "app", "keys", "create", "--workspace", "w")
        rig.start_gateway()
        assert keys.wait(timeout=60) == 0, procs.log("keys")
        rig.key = procs.log("keys").strip().splitlines()[-1]
        assert rig.key.startswith("gw_")
        wait_until(lambda: rig.sent_to_twilio() is not None, 30, "the Twilio double")
        yield rig
    finally:
        procs.kill_all()


def settled(rig: Rig, agent_id: str) -> list[dict[str, Any]] | None:
    items = rig.session(agent_id)
    done = [(m["role"], m["status"]) for m in items] == [
        ("user", "answered"),
        ("assistant", "sent"),
    ]
    return items if done else None


def test_killed_while_the_agent_works_the_reply_is_sent_once_after_restart(rig: Rig) -> None:
    rig.ensure_gateway()
    agent_id = rig.whatsapp_agent(rig.agent_url)
    text = "hold: survive this"

    acknowledged = rig.post_message(agent_id, text)
    assert acknowledged.status_code == 200
    # The handshake: the agent has the request, and holds its answer until released.
    wait_until(lambda: rig.agent_calls_about(text), 15, "the agent to be asked")
    rig.kill_gateway()  # the agent is surely still "thinking": nothing can have been sent
    assert rig.sent_to_twilio(text) == []

    rig.release(text)  # from now on the agent answers this message at once
    rig.start_gateway()
    sent = wait_until(lambda: rig.sent_to_twilio(text), 30, "the reply to reach Twilio")
    items = wait_until(lambda: settled(rig, agent_id), 15, "the session to settle")

    assert [m["body"] for m in sent] == [f"Slow answer to {text}"]
    assert sent[0]["to"] == f"whatsapp:{PHONE}" and sent[0]["from"] == f"whatsapp:{NUMBER}"
    assert items[0]["content"] == text
    assert items[1]["content"] == f"Slow answer to {text}"
    time.sleep(1.2)  # several recovery sweeps (RECOVERY_INTERVAL_S=0.5) later ...
    assert len(rig.sent_to_twilio(text)) == 1  # ... still exactly one
    assert rig.agent_calls_about(text) == 2  # asked again after the crash, answered once


def test_killed_right_after_sending_the_reply_is_not_sent_again(rig: Rig) -> None:
    rig.ensure_gateway()
    agent_id = rig.whatsapp_agent(rig.agent_url)
    text = "only once please"

    assert rig.post_message(agent_id, text).status_code == 200
    wait_until(lambda: rig.sent_to_twilio(text), 30, "the reply to reach Twilio")
    rig.kill_gateway()  # maybe before it could even record that the send succeeded

    rig.start_gateway()
    items = wait_until(lambda: settled(rig, agent_id), 30, "the session to settle")
    time.sleep(1.2)  # several recovery sweeps later

    assert [m["body"] for m in rig.sent_to_twilio(text)] == [f"Slow answer to {text}"]
    assert items[1]["content"] == f"Slow answer to {text}"
    assert rig.agent_calls_about(text) == 1
