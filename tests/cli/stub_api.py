"""A stand-in taskq API on 127.0.0.1 that answers every CLI call with canned JSON and remembers
what it was asked, for CLI tests that need no broker, database or services."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# long enough that a table of any usual width cuts it
LONG_ACTION = "uppercase_then_a_name_long_enough_that_every_terminal_table_must_cut_it_short"
TASK_ID = "3f2a0000-0000-4000-8000-00000000abcd"
TASK: dict[str, Any] = {
    "id": TASK_ID,
    "action": LONG_ACTION,
    "data": {"text": "hello " * 30},
    "status": "completed",
    "result": {"output": "HELLO " * 30},
    "error": None,
    "attempts": 1,
    "created_at": "2026-11-29T11:13:33.377Z",
    "started_at": "2026-11-29T11:13:33.380Z",
    "processed_at": "2026-11-29T11:13:34.484Z",
}
FAILED_TASK = {
    **TASK,
    "status": "failed",
    "result": None,
    "error": "upstream timed out\tafter 30 s\nand gave up, " + "so it goes " * 20,
    "attempts": 3,
}
LONG_QUEUE = "taskq.tasks.a_queue_name_long_enough_to_be_cut_in_a_narrow_table"
STATS: dict[str, Any] = {
    "counts": {"queued": 1, "running": 0, "retrying": 0, "completed": 7, "failed": 2},
    "total": 10,
    "queues": {"taskq.tasks": 1, LONG_QUEUE: 0},
    "completed_per_minute": [
        {"minute": f"2026-11-29T10:{m:02d}:00.000Z", "count": m % 3} for m in range(60)
    ],
}


@dataclass
class StubApi:
    url: str
    tasks: list[dict[str, Any]] = field(default_factory=lambda: [dict(TASK)])
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(method, path, Authorization header) of every request, in order."""
    batched: int = 0
    """Tasks submitted through /tasks/batch so far."""

    def answer(self, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        route = urlsplit(path).path
        if method == "POST" and route == "/tasks/batch":
            count = len(json.loads(body)["tasks"])
            self.batched += count
            ids = [f"{TASK_ID[:24]}{self.batched - n:012d}" for n in range(count)]
            return 202, {"ids": ids, "count": count}
        if method == "POST" and route == "/tasks/cancel":
            return 200, {"count": 3, "cancelled": 2, "cancel_requested": 1, "more": False}
        if method == "POST" and route.endswith("/cancel"):
            return 202, {"id": TASK_ID, "status": "running", "cancel_requested": True}
        if method == "GET" and route == "/tasks":
            return 200, {"tasks": self.tasks, "count": len(self.tasks), "next_cursor": None}
        if method == "GET" and route == "/stats":
            return 200, STATS
        if method == "GET" and route.startswith("/tasks/"):
            return 200, self.tasks[0]
        if method == "POST" and route == "/tasks":
            return 202, {"id": TASK_ID, "status": "queued"}
        if method == "POST" and route == "/tasks/retry":
            return 202, {"retried": 2, "more": False}
        if method == "POST" and route.endswith("/retry"):
            return 202, {"id": TASK_ID, "status": "queued"}
        return 404, {"error": "not found"}


@contextmanager
def stub_api() -> Iterator[StubApi]:
    stub = StubApi(url="")

    class Handler(BaseHTTPRequestHandler):
        def respond(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            stub.seen.append((self.command, self.path, self.headers.get("Authorization")))
            status, payload = stub.answer(self.command, self.path, body)
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = respond

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the CLI's stderr is what the tests read

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
