"""AgentStore, WorkspaceStore and LeadStore on Tortoise."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from adapters.persistence.cursor import decode_cursor, encode_cursor
from adapters.persistence.tortoise.mappers import LEAD_COLUMNS, lead_from_row, to_agent, to_channel
from adapters.persistence.tortoise.models import Agent, ApiKey, Channel, Lead, Setting, Workspace
from adapters.persistence.tortoise.sql import (
    DEFAULT,
    as_uuid,
    fetch,
    to_json,
    to_time,
    unavailable_on_db_error,
)
from ports.values import AgentRecord, ChannelRecord, LeadRecord, Page

_CHANNEL = (
    "SELECT settings, secrets, enabled, updated_at FROM channel WHERE agent_id = ? AND kind = ?"
)


class TortoiseAgentStore:
    def __init__(self, connection: str = DEFAULT) -> None:
        self._c = connection  # for the hot channel look-up (see sql.WORKER)
        # Agents never change once created (no update API), so each is read once per process:
        # every webhook and every answer looks its agent up.
        self._agents: dict[str, AgentRecord] = {}

    @unavailable_on_db_error
    async def create_agent(
        self, workspace_id: str, name: str, executor: dict[str, Any], at: datetime
    ) -> AgentRecord:
        row = await Agent.create(
            id=uuid.uuid4(), workspace_id=workspace_id, name=name, executor=executor, created_at=at
        )
        return to_agent(row)

    @unavailable_on_db_error
    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        cached = self._agents.get(agent_id)
        if cached is not None:
            return cached
        key = as_uuid(agent_id)
        row = None if key is None else await Agent.filter(id=key).first()
        if row is None:
            return None
        agent = self._agents[agent_id] = to_agent(row)
        return agent

    @unavailable_on_db_error
    async def list_agents(self, workspace_id: str) -> list[AgentRecord]:
        rows = await Agent.filter(workspace_id=workspace_id).order_by("created_at", "id")
        return [to_agent(r) for r in rows]

    @unavailable_on_db_error
    async def get_channel(self, agent_id: str, kind: str) -> ChannelRecord | None:
        # Every webhook and every send reads its channel: a hand-written statement.
        key = as_uuid(agent_id)
        if key is None:
            return None
        rows = await fetch(_CHANNEL, [str(key), kind], self._c)
        if not rows:
            return None
        r = rows[0]
        return ChannelRecord(
            agent_id=str(key),
            kind=kind,
            settings=dict(to_json(r["settings"])),
            secrets=dict(to_json(r["secrets"])),
            enabled=bool(r["enabled"]),
            updated_at=to_time(r["updated_at"]),
        )

    @unavailable_on_db_error
    async def save_channel(self, record: ChannelRecord) -> ChannelRecord:
        values = {
            "settings": record.settings,
            "secrets": record.secrets,
            "enabled": record.enabled,
            "updated_at": record.updated_at,
        }
        row, _ = await Channel.update_or_create(
            defaults=values, agent_id=record.agent_id, kind=record.kind
        )
        return to_channel(row)

    @unavailable_on_db_error
    async def delete_channel(self, agent_id: str, kind: str) -> bool:
        key = as_uuid(agent_id)
        return key is not None and await Channel.filter(agent_id=key, kind=kind).delete() > 0

    @unavailable_on_db_error
    async def list_channels(self, agent_id: str) -> list[ChannelRecord]:
        key = as_uuid(agent_id)
        rows = [] if key is None else await Channel.filter(agent_id=key).order_by("id")
        return [to_channel(r) for r in rows]

    @unavailable_on_db_error
    async def all_channels(self) -> list[ChannelRecord]:
        return [to_channel(r) for r in await Channel.all().order_by("id")]


class TortoiseWorkspaceStore:
    @unavailable_on_db_error
    async def ensure_workspace(self, name: str, at: datetime) -> str:
        row = await Workspace.filter(name=name).first()
        if row is None:
            try:
                row = await Workspace.create(id=uuid.uuid4(), name=name, created_at=at)
            except IntegrityError:  # created meanwhile by another task or process
                row = await Workspace.get(name=name)
        return str(row.id)

    @unavailable_on_db_error
    async def add_api_key(self, workspace_id: str, key_hash: str, at: datetime) -> None:
        await ApiKey.create(workspace_id=workspace_id, key_hash=key_hash, created_at=at)

    @unavailable_on_db_error
    async def workspace_for_key(self, key_hash: str) -> str | None:
        value = (
            await ApiKey.filter(key_hash=key_hash).first().values_list("workspace_id", flat=True)
        )
        return None if value is None else str(value)

    @unavailable_on_db_error
    async def get_setting(self, name: str) -> str | None:
        row = await Setting.filter(name=name).first()
        return None if row is None else row.value

    @unavailable_on_db_error
    async def set_setting(self, name: str, value: str) -> None:
        await Setting.update_or_create(defaults={"value": value}, name=name)


class TortoiseLeadStore:
    def _query(
        self, workspace_id: str, agent_id: str | None, platform: str | None, search: str | None
    ) -> QuerySet[Lead]:
        query = Lead.filter(agent__workspace_id=workspace_id)
        if agent_id is not None:
            key = as_uuid(agent_id)
            query = query.filter(agent_id=key) if key else query.filter(id=-1)
        if platform:
            query = query.filter(platform=platform)
        if search:
            query = query.filter(Q(contact__icontains=search) | Q(name__icontains=search))
        return query

    @unavailable_on_db_error
    async def list_leads(
        self,
        workspace_id: str,
        agent_id: str | None,
        platform: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        limit = max(limit, 1)
        query = self._query(workspace_id, agent_id, platform, search)
        if cursor:
            query = query.filter(id__lt=decode_cursor(cursor))
        rows = await query.order_by("-id").limit(limit + 1).values(*LEAD_COLUMNS)
        items = tuple(lead_from_row(r) for r in rows[:limit])
        more = len(rows) > limit
        return Page(items, encode_cursor(int(rows[limit - 1]["id"])) if more else None)

    async def iterate_leads(
        self, workspace_id: str, agent_id: str | None, platform: str | None, search: str | None
    ) -> AsyncIterator[LeadRecord]:
        cursor: str | None = None
        while True:
            page = await self.list_leads(workspace_id, agent_id, platform, search, 500, cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
