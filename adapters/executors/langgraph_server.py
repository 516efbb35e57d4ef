"""Executor kind `langgraph_server`: a graph deployed on a LangGraph server (Agent Server API).

`POST {url}/threads/{thread_id}/runs/wait` with `{"assistant_id", "input": {"messages":
[{"role": "user", "content": message}]}, "if_not_exists": "create"}` and `X-Api-Key` when a
key is set. The thread id is the UUID5 of the session id in the URL namespace, so each
conversation is one server thread (created on its first run) and the server's checkpointer
keeps its memory: only the new message is sent.

The answer of `runs/wait` is the thread's state values once the run ends, e.g.
`{"messages": [{"type": "human", ...}, {"type": "ai", "content": "...", ...}]}`; the reply is
the content of the last entry of `messages`. A run that failed still answers 200, with
`{"__error__": {"error": ..., "message": ...}}`; a run that ended on an interrupt (or without
adding anything) leaves the person's own message last. Both are failures, as are non-2xx
answers. While it waits the server may send whitespace to keep the connection open, which
JSON decoding skips.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from ports.errors import ExecutorFailed
from ports.values import AgentRequest

from .http_executor import post_json
from .python_executor import content_text

WHAT = "langgraph_server executor"
_HUMAN = ("human", "user")


def thread_id_of(session_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, session_id))


def run_body(spec: Mapping[str, Any], request: AgentRequest) -> dict[str, Any]:
    return {
        "assistant_id": spec.get("assistant_id"),
        "input": {"messages": [{"role": "user", "content": request.message}]},
        "if_not_exists": "create",
    }


def reply_of_state(data: Any) -> str:
    if not isinstance(data, dict):
        raise ExecutorFailed(f"{WHAT}: answer is not an object")
    if "__error__" in data:
        error = data["__error__"]
        name = error.get("error") if isinstance(error, dict) else None
        label = name if isinstance(name, str) and name.isidentifier() else "an error"
        raise ExecutorFailed(f"{WHAT}: the run ended with {label}")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ExecutorFailed(f"{WHAT}: answer has no messages")
    last = messages[-1]
    if not isinstance(last, dict) or "content" not in last:
        raise ExecutorFailed(f"{WHAT}: last message has no content")
    if last.get("type") in _HUMAN or last.get("role") in _HUMAN:
        raise ExecutorFailed(f"{WHAT}: the run added no reply")
    try:
        return content_text(last["content"])
    except ExecutorFailed:
        raise ExecutorFailed(f"{WHAT}: last message content is not text") from None


def runs_wait_url(spec: Mapping[str, Any], session_id: str) -> str:
    url = spec.get("url")
    if not isinstance(url, str) or not url:
        raise ExecutorFailed(f"{WHAT} has no url")
    return f"{url.rstrip('/')}/threads/{thread_id_of(session_id)}/runs/wait"


async def call_langgraph_server(
    client: httpx.AsyncClient, spec: Mapping[str, Any], request: AgentRequest, timeout_s: float
) -> str:
    if not isinstance(spec.get("assistant_id"), str) or not spec["assistant_id"]:
        raise ExecutorFailed(f"{WHAT} has no assistant_id")
    headers: dict[str, str] = {}
    api_key = spec.get("api_key")
    if isinstance(api_key, str) and api_key:
        headers["X-Api-Key"] = api_key
    url = runs_wait_url(spec, request.session_id)
    data = await post_json(client, url, run_body(spec, request), headers, timeout_s, WHAT)
    return reply_of_state(data)
