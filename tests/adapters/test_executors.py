"""The GraphExecutor bridge: http, python and demo executors, timeouts and spec validation."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import threading
import time
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from adapters.executors.bridge import GraphExecutorBridge, validate_executor
from adapters.executors.demo import demo_reply
from ports.driven import AgentExecutor
from ports.errors import ExecutorFailed
from ports.values import AgentRequest, HistoryEntry

URL = "https://agent.example.com/reply"
SECRET = "Bearer sekret"


def make_request(
    message: str = "hello",
    history: tuple[HistoryEntry, ...] = (),
    name: str | None = "Ana",
) -> AgentRequest:
    return AgentRequest(
        agent_id="agent-1",
        session_id="twilio_agent-1_+14155550100",
        message=message,
        history=history,
        lead_contact="+14155550100",
        lead_name=name,
        platform="whatsapp",
        lead_phone="+14155550100",
    )


HISTORY = (
    HistoryEntry("user", "first question"),
    HistoryEntry("assistant", "first answer"),
    HistoryEntry("user", "second question"),
    HistoryEntry("assistant", "second answer"),
)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def bridge(http: httpx.AsyncClient) -> GraphExecutorBridge:
    return GraphExecutorBridge(http, default_timeout_s=2.0)


def http_spec(**extra: Any) -> dict[str, Any]:
    return {"kind": "http", "url": URL, "headers": {"Authorization": SECRET}, **extra}


async def failure(bridge: GraphExecutorBridge, spec: dict[str, Any], request: AgentRequest) -> str:
    with pytest.raises(ExecutorFailed) as info:
        await bridge.run(spec, request)
    reason = str(info.value)
    assert reason
    assert "sekret" not in reason
    return reason


def test_bridge_satisfies_the_port(bridge: GraphExecutorBridge) -> None:
    executor: AgentExecutor = bridge
    assert executor.validate({"kind": "demo"}) == {}
    assert executor.validate({"kind": "python"}) == validate_executor({"kind": "python"})
    assert "target" in executor.validate({"kind": "python"})


# --- http -------------------------------------------------------------------------------------


@respx.mock
async def test_http_posts_the_exact_request_json_with_headers(
    bridge: GraphExecutorBridge,
) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, json={"reply": "hi Ana"}))
    request = make_request(history=HISTORY)

    reply = await bridge.run(http_spec(headers={"Authorization": SECRET, "X-Agent": "a1"}), request)

    assert reply == "hi Ana"
    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.method == "POST"
    assert sent.headers["Authorization"] == SECRET
    assert sent.headers["X-Agent"] == "a1"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content) == {
        "agent_id": "agent-1",
        "session_id": "twilio_agent-1_+14155550100",
        "message": "hello",
        "history": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
            {"role": "assistant", "content": "second answer"},
        ],
        "lead": {
            "phone": "+14155550100",
            "contact": "+14155550100",
            "name": "Ana",
            "platform": "whatsapp",
        },
    }


@respx.mock
async def test_http_without_headers_and_null_name(bridge: GraphExecutorBridge) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(201, json={"reply": "ok"}))

    assert await bridge.run({"kind": "http", "url": URL}, make_request(name=None)) == "ok"

    body = json.loads(route.calls.last.request.content)
    assert body["lead"] == {
        "phone": "+14155550100",
        "contact": "+14155550100",
        "name": None,
        "platform": "whatsapp",
    }
    assert body["history"] == []
    assert "Authorization" not in route.calls.last.request.headers


@respx.mock
async def test_http_uses_the_shared_client(
    bridge: GraphExecutorBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json={"reply": "ok"}))

    def no_new_clients(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a new httpx client was created")

    monkeypatch.setattr(httpx.AsyncClient, "__init__", no_new_clients)
    for _ in range(3):
        assert await bridge.run(http_spec(), make_request()) == "ok"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"reply": "oops"}),
        httpx.Response(404),
        httpx.Response(302, headers={"Location": "https://elsewhere.example.com/"}),
        httpx.Response(200, text="not json at all"),
        httpx.Response(200, json={"answer": "hi"}),
        httpx.Response(200, json={"reply": 42}),
        httpx.Response(200, json={"reply": None}),
        httpx.Response(200, json={"reply": ""}),
        httpx.Response(200, json={"reply": "   "}),
        httpx.Response(200, json=["reply"]),
        httpx.Response(200, json="just a string"),
    ],
)
@respx.mock
async def test_http_bad_replies_fail(bridge: GraphExecutorBridge, response: httpx.Response) -> None:
    respx.post(URL).mock(return_value=response)
    await failure(bridge, http_spec(), make_request())


@respx.mock
async def test_http_500_reason_is_the_one_generic_reason(bridge: GraphExecutorBridge) -> None:
    # Every failure to reach an agent reads the same (issue 13): no port probing.
    respx.post(URL).mock(return_value=httpx.Response(500, text=f"echo {SECRET}"))
    reason = await failure(bridge, http_spec(), make_request())
    assert reason == "http executor: no usable answer from the agent"


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ConnectError(f"cannot connect, header was {SECRET}"),
        httpx.RemoteProtocolError("server hung up"),
        RuntimeError(f"unexpected {SECRET}"),
    ],
)
@respx.mock
async def test_http_transport_errors_fail(bridge: GraphExecutorBridge, error: Exception) -> None:
    respx.post(URL).mock(side_effect=error)
    reason = await failure(bridge, http_spec(), make_request())
    assert reason == "http executor: no usable answer from the agent"


@respx.mock
async def test_http_slow_response_times_out(bridge: GraphExecutorBridge) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"reply": "too late"})

    respx.post(URL).mock(side_effect=slow)
    started = time.monotonic()
    reason = await failure(bridge, http_spec(timeout_s=0.05), make_request())
    assert time.monotonic() - started < 1.0
    assert reason == "http executor: no usable answer from the agent"


@respx.mock
async def test_http_default_timeout_applies(http: httpx.AsyncClient) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"reply": "too late"})

    respx.post(URL).mock(side_effect=slow)
    bridge = GraphExecutorBridge(http, default_timeout_s=0.05)
    started = time.monotonic()
    await failure(bridge, http_spec(), make_request())
    assert time.monotonic() - started < 1.0


@respx.mock
async def test_http_oversized_reply_fails(bridge: GraphExecutorBridge) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json={"reply": "x" * 2_000_000}))
    await failure(bridge, http_spec(), make_request())


@respx.mock
async def test_http_bad_header_value_fails_without_leaking_it(bridge: GraphExecutorBridge) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, json={"reply": "ok"}))
    spec = http_spec(headers={"Authorization": SECRET + "\r\nX-Evil: 1"})
    await failure(bridge, spec, make_request())
    spec = http_spec(headers={"Authorization": SECRET + "é"})
    await failure(bridge, spec, make_request())
    assert route.call_count == 0


async def test_http_missing_url_fails(bridge: GraphExecutorBridge) -> None:
    await failure(bridge, {"kind": "http", "headers": {"Authorization": SECRET}}, make_request())


# --- python -----------------------------------------------------------------------------------


class Message:
    def __init__(self, content: Any) -> None:
        self.content = content


class RecordingGraph:
    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.calls: list[tuple[dict[str, Any], dict[str, Any] | None]] = []

    async def ainvoke(
        self, state: dict[str, Any], config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        self.calls.append((state, config))
        return {"messages": [*state["messages"], self.reply]}


class HangingGraph:
    async def ainvoke(self, state: dict[str, Any], config: dict[str, Any] | None = None) -> Any:
        await asyncio.sleep(10)


class AsyncCallableInstance:
    async def __call__(self, payload: dict[str, Any]) -> str:
        return f"instance got {payload['message']}"


@pytest.fixture
def agents(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A throwaway module of agents, importable as `fake_agents`."""
    module = types.ModuleType("fake_agents")
    monkeypatch.setitem(sys.modules, "fake_agents", module)
    return module


def py(target: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "python", "target": target, **extra}


async def test_python_graph_gets_messages_and_config(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    graph = RecordingGraph({"role": "assistant", "content": "graph says hi"})
    agents.graph = graph

    reply = await bridge.run(py("fake_agents:graph"), make_request(history=HISTORY))

    assert reply == "graph says hi"
    state, config = graph.calls[0]
    assert state == {
        "messages": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
            {"role": "assistant", "content": "second answer"},
            {"role": "user", "content": "hello"},
        ]
    }
    assert config == {
        "configurable": {
            "thread_id": "twilio_agent-1_+14155550100",
            "lead": {
                "phone": "+14155550100",
                "contact": "+14155550100",
                "name": "Ana",
                "platform": "whatsapp",
            },
        }
    }


async def test_python_graph_message_objects(bridge: GraphExecutorBridge, agents: Any) -> None:
    agents.graph = RecordingGraph(Message("object reply"))
    assert await bridge.run(py("fake_agents:graph"), make_request()) == "object reply"


async def test_python_graph_content_blocks(bridge: GraphExecutorBridge, agents: Any) -> None:
    blocks = [{"type": "text", "text": "part one, "}, {"type": "tool_use"}, "part two"]
    agents.graph = RecordingGraph(Message(blocks))
    assert await bridge.run(py("fake_agents:graph"), make_request()) == "part one, part two"


async def test_python_graph_nested_attribute(bridge: GraphExecutorBridge, agents: Any) -> None:
    agents.holder = types.SimpleNamespace(graph=RecordingGraph(Message("nested")))
    assert await bridge.run(py("fake_agents:holder.graph"), make_request()) == "nested"


@pytest.mark.parametrize(
    "last",
    [
        {"role": "assistant"},
        {"role": "assistant", "content": 42},
        {"role": "assistant", "content": ""},
        Message(None),
        Message([{"type": "image"}]),
        "no content attribute",
    ],
)
async def test_python_graph_bad_last_message_fails(
    bridge: GraphExecutorBridge, agents: Any, last: Any
) -> None:
    agents.graph = RecordingGraph(last)
    await failure(bridge, py("fake_agents:graph"), make_request())


@pytest.mark.parametrize("result", [None, {}, {"messages": []}, {"messages": "x"}, "text"])
async def test_python_graph_bad_result_fails(
    bridge: GraphExecutorBridge, agents: Any, result: Any
) -> None:
    class Graph:
        async def ainvoke(self, state: dict[str, Any], config: Any = None) -> Any:
            return result

    agents.graph = Graph()
    await failure(bridge, py("fake_agents:graph"), make_request())


async def test_python_graph_that_hangs_times_out(bridge: GraphExecutorBridge, agents: Any) -> None:
    agents.graph = HangingGraph()
    started = time.monotonic()
    reason = await failure(bridge, py("fake_agents:graph", timeout_s=0.05), make_request())
    assert time.monotonic() - started < 1.0
    assert "timed out" in reason


async def test_python_graph_that_raises_fails(bridge: GraphExecutorBridge, agents: Any) -> None:
    class Broken:
        async def ainvoke(self, state: dict[str, Any], config: Any = None) -> Any:
            raise ValueError("model exploded")

    agents.graph = Broken()
    with pytest.raises(ExecutorFailed) as info:
        await bridge.run(py("fake_agents:graph"), make_request())
    assert isinstance(info.value.__cause__, ValueError)


async def test_python_async_callable_returning_str_gets_request_json(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    seen: list[dict[str, Any]] = []

    async def agent(payload: dict[str, Any]) -> str:
        seen.append(payload)
        return "async str"

    agents.agent = agent
    request = make_request(history=HISTORY)
    assert await bridge.run(py("fake_agents:agent"), request) == "async str"
    assert seen == [request.as_json()]


async def test_python_async_callable_returning_dict(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    async def agent(payload: dict[str, Any]) -> dict[str, Any]:
        return {"reply": f"dict for {payload['lead']['name']}"}

    agents.agent = agent
    assert await bridge.run(py("fake_agents:agent"), make_request()) == "dict for Ana"


async def test_python_async_callable_instance(bridge: GraphExecutorBridge, agents: Any) -> None:
    agents.agent = AsyncCallableInstance()
    assert await bridge.run(py("fake_agents:agent"), make_request()) == "instance got hello"


@pytest.mark.parametrize("result", [None, 42, {"answer": "x"}, {"reply": 1}, "", ["a"]])
async def test_python_callable_bad_result_fails(
    bridge: GraphExecutorBridge, agents: Any, result: Any
) -> None:
    async def agent(payload: dict[str, Any]) -> Any:
        return result

    agents.agent = agent
    await failure(bridge, py("fake_agents:agent"), make_request())


async def test_python_sync_callable_runs_off_the_loop(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    threads: list[int] = []

    def agent(payload: dict[str, Any]) -> dict[str, str]:
        threads.append(threading.get_ident())
        return {"reply": f"sync {payload['message']}"}

    agents.agent = agent
    assert await bridge.run(py("fake_agents:agent"), make_request()) == "sync hello"
    assert threads and threads[0] != threading.get_ident()


async def test_python_slow_sync_callable_times_out_without_blocking(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    release = threading.Event()

    def agent(payload: dict[str, Any]) -> str:
        release.wait(5)
        return "late"

    agents.agent = agent
    started = time.monotonic()
    try:
        await failure(bridge, py("fake_agents:agent", timeout_s=0.05), make_request())
        assert time.monotonic() - started < 1.0
    finally:
        release.set()


async def test_python_sync_callable_returning_awaitable(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    async def inner(payload: dict[str, Any]) -> str:
        return "via awaitable"

    agents.agent = lambda payload: inner(payload)
    assert await bridge.run(py("fake_agents:agent"), make_request()) == "via awaitable"


@pytest.mark.parametrize(
    "target",
    [
        "no_such_module_xyz:agent",
        "fake_agents:missing",
        "fake_agents:not_callable",
        "fake_agents",
        "fake_agents:agent:extra",
        "",
    ],
)
async def test_python_bad_target_fails(
    bridge: GraphExecutorBridge, agents: Any, target: str
) -> None:
    agents.not_callable = 42
    await failure(bridge, py(target), make_request())


async def test_python_module_that_raises_on_import_fails(
    bridge: GraphExecutorBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    real = importlib.import_module

    def import_module(name: str, package: str | None = None) -> types.ModuleType:
        if name == "exploding_module":
            raise RuntimeError("boom at import")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    await failure(bridge, py("exploding_module:agent"), make_request())


async def test_python_missing_target_fails(bridge: GraphExecutorBridge) -> None:
    await failure(bridge, {"kind": "python"}, make_request())


async def test_python_target_is_resolved_once(bridge: GraphExecutorBridge, agents: Any) -> None:
    agents.graph = RecordingGraph(Message("first"))
    assert await bridge.run(py("fake_agents:graph"), make_request()) == "first"
    agents.graph = RecordingGraph(Message("second"))
    assert await bridge.run(py("fake_agents:graph"), make_request()) == "first"


async def test_example_targets(bridge: GraphExecutorBridge) -> None:
    graph_reply = await bridge.run(py("adapters.executors.examples:echo_graph"), make_request())
    assert graph_reply == "Ana, you said: hello"
    shout_reply = await bridge.run(py("adapters.executors.examples:shout"), make_request())
    assert shout_reply == "HELLO"


# --- agent code can never stop the gateway -----------------------------------------------------

PERSONAL = ("+14155550100", "Ana", "hello")  # phone, name and text of make_request()

KILLER_AGENTS = """
import asyncio
import sys


def sync_exit(payload):
    sys.exit(payload["message"])


def sync_interrupt(payload):
    raise KeyboardInterrupt(payload["lead"]["phone"])


def sync_cancel(payload):
    raise asyncio.CancelledError(payload["lead"]["name"])


def sync_generator_exit(payload):
    raise GeneratorExit(payload["message"])


async def async_exit(payload):
    sys.exit(payload["message"])


async def async_interrupt(payload):
    raise KeyboardInterrupt(payload["lead"]["phone"])


async def async_cancel(payload):
    raise asyncio.CancelledError(payload["lead"]["name"])


async def async_generator_exit(payload):
    raise GeneratorExit(payload["message"])


def _generator_exit():
    raise GeneratorExit("+14155550100")


async def async_awaits_generator_exit(payload):
    await asyncio.to_thread(_generator_exit)


async def async_awaits_exit(payload):
    await asyncio.to_thread(sys.exit, payload["message"])


async def async_value_error(payload):
    raise ValueError(payload["lead"]["phone"] + " " + payload["message"])


class Graph:
    def __init__(self, error):
        self.error = error

    async def ainvoke(self, state, config=None):
        raise self.error(config["configurable"]["lead"]["phone"], state["messages"][-1])


graph_exit = Graph(SystemExit)
graph_interrupt = Graph(KeyboardInterrupt)
graph_cancel = Graph(asyncio.CancelledError)
graph_generator_exit = Graph(GeneratorExit)


class SyncInstance:
    def __call__(self, payload):
        raise SystemExit(payload["lead"]["phone"])


class AsyncInstance:
    async def __call__(self, payload):
        raise KeyboardInterrupt(payload["lead"]["phone"])


sync_instance = SyncInstance()
async_instance = AsyncInstance()
"""


@pytest.fixture
def killers(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real module of agents that raise BaseExceptions, written to disk and importable."""
    name = f"killer_agents_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(KILLER_AGENTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def assert_private(reason: str) -> None:
    for personal in PERSONAL:
        assert personal not in reason, reason


@pytest.mark.parametrize(
    ("attribute", "error"),
    [
        ("sync_exit", "SystemExit"),
        ("sync_interrupt", "KeyboardInterrupt"),
        ("sync_cancel", "CancelledError"),
        ("sync_generator_exit", "GeneratorExit"),
        ("async_exit", "SystemExit"),
        ("async_interrupt", "KeyboardInterrupt"),
        ("async_cancel", "CancelledError"),
        ("async_generator_exit", "GeneratorExit"),
        ("async_awaits_generator_exit", "GeneratorExit"),
        ("async_awaits_exit", "SystemExit"),
        ("async_value_error", "ValueError"),
        ("graph_exit", "SystemExit"),
        ("graph_interrupt", "KeyboardInterrupt"),
        ("graph_cancel", "CancelledError"),
        ("graph_generator_exit", "GeneratorExit"),
        ("sync_instance", "SystemExit"),
        ("async_instance", "KeyboardInterrupt"),
    ],
)
async def test_whatever_agent_code_raises_becomes_executor_failed(
    bridge: GraphExecutorBridge,
    killers: str,
    caplog: pytest.LogCaptureFixture,
    attribute: str,
    error: str,
) -> None:
    caplog.set_level(logging.DEBUG)

    reason = await failure(bridge, py(f"{killers}:{attribute}"), make_request())

    assert reason == f"python executor raised {error}"
    assert_private(reason)
    for record in caplog.records:
        assert_private(record.getMessage())
    # The gateway is still here and the next message is answered.
    assert (await bridge.run({"kind": "demo"}, make_request())).startswith("Hi Ana!")


@pytest.mark.parametrize("target", ["sys:exit", "builtins:exit", "builtins:quit"])
async def test_stdlib_exits_as_targets_fail(
    bridge: GraphExecutorBridge, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # `exit()` closes stdin before raising
    reason = await failure(bridge, py(target), make_request())
    assert reason == "python executor raised SystemExit"


async def test_sys_exit_run_inside_a_worker_task_leaves_the_task_alive(
    bridge: GraphExecutorBridge,
) -> None:
    async def worker() -> str:
        try:
            return await bridge.run(py("sys:exit"), make_request())
        except ExecutorFailed as e:
            return f"failed: {e}"

    assert await asyncio.create_task(worker()) == "failed: python executor raised SystemExit"


async def test_module_exiting_at_import_fails(
    bridge: GraphExecutorBridge, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"exits_on_import_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text("import sys\nsys.exit('+14155550100')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        reason = await failure(bridge, py(f"{name}:agent"), make_request())
    finally:
        sys.modules.pop(name, None)
    assert reason.endswith("raised SystemExit")
    assert_private(reason)


async def test_agent_raising_executor_failed_cannot_put_the_request_in_the_reason(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    async def agent(payload: dict[str, Any]) -> str:
        raise ExecutorFailed(f"{payload['lead']['phone']} {payload['message']}")

    agents.agent = agent
    reason = await failure(bridge, py("fake_agents:agent"), make_request())
    assert reason == "python executor raised ExecutorFailed"


async def test_agent_raising_keeps_its_exception_as_the_cause(
    bridge: GraphExecutorBridge, killers: str
) -> None:
    with pytest.raises(ExecutorFailed) as info:
        await bridge.run(py(f"{killers}:async_exit"), make_request())
    assert isinstance(info.value.__cause__, SystemExit)


async def test_timeout_still_applies_when_the_agent_turns_cancellation_into_an_exit(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    async def agent(payload: dict[str, Any]) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise SystemExit(1) from None
        return "never"

    agents.agent = agent
    reason = await failure(bridge, py("fake_agents:agent", timeout_s=0.05), make_request())
    assert "timed out" in reason


def swallowing_agent(started: asyncio.Event) -> Any:
    async def agent(payload: dict[str, Any]) -> str:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise SystemExit(1) from None  # the agent hides the cancellation
        return "never"

    return agent


def sleeping_agent(started: asyncio.Event) -> Any:
    async def agent(payload: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(10)
        return "never"

    return agent


class SleepingGraph:
    def __init__(self, started: asyncio.Event) -> None:
        self.started = started

    async def ainvoke(self, state: dict[str, Any], config: Any = None) -> Any:
        self.started.set()
        await asyncio.sleep(10)


@pytest.mark.parametrize("make_agent", [sleeping_agent, swallowing_agent, SleepingGraph])
async def test_a_real_cancellation_of_the_worker_propagates(
    bridge: GraphExecutorBridge, agents: Any, make_agent: Any
) -> None:
    started = asyncio.Event()
    agents.agent = make_agent(started)
    task = asyncio.create_task(bridge.run(py("fake_agents:agent"), make_request()))
    await started.wait()

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_real_cancellation_during_a_sync_agent_propagates(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    started, release = threading.Event(), threading.Event()

    def agent(payload: dict[str, Any]) -> str:
        started.set()
        release.wait(5)
        return "late"

    agents.agent = agent
    task = asyncio.create_task(bridge.run(py("fake_agents:agent"), make_request()))
    try:
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()


@respx.mock
async def test_a_real_cancellation_during_an_http_call_propagates(
    bridge: GraphExecutorBridge,
) -> None:
    started = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(10)
        return httpx.Response(200, json={"reply": "too late"})

    respx.post(URL).mock(side_effect=slow)
    task = asyncio.create_task(bridge.run(http_spec(), make_request()))
    await started.wait()

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


# --- demo -------------------------------------------------------------------------------------


async def test_demo_first_turn_welcomes(bridge: GraphExecutorBridge) -> None:
    reply = await bridge.run({"kind": "demo"}, make_request("hi there"))
    assert reply.startswith("Hi Ana!")
    assert "“hi there”" in reply
    assert "Last time" not in reply


async def test_demo_remembers_turns_and_previous_message(bridge: GraphExecutorBridge) -> None:
    reply = await bridge.run({"kind": "demo"}, make_request("third one", history=HISTORY))
    assert "turn 3" in reply
    assert "Last time you said: “second question”" in reply
    assert "You said: “third one”" in reply


async def test_demo_is_deterministic_and_short() -> None:
    request = make_request("x" * 500, history=HISTORY, name=None)
    reply = demo_reply(request)
    assert reply == demo_reply(request)
    assert reply.startswith("Hi there!")
    assert len(reply) < 300


async def test_demo_help(bridge: GraphExecutorBridge) -> None:
    reply = await bridge.run({"kind": "demo"}, make_request(" Help "))
    assert "demo agent" in reply
    assert "turn" not in reply


async def test_demo_empty_message(bridge: GraphExecutorBridge) -> None:
    reply = await bridge.run({"kind": "demo"}, make_request(""))
    assert reply.strip()


# --- dispatch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [{}, {"kind": "ftp"}, {"kind": None}])
async def test_unknown_kind_fails(bridge: GraphExecutorBridge, spec: dict[str, Any]) -> None:
    await failure(bridge, spec, make_request())


# --- validate_executor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "demo"},
        {"kind": "demo", "timeout_s": 5},
        {"kind": "http", "url": "https://agent.example.com/x"},
        {"kind": "http", "url": "http://localhost:8080/reply", "timeout_s": 120},
        {"kind": "http", "url": URL, "timeout_s": 0.5, "headers": {"Authorization": SECRET}},
        {"kind": "http", "url": URL, "headers": {}},
        {"kind": "python", "target": "adapters.executors.examples:echo_graph"},
        {"kind": "python", "target": "not_installed_yet.graph:holder.graph"},
        {"kind": "python", "target": "m:f", "timeout_s": 10},
    ],
)
def test_valid_specs(spec: dict[str, Any]) -> None:
    assert validate_executor(spec) == {}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (None, "executor"),
        ("demo", "executor"),
        (["kind", "demo"], "executor"),
        ({}, "kind"),
        ({"kind": "ftp"}, "kind"),
        ({"kind": 1}, "kind"),
        ({"kind": "http"}, "url"),
        ({"kind": "http", "url": ""}, "url"),
        ({"kind": "http", "url": 5}, "url"),
        ({"kind": "http", "url": "ftp://example.com/x"}, "url"),
        ({"kind": "http", "url": "agent.example.com/x"}, "url"),
        ({"kind": "http", "url": "https://"}, "url"),
        ({"kind": "http", "url": "https://exa mple.com/"}, "url"),
        ({"kind": "http", "url": "https://example.com:99999/"}, "url"),
        ({"kind": "http", "url": URL, "timeout_s": 0}, "timeout_s"),
        ({"kind": "http", "url": URL, "timeout_s": -1}, "timeout_s"),
        ({"kind": "http", "url": URL, "timeout_s": 121}, "timeout_s"),
        ({"kind": "http", "url": URL, "timeout_s": "10"}, "timeout_s"),
        ({"kind": "http", "url": URL, "timeout_s": True}, "timeout_s"),
        ({"kind": "http", "url": URL, "timeout_s": float("nan")}, "timeout_s"),
        ({"kind": "http", "url": URL, "timeout_s": None}, "timeout_s"),
        ({"kind": "http", "url": URL, "headers": "Authorization: x"}, "headers"),
        ({"kind": "http", "url": URL, "headers": ["x"]}, "headers"),
        ({"kind": "http", "url": URL, "headers": {"X-Num": 1}}, "headers"),
        ({"kind": "http", "url": URL, "headers": {1: "x"}}, "headers"),
        ({"kind": "http", "url": URL, "headers": {"Bad Name": "x"}}, "headers"),
        ({"kind": "python"}, "target"),
        ({"kind": "python", "target": ""}, "target"),
        ({"kind": "python", "target": "module_only"}, "target"),
        ({"kind": "python", "target": ":attr"}, "target"),
        ({"kind": "python", "target": "mod:"}, "target"),
        ({"kind": "python", "target": "a:b:c"}, "target"),
        ({"kind": "python", "target": "my-module:graph"}, "target"),
        ({"kind": "python", "target": "mod:1graph"}, "target"),
        ({"kind": "python", "target": 5}, "target"),
        ({"kind": "demo", "timeout_s": 500}, "timeout_s"),
    ],
)
def test_invalid_specs(spec: object, field: str) -> None:
    errors = validate_executor(spec)
    assert field in errors
    assert all(isinstance(v, str) and v for v in errors.values())


def test_validation_reports_several_fields() -> None:
    errors = validate_executor({"kind": "http", "url": "nope", "timeout_s": 0, "headers": []})
    assert set(errors) == {"url", "timeout_s", "headers"}


@pytest.mark.parametrize("value", [SECRET + "\r\nX-Evil: 1", SECRET + "\n", SECRET + "é"])
def test_validation_never_quotes_header_values(value: str) -> None:
    errors = validate_executor({"kind": "http", "url": URL, "headers": {"Authorization": value}})
    assert "headers" in errors
    assert "sekret" not in json.dumps(errors)


def test_validation_does_not_import_targets() -> None:
    assert validate_executor({"kind": "python", "target": "surely_missing_pkg_q:graph"}) == {}
    assert "surely_missing_pkg_q" not in sys.modules


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("format", "plain", True),
        ("format", "markdown", True),
        ("format", "html", False),
        ("max_concurrency", 1, True),
        ("max_concurrency", 500, True),
        ("max_concurrency", 0, False),
        ("max_concurrency", True, False),
        ("max_concurrency", "10", False),
    ],
)
def test_format_and_max_concurrency_are_checked(field: str, value: object, ok: bool) -> None:
    from adapters.executors.bridge import validate_executor

    errors = validate_executor({"kind": "demo", field: value})
    assert (field not in errors) is ok, errors
