"""SQLite access: connection settings, the schema-version gate and the group-commit writer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from shared.errors import SchemaMissingError

logger = logging.getLogger(__name__)

# The migration this code was written against; services refuse to start on an older database.
SCHEMA_VERSION = 5
BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")
WriteOp = Callable[[sqlite3.Connection], T]
# A queued write: the op, its caller's future, and whether it must survive a power cut.
Pending = tuple[WriteOp[Any], "asyncio.Future[Any]", bool]


def configure(conn: sqlite3.Connection, synchronous: str = "NORMAL") -> None:
    """Per-connection pragmas; WAL itself is persistent and set by the migrator."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration, 0 when the database was never migrated."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if row is None:
        return 0
    (version,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(version)


def check_schema(path: str) -> None:
    """Raise SchemaMissingError unless the migrator has brought `path` to SCHEMA_VERSION."""
    if not Path(path).exists():
        raise SchemaMissingError(f"database {path} does not exist: run the migrator first")
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        version = schema_version(conn)
    finally:
        conn.close()
    if version < SCHEMA_VERSION:
        raise SchemaMissingError(
            f"database {path} is at schema version {version}, this code needs {SCHEMA_VERSION}:"
            " run the migrator first"
        )


async def open_reader(path: str) -> aiosqlite.Connection:
    """An aiosqlite connection for queries; rows come back as sqlite3.Row."""
    conn = await aiosqlite.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA query_only = ON")
    return conn


class BatchWriter:
    """Group commit: write operations queue up and run together, one transaction per batch.

    Each operation is a plain function of a sqlite3 connection. The writer owns one thread and
    one connection; whatever queued while a batch committed goes into the next batch, and callers
    learn their result only after the commit is durable. Callers may live on different event
    loops (the API's HTTP loop and its recorder's): each result is handed to its caller's loop,
    so no loop waits for another to turn.
    """

    def __init__(self, path: str, *, synchronous: str = "NORMAL", linger_ms: int = 0) -> None:
        self._path = path
        self._synchronous = synchronous
        self._linger = linger_ms / 1000
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="taskq-writer", daemon=True)
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._conn: sqlite3.Connection | None = None
        self._closing = False
        self.batches = 0
        self.operations = 0

    async def start(self) -> None:
        """Open the connection on the writer thread and start committing."""
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,  # only this thread writes; tests may inspect it
        )
        configure(conn, self._synchronous)
        return conn

    async def run(self, op: WriteOp[T], *, durable: bool = True) -> T:
        """Queue `op`, wait until its batch has committed, and return what it returned.

        `durable=False` is for a write whose loss in a power cut is harmless (it is redone):
        with TASKQ_DB_SYNCHRONOUS=FULL, a batch of only such writes commits without an fsync.
        """
        if self._closing:
            raise RuntimeError("the database writer is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((op, future, durable))
        return await future

    def _serve(self) -> None:
        try:
            self._conn = self._connect()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while (first := self._queue.get()) is not None:
                if self._linger:
                    time.sleep(self._linger)
                batch, closing = [first], False
                while not self._queue.empty() and not closing:
                    item = self._queue.get_nowait()
                    if item is None:
                        closing = True
                    else:
                        batch.append(item)
                self._commit(batch)
                if closing:
                    return
        finally:
            self._conn.close()

    def _commit(self, batch: list[Pending]) -> None:
        try:
            outcomes = self._apply(batch)
        except Exception as exc:  # the commit failed: every caller in the batch learns it
            logger.exception("database batch failed")
            outcomes = [(False, exc)] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]
        by_loop = {}
        for (_, future, _), (ok, value) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, ok, value))
        for loop, results in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: no one waits
                loop.call_soon_threadsafe(_deliver, results)

    def _apply(self, batch: list[Pending]) -> list[tuple[bool, Any]]:
        conn = self._conn
        assert conn is not None
        # A batch of writes that need no power-loss durability (see `run`) skips the fsync;
        # the next durable commit's fsync of the WAL covers it anyway.
        relaxed = self._synchronous == "FULL" and not any(durable for _, _, durable in batch)
        if relaxed:
            conn.execute("PRAGMA synchronous = NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                try:
                    # The common case: no op fails, and none pays for a savepoint (they cost
                    # more than the statements they guard while the write lock is held).
                    outcomes: list[tuple[bool, Any]] = [(True, op(conn)) for op, _, _ in batch]
                except Exception:
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN IMMEDIATE")
                    outcomes = self._apply_isolated(conn, batch)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if relaxed:
                conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        self.batches += 1
        self.operations += len(batch)
        return outcomes

    @staticmethod
    def _apply_isolated(conn: sqlite3.Connection, batch: list[Pending]) -> list[tuple[bool, Any]]:
        """Run the batch again, each op in a savepoint of its own."""
        outcomes: list[tuple[bool, Any]] = []
        for op, _, _ in batch:
            conn.execute("SAVEPOINT op")
            try:
                outcomes.append((True, op(conn)))
                conn.execute("RELEASE op")
            except Exception as exc:
                # One bad op must not undo its neighbours' writes, whether SQLite refused
                # it or the op itself raised (IdempotencyKeyReusedError, say): only its caller learns.
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append((False, exc))
        return outcomes

    async def close(self) -> None:
        """Commit what is queued, then close the connection and the thread."""
        if self._closing:
            return
        self._closing = True
        self._queue.put(None)
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)


def _deliver(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the caller's loop: hand each caller its outcome."""
    for future, ok, value in results:
        if future.done():  # the caller was cancelled; its write still happened
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
