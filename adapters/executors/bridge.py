"""The GraphExecutor bridge: runs an agent's executor spec (`http`, `python`, `openai`,
`langgraph_server`, `demo`) and knows which of its fields are secrets (see `secrets`)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import httpx

from ports.errors import ExecutorFailed
from ports.values import AgentRequest

from . import secrets
from .demo import demo_reply
from .egress import EgressPolicy
from .http_executor import UNREACHABLE, call_http, header_problem
from .langgraph_server import call_langgraph_server
from .openai_executor import call_openai
from .python_executor import (
    GATEWAY,
    MEMORY_MODES,
    TARGET_RE,
    PythonExecutor,
    agent_failure,
    propagate_cancellation,
    target_problems,
)

KINDS = ("http", "python", "openai", "langgraph_server", "demo")
# The kinds that dial a URL: their destinations go through the egress policy, and every
# failure of theirs reads the same (see http_executor.UNREACHABLE).
NETWORK_KINDS = ("http", "openai", "langgraph_server")
DEV_EGRESS = EgressPolicy()
MAX_TIMEOUT_S = 120.0
MAX_NAME_CHARS = 200
MAX_PROMPT_CHARS = 32000
MAX_SECRET_CHARS = 4096


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _url_problem(url: object, egress: EgressPolicy = DEV_EGRESS) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return "required: an http(s) URL"
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return egress.url_problem(url)


def validate_executor(
    spec: object,
    egress: EgressPolicy = DEV_EGRESS,
    python_allow: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """Field errors of an executor spec (`{}` when valid). Never imports python targets.

    `egress`: where URLs may point (checked again when connecting); `python_allow`: the
    module prefixes a python target may name (None: any, as in dev and test)."""
    if not isinstance(spec, dict):
        return {"executor": "must be an object"}
    errors: dict[str, str] = {}
    kind = spec.get("kind")
    if kind not in KINDS:
        errors["kind"] = "required: one of " + ", ".join(KINDS)
        return errors
    if "timeout_s" in spec:
        timeout = spec["timeout_s"]
        if not _is_number(timeout) or not 0 < timeout <= MAX_TIMEOUT_S:
            errors["timeout_s"] = f"must be a number greater than 0 and at most {MAX_TIMEOUT_S:g}"
    if "format" in spec and spec["format"] not in ("markdown", "plain"):
        errors["format"] = "must be 'markdown' (rendered for each channel) or 'plain'"
    if "max_concurrency" in spec:
        limit = spec["max_concurrency"]
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
            errors["max_concurrency"] = "must be a whole number from 1 to 10000"
    if kind == "http":
        problem = _url_problem(spec.get("url"), egress)
        if problem:
            errors["url"] = problem
        if "headers" in spec:
            headers = spec["headers"]
            if not isinstance(headers, dict):
                errors["headers"] = "must be an object of header names to string values"
            else:
                for name, value in headers.items():
                    problem = header_problem(name, value)
                    if problem:
                        errors["headers"] = problem
                        break
                if len({str(n).lower() for n in headers}) < len(headers):
                    errors.setdefault("headers", "a header name is given twice")
    elif kind == "python":
        target = spec.get("target")
        if not isinstance(target, str) or not TARGET_RE.match(target):
            errors["target"] = "required: 'module:attribute', e.g. 'my_agent.graph:graph'"
        if python_allow is not None and not python_allow:
            errors.update(target_problems("", python_allow))
        elif isinstance(target, str) and TARGET_RE.match(target):
            errors.update(target_problems(target, python_allow))
        if "memory" in spec and spec["memory"] not in MEMORY_MODES:
            errors["memory"] = "must be 'gateway' (history sent each time) or 'graph'"
    elif kind == "openai":
        if "base_url" in spec:
            problem = _url_problem(spec["base_url"], egress)
            if problem:
                errors["base_url"] = problem
        _text_field(spec, "model", errors, "required: the model name, e.g. 'gpt-4o-mini'")
        if spec.get("system_prompt") is not None:
            prompt = spec["system_prompt"]
            if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS:
                errors["system_prompt"] = f"must be text of at most {MAX_PROMPT_CHARS} characters"
        if spec.get("temperature") is not None:
            temperature = spec["temperature"]
            if not _is_number(temperature) or not 0 <= temperature <= 2:
                errors["temperature"] = "must be a number from 0 to 2"
        if spec.get("max_tokens") is not None:
            tokens = spec["max_tokens"]
            if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
                errors["max_tokens"] = "must be a whole number of at least 1"
    elif kind == "langgraph_server":
        problem = _url_problem(spec.get("url"), egress)
        if problem:
            errors["url"] = problem
        _text_field(spec, "assistant_id", errors, "required: the assistant id or graph name")
    if kind in secrets.API_KEY_KINDS and spec.get("api_key") is not None:
        key = spec["api_key"]
        if not isinstance(key, str) or not key or len(key) > MAX_SECRET_CHARS:
            errors["api_key"] = f"must be text of 1 to {MAX_SECRET_CHARS} characters"
        elif header_problem("X-Api-Key", key):  # it is sent in a header; never quoted
            errors["api_key"] = "must not contain control or non-ASCII characters"
    return errors


def _text_field(spec: Mapping[str, Any], name: str, errors: dict[str, str], why: str) -> None:
    value = spec.get(name)
    if not isinstance(value, str) or not value.strip():
        errors[name] = why
    elif len(value) > MAX_NAME_CHARS or any(ord(c) < 0x20 for c in value):
        errors[name] = f"must be at most {MAX_NAME_CHARS} characters, without control characters"


class GraphExecutorBridge:
    """AgentExecutor over every executor kind; any failure becomes ExecutorFailed.

    "Any" includes BaseException (agent code calling `sys.exit`, raising KeyboardInterrupt or
    its own CancelledError): nothing an agent does can stop the gateway. Only a real
    cancellation of the calling task (`cancelling() > 0`: shutdown) leaves as CancelledError.
    Reasons name the executor kind and an exception class, never the request or an error's
    message (which may quote the person's phone, name or text).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        default_timeout_s: float = 30.0,
        egress: EgressPolicy = DEV_EGRESS,
        python_allow: tuple[str, ...] | None = None,
    ) -> None:
        """`http` is the executors' own client (`egress.executor_client`, which checks each
        address it dials); `egress` and `python_allow` are also checked before every run, so
        a spec stored before a policy change cannot run outside it."""
        self._http = http
        self._default_timeout_s = default_timeout_s
        self._egress = egress
        self._python_allow = python_allow
        self._python = PythonExecutor(python_allow)

    def validate(self, executor: object) -> dict[str, str]:
        """Field errors of an executor spec (`{}` when valid); see `validate_executor`."""
        return validate_executor(executor, self._egress, self._python_allow)

    def split_secrets(self, executor: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        return secrets.split_secrets(executor)

    def join_secrets(self, public: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
        return secrets.join_secrets(public, values)

    def masked(self, public: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
        return secrets.masked(public, names)

    def keep_secrets(
        self, new: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return secrets.keep_secrets(new, current)

    def _timeout_of(self, executor: Mapping[str, Any]) -> float:
        timeout = executor.get("timeout_s")
        if _is_number(timeout) and timeout > 0:
            return float(timeout)
        return self._default_timeout_s

    async def run(self, executor: dict[str, Any], request: AgentRequest) -> str:
        if not isinstance(executor, Mapping):
            raise ExecutorFailed("executor spec is not an object")
        kind = executor.get("kind")
        if kind not in KINDS:
            raise ExecutorFailed("unknown executor kind")
        if kind in NETWORK_KINDS:
            refused = sorted(
                field
                for field, why in validate_executor(executor, self._egress).items()
                if field in ("url", "base_url", "headers")
            )
            if refused:  # stored before the policy changed: the spec, not the network
                raise ExecutorFailed(f"{kind} executor: spec refused ({', '.join(refused)})")
        timeout_s = self._timeout_of(executor)
        try:
            async with asyncio.timeout(timeout_s):
                reply = await self._dispatch(kind, executor, request, timeout_s)
        except BaseException as e:
            propagate_cancellation(e)  # shutdown: never swallowed, never an apology
            if kind in NETWORK_KINDS:  # one reason whatever the cause: no port probing
                raise ExecutorFailed(f"{kind} executor: {UNREACHABLE}") from None
            if isinstance(e, ExecutorFailed):
                raise
            if isinstance(e, TimeoutError):
                raise ExecutorFailed(f"{kind} executor timed out after {timeout_s:g}s") from e
            raise agent_failure(e, f"{kind} executor") from e
        if not isinstance(reply, str) or not reply.strip():
            if kind in NETWORK_KINDS:
                raise ExecutorFailed(f"{kind} executor: {UNREACHABLE}")
            raise ExecutorFailed(f"{kind} executor gave an empty reply")
        return reply

    async def _dispatch(
        self, kind: str, executor: Mapping[str, Any], request: AgentRequest, timeout_s: float
    ) -> str:
        if kind == "http":
            url = executor.get("url")
            if not isinstance(url, str) or not url:
                raise ExecutorFailed("http executor has no url")
            headers = executor.get("headers") or {}
            if not isinstance(headers, Mapping):
                raise ExecutorFailed("http executor: headers must be an object")
            return await call_http(self._http, url, headers, request, timeout_s)
        if kind == "python":
            target = executor.get("target")
            if not isinstance(target, str):
                raise ExecutorFailed("python executor has no target")
            memory = executor.get("memory", GATEWAY)
            return await self._python.run(target, request, memory)
        if kind == "openai":
            return await call_openai(self._http, executor, request, timeout_s)
        if kind == "langgraph_server":
            return await call_langgraph_server(self._http, executor, request, timeout_s)
        return demo_reply(request)
