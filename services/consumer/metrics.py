"""The consumer's Prometheus metrics, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# An owner answers in milliseconds when it keeps up; seconds mean it is overloaded or gone.
ANSWER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class ConsumerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.processed = Counter(
            "taskq_tasks_processed",
            "Attempts finished, by action and outcome (completed, retried, failed)",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "taskq_task_duration_seconds",
            "Time from claim to the recorded outcome, by action",
            ["action"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "taskq_tasks_in_flight", "Deliveries being handled now", registry=self.registry
        )
        self.retries = Counter(
            "taskq_task_retries", "Attempts sent to a retry queue", registry=self.registry
        )
        self.skipped = Counter(
            "taskq_deliveries_skipped",
            "Deliveries acked without running: duplicate (task already final), cancelled or unknown task",
            ["why"],
            registry=self.registry,
        )
        self.poison = Counter(
            "taskq_poison_messages",
            "Messages that were not a valid task, sent to the dead-letter exchange",
            registry=self.registry,
        )
        self.reconnects = Counter(
            "taskq_broker_reconnects",
            "Times the broker connection was restored",
            registry=self.registry,
        )
        self.owner_timeouts = Counter(
            "taskq_owner_timeouts",
            "Report messages the database's owner did not answer in time (sent again)",
            registry=self.registry,
        )
        self.owner_answer = Histogram(
            "taskq_owner_answer_seconds",
            "Time from a report message's first send to the owner's answer (resends included)",
            buckets=ANSWER_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "taskq_queue_depth",
            "Messages ready in a taskq queue",
            ["queue"],
            registry=self.registry,
        )
