"""Agents: list and create them (their Deploy tabs are in deploy.py)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, flash, g, request, url_for

from ports.errors import InvalidInput

from .common import UiDeps, page, see_other
from .forms import EXECUTOR_KINDS, FormErrors, agent_field, executor_from_form


def register_agent_pages(bp: Blueprint, deps: UiDeps) -> None:
    admin = deps.admin

    async def agents_page(status: int = 200, **context: Any) -> Response:
        agents = await admin.list_agents(g.workspace_id)
        context.setdefault("form", {"kind": "demo"})
        context.setdefault("errors", {})
        return await page("agents.html", status, agents=agents, kinds=EXECUTOR_KINDS, **context)

    @bp.get("/ui/agents")
    async def agents() -> Response:
        return await agents_page()

    @bp.post("/ui/agents")
    async def create_agent() -> Response:
        form = await request.form
        try:
            executor = executor_from_form(form)
            agent = await admin.create_agent(g.workspace_id, form.get("name", ""), executor)
        except FormErrors as e:
            return await agents_page(422, form=form, errors=e.fields)
        except InvalidInput as e:
            errors = {agent_field(k): v for k, v in e.fields.items()}
            return await agents_page(422, form=form, errors=errors)
        await flash(f"Agent “{agent.name}” created. Deploy it to a channel or try it here first.")
        return see_other(url_for("ui.deploy", agent_id=agent.id))
