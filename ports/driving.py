"""Driving ports: what channels, the admin API and the CLI call; the core implements them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from ports.values import (
    AcceptResult,
    Actor,
    AgentRecord,
    InboundMessage,
    LeadRecord,
    Page,
    ReplyRules,
    SessionSummary,
    ShownWebhook,
    StoredMessage,
)


@dataclass(frozen=True, slots=True)
class ResolvedChannel:
    """A channel's settings with its secrets opened, for the adapter that serves it."""

    agent_id: str
    kind: str
    settings: dict[str, str]
    secrets: dict[str, str]
    enabled: bool

    def __repr__(self) -> str:  # never print secrets
        return (
            f"ResolvedChannel(agent_id={self.agent_id!r}, kind={self.kind!r}, "
            f"enabled={self.enabled})"
        )


class MessageIntake(Protocol):
    """Accepts what people send, for any channel.

    `accept` returns once the message is durably stored (or recognised as a retry) and its
    session is queued for an answer. Raises StoreUnavailable when it could not be stored."""

    async def accept(self, message: InboundMessage) -> AcceptResult: ...

    async def record_delivery(
        self, agent_id: str, kind: str, external_id: str, status: str, error: str | None
    ) -> bool:
        """Apply a provider's delivery report to an outbound message of this agent's `kind`
        channel (a report never touches another agent's). False when there is no such message
        yet: the report is kept and applied once the message's provider id is stored."""
        ...

    async def conversation(self, agent_id: str, kind: str, contact: str) -> list[StoredMessage]:
        """The messages exchanged with one contact on one channel, oldest first ([] if none):
        for channels whose person reads replies from the gateway itself (web chat)."""
        ...


class ChannelDirectory(Protocol):
    """Looks up a channel of an agent for the adapter that serves it.

    `resolve` raises NotFound for an unknown agent and returns None when the agent has no
    such channel configured."""

    async def resolve(self, agent_id: str, kind: str) -> ResolvedChannel | None: ...


class Administration(Protocol):
    """Workspace-scoped management used by the admin API, the UI and the CLI.

    Every method taking `workspace_id` raises NotFound for things of another workspace."""

    async def authenticate(self, api_key: str) -> str | None:
        """The workspace id of an API key, or None."""
        ...

    async def identify(self, api_key: str) -> Actor | None:
        """Who holds an API key (its workspace and label), or None."""
        ...

    async def create_api_key(self, workspace_name: str, label: str | None = None) -> str:
        """Create the workspace if needed and return a new key (only its hash is kept, with
        the optional `label` naming who holds it, recorded on the operations it does)."""
        ...

    async def create_agent(
        self, workspace_id: str, name: str, executor: dict[str, Any]
    ) -> AgentRecord: ...

    async def list_agents(
        self, workspace_id: str, limit: int | None = None, after_id: str | None = None
    ) -> list[AgentRecord]:
        """Oldest first, at most `limit` after `after_id` (see AgentStore.list_agents)."""
        ...

    async def get_agent(self, workspace_id: str, agent_id: str) -> AgentRecord:
        """The agent as it may be shown: its executor's secrets masked (see `update_agent`)."""
        ...

    async def update_agent(
        self,
        workspace_id: str,
        agent_id: str,
        name: str | None,
        executor: dict[str, Any] | None,
    ) -> AgentRecord:
        """Change the name and/or the executor (None: unchanged). A secret of the executor left
        out, or sent back masked (`***`), keeps its stored value. Returns the agent as shown:
        `api_key_set` instead of an API key, header values `***`."""
        ...

    async def delete_agent(self, workspace_id: str, agent_id: str) -> None:
        """Remove the agent with its channels, leads and conversations (its webhooks then
        answer 404); NotFound if it is not the workspace's."""
        ...

    async def seal_plaintext_secrets(self) -> int:
        """Seal in the vault any executor secret still stored in plain text (written before
        secrets were sealed); returns how many agents changed. Idempotent."""
        ...

    async def configure_channel(
        self,
        workspace_id: str,
        agent_id: str,
        kind: str,
        settings: dict[str, str],
        secrets: dict[str, str | None],
        enabled: bool,
    ) -> ResolvedChannel:
        """Save a channel; a secret given as None keeps the stored one (or fails validation
        when none is stored). The returned channel carries secret *names* only."""
        ...

    async def get_channel(self, workspace_id: str, agent_id: str, kind: str) -> ResolvedChannel:
        """The channel with secret names only (values never leave); NotFound if none."""
        ...

    async def list_channels(self, workspace_id: str, agent_id: str) -> list[ResolvedChannel]:
        """The agent's configured channels, secret names only."""
        ...

    async def delete_channel(self, workspace_id: str, agent_id: str, kind: str) -> None:
        """Remove a channel (its webhook then answers as never configured); NotFound if none."""
        ...

    async def list_leads(
        self,
        workspace_id: str,
        agent_id: str | None,
        platform: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page: ...

    def export_leads(
        self, workspace_id: str, agent_id: str | None, platform: str | None, search: str | None
    ) -> AsyncIterator[LeadRecord]: ...

    async def session_messages(self, workspace_id: str, session_id: str) -> list[StoredMessage]: ...

    async def session_summary(self, workspace_id: str, session_id: str) -> SessionSummary:
        """One session as the inbox shows it; NotFound if it is not the workspace's."""
        ...

    async def set_paused(self, actor: Actor, session_id: str, paused: bool) -> bool:
        """Pause (human takeover) or resume the agent on a session; returns `paused`. While
        paused, user messages are stored `held` and the agent is not called; resuming does
        not answer them. NotFound if the session is not the actor's workspace's."""
        ...

    async def human_reply(
        self, actor: Actor, session_id: str, content: object, template: object = None
    ) -> StoredMessage:
        """Store a person's reply (role `human`, status `queued`) and have it delivered
        through the session's channel like an agent's reply; allowed paused or not. A
        `template` ({"content_sid": "HX...", "variables": {...}}) is sent instead of text,
        stored with the content `[template HX...]`. ValidationFailed naming `content` or
        `template`; Refused (409) while the contact is opted out, or for text outside the
        channel's reply window; NotFound as above."""
        ...

    def reply_rules(self, summary: SessionSummary) -> ReplyRules:
        """What may be sent on the session `session_summary` returned, now (opt-out, reply
        window, templates); no read of its own."""
        ...

    async def list_sessions(
        self,
        workspace_id: str,
        agent_id: str | None,
        platform: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        """The inbox: SessionSummary items of the workspace, most recent activity first;
        `status` None, `needs_attention` or `paused`. ValueError for a cursor it did not make."""
        ...

    async def rotate_secrets(self) -> int:
        """Re-encrypt every stored secret (channels' and executors') with the newest key;
        returns how many changed."""
        ...


class LeadWebhookAdmin(Protocol):
    """An agent's new-lead webhook, workspace-scoped like Administration (NotFound for an
    agent of another workspace, or when no webhook is configured; InvalidInput naming the
    fields). The secret is sealed and never returned."""

    async def configure(
        self, workspace_id: str, agent_id: str, url: object, secret: object
    ) -> ShownWebhook: ...

    async def get(self, workspace_id: str, agent_id: str, log_size: int = 20) -> ShownWebhook:
        """The webhook and its newest deliveries (the delivery log)."""
        ...

    async def delete(self, workspace_id: str, agent_id: str) -> None: ...
