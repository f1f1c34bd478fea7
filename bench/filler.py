"""Filling a migrated database with many finished tasks, straight through SQLite."""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections.abc import Iterator

CHUNK = 50_000
ACTIONS = ("uppercase", "sum", "resize", "email")
# Mostly finished work, as a long-lived queue's table is.
STATUSES = ("completed",) * 90 + ("failed",) * 6 + ("queued",) * 2 + ("retrying",) * 2


def _rows(count: int, seed: int) -> Iterator[tuple[object, ...]]:
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    start = now - 30 * 86_400_000
    step = max(1, (now - start) // count)
    for i in range(count):
        created = start + i * step + rng.randrange(step)
        status = rng.choice(STATUSES)
        final = status in ("completed", "failed")
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            rng.choice(ACTIONS),
            '{"text":"hello world"}',
            status,
            '{"output":"HELLO WORLD"}' if status == "completed" else None,
            "boom" if status == "failed" else None,
            1,
            created,
            created + 5 if status != "queued" else None,
            created + 105 if final else None,
            created,
            1,
        )


def fill(path: str, count: int, seed: int = 7) -> float:
    """Insert `count` tasks spread over the last 30 days; return the seconds it took."""
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Only for the fill: a crash here costs nothing but the benchmark's input.
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        # Building the secondary indexes once at the end is several times faster than keeping
        # them up to date row by row; they come back exactly as the migration made them.
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
            " AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        rows = _rows(count, seed)
        while True:
            chunk = [row for _, row in zip(range(CHUNK), rows, strict=False)]
            if not chunk:
                break
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO tasks (id, action, data, status, result, error, attempts,"
                " created_at, started_at, processed_at, queued_at, published)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            )
            conn.execute("COMMIT")
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return time.perf_counter() - started
