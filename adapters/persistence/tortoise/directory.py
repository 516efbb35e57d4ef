"""AgentStore, WorkspaceStore and LeadStore on Tortoise."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable
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
from ports.errors import Conflict, NotFound
from ports.values import Actor, AgentRecord, ChannelRecord, LeadRecord, Page

_CHANNEL = (
    "SELECT settings, secrets, enabled, updated_at FROM channel WHERE agent_id = ? AND kind = ?"
)


AGENT_CACHE_TTL_S = 2.0


class AgentCache:
    """Agents as last read, each for `ttl_s` seconds (monotonic clock).

    Every webhook and every answer looks its agent up, so a process keeps them in memory; an
    entry expires after a couple of seconds, so an edit or a delete made through another
    process (SQLite or PostgreSQL alike) takes effect here within `ttl_s`, and at once in the
    process that made it. A hit costs one dict look-up and one clock reading (tens of
    nanoseconds); a miss is the one primary-key SELECT a fresh process made anyway, at most
    once per agent per `ttl_s`. Chosen over a version check per look-up, which would put a
    database round trip back on every webhook and every answer.

    One cache is shared by the stores of a process (webhooks' and worker's connections).

    Channels are kept the same way, by (agent id, kind): every webhook, typing indicator and
    send reads its channel, three reads of the same row per message. A save or delete through
    this process drops the entry at once; other processes see it within `ttl_s`. A missing
    channel is not kept (one configured meanwhile in another process is found at once)."""

    def __init__(
        self, ttl_s: float = AGENT_CACHE_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, AgentRecord]] = {}
        self._channels: dict[tuple[str, str], tuple[float, ChannelRecord]] = {}

    def get_channel(self, agent_id: str, kind: str) -> ChannelRecord | None:
        entry = self._channels.get((agent_id, kind))
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put_channel(self, record: ChannelRecord) -> None:
        self._channels[(record.agent_id, record.kind)] = (self._clock() + self.ttl_s, record)

    def forget_channel(self, agent_id: str, kind: str) -> None:
        self._channels.pop((agent_id, kind), None)

    def get(self, agent_id: str) -> AgentRecord | None:
        entry = self._entries.get(agent_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, agent_id: str, agent: AgentRecord) -> None:
        self._entries[agent_id] = (self._clock() + self.ttl_s, agent)

    def drop(self, name: str) -> None:
        """Drop the entry cached under exactly this id (cheap: for the read path)."""
        self._entries.pop(name, None)

    def forget(self, agent_id: str) -> None:
        """Drop every entry of the agent (it may be cached under other spellings of its id);
        scans the cache, so only writes use it."""
        for name in [n for n, (_, a) in self._entries.items() if a.id == agent_id]:
            del self._entries[name]
        self._entries.pop(agent_id, None)
        for key in [k for k in self._channels if k[0] == agent_id]:
            del self._channels[key]


def _copy(record: ChannelRecord) -> ChannelRecord:
    """A cached record is never handed out itself: its dicts may be changed by a caller."""
    return dataclasses.replace(record, settings=dict(record.settings), secrets=dict(record.secrets))


class TortoiseAgentStore:
    def __init__(self, connection: str = DEFAULT, cache: AgentCache | None = None) -> None:
        self._c = connection  # for the hot channel look-up (see sql.WORKER)
        self._agents = cache if cache is not None else AgentCache()

    @unavailable_on_db_error
    async def create_agent(
        self,
        workspace_id: str,
        name: str,
        executor: dict[str, Any],
        at: datetime,
        agent_id: str | None = None,
    ) -> AgentRecord:
        key = uuid.uuid4() if agent_id is None else as_uuid(agent_id)
        if key is None:
            raise Conflict("conflicting write: agent id")
        row = await Agent.create(
            id=key, workspace_id=workspace_id, name=name, executor=executor, created_at=at
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
            self._agents.drop(agent_id)
            return None
        agent = to_agent(row)
        self._agents.put(agent_id, agent)
        return agent

    @unavailable_on_db_error
    async def list_agents(
        self, workspace_id: str, limit: int | None = None, after_id: str | None = None
    ) -> list[AgentRecord]:
        query = Agent.filter(workspace_id=workspace_id)
        if after_id is not None:
            key = as_uuid(after_id)
            after = None if key is None else await query.filter(id=key).first()
            if after is None:
                raise NotFound("no such agent in this workspace")
            later = Q(created_at__gt=after.created_at) | Q(
                created_at=after.created_at, id__gt=after.id
            )
            query = query.filter(later)
        query = query.order_by("created_at", "id")
        if limit is not None:
            query = query.limit(max(limit, 0))
        return [to_agent(r) for r in await query]

    @unavailable_on_db_error
    async def all_agents(self) -> list[AgentRecord]:
        return [to_agent(r) for r in await Agent.all().order_by("created_at", "id")]

    @unavailable_on_db_error
    async def update_agent(
        self, agent_id: str, name: str, executor: dict[str, Any], at: datetime
    ) -> AgentRecord | None:
        key = as_uuid(agent_id)
        if key is None:
            return None
        self._agents.forget(str(key))
        changed = await Agent.filter(id=key).update(name=name, executor=executor, updated_at=at)
        row = await Agent.filter(id=key).first() if changed else None
        self._agents.forget(str(key))  # a look-up meanwhile may have cached the old row
        if row is None:
            return None
        agent = to_agent(row)
        self._agents.put(agent.id, agent)
        return agent

    @unavailable_on_db_error
    async def replace_executor(
        self, agent: AgentRecord, executor: dict[str, Any], at: datetime
    ) -> bool:
        key = as_uuid(agent.id)
        if key is None:
            return False
        self._agents.forget(str(key))
        query = Agent.filter(id=key)
        if agent.updated_at is None:
            query = query.filter(updated_at__isnull=True)
        else:
            query = query.filter(updated_at=agent.updated_at)
        replaced = bool(await query.update(executor=executor, updated_at=at))
        self._agents.forget(str(key))
        return replaced

    @unavailable_on_db_error
    async def delete_agent(self, agent_id: str) -> bool:
        """One DELETE: the database's foreign keys (ON DELETE CASCADE; SQLite runs with
        foreign_keys=ON) remove its channels, leads, sessions and messages with it."""
        key = as_uuid(agent_id)
        if key is None:
            return False
        deleted = await Agent.filter(id=key).delete() > 0
        self._agents.forget(str(key))
        return deleted

    @unavailable_on_db_error
    async def get_channel(self, agent_id: str, kind: str) -> ChannelRecord | None:
        # Every webhook and every send reads its channel: a hand-written statement.
        key = as_uuid(agent_id)
        if key is None:
            return None
        cached = self._agents.get_channel(str(key), kind)
        if cached is not None:
            return _copy(cached)
        rows = await fetch(_CHANNEL, [str(key), kind], self._c)
        if not rows:
            return None
        r = rows[0]
        record = ChannelRecord(
            agent_id=str(key),
            kind=kind,
            settings=dict(to_json(r["settings"])),
            secrets=dict(to_json(r["secrets"])),
            enabled=bool(r["enabled"]),
            updated_at=to_time(r["updated_at"]),
        )
        self._agents.put_channel(_copy(record))
        return record

    @unavailable_on_db_error
    async def save_channel(self, record: ChannelRecord) -> ChannelRecord:
        values = {
            "settings": record.settings,
            "secrets": record.secrets,
            "enabled": record.enabled,
            "updated_at": record.updated_at,
        }
        self._forget_channel(record.agent_id, record.kind)
        row, _ = await Channel.update_or_create(
            defaults=values, agent_id=record.agent_id, kind=record.kind
        )
        self._forget_channel(record.agent_id, record.kind)  # a read meanwhile kept the old one
        return to_channel(row)

    def _forget_channel(self, agent_id: str, kind: str) -> None:
        key = as_uuid(agent_id)
        if key is not None:
            self._agents.forget_channel(str(key), kind)

    @unavailable_on_db_error
    async def delete_channel(self, agent_id: str, kind: str) -> bool:
        key = as_uuid(agent_id)
        if key is None:
            return False
        self._forget_channel(agent_id, kind)
        deleted = await Channel.filter(agent_id=key, kind=kind).delete() > 0
        self._forget_channel(agent_id, kind)
        return deleted

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
    async def add_api_key(
        self, workspace_id: str, key_hash: str, at: datetime, label: str | None = None
    ) -> None:
        await ApiKey.create(
            workspace_id=workspace_id, key_hash=key_hash, created_at=at, label=label
        )

    @unavailable_on_db_error
    async def key_owner(self, key_hash: str) -> Actor | None:
        row = await ApiKey.filter(key_hash=key_hash).first().values("workspace_id", "label")
        return None if row is None else Actor(str(row["workspace_id"]), row["label"])

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
