"""Raw SQL helpers for the few statements the ORM cannot express (atomic upserts)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import (
    DBConnectionError,
    IntegrityError,
    NotExistOrMultiple,
    OperationalError,
    TransactionManagementError,
)

from ports.errors import Conflict, NotFound, StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")


def dialect(conn: BaseDBAsyncClient) -> str:
    return str(conn.schema_generator.DIALECT)


def placeholders(conn: BaseDBAsyncClient, sql: str) -> str:
    """Statements are written with `?`; asyncpg wants `$1, $2, ...`."""
    if dialect(conn) != "postgres":
        return sql
    parts = sql.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        out.append(f"${i}{part}")
    return "".join(out)


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
