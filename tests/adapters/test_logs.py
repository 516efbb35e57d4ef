"""Log redaction, checked on the JSON lines the service really writes.

Logging is configured exactly as `python -m app` does (`configure_logging(json=True)`) and
the stream its handler writes to is captured: what these tests read is what reaches stderr.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from adapters.observability.logs import bind, clear, configure_logging

TWILIO_TOKEN = "f00dfacecafe5ec7e7a0be1d5a1f7e5b"  # 32 hex, like a real auth token
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
BASIC = base64.b64encode(f"{ACCOUNT_SID}:{TWILIO_TOKEN}".encode()).decode()
BOT_TOKEN = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
OPENAI_KEY = "sk-proj-Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1"
ADMIN_KEY = "gw_Ab12Cd34Ef56Gh78Ij90Kl"
BEARER = "eyJhbGciOiJIUzI1NiJ9.payload.signature"
PASSWORD = "correct horse"  # no secret shape at all: only its field name gives it away
HEADER_VALUE = "custom-header-secret"
SECRETS = (TWILIO_TOKEN, BASIC, BOT_TOKEN, OPENAI_KEY, ADMIN_KEY, BEARER, HEADER_VALUE)

Lines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lines]:
    """Logging as the service configures it, writing into a buffer; the parsed lines."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    quieted = ("httpx", "tortoise", "procrastinate")
    saved_levels = {name: logging.getLogger(name).level for name in quieted}
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)

    configure_logging(level="DEBUG", json=True)

    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler) and handler.stream is stream

    def parsed() -> list[dict[str, Any]]:
        raw = stream.getvalue()
        assert raw, "nothing was logged"
        for secret in (*SECRETS, PASSWORD):
            assert secret not in raw
        return [json.loads(line) for line in raw.splitlines()]

    try:
        yield parsed
    finally:
        clear()
        structlog.reset_defaults()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def test_secrets_in_standard_library_messages_are_redacted(lines: Lines) -> None:
    log = logging.getLogger("adapters.test")
    log.warning("twilio token %s, header Basic %s", TWILIO_TOKEN, BASIC)
    log.warning("GET https://api.telegram.org/bot%s/getMe -> 401", BOT_TOKEN)
    log.warning("telegram token %s refused", BOT_TOKEN)
    log.warning("sent Authorization: Bearer %s and api key %s", BEARER, OPENAI_KEY)
    log.warning(
        "admin key %s; url https://%s:%s@api.twilio.com/", ADMIN_KEY, ACCOUNT_SID, TWILIO_TOKEN
    )
    log.warning("form auth_token=%s&password=%s", "s3cr3t-value", "hunter2")

    events = [line["event"] for line in lines()]

    assert events[0] == "twilio token [redacted], header Basic [redacted]"
    assert events[1] == "GET https://api.telegram.org/bot[redacted]/getMe -> 401"
    assert events[2] == "telegram token [redacted] refused"
    assert events[3] == "sent Authorization: [redacted] and api key [redacted]"
    assert events[4].startswith("admin key [redacted]; url https://" + ACCOUNT_SID + ":[redacted]@")
    assert events[5] == "form auth_token=[redacted]&password=[redacted]"
    assert all(line["level"] == "warning" for line in lines())


def test_secrets_in_bound_and_nested_fields_are_redacted_by_name_and_shape(lines: Lines) -> None:
    log = structlog.get_logger("adapters.test")
    bind(auth_token=TWILIO_TOKEN)
    log.info(
        "channel saved",
        password=PASSWORD,
        api_key=OPENAI_KEY,
        bot_token=BOT_TOKEN,
        secret="lead-webhook-secret",
        headers={"Authorization": f"Bearer {BEARER}", "X-Custom": HEADER_VALUE},
        executor={"kind": "http", "url": "https://agent.example/x", "headers": {"X-Key": "v"}},
        settings={"account_sid": ACCOUNT_SID, "authToken": TWILIO_TOKEN, "enabled": True},
        note=f"the token is {TWILIO_TOKEN}",
        auth_token_set=True,
    )

    [line] = lines()

    assert line["auth_token"] == "[redacted]"
    assert line["password"] == "[redacted]"
    assert line["api_key"] == "[redacted]"
    assert line["bot_token"] == "[redacted]"
    assert line["secret"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "X-Custom": "[redacted]"}
    assert line["executor"] == {
        "kind": "http",
        "url": "https://agent.example/x",
        "headers": {"X-Key": "[redacted]"},
    }
    assert line["settings"] == {
        "account_sid": ACCOUNT_SID,
        "authToken": "[redacted]",
        "enabled": True,
    }
    assert line["note"] == "the token is [redacted]"
    assert line["auth_token_set"] is True


@pytest.mark.parametrize("via", ["stdlib", "structlog"])
def test_secrets_in_exception_tracebacks_are_redacted(lines: Lines, via: str) -> None:
    try:
        try:
            raise ConnectionError(f"https://{ACCOUNT_SID}:{TWILIO_TOKEN}@api.twilio.com refused")
        except ConnectionError as inner:
            raise RuntimeError(f"Authorization: Basic {BASIC}; bot {BOT_TOKEN}") from inner
    except RuntimeError:
        if via == "stdlib":
            logging.getLogger("adapters.test").exception("send failed")
        else:
            structlog.get_logger("adapters.test").exception("send failed")

    [line] = lines()

    assert line["event"] == "send failed"
    trace = line["exception"]
    assert "Traceback (most recent call last)" in trace
    assert "ConnectionError" in trace and "RuntimeError" in trace
    assert f"{ACCOUNT_SID}:[redacted]@api.twilio.com" in trace
    assert "[redacted]" in trace


def test_ids_stay_readable(lines: Lines) -> None:
    request_id = uuid.uuid4().hex  # what app.py binds: 32 hex, the shape of a Twilio token
    agent_id = str(uuid.uuid4())
    session_id = f"twilio_{agent_id}_+14155550100"
    message_sid = "SM" + uuid.uuid4().hex
    lead_id = uuid.uuid4().hex
    bind(request_id=request_id, agent_id=agent_id, session_id=session_id)
    log = logging.getLogger("adapters.test")
    log.info("request %s: agent %s answered %s", request_id, agent_id, message_sid)
    structlog.get_logger("adapters.test").info(
        "lead created", lead_id=lead_id, message_sid=message_sid, account_sid=ACCOUNT_SID
    )

    first, second = lines()

    for line in (first, second):
        assert line["request_id"] == request_id
        assert line["agent_id"] == agent_id
        assert line["session_id"] == session_id
    assert first["event"] == f"request {request_id}: agent {agent_id} answered {message_sid}"
    assert second["lead_id"] == lead_id
    assert second["message_sid"] == message_sid
    assert second["account_sid"] == ACCOUNT_SID


def test_a_token_shaped_value_outside_an_id_field_is_still_hidden(lines: Lines) -> None:
    request_id = uuid.uuid4().hex
    bind(request_id=request_id)
    logging.getLogger("adapters.test").warning("token %s", TWILIO_TOKEN)

    [line] = lines()

    assert line["request_id"] == request_id
    assert line["event"] == "token [redacted]"


def test_every_line_is_json_with_level_logger_and_timestamp(lines: Lines) -> None:
    logging.getLogger("hypercorn.error").info("Running on http://127.0.0.1:8000")
    structlog.get_logger("adapters.test").warning("plain")

    for line in lines():
        assert {"event", "level", "logger", "timestamp"} <= set(line)
