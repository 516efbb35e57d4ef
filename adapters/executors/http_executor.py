"""Executor kind `http`: POSTs the request JSON to the agent's URL and takes `{"reply": "..."}`.

Reasons given in ExecutorFailed never contain header values, the URL or the response body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from adapters import lean_http
from ports.errors import ExecutorFailed
from ports.values import AgentRequest

MAX_REPLY_BYTES = 1024 * 1024
# Set by the gateway (framing, routing, the connection itself), never by an executor spec: a
# `Host` of its choosing would send the request to another virtual host than the URL names.
FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
    | {"te", "trailer", "trailers"}
)
# Every failure to get a reply over the network reads the same, whatever its cause (refused,
# timed out, TLS, an HTTP status, an unreadable body): the log and the stored error must not
# tell an open port from a closed one.
UNREACHABLE = "no usable answer from the agent"


def header_problem(name: object, value: object) -> str | None:
    """Why a header cannot be sent (never quoting the value), or None when it is fine."""
    if not isinstance(name, str) or not isinstance(value, str):
        return "header names and values must be strings"
    if not name or not all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name):
        return f"invalid header name {name!r}"
    lowered = name.lower()
    if lowered in FORBIDDEN_HEADERS or lowered.startswith("proxy-"):
        return f"header {name!r} is not allowed: the gateway sets it"
    if not all(c == "\t" or " " <= c <= "~" for c in value):
        return f"header {name!r} has a value with control or non-ASCII characters"
    return None


def reply_from_json(data: Any) -> str:
    """The reply text of a `{"reply": "..."}` object; ExecutorFailed for any other shape."""
    if not isinstance(data, dict) or "reply" not in data:
        raise ExecutorFailed("reply has no 'reply' field")
    reply = data["reply"]
    if not isinstance(reply, str):
        raise ExecutorFailed("'reply' is not a string")
    return reply


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Any,
    headers: Mapping[str, str],
    timeout_s: float,
    what: str,
) -> Any:
    """POST `body` as JSON with the shared client and return the decoded JSON answer.

    Any failure (non-2xx, transport error, timeout, an answer over 1 MiB or not JSON) is the
    same ExecutorFailed, `{what}: {UNREACHABLE}`: never the URL, a header, the request, the
    answer, nor which of those causes it was."""
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem:
            raise ExecutorFailed(f"{what}: {problem}")
    try:
        answer = await lean_http.send(
            client, "POST", url, json=body, headers=headers, timeout=timeout_s,
            max_body=MAX_REPLY_BYTES,
        )  # fmt: skip
    except httpx.HTTPError:
        raise ExecutorFailed(f"{what}: {UNREACHABLE}") from None
    if not 200 <= answer.status_code < 300:
        raise ExecutorFailed(f"{what}: {UNREACHABLE}")
    try:
        return json.loads(answer.body)
    except ValueError:
        raise ExecutorFailed(f"{what}: {UNREACHABLE}") from None


async def call_http(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    request: AgentRequest,
    timeout_s: float,
) -> str:
    """POST `request.as_json()` to `url` with the shared client and return the reply text."""
    data = await post_json(client, url, request.as_json(), headers, timeout_s, "http executor")
    try:
        return reply_from_json(data)
    except ExecutorFailed:
        raise ExecutorFailed(f"http executor: {UNREACHABLE}") from None
