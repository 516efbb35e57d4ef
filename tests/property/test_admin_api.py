"""The admin API under arbitrary Unicode, JSON and bytes: agent names, channel fields, list
cursors and limits, path segments, bodies that are not UTF-8 or not JSON or nested deep.

Properties, on SQLite and on PostgreSQL:
- nothing answers 5xx;
- an agent created (201) reads back with its name as sent, after `core.text.storable` and the
  trimming of surrounding blanks; a name refused is a 422 naming `name`.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from core.text import storable
from tests.e2e.channels.telegram import BOT_TOKEN, BotApi
from tests.e2e.conftest import ACCOUNT_SID, AUTH_TOKEN, CHANNEL_NUMBER, Gateway
from tests.property.strategies import ANY_CHAR, BYTES, JSON_TEXT, PROPERTY, TEXT, json_values


def status_of(response: Any) -> int:
    event(f"HTTP {response.status_code}")
    return int(response.status_code)


async def body_of(response: Any) -> str:
    return str(await response.get_data(as_text=True))[:500]


async def post_json(gw: Gateway, path: str, raw: bytes, method: str = "POST") -> Any:
    return await gw.api(method, path, data=raw, headers={"Content-Type": "application/json"})


@pytest.fixture
async def agent_id(gw: Gateway) -> str:
    BotApi(gw.router)  # saving a Telegram channel calls the Bot API
    return await gw.create_agent()


@PROPERTY
@given(name=st.one_of(JSON_TEXT, JSON_TEXT.map(lambda s: s[:40])))
async def test_any_agent_name_is_stored_as_sent_or_refused_naming_it(
    gw: Gateway, name: str
) -> None:
    raw = json.dumps({"name": name, "executor": {"kind": "demo"}}).encode()

    response = await post_json(gw, "/api/agents", raw)

    status = status_of(response)
    if status == 201:
        created = await response.get_json()
        shown = await gw.api_json("GET", f"/api/agents/{created['id']}")
        assert shown["name"] == created["name"]
        # Normalised (NUL dropped, surrogates repaired), then trimmed: either order is fine.
        assert shown["name"] in (storable(name).strip(), storable(name.strip())), shown
        assert shown["name"]
    else:
        assert status == 422, (status, await body_of(response))
        assert "name" in (await response.get_json())["fields"]


@PROPERTY
@given(
    body=st.one_of(
        json_values(),
        st.fixed_dictionaries({"name": json_values(), "executor": json_values()}),
        st.fixed_dictionaries(
            {"name": TEXT, "executor": st.dictionaries(JSON_TEXT, json_values(), max_size=4)}
        ),
        st.fixed_dictionaries(
            {
                "name": TEXT,
                "executor": st.fixed_dictionaries(
                    {"kind": st.sampled_from(["demo", "http", "python", "nope"])},
                    optional={
                        "url": JSON_TEXT,
                        "target": JSON_TEXT,
                        "timeout_s": json_values(),
                        "headers": json_values(),
                    },
                ),
            }
        ),
    )
)
async def test_any_json_body_for_a_new_agent_never_answers_5xx(gw: Gateway, body: Any) -> None:
    response = await post_json(gw, "/api/agents", json.dumps(body).encode())

    assert status_of(response) in (201, 400, 422), await body_of(response)


@PROPERTY
@given(raw=BYTES)
async def test_any_bytes_as_a_json_body_never_answer_5xx(gw: Gateway, raw: bytes) -> None:
    response = await post_json(gw, "/api/agents", raw)

    assert status_of(response) in (201, 400, 422), await body_of(response)


def nested(depth: int) -> bytes:
    return b'{"name": "deep", "executor": ' + b"[" * depth + b"]" * depth + b"}"


async def test_deeply_nested_json_answers_4xx_never_5xx(gw: Gateway) -> None:
    """Nested past what Python's parser can read (its recursion limit), under the size limit."""
    for depth in (100, 1_100, 30_000):
        response = await post_json(gw, "/api/agents", nested(depth))

        assert response.status_code in (400, 422), (depth, await body_of(response))


CHANNEL_VALUE = st.one_of(JSON_TEXT, json_values())
VALID = {
    "whatsapp": {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "phone_number": CHANNEL_NUMBER,
        "enabled": True,
    },
    "telegram": {"bot_token": BOT_TOKEN, "enabled": True},
}
VALID["sms"] = VALID["whatsapp"]
FIELD_NAMES = st.sampled_from(
    ["account_sid", "auth_token", "phone_number", "enabled", "bot_token", "extra"]
)


@PROPERTY
@given(
    kind=st.sampled_from(sorted(VALID)),
    valid=st.booleans(),
    fields=st.dictionaries(FIELD_NAMES, CHANNEL_VALUE, max_size=3),
)
async def test_any_channel_fields_never_answer_5xx(
    gw: Gateway, agent_id: str, kind: str, valid: bool, fields: dict[str, Any]
) -> None:
    """Arbitrary fields alone, or a valid channel with some of its fields replaced."""
    path = f"/api/agents/{agent_id}/channels/{kind}"
    body = {**VALID[kind], **fields} if valid else fields

    response = await post_json(gw, path, json.dumps(body).encode(), method="PUT")

    assert status_of(response) in (200, 400, 422), await body_of(response)
    if response.status_code == 200:
        shown = await gw.api_json("GET", path)
        assert shown["kind"] == kind


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


CURSORS = st.one_of(
    TEXT,
    # well-formed cursors around the real ones: `lead:<id>` with any number, even past 64 bits
    st.integers().map(lambda i: cursor_of(f"lead:{i}")),
    st.integers(min_value=2**63 - 2, max_value=2**70).map(lambda i: cursor_of(f"lead:{i}")),
    TEXT.map(lambda t: cursor_of("lead:" + t)),
)
LIMITS = st.one_of(TEXT, st.integers().map(str), st.sampled_from(["0", "1", "500", "501", "-1"]))


@PROPERTY
@given(
    query=st.fixed_dictionaries(
        {},
        optional={
            "cursor": CURSORS,
            "limit": LIMITS,
            "q": TEXT,
            "agent_id": TEXT,
            "platform": TEXT,
        },
    ),
    csv=st.booleans(),
)
async def test_any_lead_query_never_answers_5xx(
    gw: Gateway, query: dict[str, str], csv: bool
) -> None:
    path = "/api/leads.csv" if csv else "/api/leads"

    response = await gw.api("GET", path, query_string=query)

    status = status_of(response)
    assert status in (200, 422), (status, await body_of(response))
    if status == 422:
        assert set((await response.get_json())["fields"]) <= set(query)  # naming what it refused


@PROPERTY
@given(
    segment=st.text(ANY_CHAR, min_size=1, max_size=100).filter(lambda s: s not in (".", "..")),
    where=st.sampled_from(
        [
            "/api/agents/{}",
            "/api/agents/{}/channels",
            "/api/agents/{}/channels/whatsapp",
            "/api/sessions/{}/messages",
            "/api/agents/{agent}/channels/{}",
        ]
    ),
)
async def test_any_path_segment_answers_404_or_200_never_5xx(
    gw: Gateway, agent_id: str, segment: str, where: str
) -> None:
    path = where.replace("{agent}", agent_id).format(quote(segment, safe=""))

    response = await gw.api("GET", path)

    assert status_of(response) in (200, 404), (path, await body_of(response))
