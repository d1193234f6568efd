"""A replayed event changes state once: FastStream subscriber on a real broker + inbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from kervan_contracts.credentials.v1 import ApiStatusChanged
from kervan_contracts.envelope import Envelope
from kervan_contracts.registry import envelope_headers, serialize_envelope
from kervan_servicekit.broker import build_broker, subscriber_options
from kervan_servicekit.inbox import Inbox
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import KafkaSettings

pytestmark = pytest.mark.integration

WaitUntil = Callable[..., Awaitable[None]]
StatusEnvelope = Callable[..., Envelope[ApiStatusChanged]]


async def test_the_same_event_delivered_twice_increments_the_counter_once(
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    unique_name: Callable[[str], str],
    wait_until: WaitUntil,
    status_envelope: StatusEnvelope,
) -> None:
    topic = await new_topic("replay")
    group = unique_name("counter")
    await db.execute("CREATE TABLE counter (store_id text PRIMARY KEY, n int NOT NULL)")
    registry = CollectorRegistry()
    broker = build_broker(
        service="servicekit-test",
        kafka=KafkaSettings(bootstrap=kafka_bootstrap, graceful_timeout_seconds=5),
        retry=RetryPolicy(max_attempts=2, base_delay=0.1),
        registry=registry,
        metrics=ServiceMetrics("servicekit-test", registry),
    )
    inbox = Inbox("svc")
    deliveries: list[bool] = []

    @broker.subscriber(topic, **subscriber_options(group))
    async def count(event: Envelope[ApiStatusChanged]) -> None:
        async with db.acquire() as conn, conn.transaction():
            fresh = await inbox.claim(conn, group, event.event_id)
            if fresh:
                await conn.execute(
                    "INSERT INTO counter VALUES ($1, 1) "
                    "ON CONFLICT (store_id) DO UPDATE SET n = counter.n + 1",
                    event.data.store_id,
                )
        deliveries.append(fresh)

    once = status_envelope("store-r")
    other = status_envelope("store-r")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for envelope in (once, once, other):  # the first one replayed, then a new event
            await producer.send_and_wait(
                topic,
                serialize_envelope(envelope),
                key=b"store-r",
                headers=[(k, v.encode()) for k, v in envelope_headers(envelope).items()],
            )
    finally:
        await producer.stop()

    await broker.start()
    try:

        async def all_delivered() -> bool:
            return len(deliveries) == 3

        await wait_until(all_delivered, timeout=30, what="three deliveries")
    finally:
        await broker.stop()

    assert deliveries == [True, False, True]
    assert await db.fetchval("SELECT n FROM counter WHERE store_id = 'store-r'") == 2
    assert await db.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", group) == 2


async def test_claim_outside_a_transaction_is_refused(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the business transaction"):
            await Inbox("svc").claim(conn, "c", uuid.uuid4())


async def test_a_rolled_back_effect_rolls_back_the_claim(db: asyncpg.Pool) -> None:
    event_id = uuid.uuid4()
    inbox = Inbox("svc")

    async def apply_and_fail() -> None:
        async with db.acquire() as conn, conn.transaction():
            assert await inbox.claim(conn, "c", event_id)
            raise ZeroDivisionError  # the effect fails after the claim

    with pytest.raises(ZeroDivisionError):
        await apply_and_fail()
    async with db.acquire() as conn, conn.transaction():
        assert await inbox.claim(conn, "c", event_id)  # so the redelivery is applied
