"""The admin API (JSON, bearer keys): agents, their channels (any registered kind), leads and
sessions. No channel kind is named here: each plugin validates and describes its own."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from quart import Blueprint, Response, g, jsonify, request

from adapters.channels.base import ChannelPlugin
from adapters.channels.registry import ChannelRegistry
from adapters.inbound.http.public_url import PublicUrl
from ports.driving import Administration, ChannelDirectory
from ports.errors import NotFound
from ports.values import AgentRecord, LeadRecord, StoredMessage

# `contact` is last: columns a spreadsheet already reads by position keep their place.
LEAD_COLUMNS = (
    "id", "agent_id", "platform", "phone", "name", "first_seen_at", "last_seen_at",
    "message_count", "contact",
)  # fmt: skip
# What a spreadsheet would run as a formula (OWASP's list); only a real E.164 number in a phone
# column may start with `+`.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_COLUMNS = ("phone", "contact")


class ApiError(Exception):
    """An error answered as JSON: {"error": ..., "fields": {...}}."""

    def __init__(self, status: int, error: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.fields = status, error, fields


def error_response(status: int, error: str, fields: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"error": error}
    if fields is not None:
        body["fields"] = fields
    response = jsonify(body)
    response.status_code = status
    return response


def agent_json(agent: AgentRecord) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "executor": agent.executor,
        "created_at": agent.created_at.isoformat(),
    }


def lead_json(lead: LeadRecord, is_phone: Callable[[str], bool]) -> dict[str, Any]:
    """`contact` for every platform; `phone` only where contacts are phone numbers."""
    return {
        "id": lead.id,
        "agent_id": lead.agent_id,
        "platform": lead.platform,
        "contact": lead.contact,
        "phone": lead.contact if is_phone(lead.platform) else None,
        "name": lead.name,
        "first_seen_at": lead.first_seen_at.isoformat(),
        "last_seen_at": lead.last_seen_at.isoformat(),
        "message_count": lead.message_count,
    }


def _cell(column: str, value: object) -> object:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if column in _PHONE_COLUMNS and _E164.match(value):
        return value
    return "'" + value


async def csv_rows(
    leads: AsyncIterator[LeadRecord], is_phone: Callable[[str], bool]
) -> AsyncIterator[bytes]:
    """Leads as CSV with a header row, streamed in chunks of about 16 KiB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(LEAD_COLUMNS)
    async for lead in leads:
        record = lead_json(lead, is_phone)
        writer.writerow([_cell(c, record[c]) for c in LEAD_COLUMNS])
        if buffer.tell() > 16384:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def message_json(message: StoredMessage) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
        "status": message.status,
    }


async def json_object() -> dict[str, Any]:
    raw = await request.get_data(as_text=True)
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "malformed JSON body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the JSON body must be an object")
    return body


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return 50
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ApiError(422, "invalid fields", {"limit": "must be a whole number from 1 to 500"})
    return min(int(value), 500)


def phone_platforms(channels: ChannelRegistry) -> Callable[[str], bool]:
    """Whether a lead platform's contacts are phone numbers (unknown platforms: no)."""
    phones = {p.kind for p in channels if p.traits.contact_is_phone}
    return phones.__contains__


def admin_api_blueprint(
    admin: Administration,
    channels: ChannelRegistry,
    directory: ChannelDirectory,
    public_url: PublicUrl,
) -> Blueprint:
    bp = Blueprint("admin_api", __name__, url_prefix="/api")
    is_phone = phone_platforms(channels)

    @bp.errorhandler(ApiError)
    async def api_error(e: ApiError) -> Response:
        return error_response(e.status, e.error, e.fields)

    @bp.before_request
    async def authenticate() -> Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        workspace = None
        if scheme.lower() == "bearer" and key.strip():
            workspace = await admin.authenticate(key.strip())
        if workspace is None:
            response = error_response(401, "missing or unknown API key")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        g.workspace_id = workspace
        return None

    @bp.post("/agents")
    async def create_agent() -> tuple[Response, int]:
        body = await json_object()
        errors = {}
        if not isinstance(body.get("name"), str):
            errors["name"] = "required: a string"
        if not isinstance(body.get("executor"), dict):
            errors["executor"] = "required: an object with a kind"
        if errors:
            raise ApiError(422, "invalid fields", errors)
        agent = await admin.create_agent(g.workspace_id, body["name"], body["executor"])
        return jsonify(agent_json(agent)), 201

    @bp.get("/agents")
    async def list_agents() -> Response:
        agents = await admin.list_agents(g.workspace_id)
        return jsonify({"items": [agent_json(a) for a in agents]})

    @bp.get("/agents/<agent_id>")
    async def get_agent(agent_id: str) -> Response:
        return jsonify(agent_json(await admin.get_agent(g.workspace_id, agent_id)))

    def plugin_of(kind: str) -> ChannelPlugin:
        plugin = channels.get(kind)
        if plugin is None:
            raise ApiError(404, f"no channel kind {kind!r}")
        return plugin

    @bp.get("/channels")
    async def channel_kinds() -> Response:
        return jsonify({"items": [p.as_json() for p in channels]})

    @bp.get("/agents/<agent_id>/channels")
    async def agent_channels(agent_id: str) -> Response:
        configured = await admin.list_channels(g.workspace_id, agent_id)
        base = public_url.base(request)
        items = [
            plugin.describe(c, base)
            for c in configured
            if (plugin := channels.get(c.kind)) is not None
        ]
        return jsonify({"items": items})

    @bp.put("/agents/<agent_id>/channels/<kind>")
    async def put_channel(agent_id: str, kind: str) -> Response:
        body = await json_object()
        await admin.get_agent(g.workspace_id, agent_id)  # 404 before field errors
        plugin = plugin_of(kind)
        current = await directory.resolve(agent_id, kind)
        draft = plugin.validate(body, current)  # InvalidInput: 422 naming the fields
        path = plugin.webhook_path(agent_id)
        webhook_url = None if path is None else public_url.base(request) + path
        draft = await plugin.before_save(agent_id, draft, current, webhook_url)
        saved = await admin.configure_channel(
            g.workspace_id, agent_id, kind, draft.settings, draft.secrets, draft.enabled
        )
        return jsonify(plugin.describe(saved, public_url.base(request)))

    @bp.get("/agents/<agent_id>/channels/<kind>")
    async def get_channel(agent_id: str, kind: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        plugin = plugin_of(kind)
        channel = await admin.get_channel(g.workspace_id, agent_id, kind)
        return jsonify(plugin.describe(channel, public_url.base(request)))

    @bp.delete("/agents/<agent_id>/channels/<kind>")
    async def delete_channel(agent_id: str, kind: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        plugin = plugin_of(kind)
        current = await directory.resolve(agent_id, kind)
        if current is None:
            raise NotFound(f"{kind} is not configured for this agent")
        await plugin.before_delete(current)
        await admin.delete_channel(g.workspace_id, agent_id, kind)
        return Response("", status=204)

    def lead_filters() -> tuple[str | None, str | None, str | None]:
        args = request.args
        return args.get("agent_id") or None, args.get("platform") or None, args.get("q") or None

    @bp.get("/leads")
    async def list_leads() -> Response:
        agent_id, platform, search = lead_filters()
        limit = parse_limit(request.args.get("limit"))
        try:
            page = await admin.list_leads(
                g.workspace_id, agent_id, platform, search, limit, request.args.get("cursor")
            )
        except ValueError:
            raise ApiError(
                422, "invalid fields", {"cursor": "not a cursor from this API"}
            ) from None
        return jsonify(
            {"items": [lead_json(x, is_phone) for x in page.items], "next_cursor": page.next_cursor}
        )

    @bp.get("/leads.csv")
    async def leads_csv() -> Response:
        agent_id, platform, search = lead_filters()
        leads = admin.export_leads(g.workspace_id, agent_id, platform, search)
        response = Response(csv_rows(leads, is_phone), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="leads.csv"'
        return response

    @bp.get("/sessions/<session_id>/messages")
    async def session_messages(session_id: str) -> Response:
        messages = await admin.session_messages(g.workspace_id, session_id)
        return jsonify({"items": [message_json(m) for m in messages]})

    return bp
