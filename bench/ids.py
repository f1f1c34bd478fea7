"""`python -m bench.ids [TASKS]`: what the kind of task id costs the SQLite writer.

Every task's rows go through the real writes of its life (insert, publish mark, claim, outcome),
ten tasks to a transaction with the API's `synchronous = FULL`, once with random ids (uuid4) and
once with the time-ordered UUIDv7 that `shared.models.new_task_id` makes, each on a fresh
migrated database, side by side in one run. Prints the CPU and wall time per task of each."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from services.api import store, transitions
from services.migrator.migrations import load_migrations, migrate
from shared.db import WriteOp, configure
from shared.models import new_task_id

BATCH = 10
KINDS: dict[str, Callable[[], str]] = {
    "uuid4": lambda: str(uuid.uuid4()),
    "uuid7": new_task_id,
}


def _commit(conn: sqlite3.Connection, ops: list[WriteOp[object]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for op in ops:
        op(conn)
    conn.execute("COMMIT")


def run(path: Path, make_id: Callable[[], str], tasks: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per task for `tasks` tasks with ids from `make_id`."""
    migrate(str(path), load_migrations())
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn, "FULL")
    now = int(time.time() * 1000)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(tasks // BATCH):
        ids = [make_id() for _ in range(BATCH)]
        _commit(conn, [store.insert_task(i, "uppercase", '{"text":"hi"}', now) for i in ids])
        _commit(conn, [store.mark_published(ids)])
        _commit(conn, [transitions.claim(i, f"t{i}", now) for i in ids])
        _commit(conn, [transitions.complete(i, f"t{i}", "HI", now) for i in ids])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    (completed,) = conn.execute("SELECT COUNT(*) FROM tasks WHERE status = 'completed'").fetchone()
    conn.close()
    if completed != tasks // BATCH * BATCH:  # every write must have applied to compare costs
        raise SystemExit(f"only {completed} of {tasks} tasks completed")
    return cpu * 1000 / tasks, wall * 1000 / tasks


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory(prefix="taskq-ids-") as tmp:
        costs = {kind: run(Path(tmp) / f"{kind}.db", make, tasks) for kind, make in KINDS.items()}
    for kind, (cpu, wall) in costs.items():
        print(f"{kind}: {tasks:,} tasks, CPU {cpu:.3f} ms/task, wall {wall:.3f} ms/task")
    (cpu4, wall4), (cpu7, wall7) = costs["uuid4"], costs["uuid7"]
    print(f"uuid7 / uuid4: CPU {cpu7 / cpu4:.2f}, wall {wall7 / wall4:.2f}")


if __name__ == "__main__":
    main()
