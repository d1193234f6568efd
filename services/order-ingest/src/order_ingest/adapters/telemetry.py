"""Prometheus metrics of polling, per store (`kervan_order_ingest_*`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PrometheusTelemetry:
    """PollTelemetry on the service's registry."""

    def __init__(self, registry: CollectorRegistry, prefix: str = "kervan_order_ingest") -> None:
        self.orders = Counter(
            f"{prefix}_orders_ingested_total",
            "Orders seen for the first time.",
            ["store_id"],
            registry=registry,
        )
        self.polls = Counter(
            f"{prefix}_polls_total", "Polls by outcome.", ["store_id", "outcome"], registry=registry
        )
        self.last_success = Gauge(
            f"{prefix}_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful poll.",
            ["store_id"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{prefix}_poll_duration_seconds",
            "Duration of one poll.",
            ["store_id"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.lag = Histogram(
            f"{prefix}_event_lag_seconds",
            "Seconds from an order's marketplace change to its events being committed.",
            ["store_id"],
            registry=registry,
            buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
        )
        self.pending = Gauge(
            f"{prefix}_pending_deductions",
            "Orders waiting for a default warehouse before they can deduct stock.",
            ["store_id"],
            registry=registry,
        )
        self.auth_resolved = Counter(
            f"{prefix}_auth_rejections_resolved_total",
            "401/403 answers after which a newer credentials version read from Vault was "
            "accepted on the retry (the store was not paused).",
            ["store_id"],
            registry=registry,
        )

    def poll_finished(
        self, store_id: str, outcome: str, duration_seconds: float, success_at: datetime | None
    ) -> None:
        """See PollTelemetry."""
        self.polls.labels(store_id, outcome).inc()
        if outcome != "skipped":
            self.duration.labels(store_id).observe(duration_seconds)
        if success_at is not None:
            self.last_success.labels(store_id).set(success_at.timestamp())

    def orders_ingested(self, store_id: str, count: int) -> None:
        """See PollTelemetry."""
        self.orders.labels(store_id).inc(count)

    def event_lags(self, store_id: str, seconds: Sequence[float]) -> None:
        """See PollTelemetry (the store's series is looked up once per batch, and made only
        when there is a sample)."""
        if not seconds:
            return
        lag = self.lag.labels(store_id)
        for value in seconds:
            lag.observe(max(value, 0.0))

    def pending_deductions(self, store_id: str, count: int) -> None:
        """See PollTelemetry."""
        self.pending.labels(store_id).set(count)

    def auth_rejection_resolved(self, store_id: str) -> None:
        """See PollTelemetry."""
        self.auth_resolved.labels(store_id).inc()
