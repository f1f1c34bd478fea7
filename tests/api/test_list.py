"""GET /tasks: newest first, filtered, and paged by a cursor that stays stable as tasks arrive."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.conftest import insert_task

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
MAX_PAGES = 50


async def listing(client: TestClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/tasks", params={k: str(v) for k, v in params.items()})
    assert response.status == 200, await response.text()
    return await response.json()


async def all_pages(client: TestClient, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while len(pages) < MAX_PAGES:
        page = await listing(client, **params, **({"cursor": cursor} if cursor else {}))
        assert page["count"] == len(page["tasks"])
        pages.append([t["id"] for t in page["tasks"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError(f"more than {MAX_PAGES} pages: the cursor does not advance")


async def submit(client: TestClient, action: str = "sum") -> str:
    # Each task in a millisecond of its own, so creation order is the listing's order.
    await asyncio.sleep(0.002)
    response = await client.post("/tasks", json={"action": action})
    assert response.status == 202
    return str((await response.json())["id"])


async def test_an_empty_listing(client: TestClient) -> None:
    assert await listing(client) == {"tasks": [], "count": 0, "next_cursor": None}


async def test_newest_first(client: TestClient) -> None:
    ids = [await submit(client) for _ in range(4)]
    page = await listing(client)
    assert [t["id"] for t in page["tasks"]] == ids[::-1]
    assert page["count"] == 4
    assert page["next_cursor"] is None
    assert page["tasks"][0]["status"] == "queued"


async def test_the_default_limit_is_100(client: TestClient, db: sqlite3.Connection) -> None:
    ids = [insert_task(db, created_at=T0 + i) for i in range(105)][::-1]
    first = await listing(client)
    assert first["count"] == 100
    assert [t["id"] for t in first["tasks"]] == ids[:100]
    assert first["next_cursor"]
    rest = await listing(client, cursor=first["next_cursor"])
    assert [t["id"] for t in rest["tasks"]] == ids[100:]
    assert rest["next_cursor"] is None


async def test_limit_bounds(client: TestClient, db: sqlite3.Connection) -> None:
    for i in range(3):
        insert_task(db, created_at=T0 + i)
    assert (await listing(client, limit=1))["count"] == 1
    assert (await listing(client, limit=1000))["count"] == 3
    # exactly a page's worth: no cursor to a page that would be empty
    assert (await listing(client, limit=3))["next_cursor"] is None


async def test_pages_cover_everything_once_even_within_one_millisecond(
    client: TestClient, db: sqlite3.Connection
) -> None:
    # Ties on created_at are broken by id, so no task falls between two pages.
    ids = [insert_task(db, created_at=T0 + i // 4) for i in range(12)]
    expected = sorted(ids, key=lambda i: (T0 + ids.index(i) // 4, i), reverse=True)
    for limit in (1, 5, 12):
        pages = await all_pages(client, limit=limit)
        assert [i for page in pages for i in page] == expected
        assert all(len(page) == limit for page in pages[:-1])


async def test_the_cursor_is_stable_while_tasks_arrive(client: TestClient) -> None:
    before = [await submit(client) for _ in range(5)][::-1]
    first = await listing(client, limit=2)
    seen = [t["id"] for t in first["tasks"]]
    cursor = first["next_cursor"]
    arrived: list[str] = []
    while cursor is not None and len(arrived) < 20:
        arrived += [await submit(client), await submit(client)]
        page = await listing(client, limit=2, cursor=cursor)
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
    assert seen == before, "no task is repeated, skipped or slipped in"
    assert [t["id"] for t in (await listing(client))["tasks"]] == arrived[::-1] + before


async def test_filters(client: TestClient, db: sqlite3.Connection) -> None:
    rows = [
        ("sum", "completed"),
        ("uppercase", "failed"),
        ("sum", "failed"),
        ("sum", "queued"),
        ("uppercase", "completed"),
        ("sum", "failed"),
        ("fail", "retrying"),
        ("fail", "running"),
    ]
    ids = [
        insert_task(db, created_at=T0 + i, action=action, status=status)
        for i, (action, status) in enumerate(rows)
    ]

    def expected(action: str | None = None, status: str | None = None) -> list[str]:
        return [
            task_id
            for task_id, (a, s) in reversed(list(zip(ids, rows, strict=True)))
            if action in (None, a) and status in (None, s)
        ]

    for status in ("queued", "running", "retrying", "completed", "failed"):
        page = await listing(client, status=status)
        assert [t["id"] for t in page["tasks"]] == expected(status=status)
        assert {t["status"] for t in page["tasks"]} == {status}
    assert [t["id"] for t in (await listing(client, action="sum"))["tasks"]] == expected("sum")
    assert (await listing(client, action="unknown"))["count"] == 0
    both = await listing(client, action="sum", status="failed")
    assert [t["id"] for t in both["tasks"]] == expected("sum", "failed")
    # the cursor keeps the filter
    pages = await all_pages(client, action="sum", limit=1)
    assert [i for page in pages for i in page] == expected("sum")
    pages = await all_pages(client, status="failed", limit=2)
    assert [i for page in pages for i in page] == expected(status="failed")


async def test_bad_parameters_are_400s_that_say_why(
    client: TestClient, db: sqlite3.Connection, subtests
) -> None:
    insert_task(db, created_at=T0)
    insert_task(db, created_at=T0 + 1)
    good_cursor = (await listing(client, limit=1))["next_cursor"]
    cases = [
        (
            {"status": "done"},
            "status must be one of scheduled, queued, running, retrying, completed, failed",
        ),
        ({"status": "QUEUED"}, "status must be one of"),
        ({"limit": "0"}, "limit must be an integer from 1 to 1000"),
        ({"limit": "1001"}, "limit must be an integer from 1 to 1000"),
        ({"limit": "-1"}, "limit must be an integer"),
        ({"limit": "ten"}, "limit must be an integer"),
        ({"limit": "2.5"}, "limit must be an integer"),
        ({"limit": ""}, "limit must be an integer"),
        ({"cursor": "garbage!"}, "cursor is not valid"),
        ({"cursor": good_cursor[:-3]}, "cursor is not valid"),
        ({"cursor": "MTIzOm5vdC1hLXV1aWQ"}, "cursor is not valid"),
        ({"sort": "asc"}, "unknown query parameter: sort"),
    ]
    for params, says in cases:
        with subtests.test(params=params):
            response = await client.get("/tasks", params=params)
            assert response.status == 400
            assert response.content_type == "application/json"
            assert says in (await response.json())["error"]
