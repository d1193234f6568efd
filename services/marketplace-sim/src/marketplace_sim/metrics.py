"""Prometheus metrics of one simulator instance (own registry, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class SimMetrics:
    """Counters exported on /metrics under the `kervan_marketplace_sim_` prefix."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kervan_marketplace_sim_requests",
            "Platform API requests served, by platform, endpoint and HTTP status.",
            ["platform", "endpoint", "status"],
            registry=self.registry,
        )
        self.throttled = Counter(
            "kervan_marketplace_sim_throttled",
            "Requests answered 429 by the simulated rate limits or a 429 storm.",
            ["platform", "endpoint"],
            registry=self.registry,
        )
