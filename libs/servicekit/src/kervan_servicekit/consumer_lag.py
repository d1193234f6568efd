"""Consumer lag of every Kafka subscriber of a broker, computed when Prometheus scrapes.

`<prefix>_consumer_lag_messages{topic, partition, group}` = highwater - position for each
partition assigned to one of the broker's consumers in this process: the records already in
the partition that the handler has not been given yet (the record in hand counts as taken).
It is the consumer's own view, the measure Kafka's Java client reports as `records-lag`:

- no request is made at scrape time; both numbers are what aiokafka keeps in memory, the
  highwater from the last fetch response (fetches return it even when they carry no records),
  the position advanced for every record handed to the handler;
- a partition appears once this process has been assigned it and fetched it once; partitions
  a rebalance moved to another replica disappear here and appear there, so sum by topic over
  the replicas for the group's lag;
- a handler stuck on one record stops the fetches of that partition, so its highwater, and
  the lag shown, stop growing; the broker-side view (kafka-exporter's
  `kafka_consumergroup_lag`, committed offsets against end offsets) covers that case.

aiokafka has no synchronous public accessor for the position (`position()` is a coroutine
that may go to the broker), so its subscription state is read directly; if a future aiokafka
moves it, the partitions are left out rather than the scrape failing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("kervan.servicekit.consumer_lag")

LagKey = tuple[str, int, str]
"""(topic, partition, consumer group)."""


def partition_lags(consumer: Any) -> dict[tuple[str, int], int]:
    """highwater - position of every assigned partition whose both numbers are known."""
    subscription = getattr(getattr(consumer, "_subscription", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    if assignment is None:  # not subscribed, or the group has not assigned partitions yet
        return {}
    lags: dict[tuple[str, int], int] = {}
    for tp in assignment.tps:
        state = assignment.state_value(tp)
        if state is None or state.highwater is None or not state.has_valid_position:
            continue
        # A position past the highwater happens for an instant after a truncation: not lag.
        lags[(tp.topic, tp.partition)] = max(0, int(state.highwater) - int(state.position))
    return lags


def _subscriber_consumers(subscriber: Any) -> Iterator[Any]:
    """The aiokafka consumers of one FastStream subscriber (concurrent ones have several)."""
    group = getattr(subscriber, "consumer_subgroup", None)
    if group:
        yield from group
        return
    consumer = getattr(subscriber, "consumer", None)
    if consumer is not None:
        yield consumer


class ConsumerLagCollector(Collector):
    """Reads the lag of the broker's subscribers at every scrape (no background task)."""

    def __init__(self, name: str, subscribers: Callable[[], Iterable[Any]]) -> None:
        """`subscribers` returns the current subscribers (`lambda: broker.subscribers`)."""
        self._name = name
        self._subscribers = subscribers
        self._failed_once = False

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            self._name,
            "Records in the partition not yet handed to this process's consumer "
            "(highwater - position), per assigned partition.",
            labels=["topic", "partition", "group"],
        )

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The family without samples (lets the registry detect a name clash)."""
        return [self._family()]

    def lags(self) -> dict[LagKey, int]:
        """Current lag per (topic, partition, group) of every running consumer."""
        totals: dict[LagKey, int] = {}
        for subscriber in self._subscribers():
            group = str(getattr(subscriber, "group_id", None) or "")
            for consumer in _subscriber_consumers(subscriber):
                for (topic, partition), lag in partition_lags(consumer).items():
                    key = (topic, partition, group)
                    totals[key] = totals.get(key, 0) + lag
        return totals

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """One sample per assigned partition; never raises into the scrape."""
        family = self._family()
        try:
            lags = self.lags()
        except Exception:  # a changed aiokafka internal must not break /metrics
            if not self._failed_once:
                self._failed_once = True
                logger.exception("reading the consumer lag failed")
            lags = {}
        for (topic, partition, group), lag in sorted(lags.items()):
            family.add_metric([topic, str(partition), group], lag)
        return [family]
