"""A lead event still pending when `python -m app serve` is SIGKILLed is delivered after the
restart, with the same delivery id: on SQLite (in-process timers, the recovery sweep at start)
and on PostgreSQL (a `deliver_lead_event` Procrastinate job, and the sweep).

The receiver answers the first attempt 500 (a retry is then planned), the gateway is killed
once that attempt is recorded and before the retry is due, and the receiver answers 200 from
then on."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import twilio_signature
from tests.databases import database_env  # noqa: F401 (fixture)
from tests.e2e.test_startup import VARIABLES
from tests.lead_receiver import Receiver, docs_verifier, lead_receiver

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "1ead" * 8
AUTH_TOKEN = "LeadRestartToken" + "0123456789abcdef"
NUMBER = "+14155238886"
PHONE = "+5511987654321"
SECRET = "restart-secret-" + "0a1b2c3d4e5f6789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.process: asyncio.subprocess.Process | None = None
        self.base = ""
        self.key = ""

    def log(self) -> str:
        return self.logs.read_text(errors="replace") if self.logs.exists() else ""

    async def cli(self, *args: str) -> str:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", *args, cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(child.communicate(), 120)
        assert child.returncode == 0, out.decode(errors="replace")
        return out.decode()

    async def start(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        with self.logs.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port),
                cwd=ROOT, env=self.env, stdout=out, stderr=out,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                assert self.process.returncode is None, self.log()
                try:
                    if (await client.get(f"{self.base}/readyz", timeout=2)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"the gateway did not start:\n{self.log()}"
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.base, headers=headers, timeout=10) as c:
            return await c.request(method, path, **kwargs)

    async def inbound(self, agent_id: str, body: str) -> httpx.Response:
        url = f"{self.base}/webhooks/twilio/{agent_id}"
        params = {
            "MessageSid": "SM" + os.urandom(16).hex(), "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{PHONE}", "To": f"whatsapp:{NUMBER}", "Body": body,
            "ProfileName": "Restart Tester", "WaId": PHONE.lstrip("+"), "NumMedia": "0",
        }  # fmt: skip
        signature = twilio_signature(url, params, AUTH_TOKEN)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})

    async def log_entries(self, agent_id: str) -> list[dict[str, Any]]:
        response = await self.api("GET", f"/api/agents/{agent_id}/lead-webhook")
        assert response.status_code == 200, response.text
        return list(response.json()["deliveries"])


@pytest.fixture
async def gateway(
    tmp_path: Path,
    database_env: dict[str, str],  # noqa: F811
) -> AsyncIterator[Gateway]:
    env = {**os.environ, **dict.fromkeys(VARIABLES, ""), "PYTHONPATH": str(ROOT)}
    for name in VARIABLES:
        env.pop(name, None)
    env.update(
        {
            "APP_ENV": "test",
            "DATA_DIR": str(tmp_path / "data"),
            "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # replies go nowhere
            "TWILIO_MESSAGING_API_BASE_URL": "http://127.0.0.1:9",
            "SEND_MAX_ATTEMPTS": "1",
            "SHUTDOWN_DEADLINE_S": "2",
            "RECOVERY_INTERVAL_S": "0.5",
            "LEAD_WEBHOOK_RETRY_BASE_S": "4",
            **database_env,
        }
    )
    gw = Gateway(env, tmp_path / "gateway.log")
    try:
        gw.key = (await gw.cli("keys", "create", "--workspace", "w")).strip().splitlines()[-1]
        yield gw
    finally:
        if gw.process is not None and gw.process.returncode is None:
            gw.process.kill()
            await gw.process.wait()


async def wait_until_true(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with lead_receiver() as r:
        yield r


async def test_a_pending_delivery_is_delivered_after_a_kill_and_restart(
    gateway: Gateway, receiver: Receiver
) -> None:
    await gateway.start()
    created = await gateway.api(
        "POST", "/api/agents", json={"name": "bot", "executor": {"kind": "demo"}}
    )
    agent_id = created.json()["id"]
    channel = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "phone_number": NUMBER,
               "enabled": True}  # fmt: skip
    put = await gateway.api("PUT", f"/api/agents/{agent_id}/channels/whatsapp", json=channel)
    assert put.status_code == 200, put.text
    hooked = await gateway.api(
        "PUT", f"/api/agents/{agent_id}/lead-webhook", json={"url": receiver.url, "secret": SECRET}
    )
    assert hooked.status_code == 200, hooked.text

    receiver.statuses = [500]
    assert (await gateway.inbound(agent_id, "Hello, new lead here")).status_code == 200
    [first] = await receiver.wait(1)

    async def attempt_recorded() -> bool:
        entries = await gateway.log_entries(agent_id)
        return bool(entries) and entries[0]["attempts"] == 1

    await wait_until_true(attempt_recorded, 10, "the failed attempt to be recorded")
    await gateway.kill()  # the retry is planned about 4 s after the first attempt
    assert len(receiver.received) == 1  # killed before it
    [entry] = [e for e in await _entries_after_restart(gateway, agent_id)]
    assert entry["status"] in ("pending", "delivered")
    events = await receiver.wait(2, timeout=30)
    assert len(events) == 2
    assert events[1].headers["X-Gateway-Delivery"] == first.headers["X-Gateway-Delivery"]
    assert events[1].body == first.body
    assert docs_verifier()(SECRET, events[1].body, events[1].headers["X-Gateway-Signature"])

    async def delivered() -> bool:
        entries = await gateway.log_entries(agent_id)
        return bool(entries[0]["status"] == "delivered")

    await wait_until_true(delivered, 15, "the delivery to be recorded")
    [done] = await gateway.log_entries(agent_id)
    assert (done["attempts"], done["last_status_code"]) == (2, 200)
    await asyncio.sleep(1.5)  # several recovery sweeps later: nothing more is sent
    assert len(receiver.received) == 2


async def _entries_after_restart(gateway: Gateway, agent_id: str) -> list[dict[str, Any]]:
    await gateway.start()
    return await gateway.log_entries(agent_id)
