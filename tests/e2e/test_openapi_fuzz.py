"""Schemathesis against the live gateway: `python -m app serve` on loopback (SQLite), every
operation of its /openapi.json with bounded, derandomized examples (positive and negative),
authenticated with a real admin key. No answer may be a 5xx, have a status the document does
not list, or break the document's schema for that status.

Before the fuzzing, the workspace gets an agent with a WhatsApp channel, a lead, a session and a
human reply, so the lists have rows whose shape is checked too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import twilio_signature
from tests.e2e.test_startup import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "f0e1" * 8
AUTH_TOKEN = "fuzz" * 8
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class LiveGateway:
    base_url: str
    key: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data: Path) -> dict[str, str]:
    values = {**os.environ, **dict.fromkeys(VARIABLES, ""), "PYTHONPATH": str(ROOT)}
    values.update(
        {
            "APP_ENV": "test",
            "DATA_DIR": str(data),
            "LOG_LEVEL": "ERROR",
            # Replies go nowhere (a closed loopback port) and are not retried.
            "TWILIO_API_BASE_URL": "http://127.0.0.1:9",
            "TWILIO_MESSAGING_API_BASE_URL": "http://127.0.0.1:9",
            "SEND_MAX_ATTEMPTS": "1",
            "SHUTDOWN_DEADLINE_S": "5",
            # Fuzzing answers many 4xx; the refusal limiter would turn the rest into 429s.
            "AUTH_FAILURE_LIMIT": "0",
        }
    )
    return values


def _seed(base: str, key: str) -> None:
    """An agent with WhatsApp, one inbound message (a lead and a session) and a human reply."""
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        agent = client.post("/api/agents", json={"name": "Fuzz", "executor": {"kind": "demo"}})
        assert agent.status_code == 201, agent.text
        agent_id = agent.json()["id"]
        channel = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "phone_number": "+14155238886",
            "enabled": True,
        }
        put = client.put(f"/api/agents/{agent_id}/channels/whatsapp", json=channel)
        assert put.status_code == 200, put.text
        phone = "+5511987654321"
        form = {
            "MessageSid": "SM" + "ab" * 16,
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{phone}",
            "To": "whatsapp:+14155238886",
            "Body": "Hello",
            "ProfileName": "Ana",
        }
        path = f"/webhooks/twilio/{agent_id}"
        signature = twilio_signature(base + path, form, AUTH_TOKEN)
        hook = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
        assert hook.status_code == 200, hook.text
        session = f"twilio_{agent_id}_{phone}"
        reply = client.post(f"/api/sessions/{session}/messages", json={"content": "Hi, a human"})
        assert reply.status_code == 202, reply.text


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    env = _env(data)
    keys = subprocess.run(
        [sys.executable, "-m", "app", "keys", "create", "--workspace", "fuzz"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = keys.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        _seed(base, key)
        yield LiveGateway(base, key)
    finally:
        server.terminate()
        try:
            _, errors = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, errors = server.communicate()
    # Whatever the fuzzing sent, the server logged no unhandled error.
    assert "Traceback" not in errors, errors[-4000:]


def test_every_operation_keeps_its_schema(live_gateway: LiveGateway) -> None:
    """Each operation in turn, with its own bounded hypothesis run (schemathesis's lazy pytest
    fixture needs a pytest attribute that pytest 9 removed, so the operations are walked here;
    a failure names the operation and the example)."""
    schema = schemathesis.openapi.from_url(live_gateway.base_url + "/openapi.json")
    headers = {"Authorization": f"Bearer {live_gateway.key}"}
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert operations, "the document lists no operation"

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,  # the same examples every run: a failure is never luck
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate(
                base_url=live_gateway.base_url, headers=headers, checks=checks, timeout=30
            )

        run()
