"""Transactional outbox: events written in the business transaction, published by a relay.

`Outbox.add` inserts the event in the caller's transaction (and NOTIFYs the relay at commit).
`OutboxRelay` runs in the service process: one relay per schema is active at a time (it holds
a PostgreSQL advisory lock on a dedicated connection; the others wait and take over when that
connection dies). The active relay claims unpublished rows in id order, publishes them in that
order with an idempotent `acks=all` producer, awaits every confirm, then marks the rows
published. Delivery is at-least-once: a crash between the confirm and the UPDATE re-publishes
the rows, and consumers absorb the duplicate with their inbox.

A service may hand the rows it has just committed to its own relay (`OutboxRelay.hand_off`):
they are a cache of row contents only. The claim still decides what is unpublished and in
which order (ids only, then the contents of the rows nobody handed over), so a handed row that
was already published is dropped, and a row that was never handed (a crash after commit,
another replica's row, a full cache) is read back as before.
"""

# ruff: noqa: S608  (only the schema name is formatted in, always through quote_ident;
# values are bind parameters)
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import asyncpg

from kervan_contracts.envelope import Envelope
from kervan_contracts.registry import envelope_headers, serialize_envelope
from kervan_servicekit.db import Connection
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.migrations import quote_ident
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.settings import OutboxSettings

logger = logging.getLogger("kervan.servicekit.outbox")

_MAX_ERROR_CHARS = 500
_CLEANUP_CHUNK = 5000


def notify_channel(schema: str) -> str:
    """NOTIFY channel of a schema's outbox (one per service)."""
    return f"kervan_outbox_{schema}"


def relay_lock_name(schema: str) -> str:
    """Name hashed into the advisory lock that elects the active relay of a schema."""
    return f"kervan-outbox-relay:{schema}"


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """A committed outbox row as the relay sends it (`payload` None: a tombstone)."""

    id: int
    topic: str
    key: bytes | None
    headers: list[tuple[str, bytes]]
    payload: bytes | None


HANDOFF_CAPACITY_BATCHES = 4
"""Handed rows kept at most, in claim batches; beyond it new ones are read back instead."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """An event to publish: topic, Kafka key and the envelope."""

    topic: str
    key: str | None
    envelope: Envelope[Any]


class Outbox:
    """Writes events into the `outbox` table of one schema."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.channel = notify_channel(schema)
        self._insert_sql = (
            f"INSERT INTO {quote_ident(schema)}.outbox (event_id, topic, key, headers, payload) "
            "VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id"
        )

    @staticmethod
    def _row(message: OutboxMessage) -> tuple[object, ...]:
        envelope = message.envelope
        headers = envelope_headers(envelope)
        # FastStream reads this header into `msg.correlation_id`, which the log context binds.
        headers["correlation_id"] = envelope.correlation_id
        return (
            envelope.event_id,
            message.topic,
            message.key.encode() if message.key is not None else None,
            json.dumps(headers),
            serialize_envelope(envelope),
        )

    async def add(
        self, conn: Connection, topic: str, key: str | None, envelope: Envelope[Any]
    ) -> int:
        """Insert one event in the caller's transaction; returns the outbox row id.

        The caller must serialise writes per key (e.g. lock the aggregate row first): rows of
        one key are published in id order, and ids are taken at insert time.
        """
        return (await self.add_many(conn, [OutboxMessage(topic, key, envelope)]))[0]

    async def add_tombstone(self, conn: Connection, topic: str, key: str) -> int:
        """Queue a tombstone (key with a null value) for a compacted topic, in order with `add`.

        Compaction then forgets every earlier record of the key. The row still gets an
        `event_id` of its own so the outbox stays uniquely keyed; it is not sent as a header.
        """
        if not conn.is_in_transaction():
            raise RuntimeError("Outbox.add_tombstone must run inside the business transaction")
        row_id = await conn.fetchval(
            self._insert_sql, uuid.uuid4(), topic, key.encode(), "{}", None
        )
        await conn.execute("SELECT pg_notify($1, '')", self.channel)
        return int(row_id)

    async def add_many(self, conn: Connection, messages: Iterable[OutboxMessage]) -> list[int]:
        """Insert several events, in order, in the caller's transaction."""
        if not conn.is_in_transaction():
            raise RuntimeError("Outbox.add must run inside the business transaction")
        ids = [await conn.fetchval(self._insert_sql, *self._row(message)) for message in messages]
        # Delivered at commit only, and folded into one per transaction by PostgreSQL.
        await conn.execute("SELECT pg_notify($1, '')", self.channel)
        return [int(row_id) for row_id in ids]


class ProducerLike(Protocol):
    """The part of `aiokafka.AIOKafkaProducer` the relay uses."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]: ...


class RecordBatchLike(Protocol):
    """The part of aiokafka's `BatchBuilder` the relay uses."""

    def append(
        self,
        *,
        timestamp: float | None,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = ...,
    ) -> object | None: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchingProducerLike(Protocol):
    """What aiokafka's producer adds for whole batches (`create_batch`, `send_batch`).

    The relay builds the batches itself when its producer has them: `send` costs ~15 µs per
    record in aiokafka (a future, a partitioner call and accumulator bookkeeping each), an
    `append` to a batch about a tenth of that. A producer without them (a test double) gets
    one `send` per record.
    """

    async def partitions_for(self, topic: str) -> set[int]: ...

    def create_batch(self) -> RecordBatchLike: ...

    async def send_batch(
        self, batch: RecordBatchLike, topic: str, *, partition: int
    ) -> asyncio.Future[Any]: ...


PRODUCER_BATCH_BYTES = 512 * 1024
"""Records buffered per partition before a send waits for the broker (Kafka accepts 1 MiB)."""


def default_producer_factory(
    bootstrap: str, client_id: str, request_timeout: float
) -> ProducerLike:
    """An idempotent, `acks=all` aiokafka producer (ordering within a partition is kept).

    aiokafka buffers one batch per partition and a send into a full one waits until the
    broker has answered for it: with its 16 KiB default, a claim of rows that share a key
    (every movement of one SKU) took a round trip per ~30 records. A batch as large as a
    claim makes that one request. Keys go to the partitions aiokafka's default partitioner
    picks, computed faster (`KeyPartitioner`).
    """
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415  (keeps import time light)

    from kervan_servicekit.partitioner import KeyPartitioner  # noqa: PLC0415

    producer: ProducerLike = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=int(request_timeout * 1000),
        max_batch_size=PRODUCER_BATCH_BYTES,
        partitioner=KeyPartitioner(),
    )
    return producer


BeforeMarkHook = Callable[[Sequence[int]], Awaitable[None]]


class OutboxRelay:
    """Publishes a schema's outbox rows to Kafka; start it in the service lifespan."""

    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        service: str,
        bootstrap: str,
        settings: OutboxSettings,
        metrics: ServiceMetrics,
        producer_factory: Callable[[], ProducerLike] | None = None,
        before_mark: BeforeMarkHook | None = None,
    ) -> None:
        """`before_mark` is a fault-injection seam for tests: awaited after the confirms of a
        batch and before its rows are marked published."""
        self._dsn = dsn
        self.schema = schema
        self.service = service
        self.settings = settings
        self.metrics = metrics
        self._producer_factory = producer_factory or (
            lambda: default_producer_factory(
                bootstrap, f"{service}-outbox-relay", settings.publish_timeout_seconds
            )
        )
        self._before_mark = before_mark
        self._backoff = RetryPolicy(
            max_attempts=1_000_000,
            base_delay=0.2,
            max_delay=settings.reconnect_max_delay_seconds,
            jitter=0.5,
        )
        s = quote_ident(schema)
        self._claim_sql = (
            f"SELECT id, topic, key, headers::text AS headers, payload FROM {s}.outbox "
            "WHERE published_at IS NULL ORDER BY id LIMIT $1"
        )
        self._claim_ids_sql = (
            f"SELECT id FROM {s}.outbox WHERE published_at IS NULL ORDER BY id LIMIT $1"
        )
        self._rows_sql = (
            f"SELECT id, topic, key, headers::text AS headers, payload FROM {s}.outbox "
            "WHERE id = ANY($1::bigint[]) AND published_at IS NULL"
        )
        # Deleting writes no new version of the row (an UPDATE copies the payload and inserts
        # into every index); the claim's "unpublished" stays "published_at IS NULL" either way.
        self._mark_sql = (
            f"DELETE FROM {s}.outbox WHERE id = ANY($1::bigint[])"
            if settings.delete_published
            else f"UPDATE {s}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
        )
        self._fail_sql = (
            f"UPDATE {s}.outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1"
        )
        # The lowest unpublished id, through the claim's partial index: min(created_at) read
        # every unpublished row after each batch, a scan as long as the backlog. Ids follow
        # insertion, so this is the oldest row but for a transaction's own duration.
        self._lag_sql = (
            "SELECT COALESCE(EXTRACT(EPOCH FROM now() - ("
            f"SELECT created_at FROM {s}.outbox WHERE published_at IS NULL ORDER BY id LIMIT 1"
            ")), 0)::float8"
        )
        self._cleanup_sql = (
            f"DELETE FROM {s}.outbox WHERE id IN (SELECT id FROM {s}.outbox "
            "WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)"
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._active = False
        self._producer: ProducerLike | None = None
        self._handed: dict[int, OutboxRecord] = {}

    @property
    def is_active(self) -> bool:
        """True while this relay holds the lock and publishes."""
        return self._active

    @property
    def is_running(self) -> bool:
        """True while the relay task runs (active or standby)."""
        return self._task is not None and not self._task.done()

    def hand_off(self, records: Iterable[OutboxRecord]) -> None:
        """Rows this process has just committed: published without reading them back.

        Call it after the commit only. A hint: while the relay is not active, or its cache is
        full, the rows are ignored here and read from the table like any other.
        """
        if not self._active:
            return
        capacity = HANDOFF_CAPACITY_BATCHES * self.settings.batch_size
        for record in records:
            if len(self._handed) >= capacity:
                break
            self._handed[record.id] = record
        self._wake.set()

    async def start(self) -> None:
        """Start the relay task; it becomes active once it holds the lock."""
        if self.is_running:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop publishing, release the lock and close the producer."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        _done, pending = await asyncio.wait({task}, timeout=grace)
        if pending:
            task.cancel()
            await asyncio.wait({task})

    async def wait_done(self) -> None:
        """Wait for the relay task to end, however it ends (tests: after a simulated crash)."""
        if self._task is not None:
            await asyncio.wait({self._task})

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self._lead()
            except Exception as error:
                # Usually the database went away (or was never reached); anything else is
                # logged the same way: a relay that dies silently would stall every event.
                failures = 1 if time.monotonic() - started > 60 else failures + 1
                delay = self._backoff.delay(failures)
                logger.warning(
                    "outbox relay interrupted; reconnecting",
                    extra={"error_type": type(error).__name__, "retry_in_seconds": round(delay, 3)},
                )
                await self._backoff_sleep(delay)

    async def _backoff_sleep(self, seconds: float) -> None:
        """Sleep, waking early only on stop (a NOTIFY must not shorten a backoff)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _poll_sleep(self, seconds: float) -> None:
        """Sleep until NOTIFY, connection loss, stop, or the polling interval."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _lead(self) -> None:
        conn: asyncpg.Connection = await asyncio.wait_for(
            asyncpg.connect(
                self._dsn, server_settings={"application_name": f"{self.service}-outbox-relay"}
            ),
            timeout=30,
        )
        try:
            conn.add_termination_listener(lambda _conn: self._wake.set())
            lock = relay_lock_name(self.schema)
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock):
                await self._backoff_sleep(self.settings.lock_retry_seconds)
                if self._stopping.is_set():
                    return
            self._active = True
            self.metrics.outbox_relay_active.set(1)
            logger.info("outbox relay is active", extra={"schema": self.schema})
            await conn.add_listener(notify_channel(self.schema), self._on_notify)
            await self._publish_loop(conn)
        finally:
            self._active = False
            self._handed.clear()
            self.metrics.outbox_relay_active.set(0)
            await self._drop_producer()
            # Closing the session releases the advisory lock for a standby relay.
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except BaseException:
                conn.terminate()
                raise

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def _publish_loop(self, conn: Connection) -> None:
        kafka_failures = 0
        next_cleanup = 0.0
        while not self._stopping.is_set():
            if conn.is_closed():
                raise asyncpg.InterfaceError("relay connection closed")
            self._wake.clear()
            try:
                claimed = await self._publish_batch(conn)
                kafka_failures = 0
            except _PublishFailedError:
                kafka_failures += 1
                await self._backoff_sleep(self._backoff.delay(kafka_failures))
                continue
            self.metrics.outbox_lag.set(await conn.fetchval(self._lag_sql))
            if time.monotonic() >= next_cleanup:
                await self._cleanup(conn)
                next_cleanup = time.monotonic() + self.settings.cleanup_interval_seconds
            if claimed < self.settings.batch_size:
                if claimed and self.settings.linger_seconds:
                    await self._backoff_sleep(self.settings.linger_seconds)
                await self._poll_sleep(self.settings.poll_interval_seconds)

    async def _ensure_producer(self) -> ProducerLike:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                # start() waits for metadata; without a bound it can hang while Kafka is down.
                await asyncio.wait_for(producer.start(), self.settings.publish_timeout_seconds)
            except BaseException:
                await self._stop_producer(producer)
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._stop_producer(producer)

    @staticmethod
    async def _stop_producer(producer: ProducerLike) -> None:
        # stop() can hang forever when Kafka is unreachable (aiokafka#1101): bound it and
        # abandon the producer; a fresh one is built for the next batch.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout=5)

    async def _claim(self, conn: Connection) -> list[OutboxRecord]:
        """The lowest unpublished rows in id order, contents from the hand-off when known."""
        if not self._handed:
            rows = await conn.fetch(self._claim_sql, self.settings.batch_size)
            return [_record(row) for row in rows]
        # Taken before the claim: each was committed before it, so the claim sees it unless it
        # is published already (then it is dropped here, never sent twice by this path).
        handed, self._handed = self._handed, {}
        ids = await conn.fetch(self._claim_ids_sql, self.settings.batch_size)
        missing = [row["id"] for row in ids if row["id"] not in handed]
        read = (
            {row["id"]: _record(row) for row in await conn.fetch(self._rows_sql, missing)}
            if missing
            else {}
        )
        records = []
        for row in ids:
            record = handed.pop(row["id"], None) or read.get(row["id"])
            if record is not None:  # None: marked since the claim (another relay's last act)
                records.append(record)
        if len(ids) == self.settings.batch_size:
            # Handed rows beyond a full claim wait for the next one (ids above these).
            self._handed = handed | self._handed
        return records

    async def _publish_batch(self, conn: Connection) -> int:
        rows = await self._claim(conn)
        if not rows:
            return 0
        confirmed: list[int] = []
        try:
            async with asyncio.timeout(self.settings.publish_timeout_seconds):
                producer = await self._ensure_producer()
                if isinstance(producer, BatchingProducerLike):
                    futures = await _send_in_batches(producer, rows)
                else:
                    futures = [
                        await producer.send(
                            row.topic,
                            # A row without payload is a tombstone: a null value.
                            value=row.payload,
                            key=row.key,
                            headers=row.headers or None,
                        )
                        for row in rows
                    ]
                # Confirms are awaited in id order; only the confirmed prefix is marked, so a
                # failure never marks a row whose predecessor (same key) was not confirmed.
                for row, future in zip(rows, futures, strict=True):
                    await future
                    confirmed.append(row.id)
        except Exception as error:
            failed = rows[len(confirmed)]
            self.metrics.outbox_publish_failures.inc()
            logger.warning(
                "outbox publish failed; rebuilding the producer",
                extra={
                    "error_type": type(error).__name__,
                    "outbox_id": failed.id,
                    "confirmed": len(confirmed),
                },
            )
            await self._drop_producer()
            await self._mark(conn, confirmed)
            message = f"{type(error).__name__}: {error}"[:_MAX_ERROR_CHARS]
            await conn.execute(self._fail_sql, failed.id, message)
            raise _PublishFailedError from error
        await self._mark(conn, confirmed)
        return len(rows)

    async def _mark(self, conn: Connection, ids: list[int]) -> None:
        if not ids:
            return
        if self._before_mark is not None:
            await self._before_mark(ids)
        await conn.execute(self._mark_sql, ids)
        self.metrics.outbox_published.inc(len(ids))

    async def _cleanup(self, conn: Connection) -> None:
        retention = self.settings.retention_hours * 3600
        while not self._stopping.is_set():
            status = await conn.execute(self._cleanup_sql, retention, _CLEANUP_CHUNK)
            deleted = int(status.split()[-1])
            self.metrics.outbox_cleaned.inc(deleted)
            if deleted < _CLEANUP_CHUNK:
                return


async def _send_in_batches(
    producer: BatchingProducerLike, rows: Sequence[OutboxRecord]
) -> list[asyncio.Future[Any]]:
    """Rows into one record batch per partition (a new one when it is full), in id order.

    Returns each row's delivery future (its batch's). Partitions are the ones `send` would
    pick (`KeyPartitioner`); within a partition the rows keep their id order: a batch is
    submitted before the next one of its partition is started, and aiokafka sends the batches
    of a partition one after the other.
    """
    from kervan_servicekit.partitioner import KeyPartitioner  # noqa: PLC0415

    partitioner = KeyPartitioner()
    partitions: dict[str, list[int]] = {}
    open_batches: dict[tuple[str, int], tuple[RecordBatchLike, list[int]]] = {}
    futures: list[asyncio.Future[Any] | None] = [None] * len(rows)

    async def submit(topic: str, partition: int) -> None:
        batch, members = open_batches.pop((topic, partition))
        batch.close()  # nothing else may be appended to it by the producer
        future = await producer.send_batch(batch, topic, partition=partition)
        for index in members:
            futures[index] = future

    for index, row in enumerate(rows):
        known = partitions.get(row.topic)
        if known is None:
            known = partitions[row.topic] = sorted(await producer.partitions_for(row.topic))
        partition = partitioner(row.key, known, known)
        entry = open_batches.get((row.topic, partition))
        if entry is not None:
            if _append(entry[0], row):
                entry[1].append(index)
                continue
            await submit(row.topic, partition)  # full: send it, start the next one
        batch = producer.create_batch()
        if not _append(batch, row):  # aiokafka always takes a batch's first record
            raise ValueError(f"outbox row {row.id} does not fit in a producer batch")
        open_batches[(row.topic, partition)] = (batch, [index])
    for topic, partition in list(open_batches):
        await submit(topic, partition)
    sent = [future for future in futures if future is not None]
    if len(sent) != len(rows):
        raise RuntimeError("an outbox row was not put in any batch")
    return sent


def _append(batch: RecordBatchLike, row: OutboxRecord) -> bool:
    # A row without payload is a tombstone: a null value.
    appended = batch.append(timestamp=None, key=row.key, value=row.payload, headers=row.headers)
    return appended is not None


def _record(row: asyncpg.Record) -> OutboxRecord:
    payload = row["payload"]
    return OutboxRecord(
        id=row["id"],
        topic=row["topic"],
        key=row["key"],
        headers=[(name, str(value).encode()) for name, value in json.loads(row["headers"]).items()],
        payload=bytes(payload) if payload is not None else None,
    )


class _PublishFailedError(Exception):
    """A batch could not be published; the relay backs off and retries."""
