"""The API in-process with its real resources: a migrated SQLite file and the test broker."""

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
from tests.support.rows import plant_task

MakeClient = Callable[[Settings], Awaitable[TestClient]]


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
