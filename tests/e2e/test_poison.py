"""A message whose answering kills the process is quarantined after three deaths (SQLite,
real processes): `failed` with reason `poison`, an apology sent, and the session moves on."""

from __future__ import annotations

import time

import httpx
import pytest

from core.conversation import APOLOGY
from tests.agents.poison import POISON
from tests.e2e.test_crash_restart import PHONE, Rig, free_port, rig, wait_until

pytestmark = pytest.mark.slow
__all__ = ["rig"]  # the module's fixture: one double, one data directory


def agent_with(rig: Rig, target: str) -> str:
    created = rig.api(
        "POST",
        "/api/agents",
        json={"name": "poisoned", "executor": {"kind": "python", "target": target}},
    )
    assert created.status_code == 201, created.text
    agent_id = str(created.json()["id"])
    channel = {
        "account_sid": "AC" + "c0ffee00" * 4,
        "auth_token": "CrashTestToken00" + "0123456789abcdef",
        "phone_number": "+14155238886",
    }
    put = rig.api("PUT", f"/api/agents/{agent_id}/channels/whatsapp", json=channel)
    assert put.status_code == 200, put.text
    return agent_id


def respawn(rig: Rig) -> None:
    """Start the gateway again without waiting for it to serve: at start its recovery hands the
    poison message to the agent again, which may kill it before /healthz ever answers."""
    port = free_port()
    rig.base = f"http://127.0.0.1:{port}"
    rig.gateway = rig.procs.start("gateway", "-m", "app", "serve", "--port", str(port))


def healthy(rig: Rig) -> bool:
    try:
        return httpx.get(f"{rig.base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_message_that_kills_the_process_is_quarantined_after_three_deaths(rig: Rig) -> None:
    rig.ensure_gateway()
    agent_id = agent_with(rig, "tests.agents.poison:kill_on_poison")
    assert rig.post_message(agent_id, POISON).status_code == 200

    deaths = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert rig.gateway is not None
        if rig.gateway.poll() is not None:  # the agent killed it (again)
            deaths += 1
            assert deaths <= 3, "the poison message was handed to the agent a fourth time"
            respawn(rig)  # recovery at start queues the session again
            continue
        try:
            items = rig.session(agent_id)
        except httpx.HTTPError:  # it died while we asked
            continue
        if len(items) == 2 and items[1]["status"] == "sent":
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no quarantine; gateway log:\n{rig.procs.log('gateway')[-3000:]}")

    assert deaths == 3
    user, reply = rig.session(agent_id)
    assert (user["status"], user["error"]) == ("failed", "poison")
    assert (reply["content"], reply["status"]) == (APOLOGY, "sent")
    apologies = [
        m for m in rig.sent_to_twilio() if m["to"] == f"whatsapp:{PHONE}" and m["body"] == APOLOGY
    ]
    assert len(apologies) >= 1
    # The session moves on: the next message of the same person is answered, and the gateway
    # stays up.
    assert rig.post_message(agent_id, "hello again").status_code == 200
    wait_until(
        lambda: [m["content"] for m in rig.session(agent_id)][-1] == "fine: hello again",
        20,
        "the next message to be answered",
    )
    assert healthy(rig)


def test_an_agent_calling_sys_exit_fails_with_an_apology_and_the_gateway_keeps_answering(
    rig: Rig,
) -> None:
    rig.ensure_gateway()
    agent_id = agent_with(rig, "tests.agents.poison:exits")
    assert rig.post_message(agent_id, "exit").status_code == 200
    items = wait_until(
        lambda: (s := rig.session(agent_id)) and len(s) == 2 and s[1]["status"] == "sent" and s,
        20,
        "the apology",
    )
    assert items[0]["status"] == "failed" and items[1]["content"] == APOLOGY
    assert rig.gateway is not None and rig.gateway.poll() is None
    assert rig.post_message(agent_id, "still there?").status_code == 200
    wait_until(
        lambda: rig.session(agent_id)[-1]["content"] == "fine: still there?", 20, "the answer"
    )
