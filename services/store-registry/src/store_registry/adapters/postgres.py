"""PostgreSQL adapters: repositories and the unit of work over one asyncpg connection."""

# ruff: noqa: S608  (SQL is assembled from fixed fragments; values are bind parameters)
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType, StoreStatus
from kervan_servicekit.inbox import Inbox
from kervan_servicekit.outbox import Outbox, OutboxMessage
from store_registry.adapters.events import envelope_of
from store_registry.app.ports import AuditEntry, StoreQuery, StoreView
from store_registry.domain.api_status import ApiStatusView
from store_registry.domain.errors import ReferenceInUse, UnknownReference
from store_registry.domain.model import (
    ChangeKind,
    OrderSettings,
    ProductSettings,
    Store,
    StoreState,
)
from store_registry.domain.references import ReferenceItem, ReferenceKind, ReferenceUse

REFERENCE_TABLES: dict[ReferenceKind, str] = {
    ReferenceKind.WAREHOUSE: "warehouses",
    ReferenceKind.PRICE_LIST: "price_lists",
    ReferenceKind.CARGO_COMPANY: "cargo_companies",
    ReferenceKind.CATEGORY: "categories",
    ReferenceKind.BRAND: "brands",
}
REFERENCE_COLUMNS: dict[ReferenceKind, str] = {
    ReferenceKind.WAREHOUSE: "default_warehouse_id",
    ReferenceKind.PRICE_LIST: "default_price_list_id",
    ReferenceKind.CARGO_COMPANY: "cargo_company_id",
    ReferenceKind.CATEGORY: "default_category_id",
    ReferenceKind.BRAND: "default_brand_id",
}

_STORE_COLUMNS = (
    "id, title, platform, status, test_mode, store_url, default_price_list_id, "
    "default_category_id, default_brand_id, product_update_enabled, auto_update_type, "
    "order_transfer_enabled, default_warehouse_id, cargo_company_id, stock_deduction_enabled, "
    "version, created_at, updated_at"
)
_VIEW_SELECT = (
    "SELECT "
    + ", ".join(f"s.{c.strip()}" for c in _STORE_COLUMNS.split(","))
    + ", a.status AS api_status, a.reason_code AS api_reason_code, a.message AS api_message,"
    " a.checked_at AS api_checked_at, a.test_mode AS api_test_mode"
    " FROM stores s LEFT JOIN api_statuses a ON a.store_id = s.id"
)
_INSERT_STORE = (
    f"INSERT INTO stores ({_STORE_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
)
_UPDATE_STORE = (
    "UPDATE stores SET title = $2, platform = $3, status = $4, test_mode = $5, store_url = $6, "
    "default_price_list_id = $7, default_category_id = $8, default_brand_id = $9, "
    "product_update_enabled = $10, auto_update_type = $11, order_transfer_enabled = $12, "
    "default_warehouse_id = $13, cargo_company_id = $14, stock_deduction_enabled = $15, "
    "version = $16, created_at = $17, updated_at = $18 WHERE id = $1"
)


def _state_of(row: asyncpg.Record) -> StoreState:
    return StoreState(
        id=row["id"],
        title=row["title"],
        platform=Platform(row["platform"]),
        status=StoreStatus(row["status"]),
        test_mode=row["test_mode"],
        store_url=row["store_url"],
        products=ProductSettings(
            default_price_list_id=row["default_price_list_id"],
            default_category_id=row["default_category_id"],
            default_brand_id=row["default_brand_id"],
            product_update_enabled=row["product_update_enabled"],
            auto_update_type=AutoUpdateType(row["auto_update_type"]),
        ),
        orders=OrderSettings(
            order_transfer_enabled=row["order_transfer_enabled"],
            default_warehouse_id=row["default_warehouse_id"],
            cargo_company_id=row["cargo_company_id"],
            stock_deduction_enabled=row["stock_deduction_enabled"],
        ),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _row_of(state: StoreState) -> tuple[Any, ...]:
    p, o = state.products, state.orders
    return (
        state.id,
        state.title,
        state.platform.value,
        state.status.value,
        state.test_mode,
        state.store_url,
        p.default_price_list_id,
        p.default_category_id,
        p.default_brand_id,
        p.product_update_enabled,
        p.auto_update_type.value,
        o.order_transfer_enabled,
        o.default_warehouse_id,
        o.cargo_company_id,
        o.stock_deduction_enabled,
        state.version,
        state.created_at,
        state.updated_at,
    )


def _api_status_of(row: asyncpg.Record) -> ApiStatusView:
    if row["api_status"] is None:
        return ApiStatusView.unknown()
    return ApiStatusView(
        ApiStatus(row["api_status"]),
        row["api_reason_code"],
        row["api_message"],
        row["api_checked_at"],
        row["api_test_mode"],
    )


class PgStoreRepository:
    """Stores in PostgreSQL; loaded rows are locked (`FOR UPDATE`) until the transaction ends."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.seen: list[Store] = []

    async def get(self, store_id: str) -> Store | None:
        """Load and lock; concurrent writers of the same store queue behind this one."""
        row = await self._conn.fetchrow(
            f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = $1 FOR UPDATE", store_id
        )
        if row is None:
            return None
        store = Store(_state_of(row))
        self.seen.append(store)
        return store

    def add(self, store: Store) -> None:
        """Track a new store."""
        self.seen.append(store)

    async def view(self, store_id: str) -> StoreView | None:
        """One store with its API status."""
        row = await self._conn.fetchrow(f"{_VIEW_SELECT} WHERE s.id = $1", store_id)
        return None if row is None else StoreView(_state_of(row), _api_status_of(row))

    async def list_views(self, query: StoreQuery) -> list[StoreView]:
        """Filtered keyset page, ordered by (created_at, id)."""
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.platform is not None:
            where.append(f"s.platform = {arg(query.platform.value)}")
        if query.status is not None:
            where.append(f"s.status = {arg(query.status.value)}")
        if query.api_status is ApiStatus.UNKNOWN:
            where.append("(a.status IS NULL OR a.status = 'unknown')")
        elif query.api_status is not None:
            where.append(f"a.status = {arg(query.api_status.value)}")
        if query.text is not None:
            # Wildcards typed by the caller are matched literally.
            escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(f"s.title ILIKE {arg('%' + escaped + '%')}")
        if query.after is not None:
            created, store_id = query.after
            where.append(f"(s.created_at, s.id) > ({arg(created)}, {arg(store_id)})")
        sql = _VIEW_SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY s.created_at, s.id LIMIT {arg(query.limit)}"
        rows = await self._conn.fetch(sql, *args)
        return [StoreView(_state_of(row), _api_status_of(row)) for row in rows]

    async def persist(self, store: Store) -> None:
        """Write a changed store's final state (insert, update or delete)."""
        if not store.changes:
            return
        created = store.changes[0].kind is ChangeKind.CREATED
        try:
            if store.deleted:
                if not created:
                    await self._conn.execute("DELETE FROM stores WHERE id = $1", store.id)
            elif created:
                await self._conn.execute(_INSERT_STORE, *_row_of(store.state))
            else:
                await self._conn.execute(_UPDATE_STORE, *_row_of(store.state))
        except asyncpg.ForeignKeyViolationError as exc:
            # Checked before, so only a concurrent delete of the item gets here.
            raise UnknownReference(
                "a reference item the settings point at was deleted meanwhile; retry",
                {"store_id": store.id},
            ) from exc


class PgReferenceRepository:
    """The five reference lists, one table each."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, kind: ReferenceKind, item_id: str) -> ReferenceItem | None:
        """One item."""
        row = await self._conn.fetchrow(
            f"SELECT id, name, created_at, updated_at FROM {REFERENCE_TABLES[kind]} WHERE id = $1",
            item_id,
        )
        return None if row is None else ReferenceItem(kind, **dict(row))

    async def missing(self, uses: Sequence[ReferenceUse]) -> list[ReferenceUse]:
        """Uses whose item does not exist (locked with KEY SHARE so it cannot vanish now)."""
        absent = []
        for use in uses:
            found = await self._conn.fetchval(
                f"SELECT 1 FROM {REFERENCE_TABLES[use.kind]} WHERE id = $1 FOR KEY SHARE",
                use.id,
            )
            if found is None:
                absent.append(use)
        return absent

    async def put(self, kind: ReferenceKind, item_id: str, name: str, now: datetime) -> None:
        """Insert or rename."""
        await self._conn.execute(
            f"INSERT INTO {REFERENCE_TABLES[kind]} (id, name, created_at, updated_at) "
            "VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO UPDATE "
            "SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at",
            item_id,
            name,
            now,
        )

    async def delete(self, kind: ReferenceKind, item_id: str) -> None:
        """Delete; a store that started using the item meanwhile makes it a 409."""
        try:
            await self._conn.execute(f"DELETE FROM {REFERENCE_TABLES[kind]} WHERE id = $1", item_id)
        except asyncpg.ForeignKeyViolationError as exc:
            raise ReferenceInUse(
                f"{kind.value} {item_id} is used by store settings",
                {"kind": kind.value, "id": item_id},
            ) from exc

    async def users(self, kind: ReferenceKind, item_id: str, limit: int) -> list[str]:
        """Stores pointing at the item."""
        rows = await self._conn.fetch(
            f"SELECT id FROM stores WHERE {REFERENCE_COLUMNS[kind]} = $1 ORDER BY id LIMIT $2",
            item_id,
            limit,
        )
        return [row["id"] for row in rows]

    async def list(self, kind: ReferenceKind, after: str | None, limit: int) -> list[ReferenceItem]:
        """Keyset page ordered by id."""
        rows = await self._conn.fetch(
            f"SELECT id, name, created_at, updated_at FROM {REFERENCE_TABLES[kind]} "
            "WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [ReferenceItem(kind, **dict(row)) for row in rows]


class PgApiStatusRepository:
    """The API status projection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, store_id: str, *, lock: bool = False) -> ApiStatusView | None:
        """`lock` serialises two deliveries for one store (the projection's upsert)."""
        row = await self._conn.fetchrow(
            "SELECT status AS api_status, reason_code AS api_reason_code, message AS api_message,"
            " checked_at AS api_checked_at, test_mode AS api_test_mode"
            " FROM api_statuses WHERE store_id = $1" + (" FOR UPDATE" if lock else ""),
            store_id,
        )
        return None if row is None else _api_status_of(row)

    async def put(self, store_id: str, view: ApiStatusView) -> None:
        """Upsert."""
        await self._conn.execute(
            "INSERT INTO api_statuses (store_id, status, reason_code, message, checked_at,"
            " test_mode) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (store_id) DO UPDATE SET"
            " status = EXCLUDED.status, reason_code = EXCLUDED.reason_code,"
            " message = EXCLUDED.message, checked_at = EXCLUDED.checked_at,"
            " test_mode = EXCLUDED.test_mode",
            store_id,
            view.status.value,
            view.reason_code,
            view.message,
            view.checked_at,
            bool(view.test_mode),
        )


class PgAuditRepository:
    """The audit log."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.pending: list[AuditEntry] = []

    def add(self, entry: AuditEntry) -> None:
        """Queue an entry for commit."""
        self.pending.append(entry)

    async def flush(self) -> None:
        """Insert queued entries."""
        if not self.pending:
            return
        await self._conn.executemany(
            "INSERT INTO audit_log (entity_type, entity_id, action, actor, at, version,"
            " correlation_id, changes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
            [
                (
                    e.entity_type,
                    e.entity_id,
                    e.action,
                    e.actor,
                    e.at,
                    e.version,
                    e.correlation_id,
                    json.dumps(e.changes),
                )
                for e in self.pending
            ],
        )
        self.pending.clear()

    async def list(
        self, entity_type: str, entity_id: str, before: int | None, limit: int
    ) -> list[AuditEntry]:
        """Newest first."""
        rows = await self._conn.fetch(
            "SELECT id, entity_type, entity_id, action, actor, at, version, correlation_id,"
            " changes::text AS changes FROM audit_log WHERE entity_type = $1 AND entity_id = $2"
            " AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
            entity_type,
            entity_id,
            before,
            limit,
        )
        return [
            AuditEntry(
                entity_type=row["entity_type"],
                entity_id=row["entity_id"],
                action=row["action"],
                actor=row["actor"],
                at=row["at"],
                changes=json.loads(row["changes"]),
                version=row["version"],
                correlation_id=row["correlation_id"],
                id=row["id"],
            )
            for row in rows
        ]


class PgUnitOfWork:
    """One transaction on one pooled connection; commit writes state, audit and outbox."""

    stores: PgStoreRepository
    references: PgReferenceRepository
    api_statuses: PgApiStatusRepository
    audit: PgAuditRepository

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        outbox: Outbox,
        stores_topic: str,
        inbox: Inbox,
        read_only: bool = False,
    ) -> None:
        self._pool = pool
        self.read_only = read_only
        self._outbox = outbox
        self._inbox = inbox
        self._stores_topic = stores_topic
        self._proxy: PoolConnectionProxy | None = None
        self._conn: asyncpg.Connection | None = None
        self._tx: Transaction | None = None
        self.correlation_id: str | None = None

    async def __aenter__(self) -> Self:
        """Take a connection and begin."""
        proxy = await self._pool.acquire()
        # The pool hands out a proxy that forwards every Connection method.
        conn = cast("asyncpg.Connection", proxy)
        self._proxy, self._conn = proxy, conn
        try:
            # Reads are single statements: no BEGIN/ROLLBACK round trips for them.
            if not self.read_only:
                self._tx = conn.transaction()
                await self._tx.start()
        except BaseException:
            self._proxy = self._conn = None
            await self._pool.release(proxy)
            raise
        self.stores = PgStoreRepository(conn)
        self.references = PgReferenceRepository(conn)
        self.api_statuses = PgApiStatusRepository(conn)
        self.audit = PgAuditRepository(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back unless committed; give the connection back."""
        proxy, self._proxy, self._conn = self._proxy, None, None
        tx, self._tx = self._tx, None
        if proxy is None:
            return
        try:
            if tx is not None:
                await tx.rollback()
        finally:
            await self._pool.release(proxy)

    async def commit(self) -> None:
        """Write changed stores with one audit row and one event per change, then commit."""
        if self._conn is None or self._tx is None:
            raise RuntimeError("unit of work not started")
        conn = self._conn
        messages: list[OutboxMessage] = []
        deleted: list[str] = []
        for store in self.stores.seen:
            await self.stores.persist(store)
            for change in store.changes:
                self.audit.add(
                    AuditEntry(
                        entity_type="store",
                        entity_id=store.id,
                        action=change.kind.value,
                        actor=change.actor,
                        at=change.at,
                        changes=change.diff,
                        version=change.state.version,
                        correlation_id=self.correlation_id,
                    )
                )
                messages.append(
                    OutboxMessage(
                        self._stores_topic, store.id, envelope_of(change, self.correlation_id)
                    )
                )
            if store.deleted:
                deleted.append(store.id)
            store.changes.clear()
        await self.audit.flush()
        if messages:
            await self._outbox.add_many(conn, messages)
        for store_id in deleted:
            await self._outbox.add_tombstone(conn, self._stores_topic, store_id)
        tx, self._tx = self._tx, None
        await tx.commit()

    async def claim_event(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Inbox claim in this transaction."""
        assert self._conn is not None, "unit of work not started"
        return await self._inbox.claim(self._conn, consumer, event_id)


class PgUnitOfWorkFactory:
    """Makes `PgUnitOfWork`s sharing a pool and the outbox writers."""

    def __init__(self, pool: asyncpg.Pool, *, schema: str, stores_topic: str) -> None:
        self._pool = pool
        self._outbox = Outbox(schema)
        self._inbox = Inbox(schema)
        self._stores_topic = stores_topic

    def __call__(self, *, read_only: bool = False) -> PgUnitOfWork:
        """A fresh unit of work."""
        return PgUnitOfWork(
            self._pool,
            outbox=self._outbox,
            stores_topic=self._stores_topic,
            inbox=self._inbox,
            read_only=read_only,
        )
