"""How the UI shows times, message statuses and field errors (channel names: channels.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from ports.values import (
    ANSWERED,
    ASSISTANT,
    DELIVERED,
    FAILED,
    HELD,
    HUMAN,
    OPTED_OUT,
    OUTSIDE_WINDOW,
    PROCESSING,
    QUEUED,
    READ,
    RECEIVED,
    SENDING,
    SENT,
    UNDELIVERED,
    UNKNOWN,
    USER,
    StoredMessage,
)

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
    HELD: "held: the agent is paused",
}
_PROBLEMS = {FAILED, UNDELIVERED, UNKNOWN}
# Reasons the gateway itself gives, in words (others are the provider's, shown as they are).
_REASONS = {
    OPTED_OUT: "Not sent: the contact opted out (STOP). Nothing is sent until they send START.",
    OUTSIDE_WINDOW: "Not sent: the reply window had closed (the person last wrote too long "
    "ago). Send a template instead.",
}
_PENDING = {RECEIVED, PROCESSING, QUEUED, SENDING}


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def error_text(message: StoredMessage) -> str:
    """Why a message failed, in words."""
    return _REASONS.get(message.error or "", message.error or "")


def status_label(message: StoredMessage) -> str:
    if message.status == FAILED:
        return "agent failed to answer" if message.role == USER else "sending failed"
    return _LABELS.get(message.status, message.status)


def who(message: StoredMessage, you: str) -> str:
    """Who wrote a message, as the transcript names them."""
    if message.role == ASSISTANT:
        return "Agent"
    if message.role == HUMAN:
        return f"Human · {message.author}" if message.author else "Human"
    return you


def is_problem(message: StoredMessage) -> bool:
    return message.status in _PROBLEMS


def is_pending(messages: list[StoredMessage]) -> bool:
    """True while the agent still owes an answer (the chat keeps polling)."""
    return any(m.status in _PENDING for m in messages)


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
