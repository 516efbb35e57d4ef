"""Raw SQL helpers for the few statements the ORM cannot express (atomic upserts)."""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any, ParamSpec, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import (
    DBConnectionError,
    IntegrityError,
    NotExistOrMultiple,
    OperationalError,
    TransactionManagementError,
)
from tortoise.transactions import in_transaction

from adapters.persistence.tortoise.sqlite_batch import (
    Operation,
    Undo,
    batcher,
    run_in_transaction,
    writes,
)
from ports.errors import Conflict, NotFound, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")


def dialect(conn: BaseDBAsyncClient) -> str:
    return str(conn.schema_generator.DIALECT)


def on_postgres(connection: str = "default") -> bool:
    return dialect(connections.get(connection)) == "postgres"


def db_time(conn: BaseDBAsyncClient, value: datetime) -> Any:
    """Tortoise keeps SQLite datetimes as ISO text; asyncpg takes datetime objects."""
    if dialect(conn) == "postgres":
        return value
    return value.isoformat(sep=" ")


def unavailable_on_db_error(
    func: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Connection loss and similar failures become the port's StoreUnavailable."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await func(*args, **kwargs)
        except IntegrityError as e:
            raise Conflict(f"conflicting write: {type(e).__name__}") from e
        except NotExistOrMultiple as e:
            raise NotFound(f"no such row: {type(e).__name__}") from e
        except (DBConnectionError, TransactionManagementError, ConnectionError, OSError) as e:
            raise StoreUnavailable(f"database unavailable: {type(e).__name__}") from e
        except OperationalError as e:
            raise StoreUnavailable(f"database error: {type(e).__name__}") from e

    return wrapper


@functools.lru_cache(maxsize=256)
def _converted(dialect_name: str, sql: str) -> str:
    if dialect_name != "postgres":
        return sql
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


DEFAULT = "default"
# A second connection for the worker: on SQLite every statement of a connection goes through
# one thread under one lock, so webhooks would wait behind the worker's statements.
WORKER = "worker"


def _sqlite_run(db: sqlite3.Connection, sql: str, values: list[Any]) -> tuple[int, list[Any]]:
    """In SQLite's thread: one statement; the rows it changed (as Tortoise's execute_query
    counts them) and the rows it returned."""
    start = db.total_changes
    rows = _rows(db, sql, values)
    return (db.total_changes - start) or len(rows), rows


def _rows(db: sqlite3.Connection, sql: str, values: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, values)
    try:
        return [dict(r) for r in cursor.fetchall()]
    finally:
        # Finalised now: a statement that failed while stepping (a unique key, in
        # fetchall) would otherwise live on in the exception's traceback, and SQLite keeps a
        # closed connection open (its WAL unmerged) until every statement is gone.
        cursor.close()


def _sqlite_transaction(
    db: sqlite3.Connection, statements: list[Statement], abort_if_empty: int | None
) -> list[list[dict[str, Any]]]:
    """In SQLite's thread, inside the batch's transaction: statements in order; `Undo` (the
    batch rolls this operation back) when the one at `abort_if_empty` returned no row."""
    results: list[list[dict[str, Any]]] = []
    for index, (sql, values) in enumerate(statements):
        rows = _rows(db, sql, values)
        if index == abort_if_empty and not rows:
            raise Undo(None)
        results.append(rows)
    return results


async def _on_sqlite(
    conn: BaseDBAsyncClient, operation: Operation, may_write: bool, single: bool = False
) -> Any:
    """Runs an operation in SQLite's thread: batched with others (group commit) outside a
    Tortoise transaction, alone on the transaction's connection inside one."""
    try:
        if isinstance(conn, TransactionalDBClient):
            async with conn.acquire_connection() as sqlite_conn:
                return await sqlite_conn._execute(run_in_transaction, sqlite_conn._conn, operation)
        return await batcher(conn).submit(operation, may_write, single)
    except sqlite3.IntegrityError as e:
        raise IntegrityError(e) from e
    except sqlite3.OperationalError as e:
        raise OperationalError(e) from e


async def _statement_on_sqlite(
    conn: BaseDBAsyncClient, sql: str, values: list[Any]
) -> tuple[int, list[dict[str, Any]]]:
    result: tuple[int, list[dict[str, Any]]] = await _on_sqlite(
        conn, partial(_sqlite_run, sql=sql, values=values), writes(sql), single=True
    )
    return result


def _sqlite_chain(
    db: sqlite3.Connection,
    first: Statement,
    then: Callable[[list[dict[str, Any]]], Statement | None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    rows = _rows(db, *first)
    second = then(rows)
    return rows, None if second is None else _rows(db, *second)


async def chained_on_sqlite(
    first: Statement,
    then: Callable[[list[dict[str, Any]]], Statement | None],
    connection: str = DEFAULT,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """SQLite only: a statement, then the one `then` makes of its rows (or none), in one
    transaction and one hand-off to SQLite's thread (`then` runs there: keep it to building
    the statement). The rows of both; None for a second statement not run. On PostgreSQL
    such a pair is one statement with a data-modifying CTE."""
    conn = connections.get(connection)
    if dialect(conn) != "sqlite":
        raise TypeError("chained_on_sqlite runs on SQLite only")
    result: tuple[list[dict[str, Any]], list[dict[str, Any]] | None] = await _on_sqlite(
        conn, partial(_sqlite_chain, first=first, then=then), True
    )
    return result


async def fetch(sql: str, values: list[Any], connection: str = DEFAULT) -> list[dict[str, Any]]:
    """Rows of a hand-written statement on the current connection (or transaction).

    The hot path (every webhook and answer) uses these instead of querysets: building SQL
    through the ORM costs more CPU than running the statement."""
    conn = connections.get(connection)
    if dialect(conn) == "sqlite":
        return (await _statement_on_sqlite(conn, sql, values))[1]
    return list(await conn.execute_query_dict(_converted("postgres", sql), values))


async def execute(sql: str, values: list[Any], connection: str = DEFAULT) -> int:
    """Runs a statement; returns the number of rows it changed."""
    conn = connections.get(connection)
    if dialect(conn) == "sqlite":
        return int((await _statement_on_sqlite(conn, sql, values))[0])
    count, _ = await conn.execute_query(_converted("postgres", sql), values)
    return int(count)


def to_time(value: Any) -> datetime:
    """A timestamp read by hand: asyncpg gives datetimes, SQLite gives Tortoise's ISO text."""
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_uuid(value: str) -> uuid.UUID | None:
    """An id from outside as a UUID, or None when it is not one (it then matches nothing)."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def to_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def now_param(value: datetime, connection: str = DEFAULT) -> Any:
    """A timestamp parameter in the connection's dialect."""
    return db_time(connections.get(connection), value)


Statement = tuple[str, list[Any]]


def as_one(statements: list[Statement]) -> Statement:
    """Independent writes as one PostgreSQL statement (data-modifying CTEs): one round trip
    instead of one each. They see the same snapshot, which holds what earlier statements of
    the transaction wrote, and none sees another's effect: only statements that do not read
    each other's rows may be joined. Parameters stay `?` and in order."""
    if len(statements) == 1:
        return statements[0]
    *first, last = statements
    parts = [f"w{i} AS ({sql.strip().rstrip(';')})" for i, (sql, _) in enumerate(first)]
    sql = "WITH " + ",\n".join(parts) + "\n" + last[0].strip()
    return sql, [value for _, values in statements for value in values]


class _Abort(Exception):
    """Rolls a batch back when its last statement returned no row."""


async def transaction(
    statements: list[Statement],
    abort_if_empty: bool = False,
    connection: str = DEFAULT,
    result_of: int = -1,
) -> list[dict[str, Any]] | None:
    """Runs statements in one transaction; returns the rows of statement `result_of` (the
    last one by default), or None (and nothing is kept, the statements after it are not run)
    when `abort_if_empty` and it returned no row.

    On SQLite the whole transaction is one hand-off to aiosqlite's thread, under Tortoise's
    connection lock: a webhook holds the single connection for one round trip instead of five.
    """
    index = result_of % len(statements)
    results = await transaction_rows(statements, index if abort_if_empty else None, connection)
    return None if results is None else results[index]


async def transaction_rows(
    statements: list[Statement], abort_if_empty: int | None = None, connection: str = DEFAULT
) -> list[list[dict[str, Any]]] | None:
    """`transaction`, returning the rows of every statement; None (nothing kept) when the
    statement at index `abort_if_empty` returned no row."""
    conn = connections.get(connection)
    if dialect(conn) == "sqlite":
        run = partial(_sqlite_transaction, statements=statements, abort_if_empty=abort_if_empty)
        result: list[list[dict[str, Any]]] | None = await _on_sqlite(conn, run, True)
        return result
    try:
        async with in_transaction(connection) as tx:
            kept: list[list[dict[str, Any]]] = []
            for position, (sql, values) in enumerate(statements):
                rows = list(await tx.execute_query_dict(_converted("postgres", sql), values))
                if position == abort_if_empty and not rows:
                    raise _Abort
                kept.append(rows)
            return kept
    except _Abort:
        return None
