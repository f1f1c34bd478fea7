"""Settling a delivery (ack, nack, reject) when its channel may already be gone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

logger = logging.getLogger(__name__)


async def settle(settling: Awaitable[None]) -> None:
    """Await an ack, nack or reject; if the channel died meanwhile, the broker redelivers the
    message by itself, so a lost settlement is logged, not raised."""
    try:
        await settling
    except Exception as exc:  # a closed channel: the delivery returns to the queue on its own
        logger.warning("could not settle a delivery (%s); the broker will redeliver it", exc)
