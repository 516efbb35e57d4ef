"""Executor kind `python`: runs an in-process agent named by a `module:attribute` target.

The target is either a graph with `ainvoke` (a LangGraph compiled graph) or a callable that
takes the request JSON and returns a string or `{"reply": ...}`. With `memory: "graph"` (a
graph compiled with a checkpointer, which keeps each `thread_id`'s messages itself) it gets
the new message only, with the same config (`thread_id` = the session id). A sync callable runs in a
worker thread so it cannot block the event loop (on a timeout the thread is abandoned, not
stopped).

Agent code can never stop the gateway: whatever it raises, `BaseException` included
(`SystemExit`, `KeyboardInterrupt`, `GeneratorExit`, a `CancelledError` of its own), becomes
ExecutorFailed naming the exception class only (never its message, which may quote the
request). Only a real cancellation of the calling task (shutdown, a timeout around the call)
propagates, as CancelledError.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from dataclasses import replace
from typing import Any

from ports.errors import ExecutorFailed
from ports.values import AgentRequest

from .http_executor import reply_from_json

GATEWAY = "gateway"  # memory: the gateway sends the history window with each message
GRAPH = "graph"  # memory: the graph's checkpointer remembers; only the new message is sent
MEMORY_MODES = (GATEWAY, GRAPH)
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
TARGET_RE = re.compile(rf"^({_DOTTED}):({_DOTTED})$")
PREFIX_RE = re.compile(rf"^{_DOTTED}$")


def module_allowed(module: str, allow: tuple[str, ...] | None) -> bool:
    """Whether `module` is under one of the `allow` prefixes, matched on whole dotted
    segments (`agents` allows `agents` and `agents.sales`, not `agentsx`); None allows all."""
    if allow is None:
        return True
    return any(module == prefix or module.startswith(prefix + ".") for prefix in allow)


def target_problems(target: str, allow: tuple[str, ...] | None) -> dict[str, str]:
    """Field errors of a well-formed target under the allowlist (`{}` when it may run)."""
    if allow is None:
        return {}
    if not allow:
        return {
            "kind": "the python kind is turned off here (PYTHON_EXECUTOR_ALLOW is empty): use "
            "an http, openai or langgraph_server agent, or ask the operator to allow its module"
        }
    module, _, attribute = target.partition(":")
    if not module_allowed(module, allow):
        return {"target": f"module {module!r} is not under a prefix of PYTHON_EXECUTOR_ALLOW"}
    if any(part.startswith("_") for part in attribute.split(".")):
        return {"target": "attributes starting with '_' are not allowed"}
    return {}


def _foreign(obj: Any, allow: tuple[str, ...] | None) -> bool:
    """A module, class or function defined outside the allowlist, reached through an
    allowed module (`agents.sales:os.system`, or `subprocess.getoutput` imported into it)."""
    if allow is None:
        return False
    if inspect.ismodule(obj):
        return not module_allowed(obj.__name__, allow)
    if inspect.isclass(obj) or inspect.isroutine(obj):
        module = getattr(obj, "__module__", None)
        return not isinstance(module, str) or not module_allowed(module, allow)
    return False


def being_cancelled() -> bool:
    """True while the running task has a cancellation requested (shutdown or a timeout)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def propagate_cancellation(error: BaseException) -> None:
    """Raise CancelledError when the running task is really being cancelled (shutdown, or a
    timeout around the call), whatever the agent turned the cancellation into."""
    if being_cancelled():
        if isinstance(error, asyncio.CancelledError):
            raise error
        raise asyncio.CancelledError() from error


def agent_failure(error: BaseException, what: str) -> ExecutorFailed:
    """The ExecutorFailed for agent code that raised `error`, naming its class only; during a
    real cancellation the cancellation propagates instead (see `propagate_cancellation`)."""
    propagate_cancellation(error)
    return ExecutorFailed(f"{what} raised {type(error).__name__}")


def _is_async_callable(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    # A callable instance whose __call__ is `async def`.
    return callable(obj) and inspect.iscoroutinefunction(type(obj).__call__)


def content_text(content: Any) -> str:
    """A message's content as text: a string, or the text blocks of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
        if parts:
            return "".join(parts)
    raise ExecutorFailed("python executor: last message content is not text")


def _reply_of_graph_result(result: Any) -> str:
    messages = result.get("messages") if isinstance(result, dict) else None
    if not isinstance(messages, list | tuple) or not messages:
        raise ExecutorFailed("python executor: graph result has no messages")
    last = messages[-1]
    if isinstance(last, dict):
        if "content" not in last:
            raise ExecutorFailed("python executor: last message has no content")
        content = last["content"]
    elif hasattr(last, "content"):
        content = last.content
    else:
        raise ExecutorFailed("python executor: last message has no content")
    return content_text(content)


class PythonExecutor:
    """Resolves targets once (cached) and calls them. `allow` (PYTHON_EXECUTOR_ALLOW in
    prod): the module prefixes a target may name, None for any; an empty tuple refuses all.
    Under an allowlist, the path to the target may not pass through (or end at) a module,
    class or function defined outside it, nor through an attribute starting with `_`."""

    def __init__(self, allow: tuple[str, ...] | None = None) -> None:
        self._resolved: dict[str, Any] = {}
        self._allow = allow

    def resolve(self, target: str) -> Any:
        """The object `module:attribute` names; ExecutorFailed when it cannot be imported."""
        if target in self._resolved:
            return self._resolved[target]
        match = TARGET_RE.match(target) if isinstance(target, str) else None
        if match is None:
            raise ExecutorFailed("python executor: target must look like 'module:attribute'")
        problems = target_problems(target, self._allow)
        if problems:
            raise ExecutorFailed("python executor: target not allowed (PYTHON_EXECUTOR_ALLOW)")
        module_name, attribute = match.groups()
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as e:
            raise ExecutorFailed(f"python executor: cannot import {module_name!r}") from e
        except BaseException as e:  # module code ran: SystemExit at import must not stop us
            raise agent_failure(e, f"python executor: importing {module_name!r}") from e
        for part in attribute.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError as e:
                raise ExecutorFailed(
                    f"python executor: {module_name!r} has no attribute {attribute!r}"
                ) from e
            if _foreign(obj, self._allow):
                raise ExecutorFailed("python executor: target not allowed (PYTHON_EXECUTOR_ALLOW)")
        if not hasattr(obj, "ainvoke") and not callable(obj):
            raise ExecutorFailed("python executor: target is neither a graph nor callable")
        self._resolved[target] = obj
        return obj

    async def run(self, target: str, request: AgentRequest, memory: str = GATEWAY) -> str:
        """`memory="graph"`: the agent keeps its own memory (a graph compiled with a
        checkpointer, per `thread_id`), so it gets the new message only, no history."""
        obj = self.resolve(target)
        is_graph = hasattr(obj, "ainvoke")
        if memory == GRAPH:
            request = replace(request, history=())
        # The agent runs in a task of its own whose outermost coroutine is the guard: a
        # GeneratorExit that reaches an await as a future's exception is thrown into the
        # task's outermost coroutine, skipping the frames in between; here that is the guard,
        # never the worker. Cancelling the caller cancels this task too.
        result = await asyncio.create_task(self._guarded_call(obj, is_graph, request))
        if is_graph:
            return _reply_of_graph_result(result)
        if isinstance(result, str):
            return result
        try:
            return reply_from_json(result)
        except ExecutorFailed as e:
            raise ExecutorFailed(f"python executor: {e}") from None

    async def _guarded_call(self, obj: Any, is_graph: bool, request: AgentRequest) -> Any:
        try:
            return await self._call(obj, is_graph, request)
        except BaseException as e:  # agent code: anything it raises, even SystemExit
            raise agent_failure(e, "python executor") from e

    async def _call(self, obj: Any, is_graph: bool, request: AgentRequest) -> Any:
        """Runs the agent: the graph's `ainvoke`, an async callable, or a sync one in a thread."""
        payload = request.as_json()
        if is_graph:
            state = {
                "messages": [
                    *({"role": h.role, "content": h.content} for h in request.history),
                    {"role": "user", "content": request.message},
                ]
            }
            config = {"configurable": {"thread_id": request.session_id, "lead": payload["lead"]}}
            return await obj.ainvoke(state, config=config)
        if _is_async_callable(obj):
            return await obj(payload)
        result = await asyncio.to_thread(obj, payload)
        if inspect.isawaitable(result):
            result = await result
        return result
