"""Two `python -m app serve` processes on one PostgreSQL database (contract §3, §4).

Both take webhooks and both run Procrastinate workers: leads must be unique, MessageSids
deduplicated, and one session's messages answered one at a time in arrival order, whichever
process received or handles them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any

import httpx
import pytest

from .harness import (
    Agent,
    Child,
    Gateway,
    post_webhook,
    quoted,
    sent_messages,
    wait_for,
    wait_http,
    webhook_params,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PHONE = "+14155550100"
SETTLE_S = 1.5  # after the expected count is reached: time for a duplicate to show up


@pytest.fixture
def pair(gateway: Gateway) -> tuple[Child, Child]:
    a = gateway.spawn("A")
    b = gateway.spawn("B")
    for child in (a, b):
        wait_http(child, "/readyz")
    return a, b


async def _expect_replies(
    gateway: Gateway, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    await wait_for(lambda: len(sent_messages(gateway.double)) >= count, timeout, f"{count} replies")
    await asyncio.sleep(SETTLE_S)
    sent = sent_messages(gateway.double)
    assert len(sent) == count, [m["body"] for m in sent]
    return sent


def _quoted_bodies(sent: list[dict[str, Any]]) -> list[str | None]:
    return [quoted(m["body"]) for m in sent]


@pytest.mark.parametrize("mode", ["sequential", "concurrent"])
async def test_one_phone_alternating_between_processes(
    gateway: Gateway, pair: tuple[Child, Child], mode: str
) -> None:
    a, b = pair
    agent = gateway.create_agent(a)
    texts = [f"message {i:02d}" for i in range(20)]
    async with httpx.AsyncClient(timeout=20) as client:

        async def post(i: int) -> httpx.Response:
            server = a if i % 2 == 0 else b
            return await post_webhook(client, server, agent, webhook_params(agent, PHONE, texts[i]))

        if mode == "sequential":
            responses = [await post(i) for i in range(20)]
        else:
            responses = await asyncio.gather(*(post(i) for i in range(20)))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]

    sent = await _expect_replies(gateway, 20)
    assert {m["to"] for m in sent} == {f"whatsapp:{PHONE}"}
    said = _quoted_bodies(sent)
    assert Counter(said) == Counter(texts), "every message answered exactly once"

    leads = gateway.leads(b, agent)
    assert [(lead["phone"], lead["message_count"]) for lead in leads] == [(PHONE, 20)]

    session = await gateway.settled_session(a, agent, PHONE, 40)
    users = [m for m in session if m["role"] == "user"]
    assistants = [m for m in session if m["role"] == "assistant"]
    assert len(users) == 20 and len(assistants) == 20
    assert {m["status"] for m in users} == {"answered"}
    assert {m["status"] for m in assistants} == {"sent"}
    # Replies went out in arrival (storage) order, each one seeing all earlier messages.
    arrival = [m["content"] for m in users]
    assert said == arrival
    for turn, message in enumerate(sent[1:], start=2):
        assert f"This is turn {turn} of our chat" in message["body"]
    # The session lists each reply after the message it answers, replies in the same order.
    # (Not strictly alternating: a message may arrive before the previous one is answered.)
    assert [quoted(m["content"]) for m in assistants] == arrival
    position = {m["content"]: i for i, m in enumerate(session) if m["role"] == "user"}
    for i, m in enumerate(session):
        if m["role"] == "assistant":
            assert position[quoted(m["content"])] < i
    if mode == "sequential":
        assert arrival == texts


async def test_ten_phones_at_once_over_both_processes(
    gateway: Gateway, pair: tuple[Child, Child]
) -> None:
    a, b = pair
    agent = gateway.create_agent(b)
    phones = [f"+1415555{i:04d}" for i in range(200, 210)]
    async with httpx.AsyncClient(timeout=20) as client:
        responses = await asyncio.gather(
            *(
                post_webhook(
                    client, (a, b)[i % 2], agent, webhook_params(agent, phone, f"hi from {phone}")
                )
                for i, phone in enumerate(phones)
            )
        )
    assert [r.status_code for r in responses] == [200] * 10

    sent = await _expect_replies(gateway, 10)
    assert sorted(m["to"] for m in sent) == sorted(f"whatsapp:{p}" for p in phones)
    for message in sent:
        assert quoted(message["body"]) == f"hi from {message['to'].removeprefix('whatsapp:')}"
    leads = gateway.leads(a, agent)
    assert sorted((x["phone"], x["message_count"]) for x in leads) == [(p, 1) for p in phones]


async def test_same_message_sid_on_both_processes_at_once(
    gateway: Gateway, pair: tuple[Child, Child]
) -> None:
    a, b = pair
    agent = gateway.create_agent(a)
    rounds = 5  # several races, each its own phone and MessageSid
    phones = [f"+1415555{i:04d}" for i in range(300, 300 + rounds)]
    async with httpx.AsyncClient(timeout=20) as client:
        for phone in phones:
            params = webhook_params(agent, phone, f"once {phone}", "SM" + secrets.token_hex(16))
            responses = await asyncio.gather(
                post_webhook(client, a, agent, params), post_webhook(client, b, agent, params)
            )
            assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]

    sent = await _expect_replies(gateway, rounds)
    assert sorted(m["to"] for m in sent) == sorted(f"whatsapp:{p}" for p in phones)
    for phone in phones:
        session = await gateway.settled_session(b, agent, phone, 2)
        assert [(m["role"], m["status"]) for m in session] == [
            ("user", "answered"),
            ("assistant", "sent"),
        ]
        assert session[0]["content"] == f"once {phone}"
    leads = gateway.leads(b, agent)
    assert sorted((x["phone"], x["message_count"]) for x in leads) == [(p, 1) for p in phones]


async def test_both_processes_start_together_on_a_fresh_database(gateway: Gateway) -> None:
    a = gateway.spawn("A")
    b = gateway.spawn("B")  # same moment: both apply migrations, under the migration lock
    wait_http(a, "/readyz")
    wait_http(b, "/readyz")
    assert a.alive() and b.alive()

    agent: Agent = gateway.create_agent(b)
    async with httpx.AsyncClient(timeout=20) as client:
        for server, phone in ((a, "+14155550400"), (b, "+14155550401")):
            response = await post_webhook(
                client, server, agent, webhook_params(agent, phone, "hello")
            )
            assert response.status_code == 200, response.text
    sent = await _expect_replies(gateway, 2)
    assert sorted(m["to"] for m in sent) == ["whatsapp:+14155550400", "whatsapp:+14155550401"]


async def test_without_vault_keys_processes_share_the_development_keyring(
    gateway: Gateway,
) -> None:
    # dev/test with no VAULT_KEYS and a DATA_DIR of their own: the secret saved through one
    # process must open in the other (the dev keyring is kept in the shared database).
    a = gateway.spawn("A", VAULT_KEYS="")
    b = gateway.spawn("B", VAULT_KEYS="")
    wait_http(a, "/readyz")
    wait_http(b, "/readyz")

    agent: Agent = gateway.create_agent(a)
    async with httpx.AsyncClient(timeout=20) as client:
        response = await post_webhook(
            client, b, agent, webhook_params(agent, "+14155550500", "hello from B")
        )
        assert response.status_code == 200, response.text
    sent = await _expect_replies(gateway, 1)
    assert [m["to"] for m in sent] == ["whatsapp:+14155550500"]
