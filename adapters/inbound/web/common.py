"""What every page module shares: its dependencies and how a page is answered."""

from __future__ import annotations

from dataclasses import dataclass

from quart import Response, render_template

from adapters.channels.registry import ChannelRegistry
from adapters.channels.web.chat import WebChat
from adapters.inbound.http.public_url import PublicUrl
from ports.driving import Administration, ChannelDirectory, LeadWebhookAdmin


@dataclass(frozen=True)
class UiDeps:
    """What the page modules use: driving ports, the registered channel kinds, the web chat
    channel and URL building."""

    admin: Administration
    channels: ChannelRegistry
    directory: ChannelDirectory  # a channel with its secrets opened, for the plugins' hooks
    webchat: WebChat
    public_url: PublicUrl
    lead_webhooks: LeadWebhookAdmin | None = None  # the agent page's new-lead webhook form


async def page(template: str, status: int = 200, **context: object) -> Response:
    response = Response(await render_template(template, **context), status=status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def see_other(location: str) -> Response:
    """303: after a form, the browser GETs the next page (a reload never re-posts)."""
    return Response("", status=303, headers={"Location": location})
