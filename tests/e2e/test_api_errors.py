"""Errors under /api/ are JSON whatever the status, and malformed input is a 4xx, never a 5xx,
on SQLite and (marked `postgres`) on PostgreSQL. The UI keeps its HTML error pages.

PostgreSQL: see tests/databases.py (`pytest -m postgres`)."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import structlog
from dependency_injector import providers

from adapters.observability.logs import clear, configure_logging
from adapters.persistence.cursor import MAX_ID, decode_cursor, encode_cursor
from app import create_app
from config.container import build_container
from tests.conftest import SettingsFactory
from tests.databases import database_env
from tests.e2e.conftest import PHONE, Gateway, GatewayFactory

__all__ = ["database_env"]


def raw_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
async def gw(open_gateway: GatewayFactory, database_env: dict[str, str]) -> AsyncIterator[Gateway]:
    # Refusals are limited per address (tests/e2e/test_refusal_limits.py); not the subject here.
    async with open_gateway(AUTH_FAILURE_LIMIT="0", **database_env) as gateway:
        yield gateway


async def assert_json_4xx(gw: Gateway, status: int, method: str, path: str, **kwargs: Any) -> Any:
    response = await gw.api(method, path, **kwargs)
    body = await response.get_json()
    assert response.status_code == status, (method, path, response.status_code, body)
    assert response.content_type == "application/json", (path, response.content_type)
    assert isinstance(body, dict) and "error" in body, body
    return body


# --- every status under /api/ is JSON --------------------------------------------------------


async def test_an_unknown_api_route_is_a_json_404(gw: Gateway) -> None:
    for path in ("/api/nothing-here", "/api/agents/x/nothing", "/api"):
        body = await assert_json_4xx(gw, 404, "GET", path)
        assert body == {"error": "not found"}
    unauthenticated = await gw.request("GET", "/api/nothing-here")  # no key at all
    assert unauthenticated.status_code == 404
    assert unauthenticated.content_type == "application/json"


async def test_a_wrong_method_is_a_json_405_with_allow(gw: Gateway) -> None:
    response = await gw.api("DELETE", "/api/leads")
    assert response.status_code == 405
    assert response.content_type == "application/json"
    assert await response.get_json() == {"error": "method not allowed"}
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert "GET" in allowed and "DELETE" not in allowed


async def test_a_body_over_the_limit_is_a_json_413(gw: Gateway) -> None:
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await gw.api("POST", "/api/agents", data=body)
    assert response.status_code == 413
    assert response.content_type == "application/json"
    assert await response.get_json() == {"error": "request entity too large"}


class ExplodingLeads:
    """A lead store that fails as a bug would: not a port error the app knows."""

    async def list_leads(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail: gw_secret_in_traceback")

    def iterate_leads(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail")


@asynccontextmanager
async def exploding_app(make_settings: SettingsFactory) -> AsyncIterator[tuple[Any, str]]:
    container = build_container(make_settings(AUTH_FAILURE_LIMIT="0"))
    container.lead_store.override(providers.Object(ExplodingLeads()))
    app = create_app(container)
    async with app.test_app() as test_app:
        key = await container.admin().create_api_key("ws")
        yield test_app.test_client(), key


async def test_an_unexpected_error_is_a_json_500_without_details_and_the_ui_keeps_html(
    make_settings: SettingsFactory,
) -> None:
    async with exploding_app(make_settings) as (client, key):
        response = await client.get("/api/leads", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 500
        assert response.content_type == "application/json"
        assert await response.get_json() == {"error": "internal server error"}

        for path in ("/ui/nothing-here", "/webhooks/nothing-here"):
            html = await client.get(path)
            assert html.status_code == 404, path
            assert html.content_type.startswith("text/html"), path
        login = await (await client.get("/ui/login")).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login)
        assert token
        form = {"csrf_token": token.group(1), "api_key": key}
        assert (await client.post("/ui/login", form=form)).status_code == 303
        page = await client.get("/ui/leads")
        assert page.status_code == 500
        assert page.content_type.startswith("text/html")
        assert "internal detail" not in await page.get_data(as_text=True)


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Logging exactly as `python -m app` configures it, into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    quieted = ("httpx", "tortoise", "procrastinate")
    saved_levels = {name: logging.getLogger(name).level for name in quieted}
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging(level="INFO", json=True)
    try:
        yield stream
    finally:
        clear()
        structlog.reset_defaults()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


async def test_log_lines_of_a_request_show_its_request_id(
    make_settings: SettingsFactory, log_lines: io.StringIO
) -> None:
    given = "req-7f3a9c2e"
    async with exploding_app(make_settings) as (client, key):
        headers = {"Authorization": f"Bearer {key}"}
        assert (await client.get("/api/leads", headers=headers)).status_code == 500
        headers["X-Request-Id"] = given
        assert (await client.get("/api/leads", headers=headers)).status_code == 500
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    failures = [line for line in lines if "Exception on request" in line.get("event", "")]
    assert len(failures) == 2, lines
    generated, chosen = (line["request_id"] for line in failures)
    assert re.fullmatch(r"[0-9a-f]{32}", generated), generated  # uuid4().hex, not [redacted]
    assert chosen == given
    assert "gw_secret_in_traceback" not in log_lines.getvalue()


# --- malformed input is a 4xx, on SQLite and PostgreSQL ---------------------------------------


async def test_a_cursor_holding_a_huge_or_foreign_value_is_422(gw: Gateway) -> None:
    cursors = [
        raw_cursor("lead:" + "9" * 30),  # 500 on SQLite, 503 on PostgreSQL before
        raw_cursor(f"lead:{MAX_ID + 1}"),
        raw_cursor("lead:" + "9" * 5000),
        raw_cursor("lead:-1"),
        raw_cursor("lead:0007"),
        raw_cursor("agent:1"),
        "not base64!",
        "é",
        "x" * 10_000,
    ]
    for cursor in cursors:
        body = await assert_json_4xx(gw, 422, "GET", "/api/leads", query_string={"cursor": cursor})
        assert body["fields"] == {"cursor": "not a cursor from this API"}
    # The largest id a store can hold is still a cursor: an empty page, not an error.
    largest = await gw.api_json("GET", "/api/leads", query_string={"cursor": encode_cursor(MAX_ID)})
    assert largest == {"items": [], "next_cursor": None}


async def test_limit_junk_is_422_and_big_limits_are_capped(gw: Gateway) -> None:
    for junk in ("abc", "-1", "0", "000", "1.5", "\uff11\uff12", " 5", "5 ", "9" * 5000 + "x"):
        body = await assert_json_4xx(gw, 422, "GET", "/api/leads", query_string={"limit": junk})
        assert "limit" in body["fields"], junk
    for big in ("501", "99999999999999999999999999", "9" * 5000, "0500"):
        await gw.api_json("GET", "/api/leads", query_string={"limit": big})


async def test_lead_filters_that_are_not_text_or_too_long_are_422(gw: Gateway) -> None:
    cases = {
        "q": ["a\x00b", "\x1b[31m", "x" * 201],
        "platform": ["whats\x00app", "p" * 33],
        "agent_id": ["\x00"],
    }
    for name, values in cases.items():
        for value in values:
            for path in ("/api/leads", "/api/leads.csv"):
                body = await assert_json_4xx(gw, 422, "GET", path, query_string={name: value})
                assert set(body["fields"]) == {name}, (path, name, value)
    await gw.api_json("GET", "/api/leads", query_string={"q": "é" * 200, "platform": "p" * 32})


async def test_json_bodies_that_are_not_utf8_or_json_are_400(gw: Gateway) -> None:
    bodies = [
        b'{"name": "\xff", "executor": {"kind": "demo"}}',
        b'\xef\xbb\xbf{"name": "bom"}',
        b'{"name": NaN, "executor": {"kind": "demo"}}',
        b'{"name": "x", "executor": {"kind": "http", "timeout_s": 1e400}}',
        b'{"name": ' + b"1" * 5000 + b"}",
        b'{"name": "x"',
        b"",
    ]
    for body in bodies:
        response = await assert_json_4xx(gw, 400, "POST", "/api/agents", data=body)
        assert response["error"].startswith("malformed JSON body"), body[:40]
    assert (await gw.api_json("GET", "/api/agents"))["items"] == []


async def test_json_nested_a_thousand_deep_is_400(gw: Gateway) -> None:
    agent = await gw.create_agent()
    deep_object = '{"a": ' * 1000 + "1" + "}" * 1000
    deep_array = "[" * 100_000 + "]" * 100_000
    nested_spec = json.dumps({"kind": "demo"})
    for _ in range(40):
        nested_spec = '{"kind": "demo", "x": ' + nested_spec + "}"
    bodies = [
        '{"name": "x", "executor": ' + deep_object + "}",
        '{"name": "x", "executor": ' + deep_array + "}",
        '{"name": "x", "executor": ' + nested_spec + "}",
    ]
    for body in bodies:
        for method, path in (
            ("POST", "/api/agents"),
            ("PUT", f"/api/agents/{agent}/channels/whatsapp"),
        ):
            response = await assert_json_4xx(gw, 400, method, path, data=body.encode())
            assert "nested deeper than 32 levels" in response["error"]
    fine = {"kind": "demo", "x": {"y": [[{"z": [1]}]]}}  # a few levels are fine
    response = await gw.api("POST", "/api/agents", json={"name": "ok", "executor": fine})
    assert response.status_code < 500


async def test_a_lone_surrogate_or_nul_anywhere_in_a_body_is_422_naming_the_field(
    gw: Gateway,
) -> None:
    agent = await gw.create_agent()
    cases = [
        ('{"name": "\\ud800", "executor": {"kind": "demo"}}', {"name"}),
        ('{"name": "a\\udfffb", "executor": {"kind": "demo"}}', {"name"}),
        ('{"name": "a\\u0000b", "executor": {"kind": "demo"}}', {"name"}),
        ('{"name": "x", "executor": {"kind": "demo", "note": ["\\ud83d"]}}', {"executor"}),
        ('{"name": "x", "executor": {"\\ud800": 1, "kind": "demo"}}', {"executor"}),
        ('{"\\ud800": "x", "name": "ok", "executor": {"kind": "demo"}}', {"body"}),
    ]
    for body, fields in cases:
        response = await assert_json_4xx(gw, 422, "POST", "/api/agents", data=body.encode())
        assert set(response["fields"]) == fields, body
    channel = '{"account_sid": "AC\\ud800", "auth_token": "t", "phone_number": "+14155238886"}'
    path = f"/api/agents/{agent}/channels/whatsapp"
    response = await assert_json_4xx(gw, 422, "PUT", path, data=channel.encode())
    assert set(response["fields"]) == {"account_sid"}
    # A real emoji (a surrogate pair in JSON) is text.
    created = await gw.api_json(
        "POST",
        "/api/agents",
        201,
        data=b'{"name": "Bot \\ud83d\\ude00", "executor": {"kind": "demo"}}',
    )
    assert created["name"] == "Bot \U0001f600"


async def test_a_session_id_that_no_session_can_have_is_404(gw: Gateway) -> None:
    agent = await gw.create_agent()
    for session_id in (
        f"twilio_{agent}_{PHONE}" + "9" * 300,
        "x" * 256,
        "x" * 10_000,
        "twilio_%00",
        "twilio_\x01_x",
    ):
        body = await assert_json_4xx(gw, 404, "GET", f"/api/sessions/{session_id}/messages")
        assert body == {"error": "session not found"}


# --- cursors on their own ---------------------------------------------------------------------


def test_cursors_round_trip_up_to_64_bits_and_nothing_else_decodes() -> None:
    for last_id in (1, 42, 2**31, MAX_ID):
        assert decode_cursor(encode_cursor(last_id)) == last_id
    for bad in (
        raw_cursor(f"lead:{MAX_ID + 1}"),
        raw_cursor("lead:" + "1" * 19 + "0"),
        raw_cursor("lead:01"),
        raw_cursor("lead:"),
        raw_cursor("lead:\uff11"),
        "ü",
        "=",
        "a" * 41,
    ):
        with pytest.raises(ValueError):
            decode_cursor(bad)
