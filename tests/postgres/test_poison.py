"""Poison quarantine on PostgreSQL with real processes: an agent that kills its process on one
message gets it three times, then the message is `failed` with reason `poison`, an apology is
sent, and the session moves on (issue: no message can kill the gateway)."""

from __future__ import annotations

import time

import httpx
import pytest

from core.conversation import APOLOGY
from tests.agents.poison import POISON

from .harness import Gateway, post_webhook, sent_messages, wait_for, webhook_params

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PHONE = "+14155550600"
TARGET = {"kind": "python", "target": "tests.agents.poison:kill_on_poison"}


async def test_a_message_that_kills_the_process_is_quarantined_after_three_deaths(
    gateway: Gateway,
) -> None:
    server = gateway.start("A")
    agent = gateway.create_agent(server, TARGET)
    async with httpx.AsyncClient(timeout=20) as client:
        response = await post_webhook(client, server, agent, webhook_params(agent, PHONE, POISON))
        assert response.status_code == 200, response.text

        deaths = 0
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if not server.alive():
                deaths += 1
                assert deaths <= 3, "the poison message reached the agent a fourth time"
                server = gateway.spawn(f"A{deaths}")  # it may die again before serving
                continue
            try:
                items = gateway.session(server, agent, PHONE)
            except httpx.HTTPError:  # it died while we asked
                continue
            if len(items) == 2 and items[1]["status"] == "sent":
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no quarantine after {deaths} deaths:\n{server.tail()}")

        assert deaths == 3
        user, reply = gateway.session(server, agent, PHONE)
        assert (user["status"], user["error"]) == ("failed", "poison")
        assert (reply["content"], reply["status"]) == (APOLOGY, "sent")
        assert [m["body"] for m in sent_messages(gateway.double)].count(APOLOGY) == 1

        # The session moves on and the process stays up.
        params = webhook_params(agent, PHONE, "hello again")
        assert (await post_webhook(client, server, agent, params)).status_code == 200

        def answered() -> bool:
            items = gateway.session(server, agent, PHONE)
            return bool(items) and items[-1]["content"] == "fine: hello again"

        await wait_for(answered, 30, "the next message to be answered")
        assert server.alive()
