"""Fixtures of the reliability suite: a TCP proxy in front of the broker, an API behind one, and
HTTP clients."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from shared.config import Settings
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.broker import Broker
from tests.support.processes import Stack


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
def api_via_proxy(
    stack: Stack, settings: Settings, make_proxy: Callable[[], TcpProxy]
) -> Callable[..., TcpProxy]:
    """`api_via_proxy(publish_timeout_s=1)`: a migrated database, the API reaching the broker
    through a new proxy (its settings changed by the keywords) and a consumer connected directly;
    returns the proxy, for the test to cut or freeze."""

    def start(**overrides: Any) -> TcpProxy:
        proxy = make_proxy()
        stack.migrate()
        stack.api(dataclasses.replace(settings, amqp_url=proxy.url(settings.amqp_url), **overrides))
        stack.consumer()
        return proxy

    return start


@pytest.fixture
def client(settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client of the API at the test's port (start the API before using it)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=30) as http:
        yield http
