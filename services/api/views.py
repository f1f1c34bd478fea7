"""Handlers of the task endpoints and the probes."""

from __future__ import annotations

import asyncio
import hashlib
import logging

import orjson
from aiohttp import web

from services.api import queries, store, transitions
from services.api.keys import (
    dispatcher_key,
    metrics_key,
    outbox_key,
    publisher_key,
    reader_key,
    settings_key,
    writer_key,
)
from services.api.responses import json_response, require_json
from services.api.validation import (
    parse_idempotency_key,
    parse_list_query,
    parse_retry_query,
    parse_submission,
)
from shared.clock import now_ms, to_rfc3339
from shared.errors import (
    ConflictError,
    KeyInFlightError,
    NotFoundError,
    PublishError,
    QueueingError,
    ValidationError,
)
from shared.models import Envelope, is_uuid, new_task_id
from shared.names import FINAL_STATUSES, Priority, Status

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
BULK_RETRY_LIMIT = 10_000
BULK_PUBLISH_CONCURRENCY = 64


def _task_id(request: web.Request) -> str:
    task_id = request.match_info["task_id"]
    if not is_uuid(task_id):
        raise ValidationError("task id must be a UUID", "id")
    return task_id


def _queue_failed() -> QueueingError:
    return QueueingError("failed to queue task", RETRY_AFTER_S)


async def create_task(request: web.Request) -> web.Response:
    """POST /tasks: store, publish with confirm, then 202."""
    require_json(request)
    app = request.app
    settings = app[settings_key]
    submission = parse_submission(await request.read(), settings.consumer_timeout_s)
    key = parse_idempotency_key(request.headers.get("Idempotency-Key"))
    timing = submission.timing
    task_id = new_task_id()
    request_hash = None
    if key is not None:
        canonical = orjson.dumps(
            {"action": submission.action, "data": submission.data}
            # only when it is not the default, so a key's hash is the same as before lanes
            | ({"priority": submission.priority} if submission.priority != Priority.NORMAL else {}),
            option=orjson.OPT_SORT_KEYS,
        )
        request_hash = hashlib.sha256(canonical).hexdigest()
    existing = await app[writer_key].run(
        store.insert_task(
            task_id,
            submission.action,
            submission.data_json,
            now_ms(),
            key=key,
            request_hash=request_hash,
            key_ttl_ms=round(settings.idempotency_ttl_s * 1000),
            run_at=timing.run_at,
            timeout_s=timing.timeout_s,
            priority=submission.priority,
        )
    )
    if existing is not None:
        if existing.pending:
            raise KeyInFlightError
        return json_response(
            {"id": existing.id, "status": existing.status},
            202,
            {"Location": f"/tasks/{existing.id}", "Idempotent-Replayed": "true"},
        )
    if timing.run_at is not None:
        # Committed is durable: the dispatcher publishes it when it comes due.
        app[dispatcher_key].wake()
        app[metrics_key].submitted.labels(submission.action).inc()
        return json_response(
            {"id": task_id, "status": "scheduled"}, 202, {"Location": f"/tasks/{task_id}"}
        )
    envelope = Envelope(task_id, submission.action, submission.data)
    try:
        await app[outbox_key].send(envelope, submission.priority)
    except PublishError as exc:
        if await app[writer_key].run(transitions.withdraw(task_id)):
            app[metrics_key].publish_failures.inc()
            logger.warning("task not queued: %s", exc, extra={"task_id": task_id})
            raise _queue_failed() from exc
        # A consumer already claimed it: the broker had the message, only the confirm was lost.
        app[outbox_key].confirmed(task_id)
    app[metrics_key].submitted.labels(submission.action).inc()
    return json_response(
        {"id": task_id, "status": "queued"}, 202, {"Location": f"/tasks/{task_id}"}
    )


async def list_tasks(request: web.Request) -> web.Response:
    """GET /tasks: newest first, filtered, one keyset page at a time."""
    query = parse_list_query(request.query)
    tasks, following = await queries.list_tasks(
        request.app[reader_key],
        status=query.status,
        action=query.action,
        limit=query.limit,
        after=query.after,
        priority=query.priority,
    )
    return json_response(
        {
            "tasks": tasks,
            "count": len(tasks),
            "next_cursor": following.encode() if following is not None else None,
        }
    )


async def get_task(request: web.Request) -> web.Response:
    """GET /tasks/{id}."""
    task = await queries.get_task(request.app[reader_key], _task_id(request))
    if task is None:
        raise NotFoundError("task not found")
    return json_response(task)


async def delete_task(request: web.Request) -> web.Response:
    """DELETE /tasks/{id}: forget a completed or failed task, with its dead letters."""
    task_id = _task_id(request)
    status = await request.app[writer_key].run(transitions.delete_final(task_id))
    if status is None:
        raise NotFoundError("task not found")
    if status not in FINAL_STATUSES:
        raise ConflictError(f"only completed or failed tasks can be deleted; this one is {status}")
    request.app[metrics_key].purged.inc()
    return web.Response(status=204)


async def _replay(app: web.Application, ids: list[str]) -> int:
    """Requeue these failed tasks and publish them; return how many were queued."""
    writer, outbox = app[writer_key], app[outbox_key]
    requeued = await writer.run(transitions.requeue_failed(ids, now_ms()))
    gate = asyncio.Semaphore(BULK_PUBLISH_CONCURRENCY)

    async def one(task_id: str, action: str, data: str, priority: str) -> bool:
        async with gate:
            try:
                envelope = Envelope(task_id, action, orjson.loads(data))
                await outbox.send(envelope, Priority(priority))
            except PublishError as exc:
                await writer.run(transitions.restore_failed(task_id, f"replay not queued: {exc}"))
                return False
        return True

    results = await asyncio.gather(*(one(*row) for row in requeued))
    app[metrics_key].replayed.inc(sum(results))
    if not all(results):
        raise PublishError("the broker did not confirm every replayed task")
    return len(requeued)


async def retry_task(request: web.Request) -> web.Response:
    """POST /tasks/{id}/retry: a failed task goes back to the queue with fresh attempts."""
    task_id = _task_id(request)
    app = request.app
    try:
        replayed = await _replay(app, [task_id])
    except PublishError as exc:
        raise _queue_failed() from exc
    if replayed:
        return json_response(
            {"id": task_id, "status": "queued"}, 202, {"Location": f"/tasks/{task_id}"}
        )
    task = await queries.get_task(app[reader_key], task_id)
    if task is None:
        raise NotFoundError("task not found")
    raise ConflictError(f"only failed tasks can be retried; this one is {task['status']}")


async def retry_many(request: web.Request) -> web.Response:
    """POST /tasks/retry?status=failed[&action=...]: replay failed tasks in bulk."""
    action = parse_retry_query(request.query)
    app = request.app
    ids = await queries.ids_by_status(
        app[reader_key], [Status.FAILED], action, BULK_RETRY_LIMIT + 1
    )
    more = len(ids) > BULK_RETRY_LIMIT
    try:
        replayed = await _replay(app, ids[:BULK_RETRY_LIMIT])
    except PublishError as exc:
        raise _queue_failed() from exc
    return json_response({"retried": replayed, "more": more}, 202)


async def stats(request: web.Request) -> web.Response:
    """GET /stats: counts per status, queue depths, completed per minute over the last hour."""
    app = request.app
    now = now_ms()
    this_minute = now // 60000 * 60000
    since = this_minute - 59 * 60000
    reader = app[reader_key]
    counts = await queries.status_counts(reader)
    by_priority = await queries.priority_counts(reader)
    per_minute = await queries.completed_per_minute(reader, since)
    try:
        depths: dict[str, int] | None = await app[publisher_key].queue_depths()
    except Exception:  # the broker is away; the counts are still worth showing
        depths = None
    return json_response(
        {
            "counts": counts,
            "total": sum(counts.values()),
            "by_priority": by_priority,
            "queues": depths,
            "completed_per_minute": [
                {"minute": to_rfc3339(m), "count": per_minute.get(m, 0)}
                for m in range(since, this_minute + 1, 60000)
            ],
        }
    )


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop turns."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the broker connection is open and the database answers."""
    app = request.app
    broker = app[publisher_key].ready
    try:
        async with app[reader_key].execute("SELECT 1 FROM schema_migrations LIMIT 1") as cur:
            await cur.fetchone()
        database = True
    except Exception:  # any failure to read means not ready, and says so
        database = False
    ready = broker and database
    body = {"status": "ready" if ready else "not ready", "broker": broker, "database": database}
    return json_response(body, 200 if ready else 503)
