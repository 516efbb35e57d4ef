"""Group commit on SQLite (adapters/persistence/tortoise/sqlite_batch.py), on a real database:
operations submitted together share one hand-off and one transaction, yet each keeps its own
outcome; nobody hears back before the commit; a Tortoise transaction is never mixed in."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from adapters.persistence.tortoise import sql
from adapters.persistence.tortoise.database import close_database, open_database
from adapters.persistence.tortoise.sqlite_batch import batcher, run_batch, writes

_TABLE = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "batch.sqlite3"
    await open_database(f"sqlite://{path}")
    await sql.execute(_TABLE, [])
    try:
        yield path
    finally:
        await close_database()


def _rows(path: Path) -> dict[str, int]:
    """What another connection (another process, a crash's survivor) reads from the file."""
    with sqlite3.connect(path) as other:
        return dict(other.execute("SELECT k, v FROM t ORDER BY k").fetchall())


def _insert(key: str, value: int = 1) -> sql.Statement:
    return "INSERT INTO t (k, v) VALUES (?, ?) RETURNING k", [key, value]


async def test_operations_submitted_together_share_one_hand_off(db: Path) -> None:
    client = connections.get(sql.DEFAULT)
    before = batcher(client).batches
    results = await asyncio.gather(
        *(sql.fetch(*_insert(f"k{i}", i)) for i in range(20)),
        sql.fetch("SELECT count(*) AS n FROM t", []),
    )
    assert [r[0]["k"] for r in results[:20]] == [f"k{i}" for i in range(20)]
    assert batcher(client).batches - before == 1
    assert len(_rows(db)) == 20


async def test_a_failing_operation_is_undone_alone(db: Path) -> None:
    await sql.fetch(*_insert("taken"))
    outcomes = await asyncio.gather(
        sql.fetch(*_insert("a")),
        sql.fetch(*_insert("taken", 2)),  # unique key: an IntegrityError for this one only
        sql.transaction([_insert("b"), ("UPDATE t SET v = 9 WHERE k = 'none' RETURNING k", [])]),
        sql.transaction([_insert("c"), ("UPDATE t SET v = 7 WHERE k = 'c' RETURNING k", [])]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], IntegrityError)
    assert outcomes[0] == [{"k": "a"}]
    assert outcomes[3] == [{"k": "c"}]
    # The same statements alone: "b" was written, then its second statement updated nothing,
    # which is no failure; with abort_if_empty the whole operation is undone.
    assert outcomes[2] == []
    assert _rows(db) == {"a": 1, "b": 1, "c": 7, "taken": 1}


async def test_abort_if_empty_undoes_only_its_own_operation(db: Path) -> None:
    kept, undone = await asyncio.gather(
        sql.transaction([_insert("kept")], abort_if_empty=True),
        sql.transaction(
            [_insert("undone"), ("UPDATE t SET v = 2 WHERE k = 'none' RETURNING k", [])],
            abort_if_empty=True,
        ),
    )
    assert kept == [{"k": "kept"}]
    assert undone is None
    assert _rows(db) == {"kept": 1}


async def test_nobody_hears_back_before_the_commit(db: Path) -> None:
    seen: list[dict[str, int]] = []

    async def insert_then_look(key: str) -> None:
        await sql.fetch(*_insert(key))
        seen.append(_rows(db))  # another connection already reads it: committed

    await asyncio.gather(*(insert_then_look(f"k{i}") for i in range(5)))
    assert all(len(rows) == 5 for rows in seen)  # one transaction: all five, for each of them


async def test_a_failed_commit_fails_every_operation_of_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "commit.sqlite3"
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute(_TABLE)
    db.execute(
        "CREATE TABLE child (k TEXT REFERENCES t(k) DEFERRABLE INITIALLY DEFERRED)"
    )  # a deferred foreign key fails at COMMIT, after every operation ran
    db.execute("PRAGMA foreign_keys = ON")
    loop = asyncio.get_running_loop()
    from adapters.persistence.tortoise.sqlite_batch import Op

    def run(statement: str) -> Op:
        def go(conn: sqlite3.Connection) -> object:
            return conn.execute(statement).fetchall()

        return Op(go, True, loop.create_future())

    batch = [run("INSERT INTO t VALUES ('x', 1)"), run("INSERT INTO child VALUES ('missing')")]
    with pytest.raises(sqlite3.IntegrityError):
        run_batch(db, batch)
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)


async def test_an_operation_whose_caller_left_before_it_was_handed_off_is_not_run(
    db: Path,
) -> None:
    left = asyncio.ensure_future(sql.fetch(*_insert("left")))
    stayed = asyncio.ensure_future(sql.fetch(*_insert("stayed")))
    await asyncio.sleep(0)  # both submitted; the batch leaves on the loop's next turn
    left.cancel()
    assert await stayed == [{"k": "stayed"}]
    assert _rows(db) == {"stayed": 1}


async def test_reads_alone_take_no_write_transaction(db: Path) -> None:
    await sql.fetch(*_insert("r"))
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        rows = await asyncio.wait_for(sql.fetch("SELECT k FROM t", []), timeout=5)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert rows == [{"k": "r"}]


async def test_inside_a_tortoise_transaction_statements_run_in_it(db: Path) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction(sql.DEFAULT):
            await sql.fetch(*_insert("in-tx"))
            assert await sql.fetch("SELECT k FROM t", []) == [{"k": "in-tx"}]
            raise RuntimeError("roll back")
    assert _rows(db) == {}
    await sql.fetch(*_insert("after"))
    assert _rows(db) == {"after": 1}


async def test_a_statement_that_writes_is_told_from_a_read() -> None:
    assert writes("INSERT INTO t VALUES (1)")
    assert writes("WITH x AS (SELECT 1) UPDATE t SET v = 1")
    assert writes("delete from t")
    assert not writes("SELECT updated_at, last_update FROM t")
