"""The devstack Kafka supports what Kervan relies on: idempotence, transactions, compaction."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kervan_devstack import Endpoints

pytestmark = pytest.mark.integration


async def _create_topic(bootstrap: str, config: dict[str, str] | None = None) -> str:
    name = f"devstack-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=config or {})])
        deadline = time.monotonic() + 15
        while True:
            described = await admin.describe_topics([name])
            parts = described[0].get("partitions") or []
            if parts and parts[0].get("leader", -1) >= 0:
                return name
            assert time.monotonic() < deadline, f"topic {name} never got a leader"
            await asyncio.sleep(0.05)
    finally:
        await admin.close()


async def _read_all(
    bootstrap: str, topic: str, isolation_level: str = "read_uncommitted"
) -> list[tuple[bytes | None, bytes | None]]:
    """Every record from the beginning up to the current end offset."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, isolation_level=isolation_level
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        out: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 15
        while await consumer.position(tp) < end:
            assert time.monotonic() < deadline, "could not read up to the end offset"
            for msgs in (await consumer.getmany(tp, timeout_ms=200)).values():
                out.extend((m.key, m.value) for m in msgs)
        return out
    finally:
        await consumer.stop()


async def test_auto_topic_creation_is_disabled(endpoints: Endpoints) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=endpoints.kafka_bootstrap, group_id=None)
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap, request_timeout_ms=3000
    )
    await producer.start()
    try:
        missing = f"never-created-{uuid.uuid4().hex[:8]}"
        with pytest.raises(Exception):  # noqa: B017 - aiokafka raises a timeout/metadata error
            await asyncio.wait_for(producer.send_and_wait(missing, b"x"), timeout=5)
        await consumer.start()
        assert missing not in await consumer.topics()
    finally:
        await producer.stop()
        await consumer.stop()


async def test_idempotent_producer(endpoints: Endpoints) -> None:
    topic = await _create_topic(endpoints.kafka_bootstrap)
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, f"v{i}".encode(), key=b"k") for i in range(5)]
    finally:
        await producer.stop()
    assert [m.offset for m in sent] == [0, 1, 2, 3, 4]
    assert await _read_all(endpoints.kafka_bootstrap, topic) == [
        (b"k", f"v{i}".encode()) for i in range(5)
    ]


async def test_transactions_commit_and_abort(endpoints: Endpoints) -> None:
    topic = await _create_topic(endpoints.kafka_bootstrap)
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap,
        transactional_id=f"devstack-test-{uuid.uuid4().hex[:8]}",
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-2")
    finally:
        await producer.stop()

    committed = await _read_all(endpoints.kafka_bootstrap, topic, "read_committed")
    assert [v for _, v in committed] == [b"committed-1", b"committed-2"]
    # The aborted record is in the log; only read_committed hides it.
    uncommitted = await _read_all(endpoints.kafka_bootstrap, topic, "read_uncommitted")
    assert [v for _, v in uncommitted] == [b"committed-1", b"aborted", b"committed-2"]


async def test_compaction_removes_superseded_values(endpoints: Endpoints) -> None:
    topic = await _create_topic(
        endpoints.kafka_bootstrap,
        {
            "cleanup.policy": "compact",
            # Roll segments quickly and clean as soon as anything is dirty.
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "100",
        },
    )
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap)
    await producer.start()
    try:
        for value in (b"old-1", b"old-2", b"latest"):
            await producer.send_and_wait(topic, value, key=b"store-1")
        await producer.send_and_wait(topic, b"doomed", key=b"store-2")
        await producer.send_and_wait(topic, None, key=b"store-2")  # tombstone
        before = await _read_all(endpoints.kafka_bootstrap, topic)
        assert (b"store-2", None) in before

        # The active segment is never cleaned; each append after segment.ms rolls a new one,
        # so keep appending a filler until the cleaner has compacted the closed segments.
        deadline = time.monotonic() + 60
        while True:
            await producer.send_and_wait(topic, b"tick", key=b"filler")
            records = await _read_all(endpoints.kafka_bootstrap, topic)
            store_1 = [v for k, v in records if k == b"store-1"]
            if store_1 == [b"latest"] and (b"store-2", b"doomed") not in records:
                break
            assert time.monotonic() < deadline, f"not compacted within 60s: {records[:10]}"
            await asyncio.sleep(0.3)
    finally:
        await producer.stop()
