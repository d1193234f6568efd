"""Prometheus metrics of a service, all on the service's own registry.

Names follow `kervan_<service>_<what>_<unit>` with base units, counters ending in `_total`.
"""

from __future__ import annotations

import platform
import re

from prometheus_client import CollectorRegistry, Counter, Gauge


def metric_prefix(service: str) -> str:
    """`order-ingest` -> `kervan_order_ingest`."""
    return "kervan_" + re.sub(r"[^a-z0-9]+", "_", service.lower()).strip("_")


class ServiceMetrics:
    """The metrics servicekit itself records (consumer retries/DLQ, outbox relay, build info)."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.registry = registry
        self.prefix = prefix = metric_prefix(service)
        self.consumer_retries = Counter(
            f"{prefix}_consumer_retries_total",
            "Handler attempts that failed and were retried in-process.",
            ["topic", "group"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            f"{prefix}_dead_lettered_messages_total",
            "Messages sent to the dead-letter topic, by reason (validation or exhausted).",
            ["topic", "group", "reason"],
            registry=registry,
        )
        self.dead_letter_failures = Counter(
            f"{prefix}_dead_letter_publish_failures_total",
            "Failed publishes to the dead-letter topic (the message is then re-read).",
            ["topic", "group"],
            registry=registry,
        )
        self.outbox_lag = Gauge(
            f"{prefix}_outbox_lag_seconds",
            "Age of the oldest unpublished outbox row (0 when none), seen by the active relay.",
            registry=registry,
        )
        self.outbox_published = Counter(
            f"{prefix}_outbox_published_total",
            "Outbox rows published to Kafka and marked published.",
            registry=registry,
        )
        self.outbox_publish_failures = Counter(
            f"{prefix}_outbox_publish_failures_total",
            "Outbox batches whose publish failed or timed out.",
            registry=registry,
        )
        self.outbox_relay_active = Gauge(
            f"{prefix}_outbox_relay_active",
            "1 while this process holds the relay lock and publishes, else 0.",
            registry=registry,
        )
        self.outbox_cleaned = Counter(
            f"{prefix}_outbox_cleaned_rows_total",
            "Published outbox rows deleted after the retention period.",
            registry=registry,
        )
        self.build_info = Gauge(
            f"{prefix}_build_info",
            "Always 1; labels carry the running version.",
            ["service", "version", "python_version"],
            registry=registry,
        )

    def set_build_info(self, version: str) -> None:
        """Record the running version in `<prefix>_build_info`."""
        self.build_info.labels(
            service=self.service, version=version, python_version=platform.python_version()
        ).set(1)
