"""MessageStore on Tortoise: sessions, messages and the lead upsert, each step one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tortoise.functions import Min

from adapters.persistence.cursor import SESSIONS, decode_cursor, encode_cursor
from adapters.persistence.tortoise.lead_webhooks import lead_event_statement
from adapters.persistence.tortoise.mappers import (
    LEAD_COLUMNS,
    lead_from_row,
    message_from_row,
    template_to_text,
)
from adapters.persistence.tortoise.models import Message, Session
from adapters.persistence.tortoise.sql import (
    DEFAULT,
    Statement,
    as_one,
    as_uuid,
    chained_on_sqlite,
    execute,
    fetch,
    now_param,
    on_postgres,
    to_json,
    to_time,
    transaction,
    transaction_rows,
    unavailable_on_db_error,
)
from ports.errors import NotFound
from ports.values import (
    ASSISTANT,
    HELD,
    HUMAN,
    LAST_MESSAGE_CHARS,
    NEEDS_ATTENTION,
    PAUSED,
    PROCESSING,
    QUEUED,
    RECEIVED,
    SENDING,
    USER,
    AcceptResult,
    AfterSend,
    AnswerStart,
    HistoryEntry,
    InboundMessage,
    LeadRecord,
    NextWork,
    Outgoing,
    Page,
    Reach,
    SendReceipt,
    SessionSummary,
    StoredMessage,
    Template,
)

# A stop or start word sets the opt-out flag (NULL leaves it; core.reachability).
_UPSERT_LEAD = """
INSERT INTO lead (agent_id, platform, contact, name, first_seen_at, last_seen_at, message_count,
                  opted_out)
VALUES (?, ?, ?, ?, ?, ?, 1, COALESCE(CAST(? AS BOOLEAN), FALSE))
ON CONFLICT (agent_id, platform, contact) DO UPDATE SET
  last_seen_at = excluded.last_seen_at,
  message_count = lead.message_count + 1,
  name = COALESCE(excluded.name, lead.name),
  opted_out = COALESCE(CAST(? AS BOOLEAN), lead.opted_out)
RETURNING id
"""
_INSERT_SESSION = """
INSERT INTO session (id, agent_id, lead_id, kind, contact, created_at)
SELECT ?, ?, id, ?, ?, ? FROM lead WHERE agent_id = ? AND platform = ? AND contact = ?
ON CONFLICT (id) DO NOTHING
"""
# PostgreSQL: the lead's upsert and the session's insert as one statement (one round trip
# fewer per webhook); the session takes the lead's id from the upsert's RETURNING, since a
# sibling of the same statement cannot see the row the upsert wrote.
_UPSERT_LEAD_AND_SESSION_PG = f"""
WITH upserted AS ({_UPSERT_LEAD.strip()})
INSERT INTO session (id, agent_id, lead_id, kind, contact, created_at)
SELECT ?, ?, upserted.id, ?, ?, ? FROM upserted ON CONFLICT (id) DO NOTHING
"""  # noqa: S608 - constant text, every value a parameter
# A paused session's message is held: stored, not pending, never handed to the agent; a stop
# or start word never is (the last parameter: it is confirmed even while paused).
_INSERT_MESSAGE = """
INSERT INTO message (session_id, agent_id, kind, role, content, status, pending, control,
                     external_id, created_at, updated_at)
SELECT s.id, ?, ?, 'user', ?, CASE WHEN s.paused AND CAST(? AS TEXT) IS NULL THEN ? ELSE ? END,
       NOT s.paused OR CAST(? AS TEXT) IS NOT NULL, ?, ?, ?, ?
FROM session s WHERE s.id = ?
ON CONFLICT (agent_id, kind, external_id) DO NOTHING
RETURNING id, (SELECT lead_id FROM session WHERE id = ?) AS lead_id,
  (SELECT l.message_count FROM lead l JOIN session s2 ON s2.lead_id = l.id
   WHERE s2.id = ?) AS lead_messages,
  EXISTS (SELECT 1 FROM lead_webhook w WHERE w.agent_id = ?) AS hooked
"""
# The session's summary follows its newest message; a step that lost a race to a newer message
# of the session leaves the newer one's summary (and flag) in place. The flag's value is the
# core's (core.operations): first when paused, then when running; NULL keeps the stored one.
_SUMMARY = """
UPDATE session SET
  last_message_id = (SELECT MAX(m.id) FROM message m WHERE m.session_id = session.id),
  last_message_at = ?, last_message = ?,
  needs_attention = COALESCE(
    CASE WHEN paused THEN CAST(? AS BOOLEAN) ELSE CAST(? AS BOOLEAN) END, needs_attention)
WHERE id = ? AND COALESCE(last_message_id, 0) < (
  SELECT MAX(m.id) FROM message m WHERE m.session_id = session.id)
"""
_ATTENTION_OF_MESSAGE = """
UPDATE session SET needs_attention = ? WHERE id = (SELECT session_id FROM message WHERE id = ?)
"""
_SUMMARY_COLUMNS = """
SELECT s.id, s.agent_id, s.kind, s.contact, l.name, s.last_message_id,
       COALESCE(s.last_message_at, s.created_at) AS last_message_at, s.last_message, s.paused,
       s.needs_attention, s.paused_by, l.opted_out, l.last_seen_at
"""
_SESSIONS = (
    _SUMMARY_COLUMNS
    + """FROM session s JOIN agent a ON a.id = s.agent_id JOIN lead l ON l.id = s.lead_id
WHERE a.workspace_id = ? AND s.last_message_id IS NOT NULL
"""
)
_SESSION_SUMMARY = (
    _SUMMARY_COLUMNS + "FROM session s JOIN lead l ON l.id = s.lead_id WHERE s.id = ?"
)
_BY_EXTERNAL_ID = (
    "SELECT id, session_id FROM message WHERE agent_id = ? AND kind = ? AND external_id = ?"
)

# What decides whether the send may go (core.reachability) comes back with the same step.
_MARK_SENDING = """
UPDATE message SET status = ?, updated_at = ?, attempt_started_at = COALESCE(attempt_started_at, ?)
WHERE id = ?
RETURNING
  (SELECT l.opted_out FROM message m JOIN session s ON s.id = m.session_id
   JOIN lead l ON l.id = s.lead_id WHERE m.id = ?) AS opted_out,
  (SELECT l.last_seen_at FROM message m JOIN session s ON s.id = m.session_id
   JOIN lead l ON l.id = s.lead_id WHERE m.id = ?) AS last_seen_at
"""
_SET_OPTED_OUT = """
UPDATE lead SET opted_out = ?
WHERE id = (SELECT s.lead_id FROM message m JOIN session s ON s.id = m.session_id WHERE m.id = ?)
"""

# The hot path's statements, written by hand (see sql.fetch).
_MESSAGES = """
SELECT m.id, m.session_id, m.role, m.content, m.status, m.created_at, m.external_id,
       m.reply_to_id, m.attempt_started_at, m.error, m.attempts, m.agent_id, m.kind, s.contact,
       m.author, m.template, m.control
FROM message m JOIN session s ON s.id = m.session_id
"""
# Replies first: a pending reply was interrupted mid-delivery (it is stored after user messages
# that arrived while its agent worked, so it has a higher id) and goes out before any newer
# user message is answered.
_NEXT_PENDING = _MESSAGES + (
    "WHERE m.session_id = ? AND m.pending = ? "
    "ORDER BY CASE WHEN m.role = 'user' THEN 1 ELSE 0 END, m.id LIMIT 1"
)
_REPLY_OF = _MESSAGES + "WHERE m.reply_to_id = ? ORDER BY m.id LIMIT 1"
_SESSION_MESSAGES = _MESSAGES + "WHERE m.session_id = ? ORDER BY m.id"
_HISTORY = """
SELECT role, content FROM message WHERE session_id = ? AND id < ? ORDER BY id DESC LIMIT ?
"""
# start_answer in one statement: the attempt counted, with the session's lead and the history
# window before the message as JSON (json_object/json_group_array on SQLite, their PostgreSQL
# namesakes there), so an answer starts with one round trip instead of three. The session id is
# a parameter, not a reference to the updated row: SQLite plans a subquery of RETURNING that
# refers to the row as a scan (of every session, of every older message), not an index search.
_START_ANSWER = """
UPDATE message SET status = ?, attempts = attempts + 1, updated_at = ?
WHERE id = ? AND session_id = ?
RETURNING attempts,
  (SELECT {obj}({lead_pairs})
   FROM lead l JOIN session s ON s.lead_id = l.id WHERE s.id = ?) AS lead,
  (SELECT {agg}({obj}('id', past.id, 'role', past.role, 'content', past.content))
   FROM (SELECT p.id, p.role, p.content FROM message p
         WHERE p.session_id = ? AND p.id < ?
         ORDER BY p.id DESC LIMIT ?) past) AS history
"""
_LEAD_PAIRS = ", ".join(f"'{c}', l.{c}" for c in LEAD_COLUMNS)  # what lead_from_row reads
_START_ANSWER_OF = {
    "sqlite": _START_ANSWER.format(
        obj="json_object", agg="json_group_array", lead_pairs=_LEAD_PAIRS
    ),
    "postgres": _START_ANSWER.format(
        obj="json_build_object", agg="json_agg", lead_pairs=_LEAD_PAIRS
    ),
}
# begin_next on PostgreSQL, in one round trip: the next pending message, and when it is a user
# message, start_answer's update with the lead and the history window before it. The
# statement's parts see one snapshot, so `next` is the row as found, before the update.
_BEGIN_NEXT = """
WITH next AS ({next_pending}),
started AS (
  UPDATE message SET status = ?, attempts = attempts + 1, updated_at = ?
  WHERE id = (SELECT id FROM next WHERE role = 'user') AND session_id = ?
  RETURNING attempts
)
SELECT next.*, started.attempts AS started_attempts,
  (SELECT json_build_object({lead_pairs})
   FROM lead l JOIN session s ON s.lead_id = l.id WHERE s.id = ?) AS lead,
  (SELECT json_agg(json_build_object('id', past.id, 'role', past.role, 'content', past.content))
   FROM (SELECT p.id, p.role, p.content FROM message p
         WHERE p.session_id = ? AND p.id < next.id
         ORDER BY p.id DESC LIMIT ?) past) AS history
FROM next LEFT JOIN started ON TRUE
"""
_BEGIN_NEXT_PG = _BEGIN_NEXT.format(next_pending=_NEXT_PENDING, lead_pairs=_LEAD_PAIRS)


def _start_answer_statement(
    dialect: str, message_id: int, session_id: str, when: Any, history_limit: int
) -> Statement:
    """start_answer's statement, `when` already a parameter of the dialect (now_param)."""
    values = [PROCESSING, when, message_id, session_id, session_id, session_id, message_id]
    return _START_ANSWER_OF[dialect], [*values, max(history_limit, 0)]


def _answer_start_from(attempts: Any, lead_json: Any, history_json: Any) -> AnswerStart:
    """An AnswerStart from start_answer's RETURNING (the lead and the history as JSON)."""
    lead = to_json(lead_json)
    past = sorted(to_json(history_json) or (), key=lambda h: int(h["id"]))
    return AnswerStart(
        attempts=int(attempts),
        lead=None if lead is None else lead_from_row(lead),
        history=tuple(HistoryEntry(h["role"], h["content"]) for h in past),
    )


_SET_FAILED = "UPDATE message SET status = ?, pending = ?, error = ?, updated_at = ? WHERE id = ?"
_SET_FAILED_RETURNING = _SET_FAILED + " RETURNING id"
_SET_FINAL = """
UPDATE message SET status = ?, pending = ?, error = COALESCE(?, error), updated_at = ? WHERE id = ?
"""
_SET_FINAL_RETURNING = _SET_FINAL.rstrip() + " RETURNING id"
_DELIVERY_TARGET = """
SELECT id, status FROM message
WHERE agent_id = ? AND kind = ? AND external_id = ? AND role IN ('assistant', 'human')
"""
_SET_PAUSED = """
UPDATE session SET paused = ?, paused_by = ?, paused_at = ?,
  needs_attention = COALESCE(CAST(? AS BOOLEAN), needs_attention)
WHERE id = ?
"""
_INSERT_HUMAN = """
INSERT INTO message (session_id, agent_id, kind, role, content, status, pending, author,
                     template, created_at, updated_at)
SELECT id, agent_id, kind, 'human', ?, ?, ?, ?, ?, ?, ? FROM session WHERE id = ?
RETURNING id, session_id, agent_id, kind,
  (SELECT contact FROM session WHERE session.id = ?) AS contact
"""
_SET_DELIVERY = """
UPDATE message SET status = ?, error = COALESCE(?, error), updated_at = ?
WHERE id = ? AND status = ?
"""
_SET_DELIVERY_RETURNING = _SET_DELIVERY.rstrip() + " RETURNING id"
_PARK = """
INSERT INTO parked_delivery (agent_id, kind, external_id, status, error, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""
_TAKE_PARKED = """
DELETE FROM parked_delivery WHERE agent_id = ? AND kind = ? AND external_id = ?
RETURNING id, status, error
"""
_DROP_PARKED = "DELETE FROM parked_delivery WHERE created_at < ?"
# The reply takes its session from the user message it answers: no read beforehand. It is
# stored `sending`, its attempt started (the send follows at once; see MessageStore.complete).
_INSERT_REPLY = """
INSERT INTO message (session_id, agent_id, kind, role, content, status, pending, reply_to_id,
                     attempt_started_at, created_at, updated_at)
SELECT session_id, agent_id, kind, 'assistant', ?, ?, ?, id, ?, ?, ? FROM message WHERE id = ?
RETURNING id, session_id, agent_id, kind
"""
# The reply's contact and what decides whether it may go (core.reachability), by its id.
_REACH_OF_MESSAGE = """
SELECT s.contact, l.opted_out, l.last_seen_at
FROM message m JOIN session s ON s.id = m.session_id JOIN lead l ON l.id = s.lead_id
WHERE m.id = ?
"""
_MARK_SENT = """
UPDATE message SET status = ?, pending = ?, updated_at = ?, external_id = ? WHERE id = ?
RETURNING id
"""
# mark_sent's other two steps, in its transaction (SQLite): the reports parked for the id just
# stored, and the session's next pending message (the sent one no longer is).
_TAKE_PARKED_OF_MESSAGE = """
DELETE FROM parked_delivery
WHERE agent_id = (SELECT agent_id FROM message WHERE id = ?)
  AND kind = (SELECT kind FROM message WHERE id = ?) AND external_id = ?
RETURNING id, status, error
"""
_NEXT_PENDING_OF_MESSAGE = _NEXT_PENDING.replace(
    "m.session_id = ?", "m.session_id = (SELECT session_id FROM message WHERE id = ?)"
)
# PostgreSQL: the sent mark and the next pending message as one statement (its parts share
# one snapshot, in which the sent message is still pending: the next one is read without it).
# The parked reports are taken by a statement of their own, after its commit: a report parked
# while this statement ran is invisible to its snapshot, and the report's second look-up
# (core.delivery) may still miss the sent row, so only a later statement is sure to see it.
_MARK_SENT_PG = f"""
WITH sent AS (
  UPDATE message SET status = $1, pending = FALSE, updated_at = $2, external_id = $3
  WHERE id = $4
  RETURNING id, session_id, agent_id, kind
)
SELECT sent.agent_id, sent.kind,
  (SELECT row_to_json(n) FROM ({
    _NEXT_PENDING.replace(
        "m.session_id = ? AND m.pending = ?",
        "m.session_id = sent.session_id AND m.pending AND m.id <> sent.id",
    )
}) n) AS next
FROM sent
"""  # noqa: S608 - constant text, every value a parameter
# A reply's step: the session is the one of the message it answers.
_SUMMARY_OF_MESSAGE = _SUMMARY.replace(
    "WHERE id = ?", "WHERE id = (SELECT session_id FROM message WHERE id = ?)"
)
# PostgreSQL: complete() as one statement (one round trip instead of BEGIN, three statements
# and COMMIT), the same three steps as data-modifying CTEs. The summary takes the reply's id:
# the statement cannot see the row it inserts, and the reply is the session's newest message
# (a user message stored meanwhile has a lower id, or sets the summary itself afterwards).
_COMPLETE_PG = """
WITH final AS (
  UPDATE message SET status = $1, pending = FALSE, error = COALESCE($2, error), updated_at = $3
  WHERE id = $4
  RETURNING id, session_id, agent_id, kind
), reply AS (
  INSERT INTO message (session_id, agent_id, kind, role, content, status, pending, reply_to_id,
                       attempt_started_at, created_at, updated_at)
  SELECT session_id, agent_id, kind, 'assistant', $5, $6, TRUE, id, $3, $3, $3 FROM final
  RETURNING id, session_id, agent_id, kind
), summary AS (
  UPDATE session SET last_message_id = reply.id, last_message_at = $3, last_message = $7,
    needs_attention = COALESCE(CAST($8 AS BOOLEAN), session.needs_attention)
  FROM reply
  WHERE session.id = reply.session_id AND COALESCE(session.last_message_id, 0) < reply.id
)
SELECT reply.id, reply.session_id, reply.agent_id, reply.kind, s.contact, l.opted_out,
       l.last_seen_at
FROM reply JOIN session s ON s.id = reply.session_id JOIN lead l ON l.id = s.lead_id
"""
_LEAD_OF_SESSION = (
    f"SELECT {', '.join('l.' + c for c in LEAD_COLUMNS)}\n"
    "FROM lead l JOIN session s ON s.lead_id = l.id WHERE s.id = ?"
)


def _summary(r: dict[str, Any]) -> SessionSummary:
    return SessionSummary(
        session_id=r["id"],
        agent_id=str(r["agent_id"]),
        kind=r["kind"],
        contact=r["contact"],
        name=r["name"],
        last_message_at=to_time(r["last_message_at"]),
        last_message=r["last_message"] or "",
        paused=bool(r["paused"]),
        needs_attention=bool(r["needs_attention"]),
        paused_by=r["paused_by"],
        opted_out=bool(r["opted_out"]),
        last_user_at=to_time(r["last_seen_at"]),
    )


def _queued(
    row: dict[str, Any], role: str, content: str, at: datetime, status: str = QUEUED, **more: Any
) -> StoredMessage:
    """A reply just inserted (status `queued`, or `status`) from the ids its INSERT returned."""
    return StoredMessage(
        id=int(row["id"]),
        session_id=row["session_id"],
        agent_id=str(row["agent_id"]),
        kind=row["kind"],
        contact=row["contact"],
        role=role,
        content=content,
        status=status,
        created_at=at,
        **more,
    )


def _reports(rows: list[dict[str, Any]]) -> tuple[tuple[str, str | None], ...]:
    """Parked reports (status, error) in the order they came."""
    return tuple((str(r["status"]), r["error"]) for r in sorted(rows, key=lambda r: int(r["id"])))


def _reach(row: dict[str, Any]) -> Reach:
    seen = row["last_seen_at"]
    return Reach(bool(row["opted_out"]), None if seen is None else to_time(seen))


class TortoiseMessageStore:
    """`connection` names the Tortoise connection for the hot statements: the worker's store
    uses its own (see sql.WORKER).

    `job`, on PostgreSQL, gives the statement that queues a session's answer job in the
    job engine's table (adapters.queue.procrastinate_queue.answer_job): accept_inbound runs it
    in the message's transaction, so one commit stores both and no crash can come between."""

    def __init__(
        self, connection: str = DEFAULT, job: Callable[[str], Statement] | None = None
    ) -> None:
        self._c = connection
        self._job = job

    def _job_of(self, session_id: str) -> list[Statement]:
        return [] if self._job is None else [self._job(session_id)]

    @unavailable_on_db_error
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
        when = now_param(at, self._c)
        lead = [message.agent_id, message.kind, message.contact]
        preview = message.body[:LAST_MESSAGE_CHARS]
        upsert_lead = [*lead, message.sender_name, when, when, opt_out, opt_out]
        session = [session_id, message.agent_id, message.kind, message.contact, when]
        insert_message = (_INSERT_MESSAGE, [
            message.agent_id, message.kind, message.body, control, HELD, RECEIVED, control,
            control, message.external_id, when, when, session_id, session_id, session_id,
            message.agent_id,
        ])  # fmt: skip
        after: list[Statement] = [
            (_SUMMARY, [when, preview, attention_if_paused, attention, session_id]),
            *self._job_of(session_id),  # the answer job, in this commit (PostgreSQL)
            lead_event_statement(message, when),
        ]
        if on_postgres(self._c):
            # 5 round trips instead of 7: BEGIN, lead and session, message, the rest, COMMIT.
            # The summary, the job and the outbox write read nothing of each other: one.
            statements = [
                (_UPSERT_LEAD_AND_SESSION_PG, upsert_lead + session),
                insert_message,
                as_one(after),
            ]
        else:  # one hand-off to SQLite's thread whatever the count (sql.transaction)
            statements = [
                (_UPSERT_LEAD, upsert_lead),
                (_INSERT_SESSION, session + lead),
                insert_message,
                *after,
            ]
        rows = await transaction(
            statements,
            abort_if_empty=True,  # a MessageSid already stored: the lead is not touched either
            connection=self._c,
            result_of=statements.index(insert_message),
        )
        if rows is None:
            key = [message.agent_id, message.kind, message.external_id]
            existing = await fetch(_BY_EXTERNAL_ID, key, self._c)
            return AcceptResult(existing[0]["session_id"], int(existing[0]["id"]), True, "")
        queued = self._job is not None
        row = rows[0]
        new_lead = row["lead_messages"] == 1  # the upsert above created it
        lead_event = new_lead and bool(row["hooked"])  # so the outbox statement wrote its row
        return AcceptResult(
            session_id, int(row["id"]), False, str(row["lead_id"]), queued, new_lead, lead_event
        )

    @unavailable_on_db_error
    async def next_pending(self, session_id: str) -> StoredMessage | None:
        rows = await fetch(_NEXT_PENDING, [session_id, True], self._c)
        return message_from_row(rows[0]) if rows else None

    @unavailable_on_db_error
    async def history(self, session_id: str, before_id: int, limit: int) -> list[HistoryEntry]:
        rows = await fetch(_HISTORY, [session_id, before_id, limit], self._c)
        return [HistoryEntry(r["role"], r["content"]) for r in reversed(rows)]

    @unavailable_on_db_error
    async def start_answer(
        self, message_id: int, session_id: str, at: datetime, history_limit: int
    ) -> AnswerStart:
        dialect = "postgres" if on_postgres(self._c) else "sqlite"
        when = now_param(at, self._c)
        statement = _start_answer_statement(dialect, message_id, session_id, when, history_limit)
        rows = await fetch(*statement, self._c)
        if not rows:
            raise NotFound(f"no message {message_id}")
        row = rows[0]
        return _answer_start_from(row["attempts"], row["lead"], row["history"])

    @unavailable_on_db_error
    async def begin_next(
        self, session_id: str, at: datetime, history_limit: int
    ) -> NextWork | None:
        when = now_param(at, self._c)
        if on_postgres(self._c):
            values = [session_id, True, PROCESSING, when, session_id, session_id, session_id]
            rows = await fetch(_BEGIN_NEXT_PG, [*values, max(history_limit, 0)], self._c)
            if not rows:
                return None
            row = rows[0]
            attempts = row["started_attempts"]
            start = None
            if attempts is not None:
                start = _answer_start_from(attempts, row["lead"], row["history"])
            return NextWork(message_from_row(row), start)

        def started(found: list[dict[str, Any]]) -> Statement | None:  # in SQLite's thread
            if not found or found[0]["role"] != USER:
                return None
            message_id = int(found[0]["id"])
            return _start_answer_statement("sqlite", message_id, session_id, when, history_limit)

        next_rows, start_rows = await chained_on_sqlite(
            (_NEXT_PENDING, [session_id, True]), started, self._c
        )
        if not next_rows:
            return None
        start = None
        if start_rows:
            first = start_rows[0]
            start = _answer_start_from(first["attempts"], first["lead"], first["history"])
        return NextWork(message_from_row(next_rows[0]), start)

    @unavailable_on_db_error
    async def reply_of(self, user_message_id: int) -> StoredMessage | None:
        rows = await fetch(_REPLY_OF, [user_message_id])
        return message_from_row(rows[0]) if rows else None

    @unavailable_on_db_error
    async def complete(
        self,
        user_message_id: int,
        user_status: str,
        reply: str,
        at: datetime,
        reason: str | None = None,
        attention: bool | None = None,
    ) -> Outgoing:
        when = now_param(at, self._c)
        preview = reply[:LAST_MESSAGE_CHARS]
        if on_postgres(self._c):
            values = [
                user_status,
                reason,
                when,
                user_message_id,
                reply,
                SENDING,
                preview,
                attention,
            ]
            rows = await fetch(_COMPLETE_PG, values, self._c)
            row = rows[0] if rows else None
        else:
            row = await self._complete_sqlite(
                user_message_id, user_status, reply, when, preview, reason, attention
            )
        if row is None:
            raise NotFound(f"no message {user_message_id}")
        stored = _queued(
            row, ASSISTANT, reply, at, SENDING, reply_to_id=user_message_id, attempt_started_at=at
        )
        return Outgoing(stored, _reach(row))

    async def _complete_sqlite(
        self,
        user_message_id: int,
        user_status: str,
        reply: str,
        when: Any,
        preview: str,
        reason: str | None,
        attention: bool | None,
    ) -> dict[str, Any] | None:
        results = await transaction_rows(
            [
                (_SET_FINAL, [user_status, False, reason, when, user_message_id]),
                (_INSERT_REPLY, [reply, SENDING, True, when, when, when, user_message_id]),
                (_SUMMARY_OF_MESSAGE, [when, preview, attention, attention, user_message_id]),
                (_REACH_OF_MESSAGE, [user_message_id]),
            ],
            abort_if_empty=1,  # no such user message: nothing is kept
            connection=self._c,
        )
        if results is None:
            return None
        return {**results[1][0], **results[3][0]}

    @unavailable_on_db_error
    async def close_unanswered(
        self,
        user_message_id: int,
        status: str,
        reason: str | None,
        at: datetime,
        attention: bool | None = None,
    ) -> None:
        values = [status, False, reason, now_param(at, self._c), user_message_id]
        if attention is None:
            if not await execute(_SET_FINAL, values, self._c):
                raise NotFound(f"no message {user_message_id}")
            return
        statements = [
            (_SET_FINAL_RETURNING, values),
            (_ATTENTION_OF_MESSAGE, [attention, user_message_id]),
        ]
        if await transaction(statements, True, connection=self._c, result_of=0) is None:
            raise NotFound(f"no message {user_message_id}")

    @unavailable_on_db_error
    async def mark_sending(self, message_id: int, at: datetime) -> Reach:
        # The first attempt's start is kept: a lookup after several crashes must reach back to it.
        when = now_param(at, self._c)
        rows = await fetch(
            _MARK_SENDING, [SENDING, when, when, message_id, message_id, message_id], self._c
        )
        if not rows:
            raise NotFound(f"no message {message_id}")
        return _reach(rows[0])

    @unavailable_on_db_error
    async def set_opted_out(self, message_id: int, opted_out: bool) -> None:
        await execute(_SET_OPTED_OUT, [opted_out, message_id], self._c)

    @unavailable_on_db_error
    async def mark_sent(self, message_id: int, receipt: SendReceipt, at: datetime) -> AfterSend:
        # No delivery report can be ahead of this: reports find a message by the external id
        # stored here (one that came before it was parked, and is taken here).
        when = now_param(at, self._c)
        if on_postgres(self._c):
            values = [receipt.status, when, receipt.external_id, message_id]
            rows = await fetch(_MARK_SENT_PG, values, self._c)
            if not rows:
                raise NotFound(f"no message {message_id}")
            key = [str(rows[0]["agent_id"]), rows[0]["kind"], receipt.external_id]
            parked = await fetch(_TAKE_PARKED, key, self._c)
            following = to_json(rows[0]["next"])
            return AfterSend(
                _reports(parked), None if following is None else message_from_row(following)
            )
        sent = [receipt.status, False, when, receipt.external_id, message_id]
        results = await transaction_rows(
            [
                (_MARK_SENT, sent),
                (_TAKE_PARKED_OF_MESSAGE, [message_id, message_id, receipt.external_id]),
                (_NEXT_PENDING_OF_MESSAGE, [message_id, True]),
            ],
            abort_if_empty=0,
            connection=self._c,
        )
        if results is None:
            raise NotFound(f"no message {message_id}")
        following_rows = results[2]
        return AfterSend(
            _reports(results[1]),
            message_from_row(following_rows[0]) if following_rows else None,
        )

    @unavailable_on_db_error
    async def mark_send_failed(
        self,
        message_id: int,
        status: str,
        error: str,
        at: datetime,
        attention: bool | None = None,
    ) -> None:
        values = [status, False, error[:500], now_param(at, self._c), message_id]
        if attention is None:
            await execute(_SET_FAILED, values, self._c)
            return
        statements = [
            (_SET_FAILED_RETURNING, values),
            (_ATTENTION_OF_MESSAGE, [attention, message_id]),
        ]
        await transaction(statements, abort_if_empty=True, connection=self._c, result_of=0)

    @unavailable_on_db_error
    async def set_paused(
        self, session_id: str, paused: bool, by: str | None, at: datetime, attention: bool | None
    ) -> bool:
        values = [paused, by, now_param(at, self._c), attention, session_id]
        return await execute(_SET_PAUSED, values, self._c) > 0

    @unavailable_on_db_error
    async def add_human_message(
        self,
        session_id: str,
        content: str,
        author: str | None,
        at: datetime,
        attention: bool | None,
        template: Template | None = None,
    ) -> StoredMessage:
        when = now_param(at, self._c)
        preview = content[:LAST_MESSAGE_CHARS]
        kept = template_to_text(template)
        rows = await transaction(
            [
                (
                    _INSERT_HUMAN,
                    [content, QUEUED, True, author, kept, when, when, session_id, session_id],
                ),
                (_SUMMARY, [when, preview, attention, attention, session_id]),
            ],
            abort_if_empty=True,  # no such session: nothing is kept
            connection=self._c,
            result_of=0,
        )
        if not rows:
            raise NotFound(f"no session {session_id}")
        return _queued(rows[0], HUMAN, content, at, author=author, template=template)

    @unavailable_on_db_error
    async def delivery_target(
        self, agent_id: str, kind: str, external_id: str
    ) -> tuple[int, str] | None:
        key = as_uuid(agent_id)
        if key is None:
            return None
        rows = await fetch(_DELIVERY_TARGET, [str(key), kind, external_id], self._c)
        return (int(rows[0]["id"]), str(rows[0]["status"])) if rows else None

    @unavailable_on_db_error
    async def set_delivery(
        self,
        message_id: int,
        expected: str,
        status: str,
        error: str | None,
        at: datetime,
        attention: bool | None = None,
    ) -> bool:
        values = [status, error, now_param(at, self._c), message_id, expected]
        if attention is None:
            return await execute(_SET_DELIVERY, values, self._c) > 0
        statements = [
            (_SET_DELIVERY_RETURNING, values),
            (_ATTENTION_OF_MESSAGE, [attention, message_id]),
        ]
        rows = await transaction(statements, abort_if_empty=True, connection=self._c, result_of=0)
        return rows is not None

    @unavailable_on_db_error
    async def park_delivery(
        self,
        agent_id: str,
        kind: str,
        external_id: str,
        status: str,
        error: str | None,
        at: datetime,
    ) -> None:
        key = as_uuid(agent_id)
        if key is not None:
            values = [str(key), kind, external_id, status, error, now_param(at, self._c)]
            await execute(_PARK, values, self._c)

    @unavailable_on_db_error
    async def take_parked(
        self, agent_id: str, kind: str, external_id: str
    ) -> list[tuple[str, str | None]]:
        key = as_uuid(agent_id)
        if key is None:
            return []
        rows = await fetch(_TAKE_PARKED, [str(key), kind, external_id], self._c)
        return list(_reports(rows))

    @unavailable_on_db_error
    async def drop_parked(self, before: datetime) -> int:
        return await execute(_DROP_PARKED, [now_param(before, self._c)], self._c)

    @unavailable_on_db_error
    async def sessions_with_pending_work(
        self, limit: int, created_before: datetime | None = None
    ) -> list[str]:
        pending = Message.filter(pending=True)
        if created_before is not None:
            pending = pending.filter(created_at__lt=created_before)
        rows = (
            await pending.annotate(first=Min("id"))
            .group_by("session_id")
            .order_by("first")
            .limit(limit)
            .values_list("session_id", flat=True)
        )
        return [str(r) for r in rows]

    @unavailable_on_db_error
    async def session_agent(self, session_id: str) -> str | None:
        agent_id = await Session.filter(id=session_id).first().values_list("agent_id", flat=True)
        return None if agent_id is None else str(agent_id)

    @unavailable_on_db_error
    async def session_messages(self, session_id: str) -> list[StoredMessage]:
        return [message_from_row(r) for r in await fetch(_SESSION_MESSAGES, [session_id])]

    @unavailable_on_db_error
    async def pending_stats(self) -> tuple[int, datetime | None]:
        query = Message.filter(pending=True, role="user")
        count = await query.count()
        oldest = await query.order_by("id").first().values_list("created_at", flat=True)
        return count, oldest  # type: ignore[return-value]

    @unavailable_on_db_error
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
        before = decode_cursor(cursor, SESSIONS) if cursor else None  # ValueError: not ours
        workspace = as_uuid(workspace_id)
        if workspace is None:
            return Page((), None)
        values: list[Any] = [str(workspace)]
        sql = _SESSIONS
        if agent_id is not None:
            agent = as_uuid(agent_id)
            if agent is None:
                return Page((), None)
            sql, values = sql + " AND s.agent_id = ?", [*values, str(agent)]
        if kind:
            sql, values = sql + " AND s.kind = ?", [*values, kind]
        if status == NEEDS_ATTENTION:
            sql, values = sql + " AND s.needs_attention = ?", [*values, True]
        elif status == PAUSED:
            sql, values = sql + " AND s.paused = ?", [*values, True]
        if before is not None:
            sql, values = sql + " AND s.last_message_id < ?", [*values, before]
        sql += " ORDER BY s.last_message_id DESC LIMIT ?"
        rows = await fetch(sql, [*values, limit + 1], self._c)
        items = tuple(_summary(r) for r in rows[:limit])
        more = len(rows) > limit
        last = int(rows[limit - 1]["last_message_id"]) if more else None
        return Page(items, None if last is None else encode_cursor(last, SESSIONS))

    @unavailable_on_db_error
    async def session_summary(self, session_id: str) -> SessionSummary | None:
        rows = await fetch(_SESSION_SUMMARY, [session_id], self._c)
        return _summary(rows[0]) if rows else None

    @unavailable_on_db_error
    async def lead_for_session(self, session_id: str) -> LeadRecord | None:
        rows = await fetch(_LEAD_OF_SESSION, [session_id], self._c)
        return lead_from_row(rows[0]) if rows else None
