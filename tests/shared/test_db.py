"""The schema gate and the group-commit writer, on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from services.migrator.migrations import load_migrations
from shared.db import SCHEMA_VERSION, BatchWriter, check_schema, schema_version
from shared.errors import SchemaMissingError


def test_schema_version_is_the_newest_migration() -> None:
    assert max(m.version for m in load_migrations()) == SCHEMA_VERSION


def test_check_schema_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(SchemaMissingError, match="run the migrator first"):
        check_schema(str(path))
    assert not path.exists(), "checking must not create the database"


def test_check_schema_refuses_an_unmigrated_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(SchemaMissingError, match="schema version 0"):
        check_schema(str(path))


def test_check_schema_accepts_a_migrated_file(db_path: str) -> None:
    check_schema(db_path)
    with closing(sqlite3.connect(db_path, isolation_level=None)) as conn:
        assert schema_version(conn) == SCHEMA_VERSION


@pytest.fixture
async def writer(tmp_path: Path):
    path = str(tmp_path / "w.db")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
    # A linger gathers every op queued below into one batch.
    started = BatchWriter(path, linger_ms=50)
    await started.start()
    yield started
    await started.close()


def insert(value: int):
    def op(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return value

    return op


def raises(exc: Exception):
    def op(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (v) VALUES (999)")
        raise exc

    return op


def stored(writer: BatchWriter) -> list[int]:
    with closing(sqlite3.connect(writer._path, isolation_level=None)) as conn:
        return [v for (v,) in conn.execute("SELECT v FROM t ORDER BY v")]


async def test_a_batch_commits_together_and_answers_each_caller(writer: BatchWriter) -> None:
    results = await asyncio.gather(*(writer.run(insert(i)) for i in range(5)))
    assert results == [0, 1, 2, 3, 4]
    assert writer.batches == 1
    assert writer.operations == 5
    assert stored(writer) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "error", [sqlite3.IntegrityError("constraint"), ValueError("refused by the op")]
)
async def test_a_failing_op_does_not_undo_its_neighbours(
    writer: BatchWriter, error: Exception
) -> None:
    results = await asyncio.gather(
        writer.run(insert(1)),
        writer.run(raises(error)),
        writer.run(insert(2)),
        return_exceptions=True,
    )
    assert writer.batches == 1
    assert results[0] == 1
    assert results[1] is error
    assert results[2] == 2
    assert stored(writer) == [1, 2]


async def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    path = str(tmp_path / "c.db")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
    writer = BatchWriter(path)
    await writer.start()
    pending = asyncio.ensure_future(writer.run(insert(7)))
    await asyncio.sleep(0)
    await writer.close()
    assert await pending == 7
    assert stored(writer) == [7]
    with pytest.raises(RuntimeError, match="closed"):
        await writer.run(insert(8))
