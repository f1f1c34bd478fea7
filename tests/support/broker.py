"""Where the tests' broker comes from, and a vhost of their own on it."""

from __future__ import annotations

import os
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Broker:
    amqp_url: str  # with the test vhost
    mgmt_url: str  # http://user:pass@host:15672
    vhost: str

    def api(self) -> httpx.Client:
        parts = urllib.parse.urlsplit(self.mgmt_url)
        base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}"
        auth = (
            urllib.parse.unquote(parts.username or "guest"),
            urllib.parse.unquote(parts.password or "guest"),
        )
        return httpx.Client(base_url=base, auth=auth, timeout=10)

    def queue(self, name: str) -> dict:
        """The management API's view of one queue in the test vhost."""
        with self.api() as api:
            response = api.get(f"/api/queues/{_quote(self.vhost)}/{_quote(name)}")
            response.raise_for_status()
            return response.json()

    def queues(self) -> list[dict]:
        with self.api() as api:
            response = api.get(f"/api/queues/{_quote(self.vhost)}")
            response.raise_for_status()
            return response.json()

    def delete_prefixed(self, prefix: str) -> None:
        """Delete the queues and exchanges named `prefix` or `prefix.*` in the test vhost."""
        vhost = _quote(self.vhost)
        with self.api() as api:
            for kind in ("queues", "exchanges"):
                listed = api.get(f"/api/{kind}/{vhost}", params={"columns": "name"})
                if listed.status_code != 200:
                    continue
                for item in listed.json():
                    name = item["name"]
                    if name == prefix or name.startswith(prefix + "."):
                        api.delete(f"/api/{kind}/{vhost}/{_quote(name)}")

    def close_all_connections(self) -> int:
        """Force-close every connection in the test vhost (like `rabbitmqctl close_all_connections`)."""
        closed = 0
        with self.api() as api:
            for conn in api.get(f"/api/vhosts/{_quote(self.vhost)}/connections").json():
                api.delete(
                    f"/api/connections/{_quote(conn['name'])}",
                    headers={"X-Reason": "taskq test: forced close"},
                )
                closed += 1
        return closed


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextmanager
def vhost_on(amqp_url: str, mgmt_url: str) -> Iterator[Broker]:
    """A fresh vhost on the broker for this test run, deleted afterwards."""
    parts = urllib.parse.urlsplit(amqp_url)
    user = urllib.parse.unquote(parts.username or "guest")
    vhost = f"taskq-test-{uuid.uuid4().hex[:8]}"
    broker = Broker(
        amqp_url=urllib.parse.urlunsplit(parts._replace(path="/" + _quote(vhost))),
        mgmt_url=mgmt_url,
        vhost=vhost,
    )
    with broker.api() as api:
        api.put(f"/api/vhosts/{_quote(vhost)}").raise_for_status()
        api.put(
            f"/api/permissions/{_quote(vhost)}/{_quote(user)}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
    try:
        yield broker
    finally:
        with broker.api() as api:
            api.delete(f"/api/vhosts/{_quote(vhost)}")


@contextmanager
def test_broker() -> Iterator[Broker | None]:
    """TASKQ_TEST_AMQP_URL if set; else a testcontainers RabbitMQ where Docker runs; else None."""
    url = os.environ.get("TASKQ_TEST_AMQP_URL")
    if url:
        parts = urllib.parse.urlsplit(url)
        default_mgmt = (
            f"http://{parts.username or 'guest'}:{parts.password or 'guest'}@{parts.hostname}:15672"
        )
        with vhost_on(url, os.environ.get("TASKQ_TEST_MGMT_URL", default_mgmt)) as broker:
            yield broker
        return
    if not docker_available():
        yield None
        return
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(5672, 15672) as container:
        host = container.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/"
        mgmt = f"http://guest:guest@{host}:{container.get_exposed_port(15672)}"
        with vhost_on(amqp, mgmt) as broker:
            yield broker
