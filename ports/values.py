"""Small frozen value types that ports speak in; standard library only."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

USER = "user"
ASSISTANT = "assistant"
HUMAN = "human"  # a person of the workspace answering (human takeover); sent like a reply

# Status of a user (inbound) message.
RECEIVED = "received"
PROCESSING = "processing"
ANSWERED = "answered"
FAILED = "failed"
HELD = "held"  # stored while the session is paused: the agent is not called for it

# Status of an assistant (outbound) message; later entries never move back to earlier ones.
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
UNDELIVERED = "undelivered"
UNKNOWN = "unknown"
ASSISTANT_STATUSES = (QUEUED, SENDING, SENT, DELIVERED, READ, UNDELIVERED, FAILED, UNKNOWN)

# What a session summary keeps of its last message (the inbox shows a preview, never more).
LAST_MESSAGE_CHARS = 280

# The longest reply a person may send from the inbox (providers cut or refuse beyond it).
MAX_HUMAN_REPLY = 4096

# Inbox filters (`status=` of GET /api/sessions).
NEEDS_ATTENTION = "needs_attention"
PAUSED = "paused"
SESSION_FILTERS = (NEEDS_ATTENTION, PAUSED)

# Who handles a channel's opt-out (STOP/START, core.reachability): the gateway (it confirms
# and refuses sends), the provider (it confirms and refuses sends; the gateway keeps the
# lead's flag), or nobody (the person blocks the bot in the app instead).
OPT_OUT_GATEWAY = "gateway"
OPT_OUT_PROVIDER = "provider"
OPT_OUT_NONE = "none"
# Why a send was refused before it left (a message's `error`; core.reachability decides).
OPTED_OUT = "opted_out"
OUTSIDE_WINDOW = "outside_window"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A phone number in E.164 (`+` and 7 to 15 digits)."""

    value: str

    def __post_init__(self) -> None:
        if not _E164.match(self.value):
            raise ValueError(f"not an E.164 phone number: {self.value!r}")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ChannelTraits:
    """What the core knows of a channel kind: how its sessions are named and how long a reply
    may be. `kind` is also the leads' platform; `contact_is_phone` says whether a contact on it
    is an E.164 phone number.

    `reply_window_s`: free-form messages go out only this long after the person's last message,
    None for no window; `opt_out`: who handles STOP and START (OPT_OUT_*); `templates`:
    whether the channel's sender takes pre-approved templates (`OutboundMessage.template`)."""

    kind: str
    session_prefix: str
    max_reply_chars: int
    contact_is_phone: bool
    reply_window_s: int | None = None
    opt_out: str = OPT_OUT_NONE
    templates: bool = False


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message a person sent on some channel, as the channel adapter understood it.

    `kind` names the channel (and the leads' platform), `contact` the person's address on it
    (an E.164 phone, a chat id, a visitor id), `external_id` the channel's own id of the
    message, unique per (agent, kind), used to drop retries.
    """

    agent_id: str
    kind: str
    contact: str
    external_id: str
    body: str
    sender_name: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AcceptResult:
    """What storing an inbound message did."""

    session_id: str
    message_id: int
    duplicate: bool
    lead_id: str
    # The session's work was already queued in the message's own transaction (PostgreSQL's
    # job engine): nothing is left to enqueue.
    queued: bool = False
    new_lead: bool = False  # the message created its lead
    # ... and its agent has a lead webhook: a delivery was written with it, to be scheduled.
    lead_event: bool = False


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message of a session as persisted."""

    id: int
    session_id: str
    agent_id: str
    kind: str
    contact: str
    role: str
    content: str
    status: str
    created_at: datetime
    external_id: str | None = None
    reply_to_id: int | None = None
    attempt_started_at: datetime | None = None
    error: str | None = None
    attempts: int = 0  # attempts begun to answer a user message
    author: str | None = None  # who wrote a `human` message (the API key's label)
    template: Template | None = None  # a human's template message: sent instead of `content`
    # A user message the gateway answers itself, not the agent (core.reachability's STOP,
    # START, REPEAT); decided when it was accepted.
    control: str | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A provider's pre-approved message (a content template): its id and the values of its
    placeholders, by name."""

    content_sid: str
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How a template message reads in a transcript."""
        return f"[template {self.content_sid}]"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A past turn handed to an agent: `role` user or assistant; `by` says `human` for a
    turn a person of the workspace wrote (shown to executors as an assistant turn)."""

    role: str
    content: str
    by: str | None = None


@dataclass(frozen=True, slots=True)
class LeadRecord:
    """A person who wrote to an agent on one platform."""

    id: str
    agent_id: str
    platform: str
    contact: str
    name: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    message_count: int
    opted_out: bool = False  # sent a stop word (or the provider refused with its opt-out)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A session as the inbox lists it, read from the session row alone (never its messages).

    `last_message` is the last message's first LAST_MESSAGE_CHARS characters; `needs_attention`
    is the flag the core decided when that session's messages last changed (core.operations).
    """

    session_id: str
    agent_id: str
    kind: str
    contact: str
    name: str | None
    last_message_at: datetime
    last_message: str
    paused: bool
    needs_attention: bool
    paused_by: str | None = None
    opted_out: bool = False  # the lead's flag
    last_user_at: datetime | None = None  # the person's last message (the lead's last seen)


@dataclass(frozen=True, slots=True)
class ReplyRules:
    """What a person may send on a session now (the transcript's reply form): nothing while
    the contact is opted out; free-form text while `window_open`; a template, where the
    channel has them, at any time. `window_closes_at` is None on a channel without a window
    (or before the person ever wrote)."""

    opted_out: bool
    window_open: bool
    templates: bool
    window_closes_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AnswerStart:
    """What `MessageStore.start_answer` gives back: the attempts begun (this one included),
    the session's lead, and the history window before the message, oldest first."""

    attempts: int
    lead: LeadRecord | None
    history: tuple[HistoryEntry, ...]


@dataclass(frozen=True, slots=True)
class NextWork:
    """What `MessageStore.begin_next` gives back: the session's next pending message as it was
    found, and when that is a user message, its answer started in the same step (what
    `start_answer` gives back)."""

    message: StoredMessage
    start: AnswerStart | None


@dataclass(frozen=True, slots=True)
class Reach:
    """What decides whether a message may go to a session's contact now (core.reachability):
    the lead's opt-out flag and the time of the person's last message."""

    opted_out: bool
    last_user_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply as `MessageStore.complete` stored it (already `sending`: its attempt starts
    with the step that stored it), with what decides whether it may go, read in that step."""

    reply: StoredMessage
    reach: Reach


@dataclass(frozen=True, slots=True)
class AfterSend:
    """What `MessageStore.mark_sent` gives back from its own step: the delivery reports that
    were parked for the provider id it stored (taken: the caller applies them), and the
    session's next message needing work (as `next_pending` gives it)."""

    parked: tuple[tuple[str, str | None], ...]
    next_pending: StoredMessage | None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did an operation: the API key's workspace and the label given at key creation."""

    workspace_id: str
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or "API key"


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent as stored. Its `executor` holds vault ciphertexts where the spec has secrets
    (what `AgentExecutor.split_secrets` names); `updated_at` is None until it is first changed."""

    id: str
    workspace_id: str
    name: str
    executor: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A channel's settings for one agent; `secrets` holds vault ciphertexts only."""

    agent_id: str
    kind: str
    settings: dict[str, str]
    secrets: dict[str, str]
    enabled: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """What an agent executor is asked to answer."""

    agent_id: str
    session_id: str
    message: str
    history: tuple[HistoryEntry, ...]
    lead_contact: str
    lead_name: str | None
    platform: str
    lead_phone: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "message": self.message,
            "history": [
                {"role": h.role, "content": h.content, **({"by": h.by} if h.by else {})}
                for h in self.history
            ],
            "lead": {
                "phone": self.lead_phone,
                "contact": self.lead_contact,
                "name": self.lead_name,
                "platform": self.platform,
            },
        }


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply to deliver to `contact` through the channel `kind` on behalf of `agent_id`.

    `previous_attempt_at` is set when an earlier attempt left with an unknown outcome (a crash
    or timeout after the request was sent): the sender must look for it before sending again,
    skipping `known_ids` (provider ids other replies of the session already own).
    """

    message_id: int
    agent_id: str
    kind: str
    contact: str
    body: str
    previous_attempt_at: datetime | None = None
    known_ids: frozenset[str] = frozenset()
    template: Template | None = None  # sent instead of `body` where the channel has templates


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The provider accepted a message: its id there and the status it reported."""

    external_id: str
    status: str = SENT


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list; `next_cursor` is None on the last page."""

    items: tuple[Any, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What one POST of a lead event got: the HTTP status, or None when no answer came (a
    network error or timeout, `error` says which in words, never the URL or secret);
    `retry_after_s` from a 429's or 503's Retry-After header, when it gave seconds."""

    status_code: int | None
    error: str | None = None
    retry_after_s: float | None = None


PENDING_EVENT = "pending"  # a lead event's delivery still to be made (then delivered or failed)
_LEAD_EVENTS = uuid.UUID("5b0f4a52-7d1e-4c38-9a62-1f0f2c7e9d11")


def lead_event_id(agent_id: str, platform: str, contact: str) -> str:
    """The delivery id of a lead's `lead.created` event: one lead (agent, platform, contact)
    has one, so the store that writes the outbox row and the intake that schedules it agree
    on it without reading it back."""
    return str(uuid.uuid5(_LEAD_EVENTS, "\n".join((agent_id, platform, contact))))


@dataclass(frozen=True, slots=True)
class LeadWebhook:
    """An agent's new-lead webhook as stored: `secret` is a vault ciphertext."""

    agent_id: str
    url: str
    secret: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LeadDelivery:
    """One lead event's delivery (the outbox row, written with the lead) and its log:
    `delivery_id` is sent on every attempt; `body` is kept from the first attempt on, so
    retries send the same signed bytes; `status` is pending, delivered or failed."""

    delivery_id: str
    agent_id: str
    lead: LeadRecord
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class ShownWebhook:
    """A lead webhook as it may leave the service (API, UI): never its secret; `deliveries`
    are the newest first (the delivery log)."""

    url: str
    secret_set: bool
    deliveries: tuple[LeadDelivery, ...] = ()
