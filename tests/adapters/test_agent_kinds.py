"""The `openai` and `langgraph_server` executors over respx (the JSON real servers answer),
`python` targets with `memory: "graph"` on real LangGraph graphs and checkpointers, the
shipped example, and which fields of a spec are secrets."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from adapters.executors import secrets
from adapters.executors.bridge import GraphExecutorBridge, validate_executor
from ports.errors import ExecutorFailed, InvalidInput
from ports.values import AgentRequest, HistoryEntry

ROOT = Path(__file__).resolve().parents[2]
SESSION = "twilio_agent-1_+14155550100"
API_KEY = "sk-proj-" + "Qx7v" * 10
BASE = "https://llm.example.com/v1"
LG_URL = "https://lg.example.com"
THREAD = str(uuid.uuid5(uuid.NAMESPACE_URL, SESSION))
RUNS_WAIT = f"{LG_URL}/threads/{THREAD}/runs/wait"

HISTORY = (
    HistoryEntry("user", "What are your hours?"),
    HistoryEntry("assistant", "9 to 5, Monday to Friday."),
    HistoryEntry("system", "a note that is not a person"),
)


def make_request(
    message: str = "And on Saturday?", history: tuple[HistoryEntry, ...] = ()
) -> AgentRequest:
    return AgentRequest(
        agent_id="agent-1",
        session_id=SESSION,
        message=message,
        history=history,
        lead_contact="+14155550100",
        lead_name="Ana",
        platform="whatsapp",
        lead_phone="+14155550100",
    )


@pytest.fixture
async def bridge() -> AsyncIterator[GraphExecutorBridge]:
    async with httpx.AsyncClient() as client:
        yield GraphExecutorBridge(client, default_timeout_s=2.0)


async def failure(bridge: GraphExecutorBridge, spec: dict[str, Any]) -> str:
    with pytest.raises(ExecutorFailed) as info:
        await bridge.run(spec, make_request(history=HISTORY))
    reason = str(info.value)
    assert API_KEY not in reason and "Saturday" not in reason and "Ana" not in reason
    return reason


# --- openai ----------------------------------------------------------------------------------


def completion(content: Any, **message: Any) -> dict[str, Any]:
    """A Chat Completions answer as OpenAI sends it."""
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": [],
                    **message,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 41,
            "completion_tokens": 9,
            "total_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }


OLLAMA = {  # Ollama's OpenAI-compatible endpoint: fewer fields
    "id": "chatcmpl-461",
    "object": "chat.completion",
    "created": 1735000000,
    "model": "llama3.2",
    "system_fingerprint": "fp_ollama",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Closed on Saturdays."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
}


def openai_spec(**extra: Any) -> dict[str, Any]:
    return {"kind": "openai", "base_url": BASE, "model": "gpt-4o-mini", **extra}


@respx.mock
async def test_openai_sends_prompt_history_and_message(bridge: GraphExecutorBridge) -> None:
    route = respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(200, json=completion("We open 10 to 2 on Saturday."))
    )
    spec = openai_spec(
        api_key=API_KEY, system_prompt="You are the shop's assistant.", temperature=0.2,
        max_tokens=300,
    )  # fmt: skip

    reply = await bridge.run(spec, make_request(history=HISTORY))

    assert reply == "We open 10 to 2 on Saturday."
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.content) == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are the shop's assistant."},
            {"role": "user", "content": "What are your hours?"},
            {"role": "assistant", "content": "9 to 5, Monday to Friday."},
            {"role": "assistant", "content": "a note that is not a person"},
            {"role": "user", "content": "And on Saturday?"},
        ],
        "temperature": 0.2,
        "max_tokens": 300,
    }


@respx.mock
async def test_openai_without_key_or_prompt_and_the_default_base_url(
    bridge: GraphExecutorBridge,
) -> None:
    route = respx.post("https://api.openai.com/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=OLLAMA)
    )
    reply = await bridge.run({"kind": "openai", "model": "llama3.2"}, make_request())
    assert reply == "Closed on Saturdays."
    sent = route.calls.last.request
    assert "Authorization" not in sent.headers
    assert json.loads(sent.content) == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "And on Saturday?"}],
    }


@respx.mock
async def test_openai_base_url_with_a_trailing_slash(bridge: GraphExecutorBridge) -> None:
    route = respx.post("http://127.0.0.1:11434/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=OLLAMA)
    )
    spec = openai_spec(base_url="http://127.0.0.1:11434/v1/")
    assert await bridge.run(spec, make_request()) == "Closed on Saturdays."
    assert route.call_count == 1


OPENAI_401 = {
    "error": {
        "message": f"Incorrect API key provided: {API_KEY[:8]}****{API_KEY[-4:]}. You can find "
        "your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}
OPENAI_429 = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini in organization org-x on requests per "
        "min (RPM): Limit 3, Used 3, Requested 1.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


@respx.mock
@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(401, json=OPENAI_401), "HTTP 401"),
        (httpx.Response(429, json=OPENAI_429), "HTTP 429"),
        (httpx.Response(500, text="Internal Server Error"), "HTTP 500"),
        (httpx.Response(200, text="<html>proxy</html>"), "not JSON"),
        (httpx.Response(200, json=completion("")), "empty reply"),
        (httpx.Response(200, json=completion("  \n")), "empty reply"),
        (httpx.Response(200, json=completion(None, refusal="I can't help with that.")), "text"),
        (
            httpx.Response(
                200,
                json=completion(
                    None,
                    tool_calls=[
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "hours", "arguments": "{}"},
                        }
                    ],
                ),
            ),
            "text",
        ),
        (httpx.Response(200, json={**completion("x"), "choices": []}), "no choices"),
        (httpx.Response(200, json=OPENAI_401), "no choices"),
    ],
)
async def test_openai_failures(
    bridge: GraphExecutorBridge, response: httpx.Response, reason: str
) -> None:
    respx.post(f"{BASE}/chat/completions").mock(return_value=response)
    got = await failure(bridge, openai_spec(api_key=API_KEY))
    # `reason` names the case; the reason given is one for all (issue 13: no port probing).
    assert got == "openai executor: no usable answer from the agent"
    assert "Incorrect API key" not in got  # the server's answer is never quoted


@respx.mock
async def test_openai_timeout_and_transport_errors(bridge: GraphExecutorBridge) -> None:
    generic = "openai executor: no usable answer from the agent"
    respx.post(f"{BASE}/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
    assert await failure(bridge, openai_spec(api_key=API_KEY)) == generic
    respx.post(f"{BASE}/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    assert await failure(bridge, openai_spec(api_key=API_KEY)) == generic


@respx.mock
async def test_openai_slow_server_hits_the_executor_timeout(bridge: GraphExecutorBridge) -> None:
    import asyncio

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=OLLAMA)

    respx.post(f"{BASE}/chat/completions").mock(side_effect=slow)
    got = await failure(bridge, openai_spec(timeout_s=0.05))
    assert got == "openai executor: no usable answer from the agent"


@respx.mock
async def test_openai_content_parts_are_joined(bridge: GraphExecutorBridge) -> None:
    parts = [{"type": "text", "text": "Ten "}, {"type": "text", "text": "to two."}]
    respx.post(f"{BASE}/chat/completions").mock(
        return_value=httpx.Response(200, json=completion(parts))
    )
    assert await bridge.run(openai_spec(), make_request()) == "Ten to two."


# --- langgraph_server ------------------------------------------------------------------------


def thread_state(*messages: dict[str, Any]) -> dict[str, Any]:
    """The answer of runs/wait: the thread's state values, messages as the server dumps them."""
    return {"messages": list(messages)}


HUMAN: dict[str, Any] = {
    "content": "And on Saturday?",
    "additional_kwargs": {},
    "response_metadata": {},
    "type": "human",
    "name": None,
    "id": "f51a862c-62fe-4866-863b-b0863e8ad78a",
    "example": False,
}


def ai(content: Any) -> dict[str, Any]:
    return {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": {"finish_reason": "stop", "model_name": "gpt-4o-mini"},
        "type": "ai",
        "name": None,
        "id": "run-bf1cd3c6-768f-4c16-b62d-ba6f17ad8b36",
        "example": False,
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": None,
    }


def lg_spec(**extra: Any) -> dict[str, Any]:
    return {"kind": "langgraph_server", "url": LG_URL, "assistant_id": "agent", **extra}


@respx.mock
async def test_langgraph_server_runs_wait_on_the_sessions_thread(
    bridge: GraphExecutorBridge,
) -> None:
    earlier = {**HUMAN, "content": "What are your hours?", "id": "1"}
    route = respx.post(RUNS_WAIT).mock(
        return_value=httpx.Response(
            200, json=thread_state(earlier, ai("9 to 5."), HUMAN, ai("10 to 2 on Saturday."))
        )
    )

    reply = await bridge.run(lg_spec(api_key=API_KEY), make_request(history=HISTORY))

    assert reply == "10 to 2 on Saturday."
    sent = route.calls.last.request
    assert sent.url.path == f"/threads/{THREAD}/runs/wait"
    assert THREAD == str(uuid.uuid5(uuid.NAMESPACE_URL, SESSION))
    assert sent.headers["X-Api-Key"] == API_KEY
    assert json.loads(sent.content) == {  # the server keeps the memory: the new message only
        "assistant_id": "agent",
        "input": {"messages": [{"role": "user", "content": "And on Saturday?"}]},
        "if_not_exists": "create",
    }


@respx.mock
async def test_langgraph_server_without_key_and_with_keepalive_whitespace(
    bridge: GraphExecutorBridge,
) -> None:
    body = b"\n\n" + json.dumps(thread_state(HUMAN, ai([{"type": "text", "text": "Hi!"}]))).encode()
    route = respx.post(f"http://localhost:2024/threads/{THREAD}/runs/wait").mock(
        return_value=httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    )
    spec = lg_spec(url="http://localhost:2024/")
    assert await bridge.run(spec, make_request()) == "Hi!"
    assert "X-Api-Key" not in route.calls.last.request.headers


@respx.mock
@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(404, json={"detail": "Assistant 'agent' not found"}), "HTTP 404"),
        (httpx.Response(403, json={"detail": "Invalid API key"}), "HTTP 403"),
        (httpx.Response(422, json={"detail": "Thread is busy"}), "HTTP 422"),
        (
            httpx.Response(
                200, json={"__error__": {"error": "ValueError", "message": "Ana said no"}}
            ),
            "ended with ValueError",
        ),
        (httpx.Response(200, json=thread_state(HUMAN)), "no reply"),
        (httpx.Response(200, json=thread_state()), "no messages"),
        (httpx.Response(200, json={"summary": "no messages key"}), "no messages"),
        (httpx.Response(200, json=thread_state(ai(""))), "empty reply"),
        (httpx.Response(200, json=[1, 2]), "not an object"),
    ],
)
async def test_langgraph_server_failures(
    bridge: GraphExecutorBridge, response: httpx.Response, reason: str
) -> None:
    respx.post(RUNS_WAIT).mock(return_value=response)
    got = await failure(bridge, lg_spec(api_key=API_KEY))
    # `reason` names the case; the reason given is one for all (issue 13: no port probing).
    assert got == "langgraph_server executor: no usable answer from the agent"


# --- python with memory: "graph", on real LangGraph graphs -----------------------------------


@pytest.fixture
def agents(monkeypatch: pytest.MonkeyPatch) -> Any:
    module = types.ModuleType("lg_agents")
    monkeypatch.setitem(sys.modules, "lg_agents", module)
    return module


def remembering_graph(checkpointer: Any) -> Any:
    """A real StateGraph whose node sees the whole thread and records what it saw."""
    from langgraph.graph import START, MessagesState, StateGraph

    seen: list[list[tuple[str, str]]] = []

    def node(state: MessagesState) -> dict[str, Any]:
        seen.append([(m.type, str(m.content)) for m in state["messages"]])
        said = [str(m.content) for m in state["messages"] if m.type == "human"]
        return {"messages": [{"role": "assistant", "content": f"#{len(said)}: {'|'.join(said)}"}]}

    builder = StateGraph(MessagesState)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    compiled = builder.compile(checkpointer=checkpointer)
    compiled.seen = seen  # type: ignore[attr-defined]
    return compiled


async def converse(bridge: GraphExecutorBridge, spec: dict[str, Any]) -> list[str]:
    """Three turns of one session, each sent as the Responder would (history grows)."""
    replies: list[str] = []
    history: tuple[HistoryEntry, ...] = ()
    for text in ("one", "two", "three"):
        reply = await bridge.run(spec, make_request(text, history))
        replies.append(reply)
        history = (*history, HistoryEntry("user", text), HistoryEntry("assistant", reply))
    return replies


async def test_graph_memory_with_memory_saver(bridge: GraphExecutorBridge, agents: Any) -> None:
    from langgraph.checkpoint.memory import MemorySaver

    agents.graph = remembering_graph(MemorySaver())
    spec = {"kind": "python", "target": "lg_agents:graph", "memory": "graph"}

    assert await converse(bridge, spec) == ["#1: one", "#2: one|two", "#3: one|two|three"]
    # Each run got the new message only; the checkpointer supplied the rest of the thread.
    assert agents.graph.seen[-1] == [
        ("human", "one"), ("ai", "#1: one"), ("human", "two"), ("ai", "#2: one|two"),
        ("human", "three"),
    ]  # fmt: skip
    snapshot = await agents.graph.aget_state({"configurable": {"thread_id": SESSION}})
    assert len(snapshot.values["messages"]) == 6
    # Another session is another thread.
    other = dataclasses.replace(make_request("hello"), session_id="twilio_agent-1_+14155550111")
    assert await bridge.run(spec, other) == "#1: hello"


async def test_gateway_memory_on_a_checkpointed_graph_doubles_the_thread(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    """Why `memory: "graph"` exists: with the default the history is sent again each time,
    and a checkpointed graph appends it to the thread it already has."""
    from langgraph.checkpoint.memory import MemorySaver

    agents.graph = remembering_graph(MemorySaver())
    replies = await converse(bridge, {"kind": "python", "target": "lg_agents:graph"})
    assert replies[1] != "#2: one|two"


async def test_graph_memory_with_the_async_sqlite_saver_survives_a_restart(
    tmp_path: Path, agents: Any
) -> None:
    pytest.importorskip("langgraph.checkpoint.sqlite")
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = tmp_path / "checkpoints.sqlite3"
    spec = {"kind": "python", "target": "lg_agents:graph", "memory": "graph"}
    async with httpx.AsyncClient() as client:
        async with aiosqlite.connect(path) as conn:
            agents.graph = remembering_graph(AsyncSqliteSaver(conn))
            first = GraphExecutorBridge(client, default_timeout_s=5.0)
            assert await first.run(spec, make_request("one")) == "#1: one"
            assert await first.run(spec, make_request("two")) == "#2: one|two"
        # A new process: new connection, new graph object, same file.
        async with aiosqlite.connect(path) as conn:
            agents.graph = remembering_graph(AsyncSqliteSaver(conn))
            second = GraphExecutorBridge(client, default_timeout_s=5.0)
            assert await second.run(spec, make_request("three")) == "#3: one|two|three"


async def test_memory_graph_callables_get_no_history(
    bridge: GraphExecutorBridge, agents: Any
) -> None:
    payloads: list[dict[str, Any]] = []

    async def agent(payload: dict[str, Any]) -> str:
        payloads.append(payload)
        return "ok"

    agents.agent = agent
    spec = {"kind": "python", "target": "lg_agents:agent", "memory": "graph"}
    assert await bridge.run(spec, make_request(history=HISTORY)) == "ok"
    assert payloads[0]["history"] == [] and payloads[0]["session_id"] == SESSION


# --- the shipped example -----------------------------------------------------------------------

EXAMPLE = ROOT / "adapters" / "executors" / "langgraph_examples.py"


async def test_the_example_graph_remembers_the_thread(bridge: GraphExecutorBridge) -> None:
    spec = {
        "kind": "python",
        "target": "adapters.executors.langgraph_examples:graph",
        "memory": "graph",
    }
    session = f"example-{uuid.uuid4()}"  # the example's memory is process-wide

    def request(text: str) -> AgentRequest:
        return AgentRequest("agent-1", session, text, (), "+14155550100", "Ana", "whatsapp")

    assert await bridge.run(spec, request("I need a table")) == "Hi Ana! You said: I need a table"
    assert await bridge.run(spec, request("for two")) == (
        "Hi again, Ana. That is message 2; before it you said: I need a table"
    )


async def test_the_example_persistent_graph(tmp_path: Path, agents: Any) -> None:
    from adapters.executors.langgraph_examples import PersistentGraph

    path = str(tmp_path / "example.sqlite3")
    spec = {"kind": "python", "target": "lg_agents:graph", "memory": "graph"}
    async with httpx.AsyncClient() as client:
        agents.graph = PersistentGraph(path)
        bridge = GraphExecutorBridge(client, default_timeout_s=5.0)
        assert "You said: one" in await bridge.run(spec, make_request("one"))
        await agents.graph.aclose()
        agents.graph = PersistentGraph(path)  # restarted
        bridge = GraphExecutorBridge(client, default_timeout_s=5.0)
        assert "before it you said: one" in await bridge.run(spec, make_request("two"))
        await agents.graph.aclose()


def test_docs_show_the_example_as_it_is_tested() -> None:
    docs = (ROOT / "docs" / "agents.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", docs, re.DOTALL)
    source = EXAMPLE.read_text()
    body = source[source.index("from __future__") :]
    assert any(block.strip() == body.strip() for block in blocks), "docs/agents.md is stale"


# --- secret fields -----------------------------------------------------------------------------


def test_validation_of_the_new_kinds() -> None:
    assert validate_executor(openai_spec()) == {}
    assert validate_executor({"kind": "openai", "model": "m", "api_key": API_KEY}) == {}
    assert validate_executor(lg_spec(api_key=API_KEY, timeout_s=60)) == {}
    assert set(validate_executor({"kind": "openai"})) == {"model"}
    assert set(validate_executor({"kind": "langgraph_server"})) == {"url", "assistant_id"}
    bad = openai_spec(base_url="ftp://x", temperature=3, max_tokens=0, system_prompt=7)
    assert set(validate_executor(bad)) == {"base_url", "temperature", "max_tokens", "system_prompt"}
    errors = validate_executor(openai_spec(api_key="sk-\nInjected: yes"))
    assert set(errors) == {"api_key"} and "Injected" not in errors["api_key"]
    assert set(validate_executor({"kind": "python", "target": "a:b", "memory": "x"})) == {"memory"}
    assert validate_executor({"kind": "python", "target": "a:b", "memory": "graph"}) == {}
    two = {"kind": "http", "url": "https://a.example", "headers": {"X-A": "1", "x-a": "2"}}
    assert "twice" in validate_executor(two)["headers"]


def test_split_join_and_masked() -> None:
    http = {"kind": "http", "url": "https://a.example", "headers": {"Authorization": "Bearer s"}}
    public, values = secrets.split_secrets(http)
    assert public == {"kind": "http", "url": "https://a.example"}
    assert values == {"header:Authorization": "Bearer s"}
    assert secrets.join_secrets(public, values) == http
    assert secrets.masked(public, values) == {**public, "headers": {"Authorization": "***"}}

    oa = openai_spec(api_key=API_KEY)
    public, values = secrets.split_secrets(oa)
    assert API_KEY not in json.dumps(public) and values == {"api_key": API_KEY}
    assert secrets.join_secrets(public, values) == oa
    assert secrets.masked(public, values) == {**openai_spec(), "api_key_set": True}
    assert secrets.masked(public, []) == {**openai_spec(), "api_key_set": False}
    # What a client echoes back is no secret.
    echoed = {**openai_spec(), "api_key_set": True, "api_key": "***"}
    assert secrets.split_secrets(echoed) == (openai_spec(), {})


def test_keep_secrets() -> None:
    stored = {"kind": "http", "url": "https://a.example/x", "headers": {"Authorization": "B s"}}
    # Left out: kept. Sent back as ***: kept (any case). A new value: replaced.
    assert secrets.keep_secrets({"kind": "http", "url": "https://a.example/y"}, stored) == {
        "kind": "http", "url": "https://a.example/y", "headers": {"Authorization": "B s"},
    }  # fmt: skip
    same = {"kind": "http", "url": "https://a.example/x", "headers": {"authorization": "***"}}
    assert secrets.keep_secrets(same, stored)["headers"] == {"authorization": "B s"}
    new = {**same, "headers": {"Authorization": "B t", "X-New": "1"}}
    assert secrets.keep_secrets(new, stored)["headers"] == {"Authorization": "B t", "X-New": "1"}
    assert secrets.keep_secrets({**same, "headers": {}}, stored)["headers"] == {}
    with pytest.raises(InvalidInput) as info:
        secrets.keep_secrets({**same, "headers": {"X-Other": "***"}}, stored)
    assert set(info.value.fields) == {"headers"}
    # A stored secret never follows the spec to another server.
    with pytest.raises(InvalidInput):
        secrets.keep_secrets({"kind": "http", "url": "https://evil.example/x"}, stored)
    with pytest.raises(InvalidInput):
        secrets.keep_secrets({"kind": "http", "url": "http://a.example/x"}, stored)
    assert secrets.keep_secrets({"kind": "http", "url": "https://a.example:443/z"}, stored)

    key = openai_spec(api_key=API_KEY)
    assert secrets.keep_secrets(openai_spec(model="other"), key)["api_key"] == API_KEY
    assert secrets.keep_secrets({**openai_spec(), "api_key": "***"}, key)["api_key"] == API_KEY
    assert "api_key" not in secrets.keep_secrets({**openai_spec(), "api_key": None}, key)
    with pytest.raises(InvalidInput) as info:
        secrets.keep_secrets(openai_spec(base_url="https://elsewhere.example/v1"), key)
    assert set(info.value.fields) == {"api_key"}
    assert secrets.keep_secrets(openai_spec(base_url="https://x.example", api_key="k2"), key)
    # Another kind starts afresh; creating has nothing to keep.
    assert "api_key" not in secrets.keep_secrets(lg_spec(), key)
    with pytest.raises(InvalidInput):
        secrets.keep_secrets({**openai_spec(), "api_key": "***"}, None)
    assert secrets.keep_secrets(openai_spec(), None) == openai_spec()
