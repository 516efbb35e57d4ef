"""Driven ports: what the core needs from the outside world (storage, agents, channels, keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from ports.values import (
    AcceptResult,
    AgentRecord,
    AgentRequest,
    ChannelRecord,
    ChannelTraits,
    HistoryEntry,
    InboundMessage,
    LeadRecord,
    OutboundMessage,
    Page,
    SendReceipt,
    StoredMessage,
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
        self, message: InboundMessage, session_id: str, at: datetime
    ) -> AcceptResult:
        """Store a user message (status `received`), create the session if new and upsert its
        lead (one per agent, platform, contact; count and last-seen updated) in one transaction.
        A message whose `external_id` is already stored changes nothing: `duplicate=True`."""
        ...

    async def next_pending(self, session_id: str) -> StoredMessage | None:
        """The oldest message of the session that still needs work: a user message `received`
        or `processing`, or an assistant message `queued` or `sending`; None when idle."""
        ...

    async def history(self, session_id: str, before_id: int, limit: int) -> list[HistoryEntry]:
        """Up to `limit` most recent messages stored before `before_id`, oldest first."""
        ...

    async def mark_processing(self, message_id: int, at: datetime) -> None: ...

    async def reply_of(self, user_message_id: int) -> StoredMessage | None:
        """The assistant message answering a user message, if one was stored."""
        ...

    async def complete(
        self, user_message_id: int, user_status: str, reply: str, at: datetime
    ) -> StoredMessage:
        """In one transaction: set the user message's final status and store the assistant
        reply (status `queued`). Returns the stored reply."""
        ...

    async def mark_sending(self, message_id: int, at: datetime) -> None:
        """Record that a send attempt starts now (its outcome is unknown until marked)."""
        ...

    async def mark_sent(self, message_id: int, receipt: SendReceipt, at: datetime) -> None: ...

    async def mark_send_failed(
        self, message_id: int, status: str, error: str, at: datetime
    ) -> None: ...

    async def record_delivery(
        self,
        agent_id: str,
        kind: str,
        external_id: str,
        status: str,
        error: str | None,
        at: datetime,
    ) -> bool:
        """Move an outbound message of this agent's `kind` channel forward to a provider-reported
        status (never backwards). False when there is no outbound message with this id."""
        ...

    async def sessions_with_pending_work(self, limit: int) -> list[str]:
        """Sessions that have a message needing work, oldest first (for recovery)."""
        ...

    async def session_agent(self, session_id: str) -> str | None:
        """The agent a session belongs to, or None if the session does not exist."""
        ...

    async def session_messages(self, session_id: str) -> list[StoredMessage]: ...

    async def lead_for_session(self, session_id: str) -> LeadRecord | None: ...

    async def pending_stats(self) -> tuple[int, datetime | None]:
        """How many user messages wait for an answer, and when the oldest was received."""
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
    async def create_agent(
        self, workspace_id: str, name: str, executor: dict[str, Any], at: datetime
    ) -> AgentRecord: ...

    async def get_agent(self, agent_id: str) -> AgentRecord | None: ...

    async def list_agents(self, workspace_id: str) -> list[AgentRecord]: ...

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

    async def add_api_key(self, workspace_id: str, key_hash: str, at: datetime) -> None: ...

    async def workspace_for_key(self, key_hash: str) -> str | None: ...

    async def get_setting(self, name: str) -> str | None: ...

    async def set_setting(self, name: str, value: str) -> None: ...


class AgentExecutor(Protocol):
    """The GraphExecutor bridge: turns a request into the agent's reply text.

    Raises ExecutorFailed on any failure, including a timeout."""

    async def run(self, executor: dict[str, Any], request: AgentRequest) -> str: ...

    def validate(self, executor: object) -> dict[str, str]:
        """Field errors of an executor spec ({} when it is valid)."""
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
