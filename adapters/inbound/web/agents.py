"""Agents: list, create, edit and delete them (their Deploy tabs are in deploy.py).

The executor form is one per kind (`_executor.html`). Secrets (an API key, header values) are
password inputs that are never filled in: left empty, the stored value is kept; typed but
refused, they are not sent back and the person is asked to type them again."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, flash, g, request, url_for

from ports.errors import InvalidInput, NotFound
from ports.values import AgentRecord, ShownWebhook

from .common import UiDeps, page, see_other
from .forms import (
    EXECUTOR_KINDS,
    NEW_HEADER_ROWS,
    FormData,
    FormErrors,
    agent_field,
    executor_from_form,
    header_rows,
    typed_executor_secrets,
)

log = logging.getLogger(__name__)
TYPE_AGAIN = "was not kept: type it again (a secret is never sent back to the browser)"
_TEXT_FIELDS = ("url", "target", "memory", "base_url", "model", "system_prompt", "assistant_id")
_NUMBER_FIELDS = ("timeout_s", "temperature", "max_tokens")
_FORM_FIELDS = {"name", "kind", "headers", "api_key", *_TEXT_FIELDS, *_NUMBER_FIELDS}


def form_of(agent: AgentRecord) -> dict[str, str]:
    """The edit form's values from the agent as shown (its secrets are masked already)."""
    spec = agent.executor
    values = {"name": agent.name, "kind": str(spec.get("kind", ""))}
    for name in _TEXT_FIELDS:
        if isinstance(spec.get(name), str):
            values[name] = spec[name]
    for name in _NUMBER_FIELDS:
        value = spec.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = f"{value:g}"
    return values


def stored_headers(agent: AgentRecord | None) -> list[str]:
    headers = agent.executor.get("headers") if agent is not None else None
    return [str(n) for n in headers] if isinstance(headers, Mapping) else []


def rows_for(names: list[str], stored: list[str]) -> list[tuple[str, bool]]:
    """Header rows: the given names (stored ones marked), then blank rows for new headers."""
    known = {n.lower() for n in stored}
    return [(n, n.lower() in known) for n in names] + [("", False)] * NEW_HEADER_ROWS


def typed_values(form: FormData) -> dict[str, str]:
    """What was typed, to show again: every field but the secrets."""
    values = {name: form.get(name, "") for name in ("name", "kind", *_TEXT_FIELDS)}
    values.update({name: form.get(name, "") for name in _NUMBER_FIELDS})
    return values


def form_errors(e: Exception, form: FormData) -> dict[str, str]:
    fields = e.fields if isinstance(e, FormErrors | InvalidInput) else {}
    errors = {agent_field(k): v for k, v in fields.items()}
    for name in typed_executor_secrets(form):  # never echoed: typed again, or kept if empty
        errors.setdefault(name, TYPE_AGAIN)
    return errors


WEBHOOK_LOG_SIZE = 20


def register_agent_pages(bp: Blueprint, deps: UiDeps) -> None:
    admin = deps.admin
    hooks = deps.lead_webhooks

    async def webhook_of(agent: AgentRecord) -> ShownWebhook | None:
        if hooks is None:
            return None
        try:
            return await hooks.get(g.workspace_id, agent.id, WEBHOOK_LOG_SIZE)
        except NotFound:  # none configured
            return None

    async def agents_page(status: int = 200, **context: Any) -> Response:
        agents = await admin.list_agents(g.workspace_id)
        context.setdefault("form", {"kind": "demo"})
        context.setdefault("errors", {})
        context.setdefault("rows", rows_for([], []))
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
        except (FormErrors, InvalidInput) as e:
            names = [name for name, _ in header_rows(form)]
            return await agents_page(
                422,
                form=typed_values(form),
                errors=form_errors(e, form),
                rows=rows_for(names, []),
            )
        await flash(f"Agent “{agent.name}” created. Deploy it to a channel or try it here first.")
        return see_other(url_for("ui.deploy", agent_id=agent.id))

    async def edit_page(
        agent: AgentRecord,
        status: int = 200,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
        header_names: list[str] | None = None,
        delete_error: str | None = None,
        webhook_form: Mapping[str, str] | None = None,
        webhook_errors: Mapping[str, str] | None = None,
    ) -> Response:
        stored = stored_headers(agent)
        errors = dict(errors or {})
        webhook = await webhook_of(agent)
        return await page(
            "agent_edit.html",
            status,
            agent=agent,
            tab="edit",
            form=values if values is not None else form_of(agent),
            errors=errors,
            other_errors=sorted((k, v) for k, v in errors.items() if k not in _FORM_FIELDS),
            kinds=EXECUTOR_KINDS,
            rows=rows_for(stored if header_names is None else header_names, stored),
            api_key_set=agent.executor.get("api_key_set") is True,
            delete_error=delete_error,
            webhooks_on=hooks is not None,
            webhook=webhook,
            webhook_form=webhook_form or {"url": webhook.url if webhook else ""},
            webhook_errors=dict(webhook_errors or {}),
        )

    @bp.get("/ui/agents/<agent_id>/edit")
    async def edit_agent(agent_id: str) -> Response:
        return await edit_page(await admin.get_agent(g.workspace_id, agent_id))

    @bp.post("/ui/agents/<agent_id>/edit")
    async def edit_agent_submit(agent_id: str) -> Response:
        form = await request.form
        agent = await admin.get_agent(g.workspace_id, agent_id)  # 404 for others' agents
        try:
            executor = executor_from_form(form)
            saved = await admin.update_agent(
                g.workspace_id, agent_id, form.get("name", ""), executor
            )
        except (FormErrors, InvalidInput) as e:
            names = [name for name, _ in header_rows(form)]
            return await edit_page(agent, 422, typed_values(form), form_errors(e, form), names)
        await flash(f"Saved. “{saved.name}” answers the next message with these settings.")
        return see_other(url_for("ui.edit_agent", agent_id=agent_id))

    @bp.post("/ui/agents/<agent_id>/lead-webhook")
    async def save_lead_webhook(agent_id: str) -> Response:
        form = await request.form
        agent = await admin.get_agent(g.workspace_id, agent_id)  # 404 for others' agents
        if hooks is None:
            raise NotFound("lead webhooks are not available")
        url = form.get("webhook_url", "").strip()
        try:
            await hooks.configure(g.workspace_id, agent_id, url, form.get("webhook_secret", ""))
        except InvalidInput as e:
            errors = {f"webhook_{k}": v for k, v in e.fields.items()}
            if form.get("webhook_secret"):  # never echoed
                errors.setdefault("webhook_secret", TYPE_AGAIN)
            return await edit_page(agent, 422, webhook_form={"url": url}, webhook_errors=errors)
        await flash("Lead webhook saved: each new lead of this agent is POSTed, signed, to it.")
        return see_other(url_for("ui.edit_agent", agent_id=agent_id) + "#lead-webhook")

    @bp.post("/ui/agents/<agent_id>/lead-webhook/delete")
    async def delete_lead_webhook(agent_id: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        if hooks is None:
            raise NotFound("lead webhooks are not available")
        try:
            await hooks.delete(g.workspace_id, agent_id)
        except NotFound:  # removed meanwhile
            pass
        await flash("Lead webhook removed: new leads are no longer sent anywhere.")
        return see_other(url_for("ui.edit_agent", agent_id=agent_id) + "#lead-webhook")

    @bp.post("/ui/agents/<agent_id>/delete")
    async def delete_agent(agent_id: str) -> Response:
        form = await request.form
        agent = await admin.get_agent(g.workspace_id, agent_id)
        if form.get("confirm") != "yes":
            why = "Nothing was deleted: tick the box to confirm that its leads and "
            why += "conversations go too."
            return await edit_page(agent, 422, delete_error=why)
        for configured in await admin.list_channels(g.workspace_id, agent_id):
            plugin = deps.channels.get(configured.kind)
            current = await deps.directory.resolve(agent_id, configured.kind)
            if plugin is None or current is None:
                continue
            try:  # e.g. unregister its webhook at the provider; best effort
                await plugin.before_delete(current)
            except Exception as e:
                log.warning("%s before_delete failed: %s", configured.kind, type(e).__name__)
        try:
            await admin.delete_agent(g.workspace_id, agent_id)
        except NotFound:  # deleted meanwhile
            pass
        await flash(f"Agent “{agent.name}” is deleted, with its channels, leads and conversations.")
        return see_other(url_for("ui.agents"))
