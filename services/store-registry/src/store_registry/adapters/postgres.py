"""PostgreSQL adapters: repositories and the unit of work over one asyncpg connection."""

# ruff: noqa: S608  (SQL is assembled from fixed fragments; values are bind parameters)
from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
from kervan_servicekit.outbox import Outbox
from store_registry.adapters.events import outbox_row
from store_registry.adapters.write_batch import StoreUpdate, StoreWriteBatcher
from store_registry.app.ports import AuditEntry, StoreChangedMeanwhile, StoreQuery, StoreView
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
_VIEW_COLUMNS = (
    ", ".join(f"s.{c.strip()}" for c in _STORE_COLUMNS.split(","))
    + ", a.status AS api_status, a.reason_code AS api_reason_code, a.message AS api_message,"
    " a.checked_at AS api_checked_at, a.test_mode AS api_test_mode"
)
_VIEW_FROM = " FROM stores s LEFT JOIN api_statuses a ON a.store_id = s.id"
_VIEW_SELECT = f"SELECT {_VIEW_COLUMNS}{_VIEW_FROM}"
_STORE_COLUMN_LIST = [c.strip() for c in _STORE_COLUMNS.split(",")]


_Begin = Callable[[], Awaitable[None]]
"""Starts the unit of work's transaction (once) before a statement that needs it."""


class _Args:
    """Bind parameters of one statement being assembled: `arg(value)` → `$n`."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def many(self, values: Sequence[Any]) -> str:
        return ", ".join(self(value) for value in values)


def _state_of(row: asyncpg.Record | Mapping[str, Any]) -> StoreState:
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
    """Stores in PostgreSQL, changed optimistically.

    `get` reads without locking and remembers the version read; the commit writes the store
    only if it is still at that version (compare-and-set in the write statement), so two
    writers of one store never both succeed and no lock is held across round trips. `get`
    also reads the store's API status and leaves it in `statuses`, where the API status
    repository of the same unit of work finds it without a query.
    """

    def __init__(
        self,
        conn: asyncpg.Connection,
        statuses: dict[str, ApiStatusView | None],
        known_references: dict[ReferenceUse, bool],
    ) -> None:
        self._conn = conn
        self._statuses = statuses
        self._known_references = known_references
        self.seen: list[Store] = []
        self.versions_read: dict[str, int] = {}

    async def get(
        self,
        store_id: str,
        *,
        references: Sequence[ReferenceUse] = (),
        known: StoreState | None = None,
    ) -> Store | None:
        """Load for change (not locked: the commit checks the version read).

        `references` are checked for existence in the same statement (a column each), for
        `PgReferenceRepository.missing` of this unit of work to answer without a query.

        With `known` nothing is read: the store starts from that state, the commit writes it
        only if the row is still at `known.version`, the references count as present and the
        foreign keys check them at commit, and the commit reads the API status back.
        """
        if known is not None and known.id == store_id:
            for use in references:
                self._known_references[use] = True
            store = Store(known)
            self.versions_read[store_id] = known.version
            self.seen.append(store)
            return store
        checks = "".join(
            f", (SELECT true FROM {REFERENCE_TABLES[use.kind]} WHERE id = ${n}) AS ref{n}"
            for n, use in enumerate(references, start=2)
        )
        row = await self._conn.fetchrow(
            f"SELECT {_VIEW_COLUMNS}{checks}{_VIEW_FROM} WHERE s.id = $1",
            store_id,
            *(use.id for use in references),
        )
        if row is None:
            return None
        for n, use in enumerate(references, start=2):
            self._known_references[use] = bool(row[f"ref{n}"])
        store = Store(_state_of(row))
        self._statuses[store_id] = None if row["api_status"] is None else _api_status_of(row)
        self.versions_read[store_id] = store.state.version
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

    def write_of(self, store: Store, arg: _Args) -> str | None:
        """SQL writing a changed store's final state (insert, update or delete), or None.

        It returns one row when it wrote: an update or delete only matches the version read.
        """
        if not store.changes:
            return None
        created = store.changes[0].kind is ChangeKind.CREATED
        if created and store.deleted:
            return None
        if created:
            values = _row_of(store.state)
            return f"INSERT INTO stores ({_STORE_COLUMNS}) VALUES ({arg.many(values)}) RETURNING 1"
        unchanged = f"id = {arg(store.id)} AND version = {arg(self.versions_read[store.id])}"
        if store.deleted:
            return f"DELETE FROM stores WHERE {unchanged} RETURNING 1"
        values = _row_of(store.state)
        assignments = ", ".join(
            f"{column} = {arg(value)}"
            for column, value in zip(_STORE_COLUMN_LIST[1:], values[1:], strict=True)
        )
        return f"UPDATE stores SET {assignments} WHERE {unchanged} RETURNING 1"


class PgReferenceRepository:
    """The five reference lists, one table each."""

    def __init__(
        self, conn: asyncpg.Connection, begin: _Begin, known: dict[ReferenceUse, bool]
    ) -> None:
        self._conn = conn
        self._begin = begin
        self._known = known

    async def get(self, kind: ReferenceKind, item_id: str) -> ReferenceItem | None:
        """One item."""
        row = await self._conn.fetchrow(
            f"SELECT id, name, created_at, updated_at FROM {REFERENCE_TABLES[kind]} WHERE id = $1",
            item_id,
        )
        return None if row is None else ReferenceItem(kind, **dict(row))

    async def missing(self, uses: Sequence[ReferenceUse]) -> list[ReferenceUse]:
        """Uses whose item does not exist, in one statement (a column per use, NULL if absent).

        An item deleted after this check is caught by the foreign key when the store is
        written (the commit then raises UnknownReference).
        """
        if all(use in self._known for use in uses):  # checked when the store was loaded
            return [use for use in uses if not self._known[use]]
        columns = ", ".join(
            f"(SELECT 1 FROM {REFERENCE_TABLES[use.kind]} WHERE id = ${n})"
            for n, use in enumerate(uses, start=1)
        )
        row = await self._conn.fetchrow(f"SELECT {columns}", *(use.id for use in uses))
        assert row is not None  # a SELECT without FROM always returns its one row
        return [use for use, found in zip(uses, row, strict=True) if found is None]

    async def put(self, kind: ReferenceKind, item_id: str, name: str, now: datetime) -> None:
        """Insert or rename."""
        await self._begin()
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
        await self._begin()
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

    def __init__(
        self,
        conn: asyncpg.Connection,
        prefetched: dict[str, ApiStatusView | None],
        begin: _Begin,
    ) -> None:
        self._conn = conn
        self._prefetched = prefetched
        self._begin = begin

    async def get(self, store_id: str, *, lock: bool = False) -> ApiStatusView | None:
        """`lock` serialises two deliveries for one store (the projection's upsert).

        Without `lock`, the status read along with the store (`stores.get`) is reused.
        """
        if not lock and store_id in self._prefetched:
            return self._prefetched[store_id]
        if lock:
            await self._begin()
        row = await self._conn.fetchrow(
            "SELECT status AS api_status, reason_code AS api_reason_code, message AS api_message,"
            " checked_at AS api_checked_at, test_mode AS api_test_mode"
            " FROM api_statuses WHERE store_id = $1" + (" FOR UPDATE" if lock else ""),
            store_id,
        )
        return None if row is None else _api_status_of(row)

    async def put(self, store_id: str, view: ApiStatusView) -> None:
        """Upsert."""
        await self._begin()
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

    def insert_of(self, arg: _Args) -> str | None:
        """SQL inserting the queued entries (one array parameter per column), or None."""
        if not self.pending:
            return None
        rows = self.pending
        columns = (
            (arg([e.entity_type for e in rows]), "text"),
            (arg([e.entity_id for e in rows]), "text"),
            (arg([e.action for e in rows]), "text"),
            (arg([e.actor for e in rows]), "text"),
            (arg([e.at for e in rows]), "timestamptz"),
            (arg([e.version for e in rows]), "integer"),
            (arg([e.correlation_id for e in rows]), "text"),
            (arg([json.dumps(e.changes) for e in rows]), "jsonb"),
        )
        arrays = ", ".join(f"{param}::{kind}[]" for param, kind in columns)
        return (
            "INSERT INTO audit_log (entity_type, entity_id, action, actor, at, version,"
            f" correlation_id, changes) SELECT * FROM unnest({arrays})"
        )

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


class _LazyConnection:
    """What the repositories call a connection: each call takes the unit of work's pooled
    connection first (`PgUnitOfWork._connection`), so a unit of work that runs no statement
    of its own never takes one."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self._connection = connection

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """`Connection.fetch` on the unit of work's connection."""
        return await (await self._connection()).fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """`Connection.fetchrow` on the unit of work's connection."""
        return await (await self._connection()).fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """`Connection.fetchval` on the unit of work's connection."""
        return await (await self._connection()).fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        """`Connection.execute` on the unit of work's connection."""
        return await (await self._connection()).execute(query, *args)


class PgUnitOfWork:
    """One pooled connection; commit writes state, audit and outbox atomically.

    Store changes need no transaction: the stores are read without locks and the commit is
    one statement that writes them only if they are still at the version read (else
    `StoreChangedMeanwhile`, nothing written), with their audit rows, outbox rows and the
    relay's NOTIFY. A settings change is two round trips: the store read (with its API
    status and whether the referenced items exist), and the commit; one, the commit (which
    then reads the API status back), when it starts from a state the process already holds
    (`PgStoreRepository.get(known=...)`). Other work (inbox
    claims, the API status projection, reference list edits) opens a transaction at its
    first statement that needs one, and commit ends it.
    """

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
        batcher: StoreWriteBatcher | None = None,
    ) -> None:
        self._pool = pool
        self._batcher = batcher
        self.read_only = read_only
        self._outbox = outbox
        self._inbox = inbox
        self._stores_topic = stores_topic
        self._proxy: PoolConnectionProxy | None = None
        self._started = False
        self._tx: Transaction | None = None
        self._statuses: dict[str, ApiStatusView | None] = {}
        self.correlation_id: str | None = None

    async def __aenter__(self) -> Self:
        """Start; a connection is taken at the first statement (the transaction, if any,
        starts when needed).

        A settings write that starts from a state this process holds never needs one of its
        own: its commit goes to the group commit, which writes with a connection of its own.
        """
        self._proxy, self._tx, self._started = None, None, True
        conn = cast("asyncpg.Connection", _LazyConnection(self._connection))
        statuses: dict[str, ApiStatusView | None] = {}
        self._statuses = statuses
        known_references: dict[ReferenceUse, bool] = {}
        self.stores = PgStoreRepository(conn, statuses, known_references)
        self.references = PgReferenceRepository(conn, self._begin, known_references)
        self.api_statuses = PgApiStatusRepository(conn, statuses, self._begin)
        self.audit = PgAuditRepository(conn)
        return self

    async def _connection(self) -> asyncpg.Connection:
        """The unit of work's pooled connection, taken now if it has none yet."""
        if not self._started:
            raise RuntimeError("unit of work not started")
        if self._proxy is None:
            self._proxy = await self._pool.acquire()
        # The pool hands out a proxy that forwards every Connection method.
        return cast("asyncpg.Connection", self._proxy)

    async def _begin(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot write")
        if self._tx is None:
            tx = (await self._connection()).transaction()
            await tx.start()
            self._tx = tx

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back unless committed; give the connection back."""
        proxy, self._proxy, self._started = self._proxy, None, False
        tx, self._tx = self._tx, None
        if proxy is None:
            return
        try:
            if tx is not None:
                await tx.rollback()
        finally:
            await self._pool.release(proxy)

    async def commit(self) -> None:
        """Write changed stores with one audit row and one event per change, then commit.

        Store rows, audit rows, outbox rows and the relay's NOTIFY are one statement
        (data-modifying CTEs). The audit and outbox rows are inserted only when every store
        write matched its version read, and after those writes, so outbox rows of one store
        are numbered in commit order, as the relay requires for rows of one key.
        """
        if not self._started:
            raise RuntimeError("unit of work not started")
        single = self._single_update()
        if single is not None and self._batcher is not None:
            await self._commit_with_others(single, self._batcher)
            return
        messages: list[tuple[Any, ...]] = []
        tombstones: list[str] = []
        arg = _Args()
        writes: list[str] = []
        for store in self.stores.seen:
            write = self.stores.write_of(store, arg)
            if write is not None:
                writes.append(write)
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
                    outbox_row(change, topic=self._stores_topic, correlation_id=self.correlation_id)
                )
            if store.deleted:
                tombstones.append(store.id)
        if len(writes) > 1:
            await self._begin()  # several stores: all or none, also on a version mismatch
        names = [f"w{n}" for n in range(len(writes))]
        wrote_all = (
            " + ".join(f"(SELECT count(*) FROM {name})" for name in names) + f" = {len(names)}"
            if names
            else "true"
        )
        parts = list(writes)
        audit = self.audit.insert_of(arg)
        if audit is not None:
            parts.append(f"{audit} WHERE {wrote_all}")
        if messages or tombstones:
            parts.append(self._outbox_insert(messages, tombstones, arg, wrote_all))
        if parts:
            ctes = ", ".join(f"w{n} AS ({sql})" for n, sql in enumerate(parts))
            notify = (
                f", pg_notify({arg(self._outbox.channel)}, '')" if messages or tombstones else ""
            )
            # A store loaded from a known state had its API status not read: read it here.
            unread = [
                s.id
                for s in self.stores.seen
                if s.id in self.stores.versions_read and s.id not in self._statuses
            ]
            status_of = (
                f" FROM (SELECT 1) AS one LEFT JOIN api_statuses a ON a.store_id = {arg(unread[0])}"
                if len(unread) == 1
                else ""
            )
            columns = (
                ", a.status AS api_status, a.reason_code AS api_reason_code,"
                " a.message AS api_message, a.checked_at AS api_checked_at,"
                " a.test_mode AS api_test_mode"
                if status_of
                else ""
            )
            try:
                row = await (await self._connection()).fetchrow(
                    f"WITH {ctes} SELECT {wrote_all} AS wrote{notify}{columns}{status_of}",
                    *arg.values,
                )
            except asyncpg.ForeignKeyViolationError as exc:
                # References are checked before (unless the store came from a known state),
                # so otherwise only a concurrent delete of an item the settings point at
                # gets here.
                raise UnknownReference(
                    "a reference item the settings point at was deleted meanwhile; retry",
                    {"store_ids": [store.id for store in self.stores.seen]},
                ) from exc
            assert row is not None  # a SELECT of expressions returns its one row
            if not row["wrote"]:
                raise StoreChangedMeanwhile([store.id for store in self.stores.seen])
            if status_of:
                self._statuses[unread[0]] = (
                    None if row["api_status"] is None else _api_status_of(row)
                )
        for store in self.stores.seen:
            store.changes.clear()
        self.audit.pending.clear()
        tx, self._tx = self._tx, None
        if tx is not None:
            await tx.commit()

    def _single_update(self) -> Store | None:
        """The one store this commit updates, when that is all it does."""
        if self._tx is not None or self.audit.pending:
            return None  # other work in a transaction of its own: commit it all here
        changed = [store for store in self.stores.seen if store.changes]
        if len(changed) != 1:
            return None
        store = changed[0]
        if (
            store.deleted
            or store.changes[0].kind is ChangeKind.CREATED
            or store.id not in self.stores.versions_read
        ):
            return None
        return store

    async def _commit_with_others(self, store: Store, batcher: StoreWriteBatcher) -> None:
        """Commit a single store update with the others this process has ready (group commit).

        The connection goes back to the pool first: the batch takes one of its own, and a
        unit of work waiting for a batch must not hold one the batch may need.
        """
        update = StoreUpdate(
            store_id=store.id,
            expected=self.stores.versions_read[store.id],
            row=_row_of(store.state),
            audit=[
                (
                    "store",
                    store.id,
                    change.kind.value,
                    change.actor,
                    change.at,
                    change.state.version,
                    self.correlation_id,
                    change.diff,
                )
                for change in store.changes
            ],
            outbox=[
                outbox_row(change, topic=self._stores_topic, correlation_id=self.correlation_id)
                for change in store.changes
            ],
        )
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            await self._pool.release(proxy)
        try:
            row = await batcher.write(update)
        except asyncpg.ForeignKeyViolationError as exc:
            raise UnknownReference(
                "a reference item the settings point at was deleted meanwhile; retry",
                {"store_ids": [store.id]},
            ) from exc
        if not row["wrote"]:
            raise StoreChangedMeanwhile([store.id])
        if store.id not in self._statuses:
            self._statuses[store.id] = None if row["api_status"] is None else _api_status_of(row)
        store.changes.clear()

    def _outbox_insert(
        self, messages: list[tuple[Any, ...]], tombstones: list[str], arg: _Args, condition: str
    ) -> str:
        # The rows `Outbox.add_many` / `add_tombstone` would insert, as arrays; a tombstone is
        # a row without payload and with an event id of its own.
        rows = messages + [
            (uuid.uuid4(), self._stores_topic, key.encode(), "{}", None) for key in tombstones
        ]
        event_ids, topics, keys, headers, payloads = (
            list(column) for column in zip(*rows, strict=True)
        )
        return (
            "INSERT INTO outbox (event_id, topic, key, headers, payload)"
            f" SELECT e, t, k, h, p FROM unnest({arg(event_ids)}::uuid[], {arg(topics)}::text[],"
            f" {arg(keys)}::bytea[], {arg(headers)}::jsonb[], {arg(payloads)}::bytea[])"
            f" WITH ORDINALITY AS m(e, t, k, h, p, n) WHERE {condition} ORDER BY n"
        )

    async def claim_event(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Inbox claim in this transaction."""
        await self._begin()
        return await self._inbox.claim(await self._connection(), consumer, event_id)


class PgUnitOfWorkFactory:
    """Makes `PgUnitOfWork`s sharing a pool, the outbox writers and the group commit.

    `write_batch`: most single-store updates one statement writes together (1: each its own
    statement, as other commits; see `write_batch.py`).
    """

    def __init__(
        self, pool: asyncpg.Pool, *, schema: str, stores_topic: str, write_batch: int = 32
    ) -> None:
        self._pool = pool
        self._outbox = Outbox(schema)
        self._inbox = Inbox(schema)
        self._stores_topic = stores_topic
        self._batcher = (
            StoreWriteBatcher(pool, channel=self._outbox.channel, max_batch=write_batch)
            if write_batch > 1
            else None
        )

    @property
    def batcher(self) -> StoreWriteBatcher | None:
        """The group commit of this factory's units of work (None when off)."""
        return self._batcher

    def __call__(self, *, read_only: bool = False) -> PgUnitOfWork:
        """A fresh unit of work."""
        return PgUnitOfWork(
            self._pool,
            outbox=self._outbox,
            stores_topic=self._stores_topic,
            inbox=self._inbox,
            read_only=read_only,
            batcher=self._batcher,
        )
