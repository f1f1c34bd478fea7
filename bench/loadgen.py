"""The open-loop load generator and the listing's timer, run as a process of its own so it does
not share an event loop (or a core's time slice) with the benchmark's bookkeeping:
`python -m bench.loadgen '<json spec>'` writes one JSON object of results to the spec's `out`
file. (Closed-loop load,
N POSTs as fast as the answers come back, is wrk's job: bench/wrk.py.)

Modes: `open` sends POSTs at a constant offered rate and times each from its scheduled send
time, so a slow server is charged for the requests it kept waiting (wrk2's correction for
coordinated omission; wrk2 is not packaged in Debian); `get` times sequential GETs of a few URLs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import uvloop

from bench.plan import TASK_BODY

BODY = orjson.dumps(TASK_BODY)
HEADERS = {"Content-Type": "application/json"}
REQUEST_TIMEOUT_S = 30


def _session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        skip_auto_headers=("User-Agent",),
    )


async def _post(session: aiohttp.ClientSession, url: str) -> int:
    try:
        async with session.post(url, data=BODY, headers=HEADERS) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0  # 0 counts as a transport error


async def open_loop(url: str, rate: float, seconds: float, connections: int) -> dict[str, Any]:
    total = round(rate * seconds)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    async with _session(connections) as session:

        async def one(scheduled: float) -> None:
            status = await _post(session, url)
            latencies.append((loop.time() - scheduled) * 1000)
            statuses[status] += 1

        pending: set[asyncio.Task[None]] = set()
        start = loop.time() + 0.05
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(scheduled))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=REQUEST_TIMEOUT_S)
        elapsed = loop.time() - start
    ok = statuses[202]
    return {
        "offered_per_s": rate,
        "sent": total,
        "status": {str(k): v for k, v in statuses.items()},
        "errors": total - ok,
        "achieved_per_s": ok / elapsed,
        "latencies_ms": latencies,
    }


async def sequential_gets(urls: dict[str, str], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with _session(1) as session:
        for name, url in urls.items():
            times: list[float] = []
            statuses: Counter[int] = Counter()
            for i in range(repeat + 5):
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if i >= 5:  # the first few warm the page cache and the connection
                    times.append(elapsed)
                    statuses[response.status] += 1
            out[name] = {"latencies_ms": times, "status": {str(k): v for k, v in statuses.items()}}
    return out


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    mode = spec["mode"]
    if mode == "open":
        return await open_loop(spec["url"], spec["rate"], spec["seconds"], spec["connections"])
    if mode == "get":
        return await sequential_gets(spec["urls"], spec["repeat"])
    raise ValueError(f"unknown mode {mode!r}")


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    Path(spec["out"]).write_bytes(orjson.dumps(uvloop.run(run(spec))))


if __name__ == "__main__":
    main()
