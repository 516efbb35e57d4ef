"""The admin API (JSON, bearer keys): agents, the WhatsApp channel, leads and sessions."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import phonenumbers
from quart import Blueprint, Response, g, jsonify, request

from adapters.inbound.http.public_url import PublicUrl
from ports.driving import Administration, ResolvedChannel
from ports.errors import NotFound
from ports.values import AgentRecord, LeadRecord, StoredMessage

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
LEAD_COLUMNS = (
    "id", "agent_id", "platform", "phone", "name", "first_seen_at", "last_seen_at",
    "message_count",
)  # fmt: skip


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


def lead_json(lead: LeadRecord) -> dict[str, Any]:
    return {
        "id": lead.id,
        "agent_id": lead.agent_id,
        "platform": lead.platform,
        "phone": lead.contact,
        "name": lead.name,
        "first_seen_at": lead.first_seen_at.isoformat(),
        "last_seen_at": lead.last_seen_at.isoformat(),
        "message_count": lead.message_count,
    }


def _cell(value: object) -> object:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "@", "\t", "\r", "-") and len(value) > 1:
        return "'" + value
    return value


async def csv_rows(leads: AsyncIterator[LeadRecord]) -> AsyncIterator[bytes]:
    """Leads as CSV with a header row, streamed in chunks of about 16 KiB."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(LEAD_COLUMNS)
    async for lead in leads:
        record = lead_json(lead)
        writer.writerow([_cell(record[c]) for c in LEAD_COLUMNS])
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


def validate_whatsapp(body: dict[str, Any], token_stored: bool) -> dict[str, Any]:
    """Field rules of `PUT .../channels/whatsapp`; raises ApiError 422 naming each field."""
    errors: dict[str, str] = {}
    sid = body.get("account_sid")
    if not isinstance(sid, str) or not ACCOUNT_SID.match(sid):
        errors["account_sid"] = "must be AC followed by 32 hexadecimal characters"
    phone = body.get("phone_number")
    normalized = None
    if isinstance(phone, str) and phone.startswith("+"):
        try:
            parsed = phonenumbers.parse(phone, None)
            if phonenumbers.is_possible_number(parsed):
                normalized = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            normalized = None
    if normalized is None or normalized != phone:
        errors["phone_number"] = "must be a phone number in E.164 form, e.g. +14155238886"
    token = body.get("auth_token")
    if token is None:
        if not token_stored:
            errors["auth_token"] = "required: no auth token is stored yet"  # noqa: S105
    elif not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9]{16,128}", token):
        errors["auth_token"] = "must be the Auth Token from the Twilio Console"  # noqa: S105
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = "must be true or false"
    if errors:
        raise ApiError(422, "invalid fields", errors)
    return {"account_sid": sid, "phone_number": normalized, "auth_token": token, "enabled": enabled}


def parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return 50
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ApiError(422, "invalid fields", {"limit": "must be a whole number from 1 to 500"})
    return min(int(value), 500)


def admin_api_blueprint(admin: Administration, public_url: PublicUrl) -> Blueprint:
    bp = Blueprint("admin_api", __name__, url_prefix="/api")

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

    def channel_json(channel: ResolvedChannel) -> dict[str, Any]:
        path = f"/webhooks/twilio/{channel.agent_id}"
        return {
            "account_sid": channel.settings.get("account_sid"),
            "phone_number": channel.settings.get("phone_number"),
            "enabled": channel.enabled,
            "webhook_url": public_url.base(request) + path,
            "auth_token_set": "auth_token" in channel.secrets,
        }

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

    @bp.put("/agents/<agent_id>/channels/whatsapp")
    async def put_whatsapp(agent_id: str) -> Response:
        body = await json_object()
        await admin.get_agent(g.workspace_id, agent_id)  # 404 before field errors
        try:
            stored = await admin.get_channel(g.workspace_id, agent_id, "whatsapp")
            token_stored = "auth_token" in stored.secrets
        except NotFound:
            token_stored = False
        fields = validate_whatsapp(body, token_stored)
        channel = await admin.configure_channel(
            g.workspace_id,
            agent_id,
            "whatsapp",
            {"account_sid": fields["account_sid"], "phone_number": fields["phone_number"]},
            {"auth_token": fields["auth_token"]},
            fields["enabled"],
        )
        return jsonify(channel_json(channel))

    @bp.get("/agents/<agent_id>/channels/whatsapp")
    async def get_whatsapp(agent_id: str) -> Response:
        return jsonify(channel_json(await admin.get_channel(g.workspace_id, agent_id, "whatsapp")))

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
            {"items": [lead_json(x) for x in page.items], "next_cursor": page.next_cursor}
        )

    @bp.get("/leads.csv")
    async def leads_csv() -> Response:
        agent_id, platform, search = lead_filters()
        leads = admin.export_leads(g.workspace_id, agent_id, platform, search)
        response = Response(csv_rows(leads), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="leads.csv"'
        return response

    @bp.get("/sessions/<session_id>/messages")
    async def session_messages(session_id: str) -> Response:
        messages = await admin.session_messages(g.workspace_id, session_id)
        return jsonify({"items": [message_json(m) for m in messages]})

    return bp
