"""`taskq submit --count N`: submit many tasks at once (through POST /tasks/batch) and follow
them to the end."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.batches import BATCH
from services.cli.client import FINAL, TIMEOUT_S, ApiError, check, describe, headers

CONCURRENCY = 16
POLL_S = 0.5


async def submit_and_follow(
    url: str,
    token: str | None,
    action: str,
    data: dict[str, Any],
    count: int,
    console: Console,
    priority: str = "normal",
) -> Counter[str]:
    """Submit `count` tasks, show their progress, and return how many ended in each status."""
    gate = asyncio.Semaphore(CONCURRENCY)
    outcome: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url, headers=headers(token), timeout=TIMEOUT_S) as http:

        async def call(method: str, path: str, **kwargs: Any) -> Any:
            async with gate:
                try:
                    return check(await http.request(method, path, **kwargs))
                except httpx.HTTPError as exc:
                    raise ApiError(describe(exc, url)) from None

        columns = (
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            queued = progress.add_task("submitted", total=count, detail="")
            done = progress.add_task("finished", total=count, detail="")

            task = {"action": action, "data": data, "priority": priority}

            async def submit(size: int) -> list[str]:
                accepted = await call("POST", "/tasks/batch", json={"tasks": [task] * size})
                progress.advance(queued, size)
                return [str(i) for i in accepted["ids"]]

            sizes = [min(BATCH, count - start) for start in range(0, count, BATCH)]
            batches = await asyncio.gather(*(submit(size) for size in sizes))
            pending = {task_id for ids in batches for task_id in ids}

            async def status(task_id: str) -> str:
                return str((await call("GET", f"/tasks/{task_id}"))["status"])

            while pending:
                ids = sorted(pending)
                for task_id, now in zip(ids, await asyncio.gather(*map(status, ids)), strict=True):
                    if now in FINAL:
                        pending.discard(task_id)
                        outcome[now] += 1
                        progress.advance(done)
                detail = ", ".join(f"{n} {s}" for s, n in sorted(outcome.items()))
                progress.update(done, detail=detail)
                if pending:
                    await asyncio.sleep(POLL_S)
    return outcome
