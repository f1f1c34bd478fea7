"""Fixtures: a real broker (its own vhost), settings per test, a migrated database file, and real
service processes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from services.migrator.migrations import load_migrations, migrate
from shared.broker import declare_topology
from shared.config import Settings
from tests.support.broker import Broker, NoBroker, test_broker
from tests.support.processes import Stack, isolated_settings

CLUSTER_TESTS = "tests/cluster/"


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` runs on pytest-xdist workers with `--dist loadscope`, where a scope is one
    test, except the cluster tests: they share one three-node cluster on fixed ports, so one
    worker runs them all, one after another. (`--dist loadgroup` would do this by a marker, but
    xdist 3.8 renames the tests for it in a way pytest 9 ignores.)"""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ClusterTogether(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            return CLUSTER_TESTS if nodeid.startswith(CLUSTER_TESTS) else nodeid

    return ClusterTogether(config, log)


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """The broker for integration tests, isolated in a vhost deleted after the run.

    Without one the tests fail with one line saying how to get one, never skip: a run that could
    not reach a broker is not green.
    """
    with ExitStack() as stack:
        try:
            found = stack.enter_context(test_broker())
        except NoBroker as exc:
            raise pytest.fail.Exception(str(exc), pytrace=False) from None
        yield found


@pytest.fixture
def settings(broker: Broker, tmp_path: Path) -> Iterator[Settings]:
    """Settings of one test: its own queue names, database file and ports.

    The test's queues and exchanges are deleted after it (its services are stopped by then):
    hundreds of quorum queues left to the end of the run make the broker slow for everyone.
    """
    made = isolated_settings(broker.amqp_url, tmp_path)
    yield made
    broker.delete_prefixed(made.queue)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """A SQLite file in tmp_path with every migration applied, by its path (the file that
    `settings.db_path` names): for tests of the database's own operations, with no service."""
    path = str(tmp_path / "tasks.db")
    migrate(path, load_migrations())
    return path


@pytest.fixture
def settings_with():
    """`settings_with(settings, work_delay_ms=...)`: a modified copy."""
    return dataclasses.replace


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Stack]:
    """Starts real service processes on demand; stops all of them, even when the test fails."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    started = Stack(settings, log_dir)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
async def amqp(settings: Settings) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    """A direct connection to the test vhost, for inspecting or poisoning queues."""
    connection = await aio_pika.connect_robust(settings.amqp_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def topology(settings: Settings, amqp: aio_pika.abc.AbstractRobustConnection):
    channel = await amqp.channel()
    return await declare_topology(channel, settings)
