"""The built-in demo agent (executor kind `demo`): instant, deterministic, remembers the session."""

from __future__ import annotations

from ports.values import USER, AgentRequest

_QUOTE_MAX = 80


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _QUOTE_MAX:
        text = text[: _QUOTE_MAX - 1].rstrip() + "…"
    return f"“{text}”"


def demo_reply(request: AgentRequest) -> str:
    """The demo agent's answer: greets by name, counts the turns and quotes the last message."""
    name = (request.lead_name or "").strip() or "there"
    said = request.message.strip()
    if said.lower() in {"help", "/help", "?"}:
        return (
            "I'm the demo agent of this gateway. I remember our chat: I count your "
            "messages and quote the previous one. Point this agent at your own HTTP endpoint "
            "or Python graph to give real answers."
        )
    previous = [h.content for h in request.history if h.role == USER]
    turn = len(previous) + 1
    you_said = f"You said: {_quote(said)}." if said else "Your message had no text."
    if turn == 1:
        return f"Hi {name}! I'm the demo agent. {you_said} Send “help” to learn more."
    return (
        f"Hi {name}! This is turn {turn} of our chat. "
        f"Last time you said: {_quote(previous[-1])}. {you_said}"
    )
