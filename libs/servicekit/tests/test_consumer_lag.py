"""ConsumerLagCollector over fake subscribers: which partitions count, and scrapes never fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from kervan_servicekit.consumer_lag import ConsumerLagCollector

NAME = "kervan_fake_consumer_lag_messages"


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class State:
    highwater: int | None
    position: int | None

    @property
    def has_valid_position(self) -> bool:
        return self.position is not None


@dataclass
class Assignment:
    states: dict[TP, State]

    @property
    def tps(self) -> frozenset[TP]:
        return frozenset(self.states)

    def state_value(self, tp: TP) -> State:
        return self.states[tp]


@dataclass
class Consumer:
    assignment: Assignment | None

    @property
    def _subscription(self) -> Any:
        outer = type("S", (), {})()
        outer.subscription = type("Sub", (), {"assignment": self.assignment})()
        return outer


@dataclass
class Subscriber:
    group_id: str
    consumer: Consumer | None = None
    consumer_subgroup: list[Consumer] = field(default_factory=list)


def _registry(subscribers: list[Any]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ConsumerLagCollector(NAME, lambda: subscribers))
    return registry


def test_lag_per_partition_skips_unknown_and_clamps_at_zero() -> None:
    consumer = Consumer(
        Assignment(
            {
                TP("orders", 0): State(highwater=120, position=100),
                TP("orders", 1): State(highwater=None, position=5),  # not fetched yet
                TP("orders", 2): State(highwater=7, position=None),  # awaiting reset
                TP("orders", 3): State(highwater=7, position=9),  # just after a truncation
            }
        )
    )
    registry = _registry([Subscriber("g", consumer=consumer), Subscriber("idle")])
    assert (
        registry.get_sample_value(NAME, {"topic": "orders", "partition": "0", "group": "g"}) == 20
    )
    assert registry.get_sample_value(NAME, {"topic": "orders", "partition": "1", "group": "g"}) is (
        None
    )
    assert registry.get_sample_value(NAME, {"topic": "orders", "partition": "2", "group": "g"}) is (
        None
    )
    assert registry.get_sample_value(NAME, {"topic": "orders", "partition": "3", "group": "g"}) == 0


def test_concurrent_subscribers_report_each_consumer_partition() -> None:
    first = Consumer(Assignment({TP("stock", 0): State(10, 4)}))
    second = Consumer(Assignment({TP("stock", 1): State(3, 3)}))
    unassigned = Consumer(None)
    registry = _registry([Subscriber("c", consumer_subgroup=[first, second, unassigned])])
    assert registry.get_sample_value(NAME, {"topic": "stock", "partition": "0", "group": "c"}) == 6
    assert registry.get_sample_value(NAME, {"topic": "stock", "partition": "1", "group": "c"}) == 0


def test_a_broken_consumer_leaves_the_metric_empty_instead_of_failing_the_scrape() -> None:
    class Broken:
        @property
        def _subscription(self) -> Any:
            raise RuntimeError("aiokafka internals moved")

    registry = _registry([Subscriber("b", consumer=Broken())])  # type: ignore[arg-type]
    families = [f for f in registry.collect() if f.name == NAME]
    assert len(families) == 1
    assert families[0].samples == []
