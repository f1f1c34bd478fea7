"""A consumer's reports gather while its requests to the owner wait for answers: a consumer
with many deliveries in flight sends a few large report messages, not one per loop turn."""

from __future__ import annotations

import asyncio

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from services.consumer.metrics import ConsumerMetrics
from services.consumer.owner import MAX_REQUESTS, OwnerClient
from shared.broker import declare_topology
from shared.config import Settings
from shared.names import CONTENT_TYPE
from shared.reports import Answer, Op, Report, encode_answers

pytestmark = pytest.mark.integration

REPORTS = 40


class HeldOwner:
    """Consumes the state queue and answers every report, but only once `release` is set."""

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self._connection = connection
        self.release = asyncio.Event()
        self.messages: list[int] = []  # reports per request message, in arrival order
        self._answering: set[asyncio.Task[None]] = set()

    async def start(self, settings: Settings) -> None:
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=100)
        self._exchange = channel.default_exchange
        topology = await declare_topology(channel, settings)
        await topology.state_queue.consume(self._on_request)

    async def _on_request(self, message: AbstractIncomingMessage) -> None:
        # counted at once, answered later: the next request must not wait behind this one
        # raw JSON, not decode_reports: an empty request must be seen, not refused
        reports = len(orjson.loads(message.body))
        self.messages.append(reports)
        task = asyncio.create_task(self._answer(message, reports))
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, message: AbstractIncomingMessage, reports: int) -> None:
        await self.release.wait()
        assert message.reply_to is not None
        await self._exchange.publish(
            aio_pika.Message(
                encode_answers([Answer(True, "running", 1)] * reports),
                content_type=CONTENT_TYPE,
                correlation_id=message.correlation_id,
            ),
            message.reply_to,
        )
        await message.ack()


async def test_reports_gather_while_requests_wait_for_answers(
    settings: Settings, amqp: AbstractRobustConnection
) -> None:
    assert MAX_REQUESTS >= 1
    owner = HeldOwner(amqp)
    await owner.start(settings)
    client = OwnerClient(amqp, settings, ConsumerMetrics())
    await client.start()  # its first ping is a request too
    try:
        claims = []
        for n in range(REPORTS):  # each in a loop turn of its own, as deliveries arrive
            report = Report(Op.CLAIM, f"task-{n}", f"token-{n}")
            claims.append(asyncio.create_task(client.report(report)))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.2)
        # while none is answered, no more than MAX_REQUESTS messages were sent
        held = list(owner.messages)
        assert 1 <= len(held) <= MAX_REQUESTS, held

        owner.release.set()
        answers = await asyncio.wait_for(asyncio.gather(*claims), 30)
        assert [a.applied for a in answers] == [True] * REPORTS
        await asyncio.sleep(0.2)  # a stray request sent after the last answer arrives too
        # the rest gathered while those waited: every claim was sent, in few messages
        assert sum(owner.messages) >= REPORTS and min(owner.messages) >= 1, owner.messages
        assert len(owner.messages) <= 2 * MAX_REQUESTS < REPORTS / 4, owner.messages
    finally:
        owner.release.set()
        await client.close()
