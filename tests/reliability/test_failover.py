"""TASKQ_AMQP_URL as a list of nodes: connect to the first that answers, and when it dies move on
to the next in turn, without a restart. Two TCP proxies in front of the one test broker stand in
for two nodes; cutting a proxy is that node dying."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from shared.broker import ClusterConnection, connect
from shared.config import Settings
from tests.reliability.tcp_proxy import TcpProxy
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row

pytestmark = pytest.mark.integration


async def wait_for_node(connection: ClusterConnection, port: int) -> None:
    deadline = time.monotonic() + 20
    while not (connection.connected.is_set() and connection.url.port == port):
        assert time.monotonic() < deadline, f"still on {connection.node}, not on :{port}"
        await asyncio.sleep(0.05)


async def test_the_first_node_that_answers_then_the_next_in_turn(
    settings: Settings, settings_with, make_proxy: Callable[[], TcpProxy]
) -> None:
    one, two = make_proxy(), make_proxy()
    nodes = [one.url(settings.amqp_url), two.url(settings.amqp_url)]
    one.cut()
    connection = await connect(
        settings_with(settings, amqp_url=",".join(nodes), startup_timeout_s=10), name="t"
    )
    assert isinstance(connection, ClusterConnection)
    try:
        assert connection.url.port == two.port, "the first node was down"
        assert connection.url.query["heartbeat"] == str(settings.heartbeat_s)
        one.restore()
        two.cut()  # the node in use dies: the connection moves on, wrapping round to `one`
        await wait_for_node(connection, one.port)
        channel = await connection.channel()
        await channel.declare_queue(exclusive=True)  # it really works there
    finally:
        await connection.close()


def test_a_publish_cut_off_by_a_dying_node_is_sent_again_on_the_next(
    stack: Stack,
    settings: Settings,
    settings_with,
    make_proxy: Callable[[], TcpProxy],
) -> None:
    """The API keeps answering 202 across a node's death: requests wait for the next node
    (within TASKQ_PUBLISH_TIMEOUT_S) rather than fail."""
    one, two = make_proxy(), make_proxy()
    nodes = ",".join([one.url(settings.amqp_url), two.url(settings.amqp_url)])
    stack.migrate()
    api_settings = settings_with(settings, amqp_url=nodes, publish_timeout_s=10)
    stack.api(api_settings)
    stack.consumer()
    with httpx.Client(base_url=stack.api_url(), timeout=30) as client:

        def submit(text: str) -> str:
            response = client.post("/tasks", json={"action": "uppercase", "data": {"text": text}})
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        before = submit("before")
        assert one.accepted >= 1 and two.accepted == 0, "the API starts on the first node"
        one.cut()
        after = [submit(f"after {n}") for n in range(5)]
    assert two.accepted >= 1, "the API moved to the second node"
    for task_id in [before, *after]:
        assert wait_final_row(settings, task_id)["status"] == "completed"
