"""Which fields of an executor spec are secrets, and how a spec is shown without them.

Secret fields (contract section 8): the `api_key` of the `openai` and `langgraph_server` kinds
and every header value of the `http` kind. They are named `api_key` and `header:<Name>`; the
core seals each one in the vault under that name, bound to the agent.

Shown to people, a spec carries `api_key_set: true|false` instead of its key, and each header
name with the value `***`. Sent back, `***` (or a field left out) means "keep the stored
value", but only for the same kind talking to the same server (scheme, host and port): a
stored secret is never handed to a server it was not typed in for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ports.errors import InvalidInput

MASK = "***"
API_KEY = "api_key"
API_KEY_SET = "api_key_set"
HEADER = "header:"
API_KEY_KINDS = ("openai", "langgraph_server")
OPENAI_BASE_URL = "https://api.openai.com/v1"


def _server_of(spec: Mapping[str, Any]) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of the server a spec's secrets are sent to, None if unreadable."""
    kind = spec.get("kind")
    url = spec.get("base_url", OPENAI_BASE_URL) if kind == "openai" else spec.get("url")
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def split_secrets(executor: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the spec without secret values, the values by field name). Masked values and the
    `api_key_set` flag a client echoed back are dropped: they are not secrets."""
    public = {k: v for k, v in executor.items() if k != API_KEY_SET}
    secrets: dict[str, str] = {}
    kind = public.get("kind")
    if kind == "http" and "headers" in public:
        headers = public.pop("headers")
        if isinstance(headers, Mapping):
            for name, value in headers.items():
                if isinstance(name, str) and isinstance(value, str) and value != MASK:
                    secrets[HEADER + name] = value
        else:  # not a header object: kept as it is, for validation to name
            public["headers"] = headers
    if kind in API_KEY_KINDS and API_KEY in public:
        key = public.pop(API_KEY)
        if isinstance(key, str) and key and key != MASK:
            secrets[API_KEY] = key
    return public, secrets


def join_secrets(public: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
    """The runnable spec: `public` with its secret values put back (header values after any
    header the public part still has)."""
    spec = {k: v for k, v in public.items() if k != API_KEY_SET}
    headers = {n.removeprefix(HEADER): v for n, v in secrets.items() if n.startswith(HEADER)}
    if headers:
        stored = spec.get("headers")
        spec["headers"] = {**(dict(stored) if isinstance(stored, Mapping) else {}), **headers}
    if API_KEY in secrets:
        spec[API_KEY] = secrets[API_KEY]
    return spec


def masked(public: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The spec as it may be shown: secret names, never values."""
    names = list(names)
    spec = {k: v for k, v in public.items() if k not in (API_KEY, API_KEY_SET)}
    kind = spec.get("kind")
    if kind == "http":
        headers = {n.removeprefix(HEADER): MASK for n in names if n.startswith(HEADER)}
        if headers or "headers" in spec:
            spec["headers"] = headers
    if kind in API_KEY_KINDS:
        spec[API_KEY_SET] = API_KEY in names
    return spec


def _stored_header(stored: Mapping[str, Any], name: str) -> str | None:
    if isinstance(stored.get(name), str):
        return str(stored[name])
    for other, value in stored.items():  # header names are case-insensitive
        if isinstance(other, str) and other.lower() == name.lower() and isinstance(value, str):
            return value
    return None


def keep_secrets(new: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """`new` with the secrets it leaves out or sends back as `***` taken from `current` (the
    runnable spec stored so far; None when creating). Raises InvalidInput."""
    spec = {k: v for k, v in new.items() if k != API_KEY_SET}
    kind = spec.get("kind")
    same_kind = current is not None and current.get("kind") == kind
    before: Mapping[str, Any] = current if current is not None and same_kind else {}
    errors: dict[str, str] = {}
    kept = False
    if kind == "http":
        stored = before.get("headers")
        stored = stored if isinstance(stored, Mapping) else {}
        headers = spec.get("headers")
        if "headers" not in spec:
            if stored:
                spec["headers"], kept = dict(stored), True
        elif isinstance(headers, Mapping):
            resolved: dict[Any, Any] = {}
            for name, value in headers.items():
                if value != MASK:
                    resolved[name] = value
                elif isinstance(name, str) and (found := _stored_header(stored, name)):
                    resolved[name], kept = found, True
                else:
                    errors["headers"] = (
                        f"header {name!r} has no stored value to keep: type its value"
                    )
            spec["headers"] = resolved
    elif kind in API_KEY_KINDS:
        key = spec.get(API_KEY)
        if API_KEY not in spec or key == MASK:
            stored_key = before.get(API_KEY)
            if isinstance(stored_key, str) and stored_key:
                spec[API_KEY], kept = stored_key, True
            elif key == MASK:
                errors[API_KEY] = "no key is stored to keep: type the key"
            else:
                spec.pop(API_KEY, None)
        elif key is None or key == "":  # explicitly none: the stored key is dropped
            spec.pop(API_KEY)
    if kept and current is not None and _server_of(spec) != _server_of(current):
        field = "headers" if kind == "http" else API_KEY
        errors[field] = (
            "the server changed: type the secret again (a stored secret is never sent to "
            "another server)"
        )
    if errors:
        raise InvalidInput(errors)
    return spec
