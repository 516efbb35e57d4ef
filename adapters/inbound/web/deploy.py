"""Deploy: one tab per configurable channel kind, each form built from its plugin's fields.

Saving follows the admin API's PUT step by step (the current channel with its secrets opened,
`validate`, `before_save`, `configure_channel`), removing follows its DELETE; no channel kind
is named here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, flash, g, request, url_for

from adapters.channels.base import ChannelPlugin
from adapters.channels.web.chat import KIND as WEB_CHAT
from ports.driving import ResolvedChannel
from ports.errors import InvalidInput, NotFound

from .common import UiDeps, page, see_other
from .forms import channel_body, typed_secrets

KEPT_HINT = "A value is stored. Leave empty to keep it."
TYPE_AGAIN = "was not kept: enter it again (a secret is never sent back to the browser)"
ACTIONS = ("enable", "disable", "remove")


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a Deploy form, as the `field` macro takes it."""

    name: str
    label: str
    type: str
    value: str
    hint: str | None
    required: bool
    placeholder: str | None
    autocomplete: str


def form_fields(
    plugin: ChannelPlugin, channel: ResolvedChannel | None, values: Mapping[str, str]
) -> list[FormField]:
    """The kind's fields: secrets as empty password inputs (never echoed), the others
    prefilled from `values` (what was typed, else the stored settings)."""
    stored = channel.secrets if channel is not None else {}
    shown = []
    for f in plugin.fields:
        if f.secret:
            kept = f.name in stored
            shown.append(
                FormField(
                    f.name,
                    f.label,
                    "password",
                    "",
                    KEPT_HINT if kept else f.hint or None,
                    f.required and not kept,
                    f.placeholder or None,
                    "new-password",
                )
            )
        else:
            shown.append(
                FormField(
                    f.name,
                    f.label,
                    f.input_type or "text",
                    values.get(f.name, ""),
                    f.hint or None,
                    f.required,
                    f.placeholder or None,
                    "off",
                )
            )
    return shown


def register_deploy_pages(bp: Blueprint, deps: UiDeps) -> None:
    admin = deps.admin

    def deployable(kind: str) -> ChannelPlugin:
        plugin = deps.channels.get(kind)
        if plugin is None or not plugin.fields:
            raise NotFound(f"no channel kind {kind!r} is set up here")
        return plugin

    def webhook_url(plugin: ChannelPlugin, agent_id: str) -> str | None:
        path = plugin.webhook_path(agent_id)
        return None if path is None else deps.public_url.base(request) + path

    async def deploy_page(
        agent_id: str,
        kind: str | None,
        status: int = 200,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
    ) -> Response:
        agent = await admin.get_agent(g.workspace_id, agent_id)  # 404 for others' agents
        kinds = deps.channels.configurable()
        plugin = deployable(kind) if kind is not None else (kinds[0] if kinds else None)
        configured = {c.kind: c for c in await admin.list_channels(g.workspace_id, agent_id)}
        channel = configured.get(plugin.kind) if plugin is not None else None
        errors = dict(errors or {})
        names = {f.name for f in plugin.fields} if plugin is not None else set()
        try_it = deps.channels.get(WEB_CHAT)
        return await page(
            "deploy.html",
            status,
            agent=agent,
            tab="deploy",
            kinds=kinds,
            configured=configured,
            plugin=plugin,
            channel=channel,
            fields=(
                form_fields(plugin, channel, values or (channel.settings if channel else {}))
                if plugin is not None
                else []
            ),
            has_secrets=plugin is not None and any(f.secret for f in plugin.fields),
            errors=errors,
            other_errors=sorted((k, v) for k, v in errors.items() if k not in names),
            webhook_url=webhook_url(plugin, agent_id) if plugin is not None else None,
            try_label=try_it.label if try_it is not None else "Try it",
            try_description=try_it.description if try_it is not None else "in this browser",
        )

    @bp.get("/ui/agents/<agent_id>/deploy", defaults={"kind": None})
    @bp.get("/ui/agents/<agent_id>/deploy/<kind>")
    async def deploy(agent_id: str, kind: str | None) -> Response:
        return await deploy_page(agent_id, kind)

    @bp.post("/ui/agents/<agent_id>/deploy/<kind>")
    async def deploy_submit(agent_id: str, kind: str) -> Response:
        form = await request.form
        await admin.get_agent(g.workspace_id, agent_id)  # only this workspace's agents
        plugin = deployable(kind)
        here = url_for("ui.deploy", agent_id=agent_id, kind=kind)
        action = form.get("action", "enable")
        if action not in ACTIONS:
            return see_other(here)
        current = await deps.directory.resolve(agent_id, kind)  # secrets opened, for hooks
        if action == "remove":
            return await remove(plugin, agent_id, current, here)
        if action == "disable" and current is None:
            return see_other(here)
        body: dict[str, Any] = (
            {**current.settings, "enabled": False}  # secrets left out: the stored ones stay
            if action == "disable" and current is not None
            else channel_body(plugin.fields, form)
        )
        try:
            draft = plugin.validate(body, current)
            draft = await plugin.before_save(
                agent_id, draft, current, webhook_url(plugin, agent_id)
            )
            await admin.configure_channel(
                g.workspace_id, agent_id, kind, draft.settings, draft.secrets, draft.enabled
            )
        except InvalidInput as e:
            errors = dict(e.fields)
            values = None
            if action == "enable":  # keep what was typed, except secrets: never echoed
                values = {f.name: form.get(f.name, "") for f in plugin.fields if not f.secret}
                for name in typed_secrets(plugin.fields, form):
                    errors.setdefault(name, TYPE_AGAIN)
            return await deploy_page(agent_id, kind, 422, values, errors)
        if action == "disable":
            await flash(
                f"{plugin.label} is disabled: the agent refuses its messages until you enable "
                "it again."
            )
            return see_other(here)
        if plugin.webhook_path(agent_id) is None:
            await flash(f"Saved. {plugin.label} is enabled.")
            return see_other(here)
        await flash(f"Saved. {plugin.label} is enabled: its webhook address is below.")
        return see_other(here + "#webhook")

    async def remove(
        plugin: ChannelPlugin, agent_id: str, current: ResolvedChannel | None, here: str
    ) -> Response:
        if current is None:
            return see_other(here)
        await plugin.before_delete(current)
        try:
            await admin.delete_channel(g.workspace_id, agent_id, plugin.kind)
        except NotFound:  # removed meanwhile
            pass
        await flash(
            f"{plugin.label} is removed: its settings and secrets are deleted, and its webhook "
            "answers as if it had never been set up."
        )
        return see_other(here)
