"""`<prefix>_consumer_lag_messages` on a real broker: grows behind a busy handler, drains to 0."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import BaseModel

from kervan_servicekit.broker import build_broker, subscriber_options
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import KafkaSettings

pytestmark = pytest.mark.integration

WaitUntil = Callable[..., Awaitable[None]]
LAG = "kervan_lag_test_consumer_lag_messages"


class Item(BaseModel):
    n: int


async def test_lag_counts_records_not_yet_handed_to_the_handler(
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
    wait_until: WaitUntil,
) -> None:
    topic = await new_topic("lag", partitions=1)
    group = unique_name("lag-consumer")
    registry = CollectorRegistry()
    broker = build_broker(
        service="lag-test",
        kafka=KafkaSettings(bootstrap=kafka_bootstrap, graceful_timeout_seconds=5),
        retry=RetryPolicy(max_attempts=1, base_delay=0.1, max_delay=0.1, jitter=0),
        registry=registry,
        metrics=ServiceMetrics("lag-test", registry),
    )
    gate = asyncio.Event()
    handled: list[int] = []

    @broker.subscriber(topic, **subscriber_options(group))
    async def handle(item: Item) -> None:
        await gate.wait()  # the first record blocks the partition until the test opens it
        handled.append(item.n)

    def lag() -> float | None:
        return registry.get_sample_value(LAG, {"topic": topic, "partition": "0", "group": group})

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(10):
            await producer.send_and_wait(topic, Item(n=n).model_dump_json().encode(), key=b"k")
        assert lag() is None, "no sample before the consumer is assigned the partition"
        await broker.start()
        try:

            async def nine_behind() -> bool:
                return lag() == 9.0

            # Record 0 is in the handler; records 1..9 are waiting.
            await wait_until(nine_behind, timeout=30, what="lag 9 behind the blocked handler")
            assert handled == []
            exposition = generate_latest(registry).decode()
            assert f'{LAG}{{group="{group}",partition="0",topic="{topic}"}} 9.0' in exposition

            gate.set()

            async def drained() -> bool:
                return len(handled) == 10 and lag() == 0.0

            await wait_until(drained, timeout=30, what="lag back to 0 once handled")

            # New records published to an idle consumer are counted, then drained again.
            for n in range(10, 13):
                await producer.send_and_wait(topic, Item(n=n).model_dump_json().encode())

            async def drained_again() -> bool:
                return len(handled) == 13 and lag() == 0.0

            await wait_until(drained_again, timeout=30, what="the new records handled")
        finally:
            await broker.stop()
    finally:
        await producer.stop()
    assert handled == list(range(13))
    assert lag() is None, "a stopped consumer reports no partitions"
