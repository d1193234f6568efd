"""Unit of work and repositories over asyncpg (the service's schema is the search_path)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.event import EventPayload
from kervan_contracts.orders.v1 import (
    Order,
    OrderCancelled,
    OrderReceived,
    OrderStatus,
    OrderUpdated,
)
from kervan_contracts.registry import HEADER_EVENT_ID, HEADER_EVENT_TYPE, spec_of
from kervan_servicekit import Outbox, OutboxRecord
from kervan_servicekit.db import Connection as Conn
from kervan_servicekit.migrations import quote_ident
from kervan_servicekit.projections import ApiStatusProjection, CredentialVersionProjection
from order_ingest.app.ports import IngestState
from order_ingest.domain.order import IngestedOrder
from order_ingest.domain.store import ApiStatusView, CredentialsView, StoreProfile


def _store_from(row: asyncpg.Record) -> StoreProfile:
    return StoreProfile(
        store_id=row["store_id"],
        platform=row["platform"],
        title=row["title"],
        active=row["active"],
        test_mode=row["test_mode"],
        order_transfer_enabled=row["order_transfer_enabled"],
        stock_deduction_enabled=row["stock_deduction_enabled"],
        default_warehouse_id=row["default_warehouse_id"],
        version=row["version"],
    )


class PgStores:
    """Projections of stores, API status and credential versions."""

    def __init__(self, conn: Conn, schema: str) -> None:
        self._conn = conn
        self._api_statuses = ApiStatusProjection(schema, "api_statuses")
        self._credential_versions = CredentialVersionProjection(schema, "credential_versions")

    async def get(self, store_id: str) -> StoreProfile | None:
        """See StoreRepository."""
        row = await self._conn.fetchrow("SELECT * FROM stores WHERE store_id = $1", store_id)
        return None if row is None else _store_from(row)

    async def get_with_api_status(
        self, store_id: str
    ) -> tuple[StoreProfile | None, ApiStatusView | None]:
        """See StoreRepository (one round trip: both rows of the store, either may be absent;
        the API status columns are those of servicekit's ApiStatusProjection)."""
        row = await self._conn.fetchrow(
            """
            SELECT s.*, a.status AS api_status, a.reason_code AS api_reason_code,
                a.checked_at AS api_checked_at
            FROM (SELECT $1::text AS store_id) AS wanted
            LEFT JOIN stores AS s ON s.store_id = wanted.store_id
            LEFT JOIN api_statuses AS a ON a.store_id = wanted.store_id
            """,
            store_id,
        )
        assert row is not None  # one row whatever exists
        store = None if row["store_id"] is None else _store_from(row)
        status = (
            None
            if row["api_status"] is None
            else ApiStatusView(
                ApiStatus(row["api_status"]), row["api_reason_code"], row["api_checked_at"]
            )
        )
        return store, status

    async def upsert(self, profile: StoreProfile) -> bool:
        """See StoreRepository."""
        applied = await self._conn.fetchval(
            """
            INSERT INTO stores (store_id, platform, title, active, test_mode,
                order_transfer_enabled, stock_deduction_enabled, default_warehouse_id, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (store_id) DO UPDATE SET
                platform = EXCLUDED.platform, title = EXCLUDED.title,
                active = EXCLUDED.active, test_mode = EXCLUDED.test_mode,
                order_transfer_enabled = EXCLUDED.order_transfer_enabled,
                stock_deduction_enabled = EXCLUDED.stock_deduction_enabled,
                default_warehouse_id = EXCLUDED.default_warehouse_id,
                version = EXCLUDED.version, projected_at = now()
            WHERE stores.version < EXCLUDED.version
            RETURNING true
            """,
            profile.store_id,
            profile.platform,
            profile.title,
            profile.active,
            profile.test_mode,
            profile.order_transfer_enabled,
            profile.stock_deduction_enabled,
            profile.default_warehouse_id,
            profile.version,
        )
        return bool(applied)

    async def delete(self, store_id: str) -> None:
        """See StoreRepository."""
        await self._conn.execute("DELETE FROM stores WHERE store_id = $1", store_id)

    async def api_status(self, store_id: str) -> ApiStatusView | None:
        """See StoreRepository."""
        row = await self._api_statuses.get(self._conn, store_id)
        return ApiStatusView(row.status, row.reason_code, row.checked_at) if row else None

    async def record_api_status(self, store_id: str, view: ApiStatusView) -> bool:
        """See StoreRepository."""
        return await self._api_statuses.record(
            self._conn, store_id, view.status, view.reason_code, view.checked_at
        )

    async def record_credentials(self, store_id: str, view: CredentialsView) -> bool:
        """See StoreRepository."""
        return await self._credential_versions.record(
            self._conn, store_id, view.version, view.deleted, view.changed_at
        )

    async def credentials_version(self, store_id: str) -> CredentialsView | None:
        """See StoreRepository."""
        row = await self._conn.fetchrow(
            "SELECT version, deleted, changed_at FROM credential_versions WHERE store_id = $1",
            store_id,
        )
        return None if row is None else CredentialsView(**dict(row))

    async def store_ids(self) -> list[str]:
        """See StoreRepository."""
        rows = await self._conn.fetch("SELECT store_id FROM stores ORDER BY store_id")
        return [r["store_id"] for r in rows]


_ORDER_COLUMNS = (
    "store_id, order_number, platform, status, first_seen_at, deduction_wanted, "
    "warehouse_id, snapshot::text AS snapshot, state::text AS state"
)


def _order_from(row: asyncpg.Record) -> IngestedOrder:
    return IngestedOrder.restore(
        store_id=row["store_id"],
        order_number=row["order_number"],
        platform=row["platform"],
        status=OrderStatus(row["status"]),
        first_seen_at=row["first_seen_at"],
        deduction_wanted=row["deduction_wanted"],
        warehouse_id=row["warehouse_id"],
        snapshot=Order.model_validate_json(row["snapshot"]),
        state=json.loads(row["state"]),
    )


class OrderJson:
    """The JSON of each order written in one transaction, made once: a new order's snapshot
    row and its `OrderReceived` carry the same order, and serialising it is most of the cost
    of writing either."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[Order, bytes]] = {}

    def of(self, order: Order) -> bytes:
        """`order.model_dump_json()`, as bytes, made once per order object."""
        made = self._made.get(id(order))
        if made is None or made[0] is not order:
            # The order is kept with its JSON, so its id cannot be reused meanwhile.
            made = (order, order.model_dump_json().encode())
            self._made[id(order)] = made
        return made[1]


class PgOrders:
    """Order aggregates by natural key."""

    def __init__(self, conn: Conn, order_json: OrderJson | None = None) -> None:
        self._conn = conn
        self._order_json = order_json or OrderJson()

    async def get_for_update(self, store_id: str, order_number: str) -> IngestedOrder | None:
        """See OrderRepository."""
        row = await self._conn.fetchrow(
            f"SELECT {_ORDER_COLUMNS} FROM orders "  # noqa: S608 - constant column list
            "WHERE store_id = $1 AND order_number = $2 FOR UPDATE",
            store_id,
            order_number,
        )
        return None if row is None else _order_from(row)

    async def get_many_for_update(
        self, store_id: str, order_numbers: Sequence[str]
    ) -> dict[str, IngestedOrder]:
        """See OrderRepository (rows locked in key order, so two pollers cannot deadlock)."""
        rows = await self._conn.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM orders "  # noqa: S608 - constant column list
            "WHERE store_id = $1 AND order_number = ANY($2::text[]) "
            "ORDER BY order_number FOR UPDATE",
            store_id,
            sorted(set(order_numbers)),
        )
        return {r["order_number"]: _order_from(r) for r in rows}

    async def save(self, order: IngestedOrder) -> None:
        """See OrderRepository."""
        await self.save_many([order])

    async def save_many(self, orders: Sequence[IngestedOrder]) -> None:
        """See OrderRepository (one statement per table, the rows as one array of the table's
        row type (migration 0003): `executemany` costs the server one execution per row)."""
        if not orders:
            return
        rows = [
            (
                order.store_id,
                order.order_number,
                order.platform,
                order.status.value,
                order.first_seen_at,
                order.snapshot.last_modified_at,
                order.deduction_wanted,
                order.warehouse_id,
                self._order_json.of(order.snapshot).decode(),
                orjson.dumps(order.state_document()).decode(),
            )
            for order in orders
        ]
        await self._conn.execute(
            """
            INSERT INTO orders (store_id, order_number, platform, status, first_seen_at,
                last_modified_at, deduction_wanted, warehouse_id, snapshot, state)
            SELECT r.store_id, r.order_number, r.platform, r.status, r.first_seen_at,
                r.last_modified_at, r.deduction_wanted, r.warehouse_id, r.snapshot::jsonb,
                r.state::jsonb
            FROM unnest($1::order_row[]) AS r
            ON CONFLICT (store_id, order_number) DO UPDATE SET
                status = EXCLUDED.status, last_modified_at = EXCLUDED.last_modified_at,
                warehouse_id = EXCLUDED.warehouse_id, snapshot = EXCLUDED.snapshot,
                state = EXCLUDED.state, updated_at = now()
            """,
            rows,
        )
        lines = [
            (
                order.store_id,
                order.order_number,
                line.line_id,
                line.sku,
                line.deducted_quantity,
                line.released_quantity,
                line.cancelled_units(),
            )
            for order in orders
            for line in order.lines.values()
        ]
        if not lines:
            return
        await self._conn.execute(
            """
            INSERT INTO order_lines (store_id, order_number, line_id, sku, deducted_quantity,
                released_quantity, cancelled_units)
            SELECT * FROM unnest($1::order_line_row[])
            ON CONFLICT (store_id, order_number, line_id) DO UPDATE SET
                deducted_quantity = EXCLUDED.deducted_quantity,
                released_quantity = EXCLUDED.released_quantity,
                cancelled_units = EXCLUDED.cancelled_units
            """,
            lines,
        )

    async def pending_deduction(self, store_id: str) -> list[IngestedOrder]:
        """See OrderRepository."""
        rows = await self._conn.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM orders "  # noqa: S608 - constant column list
            "WHERE store_id = $1 AND deduction_wanted AND warehouse_id IS NULL "
            "ORDER BY first_seen_at, order_number FOR UPDATE",
            store_id,
        )
        return [_order_from(r) for r in rows]

    async def count_pending_deduction(self, store_id: str) -> int:
        """See OrderRepository."""
        count = await self._conn.fetchval(
            "SELECT count(*) FROM orders "
            "WHERE store_id = $1 AND deduction_wanted AND warehouse_id IS NULL",
            store_id,
        )
        return int(count)

    async def list_orders(
        self, store_id: str, since: datetime | None, limit: int
    ) -> list[IngestedOrder]:
        """See OrderRepository."""
        rows = await self._conn.fetch(
            f"SELECT {_ORDER_COLUMNS} FROM orders "  # noqa: S608 - constant column list
            "WHERE store_id = $1 AND ($2::timestamptz IS NULL OR first_seen_at >= $2) "
            "ORDER BY first_seen_at, order_number LIMIT $3",
            store_id,
            since,
            limit,
        )
        return [_order_from(r) for r in rows]


_LOCK_STATE = "SELECT *, polls::text AS polls_text FROM ingest_state WHERE store_id = $1 FOR UPDATE"


class PgIngestState:
    """Polling state per store."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def lock(self, store_id: str) -> IngestState:
        """See IngestStateRepository (one statement once the store has its row: every batch
        takes this lock)."""
        row = await self._conn.fetchrow(_LOCK_STATE, store_id)
        if row is None:
            await self._conn.execute(
                "INSERT INTO ingest_state (store_id) VALUES ($1) ON CONFLICT DO NOTHING", store_id
            )
            row = await self._conn.fetchrow(_LOCK_STATE, store_id)
        assert row is not None  # inserted above, and rows are never deleted
        return _state_from(row)

    async def get(self, store_id: str) -> IngestState | None:
        """See IngestStateRepository."""
        row = await self._conn.fetchrow(
            "SELECT *, polls::text AS polls_text FROM ingest_state WHERE store_id = $1", store_id
        )
        return None if row is None else _state_from(row)

    async def save(self, state: IngestState) -> None:
        """See IngestStateRepository."""
        await self._conn.execute(
            """
            UPDATE ingest_state SET watermark = $2, last_poll_at = $3, last_success_at = $4,
                last_outcome = $5, last_error_code = $6, paused_reason = $7, paused_at = $8,
                orders_ingested = $9, polls = $10::jsonb, settled_watermark = $11
            WHERE store_id = $1
            """,
            state.store_id,
            state.watermark,
            state.last_poll_at,
            state.last_success_at,
            state.last_outcome,
            state.last_error_code,
            state.paused_reason,
            state.paused_at,
            state.orders_ingested,
            json.dumps(state.polls),
            state.settled_watermark,
        )

    async def holds_lease(self, store_id: str, replica_id: str) -> bool:
        """See IngestStateRepository (the database clock decides expiry)."""
        held = await self._conn.fetchval(
            "SELECT true FROM store_leases "
            "WHERE store_id = $1 AND owner = $2 AND expires_at > now()",
            store_id,
            replica_id,
        )
        return bool(held)


def _state_from(row: asyncpg.Record) -> IngestState:
    return IngestState(
        store_id=row["store_id"],
        watermark=row["watermark"],
        settled_watermark=row["settled_watermark"],
        last_poll_at=row["last_poll_at"],
        last_success_at=row["last_success_at"],
        last_outcome=row["last_outcome"],
        last_error_code=row["last_error_code"],
        paused_reason=row["paused_reason"],
        paused_at=row["paused_at"],
        orders_ingested=row["orders_ingested"],
        polls={k: int(v) for k, v in json.loads(row["polls_text"]).items()},
    )


_ORDER_EVENTS = (OrderReceived, OrderUpdated, OrderCancelled)


def outbox_row(
    payload: EventPayload,
    *,
    producer: str,
    correlation_id: str,
    occurred_at: datetime,
    event_id: str,
    order_json: OrderJson,
) -> tuple[str, str, bytes, str, bytes, list[tuple[str, bytes]]]:
    """(event_id, topic, key, headers, payload) of one event's outbox row, plus the headers
    as the relay sends them (`(name, value bytes)`, for the hand-off).

    The payload is the JSON `serialize_envelope(make_envelope(...))` gives, byte for byte (a
    unit test holds them equal), made without building and validating an `Envelope`: the
    events come from the aggregate, built from validated orders, a few per order. The order
    inside an order event is serialised once, shared with its snapshot row (`order_json`).
    """
    spec = spec_of(type(payload))
    headers = {
        HEADER_EVENT_TYPE: spec.event_type,
        HEADER_EVENT_ID: event_id,
        # As servicekit's outbox does: FastStream reads it into the message's correlation id.
        "correlation_id": correlation_id,
    }
    data: orjson.Fragment | dict[str, object]
    if isinstance(payload, _ORDER_EVENTS):
        # `order` is the first field of every order event; the others follow in their order
        # (OrderReceived, one per new order, has no other).
        data = {"order": orjson.Fragment(order_json.of(payload.order))}
        if len(type(payload).model_fields) > 1:
            data.update(payload.model_dump(mode="json", exclude={"order"}))
    else:
        data = orjson.Fragment(payload.model_dump_json())
    envelope = {
        "event_id": event_id,
        "event_type": spec.event_type,
        "event_version": spec.version,
        "occurred_at": occurred_at,
        "producer": producer,
        "correlation_id": correlation_id,
        "causation_id": None,
        "data": data,
    }
    return (
        event_id,
        spec.topic,
        payload.partition_key().encode(),
        orjson.dumps(headers).decode(),
        orjson.dumps(envelope, option=orjson.OPT_UTC_Z),
        [(name, value.encode()) for name, value in headers.items()],
    )


_VARIANT_DIGIT = {f"{d:x}": f"{8 | (d & 3):x}" for d in range(16)}


def new_event_ids(count: int) -> list[str]:
    """`count` random version-4 UUIDs in canonical text (what `str(uuid.uuid4())` gives),
    from one `os.urandom` call: a `uuid.UUID` object costs more than the bytes, and the
    envelope and the headers only need the text."""
    digits = os.urandom(16 * count).hex()
    return [
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}"
        for h in (digits[at : at + 32] for at in range(0, 32 * count, 32))
    ]


class PgEvents:
    """Envelopes into servicekit's outbox table, in the caller's transaction.

    Rows as `Outbox.add_many` writes them (`outbox_row`), but in one statement per batch
    instead of one round trip per event: a batch of 100 orders carries a few hundred events.
    Ids are taken in the given order (`WITH ORDINALITY ... ORDER BY`), so the relay publishes
    the events of one key in the order they were decided. The rows written are kept
    (`written`) for the relay's hand-off after the commit.
    """

    def __init__(
        self, conn: Conn, outbox: Outbox, producer: str, order_json: OrderJson | None = None
    ) -> None:
        self._conn = conn
        self._outbox = outbox
        self._producer = producer
        self._order_json = order_json or OrderJson()
        self.written: list[OutboxRecord] = []

    async def add(self, payloads: Sequence[EventPayload], correlation_id: str) -> None:
        """See EventSink."""
        if not payloads:
            return
        if not self._conn.is_in_transaction():
            raise RuntimeError("events are written in the business transaction")
        occurred_at = datetime.now(UTC)
        rows = [
            outbox_row(
                payload,
                producer=self._producer,
                correlation_id=correlation_id,
                occurred_at=occurred_at,
                event_id=event_id,
                order_json=self._order_json,
            )
            for payload, event_id in zip(payloads, new_event_ids(len(payloads)), strict=True)
        ]
        # The relay's wake-up goes in the same statement (delivered at commit only, and
        # folded into one per transaction by PostgreSQL).
        inserted = await self._conn.fetch(
            f"""
            WITH notified AS MATERIALIZED (SELECT pg_notify($2, '')),
            inserted AS (
                INSERT INTO {quote_ident(self._outbox.schema)}.outbox
                    (event_id, topic, key, headers, payload)
                SELECT r.event_id, r.topic, r.key, r.headers::jsonb, r.payload
                FROM unnest($1::outbox_row[])
                    WITH ORDINALITY AS r (event_id, topic, key, headers, payload, n)
                ORDER BY r.n
                RETURNING id
            )
            SELECT inserted.id FROM inserted CROSS JOIN notified
            """,  # noqa: S608 - the schema name is quoted; values are parameters
            [row[:5] for row in rows],
            self._outbox.channel,
        )
        # Ids were taken in row order, whatever order RETURNING lists them in.
        ids = sorted(record["id"] for record in inserted)
        self.written += [
            OutboxRecord(row_id, topic, key, header_list, payload)
            for row_id, (_event_id, topic, key, _headers, payload, header_list) in zip(
                ids, rows, strict=True
            )
        ]


class PostgresUnitOfWork:
    """One pooled connection and one transaction; leaving without `commit` rolls back."""

    stores: PgStores
    orders: PgOrders
    ingest: PgIngestState
    events: PgEvents

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        producer: str,
        handoff: Callable[[Sequence[OutboxRecord]], None] | None = None,
    ) -> None:
        """`handoff` receives the outbox rows of each committed transaction (the relay's
        `hand_off`: published without being read back)."""
        self._pool = pool
        self._outbox = outbox
        self._producer = producer
        self._handoff = handoff
        self._conn: Conn | None = None
        self._proxy: PoolConnectionProxy[asyncpg.Record] | None = None
        self._tx: Transaction | None = None
        self._committed = False

    @property
    def connection(self) -> Conn:
        """The connection of the open transaction (for the lease check)."""
        if self._conn is None:
            raise RuntimeError("unit of work not entered")
        return self._conn

    async def __aenter__(self) -> PostgresUnitOfWork:
        conn = await self._pool.acquire()
        self._proxy = conn
        self._conn = conn
        self._tx = conn.transaction()
        await self._tx.start()
        self._committed = False
        order_json = OrderJson()
        self.stores = PgStores(conn, self._outbox.schema)
        self.orders = PgOrders(conn, order_json)
        self.ingest = PgIngestState(conn)
        self.events = PgEvents(conn, self._outbox, self._producer, order_json)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx is not None and not self._committed:
                try:
                    await self._tx.rollback()
                except asyncpg.InterfaceError:
                    # The COMMIT itself was interrupted (cancelled, connection lost): nothing
                    # to roll back here, and the pool resets or drops the connection on
                    # release. Raising would hide the original error (or the cancellation).
                    if exc is None:
                        raise
        finally:
            if self._proxy is not None:
                await self._pool.release(self._proxy)
            self._proxy = None
            self._conn = None
            self._tx = None

    async def commit(self) -> None:
        """Commit the transaction."""
        if self._tx is None:
            raise RuntimeError("unit of work not entered")
        await self._tx.commit()
        self._committed = True
        if self._handoff is not None and self.events.written:
            self._handoff(self.events.written)
            self.events.written = []
