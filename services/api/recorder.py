"""The database owner's side of the consumers' reports: it consumes the state queue and this
process's inbox (shared/inbox.py), commits each request's reports in one transaction, answers
on the sender's direct reply-to address with the inbox's name, and only then acks (the inbox
has no acks). It also consumes the dead queue, so every dead letter is recorded here too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiormq
import uvloop
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from services.api import transitions
from services.api.deadletters import DeadLetters
from services.api.metrics import ApiMetrics
from shared.broker import connect, declare_topology, settle, watch_connection
from shared.clock import now_ms
from shared.config import Settings
from shared.db import BatchWriter, WriteOp
from shared.errors import InvalidMessageError
from shared.inbox import INBOX_HEADER, Inbox
from shared.names import CONTENT_TYPE, Names
from shared.reports import Answer, Op, Report, decode_reports, encode_answers

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Report messages in flight per API process: enough for the writer to gather a large batch.
REPORT_PREFETCH = 64
DEAD_PREFETCH = 16

# A claim lost in a power cut is only claimed again; a final outcome must survive one.
_NEEDS_FSYNC = frozenset({Op.COMPLETE, Op.RETRY, Op.FAIL, Op.CANCELLED})


def transition(report: Report, now: int) -> WriteOp[Answer]:
    """The state-machine operation a report asks for."""
    match report.op:
        case Op.CLAIM:
            return transitions.claim(report.task_id, report.token, now, report.rank)
        case Op.COMPLETE:
            return transitions.complete(report.task_id, report.token, report.result, now)
        case Op.RETRY:
            return transitions.retrying(report.task_id, report.token, report.error or "", now)
        case Op.FAIL:
            return transitions.fail(report.task_id, report.token, report.error or "", now)
        case Op.CANCELLED:
            return transitions.cancelled(report.task_id, report.token, now)
        case Op.PROGRESS:
            fraction, message = report.progress or (0.0, None)
            return transitions.progress(report.task_id, report.token, fraction, message, now)
        case Op.PING:
            return lambda conn: Answer(True)


def apply_all(reports: list[Report], now: int) -> WriteOp[list[Answer]]:
    """Every report of one request in one operation, so they commit together."""
    ops = [transition(report, now) for report in reports]

    def op(conn: sqlite3.Connection) -> list[Answer]:
        return [each(conn) for each in ops]

    return op


class Recorder:
    """Owns the channels that consume the state queue and the dead queue."""

    def __init__(self, settings: Settings, writer: BatchWriter, metrics: ApiMetrics) -> None:
        self._settings = settings
        self._writer = writer
        self._metrics = metrics
        self._dead = DeadLetters(writer, metrics)
        self._channel: AbstractChannel | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._inbox = Inbox(Names(settings.queue), self._on_inbox)

    async def start(self, connection: AbstractRobustConnection) -> None:
        """Start consuming; robust channels consume again by themselves after a reconnect."""
        # No confirms: an answer that is lost is asked for again, so none is worth waiting for.
        self._channel = channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=REPORT_PREFETCH)
        state_queue = (await declare_topology(channel, self._settings)).state_queue
        self._consumers.append((state_queue, await state_queue.consume(self.handle)))
        dead_channel = await connection.channel()
        await dead_channel.set_qos(prefetch_count=DEAD_PREFETCH)
        dead_queue = (await declare_topology(dead_channel, self._settings)).dead_queue
        self._consumers.append((dead_queue, await dead_queue.consume(self._dead.handle)))

    async def stop(self) -> None:
        """Stop taking reports and dead letters (bounded: the broker may be away)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.publish_timeout_s):
                for queue, tag in self._consumers:
                    with contextlib.suppress(Exception):  # a dead channel has no consumer
                        await queue.cancel(tag)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """The consume callback of the state queue."""
        answered = await self._answer(
            message.body, message.reply_to, message.correlation_id, via="state_queue"
        )
        # Not committed, the sender asks again: nothing is lost by dropping the request.
        await settle(message.ack() if answered else message.reject(requeue=False))

    async def _on_inbox(self, message: DeliveredMessage) -> None:
        """The consume callback of this process's inbox (no acks: its sender asks again)."""
        properties = message.header.properties
        await self._answer(
            message.body, properties.reply_to, properties.correlation_id, via="inbox"
        )

    async def _answer(
        self, body: bytes, reply_to: str | None, correlation_id: str | None, *, via: str
    ) -> bool:
        """Commit one request's reports together and answer them; False if not committed."""
        try:
            reports = decode_reports(body)
        except InvalidMessageError as exc:
            logger.error("dropping a malformed report message: %s", exc)
            return False
        durable = any(r.op in _NEEDS_FSYNC for r in reports)
        try:
            answers = await self._writer.run(apply_all(reports, now_ms()), durable=durable)
        except Exception:  # the edge: not committed, so not answered; the sender asks again
            logger.exception("could not commit %d reports", len(reports))
            return False
        self._metrics.report_batches.labels(via).inc()
        for report in reports:
            self._metrics.reports.labels(report.op.value).inc()
        if reply_to and self._channel is not None:
            try:
                # Straight to aiormq: aio-pika's Exchange.publish would hold the channel's lock
                # until the frame is drained, one answer per loop turn.
                channel = await self._channel.get_underlay_channel()
                assert isinstance(channel, aiormq.Channel)
                inbox = await self._inbox.name_on(channel)
                await channel.basic_publish(
                    encode_answers(answers),
                    routing_key=reply_to,
                    properties=Basic.Properties(
                        content_type=CONTENT_TYPE,
                        correlation_id=correlation_id,
                        headers={INBOX_HEADER: inbox},
                    ),
                    wait=False,
                )
            except Exception as exc:  # the sender times out and asks again; a no-op then
                logger.warning("could not answer a report message: %s", exc)
        return True


class RecorderThread:
    """Runs the recorder on an event loop and a broker connection of its own, in a thread.

    The consumers' round trips to the owner then never queue behind HTTP requests: under a
    flood of POSTs the API's loop turns slowly, and with the seed's ten deliveries in flight a
    consumer can only go as fast as its claims and outcomes are answered.
    """

    def __init__(self, settings: Settings, writer: BatchWriter, metrics: ApiMetrics) -> None:
        self._settings = settings
        self._recorder = Recorder(settings, writer, metrics)
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="taskq-recorder", daemon=True
        )
        self._connection: AbstractRobustConnection | None = None

    async def start(self) -> None:
        """Connect and start consuming, or raise what stopped it (after stopping the thread)."""
        self._thread.start()
        try:
            await self._call(self._open())
        except BaseException:
            await self._halt()
            raise

    async def stop(self) -> None:
        """Stop consuming, close the connection, end the thread."""
        try:
            await self._call(self._close())
        finally:
            await self._halt()

    async def _open(self) -> None:
        self._connection = await connect(self._settings, name="taskq-api-recorder")
        watch_connection(self._connection)
        await self._recorder.start(self._connection)

    async def _close(self) -> None:
        await self._recorder.stop()
        if self._connection is not None:
            with contextlib.suppress(Exception):  # a dead connection is closed enough
                await self._connection.close()

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def _halt(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()
