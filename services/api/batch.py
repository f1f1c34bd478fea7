"""POST /tasks/batch: up to MAX_BATCH tasks, all or nothing.

Every task is stored in one transaction, every message is published before any confirm is
awaited (the confirms arrive pipelined on the one channel), and the answer is 202 only once
the broker has confirmed them all. An invalid item stores nothing; a broker failure withdraws
the whole batch, as POST /tasks withdraws its one task.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from dataclasses import dataclass

import orjson
from aiohttp import web

from services.api import cancels, store, transitions
from services.api.keys import (
    dispatcher_key,
    metrics_key,
    outbox_key,
    settings_key,
    writer_key,
)
from services.api.responses import json_response
from services.api.validation import (
    Submission,
    checked_object,
    parse_idempotency_key,
    parse_json,
    parse_task,
)
from shared.clock import now_ms
from shared.errors import (
    KeyInFlightError,
    PublishError,
    QueueingError,
    UnprocessableError,
    ValidationError,
)
from shared.models import Envelope, new_task_id

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
BATCH_FIELDS = frozenset({"tasks"})
# A batch may carry more than the 1 MiB a single task may: 1,000 tasks of up to ~16 KiB each.
MAX_BATCH_BYTES = 16 * 1024 * 1024
RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class ItemError(Exception):
    """An item of the batch is invalid: nothing is stored."""

    index: int
    error: ValidationError


async def read_body(request: web.Request) -> bytes:
    """The body, up to MAX_BATCH_BYTES (the app's client_max_size is for single tasks)."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="Content-Type must be application/json")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BATCH_BYTES:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_BATCH_BYTES, actual_size=request.content_length or size
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_batch(body: bytes, timeout_limit_s: float = math.inf) -> list[Submission]:
    """`{"tasks": [task, ...]}`: ValidationError for the batch, ItemError for one item."""
    payload = checked_object(parse_json(body), BATCH_FIELDS)
    items = payload.get("tasks")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ValidationError(f"tasks must be a list of 1 to {MAX_BATCH} tasks", "tasks")
    parsed = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse_task(item, timeout_limit_s))
        except ValidationError as exc:
            raise ItemError(index, exc) from exc
    return parsed


def batch_hash(tasks: list[Submission]) -> str:
    canonical = orjson.dumps(
        [{"action": t.action, "data": t.data, "priority": t.priority} for t in tasks],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


async def create_tasks(request: web.Request) -> web.Response:
    """POST /tasks/batch."""
    body = await read_body(request)
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    try:
        tasks = parse_batch(body, request.app[settings_key].consumer_timeout_s)
    except ItemError as exc:
        status = 422 if isinstance(exc.error, UnprocessableError) else 400
        refusal: dict[str, object] = {"error": f"task {exc.index}: {exc.error.message}"}
        if exc.error.field:
            refusal["field"] = exc.error.field
        return json_response({**refusal, "index": exc.index}, status)
    app = request.app
    settings = app[settings_key]
    batch_id = new_task_id()
    ids = [new_task_id() for _ in tasks]
    rows = [
        store.BatchRow(
            i, t.action, t.data_json, t.priority.value, t.timing.run_at, t.timing.timeout_s
        )
        for i, t in zip(ids, tasks, strict=True)
    ]
    existing = await app[writer_key].run(
        store.insert_batch(
            batch_id,
            rows,
            now_ms(),
            key=key,
            request_hash=batch_hash(tasks) if key is not None else None,
            key_ttl_ms=round(settings.idempotency_ttl_s * 1000),
        )
    )
    if existing is not None:
        if existing.pending:
            raise KeyInFlightError
        return json_response(
            {"ids": existing.ids, "count": len(existing.ids)},
            202,
            {"Idempotent-Replayed": "true"},
        )
    outbox = app[outbox_key]
    # Delayed items are committed `scheduled`: the dispatcher publishes them when they are due.
    outcomes = await asyncio.gather(
        *(
            outbox.send(Envelope(i, t.action, t.data), t.priority)
            for i, t in zip(ids, tasks, strict=True)
            if t.timing.run_at is None
        ),
        return_exceptions=True,
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        for failure in failures:
            if not isinstance(failure, PublishError):
                raise failure
        await withdraw(app, batch_id, ids)
        app[metrics_key].publish_failures.inc()
        logger.warning("batch of %d not queued: %s", len(ids), failures[0])
        raise QueueingError("failed to queue the batch; nothing was queued", RETRY_AFTER_S)
    if any(t.timing.run_at is not None for t in tasks):
        app[dispatcher_key].wake()
    for task in tasks:
        app[metrics_key].submitted.labels(task.action).inc()
    return json_response({"ids": ids, "count": len(ids)}, 202)


async def withdraw(app: web.Application, batch_id: str, ids: list[str]) -> None:
    """Undo a batch the broker did not take whole: remove its rows; a task a consumer already
    claimed (its message was confirmed, only another one failed) is cancelled instead."""
    claimed = await app[writer_key].run(transitions.withdraw_batch(batch_id, ids))
    if claimed:
        await cancels.cancel(app, claimed)
