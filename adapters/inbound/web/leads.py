"""Leads (a tab per platform, search, paging, CSV); transcripts are in conversations.py."""

from __future__ import annotations

from quart import Blueprint, Response, g, request

from adapters.inbound.http.admin_api import csv_rows, lead_filter_errors, phone_platforms

from .common import UiDeps, page

PAGE_SIZE = 25


def register_lead_pages(bp: Blueprint, deps: UiDeps) -> None:
    admin = deps.admin
    is_phone = phone_platforms(deps.channels)

    def filters() -> tuple[str | None, str | None, str | None]:
        args = request.args
        return (
            args.get("agent_id") or None,
            args.get("platform") or None,
            (args.get("q") or "").strip() or None,
        )

    async def invalid_filters() -> Response | None:
        """The error page for filters no lead can match (control characters, too long): the
        database would refuse them (PostgreSQL has no NUL in text)."""
        if not lead_filter_errors(*filters()):
            return None
        message = "Search with plain text: no control characters, at most 200 characters."
        return await page("error.html", 422, title="Invalid search", message=message)

    @bp.get("/ui/leads")
    async def leads() -> Response:
        if (invalid := await invalid_filters()) is not None:
            return invalid
        agent_id, platform, search = filters()
        cursor = request.args.get("cursor") or None
        notice = None
        try:
            result = await admin.list_leads(
                g.workspace_id, agent_id, platform, search, PAGE_SIZE, cursor
            )
        except ValueError:  # a cursor this list did not make
            notice = "That page link is no longer valid; showing the first page."
            cursor = None
            result = await admin.list_leads(
                g.workspace_id, agent_id, platform, search, PAGE_SIZE, None
            )
        agents = await admin.list_agents(g.workspace_id)
        return await page(
            "leads.html",
            leads=result.items,
            next_cursor=result.next_cursor,
            paged=cursor is not None,
            agents=agents,
            agent_names={a.id: a.name for a in agents},
            agent_id=agent_id or "",
            platform=platform or "",
            q=search or "",
            notice=notice,
        )

    @bp.get("/ui/leads.csv")
    async def leads_csv() -> Response:
        if (invalid := await invalid_filters()) is not None:
            return invalid
        agent_id, platform, search = filters()
        leads = admin.export_leads(g.workspace_id, agent_id, platform, search)
        response = Response(csv_rows(leads, is_phone), content_type="text/csv; charset=utf-8")
        known = platform is not None and deps.channels.get(platform) is not None
        name = f"leads-{platform}.csv" if known else "leads.csv"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
