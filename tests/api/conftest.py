"""The API in-process with its real resources (a migrated SQLite file and the test broker), and
the state machine's operations on a migrated file of their own, with no API."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.main import create_app
from services.migrator.migrations import load_migrations, migrate
from shared.config import Settings
from shared.db import configure
from tests.support.rows import plant_task

MakeClient = Callable[[Settings], Awaitable[TestClient]]

# the state machine's tests: when their tasks were made, and two deliveries' claim tokens
T0 = 1_700_000_000_000
TOKEN = "delivery-a"
OTHER = "delivery-b"


@pytest.fixture
def make_client(aiohttp_client) -> MakeClient:
    """`await make_client(settings)`: migrate the settings' database, then serve create_app."""

    async def make(settings: Settings) -> TestClient:
        await asyncio.to_thread(migrate, settings.db_path, load_migrations())
        return await aiohttp_client(create_app(settings))

    return make


@pytest.fixture
async def client(make_client: MakeClient, settings: Settings) -> TestClient:
    # The rows tests plant carry fixed timestamps from 2023: retention (7 days by default) would
    # purge a final one while the test still reads it.
    return await make_client(dataclasses.replace(settings, result_ttl_s=0))


@pytest.fixture
def db(client: TestClient, settings: Settings) -> Iterator[sqlite3.Connection]:
    """A direct connection to the API's database, for arranging rows and checking them."""
    with closing(sqlite3.connect(settings.db_path, isolation_level=None)) as conn:
        conn.row_factory = sqlite3.Row
        yield conn


def insert_task(
    db: sqlite3.Connection,
    *,
    created_at: int,
    status: str = "queued",
    action: str = "sum",
    data: dict[str, Any] | None = None,
    task_id: str | None = None,
) -> str:
    """A row as the API would store it, for listings that need many tasks or several statuses."""
    return plant_task(
        db, created_at=created_at, status=status, action=action, data=data, task_id=task_id
    )


@pytest.fixture
def conn(db_path: str) -> Iterator[sqlite3.Connection]:
    """A connection to a migrated file with no API in front, configured as the API's writer
    configures its own, for running the state machine's operations with `rows.apply`."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as made:
        configure(made)
        made.row_factory = sqlite3.Row
        yield made


def add_task(
    conn: sqlite3.Connection,
    status: str = "queued",
    *,
    action: str = "sum",
    data: dict[str, Any] | None = None,
    attempts: int = 0,
    error: str | None = None,
    result: str | None = None,
    processed_at: int | None = None,
    token: str | None = TOKEN,
) -> str:
    """A task made at T0 and, unless `token` is None, claimed by the delivery TOKEN."""
    return plant_task(
        conn,
        status=status,
        action=action,
        data=data or {"numbers": [1]},
        attempts=attempts,
        error=error,
        result=result,
        created_at=T0,
        processed_at=processed_at,
        claim_token=token,
    )


def row(conn: sqlite3.Connection, task_id: str) -> sqlite3.Row:
    found: sqlite3.Row | None = conn.execute(
        "SELECT * FROM tasks WHERE id = ?", (task_id,)
    ).fetchone()
    assert found is not None
    return found
