"""The inbox (conversations, newest activity first, a "Needs attention" filter) and a
session's transcript, which follows new messages without a reload."""

from __future__ import annotations

from quart import Blueprint, Response, flash, g, request, session, url_for

from adapters.inbound.http.admin_api import is_session_id
from ports.errors import InvalidInput, NotFound, Refused
from ports.values import MAX_HUMAN_REPLY, NEEDS_ATTENTION, PAUSED, Actor, StoredMessage

from .common import UiDeps, page, see_other

PAGE_SIZE = 25
FILTERS = (("", "All"), (NEEDS_ATTENTION, "Needs attention"), (PAUSED, "Paused"))


def register_conversation_pages(bp: Blueprint, deps: UiDeps) -> None:
    admin = deps.admin

    @bp.get("/ui/conversations")
    async def conversations() -> Response:
        status = request.args.get("status") or ""
        if status not in {value for value, _ in FILTERS}:
            status = ""
        cursor = request.args.get("cursor") or None
        notice = None
        try:
            result = await admin.list_sessions(
                g.workspace_id, None, None, status or None, PAGE_SIZE, cursor
            )
        except ValueError:  # a cursor this list did not make
            notice = "That page link is no longer valid; showing the first page."
            cursor = None
            result = await admin.list_sessions(
                g.workspace_id, None, None, status or None, PAGE_SIZE, None
            )
        agents = await admin.list_agents(g.workspace_id)
        return await page(
            "conversations.html",
            sessions=result.items,
            next_cursor=result.next_cursor,
            paged=cursor is not None,
            current=status,
            filters=FILTERS,
            agent_names={a.id: a.name for a in agents},
            notice=notice,
        )

    async def messages_of(session_id: str) -> list[StoredMessage]:
        if not is_session_id(session_id):  # over-long or control characters: no session
            raise NotFound("session not found")
        return await admin.session_messages(g.workspace_id, session_id)  # 404 if not ours

    def actor() -> Actor:
        label = session.get("key_label")
        return Actor(g.workspace_id, label if isinstance(label, str) else None)

    async def transcript_page(
        session_id: str,
        status: int = 200,
        error: str | None = None,
        draft: str = "",
        template_error: str | None = None,
        template_draft: tuple[str, str] = ("", ""),
    ) -> Response:
        messages = await messages_of(session_id)
        summary = await admin.session_summary(g.workspace_id, session_id)
        rules = admin.reply_rules(summary)
        agent = await admin.get_agent(g.workspace_id, messages[0].agent_id) if messages else None
        return await page(
            "session.html",
            status,
            session_id=session_id,
            messages=messages,
            summary=summary,
            agent=agent,
            contact=messages[0].contact if messages else "",
            kind=messages[0].kind if messages else "",
            error=error,
            draft=draft,
            max_reply=MAX_HUMAN_REPLY,
            rules=rules,
            template_error=template_error,
            template_sid=template_draft[0],
            template_variables=template_draft[1],
        )

    @bp.get("/ui/sessions/<session_id>")
    async def session_transcript(session_id: str) -> Response:
        return await transcript_page(session_id)

    @bp.post("/ui/sessions/<session_id>/agent")
    async def session_pause(session_id: str) -> Response:
        await messages_of(session_id)  # 404 when it is not ours
        paused = (await request.form).get("paused") == "true"
        await admin.set_paused(actor(), session_id, paused)
        await flash("Paused: you answer this conversation now." if paused else "Resumed.")
        return see_other(url_for("ui.session_transcript", session_id=session_id))

    @bp.post("/ui/sessions/<session_id>/reply")
    async def session_reply(session_id: str) -> Response:
        await messages_of(session_id)
        content = (await request.form).get("content", "")
        try:
            await admin.human_reply(actor(), session_id, content)
        except InvalidInput as e:
            why = next(iter(e.fields.values()), "cannot be sent")
            return await transcript_page(session_id, 422, f"Your reply {why}.", content)
        except Refused as e:
            return await transcript_page(session_id, 409, f"Not sent: {e}.", content)
        return see_other(url_for("ui.session_transcript", session_id=session_id))

    @bp.post("/ui/sessions/<session_id>/template")
    async def session_template(session_id: str) -> Response:
        """A provider's template: its Content SID, and its variables one `name=value` a line."""
        await messages_of(session_id)
        form = await request.form
        sid = form.get("content_sid", "").strip()
        lines = form.get("variables", "")
        variables: dict[str, str] = {}
        for line in lines.splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep:
                return await transcript_page(
                    session_id, 422, template_error="Write each variable as name=value, "
                    "one a line (for example 1=Ana).", template_draft=(sid, lines),
                )  # fmt: skip
            variables[name.strip()] = value.strip()
        try:
            await admin.human_reply(
                actor(), session_id, None, {"content_sid": sid, "variables": variables}
            )
        except InvalidInput as e:
            why = next(iter(e.fields.values()), "cannot be sent")
            return await transcript_page(
                session_id, 422, template_error=f"The template {why}.", template_draft=(sid, lines)
            )
        except Refused as e:
            return await transcript_page(
                session_id, 409, template_error=f"Not sent: {e}.", template_draft=(sid, lines)
            )
        await flash("Template queued.")
        return see_other(url_for("ui.session_transcript", session_id=session_id))

    @bp.get("/ui/sessions/<session_id>/messages")
    async def session_fragment(session_id: str) -> Response:
        """The transcript's list alone, which the page polls for new messages."""
        return await page("session_messages.html", messages=await messages_of(session_id))
