"""Record what gets published to Kafka topics while a block of test code runs.

.. code-block:: python

    async with record_events(kafka_bootstrap, "kervan.orders.v1") as rec:
        await publish_something()
        await rec.wait_for(2, timeout=10)
        await rec.assert_exact([{"event_type": "order.created", ...}, {...}])

``assert_exact`` and ``assert_no_more`` are coroutines and must be awaited inside the block;
the pytest plugin fails a test that created one without awaiting it.

The recorder uses no consumer group: it assigns every partition of the topics and seeks to the
end offsets *before* the block runs, so it sees exactly what was published from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kervan_contracts.event import EventPayload
from kervan_contracts.registry import key_for, make_envelope, serialize_envelope

#: Envelope fields that differ on every run and are ignored by ``assert_exact`` by default.
DEFAULT_IGNORE: tuple[str, ...] = ("event_id", "occurred_at", "correlation_id", "causation_id")


class RecordedEvent(tuple[str | None, dict[str, str], Any]):
    """``(key, headers, value)`` of one record, plus ``topic``, ``partition`` and ``offset``.

    ``value`` is the JSON-decoded payload (an envelope dict), ``None`` for a tombstone, or the
    raw bytes when the payload is not JSON.
    """

    topic: str
    partition: int
    offset: int

    def __new__(
        cls,
        key: str | None,
        headers: dict[str, str],
        value: Any,
        *,
        topic: str,
        partition: int,
        offset: int,
    ) -> RecordedEvent:
        """Build a recorded event."""
        self = super().__new__(cls, (key, headers, value))
        self.topic = topic
        self.partition = partition
        self.offset = offset
        return self

    @property
    def key(self) -> str | None:
        """Record key decoded as UTF-8."""
        return self[0]

    @property
    def headers(self) -> dict[str, str]:
        """Record headers decoded as UTF-8."""
        return self[1]

    @property
    def value(self) -> Any:
        """Decoded payload."""
        return self[2]

    def __repr__(self) -> str:
        return (
            f"RecordedEvent({self.topic}[{self.partition}]@{self.offset} key={self.key!r} "
            f"value={self.value!r})"
        )


def _decode_value(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw


def _recorded(msg: Any) -> RecordedEvent:
    return RecordedEvent(
        msg.key.decode("utf-8", "replace") if msg.key is not None else None,
        {k: v.decode("utf-8", "replace") for k, v in msg.headers or ()},
        _decode_value(msg.value),
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
    )


async def read_topic(bootstrap: str, topic: str) -> list[RecordedEvent]:
    """Every record of `topic` from the beginning up to its end offsets at call time, partition by
    partition (order holds within a partition). For checks of what a whole run published."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(await _partitions_for(admin, topic))]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[RecordedEvent] = []
        for partition in partitions:
            while await consumer.position(partition) < ends[partition]:
                batch = await consumer.getmany(partition, timeout_ms=1000)
                records.extend(_recorded(msg) for msg in batch.get(partition, ()))
        return records
    finally:
        await consumer.stop()


def _as_plain(item: Any) -> Any:
    """Envelope models become JSON-shaped dicts, so they compare with recorded payloads."""
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True)
    return item


def _strip(value: Any, ignore: Iterable[str]) -> Any:
    if isinstance(value, dict):
        drop = set(ignore)
        return {k: v for k, v in value.items() if k not in drop}
    return value


class EventRecorder:
    """Collects records from the end offsets captured at start; see :func:`record_events`."""

    def __init__(self, consumer: AIOKafkaConsumer, topics: Sequence[str]) -> None:
        self._consumer = consumer
        self.topics = tuple(topics)
        self.records: list[RecordedEvent] = []
        self._partitions: list[TopicPartition] = []
        self._arrived = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._claimed = 0

    async def _start(self, bootstrap: str) -> None:
        partitions: list[TopicPartition] = []
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            for topic in self.topics:
                ids = await _partitions_for(admin, topic)
                partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
        finally:
            await admin.close()
        await self._consumer.start()
        self._partitions = partitions
        self._consumer.assign(partitions)
        ends = await self._consumer.end_offsets(partitions)
        for tp, offset in ends.items():
            self._consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._pump(), name="kervan-testkit-event-recorder")

    async def _pump(self) -> None:
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200)
                if not batches:
                    continue
                for tp in sorted(batches, key=lambda t: (t.topic, t.partition)):
                    self.records.extend(_recorded(msg) for msg in batches[tp])
                async with self._arrived:
                    self._arrived.notify_all()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._error = exc
            async with self._arrived:
                self._arrived.notify_all()
            raise

    def _raise_if_broken(self) -> None:
        if self._error is not None:
            raise AssertionError(f"event recorder stopped: {self._error!r}") from self._error

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[RecordedEvent]:  # noqa: ASYNC109
        """Wait until ``n`` records arrived in total; returns the first ``n``.

        Fails on timeout, listing what did arrive.
        """
        self._claimed = max(self._claimed, n)
        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(
                    lambda: len(self.records) >= n or self._error is not None
                )
        except TimeoutError:
            raise AssertionError(
                f"expected {n} record(s) on {', '.join(self.topics)} within {timeout}s, "
                f"got {len(self.records)}: {self.records!r}"
            ) from None
        self._raise_if_broken()
        return self.records[:n]

    async def settle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until everything published so far has been read.

        "So far" is the partitions' end offsets right now, so no sleep is involved: when this
        returns, any extra record that was already published is in :attr:`records`.
        """
        ends = await self._consumer.end_offsets(self._partitions)
        deadline = time.monotonic() + timeout
        while True:
            self._raise_if_broken()
            behind = [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]
            if not behind:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"recorder did not catch up on {behind} within {timeout}s")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2), self._arrived:
                    await self._arrived.wait()

    def by_topic(self) -> dict[str, list[RecordedEvent]]:
        """Recorded events grouped by topic, in arrival order."""
        grouped: dict[str, list[RecordedEvent]] = {t: [] for t in self.topics}
        for record in self.records:
            grouped.setdefault(record.topic, []).append(record)
        return grouped

    def assert_exact(
        self,
        expected: Sequence[Any] | Mapping[str, Sequence[Any]],
        ignore: Iterable[str] = DEFAULT_IGNORE,
        *,
        ordered: bool = True,
        timeout: float = 10.0,
    ) -> Coroutine[Any, Any, None]:
        """Assert the exact envelopes recorded per topic (nothing missing, nothing extra).

        ``expected`` is a list (when recording one topic) or ``{topic: [envelope, ...]}``;
        items may be dicts or pydantic models. Top-level fields in ``ignore`` are left out of
        the comparison. It first reads up to the current end offsets, so an extra record that
        was already published fails the assertion. Arrival order is only meaningful within a
        partition: for multi-partition topics pass ``ordered=False``.
        """
        return _tracked(
            "assert_exact", lambda: self._assert_exact(expected, ignore, ordered, timeout)
        )

    async def _assert_exact(
        self,
        expected: Sequence[Any] | Mapping[str, Sequence[Any]],
        ignore: Iterable[str],
        ordered: bool,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        if not isinstance(expected, Mapping):
            if len(self.topics) != 1:
                raise TypeError("pass {topic: [...]} when recording more than one topic")
            expected = {self.topics[0]: expected}
        ignore = tuple(ignore)
        await self.settle(timeout=timeout)
        actual_by_topic = self.by_topic()
        problems: list[str] = []
        for topic in sorted(set(expected) | set(actual_by_topic)):
            want = [_strip(_as_plain(e), ignore) for e in expected.get(topic, ())]
            got = [_strip(r.value, ignore) for r in actual_by_topic.get(topic, ())]
            if ordered:
                same = want == got
            else:
                remaining = list(got)
                same = len(want) == len(got)
                for item in want:
                    if item in remaining:
                        remaining.remove(item)
                    else:
                        same = False
            if not same:
                problems.append(_describe(topic, want, got))
        self._claimed = max(self._claimed, len(self.records))
        if problems:
            raise AssertionError("recorded events differ:\n" + "\n".join(problems))

    def assert_no_more(self, timeout: float = 10.0) -> Coroutine[Any, Any, None]:
        """Assert nothing arrived beyond what ``wait_for``/``assert_exact`` accounted for."""
        return _tracked("assert_no_more", lambda: self._assert_no_more(timeout))

    async def _assert_no_more(self, timeout: float) -> None:  # noqa: ASYNC109
        await self.settle(timeout=timeout)
        extra = self.records[self._claimed :]
        if extra:
            raise AssertionError(f"{len(extra)} unexpected record(s): {extra!r}")

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


async def _partitions_for(
    admin: AIOKafkaAdminClient,
    topic: str,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics([topic])
        info = described[0] if described else {}
        ids = {p["partition"] for p in info.get("partitions") or ()}
        if info.get("error_code", 0) == 0 and ids:
            return ids
        if time.monotonic() >= deadline:
            raise AssertionError(f"topic {topic!r} does not exist (no partitions in metadata)")
        await asyncio.sleep(0.1)


_PENDING: dict[int, str] = {}


def _tracked(
    name: str, check: Callable[[], Coroutine[Any, Any, None]]
) -> Coroutine[Any, Any, None]:
    """Wrap an assertion so a forgotten ``await`` can be detected (see the plugin)."""

    async def run() -> None:
        _PENDING.pop(key, None)
        await check()

    coro = run()
    key = id(coro)
    _PENDING[key] = name
    return coro


def take_unawaited_checks() -> list[str]:
    """Names of recorder assertions created but never awaited (and forget them)."""
    names = list(_PENDING.values())
    _PENDING.clear()
    return names


def _describe(topic: str, want: list[Any], got: list[Any]) -> str:
    lines = [f"  topic {topic}: expected {len(want)}, recorded {len(got)}"]
    for i in range(max(len(want), len(got))):
        w = json.dumps(want[i], sort_keys=True, default=str) if i < len(want) else "<none>"
        g = json.dumps(got[i], sort_keys=True, default=repr) if i < len(got) else "<none>"
        marker = "  " if i < len(want) and i < len(got) and want[i] == got[i] else "!="
        lines.append(f"    [{i}] {marker} expected {w}\n           recorded {g}")
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def record_events(
    bootstrap: str,
    *topics: str,
    isolation_level: str = "read_committed",
) -> AsyncIterator[EventRecorder]:
    """Record everything published to ``topics`` from now on (see module docs).

    ``read_committed`` (the default) hides records of aborted transactions, as Kervan's own
    consumers do.
    """
    if not topics:
        raise ValueError("record_events needs at least one topic")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation_level,
        auto_offset_reset="earliest",
    )
    recorder = EventRecorder(consumer, topics)
    try:
        await recorder._start(bootstrap)
        yield recorder
    finally:
        await recorder._stop()


async def publish_events(bootstrap: str, *payloads: EventPayload, producer: str = "test") -> None:
    """Publish events the way their owning services do: enveloped, keyed by the contract's key,
    on the contract's topic, in order (idempotent producer, acks=all), flushed before returning."""
    kafka = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await kafka.start()
    try:
        for payload in payloads:
            envelope = make_envelope(payload, producer=producer)
            await kafka.send(
                payload.topic, serialize_envelope(envelope), key=key_for(payload).encode()
            )
        await kafka.flush()
    finally:
        await kafka.stop()
