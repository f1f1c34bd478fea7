"""The API's Prometheus metrics, in a registry of its own per application."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "taskq_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "taskq_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.submitted = Counter(
            "taskq_tasks_submitted",
            "Tasks accepted (202) by action",
            ["action"],
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "taskq_publish_failures",
            "Publishes the broker did not confirm (answered 503)",
            registry=self.registry,
        )
        self.republished = Counter(
            "taskq_tasks_republished",
            "Unconfirmed tasks published again by the recovery sweep",
            registry=self.registry,
        )
        self.dispatched = Counter(
            "taskq_tasks_dispatched",
            "Delayed tasks published when they came due",
            registry=self.registry,
        )
        self.dispatch_lateness = Histogram(
            "taskq_dispatch_lateness_seconds",
            "How long after its run_at a delayed task was taken from SQLite to be published",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.purged = Counter(
            "taskq_tasks_purged",
            "Final tasks deleted by result retention (TASKQ_RESULT_TTL_S) or DELETE /tasks/{id}",
            registry=self.registry,
        )
        self.fired = Counter(
            "taskq_schedule_firings",
            "Tasks created by recurring schedules",
            registry=self.registry,
        )
        self.replayed = Counter(
            "taskq_tasks_replayed", "Failed tasks put back in the queue", registry=self.registry
        )
        self.cancelled = Counter(
            "taskq_tasks_cancelled",
            "Cancels: `now` ended a scheduled, queued or retrying task, `requested` asked a"
            " running one's"
            " consumer to stop it",
            ["how"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "taskq_dead_letters",
            "Messages taken from the dead queue, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.reports = Counter(
            "taskq_reports",
            "Consumer reports committed (claim, complete, retry, fail, ping), by op",
            ["op"],
            registry=self.registry,
        )
        self.report_batches = Counter(
            "taskq_report_messages",
            "Report messages from consumers (each carries one or more reports), by the queue"
            " they came through: this process's inbox, or the state queue",
            ["via"],
            registry=self.registry,
        )
