"""`taskq submit --count N`: submit many tasks at once and follow them to the end."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.client import FINAL, TIMEOUT_S, ApiError, check, describe, headers

CONCURRENCY = 16
POLL_S = 0.5


async def submit_and_follow(
    url: str, token: str | None, action: str, data: dict[str, Any], count: int, console: Console
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

            async def submit() -> str:
                accepted = await call("POST", "/tasks", json={"action": action, "data": data})
                progress.advance(queued)
                return str(accepted["id"])

            pending = set(await asyncio.gather(*(submit() for _ in range(count))))

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
