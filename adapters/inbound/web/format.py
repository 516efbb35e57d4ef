"""How the UI shows times, message statuses and links between leads and their sessions."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.inbound.twilio.webhook import CHANNEL as TWILIO_CHANNEL
from adapters.inbound.twilio.webhook import PLATFORM as WHATSAPP
from adapters.inbound.webchat.channel import CHANNEL as WEB_CHANNEL
from adapters.inbound.webchat.channel import PLATFORM as WEB
from ports.values import (
    ANSWERED,
    ASSISTANT,
    DELIVERED,
    FAILED,
    PROCESSING,
    QUEUED,
    READ,
    RECEIVED,
    SENDING,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    LeadRecord,
    StoredMessage,
)

PLATFORM_TABS = ((WHATSAPP, "WhatsApp"), (WEB, "Web"), ("", "All"))
PLATFORM_NAMES = {WHATSAPP: "WhatsApp", WEB: "Web chat"}
# Which channel adapter serves each platform: sessions are named after the channel.
CHANNEL_OF_PLATFORM = {WHATSAPP: TWILIO_CHANNEL, WEB: WEB_CHANNEL}

_LABELS = {
    RECEIVED: "received",
    PROCESSING: "agent is answering",
    ANSWERED: "answered",
    QUEUED: "waiting to be sent",
    SENDING: "sending",
    SENT: "sent",
    DELIVERED: "delivered",
    READ: "read",
    UNDELIVERED: "not delivered",
    UNKNOWN: "delivery unknown",
}
_PROBLEMS = {FAILED, UNDELIVERED, UNKNOWN}
_PENDING = {RECEIVED, PROCESSING, QUEUED, SENDING}


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def status_label(message: StoredMessage) -> str:
    if message.status == FAILED:
        return "agent failed to answer" if message.role != ASSISTANT else "sending failed"
    return _LABELS.get(message.status, message.status)


def is_problem(message: StoredMessage) -> bool:
    return message.status in _PROBLEMS


def is_pending(messages: list[StoredMessage]) -> bool:
    """True while the agent still owes an answer (the chat keeps polling)."""
    return any(m.status in _PENDING for m in messages)


def lead_session_id(lead: LeadRecord) -> str | None:
    channel = CHANNEL_OF_PLATFORM.get(lead.platform)
    return f"{channel}_{lead.agent_id}_{lead.contact}" if channel else None


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


def channel_name(channel: str) -> str:
    """The platform a session's channel serves, for people: `twilio` -> WhatsApp."""
    for platform, serving in CHANNEL_OF_PLATFORM.items():
        if serving == channel:
            return platform_name(platform)
    return channel


def field_error(label: str, why: str) -> str:
    """A field rule as a sentence: ("Account SID", "must be ...") -> "Account SID must be ..."."""
    why = why.rstrip(".")
    if why.startswith("required: "):
        return f"{label} is required: {why.removeprefix('required: ')}."
    if why.startswith(("must ", "cannot ")):
        return f"{label} {why}."
    if why.startswith("not "):
        return f"{label} is {why}."
    return f"{label}: {why}."
