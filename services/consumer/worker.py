"""Handling one delivery of the work queue: claim, run, record, and only then acknowledge."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import orjson
import uuid_utils
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from services.consumer.cancels import ActionCancelled, Cancels
from services.consumer.limits import run_limited, time_limit
from services.consumer.metrics import ConsumerMetrics
from services.consumer.progress import TaskProgress
from shared.actions import ActionContext, ActionFailed, registry
from shared.broker import (
    connection_lost,
    delivery_rank,
    publish_confirmed,
    settle,
    task_message,
)
from shared.config import Settings
from shared.errors import InvalidMessageError, PublishError
from shared.logs import current_task_id
from shared.models import Envelope
from shared.names import Names, Status
from shared.reports import Answer, Op, Report

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


class Owner(Protocol):
    """Who commits a report and answers it: the API through the broker (owner.OwnerClient),
    or a stub in tests."""

    async def report(self, report: Report, /) -> Answer: ...


class Worker:
    def __init__(
        self,
        settings: Settings,
        owner: Owner,
        retry_exchange: AbstractExchange,
        metrics: ConsumerMetrics,
        cancels: Cancels | None = None,
    ) -> None:
        self._settings = settings
        self.cancels = cancels or Cancels()
        self._owner = owner
        self._retry_exchange = retry_exchange
        self._metrics = metrics
        self._names = Names(settings.queue)
        self.in_flight: set[asyncio.Task[object]] = set()

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """The consume callback; aio-pika runs one of these per delivery, concurrently."""
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        self._metrics.in_flight.inc()
        try:
            await self._handle(message)
        except Exception:  # the edge: never let one delivery take the consumer down
            logger.exception("delivery failed; returning it to the queue")
            await settle(message.nack(requeue=True))
        except asyncio.CancelledError as exc:
            if not connection_lost(exc):
                raise  # shutdown: unacked, the delivery returns with the channel
            # never leave a delivery unsettled on a live channel: it would wait there forever
            logger.warning("the broker connection dropped under a delivery; returning it")
            await settle(message.nack(requeue=True))
        finally:
            self._metrics.in_flight.dec()
            self.in_flight.discard(task)
            current_task_id.set(None)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.decode(message.body)
        except InvalidMessageError as exc:
            logger.error("poison message sent to the dead-letter exchange: %s", exc)
            self._metrics.poison.inc()
            await settle(message.reject(requeue=False))
            return
        current_task_id.set(envelope.id)
        # Unique to this delivery: the owner knows a resent report of it by this token.
        token = uuid_utils.uuid4().hex
        rank = delivery_rank(message.headers)
        claim = await self._owner.report(Report(Op.CLAIM, envelope.id, token, rank=rank))
        if not claim.applied:
            why = "unknown" if claim.status is None else "duplicate"
            # unknown: the API withdrew the task after its publish failed (answered 503);
            # duplicate: the task is final already, this is a redelivery or an outbox resend;
            # cancelled: it was cancelled before it could run.
            why = "cancelled" if claim.status == Status.CANCELLED else why
            logger.info("skipping delivery (%s task)", why, extra={"status": claim.status})
            self._metrics.skipped.labels(why).inc()
            await settle(message.ack())
            return
        started = time.perf_counter()
        if self._settings.work_delay_ms:
            await asyncio.sleep(self._settings.work_delay_ms / 1000)
        # The task as stored, not as the message says: the database is the truth.
        assert claim.action is not None and isinstance(claim.data, dict)
        action = registry.get(claim.action)
        limit = time_limit(claim.timeout_s, action, self._settings)
        progress = TaskProgress(self._owner, envelope.id, token)
        context = ActionContext(envelope.id, claim.attempts, progress)
        attempt = run_limited(action, claim.data, context, limit, self._settings.consumer_timeout_s)
        try:
            result = _checked(await self.cancels.run(envelope.id, attempt))
        except ActionCancelled:
            progress.close()
            await self._owner.report(Report(Op.CANCELLED, envelope.id, token))
            await settle(message.ack())
            self._metrics.processed.labels(claim.action, "cancelled").inc()
            logger.info("task cancelled", extra={"attempt": claim.attempts})
        except Exception as exc:  # an action's failure is the task's, not ours
            progress.close()
            await self._failed(message, envelope, token, claim, _describe(exc))
        else:
            progress.close()
            await self._owner.report(Report(Op.COMPLETE, envelope.id, token, result=result))
            await settle(message.ack())
            self._metrics.processed.labels(claim.action, "completed").inc()
            logger.debug("task completed", extra={"attempt": claim.attempts})
        self._metrics.duration.labels(claim.action).observe(time.perf_counter() - started)

    async def _failed(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope,
        token: str,
        claim: Answer,
        error: str,
    ) -> None:
        settings = self._settings
        if claim.attempts < settings.max_attempts:
            delay = settings.retry_delay_s(claim.attempts)
            marked = await self._owner.report(Report(Op.RETRY, envelope.id, token, error=error))
            if not marked.applied:
                # Another delivery of the task holds it now; that one decides what happens.
                await settle(message.ack())
                return
            # Back to the lane it came from (a retry queue dead-letters to its lane's key).
            queue = self._names.retry_queue(delay, self._names.priority_of(message.routing_key))
            try:
                await publish_confirmed(
                    self._retry_exchange,
                    task_message(message.body, envelope.id, claim.attempts),
                    queue,
                    settings.publish_timeout_s,
                )
            except PublishError as exc:
                # Not acked, so the broker still holds the delivery and will offer it again.
                logger.warning("could not schedule the retry: %s", exc)
                await settle(message.nack(requeue=True))
                return
            await settle(message.ack())
            self._metrics.retries.inc()
            self._metrics.processed.labels(claim.action, "retried").inc()
            logger.info(
                "attempt failed, retrying in %gs",
                delay,
                extra={"attempt": claim.attempts, "error": error},
            )
            return
        failed = await self._owner.report(Report(Op.FAIL, envelope.id, token, error=error))
        if not failed.applied:
            await settle(message.ack())
            return
        # Rejected without requeue, the message dead-letters to <queue>.dlx → <queue>.dead.
        await settle(message.reject(requeue=False))
        self._metrics.processed.labels(claim.action, "failed").inc()
        logger.warning("task failed", extra={"attempt": claim.attempts, "error": error})


def _checked(result: object) -> dict[str, Any]:
    """An action's result as the owner will store it: a JSON object, or the attempt fails."""
    if not isinstance(result, dict):
        raise TypeError(f"the action returned {type(result).__name__}, not a JSON object")
    orjson.dumps(result)  # raises TypeError for what JSON cannot carry
    return result


def _describe(exc: Exception) -> str:
    # ActionFailed carries the action's own words; anything else is named by its type.
    if isinstance(exc, ActionFailed):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_LENGTH]
