"""Executor kind `openai`: any OpenAI-compatible Chat Completions server (OpenAI, vLLM, Ollama,
LiteLLM).

`POST {base_url}/chat/completions` with `Authorization: Bearer {api_key}` when a key is set and
`{"model", "messages": [system prompt?] + history + [the new message], "temperature"?,
"max_tokens"?}`; the reply is `choices[0].message.content`.

Why httpx and not the `openai` SDK: the call is one POST with a small, stable JSON shape, and
the gateway needs it to behave like every other outbound call. Over the shared httpx client
it uses the service's one connection pool (sized for agents answering in parallel), the
executor's own timeout, and no retries: the SDK retries twice by default, which would triple
an LLM's latency on a timeout and can bill a completion twice. The SDK would also bring its
own client per base URL and key (one pool per agent) and error types whose messages quote the
server's answer (OpenAI's 401 body quotes part of the key), where our failures name a status
or an exception class only. An SDK client over our httpx client was considered; it keeps the
retry and error-message concerns and adds a dependency for no gain here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ports.errors import ExecutorFailed
from ports.values import USER, AgentRequest

from .http_executor import post_json
from .secrets import OPENAI_BASE_URL

WHAT = "openai executor"


def chat_messages(system_prompt: object, request: AgentRequest) -> list[dict[str, str]]:
    """System prompt (when set), the history window, then the new user message. The gateway's
    history holds user and assistant turns; any other role is sent as `assistant`."""
    messages: list[dict[str, str]] = []
    if isinstance(system_prompt, str) and system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt})
    for entry in request.history:
        role = USER if entry.role == USER else "assistant"
        messages.append({"role": role, "content": entry.content})
    messages.append({"role": USER, "content": request.message})
    return messages


def completion_body(spec: Mapping[str, Any], request: AgentRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": spec.get("model"),
        "messages": chat_messages(spec.get("system_prompt"), request),
    }
    for name in ("temperature", "max_tokens"):
        if spec.get(name) is not None:
            body[name] = spec[name]
    return body


def reply_of_completion(data: Any) -> str:
    """`choices[0].message.content` as text; ExecutorFailed for any other shape (a refusal,
    tool calls without text, an error object)."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise ExecutorFailed(f"{WHAT}: answer has no choices")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers answer with content parts
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        content = "".join(p for p in parts if isinstance(p, str)) if parts else None
    if not isinstance(content, str):
        raise ExecutorFailed(f"{WHAT}: first choice has no text content")
    if not content.strip():
        raise ExecutorFailed(f"{WHAT}: empty reply")
    return content


def completions_url(spec: Mapping[str, Any]) -> str:
    base = spec.get("base_url") or OPENAI_BASE_URL
    if not isinstance(base, str):
        raise ExecutorFailed(f"{WHAT}: base_url must be a URL")
    return base.rstrip("/") + "/chat/completions"


async def call_openai(
    client: httpx.AsyncClient, spec: Mapping[str, Any], request: AgentRequest, timeout_s: float
) -> str:
    model = spec.get("model")
    if not isinstance(model, str) or not model:
        raise ExecutorFailed(f"{WHAT} has no model")
    headers: dict[str, str] = {}
    api_key = spec.get("api_key")
    if isinstance(api_key, str) and api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = completion_body(spec, request)
    data = await post_json(client, completions_url(spec), body, headers, timeout_s, WHAT)
    return reply_of_completion(data)
