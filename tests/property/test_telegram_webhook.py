"""Telegram's webhook (`POST /webhooks/telegram/{id}`, a JSON Update with the secret token the
gateway gave `setWebhook`) under arbitrary Unicode, JSON and bytes.

Properties, on SQLite and on PostgreSQL:
- nothing answers 5xx;
- an update with a text (or a caption) answers 200 and is stored exactly once under its
  `update_id`, its text equal to what was sent after `core.text.storable` (JSON can carry lone
  surrogates, which UTF-8 cannot: they are the reason that normalisation exists);
- anything else with the right secret answers 200 (nothing to answer) or 400, and stores
  nothing; a wrong secret answers 403.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from core.text import MAX_ID_CHARS, storable
from tests.e2e.channels.telegram import BOT_TOKEN, BotApi
from tests.e2e.conftest import Gateway
from tests.property.strategies import BYTES, JSON_TEXT, PROPERTY, fresh, json_values, stored

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def bot(gw: Gateway) -> tuple[str, str]:
    """An agent with Telegram connected through the Bot API double: (agent id, secret)."""
    api = BotApi(gw.router)
    agent_id = await gw.create_agent()
    body = {"bot_token": BOT_TOKEN, "enabled": True}
    response = await gw.api("PUT", f"/api/agents/{agent_id}/channels/telegram", json=body)
    assert response.status_code == 200, await response.get_json()
    return agent_id, api.secret


async def post(gw: Gateway, agent_id: str, raw: bytes, secret: str, **headers: str) -> Any:
    return await gw.request(
        "POST",
        f"/webhooks/telegram/{agent_id}",
        data=raw,
        headers={"Content-Type": "application/json", SECRET_HEADER: secret, **headers},
    )


def update_id(n: int, digits: int, negative: bool) -> int:
    """Unique for each example `n`, of any length (a 9, n in 8 digits, then `digits` ones)."""
    value = int("9" + f"{n:08d}" + "1" * digits)
    return -value if negative else value


PEOPLE = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"id": st.integers(min_value=1, max_value=2**53), "is_bot": st.booleans()},
        optional={"first_name": JSON_TEXT, "last_name": JSON_TEXT, "username": JSON_TEXT},
    ),
    json_values(),
)
# A chat id's digits before the example's own number (so each example has its own session).
CHAT_HEADS = st.one_of(
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0),  # beyond 64 bits too: Python's JSON reads any integer
    st.integers(min_value=10**118, max_value=10**130),  # a contact over 128 characters
)


def chat_id_of(n: int, head: int, negative: bool) -> int:
    """Unique for each example `n`: `head`'s digits, then n in 8 digits (groups are < 0)."""
    value = int(f"{head}{n:08d}")
    return -value if negative else value


@PROPERTY
@given(
    text=JSON_TEXT,
    field=st.sampled_from(["text", "caption"]),
    person=PEOPLE,
    head=CHAT_HEADS,
    group=st.booleans(),
    digits=st.one_of(st.just(0), st.integers(min_value=0, max_value=140)),
    negative=st.booleans(),
)
async def test_any_text_update_is_stored_once_as_sent(
    gw: Gateway,
    bot: tuple[str, str],
    text: str,
    field: str,
    person: Any,
    head: int,
    group: bool,
    digits: int,
    negative: bool,
) -> None:
    agent_id, secret = bot
    n = fresh()
    uid = update_id(n, digits, negative)
    chat_id = chat_id_of(n, head, group)
    message: dict[str, Any] = {
        "message_id": n,
        "date": 1764633600,
        "chat": {"id": chat_id, "type": "private"},
        field: text,
    }
    if person is not None:
        message["from"] = person
    raw = json.dumps({"update_id": uid, "message": message}).encode()  # \\ud800 escapes kept

    response = await post(gw, agent_id, raw, secret)

    status = response.status_code
    event(f"HTTP {status}")
    answer = await response.get_data(as_text=True)
    rows = await stored(agent_id, str(uid)) if len(str(uid)) <= MAX_ID_CHARS else []
    if not text:
        assert status == 200, (status, answer)  # nothing to answer: acknowledged
        assert rows == []
    elif len(str(uid)) > MAX_ID_CHARS or len(str(chat_id)) > MAX_ID_CHARS:
        assert status == 400, (status, answer)
        assert "external_id" in answer or "contact" in answer, answer
        assert rows == []
    else:
        assert status == 200, (status, answer)
        assert [(r["role"], r["kind"], r["content"]) for r in rows] == [
            ("user", "telegram", storable(text))
        ]
        session = f"telegram_{agent_id}_{chat_id}"
        assert rows[0]["session_id"] == session
        items = await gw.messages(session)
        assert [m["content"] for m in items if m["role"] == "user"] == [storable(text)]


def nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    # an Update whose message is nested deep inside
    inner = b'{"m":' * depth + b'"x"' + b"}" * depth
    return b'{"update_id": 1, "message": {"chat": {"id": 1}, "text": ' + inner + b"}}"


@PROPERTY
@given(
    body=st.one_of(
        json_values().map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries({"update_id": json_values(), "message": json_values()}).map(
            lambda v: json.dumps(v).encode()
        ),
        BYTES,
    )
)
async def test_any_body_with_the_secret_answers_200_or_400_never_5xx(
    gw: Gateway, bot: tuple[str, str], body: bytes
) -> None:
    agent_id, secret = bot

    response = await post(gw, agent_id, body, secret)

    event(f"HTTP {response.status_code}")
    assert response.status_code in (200, 400), (
        response.status_code,
        await response.get_data(as_text=True),
    )


@PROPERTY
@given(secret=st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300))
async def test_any_other_secret_is_refused(gw: Gateway, bot: tuple[str, str], secret: str) -> None:
    agent_id, right = bot
    raw = json.dumps({"update_id": fresh(), "message": {"chat": {"id": 1}, "text": "hi"}})

    response = await post(gw, agent_id, raw.encode(), secret.strip())

    if secret.strip() != right:
        assert response.status_code == 403, await response.get_data(as_text=True)


async def test_deeply_nested_json_answers_400_or_200_never_5xx(
    gw: Gateway, bot: tuple[str, str]
) -> None:
    """Nested past what Python's parser can read (its recursion limit), under the size limit."""
    agent_id, secret = bot
    for kind in ("list", "object", "update"):
        for depth in (100, 1_100, 30_000):
            body = nested(depth if kind == "list" else min(depth, 9_000), kind)
            assert len(body) < 64 * 1024  # under the size limit: this is about the parser

            response = await post(gw, agent_id, body, secret)

            assert response.status_code in (200, 400), (kind, depth, response.status_code)
