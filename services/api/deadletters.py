"""Consuming the dead queue: every dead message is recorded and its task shown `failed`."""

from __future__ import annotations

import logging
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from services.api import transitions
from services.api.metrics import ApiMetrics
from shared.broker import settle
from shared.clock import now_ms
from shared.db import BatchWriter
from shared.errors import InvalidMessageError
from shared.models import Envelope

logger = logging.getLogger(__name__)

MAX_KEPT_BODY = 4096


def death_reason(headers: dict[str, Any] | None) -> str:
    """Why the broker dead-lettered the message (rejected, delivery_limit, expired, maxlen)."""
    headers = headers or {}
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        reason = deaths[0].get("reason")
        if reason:
            return reason.decode() if isinstance(reason, bytes) else str(reason)
    first = headers.get("x-first-death-reason")
    if first:
        return first.decode() if isinstance(first, bytes) else str(first)
    return "unknown"


class DeadLetters:
    def __init__(self, writer: BatchWriter, metrics: ApiMetrics) -> None:
        self._writer = writer
        self._metrics = metrics

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """The consume callback of the dead queue: record, then ack."""
        reason = death_reason(message.headers)
        body = message.body[:MAX_KEPT_BODY].decode("utf-8", errors="replace")
        task_id: str | None
        try:
            task_id = Envelope.decode(message.body).id
        except InvalidMessageError as exc:
            task_id, reason = None, f"invalid message ({exc}); {reason}"
        try:
            await self._writer.run(transitions.record_dead_letter(task_id, reason, body, now_ms()))
        except Exception:  # not recorded, so not acked: it stays in the dead queue
            logger.exception("could not record a dead letter", extra={"task_id": task_id})
            await settle(message.nack(requeue=True))
            return
        await settle(message.ack())
        self._metrics.dead_letters.labels(reason.split(" ", 1)[0]).inc()
        logger.warning("dead letter recorded: %s", reason, extra={"task_id": task_id})
