"""Versioned SQL migrations: `NNN_name.sql`, each applied once, in its own transaction."""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from shared.clock import now_ms
from shared.db import BUSY_TIMEOUT_MS, schema_version

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in `folder`, by version; a misnamed or duplicate file is an error."""
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} is not named NNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise ValueError(f"two migrations have version {version:03d}")
        migrations[version] = Migration(version, match.group(2), path.read_text())
    return [migrations[v] for v in sorted(migrations)]


def migrate(db_path: str, migrations: list[Migration]) -> list[Migration]:
    """Apply the pending migrations to `db_path` (creating it); return those applied."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        # WAL is a property of the file: set once here, every later connection gets it.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        applied: list[Migration] = []
        for migration in migrations:
            # IMMEDIATE takes the write lock first, so two migrators cannot both apply one file.
            conn.execute("BEGIN IMMEDIATE")
            try:
                if schema_version(conn) >= migration.version:
                    conn.execute("ROLLBACK")
                    continue
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now_ms()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            logger.info(
                "applied migration",
                extra={"version": migration.version, "migration": migration.name},
            )
            applied.append(migration)
        return applied
    finally:
        conn.close()


def _statements(sql: str) -> list[str]:
    """Split a script into statements, so they run inside our transaction (executescript
    would commit first)."""
    statements, buffer = [], ""
    # Cut after every `;`, not every line: two statements may share a line, and sqlite3 runs
    # only one per execute(). A `;` inside a string, comment or trigger leaves it incomplete.
    for piece in re.split(r"(?<=;)", sql):
        buffer += piece
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer[:80]!r}")
    return statements
