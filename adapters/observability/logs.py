"""JSON logs through structlog, with request/agent/message/session ids and secret redaction.

The standard library's loggers (ours, Hypercorn's, Tortoise's, Twilio's) go through the same
processors, so every line is JSON and every line is redacted.

Redaction works two ways, and never hides an id:
- by field name: the value of a field called like a secret (`auth_token`, `token`, `api_key`,
  `secret`, `password`, `authorization`, `bot_token`, `cookie`, `signature`, ...), and every
  value of a `headers` field, is replaced whole, at any depth of nested dicts and lists; in
  free text, `name=value` / `"name": "value"` pairs with such a name lose their value;
- by the shape of known secret values, wherever they appear (messages, fields, tracebacks):
  admin API keys (`gw_...`), Twilio auth tokens (32 hex digits standing alone), HTTP
  Basic/Bearer credentials, chat bot tokens (`123456:AA...`, also inside
  `/bot<token>/sendMessage` URLs), OpenAI-style keys (`sk-...`) and vault ciphertexts.
Ids stay readable: uuids (with dashes) and Twilio sids (`SM`/`AC` + hex) do not have those
shapes, and a field named like an id (`request_id`, `session_id`, `message_sid`, `agent_id`,
`id`, ...) is exempt from the 32-hex rule, as is its value wherever else it appears on the
same line (a `request_id` of `uuid4().hex` is 32 hex digits too).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Field names (normalised: camelCase split, lower case, `-`/`.`/spaces as `_`) whose values
# are secrets. `auth_token`, `bot_token`, `secret_token`, `x_api_key`, `set_cookie`, ...
SENSITIVE_KEYS = re.compile(
    r"(?:^|_)(?:token|secret|password|passwd|passphrase|authorization|api_?key|apikey|cookie"
    r"|signature|credentials?|private_?key|vault(?:_keys?)?)(?:_|$)"
)
# Fields whose every value is a secret (an `http` executor's header values, for instance).
HEADER_KEYS = re.compile(r"(?:^|_)headers?$")
# Fields that hold ids: never hidden by the 32-hex rule, nor is their value elsewhere on a line.
ID_KEYS = re.compile(r"(?:^|_)(?:id|ids|sid|sids|uuid)$")

_NAME = r"(?:auth_?token|token|secret|password|passwd|api[_-]?key|apikey|authorization|cookie)"
_STOP = r"[^\s\"'&,;)}\]]"
_HEX32 = r"(?<![A-Za-z0-9_])[0-9a-fA-F]{32}(?![A-Za-z0-9_])"
SENSITIVE_TEXT = re.compile(
    # `auth_token=...`, `"api_key": "..."`, `Authorization: Bearer ...`: the value goes.
    rf"(?P<named>(?<![A-Za-z0-9_])(?i:(?:[A-Za-z0-9]+[_-])*{_NAME})(?![A-Za-z0-9_])"
    rf"[\"']?\s*[:=]\s*[\"']?)(?P<value>(?i:(?:basic|bearer)\s+)?{_STOP}+)"
    # HTTP Basic / Bearer credentials.
    r"|(?P<scheme>(?i:\b(?:basic|bearer)\s+))[A-Za-z0-9+/=._~-]{8,}"
    # Bot API tokens, standalone or in `/bot<token>/method` URLs.
    r"|(?:(?<=bot)|(?<![A-Za-z0-9_]))\d{1,20}(?::|%3[Aa])[A-Za-z0-9_-]{30,}"
    # Admin API keys, OpenAI-style keys, vault ciphertexts.
    r"|gw_[A-Za-z0-9_-]{16,}"
    r"|(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"
    r"|v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]+"
    # Twilio auth tokens: 32 hex digits standing alone (not a sid's tail, not a uuid's parts).
    rf"|(?P<hex>{_HEX32})"
)
_HEX32_RE = re.compile(_HEX32)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
# Entries of structlog's ProcessorFormatter that are not rendered and must stay as they are.
_META_KEYS = frozenset({"_record", "_from_structlog", "exc_info"})
_MAX_DEPTH = 12


def _normal(key: object) -> str:
    text = _CAMEL.sub("_", str(key))
    return _NOT_WORD.sub("_", text.lower()).strip("_")


def redact_text(text: str, keep: frozenset[str] | set[str] = frozenset()) -> str:
    """`text` with every secret-looking value replaced by `[redacted]`; 32-hex ids in `keep`
    stay as they are."""

    def replace(match: re.Match[str]) -> str:
        if match.group("named") is not None:
            return match.group("named") + REDACTED
        if match.group("scheme") is not None:
            return match.group("scheme") + REDACTED
        if match.group("hex") is not None and match.group("hex") in keep:
            return match.group(0)
        return REDACTED

    return SENSITIVE_TEXT.sub(replace, text)


def _ids_in(value: str) -> set[str]:
    return set(_HEX32_RE.findall(value))


def _mask_all(value: Any) -> Any:
    """Every value of a headers field hidden, the header names kept."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {redact_text(str(k)): REDACTED for k in value}
    if isinstance(value, list | tuple) and all(
        isinstance(item, list | tuple) and len(item) == 2 for item in value
    ):
        return [[redact_text(str(item[0])), REDACTED] for item in value]
    return REDACTED


def _clean_field(key: object, value: Any, keep: set[str], depth: int) -> Any:
    name = _normal(key)
    if SENSITIVE_KEYS.search(name):
        return value if value is None or isinstance(value, bool) else REDACTED
    if HEADER_KEYS.search(name):
        return _mask_all(value)
    if ID_KEYS.search(name) and isinstance(value, str):
        return redact_text(value, keep | _ids_in(value))
    return _clean_value(value, keep, depth)


def _clean_value(value: Any, keep: set[str], depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value, keep)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            (redact_text(k, keep) if isinstance(k, str) else k): _clean_field(k, v, keep, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean_value(item, keep, depth + 1) for item in value]
    return redact_text(repr(value), keep)  # what the JSON renderer would print, redacted


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: hides secrets by field name and by value shape, keeps ids."""
    keep: set[str] = set()
    for key, value in event.items():
        if isinstance(value, str) and ID_KEYS.search(_normal(key)):
            keep |= _ids_in(value)
    for key, value in list(event.items()):
        if key not in _META_KEYS:
            event[key] = _clean_field(key, value, keep, 0)
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
