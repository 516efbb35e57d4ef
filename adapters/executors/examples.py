"""Example in-process agents, usable as `python` executor targets in docs and tests.

- `adapters.executors.examples:echo_graph`: a graph-like object with `ainvoke`.
- `adapters.executors.examples:shout`: an async callable taking the request JSON.
"""

from __future__ import annotations

from typing import Any


class EchoGraph:
    """Behaves like a compiled LangGraph graph: appends an assistant message echoing the user."""

    async def ainvoke(
        self, state: dict[str, Any], config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        messages = list(state["messages"])
        last = messages[-1]["content"] if messages else ""
        lead = ((config or {}).get("configurable") or {}).get("lead") or {}
        name = lead.get("name") or "there"
        reply = {"role": "assistant", "content": f"{name}, you said: {last}"}
        return {"messages": [*messages, reply]}


echo_graph = EchoGraph()


async def shout(payload: dict[str, Any]) -> dict[str, Any]:
    """Answers with the user's message in upper case."""
    return {"reply": str(payload["message"]).upper()}
