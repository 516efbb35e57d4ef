"""Agents: list and create them, and their Deploy tab (the WhatsApp channel through Twilio)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, flash, g, request, url_for

from adapters.inbound.twilio.webhook import PLATFORM as WHATSAPP
from ports.driving import ResolvedChannel
from ports.errors import InvalidInput, NotFound

from .common import UiDeps, page, see_other
from .forms import EXECUTOR_KINDS, FormErrors, agent_field, executor_from_form, whatsapp_from_form

SANDBOX_NUMBER = "+1 415 523 8886"
RETYPE_TOKEN = "was not kept: enter it again (a token is never sent back to the browser)"  # noqa: S105
DISABLED = "WhatsApp is disabled: the agent refuses its messages until you enable it again."


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
        await flash(f"Agent “{agent.name}” created. Deploy it to WhatsApp or try it here first.")
        return see_other(url_for("ui.deploy", agent_id=agent.id))

    async def whatsapp_of(agent_id: str) -> ResolvedChannel | None:
        try:
            return await admin.get_channel(g.workspace_id, agent_id, WHATSAPP)
        except NotFound:
            return None

    async def deploy_page(
        agent_id: str, status: int = 200, form: Any = None, errors: Any = None
    ) -> Response:
        agent = await admin.get_agent(g.workspace_id, agent_id)  # 404 for others' agents
        channel = await whatsapp_of(agent_id)
        settings = channel.settings if channel else {}
        return await page(
            "deploy.html",
            status,
            agent=agent,
            tab="deploy",
            channel=channel,
            token_set=bool(channel and "auth_token" in channel.secrets),
            form=form or settings,
            errors=errors or {},
            webhook_url=deps.public_url.base(request) + f"/webhooks/twilio/{agent_id}",
            sandbox_number=SANDBOX_NUMBER,
        )

    @bp.get("/ui/agents/<agent_id>/deploy")
    async def deploy(agent_id: str) -> Response:
        return await deploy_page(agent_id)

    @bp.post("/ui/agents/<agent_id>/deploy")
    async def deploy_submit(agent_id: str) -> Response:
        form = await request.form
        await admin.get_agent(g.workspace_id, agent_id)
        channel = await whatsapp_of(agent_id)
        if form.get("action") == "disable":
            if channel is None:
                return see_other(url_for("ui.deploy", agent_id=agent_id))
            keep_token: dict[str, str | None] = {"auth_token": None}
            settings = dict(channel.settings)
            await admin.configure_channel(
                g.workspace_id, agent_id, WHATSAPP, settings, keep_token, False
            )
            await flash(DISABLED)
            return see_other(url_for("ui.deploy", agent_id=agent_id))
        token_set = bool(channel and "auth_token" in channel.secrets)
        try:
            fields = whatsapp_from_form(form, token_set)
        except FormErrors as e:
            shown = {k: v for k, v in form.items() if k != "auth_token"}  # never echo a token
            errors = dict(e.fields)
            if form.get("auth_token") and "auth_token" not in errors:
                errors["auth_token"] = RETYPE_TOKEN
            return await deploy_page(agent_id, 422, form=shown, errors=errors)
        await admin.configure_channel(
            g.workspace_id,
            agent_id,
            WHATSAPP,
            {"account_sid": fields["account_sid"], "phone_number": fields["phone_number"]},
            {"auth_token": fields["auth_token"]},
            True,
        )
        await flash("Saved. WhatsApp is enabled: now paste the webhook URL below into Twilio.")
        return see_other(url_for("ui.deploy", agent_id=agent_id) + "#webhook")
