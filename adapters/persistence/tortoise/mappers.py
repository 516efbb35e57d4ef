"""Explicit mappers from ORM rows to the ports' value types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adapters.persistence.tortoise.models import Agent, Channel
from adapters.persistence.tortoise.sql import to_time
from ports.values import AgentRecord, ChannelRecord, LeadRecord, StoredMessage, Template


def template_to_text(template: Template | None) -> str | None:
    """How a message's template is stored (JSON text, the same on both databases)."""
    if template is None:
        return None
    return json.dumps({"content_sid": template.content_sid, "variables": template.variables})


def template_from_text(text: str | None) -> Template | None:
    if not text:
        return None
    data = json.loads(text)
    variables = {str(k): str(v) for k, v in data["variables"].items()}
    return Template(str(data["content_sid"]), variables)


def message_from_row(r: Mapping[str, Any]) -> StoredMessage:
    """A message joined with its session (the columns of messages._MESSAGES)."""
    attempt = r["attempt_started_at"]
    return StoredMessage(
        id=int(r["id"]),
        session_id=r["session_id"],
        agent_id=str(r["agent_id"]),
        kind=r["kind"],
        contact=r["contact"],
        role=r["role"],
        content=r["content"],
        status=r["status"],
        created_at=to_time(r["created_at"]),
        external_id=r["external_id"],
        reply_to_id=r["reply_to_id"],
        attempt_started_at=None if attempt is None else to_time(attempt),
        error=r["error"],
        attempts=int(r["attempts"] or 0),
        author=r.get("author"),
        template=template_from_text(r.get("template")),
        control=r.get("control"),
    )


LEAD_COLUMNS = (
    "id", "agent_id", "platform", "contact", "name", "first_seen_at", "last_seen_at",
    "message_count", "opted_out",
)  # fmt: skip


def lead_from_row(r: Mapping[str, Any]) -> LeadRecord:
    return LeadRecord(
        id=str(r["id"]),
        agent_id=str(r["agent_id"]),
        platform=r["platform"],
        contact=r["contact"],
        name=r["name"],
        first_seen_at=to_time(r["first_seen_at"]),
        last_seen_at=to_time(r["last_seen_at"]),
        message_count=int(r["message_count"]),
        opted_out=bool(r["opted_out"]),
    )


def to_agent(row: Agent) -> AgentRecord:
    return AgentRecord(
        id=str(row.id),
        workspace_id=str(row.workspace_id),  # type: ignore[attr-defined]
        name=row.name,
        executor=dict(row.executor),
        created_at=row.created_at,
        updated_at=row.updated_at,
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
