"""Versioned migrations: found in order, applied once each, all-or-nothing per file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from services.migrator import main as migrator_main
from services.migrator.migrations import _statements, load_migrations, migrate
from shared.config import Settings
from shared.db import schema_version
from shared.errors import TaskqError


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


def tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, versions[-1] + 1))
    assert load_migrations()[0].name == "init"


def test_migrations_load_by_number_not_by_name(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m",
        {
            "010_late.sql": "CREATE TABLE c (x);",
            "002_b.sql": "CREATE TABLE b (x);",
            "001_a.sql": "CREATE TABLE a (x);",
            "README.md": "not a migration",
        },
    )
    loaded = load_migrations(folder)
    assert [(m.version, m.name) for m in loaded] == [(1, "a"), (2, "b"), (10, "late")]
    assert loaded[1].sql == "CREATE TABLE b (x);"


@pytest.mark.parametrize("name", ["1_init.sql", "001-init.sql", "001_Init.sql", "001_.sql"])
def test_a_misnamed_migration_is_an_error(tmp_path: Path, name: str) -> None:
    folder = write(tmp_path / "m", {"002_ok.sql": "SELECT 1;", name: "SELECT 1;"})
    with pytest.raises(ValueError, match=f"{name} is not named NNN_name.sql"):
        load_migrations(folder)


def test_two_migrations_with_one_number_are_an_error(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"001_a.sql": "SELECT 1;", "001_b.sql": "SELECT 1;"})
    with pytest.raises(ValueError, match="two migrations have version 001"):
        load_migrations(folder)


def test_statements_split_on_complete_statements_only() -> None:
    sql = """-- a comment; with a semicolon
CREATE TABLE a (
    x TEXT DEFAULT 'semi;colon' -- trailing; comment
);
CREATE TRIGGER t AFTER INSERT ON a BEGIN
    UPDATE a SET x = 'y;' WHERE rowid = new.rowid;
END;

INSERT INTO a (x) VALUES ('1'); INSERT INTO a (x) VALUES ('2');
-- the end
"""
    statements = _statements(sql)
    assert len(statements) == 4, statements
    assert statements[0].startswith("-- a comment") and statements[0].endswith(");")
    assert "semi;colon" in statements[0]
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    # two statements on one line still run one by one (execute() takes only one)
    assert statements[2] == "INSERT INTO a (x) VALUES ('1');"
    assert statements[3] == "INSERT INTO a (x) VALUES ('2');"
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        for statement in statements:
            conn.execute(statement)
        assert conn.execute("SELECT x FROM a ORDER BY rowid").fetchall() == [("y;",), ("y;",)]


def test_statements_refuse_an_unterminated_statement() -> None:
    with pytest.raises(ValueError, match="incomplete SQL statement"):
        _statements("CREATE TABLE a (x);\nCREATE TABLE b (x)\n")


def test_migrate_creates_the_folder_sets_wal_and_records_versions(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "tasks.db"
    applied = migrate(str(path), load_migrations())
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    assert {"tasks", "dead_letters", "idempotency_keys", "schema_migrations"} <= tables(path)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert rows == [(m.version, m.name) for m in load_migrations()]


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    migrate(str(path), load_migrations())
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        before = conn.execute("SELECT * FROM schema_migrations").fetchall()
    assert migrate(str(path), load_migrations()) == []
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert conn.execute("SELECT * FROM schema_migrations").fetchall() == before


def test_only_pending_migrations_are_applied(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"001_a.sql": "CREATE TABLE a (x);"})
    path = tmp_path / "t.db"
    assert [m.version for m in migrate(str(path), load_migrations(folder))] == [1]
    write(folder, {"002_b.sql": "CREATE TABLE b (x);\nINSERT INTO b VALUES (1);"})
    assert [m.version for m in migrate(str(path), load_migrations(folder))] == [2]
    assert {"a", "b"} <= tables(path)


def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m",
        {
            "001_a.sql": "CREATE TABLE a (x);",
            "002_bad.sql": "CREATE TABLE b (x);\nINSERT INTO a VALUES (1);\nINSERT INTO nope VALUES (1);",
            "003_c.sql": "CREATE TABLE c (x);",
        },
    )
    path = tmp_path / "t.db"
    with pytest.raises(sqlite3.OperationalError, match="no such table: nope"):
        migrate(str(path), load_migrations(folder))
    assert "b" not in tables(path), "the bad migration's first statement must be undone"
    assert "c" not in tables(path), "nothing after a failed migration runs"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert schema_version(conn) == 1
        assert conn.execute("SELECT COUNT(*) FROM a").fetchone() == (0,)
        assert not conn.in_transaction

    write(folder, {"002_bad.sql": "CREATE TABLE b (x);"})
    assert [m.version for m in migrate(str(path), load_migrations(folder))] == [2, 3]
    assert {"a", "b", "c"} <= tables(path)


async def test_the_migrator_refuses_code_and_migrations_out_of_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrator_main, "SCHEMA_VERSION", 99)
    settings = Settings(db_path=str(tmp_path / "t.db"))
    with pytest.raises(TaskqError, match="SCHEMA_VERSION is 99 but the newest migration is 005"):
        await migrator_main.main(settings)
    assert not (tmp_path / "t.db").exists()


def test_the_control_migration_keeps_every_task(tmp_path: Path) -> None:
    """004 rebuilds `tasks` (a CHECK cannot be altered): rows, claim tokens and indexes stay."""
    path = str(tmp_path / "tasks.db")
    shipped = load_migrations()
    migrate(path, [m for m in shipped if m.version <= 2])
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(
            "INSERT INTO tasks (id, action, data, status, result, attempts, created_at,"
            " queued_at, published, claim_token) VALUES"
            " ('a', 'sum', '{}', 'completed', '{\"output\":0}', 1, 5, 5, 1, 'tok'),"
            " ('b', 'sleep', '{}', 'queued', NULL, 0, 6, 6, 0, NULL)"
        )
        conn.commit()
    migrate(path, shipped)
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT id, status, result, claim_token, published, priority, cancel_requested,"
            " progress FROM tasks ORDER BY id"
        ).fetchall()
        assert rows == [
            ("a", "completed", '{"output":0}', "tok", 1, "normal", 0, None),
            ("b", "queued", None, None, 0, "normal", 0, None),
        ]
        conn.execute("UPDATE tasks SET status = 'cancelled' WHERE id = 'b'")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE tasks SET priority = 'urgent' WHERE id = 'b'")
        indexes = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert {"tasks_by_status", "tasks_unpublished", "tasks_by_priority"} <= indexes
