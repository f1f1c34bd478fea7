"""An owner process's inbox: reports sent straight to the API process that answered last.

The state queue is a quorum queue, so every report through it costs the broker a replicated,
fsynced log entry, and a consumer waits for two of them per task (the claim, the outcome). A
report needs none of that: the consumer holds its delivery until the owner answers, and sends
the report again when no answer comes, so a report the broker loses costs a resend and
nothing else.

So each owner process also consumes an inbox of its own: a classic queue, exclusive to its
connection, consumed without acks, named afresh on every connection. Every answer names it in
the `x-taskq-inbox` header, and the consumer sends its next reports there. The state queue stays
where a consumer finds an owner at all: the first report, the report sent again after an inbox
went quiet (its owner died, or its node restarted, which deletes the queue with the connection),
and any report while no owner answers. Only the owner's process declares its inbox, so a
restarting node stalls no one else's declare.
"""

from __future__ import annotations

import asyncio
import uuid

import aiormq
from aiormq.abc import ConsumerCallback

from shared.names import Names

INBOX_HEADER = "x-taskq-inbox"


class Inbox:
    """One owner process's inbox, declared again on each new underlying channel."""

    def __init__(self, names: Names, on_report: ConsumerCallback) -> None:
        self._names = names
        self._on_report = on_report
        self._on: aiormq.Channel | None = None
        self._name = ""
        self._tag: str | None = None
        # Reports are answered concurrently: only one may declare the inbox on a new channel.
        self._lock = asyncio.Lock()

    async def name_on(self, channel: aiormq.Channel) -> str:
        """The inbox consumed on `channel`, declared now if this channel has none (a new
        connection after a drop took the old one with it) or the broker cancelled its consumer
        (someone deleted the queue)."""
        if channel is self._on and self._tag in channel.consumers:
            return self._name  # every answer asks: no lock on the common path
        async with self._lock:
            if channel is not self._on or self._tag not in channel.consumers:
                name = self._names.inbox(uuid.uuid4().hex)
                await channel.queue_declare(
                    name, exclusive=True, auto_delete=True, arguments={"x-queue-type": "classic"}
                )
                ok = await channel.basic_consume(name, self._on_report, no_ack=True)
                self._on, self._name, self._tag = channel, name, ok.consumer_tag
            return self._name
