"""Kafka topics of Kervan v1: names, keys, partitions and cleanup settings.

Kafka-free on purpose: servicekit reads `TOPICS` to create missing topics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

STORES = "kervan.stores.v1"
API_STATUS = "kervan.api-status.v1"
CREDENTIALS = "kervan.credentials.v1"
ORDERS = "kervan.orders.v1"
STOCK_MOVEMENTS = "kervan.stock-movements.v1"
CATALOG = "kervan.catalog.v1"
SYNC_RESULTS = "kervan.sync-results.v1"

DLQ_SUFFIX = ".dlq"

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS

CleanupPolicy = Literal["delete", "compact"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How one topic is keyed and configured."""

    name: str
    key_description: str
    partitions: int
    cleanup_policy: CleanupPolicy
    retention_ms: int | None
    """Time-based retention for `delete` topics; None on compacted topics (kept per key)."""
    extra_config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def config(self) -> dict[str, str]:
        """Topic-level Kafka configuration to create the topic with."""
        settings: dict[str, str] = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            settings["retention.ms"] = str(self.retention_ms)
        settings.update(self.extra_config)
        return settings


def _compacted(name: str, key_description: str, partitions: int) -> TopicSpec:
    # Compacted topics hold the latest state per key. The lag keeps recent history readable
    # for an hour (a consumer catching up still sees intermediate versions), tombstones
    # stay a week so slow consumers learn of deletions, and daily segments let the
    # cleaner reach records that would otherwise sit in an open segment forever.
    return TopicSpec(
        name=name,
        key_description=key_description,
        partitions=partitions,
        cleanup_policy="compact",
        retention_ms=None,
        extra_config=MappingProxyType(
            {
                "min.compaction.lag.ms": str(_HOUR_MS),
                "max.compaction.lag.ms": str(7 * _DAY_MS),
                "delete.retention.ms": str(7 * _DAY_MS),
                "segment.ms": str(_DAY_MS),
                "min.cleanable.dirty.ratio": "0.1",
            }
        ),
    )


def _retained(name: str, key_description: str, partitions: int, days: int) -> TopicSpec:
    return TopicSpec(
        name=name,
        key_description=key_description,
        partitions=partitions,
        cleanup_policy="delete",
        retention_ms=days * _DAY_MS,
        extra_config=MappingProxyType({"segment.ms": str(_DAY_MS)}),
    )


TOPICS: Mapping[str, TopicSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _compacted(STORES, "`{store_id}`", partitions=6),
            _compacted(API_STATUS, "`{store_id}`", partitions=6),
            _compacted(CREDENTIALS, "`{store_id}`", partitions=6),
            _retained(ORDERS, "`{store_id}:{order_number}`", partitions=12, days=14),
            _retained(STOCK_MOVEMENTS, "`{warehouse_id}:{sku}`", partitions=12, days=14),
            _compacted(
                CATALOG,
                "`product:{sku}`, `price:{sku}:{price_list_id}` or `stock:{sku}:{warehouse_id}`",
                partitions=12,
            ),
            _retained(SYNC_RESULTS, "`{store_id}`", partitions=6, days=7),
        )
    }
)
"""The seven v1 topics, by name."""


def dlq_topic(group: str) -> TopicSpec:
    """Dead-letter topic of a consumer group: the failed record, same key, plus error headers."""
    if not group or group != group.strip():
        raise ValueError("consumer group must be a non-empty name without surrounding spaces")
    # Kept four weeks: long enough to investigate and replay after a fix, and one partition
    # set small enough that a DLQ never costs much.
    return _retained(
        f"{group}{DLQ_SUFFIX}", "original key of the failed record", partitions=3, days=28
    )
