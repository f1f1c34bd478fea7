"""The design floor: the real consumer against an owner that costs nothing. No HTTP, no SQLite.
`python -m bench.owner_floor '<json spec>'` writes one JSON object to the spec's `out` file.

This process does what the API does on the broker, and nothing else: it publishes `tasks`
tasks (persistent, mandatory, confirmed, `in_flight` at a time) and answers the consumers'
reports at once (every claim applied, every outcome committed), without a database: on the
state queue and, like the API, on an inbox of its own (shared/inbox.py). The consumers are
real `taskq-consumer` processes started by the section. How fast tasks complete here bounds
what any API could reach with this message flow on this machine.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import orjson
import uvloop
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from bench.plan import TASK_BODY
from shared.broker import declare_topology, task_message
from shared.config import Settings
from shared.inbox import INBOX_HEADER, Inbox
from shared.models import Envelope
from shared.names import CONTENT_TYPE, Names
from shared.reports import Answer, Op, Report, decode_reports, encode_answers

DONE_TIMEOUT_S = 300


def answer(report: Report) -> Answer:
    """What the owner would answer after its commit, with nothing to commit."""
    if report.op is Op.CLAIM:
        return Answer(True, "running", 1, TASK_BODY["action"], TASK_BODY["data"])
    if report.op is Op.COMPLETE:
        return Answer(True, "completed", 1)
    return Answer(True)


async def consumers_on(channel: AbstractChannel, queue: str) -> int:
    """How many consumers the broker counts on `queue` (a passive declare: polled, no event)."""
    declared = await channel.declare_queue(queue, passive=True)
    return int(declared.declaration_result.consumer_count or 0)


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    n, in_flight = spec["tasks"], spec["in_flight"]
    settings = Settings(amqp_url=spec["amqp_url"], queue=spec["queue"])
    names = Names(settings.queue)
    connection = await aio_pika.connect(settings.amqp_url)
    completed = 0
    done = asyncio.Event()
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_topology(channel, settings)
        reports = await connection.channel(publisher_confirms=False)
        await reports.set_qos(prefetch_count=64)
        state_queue = await reports.get_queue(names.state_queue)

        raw = await reports.get_underlay_channel()
        assert isinstance(raw, aiormq.Channel)

        async def answer_all(body: bytes, reply_to: str | None, correlation_id: str | None) -> None:
            nonlocal completed
            asked = decode_reports(body)
            if reply_to:
                await raw.basic_publish(
                    encode_answers([answer(r) for r in asked]),
                    routing_key=reply_to,
                    properties=Basic.Properties(
                        content_type=CONTENT_TYPE,
                        correlation_id=correlation_id,
                        headers={INBOX_HEADER: await inbox.name_on(raw)},
                    ),
                    wait=False,
                )
            completed += sum(r.op is Op.COMPLETE for r in asked)
            if completed >= n:
                done.set()

        async def on_report(message: AbstractIncomingMessage) -> None:
            await answer_all(message.body, message.reply_to, message.correlation_id)
            await message.ack()

        async def on_inbox(message: DeliveredMessage) -> None:
            properties = message.header.properties
            await answer_all(message.body, properties.reply_to, properties.correlation_id)

        inbox = Inbox(names, on_inbox)
        await state_queue.consume(on_report)
        # the clock starts once the section's consumers consume (they start after this process,
        # and are ready only once it answers their pings)
        while await consumers_on(channel, names.work_queue) < spec["consumers"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        gate = asyncio.Semaphore(in_flight)

        async def publish_one() -> None:
            task_id = str(uuid.uuid4())
            body = Envelope(task_id, TASK_BODY["action"], TASK_BODY["data"]).encode()
            async with gate:
                await channel.default_exchange.publish(
                    task_message(body, task_id, 0), names.work_queue, mandatory=True
                )

        started, cpu_before = time.perf_counter(), time.process_time()
        await asyncio.gather(*(publish_one() for _ in range(n)))
        published_s = time.perf_counter() - started
        await asyncio.wait_for(done.wait(), DONE_TIMEOUT_S)
        elapsed_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_before
    finally:
        await connection.close()
    return {
        "tasks": n,
        "in_flight": in_flight,
        "published_per_s": n / published_s,
        "completed_per_s": n / elapsed_s,
        "owner_cpu_ms_per_task": cpu_s * 1000 / n,
    }


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    Path(spec["out"]).write_bytes(orjson.dumps(uvloop.run(run(spec))))


if __name__ == "__main__":
    main()
