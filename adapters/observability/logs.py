"""JSON logs through structlog, with request/agent/message/session ids and secret redaction.

The standard library's loggers (ours, Hypercorn's, Tortoise's, Twilio's) go through the same
processors, so every line is JSON and every line is redacted.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE_KEYS = re.compile(r"token|secret|password|authorization|api_key|vault|signature", re.I)
# Admin API keys, Twilio auth tokens (32 hex, standalone), HTTP Basic/Bearer credentials and
# vault ciphertexts never reach a log line, whichever message or field carries them.
SENSITIVE_TEXT = re.compile(
    r"gw_[A-Za-z0-9_-]{16,}"
    r"|(?<![A-Za-z0-9])[0-9a-fA-F]{32}(?![A-Za-z0-9])"
    r"|(?i:(?:basic|bearer)\s+)[A-Za-z0-9+/=._-]{8,}"
    r"|v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]+"
)
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    return SENSITIVE_TEXT.sub(REDACTED, text)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: masks sensitive keys and sensitive-looking values."""
    for key, value in list(event.items()):
        if SENSITIVE_KEYS.search(key):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer,
        ])
    )  # fmt: skip
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every URL at INFO (phone numbers in Twilio look-ups): keep it at WARNING.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)  # a few INFO lines per job


def bind(**values: str) -> None:
    """Add ids (request_id, agent_id, message_sid, session_id) to this task's log lines."""
    structlog.contextvars.bind_contextvars(**values)


def clear() -> None:
    structlog.contextvars.clear_contextvars()
