"""Outbox relay on real PostgreSQL and Kafka: crash recovery, failover, per-key order."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from kervan_contracts.credentials.v1 import ApiStatusChanged
from kervan_contracts.envelope import Envelope
from kervan_servicekit.broker import build_broker, subscriber_options
from kervan_servicekit.inbox import Inbox
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.outbox import Outbox, OutboxMessage, OutboxRelay
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import KafkaSettings
from kervan_testkit.events import record_events

pytestmark = pytest.mark.integration

SCHEMA = "svc"
RelayFactory = Callable[..., OutboxRelay]
WaitUntil = Callable[..., Awaitable[None]]
StatusEnvelope = Callable[..., Envelope[ApiStatusChanged]]


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing inside the relay catches it."""


async def _unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_row_is_published_when_the_relay_dies_between_confirm_and_mark(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    wait_until: WaitUntil,
    status_envelope: StatusEnvelope,
    unique_name: Callable[[str], str],
) -> None:
    topic = await new_topic("outbox", partitions=1)
    envelope = status_envelope("store-crash")
    async with db.acquire() as conn, conn.transaction():
        await Outbox(SCHEMA).add(conn, topic, "store-crash", envelope)

    confirmed_before_crash: list[Sequence[int]] = []

    async def crash_after_confirm(ids: Sequence[int]) -> None:
        confirmed_before_crash.append(ids)
        raise SimulatedCrash

    async with record_events(kafka_bootstrap, topic) as recorder:
        first = make_relay(before_mark=crash_after_confirm)
        await first.start()
        await first.wait_done()
        assert len(confirmed_before_crash) == 1  # Kafka confirmed the row...
        assert await _unpublished(db) == 1  # ...but it was never marked
        assert not first.is_running

        second = make_relay()
        await second.start()
        await wait_until(lambda: _drained(db), what="outbox drained by the second relay")
        copies = await recorder.wait_for(2, timeout=20)

    # 0 lost: the event is on Kafka (here twice: once per relay), each copy intact
    assert [c.value["event_id"] for c in copies] == [str(envelope.event_id)] * 2
    assert all(c.key == "store-crash" for c in copies)
    assert all(c.headers["event_id"] == str(envelope.event_id) for c in copies)
    assert all(c.headers["event_type"] == "credentials.api_status.changed" for c in copies)

    # A consumer with an inbox applies the event exactly once despite the duplicate.
    group = unique_name("inbox-consumer")
    await db.execute("CREATE TABLE applied (event_id uuid, applied_at timestamptz DEFAULT now())")
    deliveries: list[str] = []
    broker = build_broker(
        service="servicekit-test",
        kafka=KafkaSettings(bootstrap=kafka_bootstrap),
        retry=RetryPolicy(max_attempts=3, base_delay=0.1),
        registry=CollectorRegistry(),
        metrics=ServiceMetrics("servicekit-test", CollectorRegistry()),
    )
    inbox = Inbox(SCHEMA)

    @broker.subscriber(topic, **subscriber_options(group))
    async def apply(event: Envelope[ApiStatusChanged]) -> None:
        async with db.acquire() as conn, conn.transaction():
            if await inbox.claim(conn, group, event.event_id):
                await conn.execute("INSERT INTO applied (event_id) VALUES ($1)", event.event_id)
        deliveries.append(str(event.event_id))

    await broker.start()
    try:
        await wait_until(lambda: _at_least(deliveries, 2), timeout=30, what="both copies consumed")
    finally:
        await broker.stop()
    assert await db.fetchval("SELECT count(*) FROM applied") == 1


async def _drained(pool: asyncpg.Pool) -> bool:
    return await _unpublished(pool) == 0


async def _at_least(items: Sequence[object], n: int) -> bool:
    return len(items) >= n


async def test_standby_relay_takes_over_when_the_active_one_goes(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    wait_until: WaitUntil,
    status_envelope: StatusEnvelope,
) -> None:
    topic = await new_topic("failover")
    relays = [make_relay(), make_relay()]
    for relay in relays:
        await relay.start()

    async def one_active() -> bool:
        return sum(r.is_active for r in relays) == 1

    await wait_until(one_active, what="one active relay")
    active = next(r for r in relays if r.is_active)
    standby = next(r for r in relays if not r.is_active)
    assert standby.is_running

    outbox = Outbox(SCHEMA)
    async with record_events(kafka_bootstrap, topic) as recorder:
        async with db.acquire() as conn, conn.transaction():
            await outbox.add(conn, topic, "store-a", status_envelope("store-a"))
        await recorder.wait_for(1, timeout=20)

        # The active replica shuts down: its session ends and the advisory lock goes with it.
        # (A relay dying mid-batch is covered by the crash test above.)
        await active.stop()
        started = time.monotonic()

        async def standby_active() -> bool:
            return standby.is_active

        await wait_until(standby_active, timeout=10, what="standby relay becoming active")
        takeover_seconds = time.monotonic() - started

        second = status_envelope("store-b")
        async with db.acquire() as conn, conn.transaction():
            await outbox.add(conn, topic, "store-b", second)
        events = await recorder.wait_for(2, timeout=20)

    assert events[1].value["event_id"] == str(second.event_id)
    await wait_until(lambda: _drained(db), what="second row marked published")
    assert not active.is_running
    assert takeover_seconds < 5


async def test_per_key_order_holds_for_1000_keys_with_20_events_each(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    status_envelope: StatusEnvelope,
    unique_name: Callable[[str], str],
) -> None:
    keys, per_key, writers = 1000, 20, 10
    topic = await new_topic("order", partitions=6)
    outbox = Outbox(SCHEMA)
    relay = make_relay()
    await relay.start()  # publishes while the writers are still writing

    async def writer(worker: int) -> None:
        # Each writer owns a slice of keys, so writes per key are serialised (as the service's
        # row lock on the aggregate would do); writers run concurrently.
        own = [f"store-{k}" for k in range(worker, keys, writers)]
        for seq in range(1, per_key + 1):
            messages = [
                OutboxMessage(topic, key, status_envelope(key, message=str(seq))) for key in own
            ]
            async with db.acquire() as conn, conn.transaction():
                await outbox.add_many(conn, messages)

    started = time.monotonic()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    written_seconds = time.monotonic() - started

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("order-check"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen: dict[str, list[int]] = defaultdict(list)
    total = keys * per_key
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        count = 0
        while count < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    value: dict[str, Any] = json.loads(record.value)
                    seen[record.key.decode()].append(int(value["data"]["message"]))
                    count += 1
    finally:
        await consumer.stop()
    elapsed = time.monotonic() - started

    assert count == total, f"consumed {count} of {total}"
    assert len(seen) == keys
    broken = {key: seqs for key, seqs in seen.items() if seqs != list(range(1, per_key + 1))}
    assert broken == {}
    print(
        f"\n20,000 outbox rows: written in {written_seconds:.1f}s, "
        f"all consumed after {elapsed:.1f}s"
    )


async def test_a_tombstone_follows_the_events_of_its_key_as_a_null_value(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    wait_until: WaitUntil,
    status_envelope: StatusEnvelope,
) -> None:
    topic = await new_topic("tombstones", partitions=1)
    before = status_envelope("store-gone")
    outbox = Outbox(SCHEMA)
    async with db.acquire() as conn, conn.transaction():
        await outbox.add(conn, topic, "store-gone", before)
        await outbox.add_tombstone(conn, topic, "store-gone")

    async with record_events(kafka_bootstrap, topic) as recorder:
        relay = make_relay()
        await relay.start()
        try:
            await wait_until(lambda: _drained(db), what="outbox drained")
            records = await recorder.wait_for(2, timeout=20)
        finally:
            await relay.stop()

    assert [r.key for r in records] == ["store-gone", "store-gone"]
    assert records[0].value["event_id"] == str(before.event_id)
    assert records[1].value is None  # the tombstone: key with a null value
    assert records[1].headers == {}


async def test_a_tombstone_needs_the_business_transaction(db: asyncpg.Pool) -> None:
    async with db.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the business transaction"):
            await Outbox(SCHEMA).add_tombstone(conn, "any-topic", "k")
