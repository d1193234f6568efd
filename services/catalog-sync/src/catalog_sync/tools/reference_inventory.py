"""A reference inventory that plays the platform (the seller's ERP) for demos and tests.

It applies every `StockDeducted` / `StockReleased` of `kervan.stock-movements.v1` to its
level of that (warehouse, SKU) exactly once, and publishes the new absolute
`StockLevelChanged` on `kervan.catalog.v1` listing, in `applied_movement_ids`, every movement
of the acknowledgement window it has applied (the scheme of docs/stock-model.md).

Its state lives in Kafka, nowhere else: at start it replays the compacted catalogue topic, so
the latest level per key (its own, listing what it applied, or one published by the
catalogue publisher) gives it the quantity and the ids already applied; then it resumes the
movements from its consumer group's committed offsets. Offsets are committed only after the
levels are confirmed, so a crash replays movements, and those already listed are skipped.

A level published by someone else (e.g. a recount from the catalogue publisher) replaces the
quantity if it is newer; the ids already applied stay applied (a recount includes them).
Quantities are kept signed internally (sales beyond the level) and published as max(0, q).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kervan_contracts import topics
from kervan_contracts.catalog.v1 import StockLevelChanged
from kervan_contracts.errors import ContractError
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased
from kervan_contracts.registry import (
    envelope_headers,
    key_for,
    make_envelope,
    parse_envelope,
    serialize_envelope,
)
from kervan_servicekit import get_logger

PRODUCER = "reference-inventory"
DEFAULT_WINDOW = timedelta(days=14)
_TICK = timedelta(microseconds=1)

log = get_logger("catalog_sync.reference_inventory")


@dataclass
class _Position:
    quantity: int
    as_of: datetime
    applied: dict[str, datetime] = field(default_factory=dict)
    """Movement id → when it happened (or, restored from a level, that level's `as_of`)."""


class InventoryBook:
    """Levels per (warehouse, SKU) and the movements each includes; no I/O."""

    def __init__(self, window: timedelta = DEFAULT_WINDOW) -> None:
        """`window`: how long applied movement ids are remembered and listed."""
        self._window = window
        self._positions: dict[tuple[str, str], _Position] = {}

    def level(self, warehouse_id: str, sku: str) -> int | None:
        """The signed quantity held, or None when nothing is known of this key."""
        position = self._positions.get((warehouse_id, sku))
        return None if position is None else position.quantity

    def restore(self, level: StockLevelChanged) -> None:
        """Take a published level: newer ones replace the quantity, their ids become applied."""
        key = (level.warehouse_id, level.sku)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = _Position(level.quantity, level.as_of)
        elif level.as_of <= position.as_of:
            return  # stale, a redelivery or the echo of our own level
        else:
            position.quantity = level.quantity
            position.as_of = level.as_of
        for movement_id in level.applied_movement_ids:
            position.applied.setdefault(movement_id, level.as_of)
        self._prune(position)

    def apply(
        self, movement: StockDeducted | StockReleased, now: datetime
    ) -> StockLevelChanged | None:
        """Apply a movement once; the level to publish, or None if it was already applied.

        A movement older than the window is ignored as catalog-sync ignores it: its id may
        have been forgotten, so applying it could count it twice.
        """
        key = (movement.warehouse_id, movement.sku)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = _Position(0, now - _TICK)
        if movement.movement_id in position.applied:
            return None
        if movement.occurred_at < now - self._window:
            log.warning("movement older than the window ignored", movement=movement.movement_id)
            return None
        delta = -movement.quantity if isinstance(movement, StockDeducted) else movement.quantity
        position.quantity += delta
        position.applied[movement.movement_id] = movement.occurred_at
        # Strictly increasing: catalog-sync ignores a level not newer than the one it holds.
        position.as_of = max(now, position.as_of + _TICK)
        self._prune(position)
        return StockLevelChanged(
            sku=movement.sku,
            warehouse_id=movement.warehouse_id,
            quantity=max(0, position.quantity),
            as_of=position.as_of,
            applied_movement_ids=sorted(position.applied),
        )

    def _prune(self, position: _Position) -> None:
        horizon = position.as_of - self._window
        for movement_id in [m for m, at in position.applied.items() if at < horizon]:
            del position.applied[movement_id]


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_reference_inventory(
    bootstrap: str,
    *,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    catalog_topic: str = topics.CATALOG,
    movements_topic: str = topics.STOCK_MOVEMENTS,
    group_id: str = PRODUCER,
    window: timedelta = DEFAULT_WINDOW,
    clock: Callable[[], datetime] = _utc_now,
) -> None:
    """Run until `stop` is set; `ready` is set once the catalogue has been replayed."""
    book = InventoryBook(window)
    catalog = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    movements = AIOKafkaConsumer(
        movements_topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    await catalog.start()
    try:
        await _replay_catalog(catalog, bootstrap, catalog_topic, book)
        await movements.start()
        if ready is not None:
            ready.set()
        log.info("reference inventory started", catalog=catalog_topic, movements=movements_topic)
        while not stop.is_set():
            batches = await movements.getmany(timeout_ms=200)
            sends = []
            for records in batches.values():
                for record in records:
                    level = _apply(book, record.value, clock())
                    if level is not None:
                        sends.append(await _send(producer, catalog_topic, level))
            if sends:
                await asyncio.gather(*sends)
            if batches:
                await movements.commit()
            for records in (await catalog.getmany(timeout_ms=0)).values():
                for record in records:
                    _restore(book, record.value)
    finally:
        with contextlib.suppress(Exception):
            await movements.stop()
        await catalog.stop()
        await producer.stop()


async def serve_probes(port: int, ready: asyncio.Event, stop: asyncio.Event) -> None:
    """`/healthz` (200) and `/readyz` (200 once the catalogue is replayed) on 127.0.0.1 until
    `stop`, so a process supervisor such as the devstack can wait for the inventory."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        return JSONResponse(
            {"status": "ready" if ready.is_set() else "starting"},
            status_code=200 if ready.is_set() else 503,
        )

    app = Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task


async def _replay_catalog(
    consumer: AIOKafkaConsumer, bootstrap: str, topic: str, book: InventoryBook
) -> None:
    partitions = await _partitions(bootstrap, topic)
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                _restore(book, record.value)


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    # A topic created just now may be missing from the first metadata answers.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            described = await admin.describe_topics([topic])
            info = described[0] if described else {}
            ids = sorted(p["partition"] for p in info.get("partitions") or ())
            if info.get("error_code", 0) == 0 and ids:
                return [TopicPartition(topic, p) for p in ids]
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"topic {topic} does not exist")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def _restore(book: InventoryBook, raw: bytes | None) -> None:
    if raw is None:
        return  # a tombstone
    try:
        envelope = parse_envelope(raw)
    except ContractError:
        return  # not ours to judge; catalog-sync dead-letters what it cannot read
    if isinstance(envelope.data, StockLevelChanged):
        book.restore(envelope.data)


def _apply(book: InventoryBook, raw: bytes | None, now: datetime) -> StockLevelChanged | None:
    if raw is None:
        return None
    try:
        envelope = parse_envelope(raw)
    except ContractError as exc:
        log.warning("unreadable movement skipped", error=str(exc))
        return None
    if not isinstance(envelope.data, StockDeducted | StockReleased):
        return None
    return book.apply(envelope.data, now)


async def _send(
    producer: AIOKafkaProducer, topic: str, level: StockLevelChanged
) -> asyncio.Future[object]:
    envelope = make_envelope(level, producer=PRODUCER, occurred_at=level.as_of)
    headers = [(k, v.encode()) for k, v in envelope_headers(envelope).items()]
    future: asyncio.Future[object] = await producer.send(
        topic, serialize_envelope(envelope), key=key_for(level).encode(), headers=headers
    )
    return future
