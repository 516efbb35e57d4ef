"""Example LangGraph agent that keeps its own memory (needs the `langgraph` extra).

docs/agents.md shows this file for people to copy. Point an agent at it with:

    {"kind": "python", "target": "adapters.executors.langgraph_examples:graph", "memory": "graph"}

With `"memory": "graph"` the gateway sends each new message alone, with
`config={"configurable": {"thread_id": <session id>, "lead": {...}}}`; the checkpointer the
graph is compiled with restores that thread's earlier messages before the node runs.

- `graph`: compiled with LangGraph's in-memory checkpointer (memory lasts as long as the
  process; enough to try it).
- `PersistentGraph(path)`: the same graph with LangGraph's SQLite checkpointer
  (`langgraph-checkpoint-sqlite`), so the memory survives restarts. `AsyncSqliteSaver` needs
  the running event loop, so it is opened on the first message, not at import.

The node is where a real agent calls its model; this one answers without one so that it runs
anywhere (the tests run it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph


def answer(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    """One turn. `state["messages"]` holds the whole thread: earlier turns come from the
    checkpointer, the last one is the message the person just sent."""
    said = [m.content for m in state["messages"] if m.type == "human"]
    lead = (config.get("configurable") or {}).get("lead") or {}
    name = lead.get("name") or "there"
    # A real agent would call its model here, e.g. `await model.ainvoke(state["messages"])`.
    if len(said) == 1:
        reply = f"Hi {name}! You said: {said[-1]}"
    else:
        reply = f"Hi again, {name}. That is message {len(said)}; before it you said: {said[-2]}"
    return {"messages": [{"role": "assistant", "content": reply}]}


def build() -> StateGraph[MessagesState]:
    builder = StateGraph(MessagesState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder


graph = build().compile(checkpointer=InMemorySaver())


class PersistentGraph:
    """The graph with an SQLite checkpointer at `path`, opened on first use.

    Use one per process, e.g. `graph = PersistentGraph("data/checkpoints.sqlite3")` in your
    module and `"target": "my_agent:graph"`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._graph: Any = None
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def _compiled(self) -> Any:
        async with self._lock:
            if self._graph is None:
                import aiosqlite
                from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

                self._connection = await aiosqlite.connect(self.path)
                self._graph = build().compile(checkpointer=AsyncSqliteSaver(self._connection))
            return self._graph

    async def ainvoke(self, state: dict[str, Any], config: RunnableConfig | None = None) -> Any:
        compiled = await self._compiled()
        return await compiled.ainvoke(state, config=config)

    async def aclose(self) -> None:
        async with self._lock:
            if self._connection is not None:
                await self._connection.close()
            self._graph = self._connection = None
