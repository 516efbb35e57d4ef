"""The admin API (JSON, bearer keys): agents, their channels (any registered kind), leads and
sessions. No channel kind is named here: each plugin validates and describes its own."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from quart import Blueprint, Response, g, jsonify, request

from adapters.channels.base import ChannelPlugin
from adapters.channels.registry import ChannelRegistry
from adapters.inbound.http import schemas as S
from adapters.inbound.http.openapi import api_doc
from adapters.inbound.http.public_url import PublicUrl
from ports.driving import Administration, ChannelDirectory, LeadWebhookAdmin
from ports.errors import NotFound
from ports.values import (
    SESSION_FILTERS,
    AgentRecord,
    LeadDelivery,
    LeadRecord,
    SessionSummary,
    ShownWebhook,
    StoredMessage,
)

log = logging.getLogger(__name__)

# New columns go last: columns a spreadsheet already reads by position keep their place.
LEAD_COLUMNS = (
    "id", "agent_id", "platform", "phone", "name", "first_seen_at", "last_seen_at",
    "message_count", "contact", "opted_out",
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
        "opted_out": lead.opted_out,
    }


def _time(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def delivery_json(delivery: LeadDelivery) -> dict[str, Any]:
    """A delivery log entry: never the body, the URL or the secret."""
    return {
        "id": delivery.delivery_id,
        "lead_id": delivery.lead.id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "last_attempt_at": _time(delivery.last_attempt_at),
        "next_attempt_at": _time(delivery.next_attempt_at),
    }


def webhook_json(shown: ShownWebhook, with_log: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"url": shown.url, "secret_set": shown.secret_set}
    if with_log:
        body["deliveries"] = [delivery_json(d) for d in shown.deliveries]
    return body


def _cell(column: str, value: object) -> object:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
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
    """`error`: why a message failed or went undelivered (a provider code, `poison`), else null."""
    shown: dict[str, Any] = {
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
        "status": message.status,
        "error": message.error,
    }
    if message.author is not None:  # a human's reply: who wrote it
        shown["author"] = message.author
    return shown


def session_json(summary: SessionSummary) -> dict[str, Any]:
    """An inbox entry (CONTRACT section 9)."""
    return {
        "session_id": summary.session_id,
        "agent_id": summary.agent_id,
        "platform": summary.kind,
        "contact": summary.contact,
        "name": summary.name,
        "last_message_at": summary.last_message_at.isoformat(),
        "last_message": summary.last_message,
        "paused": summary.paused,
        "needs_attention": summary.needs_attention,
    }


MAX_JSON_DEPTH = 32  # objects and arrays inside one another; specs need a handful
MAX_SESSION_ID = 255  # what the session table holds: anything longer is no session
MAX_FILTER = {"platform": 32, "q": 200}  # a platform kind; the longest name a lead can have
NOT_TEXT = "must be text: no NUL or other control characters, no lone surrogates"
_LIMIT_ERROR = {"limit": "must be a whole number from 1 to 500"}
_TOO_DEEP = f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"


def lead_filter_errors(
    agent_id: str | None, platform: str | None, search: str | None
) -> dict[str, str]:
    """Why each lead filter (`agent_id`, `platform`, `q`) cannot be used, if it cannot: text
    without control characters, `platform` and `q` no longer than anything stored can be."""
    errors = {}
    for name, value in (("agent_id", agent_id), ("platform", platform), ("q", search)):
        if value is None:
            continue
        if not is_text(value, controls=True):
            errors[name] = NOT_TEXT
        elif name in MAX_FILTER and len(value) > MAX_FILTER[name]:
            errors[name] = f"at most {MAX_FILTER[name]} characters"
    return errors


def is_session_id(value: str) -> bool:
    """Whether a session could have this id (else it is a 404 without asking the store)."""
    return len(value) <= MAX_SESSION_ID and is_text(value, controls=True)


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400: no JSON number a database can hold
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_text(value: str, controls: bool = False) -> bool:
    """Whether a string can be stored and sent back: no lone surrogate (`"\\ud800"` parses,
    but is no Unicode text, and neither UTF-8 nor PostgreSQL can hold it), no NUL (PostgreSQL
    text cannot hold it) and, with `controls`, no other C0 control character or DEL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    if controls:
        return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    return "\x00" not in value


def _check_body(body: dict[str, Any]) -> None:
    """Nesting depth (400) and text (422 naming the top-level field), walked without recursion
    so that no shape of body can exhaust the stack."""
    bad: dict[str, str] = {}
    stack: list[tuple[Any, int, str | None]] = [(body, 1, None)]
    while stack:
        value, depth, field = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ApiError(400, _TOO_DEEP)
            items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
            for key, item in items:
                if key is not None and not is_text(key):  # a field name that is not text
                    bad[field or "body"] = NOT_TEXT
                    continue
                stack.append((item, depth + 1, key if field is None else field))
        elif isinstance(value, str) and not is_text(value):
            bad[field or "body"] = NOT_TEXT
    if bad:
        raise ApiError(422, "invalid fields", bad)


async def json_object() -> dict[str, Any]:
    """The request's JSON object. 400 when it is not UTF-8, not JSON (`NaN` and numbers out of
    range included) or nested too deeply; 422 when a string in it is not text; 413 (from Quart)
    over MAX_CONTENT_LENGTH."""
    raw = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    try:
        body = json.loads(raw.decode("utf-8"), parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:  # the parser's own stack ran out: far deeper than allowed
        raise ApiError(400, _TOO_DEEP) from None
    except ValueError:  # UnicodeDecodeError included
        raise ApiError(400, "malformed JSON body: UTF-8 JSON text expected") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the JSON body must be an object")
    _check_body(body)
    return body


MAX_SPEC_BYTES = 16 * 1024
SPEC_TOO_BIG = f"must be at most {MAX_SPEC_BYTES} bytes as JSON"


def _too_big(spec: object) -> bool:
    return len(json.dumps(spec, ensure_ascii=False).encode("utf-8", "replace")) > MAX_SPEC_BYTES


def _encode_agent_cursor(agent_id: str) -> str:
    return base64.urlsafe_b64encode(agent_id.encode()).decode().rstrip("=")


def _agent_cursor(cursor: str) -> str | None:
    """The agent id an agents-list cursor names, or None when it is not one of ours."""
    if len(cursor) > 64 or not cursor.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None


def parse_limit(value: str | None) -> int:
    """`limit`: default 50, 1 and more, capped at 500; anything else is a 422."""
    if value is None or value == "":
        return 50
    if not (value.isascii() and value.isdigit()):
        raise ApiError(422, "invalid fields", _LIMIT_ERROR)
    digits = value.lstrip("0")
    if not digits:
        raise ApiError(422, "invalid fields", _LIMIT_ERROR)
    return 500 if len(digits) > 3 else min(int(digits), 500)


def phone_platforms(channels: ChannelRegistry) -> Callable[[str], bool]:
    """Whether a lead platform's contacts are phone numbers (unknown platforms: no)."""
    phones = {p.kind for p in channels if p.traits.contact_is_phone}
    return phones.__contains__


def admin_api_blueprint(
    admin: Administration,
    channels: ChannelRegistry,
    directory: ChannelDirectory,
    public_url: PublicUrl,
    lead_webhooks: LeadWebhookAdmin,
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
        actor = None
        if scheme.lower() == "bearer" and key.strip():
            actor = await admin.identify(key.strip())
        if actor is None:
            response = error_response(401, "missing or unknown API key")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        g.workspace_id = actor.workspace_id
        g.actor = actor  # who does what follows (recorded on pauses and human replies)
        return None

    @bp.post("/agents")
    @api_doc(ok=S.Agent, status=201, body=S.AgentCreate)
    async def create_agent() -> tuple[Response, int]:
        body = await json_object()
        errors = {}
        if not isinstance(body.get("name"), str):
            errors["name"] = "required: a string"
        if not isinstance(body.get("executor"), dict):
            errors["executor"] = "required: an object with a kind"
        elif _too_big(body["executor"]):
            errors["executor"] = SPEC_TOO_BIG
        if errors:
            raise ApiError(422, "invalid fields", errors)
        agent = await admin.create_agent(g.workspace_id, body["name"], body["executor"])
        return jsonify(agent_json(agent)), 201

    @bp.get("/agents")
    @api_doc(ok=S.AgentList, query=S.AgentListQuery)
    async def list_agents() -> Response:
        """Paged like the other lists: `limit` (default 50, at most 500) and an opaque cursor
        (the last id of the previous page), oldest agents first."""
        limit = parse_limit(request.args.get("limit"))
        cursor = request.args.get("cursor")
        after = _agent_cursor(cursor) if cursor else None
        stale = ApiError(422, "invalid fields", {"cursor": "not a cursor from this list"})
        if cursor and after is None:
            raise stale
        try:  # one page and one more row read, never the whole list
            agents = await admin.list_agents(g.workspace_id, limit + 1, after)
        except NotFound:
            raise stale from None
        page, more = agents[:limit], len(agents) > limit
        next_cursor = _encode_agent_cursor(page[-1].id) if more and page else None
        return jsonify({"items": [agent_json(a) for a in page], "next_cursor": next_cursor})

    @bp.get("/agents/<agent_id>")
    @api_doc(ok=S.Agent, errors=[404])
    async def get_agent(agent_id: str) -> Response:
        return jsonify(agent_json(await admin.get_agent(g.workspace_id, agent_id)))

    @bp.patch("/agents/<agent_id>")
    @api_doc(ok=S.Agent, body=S.AgentPatch, errors=[404])
    async def patch_agent(agent_id: str) -> Response:
        body = await json_object()
        await admin.get_agent(g.workspace_id, agent_id)  # 404 before field errors
        errors = {}
        if "name" in body and not isinstance(body["name"], str):
            errors["name"] = "must be a string"
        if "executor" in body and not isinstance(body["executor"], dict):
            errors["executor"] = "must be an object with a kind"
        elif "executor" in body and _too_big(body["executor"]):
            errors["executor"] = SPEC_TOO_BIG
        if errors:
            raise ApiError(422, "invalid fields", errors)
        agent = await admin.update_agent(
            g.workspace_id, agent_id, body.get("name"), body.get("executor")
        )
        return jsonify(agent_json(agent))

    @bp.delete("/agents/<agent_id>")
    @api_doc(status=204, errors=[404])
    async def delete_agent(agent_id: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        for configured in await admin.list_channels(g.workspace_id, agent_id):
            plugin = channels.get(configured.kind)
            current = await directory.resolve(agent_id, configured.kind)
            if plugin is None or current is None:
                continue
            try:  # e.g. unregister its webhook at the provider; best effort
                await plugin.before_delete(current)
            except Exception as e:
                log.warning("%s before_delete failed: %s", configured.kind, type(e).__name__)
        await admin.delete_agent(g.workspace_id, agent_id)
        return Response("", status=204)

    def plugin_of(kind: str) -> ChannelPlugin:
        plugin = channels.get(kind)
        if plugin is None:
            raise ApiError(404, f"no channel kind {kind!r}")
        return plugin

    @bp.get("/channels")
    @api_doc(ok=S.ChannelKindList)
    async def channel_kinds() -> Response:
        return jsonify({"items": [p.as_json() for p in channels]})

    @bp.get("/agents/<agent_id>/channels")
    @api_doc(ok=S.ChannelList, errors=[404])
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
    @api_doc(ok=S.Channel, body=S.ChannelSettings, errors=[404])
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
    @api_doc(ok=S.Channel, errors=[404])
    async def get_channel(agent_id: str, kind: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        plugin = plugin_of(kind)
        channel = await admin.get_channel(g.workspace_id, agent_id, kind)
        return jsonify(plugin.describe(channel, public_url.base(request)))

    @bp.delete("/agents/<agent_id>/channels/<kind>")
    @api_doc(status=204, errors=[404])
    async def delete_channel(agent_id: str, kind: str) -> Response:
        await admin.get_agent(g.workspace_id, agent_id)
        plugin = plugin_of(kind)
        current = await directory.resolve(agent_id, kind)
        if current is None:
            raise NotFound(f"{kind} is not configured for this agent")
        await plugin.before_delete(current)
        await admin.delete_channel(g.workspace_id, agent_id, kind)
        return Response("", status=204)

    @bp.put("/agents/<agent_id>/lead-webhook")
    @api_doc(ok=S.LeadWebhook, body=S.LeadWebhookSettings, errors=[404])
    async def put_lead_webhook(agent_id: str) -> Response:
        """New leads of this agent are POSTed, signed, to `url` (docs/lead-webhook.md)."""
        body = await json_object()
        shown = await lead_webhooks.configure(
            g.workspace_id, agent_id, body.get("url"), body.get("secret")
        )  # 404 before field errors, then 422 naming them
        return jsonify(webhook_json(shown, with_log=False))

    @bp.get("/agents/<agent_id>/lead-webhook")
    @api_doc(ok=S.LeadWebhook, errors=[404])
    async def get_lead_webhook(agent_id: str) -> Response:
        """The webhook (never its secret) and its delivery log, newest first."""
        shown = await lead_webhooks.get(g.workspace_id, agent_id)
        return jsonify(webhook_json(shown, with_log=True))

    @bp.delete("/agents/<agent_id>/lead-webhook")
    @api_doc(status=204, errors=[404])
    async def delete_lead_webhook(agent_id: str) -> Response:
        await lead_webhooks.delete(g.workspace_id, agent_id)
        return Response("", status=204)

    def lead_filters() -> tuple[str | None, str | None, str | None]:
        args = request.args
        agent_id, platform, search = (args.get(n) or None for n in ("agent_id", "platform", "q"))
        errors = lead_filter_errors(agent_id, platform, search)
        if errors:
            raise ApiError(422, "invalid fields", errors)
        return agent_id, platform, search

    @bp.get("/leads")
    @api_doc(ok=S.LeadList, query=S.LeadQuery)
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
    @api_doc(ok=S.LeadsCsv, query=S.LeadCsvQuery, media_type="text/csv")
    async def leads_csv() -> Response:
        agent_id, platform, search = lead_filters()
        leads = admin.export_leads(g.workspace_id, agent_id, platform, search)
        response = Response(csv_rows(leads, is_phone), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="leads.csv"'
        return response

    @bp.get("/sessions")
    @api_doc(ok=S.SessionList, query=S.SessionQuery)
    async def list_sessions() -> Response:
        args = request.args
        agent_id, platform, status = (
            args.get(n) or None for n in ("agent_id", "platform", "status")
        )
        errors = lead_filter_errors(agent_id, platform, None)
        if status is not None and status not in SESSION_FILTERS:
            errors["status"] = "must be one of: " + ", ".join(SESSION_FILTERS)
        if errors:
            raise ApiError(422, "invalid fields", errors)
        limit = parse_limit(args.get("limit"))
        try:
            page = await admin.list_sessions(
                g.workspace_id, agent_id, platform, status, limit, args.get("cursor")
            )
        except ValueError:
            raise ApiError(
                422, "invalid fields", {"cursor": "not a cursor from this API"}
            ) from None
        return jsonify(
            {"items": [session_json(x) for x in page.items], "next_cursor": page.next_cursor}
        )

    @bp.get("/sessions/<session_id>/messages")
    @api_doc(ok=S.MessageList, errors=[404])
    async def session_messages(session_id: str) -> Response:
        if not is_session_id(session_id):
            raise NotFound("session not found")  # no session can have this id
        messages = await admin.session_messages(g.workspace_id, session_id)
        return jsonify({"items": [message_json(m) for m in messages]})

    @bp.put("/sessions/<session_id>/agent")
    @api_doc(ok=S.PauseState, body=S.PauseRequest, errors=[404])
    async def pause_agent(session_id: str) -> Response:
        if not is_session_id(session_id):
            raise NotFound("session not found")
        body = await json_object()
        paused = body.get("paused")
        if not isinstance(paused, bool):
            raise ApiError(422, "invalid fields", {"paused": "required: true or false"})
        return jsonify({"paused": await admin.set_paused(g.actor, session_id, paused)})

    @bp.post("/sessions/<session_id>/messages")
    @api_doc(ok=S.ReplyAccepted, status=202, body=S.HumanReply, errors=[404, 409])
    async def human_reply(session_id: str) -> tuple[Response, int]:
        if not is_session_id(session_id):
            raise NotFound("session not found")
        body = await json_object()
        stored = await admin.human_reply(
            g.actor, session_id, body.get("content"), body.get("template")
        )
        return jsonify({"id": stored.id, "status": stored.status}), 202

    return bp
