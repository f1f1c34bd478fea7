"""When the owner declares its inbox again (shared/inbox.py): fast, with a stand-in channel."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiormq
from pamqp.commands import Basic

from shared.inbox import Inbox
from shared.names import Names


class FakeChannel:
    """What Inbox uses of an aiormq channel: declares, consumes, and the consumers it holds."""

    def __init__(self) -> None:
        self.consumers: dict[str, Any] = {}
        self.declared: list[str] = []

    async def queue_declare(self, name: str, **options: Any) -> None:
        assert options == {
            "exclusive": True,
            "auto_delete": True,
            "arguments": {"x-queue-type": "classic"},
        }
        self.declared.append(name)

    async def basic_consume(self, name: str, callback: Any, *, no_ack: bool) -> Basic.ConsumeOk:
        assert no_ack
        tag = f"ctag-{len(self.declared)}"
        self.consumers[tag] = callback
        return Basic.ConsumeOk(tag)


async def on_report(message: Any) -> None:
    return None


def test_one_inbox_per_channel_and_a_new_one_when_its_consumer_is_cancelled() -> None:
    async def scenario() -> None:
        inbox = Inbox(Names("tasks"), on_report)
        first, second = FakeChannel(), FakeChannel()
        name = await inbox.name_on(cast(aiormq.Channel, first))
        assert name.startswith("tasks.state.")
        # concurrent answers on one channel share one inbox
        names = await asyncio.gather(
            *(inbox.name_on(cast(aiormq.Channel, first)) for _ in range(5))
        )
        assert set(names) == {name} and first.declared == [name]
        # a new channel (the connection came back): a new inbox, under a new name
        renewed = await inbox.name_on(cast(aiormq.Channel, second))
        assert renewed != name and second.declared == [renewed]
        # the broker cancelled its consumer (`rabbitmqctl delete_queue`): declared again
        second.consumers.clear()
        again = await inbox.name_on(cast(aiormq.Channel, second))
        assert again not in {name, renewed} and second.declared == [renewed, again]

    asyncio.run(scenario())
