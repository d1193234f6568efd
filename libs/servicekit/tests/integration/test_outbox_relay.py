"""Outbox relay on real PostgreSQL and Kafka: crash recovery, failover, per-key order."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client import CollectorRegistry

from kervan_contracts.credentials.v1 import ApiStatusChanged
from kervan_contracts.envelope import Envelope
from kervan_servicekit.broker import build_broker, subscriber_options
from kervan_servicekit.inbox import Inbox
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.outbox import (
    Outbox,
    OutboxMessage,
    OutboxRecord,
    OutboxRelay,
    ProducerLike,
    default_producer_factory,
)
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import KafkaSettings, OutboxSettings
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


async def test_after_a_small_batch_the_relay_lingers_and_takes_what_came_meanwhile_at_once(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    new_topic: Callable[..., Awaitable[str]],
    wait_until: WaitUntil,
    status_envelope: StatusEnvelope,
) -> None:
    topic = await new_topic("linger", partitions=1)
    outbox = Outbox(SCHEMA)
    batches: list[list[int]] = []

    async def note(ids: Sequence[int]) -> None:
        batches.append(list(ids))

    await _active_relay(
        make_relay,
        wait_until,
        OutboxSettings(poll_interval_seconds=30, linger_seconds=1.0),  # only NOTIFY wakes it
        before_mark=note,
    )

    async def add(key: str) -> None:
        async with db.acquire() as conn, conn.transaction():
            await outbox.add(conn, topic, key, status_envelope(key))

    await add("first")
    await wait_until(lambda: _at_least(batches, 1), what="the first row published")
    for n in range(5):  # five commits, five NOTIFYs, while the relay lingers
        await add(f"next-{n}")
    await wait_until(lambda: _drained(db), what="outbox drained")
    assert [len(batch) for batch in batches] == [1, 5]


async def _active_relay(
    make_relay: RelayFactory, wait_until: WaitUntil, settings: OutboxSettings, **options: Any
) -> OutboxRelay:
    """A started relay that holds the lock (quick lock retries, bounded publishing)."""
    settings = settings.model_copy(
        update={"lock_retry_seconds": 0.2, "publish_timeout_seconds": 10}
    )
    relay = make_relay(settings=settings, **options)
    await relay.start()
    await wait_until(lambda: _true(relay.is_active), what="relay active")
    return relay


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


def _handed(row_id: int, message: OutboxMessage) -> OutboxRecord:
    """The record a service hands over after its commit, marked so the test sees its path."""
    _event_id, topic, key, headers, payload = Outbox._row(message)
    header_list = [(name, str(value).encode()) for name, value in json.loads(str(headers)).items()]
    assert isinstance(key, bytes)
    assert isinstance(payload, bytes)
    return OutboxRecord(row_id, str(topic), key, [*header_list, ("via", b"hand-off")], payload)


async def _consume(bootstrap: str, topic: str, group: str, total: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    records: list[Any] = []
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while len(records) < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for batch in batches.values():
                records += batch
    finally:
        await consumer.stop()
    return records


async def test_a_claim_larger_than_a_producer_batch_goes_out_in_batches_in_key_order(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    status_envelope: StatusEnvelope,
    unique_name: Callable[[str], str],
) -> None:
    # ~1,900 rows of ~1 KB in one claim: ~640 KB per partition, more than one 512 KiB batch.
    keys, per_key, partitions = 12, 160, 3
    topic = await new_topic("batches", partitions=partitions)
    padding = "x" * 450
    messages = [
        OutboxMessage(topic, key, status_envelope(key, message=f"{seq} {padding}"))
        for seq in range(1, per_key + 1)
        for key in (f"store-{k}" for k in range(keys))
    ]
    async with db.acquire() as conn, conn.transaction():
        await Outbox(SCHEMA).add_many(conn, messages)
    submitted: list[int] = []

    def counting_producer() -> ProducerLike:
        producer: Any = default_producer_factory(kafka_bootstrap, "batches-test", 10.0)
        send_batch = producer.send_batch

        async def counted(batch: Any, topic: str, *, partition: int) -> Any:
            submitted.append(partition)
            return await send_batch(batch, topic, partition=partition)

        producer.send_batch = counted
        return cast(ProducerLike, producer)

    relay = make_relay(
        producer_factory=counting_producer,
        settings=OutboxSettings(batch_size=2000, poll_interval_seconds=0.5, lock_retry_seconds=0.2),
    )
    await relay.start()
    total = keys * per_key
    records = await _consume(kafka_bootstrap, topic, unique_name("batches-check"), total)

    assert len(records) == total
    assert max(Counter(submitted).values()) >= 2  # a partition took more than one batch
    seen: dict[str, list[int]] = defaultdict(list)
    everywhere = list(range(partitions))
    for record in records:
        # The partition aiokafka's own partitioner gives the key (as `send` would have used).
        assert record.partition == DefaultPartitioner()(record.key, everywhere, everywhere)
        headers = dict(record.headers)
        value = json.loads(record.value)
        assert headers["event_id"].decode() == value["event_id"]
        seen[record.key.decode()].append(int(value["data"]["message"].split()[0]))
    assert {key: seqs for key, seqs in seen.items() if seqs != list(range(1, per_key + 1))} == {}
    assert len(seen) == keys


async def test_handed_rows_publish_without_a_read_back_in_order_with_rows_never_handed(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    wait_until: WaitUntil,
    status_envelope: StatusEnvelope,
    unique_name: Callable[[str], str],
) -> None:
    keys, per_key, writers = 200, 10, 5
    topic = await new_topic("handoff", partitions=3)
    outbox = Outbox(SCHEMA)
    # Small batches: most claims are full, so handed rows also wait behind a full claim.
    relay = await _active_relay(
        make_relay,
        wait_until,
        OutboxSettings(batch_size=50, poll_interval_seconds=0.5, delete_published=True),
    )

    async def writer(worker: int) -> None:
        own = [f"store-{k}" for k in range(worker, keys, writers)]
        for seq in range(1, per_key + 1):
            messages = [
                OutboxMessage(topic, key, status_envelope(key, message=str(seq))) for key in own
            ]
            async with db.acquire() as conn, conn.transaction():
                ids = await outbox.add_many(conn, messages)
            # Every third transaction is not handed over (another replica's rows, a crash
            # between commit and hand-off): the relay must read those back, in order.
            if seq % 3:
                relay.hand_off(_handed(i, m) for i, m in zip(ids, messages, strict=True))

    await asyncio.gather(*(writer(w) for w in range(writers)))
    await wait_until(lambda: _drained(db), what="outbox drained")
    # A row handed over after it was published (id 1 is gone) is not sent again; a row of
    # the same key written after it marks the point by which it would have been sent.
    stale = OutboxMessage(topic, "store-0", status_envelope("store-0", message="0"))
    relay.hand_off([_handed(1, stale)])
    last = OutboxMessage(topic, "store-0", status_envelope("store-0", message=str(per_key + 1)))
    async with db.acquire() as conn, conn.transaction():
        await outbox.add_many(conn, [last])

    total = keys * per_key + 1
    records = await _consume(kafka_bootstrap, topic, unique_name("handoff-check"), total)

    assert len(records) == total  # nothing lost, nothing twice
    event_ids = [json.loads(r.value)["event_id"] for r in records]
    assert len(set(event_ids)) == total
    assert str(stale.envelope.event_id) not in event_ids
    seen: dict[str, list[int]] = defaultdict(list)
    via_hand_off = 0
    for record in records:
        seen[record.key.decode()].append(int(json.loads(record.value)["data"]["message"]))
        via_hand_off += ("via", b"hand-off") in record.headers
    # store-0's last row comes after the rest of its key; every key in order.
    assert seen.pop("store-0") == list(range(1, per_key + 2))
    assert {key: seqs for key, seqs in seen.items() if seqs != list(range(1, per_key + 1))} == {}
    assert 0 < via_hand_off < total  # both paths were taken
    # delete_published: a published row is gone, not rewritten.
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_hand_off_to_a_relay_that_is_not_active_is_read_back_instead(
    make_relay: RelayFactory,
    db: asyncpg.Pool,
    kafka_bootstrap: str,
    new_topic: Callable[..., Awaitable[str]],
    wait_until: WaitUntil,
    status_envelope: StatusEnvelope,
) -> None:
    topic = await new_topic("handoff-standby", partitions=1)
    message = OutboxMessage(topic, "store-s", status_envelope("store-s"))
    async with db.acquire() as conn, conn.transaction():
        [row_id] = await Outbox(SCHEMA).add_many(conn, [message])
    relay = make_relay()
    relay.hand_off([_handed(row_id, message)])  # not started: not the active relay

    async with record_events(kafka_bootstrap, topic) as recorder:
        await relay.start()
        await wait_until(lambda: _drained(db), what="outbox drained")
        [record] = await recorder.wait_for(1, timeout=20)

    assert record.value["event_id"] == str(message.envelope.event_id)
    assert "via" not in record.headers
    # Without delete_published the row is kept, marked published.
    assert await db.fetchval("SELECT published_at IS NOT NULL FROM outbox") is True


async def _true(value: bool) -> bool:
    return value
