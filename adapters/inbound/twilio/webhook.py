"""Twilio's WhatsApp webhooks (Quart blueprint): checks in the contract's order, then intake."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import phonenumbers
from quart import Blueprint, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from adapters.inbound.http.public_url import PublicUrl
from adapters.observability.logs import bind
from ports.driving import ChannelDirectory, MessageIntake, ResolvedChannel
from ports.errors import NotFound, StoreUnavailable
from ports.values import InboundMessage

log = logging.getLogger(__name__)

CHANNEL = "twilio"  # prefixes session ids: twilio_{agent_id}_{phone}
PLATFORM = "whatsapp"  # the channel kind configured on an agent, and the leads' platform
MAX_BODY = 64 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class _TooLarge(Exception):
    pass


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


def _twiml() -> Response:
    return Response(EMPTY_TWIML, status=200, content_type="text/xml")


async def _read_form(limit: int) -> MultiDict[str, str]:
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


def _e164(address: str) -> str | None:
    """`whatsapp:+14155550100` -> `+14155550100`; None when it is not a phone number."""
    number = address.removeprefix("whatsapp:").strip()
    if not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def twilio_webhook_blueprint(
    intake: MessageIntake, channels: ChannelDirectory, public_url: PublicUrl
) -> Blueprint:
    bp = Blueprint("twilio_webhook", __name__)

    async def verified(agent_id: str, need_enabled: bool) -> MultiDict[str, str] | Response:
        """Runs checks 1-4 of the contract; returns the form or the response to send."""
        try:
            form = await _read_form(MAX_BODY)
        except _TooLarge:
            return _text("Request body too large (limit 64 KiB)", 413)
        try:
            channel = await channels.resolve(agent_id, PLATFORM)
        except NotFound:
            return _text("Unknown agent", 404)
        if channel is None or (need_enabled and not channel.enabled):
            return _text("WhatsApp not enabled", 403)
        if not _signature_ok(channel, form):
            return _text("Unauthorized", 403)
        return form

    def _signature_ok(channel: ResolvedChannel, form: MultiDict[str, str]) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        token = channel.secrets.get("auth_token", "")
        if not signature or not token:
            return False
        if form.get("AccountSid") != channel.settings.get("account_sid"):
            return False
        return bool(RequestValidator(token).validate(public_url.of(request), form, signature))

    @bp.post("/webhooks/twilio/<agent_id>")
    async def inbound(agent_id: str) -> Response:
        checked = await verified(agent_id, need_enabled=True)
        if isinstance(checked, Response):
            return checked
        form = checked
        bind(agent_id=agent_id, message_sid=form.get("MessageSid", ""))
        for field in ("From", "MessageSid"):
            if not form.get(field):
                return _text(f"Missing required field: {field}", 400)
        phone = _e164(form["From"])
        if phone is None:
            return _text("Invalid field: From must be whatsapp:+E164", 400)
        message = InboundMessage(
            agent_id=agent_id,
            channel=CHANNEL,
            platform=PLATFORM,
            contact=phone,
            external_id=form["MessageSid"],
            body=form.get("Body", ""),
            sender_name=form.get("ProfileName") or None,
            attributes={k: v for k, v in form.items() if k.startswith(("Media", "NumMedia"))},
        )
        try:
            result = await intake.accept(message)
        except StoreUnavailable:
            log.error("could not store message for agent %s", agent_id)
            return _text("Temporarily unavailable, retry later", 503)
        if result.duplicate:
            log.info("duplicate MessageSid for agent %s acknowledged", agent_id)
        return _twiml()

    @bp.post("/webhooks/twilio/<agent_id>/status")
    async def status(agent_id: str) -> Response:
        checked = await verified(agent_id, need_enabled=False)
        if isinstance(checked, Response):
            return checked
        form = checked
        for field in ("MessageSid", "MessageStatus"):
            if not form.get(field):
                return _text(f"Missing required field: {field}", 400)
        try:
            await intake.record_delivery(
                agent_id, form["MessageSid"], form["MessageStatus"], form.get("ErrorCode") or None
            )
        except StoreUnavailable:
            return _text("Temporarily unavailable, retry later", 503)
        return _twiml()

    return bp
