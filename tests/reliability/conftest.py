"""Fixtures of the reliability suite: a TCP proxy in front of the broker, and HTTP clients."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator

import httpx
import pytest

from shared.config import Settings
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.broker import Broker


@pytest.fixture
def make_proxy(broker: Broker) -> Iterator[Callable[[], TcpProxy]]:
    """`make_proxy()` starts a proxy to the test broker; all are closed after the test."""
    made: list[TcpProxy] = []
    parts = urllib.parse.urlsplit(broker.amqp_url)

    def make() -> TcpProxy:
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
        made.append(proxy)
        return proxy.start()

    yield make
    for proxy in reversed(made):
        proxy.close()


@pytest.fixture
def client(settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the API at the test's port (start the API before using it)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=30) as http:
        yield http
