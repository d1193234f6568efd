"""Per-store push metrics (`kervan_catalog_sync_*`) on the service's registry."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_PREFIX = "kervan_catalog_sync"


class PrometheusTelemetry:
    """PushTelemetry on Prometheus."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._items = Counter(
            f"{_PREFIX}_items_pushed",
            "Items settled per store and outcome (accepted, failed, pending).",
            ["store_id", "outcome"],
            registry=registry,
        )
        self._batches = Counter(
            f"{_PREFIX}_batches",
            "Batches the platform took, per store and kind.",
            ["store_id", "kind"],
            registry=registry,
        )
        self._rate_limited = Counter(
            f"{_PREFIX}_rate_limited",
            "Pushes that ended rate limited (429 after the adapter's own retries).",
            ["store_id"],
            registry=registry,
        )
        self._latency = Histogram(
            f"{_PREFIX}_push_latency_seconds",
            "From batch creation to every item settled.",
            ["store_id"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
            registry=registry,
        )
        self._backlog = Gauge(
            f"{_PREFIX}_backlog",
            "SKUs queued for a push, per store.",
            ["store_id"],
            registry=registry,
        )
        self._auth_resolved = Counter(
            f"{_PREFIX}_auth_rejections_resolved",
            "401/403 answers after which a newer credentials version read from Vault was "
            "accepted on the retry (the store was not paused).",
            ["store_id"],
            registry=registry,
        )
        self._known: set[str] = set()

    def items(self, store_id: str, outcome: str, count: int) -> None:
        """Count settled items."""
        self._items.labels(store_id, outcome).inc(count)

    def batch(self, store_id: str, kind: str) -> None:
        """Count a batch."""
        self._batches.labels(store_id, kind).inc()

    def rate_limited(self, store_id: str) -> None:
        """Count a rate-limited push."""
        self._rate_limited.labels(store_id).inc()

    def latency(self, store_id: str, seconds: float) -> None:
        """Observe a batch's latency."""
        self._latency.labels(store_id).observe(max(0.0, seconds))

    def backlog(self, by_store: Mapping[str, int]) -> None:
        """Set the backlog gauge (stores without a queue read 0)."""
        for store_id in self._known - set(by_store):
            self._backlog.labels(store_id).set(0)
        for store_id, count in by_store.items():
            self._backlog.labels(store_id).set(count)
        self._known |= set(by_store)

    def auth_rejection_resolved(self, store_id: str) -> None:
        """Count a 401/403 resolved by newer credentials."""
        self._auth_resolved.labels(store_id).inc()
