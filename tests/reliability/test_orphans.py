"""Guarantee 2: a task stored `queued` whose publish was never confirmed is published again by
the API's recovery sweep, and runs."""

from __future__ import annotations

import pytest

from shared.clock import now_ms
from shared.config import Settings
from tests.support.observe import task_row
from tests.support.processes import Stack
from tests.support.rows import plant_into
from tests.support.waiting import wait_final_row, wait_row

pytestmark = pytest.mark.integration


def plant_orphan(settings: Settings, action: str, data: str, age_s: float) -> str:
    """A row as the API leaves it when it dies between the insert and the broker's confirm."""
    then = now_ms() - round(age_s * 1000)
    return plant_into(settings.db_path, action=action, data=data, created_at=then, published=False)


def test_the_sweep_publishes_unconfirmed_tasks(
    stack: Stack, settings: Settings, settings_with
) -> None:
    stack.migrate()
    orphans = [
        plant_orphan(settings, "uppercase", '{"text": "orphan"}', age_s=60),
        plant_orphan(settings, "sum", '{"numbers": [1, 2]}', age_s=3600),
    ]
    stack.consumer(owner_up=False)
    stack.api(settings_with(settings, orphan_age_s=1))
    results = {}
    for task_id in orphans:
        row = wait_final_row(settings, task_id)
        assert row["status"] == "completed"
        assert row["attempts"] == 1
        results[task_id] = row["result"]
    assert results == {orphans[0]: '{"output":"ORPHAN"}', orphans[1]: '{"output":3}'}
    # the sweep marks them confirmed (asynchronously), so it publishes them no more
    for task_id in orphans:
        wait_row(
            settings,
            task_id,
            lambda row: row["published"] == 1,
            "the republished task to be marked confirmed",
        )


def test_a_recent_unconfirmed_task_is_left_to_its_request(
    stack: Stack, settings: Settings, settings_with
) -> None:
    """Younger than TASKQ_ORPHAN_AGE_S, the row may still have its publish in flight."""
    stack.migrate()
    fresh = plant_orphan(settings, "uppercase", "{}", age_s=0)
    old = plant_orphan(settings, "uppercase", "{}", age_s=3600)
    stack.consumer(owner_up=False)
    stack.api(settings_with(settings, orphan_age_s=600))  # sweeps every 10 s
    # the old one proves a sweep has run; the fresh one (far from 600 s old) was left alone
    assert wait_final_row(settings, old, timeout=60)["status"] == "completed"
    row = task_row(settings, fresh)
    assert row is not None and row["status"] == "queued" and row["published"] == 0
