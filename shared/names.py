"""The single home of every name that appears on the wire: queues, exchanges, headers, statuses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """A task's lifecycle state as stored in SQLite and shown by the API."""

    SCHEDULED = "scheduled"  # a delayed task, waiting in SQLite for its run_at
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    """A task's lane: high-priority tasks have a work queue of their own."""

    NORMAL = "normal"
    HIGH = "high"


FINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
# States a cancel ends at once (the message, when delivered, is acked without running); a
# running task is only asked to stop.
CANCELLABLE_STATUSES = frozenset({Status.SCHEDULED, Status.QUEUED, Status.RETRYING})
# States from which a delivery may (re)claim a task: `running` is here because a consumer that
# died mid-task leaves it so, and the broker's redelivery must be able to finish it.
CLAIMABLE_STATUSES = frozenset({Status.QUEUED, Status.RETRYING, Status.RUNNING})

HEADER_ATTEMPT = "x-taskq-attempt"
CONTENT_TYPE = "application/json"


def format_delay(delay_s: float) -> str:
    """`1.0` → `1s`, `0.25` → `250ms`: the suffix of a retry queue's name."""
    ms = round(delay_s * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


@dataclass(frozen=True, slots=True)
class Names:
    """Every exchange and queue name derived from the base name (TASKQ_QUEUE)."""

    base: str

    @property
    def exchange(self) -> str:
        """The direct exchange that tasks are published to."""
        return self.base

    @property
    def work_queue(self) -> str:
        """The quorum queue consumers take tasks from."""
        return self.base

    @property
    def routing_key(self) -> str:
        """The binding key of the work queue on the work exchange."""
        return self.base

    @property
    def dlx(self) -> str:
        """The dead-letter exchange (fanout, so any routing key lands in the dead queue)."""
        return f"{self.base}.dlx"

    @property
    def dead_queue(self) -> str:
        """Where tasks end that failed for good."""
        return f"{self.base}.dead"

    @property
    def retry_exchange(self) -> str:
        """The direct exchange in front of the per-delay retry queues."""
        return f"{self.base}.retry"

    @property
    def state_queue(self) -> str:
        """Where consumers send their reports to the database's owner (the API)."""
        return f"{self.base}.state"

    @property
    def control_exchange(self) -> str:
        """The fanout exchange that tells every consumer process to cancel a running task."""
        return f"{self.base}.control"

    def control_queue(self, process_id: str) -> str:
        """One consumer process's exclusive, auto-deleted queue on the control exchange."""
        return f"{self.base}.control.{process_id}"

    def inbox(self, instance: str) -> str:
        """One owner process's own queue for reports (shared/inbox.py), named per connection."""
        return f"{self.base}.state.{instance}"

    def lane(self, priority: Priority) -> str:
        """The work queue of a priority lane, which is also its routing key."""
        return self.base if priority is Priority.NORMAL else f"{self.base}.{priority.value}"

    def retry_queue(self, delay_s: float, priority: Priority = Priority.NORMAL) -> str:
        """The queue that holds a task for `delay_s` before it goes back to its lane."""
        return f"{self.lane(priority)}.retry.{format_delay(delay_s)}"

    def priority_of(self, routing_key: str | None) -> Priority:
        """The lane a delivery came from, by its routing key (a retry keeps its lane's)."""
        return Priority.HIGH if routing_key == self.lane(Priority.HIGH) else Priority.NORMAL
