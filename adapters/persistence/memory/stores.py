"""MessageStore, LeadStore, AgentStore and WorkspaceStore kept in process memory.

They follow the Tortoise stores rule for rule (ordering, the `pending` flag, dedup per
agent and kind, the lead upsert, cursor paging; the delivery status order lives in
core/delivery.py, the stores only compare and set), with two deliberate exceptions: a missing
message id raises the port's NotFound (Tortoise leaks DoesNotExist), and
sessions_with_pending_work is exact, like the Tortoise store's grouped query.
No method awaits between reading and writing state, so each one is atomic on its event loop.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from adapters.persistence.cursor import SESSIONS, decode_cursor, encode_cursor
from ports import values as v
from ports.errors import Conflict, NotFound
from ports.values import (
    AcceptResult,
    Actor,
    AfterSend,
    AgentRecord,
    AnswerStart,
    ChannelRecord,
    HistoryEntry,
    InboundMessage,
    LeadDelivery,
    LeadRecord,
    LeadWebhook,
    NextWork,
    Outgoing,
    Page,
    Reach,
    SendReceipt,
    SessionSummary,
    StoredMessage,
    Template,
)


@dataclass(frozen=True, slots=True)
class _Session:
    agent_id: str
    lead_id: int
    kind: str
    contact: str
    # The summary the inbox lists (see the Tortoise session model).
    last_message_id: int = 0
    last_message_at: datetime | None = None
    last_message: str = ""
    paused: bool = False
    needs_attention: bool = False
    paused_by: str | None = None
    paused_at: datetime | None = None


def _summarised(
    session: _Session, message: StoredMessage, attention: bool | None, if_paused: bool | None
) -> _Session:
    """The session after `message` became its newest; the flags are the core's decisions."""
    flag = if_paused if session.paused else attention
    return replace(
        session,
        last_message_id=message.id,
        last_message_at=message.created_at,
        last_message=message.content[: v.LAST_MESSAGE_CHARS],
        needs_attention=session.needs_attention if flag is None else flag,
    )


class MemoryDatabase:
    """All state of the memory stores; share one between the four stores."""

    def __init__(self) -> None:
        self.workspaces: dict[str, str] = {}  # name -> id
        self.api_keys: dict[str, str] = {}  # key hash -> workspace id
        self.key_labels: dict[str, str | None] = {}  # key hash -> label
        self.settings: dict[str, str] = {}
        self.agents: dict[str, AgentRecord] = {}
        self.channels: dict[tuple[str, str], ChannelRecord] = {}  # insertion order = id order
        self.leads: dict[int, LeadRecord] = {}
        self.lead_keys: dict[tuple[str, str, str], int] = {}
        self.sessions: dict[str, _Session] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.pending: set[int] = set()
        self.by_external_id: dict[tuple[str, str, str], int] = {}  # (agent, kind, id)
        # Delivery reports that came before their message's provider id was stored.
        self.parked: dict[tuple[str, str, str], list[tuple[str, str | None, datetime]]] = {}
        self.next_lead_id = 1
        self.next_message_id = 1
        # The new-lead webhook (memory/lead_webhooks.py): webhooks, the outbox, its claims.
        self.lead_webhooks: dict[str, LeadWebhook] = {}
        self.lead_deliveries: dict[str, LeadDelivery] = {}
        self.lead_claims: dict[str, datetime] = {}

    def new_message_id(self) -> int:
        self.next_message_id += 1
        return self.next_message_id - 1


class _Store:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


class MemoryMessageStore(_Store):
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
        db = self.db
        dedup = (message.agent_id, message.kind, message.external_id)
        existing = db.by_external_id.get(dedup)
        if existing is not None:
            return AcceptResult(db.messages[existing].session_id, existing, True, "")
        if message.agent_id not in db.agents:
            raise Conflict("conflicting write: unknown agent")
        key = (message.agent_id, message.kind, message.contact)
        lead_id = db.lead_keys.get(key)
        new_lead = lead_id is None
        if lead_id is None:
            lead_id, db.next_lead_id = db.next_lead_id, db.next_lead_id + 1
            db.lead_keys[key] = lead_id
            db.leads[lead_id] = LeadRecord(
                str(lead_id), *key, message.sender_name, at, at, message_count=1
            )
        else:
            lead = db.leads[lead_id]
            name = lead.name if message.sender_name is None else message.sender_name
            db.leads[lead_id] = replace(
                lead, name=name, last_seen_at=at, message_count=lead.message_count + 1
            )
        if opt_out is not None:
            db.leads[lead_id] = replace(db.leads[lead_id], opted_out=opt_out)
        lead_event = new_lead and self._lead_event(db.leads[lead_id], at)
        session = db.sessions.setdefault(
            session_id, _Session(message.agent_id, lead_id, message.kind, message.contact)
        )
        message_id = db.new_message_id()
        held = session.paused and control is None  # a stop word is never held
        status = v.HELD if held else v.RECEIVED  # held: nothing answers it
        db.messages[message_id] = StoredMessage(
            message_id, session_id, session.agent_id, session.kind, session.contact, v.USER,
            message.body, status, at, external_id=message.external_id, control=control,
        )  # fmt: skip
        if not held:
            db.pending.add(message_id)
        db.by_external_id[dedup] = message_id
        db.sessions[session_id] = _summarised(
            session, db.messages[message_id], attention, attention_if_paused
        )
        return AcceptResult(
            session_id, message_id, False, str(lead_id), new_lead=new_lead, lead_event=lead_event
        )

    def _lead_event(self, lead: LeadRecord, at: datetime) -> bool:
        """The outbox row of a new lead whose agent has a webhook (same step as the lead);
        False when the agent has none."""
        if lead.agent_id not in self.db.lead_webhooks:
            return False
        delivery_id = v.lead_event_id(lead.agent_id, lead.platform, lead.contact)
        self.db.lead_deliveries.setdefault(
            delivery_id, LeadDelivery(delivery_id, lead.agent_id, lead, v.PENDING_EVENT, 0, at)
        )
        return True

    def _get(self, message_id: int) -> StoredMessage:
        row = self.db.messages.get(message_id)
        if row is None:
            raise NotFound(f"no message {message_id}")
        return row

    async def next_pending(self, session_id: str) -> StoredMessage | None:
        mine = [self.db.messages[i] for i in self.db.pending]
        mine = [m for m in mine if m.session_id == session_id]
        # As in the Tortoise store: an interrupted reply before any newer user message.
        return min(mine, key=lambda m: (m.role == v.USER, m.id)) if mine else None

    async def history(self, session_id: str, before_id: int, limit: int) -> list[HistoryEntry]:
        rows = [m for m in await self.session_messages(session_id) if m.id < before_id]
        return [HistoryEntry(m.role, m.content) for m in rows[-limit:]] if limit > 0 else []

    async def start_answer(
        self, message_id: int, session_id: str, at: datetime, history_limit: int
    ) -> AnswerStart:
        row = self._get(message_id)
        if row.session_id != session_id:
            raise NotFound(f"no message {message_id} in session {session_id}")
        self.db.messages[message_id] = replace(row, status=v.PROCESSING, attempts=row.attempts + 1)
        return AnswerStart(
            attempts=row.attempts + 1,
            lead=await self.lead_for_session(row.session_id),
            history=tuple(await self.history(row.session_id, message_id, history_limit)),
        )

    async def begin_next(
        self, session_id: str, at: datetime, history_limit: int
    ) -> NextWork | None:
        found = await self.next_pending(session_id)
        if found is None:
            return None
        start = None
        if found.role == v.USER:
            start = await self.start_answer(found.id, session_id, at, history_limit)
        return NextWork(found, start)

    async def reply_of(self, user_message_id: int) -> StoredMessage | None:
        replies = [m for m in self.db.messages.values() if m.reply_to_id == user_message_id]
        return min(replies, key=lambda m: m.id) if replies else None

    async def complete(
        self,
        user_message_id: int,
        user_status: str,
        reply: str,
        at: datetime,
        reason: str | None = None,
        attention: bool | None = None,
    ) -> Outgoing:
        db = self.db
        user = self._get(user_message_id)
        db.messages[user.id] = replace(user, status=user_status, error=reason or user.error)
        db.pending.discard(user.id)
        row = replace(
            user, id=db.new_message_id(), role=v.ASSISTANT, content=reply, status=v.SENDING,
            created_at=at, external_id=None, reply_to_id=user.id, attempt_started_at=at,
            error=None, attempts=0,
        )  # fmt: skip
        db.messages[row.id] = row
        db.pending.add(row.id)
        session = db.sessions[row.session_id]
        db.sessions[row.session_id] = _summarised(session, row, attention, attention)
        return Outgoing(row, self._reach(row))

    async def close_unanswered(
        self,
        user_message_id: int,
        status: str,
        reason: str | None,
        at: datetime,
        attention: bool | None = None,
    ) -> None:
        user = self._get(user_message_id)
        self.db.messages[user.id] = replace(user, status=status, error=reason or user.error)
        self.db.pending.discard(user.id)
        self._flag(user.session_id, attention)

    async def mark_sending(self, message_id: int, at: datetime) -> Reach:
        # The first attempt's start is kept: a lookup after several crashes must reach back to it.
        row = self._get(message_id)
        started = row.attempt_started_at or at
        self.db.messages[message_id] = replace(row, status=v.SENDING, attempt_started_at=started)
        return self._reach(row)

    def _reach(self, message: StoredMessage) -> Reach:
        lead = self.db.leads[self.db.sessions[message.session_id].lead_id]
        return Reach(lead.opted_out, lead.last_seen_at)

    async def set_opted_out(self, message_id: int, opted_out: bool) -> None:
        session = self.db.sessions[self._get(message_id).session_id]
        lead = self.db.leads[session.lead_id]
        self.db.leads[session.lead_id] = replace(lead, opted_out=opted_out)

    async def mark_sent(self, message_id: int, receipt: SendReceipt, at: datetime) -> AfterSend:
        db = self.db
        row = self._get(message_id)
        key = (row.agent_id, row.kind, receipt.external_id)
        owner = db.by_external_id.get(key)
        if owner is not None and owner != message_id:
            raise Conflict("conflicting write: external id already stored")
        # As in the Tortoise store: no report can be ahead, reports find a message by this id.
        if row.external_id is not None:
            db.by_external_id.pop((row.agent_id, row.kind, row.external_id), None)
        db.messages[message_id] = replace(
            row, status=receipt.status, external_id=receipt.external_id
        )
        db.by_external_id[key] = message_id
        db.pending.discard(message_id)
        parked = await self.take_parked(row.agent_id, row.kind, receipt.external_id)
        return AfterSend(tuple(parked), await self.next_pending(row.session_id))

    def _flag(self, session_id: str, attention: bool | None) -> None:
        session = self.db.sessions.get(session_id)
        if session is not None and attention is not None:
            self.db.sessions[session_id] = replace(session, needs_attention=attention)

    async def mark_send_failed(
        self,
        message_id: int,
        status: str,
        error: str,
        at: datetime,
        attention: bool | None = None,
    ) -> None:
        if (row := self.db.messages.get(message_id)) is not None:
            self.db.messages[message_id] = replace(row, status=status, error=error[:500])
            self.db.pending.discard(message_id)
            self._flag(row.session_id, attention)

    async def set_paused(
        self, session_id: str, paused: bool, by: str | None, at: datetime, attention: bool | None
    ) -> bool:
        session = self.db.sessions.get(session_id)
        if session is None:
            return False
        flag = session.needs_attention if attention is None else attention
        self.db.sessions[session_id] = replace(
            session, paused=paused, paused_by=by, paused_at=at, needs_attention=flag
        )
        return True

    async def add_human_message(
        self,
        session_id: str,
        content: str,
        author: str | None,
        at: datetime,
        attention: bool | None,
        template: Template | None = None,
    ) -> StoredMessage:
        db = self.db
        session = db.sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id}")
        row = StoredMessage(
            db.new_message_id(), session_id, session.agent_id, session.kind, session.contact,
            v.HUMAN, content, v.QUEUED, at, author=author, template=template,
        )  # fmt: skip
        db.messages[row.id] = row
        db.pending.add(row.id)
        db.sessions[session_id] = _summarised(session, row, attention, attention)
        return row

    async def delivery_target(
        self, agent_id: str, kind: str, external_id: str
    ) -> tuple[int, str] | None:
        message_id = self.db.by_external_id.get((_uuid(agent_id) or "", kind, external_id))
        row = None if message_id is None else self.db.messages[message_id]
        outbound = row is not None and row.role in (v.ASSISTANT, v.HUMAN)
        return (row.id, row.status) if row is not None and outbound else None

    async def set_delivery(
        self,
        message_id: int,
        expected: str,
        status: str,
        error: str | None,
        at: datetime,
        attention: bool | None = None,
    ) -> bool:
        row = self.db.messages.get(message_id)
        if row is None or row.status != expected:
            return False
        self.db.messages[message_id] = replace(row, status=status, error=error or row.error)
        self._flag(row.session_id, attention)
        return True

    async def park_delivery(
        self,
        agent_id: str,
        kind: str,
        external_id: str,
        status: str,
        error: str | None,
        at: datetime,
    ) -> None:
        key = (_uuid(agent_id) or "", kind, external_id)
        self.db.parked.setdefault(key, []).append((status, error, at))

    async def take_parked(
        self, agent_id: str, kind: str, external_id: str
    ) -> list[tuple[str, str | None]]:
        found = self.db.parked.pop((_uuid(agent_id) or "", kind, external_id), [])
        return [(status, error) for status, error, _ in found]

    async def drop_parked(self, before: datetime) -> int:
        dropped = 0
        for key in list(self.db.parked):
            kept = [p for p in self.db.parked[key] if p[2] >= before]
            dropped += len(self.db.parked[key]) - len(kept)
            if kept:
                self.db.parked[key] = kept
            else:
                del self.db.parked[key]
        return dropped

    async def sessions_with_pending_work(
        self, limit: int, created_before: datetime | None = None
    ) -> list[str]:
        waiting = (self.db.messages[i] for i in sorted(self.db.pending))
        sessions = (
            m.session_id for m in waiting if created_before is None or m.created_at < created_before
        )
        return list(dict.fromkeys(sessions))[: max(limit, 0)]

    async def session_agent(self, session_id: str) -> str | None:
        session = self.db.sessions.get(session_id)
        return None if session is None else session.agent_id

    async def session_messages(self, session_id: str) -> list[StoredMessage]:
        return [m for m in self.db.messages.values() if m.session_id == session_id]

    async def pending_stats(self) -> tuple[int, datetime | None]:
        waiting = [self.db.messages[i] for i in self.db.pending]
        waiting = [m for m in waiting if m.role == "user"]
        oldest = min((m.created_at for m in waiting), default=None)
        return len(waiting), oldest

    async def lead_for_session(self, session_id: str) -> LeadRecord | None:
        session = self.db.sessions.get(session_id)
        return None if session is None else self.db.leads[session.lead_id]

    async def list_sessions(
        self,
        workspace_id: str,
        agent_id: str | None,
        kind: str | None,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        limit = max(limit, 1)
        before = decode_cursor(cursor, SESSIONS) if cursor else None
        wanted_agent = None if agent_id is None else (_uuid(agent_id) or "-")
        found: list[tuple[str, _Session]] = []
        for session_id, row in self.db.sessions.items():
            agent = self.db.agents.get(row.agent_id)
            if agent is None or agent.workspace_id != workspace_id or not row.last_message_id:
                continue
            if wanted_agent is not None and row.agent_id != wanted_agent:
                continue
            if kind and row.kind != kind:
                continue
            if status == v.NEEDS_ATTENTION and not row.needs_attention:
                continue
            if status == v.PAUSED and not row.paused:
                continue
            if before is not None and row.last_message_id >= before:
                continue
            found.append((session_id, row))
        found.sort(key=lambda item: item[1].last_message_id, reverse=True)
        items = tuple(self._summary(i, r) for i, r in found[:limit])
        more = len(found) > limit
        last = found[limit - 1][1].last_message_id if more else None
        return Page(items, None if last is None else encode_cursor(last, SESSIONS))

    async def session_summary(self, session_id: str) -> SessionSummary | None:
        row = self.db.sessions.get(session_id)
        return None if row is None else self._summary(session_id, row)

    def _summary(self, session_id: str, row: _Session) -> SessionSummary:
        lead = self.db.leads[row.lead_id]
        return SessionSummary(
            session_id=session_id,
            agent_id=row.agent_id,
            kind=row.kind,
            contact=row.contact,
            name=lead.name,
            last_message_at=row.last_message_at or lead.first_seen_at,
            last_message=row.last_message,
            paused=row.paused,
            needs_attention=row.needs_attention,
            paused_by=row.paused_by,
            opted_out=lead.opted_out,
            last_user_at=lead.last_seen_at,
        )


class MemoryAgentStore(_Store):
    async def create_agent(
        self,
        workspace_id: str,
        name: str,
        executor: dict[str, Any],
        at: datetime,
        agent_id: str | None = None,
    ) -> AgentRecord:
        if workspace_id not in self.db.workspaces.values():
            raise Conflict("conflicting write: unknown workspace")
        key = str(uuid.uuid4()) if agent_id is None else _uuid(agent_id)
        if key is None or key in self.db.agents:
            raise Conflict("conflicting write: agent id")
        row = AgentRecord(key, workspace_id, name, copy.deepcopy(executor), at)
        self.db.agents[row.id] = row
        return _copy_agent(row)

    async def all_agents(self) -> list[AgentRecord]:
        rows = sorted(self.db.agents.values(), key=lambda a: (a.created_at, a.id))
        return [_copy_agent(a) for a in rows]

    async def update_agent(
        self, agent_id: str, name: str, executor: dict[str, Any], at: datetime
    ) -> AgentRecord | None:
        row = self.db.agents.get(_uuid(agent_id) or "")
        if row is None:
            return None
        row = replace(row, name=name, executor=copy.deepcopy(executor), updated_at=at)
        self.db.agents[row.id] = row
        return _copy_agent(row)

    async def replace_executor(
        self, agent: AgentRecord, executor: dict[str, Any], at: datetime
    ) -> bool:
        row = self.db.agents.get(_uuid(agent.id) or "")
        if row is None or row.updated_at != agent.updated_at:
            return False
        self.db.agents[row.id] = replace(row, executor=copy.deepcopy(executor), updated_at=at)
        return True

    async def delete_agent(self, agent_id: str) -> bool:
        """Cascades like the database's foreign keys: channels, leads, sessions, messages."""
        db, key = self.db, _uuid(agent_id) or ""
        if db.agents.pop(key, None) is None:
            return False
        for channel in [c for c in db.channels if c[0] == key]:
            del db.channels[channel]
        for lead_key in [k for k in db.lead_keys if k[0] == key]:
            db.leads.pop(db.lead_keys.pop(lead_key), None)
        for session_id in [s for s, row in db.sessions.items() if row.agent_id == key]:
            del db.sessions[session_id]
        for message_id in [i for i, m in db.messages.items() if m.agent_id == key]:
            del db.messages[message_id]
            db.pending.discard(message_id)
        for external in [k for k in db.by_external_id if k[0] == key]:
            del db.by_external_id[external]
        db.lead_webhooks.pop(key, None)
        for delivery in [i for i, d in db.lead_deliveries.items() if d.agent_id == key]:
            del db.lead_deliveries[delivery]
            db.lead_claims.pop(delivery, None)
        return True

    async def get_agent(self, agent_id: str) -> AgentRecord | None:
        row = self.db.agents.get(_uuid(agent_id) or "")
        return None if row is None else _copy_agent(row)

    async def list_agents(
        self, workspace_id: str, limit: int | None = None, after_id: str | None = None
    ) -> list[AgentRecord]:
        rows = [a for a in self.db.agents.values() if a.workspace_id == workspace_id]
        rows.sort(key=lambda a: (a.created_at, a.id))
        if after_id is not None:
            ids = [a.id for a in rows]
            if after_id not in ids:
                raise NotFound("no such agent in this workspace")
            rows = rows[ids.index(after_id) + 1 :]
        if limit is not None:
            rows = rows[: max(limit, 0)]
        return [_copy_agent(a) for a in rows]

    async def get_channel(self, agent_id: str, kind: str) -> ChannelRecord | None:
        row = self.db.channels.get((_uuid(agent_id) or "", kind))
        return None if row is None else _copy_channel(row)

    async def save_channel(self, record: ChannelRecord) -> ChannelRecord:
        if record.agent_id not in self.db.agents:
            raise Conflict("conflicting write: unknown agent")
        self.db.channels[(record.agent_id, record.kind)] = _copy_channel(record)
        return _copy_channel(record)

    async def delete_channel(self, agent_id: str, kind: str) -> bool:
        return self.db.channels.pop((_uuid(agent_id) or "", kind), None) is not None

    async def list_channels(self, agent_id: str) -> list[ChannelRecord]:
        key = _uuid(agent_id) or ""
        return [_copy_channel(c) for (a, _), c in self.db.channels.items() if a == key]

    async def all_channels(self) -> list[ChannelRecord]:
        return [_copy_channel(c) for c in self.db.channels.values()]


def _copy_agent(row: AgentRecord) -> AgentRecord:
    return replace(row, executor=copy.deepcopy(row.executor))


def _copy_channel(row: ChannelRecord) -> ChannelRecord:
    return replace(row, settings=dict(row.settings), secrets=dict(row.secrets))


class MemoryWorkspaceStore(_Store):
    async def ensure_workspace(self, name: str, at: datetime) -> str:
        return self.db.workspaces.setdefault(name, str(uuid.uuid4()))

    async def add_api_key(
        self, workspace_id: str, key_hash: str, at: datetime, label: str | None = None
    ) -> None:
        if key_hash in self.db.api_keys or workspace_id not in self.db.workspaces.values():
            raise Conflict("conflicting write: api key")
        self.db.api_keys[key_hash] = workspace_id
        self.db.key_labels[key_hash] = label

    async def workspace_for_key(self, key_hash: str) -> str | None:
        return self.db.api_keys.get(key_hash)

    async def key_owner(self, key_hash: str) -> Actor | None:
        workspace_id = self.db.api_keys.get(key_hash)
        if workspace_id is None:
            return None
        return Actor(workspace_id, self.db.key_labels.get(key_hash))

    async def get_setting(self, name: str) -> str | None:
        return self.db.settings.get(name)

    async def set_setting(self, name: str, value: str) -> None:
        self.db.settings[name] = value


class MemoryLeadStore(_Store):
    def _matches(
        self, lead: LeadRecord, workspace_id: str, agent_id: str | None, platform: str | None,
        search: str | None,
    ) -> bool:  # fmt: skip
        agent = self.db.agents.get(lead.agent_id)
        if agent is None or agent.workspace_id != workspace_id:
            return False
        if agent_id is not None and lead.agent_id != _uuid(agent_id):
            return False
        if platform and lead.platform != platform:
            return False
        needle = (search or "").lower()
        return not needle or needle in lead.contact.lower() or needle in (lead.name or "").lower()

    async def list_leads(
        self,
        workspace_id: str,
        agent_id: str | None,
        platform: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page:
        before = decode_cursor(cursor) if cursor else None
        rows: list[LeadRecord] = []
        for lead_id in sorted(self.db.leads, reverse=True):
            lead = self.db.leads[lead_id]
            if before is not None and lead_id >= before:
                continue
            if self._matches(lead, workspace_id, agent_id, platform, search):
                rows.append(lead)
                if len(rows) > limit:
                    break
        more = len(rows) > limit
        return Page(tuple(rows[:limit]), encode_cursor(int(rows[limit - 1].id)) if more else None)

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
