"""The event recorder sees exactly what was published from the moment it started."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from kervan_testkit.events import record_events, take_unawaited_checks

pytestmark = pytest.mark.integration


def envelope(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"id-{n}-{extra.pop('salt', 'a')}",
        "event_type": "stock.changed",
        "occurred_at": "2025-01-01T00:00:00Z",
        "data": {"sku": f"SKU-{n}", "quantity": n},
        **extra,
    }


@pytest_asyncio.fixture(loop_scope="session")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


async def publish(producer: AIOKafkaProducer, topic: str, value: dict[str, Any], key: str) -> None:
    await producer.send_and_wait(
        topic, json.dumps(value).encode(), key=key.encode(), headers=[("source", b"test")]
    )


NewTopic = Callable[..., Awaitable[str]]


async def test_records_exactly_what_was_published_after_start(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic(prefix="rec")
    await publish(producer, topic, envelope(0), key="before")  # must not be recorded

    async with record_events(kafka_bootstrap, topic) as rec:
        for n in (1, 2, 3):
            await publish(producer, topic, envelope(n), key=f"k{n}")
        got = await rec.wait_for(3, timeout=10)

        assert [key for key, _, _ in got] == ["k1", "k2", "k3"]
        assert all(headers == {"source": "test"} for _, headers, _ in got)
        assert [value["data"]["quantity"] for _, _, value in got] == [1, 2, 3]
        # Exact comparison ignores the per-run fields (event_id differs via the salt).
        await rec.assert_exact([envelope(n, salt="other") for n in (1, 2, 3)])
        await rec.assert_no_more()


async def test_detects_an_extra_event(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic(prefix="rec")
    async with record_events(kafka_bootstrap, topic) as rec:
        for n in (1, 2, 3):
            await publish(producer, topic, envelope(n), key="k")
        # No wait_for: assert_exact itself must read up to the end offsets and see the third.
        with pytest.raises(AssertionError, match="expected 2, recorded 3"):
            await rec.assert_exact([envelope(1), envelope(2)])


async def test_detects_a_missing_or_different_event(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic(prefix="rec")
    async with record_events(kafka_bootstrap, topic) as rec:
        await publish(producer, topic, envelope(1), key="k")
        await publish(producer, topic, envelope(2), key="k")
        with pytest.raises(AssertionError, match="expected 3, recorded 2"):
            await rec.assert_exact([envelope(1), envelope(2), envelope(3)])
        with pytest.raises(AssertionError, match=r"\[1\] != expected"):
            await rec.assert_exact([envelope(1), envelope(5)])


async def test_assert_no_more_catches_a_late_extra(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic(prefix="rec")
    async with record_events(kafka_bootstrap, topic) as rec:
        await publish(producer, topic, envelope(1), key="k")
        await rec.wait_for(1)
        await rec.assert_no_more()  # exactly one so far
        await publish(producer, topic, envelope(2), key="k")
        with pytest.raises(AssertionError, match="1 unexpected record"):
            await rec.assert_no_more()


async def test_wait_for_timeout_reports_what_arrived(
    kafka_bootstrap: str, new_topic: NewTopic, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic(prefix="rec")
    async with record_events(kafka_bootstrap, topic) as rec:
        await publish(producer, topic, envelope(7), key="only-one")
        with pytest.raises(AssertionError, match=r"expected 2 record.*got 1.*only-one"):
            await rec.wait_for(2, timeout=1.5)


async def test_multiple_topics_and_aborted_transactions(
    kafka_bootstrap: str, new_topic: NewTopic
) -> None:
    orders, stock = await new_topic(prefix="orders"), await new_topic(prefix="stock")
    tx = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{orders}")
    await tx.start()
    try:
        async with record_events(kafka_bootstrap, orders, stock) as rec:
            async with tx.transaction():
                await tx.send(orders, json.dumps(envelope(1)).encode())
                await tx.send(stock, json.dumps(envelope(2)).encode())
            await tx.begin_transaction()
            await tx.send(orders, json.dumps(envelope(99)).encode())
            await tx.abort_transaction()
            await rec.assert_exact({orders: [envelope(1)], stock: [envelope(2)]})
    finally:
        await tx.stop()


async def test_unawaited_assertion_is_detected(kafka_bootstrap: str, new_topic: NewTopic) -> None:
    topic = await new_topic(prefix="rec")
    async with record_events(kafka_bootstrap, topic) as rec:
        forgotten = rec.assert_no_more()  # no await: would silently pass
        assert take_unawaited_checks() == ["assert_no_more"]
        forgotten.close()
