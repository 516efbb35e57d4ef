"""Telegram's webhook: `POST /webhooks/telegram/{agent_id}` with a JSON `Update`.

Checks in the contract's order: over 64 KiB 413; unknown agent 404; not configured or disabled
403 `Telegram not enabled`; `X-Telegram-Bot-Api-Secret-Token` missing or wrong 403
`Unauthorized`; not JSON 400; otherwise 200 once stored. An update without text is
acknowledged and not answered.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from quart import Blueprint, Response, request

from adapters.channels.base import InboundDeps
from adapters.observability.logs import bind
from ports.errors import InvalidInput, NotFound, StoreUnavailable
from ports.values import InboundMessage

log = logging.getLogger(__name__)

KIND = "telegram"
MAX_BODY = 64 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# The name of the secret generated at save, kept encrypted and never shown.
WEBHOOK_SECRET = "webhook_secret"  # noqa: S105


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, content_type="text/plain; charset=utf-8")


def _ok() -> Response:
    return Response("{}", status=200, content_type="application/json")


async def _read(limit: int) -> bytes | None:
    """The body, or None when it is over `limit` (checked before anything is parsed)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.body:
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def sender_name(person: Any) -> str | None:
    """`first_name last_name`, else `username`."""
    if not isinstance(person, dict):
        return None
    full = " ".join(
        str(person[k]).strip() for k in ("first_name", "last_name") if person.get(k)
    ).strip()
    return full or (str(person["username"]) if person.get("username") else None)


def message_of(update: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """(chat id, text, sender name) of an update carrying a text, else None."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    text = message.get("text")
    if not isinstance(text, str) or not text:
        text = message.get("caption")
    chat = message.get("chat")
    if not isinstance(text, str) or not text or not isinstance(chat, dict):
        return None
    chat_id = chat.get("id")
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        return None
    return str(chat_id), text, sender_name(message.get("from"))


def telegram_inbound_blueprint(deps: InboundDeps, not_enabled: str) -> Blueprint:
    bp = Blueprint("telegram_webhook", __name__)

    @bp.post("/webhooks/telegram/<agent_id>")
    async def inbound(agent_id: str) -> Response:
        raw = await _read(MAX_BODY)
        if raw is None:
            return _text("Request body too large (limit 64 KiB)", 413)
        try:
            channel = await deps.channels.resolve(agent_id, KIND)
        except NotFound:
            return _text("Unknown agent", 404)
        if channel is None or not channel.enabled:
            return _text(not_enabled, 403)
        expected = channel.secrets.get(WEBHOOK_SECRET, "")
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return _text("Unauthorized", 403)
        try:
            update = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python reads
            return _text("Invalid body: not JSON", 400)
        if not isinstance(update, dict):
            return _text("Invalid body: an Update object is expected", 400)
        update_id = update.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int):
            return _text("Missing required field: update_id", 400)
        bind(agent_id=agent_id, update_id=str(update_id))
        found = message_of(update)
        if found is None:  # a photo, a sticker, a member update ...: nothing to answer
            log.info("telegram update without text acknowledged")
            return _ok()
        chat_id, text, name = found
        message = InboundMessage(
            agent_id=channel.agent_id,
            kind=KIND,
            contact=chat_id,
            external_id=str(update_id),
            body=text,
            sender_name=name,
        )
        try:
            await deps.intake.accept(message)
        except InvalidInput as e:
            return _text("Invalid field: " + ", ".join(sorted(e.fields)), 400)
        except StoreUnavailable:
            log.error("could not store a telegram update for agent %s", agent_id)
            return _text("Temporarily unavailable, retry later", 503)
        return _ok()

    return bp
