"""Twilio's inbound webhooks for any Twilio channel: the contract's checks in order, then intake.

1. over 64 KiB: 413 before parsing; 2. unknown agent: 404; 3. kind not configured or disabled:
403 `{Label} not enabled`; 4. signature (Twilio's algorithm over the public URL and every form
parameter) or AccountSid wrong: 403 `Unauthorized`; 5. a required field missing: 400; then 200
with empty TwiML once the message is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from adapters.channels.base import InboundDeps
from adapters.inbound.http.public_url import PublicUrl
from adapters.observability.logs import bind
from adapters.twilio.errors import described
from adapters.twilio.signature import signature_valid
from ports.driving import ResolvedChannel
from ports.errors import InvalidInput, NotFound, StoreUnavailable
from ports.values import InboundMessage

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_SID = 64  # Twilio's SIDs are 34 characters
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class _TooLarge(Exception):
    pass


def text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


def twiml() -> Response:
    return Response(EMPTY_TWIML, status=200, content_type="text/xml")


async def read_form(limit: int = MAX_BODY) -> MultiDict[str, str]:
    """The form, read with a size limit (413 before anything is parsed)."""
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.body:
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    if not request.mimetype == "application/x-www-form-urlencoded":
        return MultiDict()
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    return MultiDict(parse_qsl(raw, keep_blank_values=True))


def signature_ok(
    channel: ResolvedChannel, form: MultiDict[str, str], public_url: PublicUrl
) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    token = channel.secrets.get("auth_token", "")
    if not signature or not token:
        return False
    if form.get("AccountSid") != channel.settings.get("account_sid"):
        return False
    return signature_valid(token, public_url.of(request), form, signature)


def twilio_inbound_blueprint(
    *,
    kind: str,
    route: str,
    not_enabled: str,
    contact_of: Callable[[str], str | None],
    from_rule: str,
    deps: InboundDeps,
    error_words: Mapping[str, str] | None = None,
) -> Blueprint:
    """`POST /webhooks/{route}/{agent_id}` and its `/status` for the Twilio channel `kind`;
    `contact_of` turns Twilio's `From` into the contact (None: not an address of this kind)."""
    bp = Blueprint(f"{kind}_webhook", __name__)

    async def verified(agent_id: str, need_enabled: bool) -> MultiDict[str, str] | Response:
        """Checks 1-4; the form, or the response to send."""
        try:
            form = await read_form()
        except _TooLarge:
            return text("Request body too large (limit 64 KiB)", 413)
        try:
            channel = await deps.channels.resolve(agent_id, kind)
        except NotFound:
            return text("Unknown agent", 404)
        if channel is None or (need_enabled and not channel.enabled):
            return text(not_enabled, 403)
        if not signature_ok(channel, form, deps.public_url):
            return text("Unauthorized", 403)
        return form

    def missing(form: MultiDict[str, str], *names: str) -> Response | None:
        for name in names:
            if not form.get(name):
                return text(f"Missing required field: {name}", 400)
            if len(form[name]) > MAX_SID:
                return text(f"Invalid field: {name} is longer than {MAX_SID} characters", 400)
        return None

    @bp.post(f"/webhooks/{route}/<agent_id>")
    async def inbound(agent_id: str) -> Response:
        checked = await verified(agent_id, need_enabled=True)
        if isinstance(checked, Response):
            return checked
        form = checked
        bind(agent_id=agent_id, message_sid=form.get("MessageSid", "")[:MAX_SID])
        if (refused := missing(form, "From", "MessageSid")) is not None:
            return refused
        contact = contact_of(form["From"])
        if contact is None:
            return text(f"Invalid field: From must be {from_rule}", 400)
        message = InboundMessage(
            agent_id=agent_id,
            kind=kind,
            contact=contact,
            external_id=form["MessageSid"],
            body=form.get("Body", ""),
            sender_name=form.get("ProfileName") or None,
            attributes={k: v for k, v in form.items() if k.startswith(("Media", "NumMedia"))},
        )
        try:
            result = await deps.intake.accept(message)
        except InvalidInput as e:
            return text("Invalid field: " + ", ".join(sorted(e.fields)), 400)
        except StoreUnavailable:
            log.error("could not store message for agent %s", agent_id)
            return text("Temporarily unavailable, retry later", 503)
        if result.duplicate:
            log.info("duplicate MessageSid for agent %s acknowledged", agent_id)
        return twiml()

    @bp.post(f"/webhooks/{route}/<agent_id>/status")
    async def status(agent_id: str) -> Response:
        checked = await verified(agent_id, need_enabled=False)
        if isinstance(checked, Response):
            return checked
        form = checked
        if (refused := missing(form, "MessageSid", "MessageStatus")) is not None:
            return refused
        try:
            await deps.intake.record_delivery(
                agent_id,
                kind,
                form["MessageSid"],
                form["MessageStatus"],
                described((form.get("ErrorCode") or "")[:MAX_SID] or None, error_words),
            )
        except StoreUnavailable:
            return text("Temporarily unavailable, retry later", 503)
        return twiml()

    return bp
