"""Retry→DLQ on a real broker: backoff measured, original bytes kept, partition moves on."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from kervan_contracts.topics import dlq_topic
from kervan_servicekit.broker import build_broker, subscriber_options
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import KafkaSettings
from kervan_servicekit.topics import ensure_topics
from kervan_testkit.events import record_events

pytestmark = pytest.mark.integration

WaitUntil = Callable[..., Awaitable[None]]


class Command(BaseModel):
    name: str


async def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return meta.offset if meta is not None else -1


async def test_poison_message_is_dead_lettered_after_backoff_and_the_partition_moves_on(
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
    wait_until: WaitUntil,
) -> None:
    topic = await new_topic("commands", partitions=1)
    group = unique_name("dlq-consumer")
    await ensure_topics(kafka_bootstrap, [dlq_topic(group)])
    policy = RetryPolicy(max_attempts=3, base_delay=0.3, max_delay=1.0, jitter=0.5)
    registry = CollectorRegistry()
    broker = build_broker(
        service="servicekit-test",
        kafka=KafkaSettings(bootstrap=kafka_bootstrap, graceful_timeout_seconds=5),
        retry=policy,
        registry=registry,
        metrics=ServiceMetrics("servicekit-test", registry),
    )
    poison_attempts: list[float] = []
    processed: list[str] = []

    @broker.subscriber(topic, **subscriber_options(group))
    async def handle(command: Command) -> None:
        if command.name == "poison":
            poison_attempts.append(time.monotonic())
            raise RuntimeError("cannot apply poison")
        processed.append(command.name)

    poison_bytes = b'{"name":   "poison", "note": "bytes kept exactly"}'
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with record_events(kafka_bootstrap, dlq_topic(group).name) as dlq:
            await producer.send_and_wait(
                topic, poison_bytes, key=b"k1", headers=[("event_id", b"ev-poison")]
            )
            await producer.send_and_wait(topic, b'{"name": "good"}', key=b"k1")
            await broker.start()
            try:
                (letter,) = await dlq.wait_for(1, timeout=30)

                async def good_processed() -> bool:
                    return processed == ["good"]

                await wait_until(good_processed, what="the message after the poison one")

                async def committed_past_both() -> bool:
                    return await _committed(kafka_bootstrap, group, TopicPartition(topic, 0)) == 2

                await wait_until(committed_past_both, what="offset committed past the poison")
            finally:
                await broker.stop()
    finally:
        await producer.stop()

    assert len(poison_attempts) == 3
    waited = poison_attempts[-1] - poison_attempts[0]
    assert waited >= policy.minimum_total_delay()  # 0.3 + 0.6 s, measured between attempts
    assert letter.key == "k1"
    assert letter.value == {"name": "poison", "note": "bytes kept exactly"}
    headers = letter.headers
    assert headers["event_id"] == "ev-poison"
    assert headers["x-dlq-attempts"] == "3"
    assert headers["x-dlq-error-type"] == "builtins.RuntimeError"
    assert headers["x-dlq-error-message"] == "cannot apply poison"
    assert headers["x-dlq-original-topic"] == topic
    assert headers["x-dlq-original-partition"] == "0"
    assert headers["x-dlq-original-offset"] == "0"
    assert headers["x-dlq-consumer-group"] == group
    assert headers["x-dlq-failed-at"].endswith("+00:00")
    # the DLQ value is byte-for-byte the original
    raw = await _raw_value(kafka_bootstrap, dlq_topic(group).name, letter.partition, letter.offset)
    assert raw == poison_bytes


async def _raw_value(bootstrap: str, topic: str, partition: int, offset: int) -> bytes:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        record = await consumer.getone()
        assert isinstance(record.value, bytes)
        return record.value
    finally:
        await consumer.stop()
