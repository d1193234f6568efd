"""ensure_topics creates missing topics with their configs, idempotently."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kervan_contracts.topics import dlq_topic
from kervan_servicekit.topics import TopicDefinition, TopicSpecLike, ensure_topics

pytestmark = pytest.mark.integration


async def test_creates_missing_topics_with_configs_and_is_idempotent(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    group = unique_name("grp")
    plain = TopicDefinition(unique_name("plain"), partitions=2, settings={"retention.ms": "60000"})
    specs: list[TopicSpecLike] = [dlq_topic(group), plain]
    assert sorted(await ensure_topics(kafka_bootstrap, specs)) == sorted(
        [f"{group}.dlq", plain.name]
    )
    assert await ensure_topics(kafka_bootstrap, specs) == []

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {
            t["topic"]: t for t in await admin.describe_topics([plain.name, f"{group}.dlq"])
        }
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"{group}.dlq")]
        )
        await admin.delete_topics([plain.name, f"{group}.dlq"])
    finally:
        await admin.close()
    assert len(described[plain.name]["partitions"]) == 2
    assert len(described[f"{group}.dlq"]["partitions"]) == dlq_topic(group).partitions
    entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
    assert entries["retention.ms"] == dlq_topic(group).config()["retention.ms"]
    assert entries["cleanup.policy"] == "delete"
