"""The group-commit writer's durability levels: a batch of only `durable=False` writes commits
without an fsync (synchronous NORMAL for that one commit); any durable write in a batch makes
the whole commit FULL."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from shared.db import BatchWriter

FULL = 2


def insert(value: int):
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return value

    return op


@pytest.fixture
async def traced(tmp_path: Path):
    """A FULL writer whose connection records every statement it runs."""
    path = str(tmp_path / "d.db")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
    writer = BatchWriter(path, synchronous="FULL", linger_ms=50)
    await writer.start()
    statements: list[str] = []
    assert writer._conn is not None
    writer._conn.set_trace_callback(statements.append)
    yield writer, statements
    await writer.close()


def stored(path: str) -> list[int]:
    with closing(sqlite3.connect(path)) as conn:
        return [v for (v,) in conn.execute("SELECT v FROM t ORDER BY v")]


async def test_a_batch_of_relaxed_writes_skips_the_fsync_and_still_commits(traced) -> None:
    writer, statements = traced
    results = await asyncio.gather(*(writer.run(insert(i), durable=False) for i in range(3)))
    assert results == [0, 1, 2]
    assert writer.batches == 1
    assert stored(writer._path) == [0, 1, 2]
    assert statements[0] == "PRAGMA synchronous = NORMAL"
    assert statements[-1] == "PRAGMA synchronous = FULL"
    assert writer._conn.execute("PRAGMA synchronous").fetchone()[0] == FULL


async def test_one_durable_write_makes_the_whole_batch_full(traced) -> None:
    writer, statements = traced
    await asyncio.gather(
        writer.run(insert(1), durable=False),
        writer.run(insert(2)),
        writer.run(insert(3), durable=False),
    )
    assert writer.batches == 1
    assert stored(writer._path) == [1, 2, 3]
    assert not [s for s in statements if "synchronous" in s]


async def test_a_failing_relaxed_write_restores_full(traced) -> None:
    writer, _ = traced
    await writer.run(insert(1))
    results = await asyncio.gather(
        writer.run(insert(1), durable=False),  # a duplicate key
        writer.run(insert(2), durable=False),
        return_exceptions=True,
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1] == 2
    assert stored(writer._path) == [1, 2]
    assert writer._conn.execute("PRAGMA synchronous").fetchone()[0] == FULL
