"""Once the owner has answered, a consumer's reports take that API process's inbox
(shared/inbox.py) instead of the quorum state queue; when the process dies, its inbox goes with
it, and the consumer finds the next API process through the state queue by itself."""

from __future__ import annotations

import httpx
import pytest

from shared.config import Settings
from shared.names import Names
from tests.support.broker import Broker
from tests.support.observe import consumer_metric, metric, query
from tests.support.processes import Stack
from tests.support.waiting import wait_final_row, wait_until

pytestmark = pytest.mark.integration

TASKS = 30
# Under a loaded machine an inbox request may go unanswered for INBOX_WAIT_S and be asked again
# through the state queue; most must not.
MOST = 0.9


def through(settings: Settings, via: str) -> float:
    """Report messages this API process committed, by the queue they came through."""
    return metric(settings.http_port, "taskq_report_messages_total", via=via)


def inboxes(broker: Broker, settings: Settings) -> list[dict[str, object]]:
    prefix = Names(settings.queue).inbox("")
    return [q for q in broker.queues() if str(q["name"]).startswith(prefix)]


def submit_all_and_wait(client: httpx.Client, settings: Settings) -> None:
    ids = []
    for n in range(TASKS):
        accepted = client.post("/tasks", json={"action": "uppercase", "data": {"text": f"{n}"}})
        assert accepted.status_code == 202, accepted.text
        ids.append(accepted.json()["id"])
    for task_id in ids:
        row = wait_final_row(settings, task_id)
        assert (row["status"], row["attempts"]) == ("completed", 1), dict(row)


def test_reports_take_the_inbox_and_find_a_restarted_owner(
    stack: Stack, settings: Settings, client: httpx.Client, broker: Broker
) -> None:
    stack.migrate()
    api = stack.api()
    stack.consumer()
    [inbox] = inboxes(broker, settings)
    # one process's own, gone with its connection, never written to disk
    assert (inbox["exclusive"], inbox["auto_delete"], inbox["durable"], inbox["type"]) == (
        True,
        True,
        False,
        "classic",
    ), inbox

    # The consumer became ready when the API answered it through the state queue.
    assert through(settings, "state_queue") >= 1
    state_before = through(settings, "state_queue")
    submit_all_and_wait(client, settings)
    by_inbox = through(settings, "inbox")
    by_state = through(settings, "state_queue") - state_before
    assert by_inbox >= 1 and by_inbox / (by_inbox + by_state) >= MOST, (by_inbox, by_state)
    # the consumer times each answered message: no more than the API committed (a resent copy is
    # committed again, answered once), and each a positive wait
    answered = consumer_metric(settings, "taskq_owner_answer_seconds_count")
    waited = consumer_metric(settings, "taskq_owner_answer_seconds_sum")
    assert 1 <= answered <= through(settings, "inbox") + through(settings, "state_queue")
    assert waited > 0, waited

    api.kill()
    wait_until(lambda: not inboxes(broker, settings), 10, "the dead API's inbox to go")
    stack.api()
    # its inbox is new (declared with its first answer), and the consumer's reports move to it
    [second] = wait_until(lambda: inboxes(broker, settings), 15, "the new API's inbox")
    assert second["name"] != inbox["name"]
    submit_all_and_wait(client, settings)
    assert through(settings, "inbox") >= 1
    rows = query(settings, "SELECT status, count(*) AS n FROM tasks GROUP BY status")
    assert [tuple(row) for row in rows] == [("completed", 2 * TASKS)]
