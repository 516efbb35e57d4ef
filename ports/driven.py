"""Driven ports: what the core needs from the outside world (storage, agents, channels, keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from ports.values import (
    AcceptResult,
    Actor,
    AfterSend,
    AgentRecord,
    AgentRequest,
    AnswerStart,
    ChannelRecord,
    ChannelTraits,
    HistoryEntry,
    InboundMessage,
    LeadDelivery,
    LeadRecord,
    LeadWebhook,
    NextWork,
    OutboundMessage,
    Outgoing,
    Page,
    Reach,
    SendReceipt,
    SessionSummary,
    StoredMessage,
    Template,
    WebhookOutcome,
)


class Metrics(Protocol):
    """Where the core reports what it measured (an adapter exports it, e.g. to Prometheus)."""

    def answered(self, seconds: float, outcome: str) -> None:
        """A user message got its reply (`outcome`: answered or failed) `seconds` after it
        was received."""
        ...

    def sent(self, seconds: float, outcome: str) -> None:
        """A reply left for the provider (`outcome`: sent, failed or unknown)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class MessageStore(Protocol):
    """Sessions and their messages. Every method is one atomic, durable step.

    Raises StoreUnavailable when the database cannot be used.
    """

    async def accept_inbound(
        self,
        message: InboundMessage,
        session_id: str,
        at: datetime,
        attention: bool | None = None,
        attention_if_paused: bool | None = None,
        opt_out: bool | None = None,
        control: str | None = None,
    ) -> AcceptResult:
        """Store a user message (status `received`; `held` and not pending when the session is
        paused: nothing answers it), create the session if new and upsert its
        lead (one per agent, platform, contact; count and last-seen updated) in one transaction.
        A message whose `external_id` is already stored changes nothing: `duplicate=True`.

        The lead's `last_seen_at` (the person's last message, which reply windows are measured
        from) becomes `at`. With `opt_out` (the message is a stop or start word that changes
        it, core.reachability) the lead's `opted_out` flag is set to it in the same
        transaction. A message with a `control` keeps it, and is never held: the gateway
        answers it (a confirmation) even while the session is paused.

        In the same transaction the session's summary follows: its last message (and when),
        and its `needs_attention` flag set to `attention`, or to `attention_if_paused` when the
        session is paused (None: the flag is left as stored). The flags are the core's
        decisions (core.operations); a store only keeps them.

        A store that also queues the session's work in that transaction (the job engine in the
        same database) says so with `queued=True`; the caller then enqueues nothing.

        When the message creates its lead and the agent has a lead webhook, the lead's
        pending delivery (LeadWebhookStore) is written in the same transaction."""
        ...

    async def next_pending(self, session_id: str) -> StoredMessage | None:
        """The next message of the session that needs work: the oldest assistant message
        `queued` or `sending` (an interrupted delivery goes out first, whatever arrived since),
        else the oldest user message `received` or `processing`; None when idle."""
        ...

    async def history(self, session_id: str, before_id: int, limit: int) -> list[HistoryEntry]:
        """Up to `limit` most recent messages stored before `before_id`, oldest first."""
        ...

    async def start_answer(
        self, message_id: int, session_id: str, at: datetime, history_limit: int
    ) -> AnswerStart:
        """Mark a user message of `session_id` (else NotFound) `processing` and count this
        attempt to answer it, durably, before its agent is called. Returns the attempts begun
        so far, this one included (an attempt that never completed is one the process died
        in, or gave up on), with what the answer needs: the session's lead and up to
        `history_limit` messages stored before this one, oldest first (as `lead_for_session`
        and `history` give them). One round trip: it is on every answer's path."""
        ...

    async def begin_next(
        self, session_id: str, at: datetime, history_limit: int
    ) -> NextWork | None:
        """`next_pending`, and when that is a user message, `start_answer` for it, as one
        step: the step a session's work begins with. None when the session is idle."""
        ...

    async def reply_of(self, user_message_id: int) -> StoredMessage | None:
        """The assistant message answering a user message, if one was stored."""
        ...

    async def complete(
        self,
        user_message_id: int,
        user_status: str,
        reply: str,
        at: datetime,
        reason: str | None = None,
        attention: bool | None = None,
    ) -> Outgoing:
        """In one transaction: set the user message's final status (with `reason` as its error
        when given), store the assistant reply, make it the session's last message and set its
        `needs_attention` to `attention` (None: left). The reply is stored `sending`, its send
        attempt started at `at` (as `mark_sending` would record it: the answer is handed to
        its channel next, and a crash before it is marked is looked up like any interrupted
        send). Returns the reply with its Reach, read in the same step."""
        ...

    async def close_unanswered(
        self,
        user_message_id: int,
        status: str,
        reason: str | None,
        at: datetime,
        attention: bool | None = None,
    ) -> None:
        """Set a user message's final status (and `reason` as its error) with no reply, and the
        session's flag to `attention` (None: left), in one step (a stop word the provider
        confirms itself, a message from an opted-out contact)."""
        ...

    async def mark_sending(self, message_id: int, at: datetime) -> Reach:
        """Record that a send attempt starts now (its outcome is unknown until marked); returns
        what decides whether it may go (the lead's opt-out, the person's last message time),
        read in the same statement."""
        ...

    async def set_opted_out(self, message_id: int, opted_out: bool) -> None:
        """Set the opt-out flag of the lead the message's session belongs to (a provider
        refused a send because the contact opted out there)."""
        ...

    async def mark_sent(self, message_id: int, receipt: SendReceipt, at: datetime) -> AfterSend:
        """Record a send that left (the provider's id and status; the message is no longer
        pending) and, with it, take the reports parked for that id (by a statement that sees
        the id stored, so none parked meanwhile is missed) and read the session's next
        pending message. Conflict when another message of the channel already
        has that provider id; NotFound when there is no such message."""
        ...

    async def mark_send_failed(
        self,
        message_id: int,
        status: str,
        error: str,
        at: datetime,
        attention: bool | None = None,
    ) -> None:
        """Record a send that failed or whose outcome is unknown; with `attention`, set the
        session's flag in the same transaction."""
        ...

    async def set_paused(
        self, session_id: str, paused: bool, by: str | None, at: datetime, attention: bool | None
    ) -> bool:
        """Pause or resume a session (who, and when, kept with it) and set its needs_attention
        to `attention` (None: left), in one step; False when there is no such session."""
        ...

    async def add_human_message(
        self,
        session_id: str,
        content: str,
        author: str | None,
        at: datetime,
        attention: bool | None,
        template: Template | None = None,
    ) -> StoredMessage:
        """Store a person's reply (role `human`, status `queued`, pending: delivered like an
        agent's reply, in order), make it the session's last message and set its flag, in one
        transaction. A `template` is kept with it and sent instead of `content` (a template's
        label). NotFound when there is no such session."""
        ...

    async def delivery_target(
        self, agent_id: str, kind: str, external_id: str
    ) -> tuple[int, str] | None:
        """The id and status of the outbound (assistant or human) message of this agent's
        `kind` channel with this provider id, or None (a report can never reach another
        agent's message)."""
        ...

    async def set_delivery(
        self,
        message_id: int,
        expected: str,
        status: str,
        error: str | None,
        at: datetime,
        attention: bool | None = None,
    ) -> bool:
        """Set a reported status if the message still has status `expected` (compare and
        set); keeps the stored error when `error` is None. False when it changed meanwhile.
        With `attention`, the session's flag is set in the same transaction (when it applied)."""
        ...

    async def park_delivery(
        self,
        agent_id: str,
        kind: str,
        external_id: str,
        status: str,
        error: str | None,
        at: datetime,
    ) -> None:
        """Keep a report whose message is not known yet (its provider id is still being
        stored), to be applied when it is."""
        ...

    async def take_parked(
        self, agent_id: str, kind: str, external_id: str
    ) -> list[tuple[str, str | None]]:
        """Remove and return the parked reports (status, error) for this provider id."""
        ...

    async def drop_parked(self, before: datetime) -> int:
        """Forget parked reports older than `before` (never matched: not our message)."""
        ...

    async def sessions_with_pending_work(
        self, limit: int, created_before: datetime | None = None
    ) -> list[str]:
        """Sessions that have a message needing work, oldest first (for recovery); with
        `created_before`, only those whose oldest such message is older than that."""
        ...

    async def session_agent(self, session_id: str) -> str | None:
        """The agent a session belongs to, or None if the session does not exist."""
        ...

    async def session_messages(self, session_id: str) -> list[StoredMessage]: ...

    async def lead_for_session(self, session_id: str) -> LeadRecord | None: ...

    async def pending_stats(self) -> tuple[int, datetime | None]:
        """How many user messages wait for an answer, and when the oldest was received."""
        ...

    async def session_summary(self, session_id: str) -> SessionSummary | None:
        """One session's summary (paused, who paused it, needs_attention), or None."""
        ...

    async def list_sessions(
        self,
        workspace_id: str,
        agent_id: str | None,
        kind: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """SessionSummary items of the workspace, most recent activity (last message) first;
        `status` is None, `needs_attention` or `paused` (only those sessions). Read from the
        session rows alone, through an index; `cursor` is opaque (ValueError when it is not
        one this store made). A session whose activity changes between pages may move."""
        ...


class LeadStore(Protocol):
    async def list_leads(
        self,
        workspace_id: str,
        agent_id: str | None,
        platform: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """Leads of the workspace, newest first; `cursor` is opaque."""
        ...

    def iterate_leads(
        self, workspace_id: str, agent_id: str | None, platform: str | None, search: str | None
    ) -> AsyncIterator[LeadRecord]:
        """Every matching lead, streamed in batches."""
        ...


class AgentStore(Protocol):
    """Agents and their channels.

    A store may cache agents; an agent changed or deleted through any process is seen as such
    by every other process within a few seconds."""

    async def create_agent(
        self,
        workspace_id: str,
        name: str,
        executor: dict[str, Any],
        at: datetime,
        agent_id: str | None = None,
    ) -> AgentRecord:
        """A new agent; `agent_id` (a fresh random UUID) when the caller needs the id before
        the row exists (secrets bound to it), else one is made."""
        ...

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def list_agents(
        self, workspace_id: str, limit: int | None = None, after_id: str | None = None
    ) -> list[AgentRecord]:
        """The workspace's agents, oldest first (created_at, then id): at most `limit` of them
        (None: all), those after the agent `after_id`. NotFound when `after_id` is not one of
        the workspace's agents (a cursor of another list, or an agent deleted since)."""
        ...

    async def all_agents(self) -> list[AgentRecord]:
        """Every agent of every workspace, oldest first (maintenance: sealing, rotation)."""
        ...

    async def update_agent(
        self, agent_id: str, name: str, executor: dict[str, Any], at: datetime
    ) -> AgentRecord | None:
        """Replace an agent's name and executor (`updated_at` = `at`); None when it is gone."""
        ...

    async def replace_executor(
        self, agent: AgentRecord, executor: dict[str, Any], at: datetime
    ) -> bool:
        """Replace the executor only while the stored agent is still the one read as `agent`
        (same `updated_at`); False when it changed meanwhile or is gone. For maintenance that
        rewrites an executor, so it never undoes an edit made at the same moment."""
        ...

    async def delete_agent(self, agent_id: str) -> bool:
        """Remove an agent with its channels, leads, sessions and messages; False if none."""
        ...

    async def get_channel(self, agent_id: str, kind: str) -> ChannelRecord | None: ...

    async def save_channel(self, record: ChannelRecord) -> ChannelRecord: ...

    async def delete_channel(self, agent_id: str, kind: str) -> bool:
        """Remove an agent's channel; False when there was none."""
        ...

    async def list_channels(self, agent_id: str) -> list[ChannelRecord]:
        """The agent's configured channels, oldest first."""
        ...

    async def all_channels(self) -> list[ChannelRecord]: ...


class WorkspaceStore(Protocol):
    async def ensure_workspace(self, name: str, at: datetime) -> str:
        """The id of the workspace with this name, created if needed."""
        ...

    async def add_api_key(
        self, workspace_id: str, key_hash: str, at: datetime, label: str | None = None
    ) -> None: ...

    async def workspace_for_key(self, key_hash: str) -> str | None: ...

    async def key_owner(self, key_hash: str) -> Actor | None:
        """The workspace and label of a key, or None."""
        ...

    async def get_setting(self, name: str) -> str | None: ...

    async def set_setting(self, name: str, value: str) -> None: ...


class AgentExecutor(Protocol):
    """The GraphExecutor bridge: turns a request into the agent's reply text.

    `run` raises ExecutorFailed on any failure, including a timeout. The other methods are
    pure: they say which fields of a spec are secrets (e.g. an API key, header values), so the
    core can seal them in the vault, and never print a value."""

    async def run(self, executor: dict[str, Any], request: AgentRequest) -> str: ...

    def validate(self, executor: object) -> dict[str, str]:
        """Field errors of an executor spec ({} when it is valid)."""
        ...

    def split_secrets(self, executor: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The spec without its secret values, and those values by field name (e.g.
        `api_key`, `header:Authorization`). A value sent back masked is not a secret value."""
        ...

    def join_secrets(self, public: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        """The runnable spec: `public` (from split_secrets) with the secret values put back."""
        ...

    def masked(self, public: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
        """The spec as it may be shown: each secret field in `names` shown as set (e.g.
        `api_key_set: true`, a header with the value `***`), never its value."""
        ...

    def keep_secrets(
        self, new: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """`new` with every secret it leaves out or sends back masked taken from `current` (the
        runnable spec stored so far, None when creating). Raises InvalidInput naming the field
        when a masked secret has no stored value, or when keeping one would send it to another
        server than before."""
        ...


class TextSegmenter(Protocol):
    def graphemes(self, text: str) -> Iterable[str]:
        """The text split into extended grapheme clusters (what a reader sees as one character)."""
        ...


class ChannelCatalog(Protocol):
    """The registered channel kinds, as the core needs them.

    `traits` raises NotFound for a kind that is not registered."""

    def traits(self, kind: str) -> ChannelTraits: ...

    def render(self, kind: str, text: str) -> str:
        """The agent's Markdown rendered for the kind's medium (before any cut)."""
        ...

    async def answering(
        self, kind: str, agent_id: str, contact: str, external_id: str | None
    ) -> None:
        """Show the person that an answer is coming (a typing indicator, which may also mark
        their message `external_id` read). Best effort: never raises."""
        ...


class MessageSender(Protocol):
    """Delivers a reply through a channel's provider.

    Retries what is safe to retry. Raises SendFailed when the provider refused it for good and
    SendOutcomeUnknown when it may or may not have been sent."""

    async def send(self, message: OutboundMessage) -> SendReceipt: ...


class SecretVault(Protocol):
    """Encrypts secrets at rest, each bound to its owner and field (`context`).

    Raises VaultError when a ciphertext cannot be opened with the given context."""

    def encrypt(self, plaintext: str, context: str) -> str: ...

    def decrypt(self, ciphertext: str, context: str) -> str: ...

    def is_current(self, ciphertext: str) -> bool:
        """True when the ciphertext is sealed with the newest key."""
        ...


SessionHandler = Callable[[str], Awaitable[None]]


class WorkQueue(Protocol):
    """Decouples accepting a message from answering it.

    `enqueue(session_id)` asks for the session's pending work to be done; the queue calls the
    handler for one session at a time (never two calls for the same session at once), and
    different sessions in parallel up to its bound."""

    async def enqueue(self, session_id: str) -> None: ...

    async def start(self, handler: SessionHandler) -> None: ...

    async def stop(self, deadline_s: float) -> None:
        """Stop taking work; let running handlers finish within the deadline."""
        ...


class LeadEventPoster(Protocol):
    """Posts a signed lead event to a tenant's URL (the new-lead webhook).

    The body is sent as given (its signature is over these exact bytes), with the delivery id
    on every attempt; redirects are never followed. `post` never raises for what the network
    or the receiver did: it returns the outcome."""

    def url_problem(self, url: str) -> str | None:
        """Why a webhook URL is refused (not http(s), credentials in it, a destination the
        egress policy forbids), None when it may be saved. No DNS lookup."""
        ...

    async def post(
        self, url: str, secret: str, delivery_id: str, body: bytes
    ) -> WebhookOutcome: ...


class LeadWebhookStore(Protocol):
    """New-lead webhooks and their deliveries. A delivery row (id `lead_event_id(agent,
    platform, contact)`, status pending) is written by `MessageStore.accept_inbound` in the
    transaction that creates a lead, when its agent has a webhook; these methods deliver and
    log it. Deleting an agent deletes its webhook and deliveries. Raises StoreUnavailable like
    the others."""

    async def get_webhook(self, agent_id: str) -> LeadWebhook | None: ...

    async def save_webhook(self, webhook: LeadWebhook) -> None: ...

    async def delete_webhook(self, agent_id: str) -> bool:
        """False when there was none (its pending deliveries then fail when attempted)."""
        ...

    async def all_webhooks(self) -> list[LeadWebhook]: ...

    async def claim_delivery(
        self, delivery_id: str, at: datetime, lease_until: datetime
    ) -> LeadDelivery | None:
        """Take a pending delivery that is due and not claimed by another attempt (compare
        and set), until `lease_until`; None when there is nothing to do now."""
        ...

    async def keep_body(self, delivery_id: str, body: bytes) -> bytes:
        """Store the body unless one is stored already; returns the stored one."""
        ...

    async def record_attempt(
        self,
        delivery_id: str,
        status: str,
        at: datetime,
        status_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        """Count an attempt and its outcome, release the claim, and set the status."""
        ...

    async def due_deliveries(self, limit: int) -> list[tuple[str, datetime]]:
        """Pending deliveries (id, time of the next attempt: not before a claim's lease ends,
        so one claimed by a process that died is taken again then), soonest first (recovery)."""
        ...

    async def is_unattempted(self, delivery_id: str) -> bool:
        """True when this delivery is pending and was never attempted (a new lead's event,
        which the intake then schedules)."""
        ...

    async def recent_deliveries(self, agent_id: str, limit: int) -> list[LeadDelivery]:
        """The agent's newest deliveries first (the delivery log)."""
        ...


class DeliveryScheduler(Protocol):
    """Runs `deliver(delivery_id)` after `delay_s` through the job machinery (at least once;
    the same id may run twice, a claim makes the second a no-op)."""

    async def defer(self, delivery_id: str, delay_s: float) -> None: ...
