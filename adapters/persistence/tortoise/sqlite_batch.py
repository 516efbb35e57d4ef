"""Group commit for SQLite: the hand-offs that arrive together go to SQLite's thread as one.

Every statement on an aiosqlite connection is a hand-off to the connection's thread: a queue
put that wakes the thread, the GIL taken back after SQLite ran, and a call back into the event
loop. One thread serves each connection, one hand-off at a time, so under load a connection
does as many operations a second as it can make round trips, whatever the CPU left: measured,
the worker's connection answered ~90 messages/s while webhooks came in at 200/s, with the
service's main thread 64 % busy.

`SqliteBatcher` keeps one batch in flight per connection. Operations submitted while it runs
wait for the next one, so the batch grows with the load and a quiet service runs each
operation alone, as before. (Handing each batch off at once instead, several in flight,
made batches small again: 6 ms of CPU per message instead of 4, acks 10 times slower.) A
batch that writes is one transaction (`BEGIN IMMEDIATE` ... `COMMIT`), each operation of
several statements in a savepoint of its own:

- an operation that fails, or asks to be undone (`Undo`), is rolled back to its savepoint (a
  single statement that fails is undone by SQLite itself, with no savepoint) and reports its
  own outcome; the others are kept;
- nobody hears back before the batch's `COMMIT` returned, so "stored" still means committed
  (a webhook's 200 waits for it), and a failed `COMMIT` fails every operation of the batch;
- the process's SQLite writes are serialised by `SQLITE_WRITES` (a thread lock taken in the
  thread for one hand-off, never across an await), so the other connection of the process
  waits exactly as long as a batch takes, instead of sleeping in SQLite's busy handler
  (1, 2, 5, 10 ... ms between tries). Other processes still meet SQLite's lock and its
  busy_timeout.

Only operations outside a Tortoise transaction are batched (sql.py decides): one inside a
transaction must run on that transaction's connection, in its order.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

SQLITE_WRITES = threading.Lock()

_WRITE_WORDS = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


@lru_cache(maxsize=512)
def writes(sql: str) -> bool:
    """Whether a statement may write (a read taken for a write only costs a transaction)."""
    return _WRITE_WORDS.search(sql) is not None


class Undo(Exception):
    """Raised by an operation to undo what it wrote; its caller gets `Undo.result`."""

    def __init__(self, result: Any = None) -> None:
        super().__init__("undone")
        self.result = result


# An operation runs in SQLite's thread: it gets the connection and returns its result.
Operation = Callable[[sqlite3.Connection], Any]


class Op:
    __slots__ = ("future", "run", "single", "writes")

    def __init__(
        self, run: Operation, writes: bool, future: asyncio.Future[Any], single: bool = False
    ) -> None:
        self.run = run
        self.writes = writes
        self.future = future
        # One statement: SQLite undoes a failed statement by itself and the transaction goes
        # on, so it needs no savepoint (two statements and their hand-backs of the GIL less).
        self.single = single


def run_batch(db: sqlite3.Connection, batch: list[Op]) -> list[tuple[bool, Any]]:
    """In SQLite's thread: every operation of a batch, one transaction when any writes.
    Returns (ok, result or exception) per operation."""
    if not any(op.writes for op in batch):
        return [_attempt(db, op.run, savepoint=False) for op in batch]
    with SQLITE_WRITES:
        db.execute("BEGIN IMMEDIATE")
        try:
            outcomes = [_attempt(db, op.run, savepoint=not op.single) for op in batch]
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    return outcomes


def run_in_transaction(db: sqlite3.Connection, run: Operation) -> Any:
    """In SQLite's thread, inside a Tortoise transaction: one operation in a savepoint."""
    ok, value = _attempt(db, run, savepoint=True)
    if not ok:
        raise value
    return value


def _attempt(db: sqlite3.Connection, run: Operation, savepoint: bool) -> tuple[bool, Any]:
    """One operation, (ok, result or exception). With `savepoint`, what it wrote is undone
    when it fails or raises `Undo`; without, it is one statement (SQLite undoes a failed
    statement itself) or it runs outside any transaction."""
    inside = db.in_transaction
    if savepoint:
        db.execute("SAVEPOINT op")
    try:
        result = run(db)
    except Exception as e:
        if inside and not db.in_transaction:  # SQLite ended the whole transaction (a full disk)
            raise
        if savepoint:
            db.execute("ROLLBACK TO op")
            db.execute("RELEASE op")
        return (True, e.result) if isinstance(e, Undo) else (False, e)
    if savepoint:
        db.execute("RELEASE op")
    return True, result


class SqliteBatcher:
    """One connection's batches (see the module's docstring)."""

    def __init__(self, client: BaseDBAsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self.loop = loop
        self._waiting: list[Op] = []
        self._draining: asyncio.Task[None] | None = None
        self.batches = 0  # hand-offs made (the tests read it)

    async def submit(self, run: Operation, writes: bool, single: bool = False) -> Any:
        """`single`: `run` is one statement and raises nothing but the statement's error."""
        future: asyncio.Future[Any] = self.loop.create_future()
        self._waiting.append(Op(run, writes, future, single))
        if self._draining is None:
            # Started on the loop's next turn: what else is submitted on this one joins it.
            self._draining = self.loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                # An operation whose caller stopped waiting before it left is not run at all.
                batch = [op for op in self._waiting if not op.future.done()]
                self._waiting = []
                if batch:
                    await self._hand_off(batch)
        finally:
            self._draining = None
            if self._waiting:  # cancelled with operations still waiting: they fail, not hang
                for op in self._waiting:
                    if not op.future.done():
                        op.future.set_exception(sqlite3.OperationalError("connection stopped"))
                self._waiting = []

    async def _hand_off(self, batch: list[Op]) -> None:
        self.batches += 1
        try:
            # Tortoise's lock: a Tortoise transaction open on this connection finishes first.
            async with self._client.acquire_connection() as connection:
                outcomes = await connection._execute(run_batch, connection._conn, batch)
        except BaseException as e:
            for op in batch:
                if not op.future.done():
                    op.future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        for op, (ok, value) in zip(batch, outcomes, strict=True):
            if op.future.done():  # its caller was cancelled; what it wrote is kept
                continue
            if ok:
                op.future.set_result(value)
            else:
                op.future.set_exception(value)


def batcher(client: BaseDBAsyncClient) -> SqliteBatcher:
    """The batcher of a Tortoise SQLite client, on the running loop (kept on the client, so
    it lives and dies with it)."""
    loop = asyncio.get_running_loop()
    found: SqliteBatcher | None = getattr(client, "_gateway_batcher", None)
    if found is None or found.loop is not loop:
        found = SqliteBatcher(client, loop)
        setattr(client, "_gateway_batcher", found)  # noqa: B010 (not one of its attributes)
    return found
