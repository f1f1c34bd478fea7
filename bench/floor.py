"""The broker floor: raw aio-pika with taskq's safety and message size, no HTTP, no SQLite.
`python -m bench.floor '<json spec>'` writes one JSON object to the spec's `out` file.

Publish: persistent, mandatory, confirmed, `in_flight` unconfirmed at a time, to a quorum
queue with the work queue's arguments. Consume: manual ack, one ack per message, with the
prefetch the services' consumer has in total.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import uvloop

from bench.plan import TASK_BODY
from shared.broker import task_message, work_queue_arguments
from shared.config import Settings
from shared.models import Envelope


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    n, in_flight, prefetch = spec["messages"], spec["in_flight"], spec["prefetch"]
    settings = Settings(amqp_url=spec["amqp_url"], queue=spec["queue"])
    body = Envelope(str(uuid.uuid4()), TASK_BODY["action"], TASK_BODY["data"]).encode()
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        queue = await channel.declare_queue(
            settings.queue, durable=True, arguments=work_queue_arguments(settings)
        )
        await queue.purge()
        exchange = channel.default_exchange
        gate = asyncio.Semaphore(in_flight)

        async def publish_one(i: int) -> None:
            async with gate:
                await exchange.publish(
                    task_message(body, f"floor-{i}", 0), settings.queue, mandatory=True
                )

        started = time.perf_counter()
        await asyncio.gather(*(publish_one(i) for i in range(n)))
        publish_s = time.perf_counter() - started

        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=prefetch)
        consume_queue = await consume_channel.get_queue(settings.queue)
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == n:
                done.set()

        started = time.perf_counter()
        tag = await consume_queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=300)
        consume_s = time.perf_counter() - started
        await consume_queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()
    return {
        "messages": n,
        "message_bytes": len(body),
        "in_flight": in_flight,
        "prefetch": prefetch,
        "publish_per_s": n / publish_s,
        "consume_per_s": n / consume_s,
    }


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    Path(spec["out"]).write_bytes(orjson.dumps(uvloop.run(run(spec))))


if __name__ == "__main__":
    main()
