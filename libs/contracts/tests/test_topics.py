"""The topic registry servicekit creates topics from."""

from __future__ import annotations

import pytest

from kervan_contracts import REGISTRY, TOPICS, dlq_topic, events_on_topic


def test_the_seven_v1_topics_and_their_cleanup() -> None:
    assert {name: spec.cleanup_policy for name, spec in TOPICS.items()} == {
        "kervan.stores.v1": "compact",
        "kervan.api-status.v1": "compact",
        "kervan.credentials.v1": "compact",
        "kervan.orders.v1": "delete",
        "kervan.stock-movements.v1": "delete",
        "kervan.catalog.v1": "compact",
        "kervan.sync-results.v1": "delete",
    }


def test_every_topic_carries_events_and_every_event_a_known_topic() -> None:
    assert {spec.topic for spec in REGISTRY.values()} == set(TOPICS)
    assert [s.event_type for s in events_on_topic("kervan.orders.v1")] == [
        "orders.order.received",
        "orders.order.updated",
        "orders.order.cancelled",
    ]


@pytest.mark.parametrize("name", sorted(TOPICS))
def test_config_is_consistent_with_the_policy(name: str) -> None:
    spec = TOPICS[name]
    config = spec.config()

    assert config["cleanup.policy"] == spec.cleanup_policy
    assert spec.partitions in {6, 12}
    if spec.cleanup_policy == "compact":
        assert "retention.ms" not in config
        assert int(config["delete.retention.ms"]) >= 24 * 3_600_000  # tombstones outlive lag
        assert int(config["min.compaction.lag.ms"]) > 0
    else:
        assert int(config["retention.ms"]) >= 7 * 24 * 3_600_000
    assert all(isinstance(v, str) for v in config.values())


def test_topic_specs_are_immutable() -> None:
    spec = TOPICS["kervan.orders.v1"]
    with pytest.raises(AttributeError):
        spec.partitions = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.extra_config["retention.ms"] = "1"  # type: ignore[index]


def test_dlq_topic_per_consumer_group() -> None:
    spec = dlq_topic("order-ingest.stores")

    assert spec.name == "order-ingest.stores.dlq"
    assert spec.config()["cleanup.policy"] == "delete"
    assert int(spec.config()["retention.ms"]) == 28 * 24 * 3_600_000
    with pytest.raises(ValueError, match="consumer group"):
        dlq_topic(" ")
