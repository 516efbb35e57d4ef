"""Explicit mappers from ORM rows to the ports' value types."""

from __future__ import annotations

from adapters.persistence.tortoise.models import Agent, Channel, Lead, Message
from ports.values import AgentRecord, ChannelRecord, LeadRecord, StoredMessage


def to_message(row: Message) -> StoredMessage:
    session = row.session
    return StoredMessage(
        id=row.id,
        session_id=session.id,
        agent_id=str(session.agent_id),  # type: ignore[attr-defined]
        channel=session.channel,
        contact=session.contact,
        role=row.role,
        content=row.content,
        status=row.status,
        created_at=row.created_at,
        external_id=row.external_id,
        reply_to_id=row.reply_to_id,
        attempt_started_at=row.attempt_started_at,
        error=row.error,
    )


def to_lead(row: Lead) -> LeadRecord:
    return LeadRecord(
        id=str(row.id),
        agent_id=str(row.agent_id),  # type: ignore[attr-defined]
        platform=row.platform,
        contact=row.contact,
        name=row.name,
        first_seen_at=row.first_seen_at,
        last_seen_at=row.last_seen_at,
        message_count=row.message_count,
    )


def to_agent(row: Agent) -> AgentRecord:
    return AgentRecord(
        id=str(row.id),
        workspace_id=str(row.workspace_id),  # type: ignore[attr-defined]
        name=row.name,
        executor=dict(row.executor),
        created_at=row.created_at,
    )


def to_channel(row: Channel) -> ChannelRecord:
    return ChannelRecord(
        agent_id=str(row.agent_id),  # type: ignore[attr-defined]
        kind=row.kind,
        settings=dict(row.settings),
        secrets=dict(row.secrets),
        enabled=row.enabled,
        updated_at=row.updated_at,
    )
