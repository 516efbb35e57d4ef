"""The Try-it chat: the agent's web chat channel, used from the UI before any other channel."""

from __future__ import annotations

from quart import Blueprint, Response, g, request, session, url_for

from adapters.channels.web.chat import MAX_MESSAGE, MAX_NAME, is_visitor_id, new_visitor_id
from ports.values import StoredMessage

from . import format as fmt
from .common import UiDeps, page, see_other

VISITOR = "visitor_id"
VISITOR_NAME = "visitor_name"


def visitor() -> str:
    """This browser's visitor id, kept in its session cookie."""
    current = session.get(VISITOR)
    if not is_visitor_id(current):
        current = new_visitor_id()
        session[VISITOR] = current
    return str(current)


def wants_fragment() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def register_chat_pages(bp: Blueprint, deps: UiDeps) -> None:
    admin = deps.admin

    async def transcript(agent_id: str) -> list[StoredMessage]:
        """This browser's conversation, read through the intake (callers checked the agent)."""
        return await deps.webchat.transcript(agent_id, visitor())

    async def fragment(agent_id: str, status: int = 200) -> Response:
        messages = await transcript(agent_id)
        return await page(
            "chat_messages.html", status, messages=messages, pending=fmt.is_pending(messages)
        )

    async def try_page(agent_id: str, status: int = 200, error: str | None = None) -> Response:
        agent = await admin.get_agent(g.workspace_id, agent_id)
        messages = await transcript(agent_id)
        return await page(
            "try.html",
            status,
            agent=agent,
            tab="try",
            messages=messages,
            pending=fmt.is_pending(messages),
            error=error,
            visitor_name=session.get(VISITOR_NAME, ""),
            max_message=MAX_MESSAGE,
            max_name=MAX_NAME,
        )

    @bp.get("/ui/agents/<agent_id>/try")
    async def try_it(agent_id: str) -> Response:
        return await try_page(agent_id)

    @bp.get("/ui/agents/<agent_id>/try/messages")
    async def try_messages(agent_id: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        return await fragment(agent_id)

    @bp.post("/ui/agents/<agent_id>/try/messages")
    async def try_say(agent_id: str) -> Response:
        form = await request.form
        await admin.get_agent(g.workspace_id, agent_id)  # only this workspace's agents
        text = form.get("message", "").strip()
        name = form.get("name", "").strip()[:MAX_NAME]
        session[VISITOR_NAME] = name
        if not text or len(text) > MAX_MESSAGE:
            error = f"Write a message of 1 to {MAX_MESSAGE} characters."
            if wants_fragment():
                return Response(error, status=422, content_type="text/plain; charset=utf-8")
            return await try_page(agent_id, 422, error)
        await deps.webchat.say(agent_id, visitor(), text, name or None)
        if wants_fragment():
            return await fragment(agent_id, 202)
        return see_other(url_for("ui.try_it", agent_id=agent_id) + "#chat")

    @bp.post("/ui/agents/<agent_id>/try/reset")
    async def try_reset(agent_id: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        session[VISITOR] = new_visitor_id()
        return see_other(url_for("ui.try_it", agent_id=agent_id))
