"""The unit of work over asyncpg (tables: migrations/0001_catalog_sync.sql).

The pool's sessions use catalog-sync's schema as search_path, so table names are unqualified.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

import asyncpg

from catalog_sync.app.ports import (
    Batch,
    BatchItem,
    BatchSummary,
    ItemResult,
    MovementView,
    StoreSyncState,
)
from catalog_sync.domain.catalog import (
    ApiState,
    CredentialsVersion,
    ListingIdentity,
    Price,
    Product,
    StoreView,
)
from catalog_sync.domain.push_plan import FieldLedger, SentPayload, SkuFacts
from catalog_sync.domain.stock import EntryState, MovementEntry, StockPosition
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform
from kervan_contracts.registry import key_for, make_envelope
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_contracts.sync.v1 import PushedField, PushKind, PushOutcome
from kervan_servicekit import Inbox, Outbox
from kervan_servicekit.projections import ApiStatusProjection, CredentialVersionProjection

_SUBMIT_RECOVERY = timedelta(minutes=5)
"""A batch still `submitting` this long after creation was interrupted before the platform
answered (the process died): the follower re-queues its items."""

_STORE_COLUMNS = (
    "store_id, platform, active, test_mode, product_update_enabled, update_type, "
    "price_list_id, warehouse_id, version"
)
_STORE_COLUMNS_OF_S = ", ".join(f"s.{name.strip()}" for name in _STORE_COLUMNS.split(","))


def _store(row: asyncpg.Record) -> StoreView:
    return StoreView(
        store_id=row["store_id"],
        platform=Platform(row["platform"]),
        active=row["active"],
        test_mode=row["test_mode"],
        product_update_enabled=row["product_update_enabled"],
        update_type=AutoUpdateType(row["update_type"]),
        price_list_id=row["price_list_id"],
        warehouse_id=row["warehouse_id"],
        version=row["version"],
    )


def _ledger(row: asyncpg.Record) -> FieldLedger:
    return FieldLedger(
        accepted_value=row["accepted_value"],
        accepted_at=row["accepted_at"],
        sent_value=row["sent_value"],
        sent_at=row["sent_at"],
        batch_id=row["batch_id"],
        outcome=PushOutcome(row["outcome"]) if row["outcome"] else None,
        reason_code=row["reason_code"],
        message=row["message"],
        permanent=row["permanent"],
        attempts=row["attempts"],
        retry_at=row["retry_at"],
    )


def _product(row: asyncpg.Record) -> Product:
    return Product(
        sku=row["sku"],
        title=row["title"],
        description=row["description"],
        barcode=row["barcode"],
        model_code=row["model_code"],
        brand_id=row["brand_id"],
        category_id=row["category_id"],
        attributes=json.loads(row["attributes"]),
        images=tuple(json.loads(row["images"])),
        vat_rate=row["vat_rate"],
    )


@dataclass(frozen=True)
class PostgresUnitOfWorkFactory:
    """Builds units of work over one pool."""

    pool: asyncpg.Pool
    schema: str
    producer: str = "catalog-sync"

    def __call__(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self.pool, Inbox(self.schema), Outbox(self.schema), self.producer)


class PostgresUnitOfWork:
    """One connection and one transaction per `async with`."""

    def __init__(self, pool: asyncpg.Pool, inbox: Inbox, outbox: Outbox, producer: str) -> None:
        self._pool = pool
        self._inbox = inbox
        self._outbox = outbox
        self._producer = producer
        self._api_status = ApiStatusProjection(outbox.schema, "api_status")
        self._credential_versions = CredentialVersionProjection(
            outbox.schema, "credential_versions"
        )
        self._conn: Any = None
        self._tx: Any = None

    async def __aenter__(self) -> Self:
        self._conn = await self._pool.acquire()
        try:
            self._tx = self._conn.transaction()
            await self._tx.start()
        except BaseException:
            # Cancelled (or failed) before `__aexit__` can run: give the connection back
            # here, or the pool never closes.
            await self._pool.release(self._conn)
            self._conn = self._tx = None
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx is not None:
                await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)
            self._conn = None
            self._tx = None

    @property
    def conn(self) -> asyncpg.Connection:
        """The connection of the open transaction."""
        if self._conn is None:
            raise RuntimeError("unit of work used outside `async with`")
        conn: asyncpg.Connection = self._conn
        return conn

    async def commit(self) -> None:
        """Commit the transaction."""
        if self._tx is not None:
            await self._tx.commit()
            self._tx = None

    async def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Inbox claim in this transaction."""
        return await self._inbox.claim(self.conn, consumer, event_id)

    async def publish(self, payload: EventPayload, *, correlation_id: str | None = None) -> None:
        """Outbox row in this transaction."""
        envelope = make_envelope(payload, producer=self._producer, correlation_id=correlation_id)
        await self._outbox.add(self.conn, payload.topic, key_for(payload), envelope)

    # --- stores ---------------------------------------------------------------------------

    async def store(self, store_id: str) -> StoreView | None:
        """A live store."""
        row = await self.conn.fetchrow(
            f"SELECT {_STORE_COLUMNS} FROM stores WHERE store_id = $1 AND NOT deleted",  # noqa: S608
            store_id,
        )
        return _store(row) if row else None

    async def store_with_credentials(
        self, store_id: str
    ) -> tuple[StoreView | None, CredentialsVersion | None]:
        """A live store and its `credential_versions` row, in one read (both by primary key)."""
        row = await self.conn.fetchrow(
            f"SELECT {_STORE_COLUMNS_OF_S}, c.version AS credentials_version, "  # noqa: S608
            "c.deleted AS credentials_deleted FROM stores s "
            "LEFT JOIN credential_versions c ON c.store_id = s.store_id "
            "WHERE s.store_id = $1 AND NOT s.deleted",
            store_id,
        )
        if row is None:
            return None, None
        recorded = (
            None
            if row["credentials_version"] is None
            else CredentialsVersion(row["credentials_version"], row["credentials_deleted"])
        )
        return _store(row), recorded

    async def stores(self) -> list[StoreView]:
        """Every live store."""
        rows = await self.conn.fetch(
            f"SELECT {_STORE_COLUMNS} FROM stores WHERE NOT deleted ORDER BY store_id"  # noqa: S608
        )
        return [_store(r) for r in rows]

    async def save_store(self, store: StoreView) -> bool:
        """Upsert by version."""
        row = await self.conn.fetchval(
            """
            INSERT INTO stores (store_id, platform, active, test_mode, product_update_enabled,
                                update_type, price_list_id, warehouse_id, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (store_id) DO UPDATE SET
                platform = EXCLUDED.platform, active = EXCLUDED.active,
                test_mode = EXCLUDED.test_mode,
                product_update_enabled = EXCLUDED.product_update_enabled,
                update_type = EXCLUDED.update_type, price_list_id = EXCLUDED.price_list_id,
                warehouse_id = EXCLUDED.warehouse_id, version = EXCLUDED.version,
                deleted = false, updated_at = now()
            WHERE stores.version < EXCLUDED.version
            RETURNING true
            """,
            store.store_id,
            store.platform.value,
            store.active,
            store.test_mode,
            store.product_update_enabled,
            store.update_type.value,
            store.price_list_id,
            store.warehouse_id,
            store.version,
        )
        return row is True

    async def delete_store(self, store_id: str, version: int) -> None:
        """Mark deleted (the row keeps the version so older snapshots cannot revive it)."""
        await self.conn.execute(
            """
            UPDATE stores SET deleted = true, version = GREATEST(version, $2), updated_at = now()
            WHERE store_id = $1
            """,
            store_id,
            version,
        )

    async def api_state(self, store_id: str) -> ApiState | None:
        """Latest credential check."""
        row = await self._api_status.get(self.conn, store_id)
        return ApiState(row.status, row.checked_at, row.reason_code) if row else None

    async def save_api_state(self, store_id: str, state: ApiState) -> bool:
        """Keep the newest check."""
        return await self._api_status.record(
            self.conn, store_id, state.status, state.reason_code, state.checked_at
        )

    async def save_credentials_version(
        self, store_id: str, version: int, deleted: bool, changed_at: datetime
    ) -> bool:
        """Keep the highest version (a deletion always counts)."""
        return await self._credential_versions.record(
            self.conn, store_id, version, deleted, changed_at
        )

    async def sync_state(self, store_id: str) -> StoreSyncState:
        """Pause and last push of a store."""
        row = await self.conn.fetchrow(
            "SELECT paused_until, pause_reason, last_push_at, last_error FROM store_sync "
            "WHERE store_id = $1",
            store_id,
        )
        if row is None:
            return StoreSyncState()
        return StoreSyncState(
            row["paused_until"], row["pause_reason"], row["last_push_at"], row["last_error"]
        )

    async def save_sync_state(self, store_id: str, state: StoreSyncState) -> None:
        """Upsert the store's sync bookkeeping."""
        await self.conn.execute(
            """
            INSERT INTO store_sync (store_id, paused_until, pause_reason, last_push_at, last_error)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (store_id) DO UPDATE SET paused_until = EXCLUDED.paused_until,
                pause_reason = EXCLUDED.pause_reason, last_push_at = EXCLUDED.last_push_at,
                last_error = EXCLUDED.last_error
            """,
            store_id,
            state.paused_until,
            state.pause_reason,
            state.last_push_at,
            state.last_error,
        )

    # --- catalogue ------------------------------------------------------------------------

    async def save_product(self, product: Product, at: datetime) -> bool:
        """Upsert unless a newer event already won."""
        row = await self.conn.fetchval(
            """
            INSERT INTO products (sku, title, description, barcode, model_code, brand_id,
                                  category_id, attributes, images, vat_rate, event_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11)
            ON CONFLICT (sku) DO UPDATE SET title = EXCLUDED.title,
                description = EXCLUDED.description, barcode = EXCLUDED.barcode,
                model_code = EXCLUDED.model_code, brand_id = EXCLUDED.brand_id,
                category_id = EXCLUDED.category_id, attributes = EXCLUDED.attributes,
                images = EXCLUDED.images, vat_rate = EXCLUDED.vat_rate,
                event_at = EXCLUDED.event_at
            WHERE products.event_at <= EXCLUDED.event_at
            RETURNING true
            """,
            product.sku,
            product.title,
            product.description,
            product.barcode,
            product.model_code,
            product.brand_id,
            product.category_id,
            json.dumps(product.attributes),
            json.dumps(list(product.images)),
            product.vat_rate,
            at,
        )
        return row is True

    async def product(self, sku: str) -> Product | None:
        """A product."""
        row = await self.conn.fetchrow("SELECT * FROM products WHERE sku = $1", sku)
        return _product(row) if row else None

    async def save_price(self, sku: str, price_list_id: str, price: Price, at: datetime) -> bool:
        """Upsert unless a newer event already won."""
        row = await self.conn.fetchval(
            """
            INSERT INTO prices (sku, price_list_id, sale_price, list_price, currency, event_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (sku, price_list_id) DO UPDATE SET sale_price = EXCLUDED.sale_price,
                list_price = EXCLUDED.list_price, currency = EXCLUDED.currency,
                event_at = EXCLUDED.event_at
            WHERE prices.event_at <= EXCLUDED.event_at
            RETURNING true
            """,
            sku,
            price_list_id,
            price.sale,
            price.list_price,
            price.currency,
            at,
        )
        return row is True

    async def price(self, sku: str, price_list_id: str) -> Price | None:
        """A price in one list."""
        row = await self.conn.fetchrow(
            "SELECT sale_price, list_price, currency FROM prices "
            "WHERE sku = $1 AND price_list_id = $2",
            sku,
            price_list_id,
        )
        return Price(row["sale_price"], row["list_price"], row["currency"]) if row else None

    async def position(self, warehouse_id: str, sku: str) -> StockPosition:
        """Lock the (warehouse, SKU) row (created when missing) and load its movements."""
        await self.conn.execute(
            "INSERT INTO stock_levels (warehouse_id, sku) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            warehouse_id,
            sku,
        )
        level = await self.conn.fetchrow(
            "SELECT level, as_of FROM stock_levels WHERE warehouse_id = $1 AND sku = $2 FOR UPDATE",
            warehouse_id,
            sku,
        )
        if level is None:  # pragma: no cover - inserted just above in this transaction
            raise RuntimeError("stock level row vanished inside its transaction")
        rows = await self.conn.fetch(
            "SELECT movement_id, state, delta, occurred_at, origin FROM stock_movements "
            "WHERE warehouse_id = $1 AND sku = $2",
            warehouse_id,
            sku,
        )
        entries = {
            str(r["movement_id"]): MovementEntry(
                str(r["movement_id"]),
                EntryState(r["state"]),
                r["occurred_at"],
                r["delta"],
                r["origin"],
            )
            for r in rows
        }
        return StockPosition(warehouse_id, sku, level["level"], level["as_of"], entries)

    async def save_position(self, position: StockPosition) -> None:
        """Write the level and the movement entries (pruned ones deleted)."""
        await self.conn.execute(
            "UPDATE stock_levels SET level = $3, as_of = $4 WHERE warehouse_id = $1 AND sku = $2",
            position.warehouse_id,
            position.sku,
            position.level,
            position.as_of,
        )
        ids = [uuid.UUID(mid) for mid in position.entries]
        await self.conn.execute(
            "DELETE FROM stock_movements WHERE warehouse_id = $1 AND sku = $2 "
            "AND NOT (movement_id = ANY($3::uuid[]))",
            position.warehouse_id,
            position.sku,
            ids,
        )
        await self.conn.executemany(
            """
            INSERT INTO stock_movements (warehouse_id, sku, movement_id, state, delta,
                                         occurred_at, origin)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (warehouse_id, sku, movement_id) DO UPDATE SET state = EXCLUDED.state,
                delta = EXCLUDED.delta, occurred_at = EXCLUDED.occurred_at,
                origin = EXCLUDED.origin
            """,
            [
                (
                    position.warehouse_id,
                    position.sku,
                    uuid.UUID(e.movement_id),
                    e.state.value,
                    e.delta,
                    e.occurred_at,
                    e.origin,
                )
                for e in position.entries.values()
            ],
        )

    async def movements(self, warehouse_id: str, sku: str) -> list[MovementView]:
        """Movements of a position, newest first (explain API)."""
        rows = await self.conn.fetch(
            "SELECT movement_id, state, delta, occurred_at, origin FROM stock_movements "
            "WHERE warehouse_id = $1 AND sku = $2 ORDER BY occurred_at DESC LIMIT 200",
            warehouse_id,
            sku,
        )
        return [
            MovementView(
                str(r["movement_id"]), r["state"], r["delta"], r["occurred_at"], r["origin"]
            )
            for r in rows
        ]

    async def listing(self, store_id: str, sku: str) -> ListingIdentity | None:
        """The platform identity of a SKU on a store."""
        row = await self.conn.fetchrow(
            "SELECT barcode, platform_sku, product_id FROM listings "
            "WHERE store_id = $1 AND sku = $2",
            store_id,
            sku,
        )
        if row is None:
            return None
        return ListingIdentity(row["barcode"], row["platform_sku"], row["product_id"])

    async def save_listing(
        self, store_id: str, sku: str, identity: ListingIdentity, source: str, at: datetime
    ) -> None:
        """Upsert a listing identity and queue the SKU (the identity may unblock a push)."""
        await self.conn.execute(
            """
            INSERT INTO listings (store_id, sku, barcode, platform_sku, product_id, source,
                                  updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (store_id, sku) DO UPDATE SET barcode = EXCLUDED.barcode,
                platform_sku = EXCLUDED.platform_sku, product_id = EXCLUDED.product_id,
                source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
            """,
            store_id,
            sku,
            identity.barcode,
            identity.platform_sku,
            identity.product_id,
            source,
            at,
        )

    async def save_platform_listings(
        self, store_id: str, listings: Sequence[tuple[str, ListingIdentity]], at: datetime
    ) -> list[str]:
        """See UnitOfWork."""
        if not listings:
            return []
        rows = await self.conn.fetch(
            """
            INSERT INTO listings AS l (store_id, sku, barcode, platform_sku, product_id, source,
                                       updated_at)
            SELECT $1, x.sku, x.barcode, x.platform_sku, x.product_id, 'platform', $7
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
                AS x(sku, barcode, platform_sku, product_id)
            ON CONFLICT (store_id, sku) DO UPDATE SET barcode = EXCLUDED.barcode,
                platform_sku = EXCLUDED.platform_sku, product_id = EXCLUDED.product_id,
                source = EXCLUDED.source, updated_at = EXCLUDED.updated_at
            WHERE l.source <> $6
              AND (l.barcode, l.platform_sku, l.product_id)
                  IS DISTINCT FROM (EXCLUDED.barcode, EXCLUDED.platform_sku, EXCLUDED.product_id)
            RETURNING l.sku
            """,
            store_id,
            [sku for sku, _ in listings],
            [i.barcode for _, i in listings],
            [i.platform_sku for _, i in listings],
            [i.product_id for _, i in listings],
            "api",
            at,
        )
        changed = [r["sku"] for r in rows]
        known = await self.conn.fetch(
            "SELECT sku FROM products WHERE sku = ANY($1::text[])", changed
        )
        skus = [r["sku"] for r in known]
        await self.mark_dirty(store_id, skus, at)
        return skus

    async def listing_import_due(self, store_id: str, now: datetime, retry: timedelta) -> bool:
        """See UnitOfWork."""
        row = await self.conn.fetchrow(
            "SELECT imported_at, outcome FROM listing_imports WHERE store_id = $1", store_id
        )
        if row is None:
            return True
        return bool(row["outcome"] == "failed" and row["imported_at"] <= now - retry)

    async def save_listing_import(
        self, store_id: str, at: datetime, outcome: str, listings: int, reason: str | None
    ) -> None:
        """See UnitOfWork."""
        await self.conn.execute(
            """
            INSERT INTO listing_imports (store_id, imported_at, outcome, listings, reason)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (store_id) DO UPDATE SET imported_at = EXCLUDED.imported_at,
                outcome = EXCLUDED.outcome, listings = EXCLUDED.listings, reason = EXCLUDED.reason
            """,
            store_id,
            at,
            outcome,
            listings,
            reason,
        )

    # --- dirty queue ----------------------------------------------------------------------

    _MARK = """
        INSERT INTO dirty_skus (store_id, sku, marked_at, due_at)
        SELECT s.store_id, $1, $2, $2 FROM stores s WHERE NOT s.deleted {condition}
        ON CONFLICT (store_id, sku) DO UPDATE SET due_at = LEAST(dirty_skus.due_at,
            EXCLUDED.due_at)
    """

    async def mark_dirty_for_product(self, sku: str, now: datetime) -> int:
        """Every store may show the product."""
        status = await self.conn.execute(self._MARK.format(condition=""), sku, now)
        return int(status.split()[-1])

    async def mark_dirty_for_price(self, sku: str, price_list_id: str, now: datetime) -> int:
        """Stores selling from this price list."""
        status = await self.conn.execute(
            self._MARK.format(condition="AND s.price_list_id = $3"), sku, now, price_list_id
        )
        return int(status.split()[-1])

    async def mark_dirty_for_stock(self, sku: str, warehouse_id: str, now: datetime) -> int:
        """Stores whose default warehouse this is."""
        status = await self.conn.execute(
            self._MARK.format(condition="AND s.warehouse_id = $3"), sku, now, warehouse_id
        )
        return int(status.split()[-1])

    async def mark_store_dirty(self, store_id: str, now: datetime) -> int:
        """Full resync: every SKU with a product, a price in its list or stock in its
        warehouse; the planner then sends only what differs from the last accepted values."""
        status = await self.conn.execute(
            """
            INSERT INTO dirty_skus (store_id, sku, marked_at, due_at)
            SELECT $1, sku, $2, $2 FROM (
                SELECT sku FROM products
                UNION SELECT p.sku FROM prices p JOIN stores s
                    ON s.store_id = $1 AND p.price_list_id = s.price_list_id
                UNION SELECT l.sku FROM stock_levels l JOIN stores s
                    ON s.store_id = $1 AND l.warehouse_id = s.warehouse_id
            ) AS known
            ON CONFLICT (store_id, sku) DO UPDATE SET due_at = LEAST(dirty_skus.due_at,
                EXCLUDED.due_at)
            """,
            store_id,
            now,
        )
        return int(status.split()[-1])

    async def mark_dirty(self, store_id: str, skus: Sequence[str], due_at: datetime) -> None:
        """Queue SKUs of one store, due at `due_at` (an earlier due time wins)."""
        await self.conn.execute(
            """
            INSERT INTO dirty_skus (store_id, sku, marked_at, due_at)
            SELECT $1, sku, now(), $3 FROM unnest($2::text[]) AS sku
            ON CONFLICT (store_id, sku) DO UPDATE SET due_at = LEAST(dirty_skus.due_at,
                EXCLUDED.due_at)
            """,
            store_id,
            list(skus),
            due_at,
        )

    async def due_dirty(self, store_id: str, now: datetime, limit: int) -> list[str]:
        """Due SKUs of a store, oldest first."""
        # FOR UPDATE: a change committed after this read waits for this transaction and then
        # queues the SKU again, so clearing the taken rows can never swallow a newer change.
        rows = await self.conn.fetch(
            "SELECT sku FROM dirty_skus WHERE store_id = $1 AND due_at <= $2 "
            "ORDER BY due_at, sku LIMIT $3 FOR UPDATE",
            store_id,
            now,
            limit,
        )
        return [r["sku"] for r in rows]

    async def stores_with_due_work(self, now: datetime) -> list[str]:
        """Stores with at least one due SKU."""
        rows = await self.conn.fetch(
            "SELECT DISTINCT store_id FROM dirty_skus WHERE due_at <= $1 ORDER BY store_id", now
        )
        return [r["store_id"] for r in rows]

    async def clear_dirty(self, store_id: str, skus: Sequence[str]) -> None:
        """Dequeue SKUs."""
        await self.conn.execute(
            "DELETE FROM dirty_skus WHERE store_id = $1 AND sku = ANY($2::text[])",
            store_id,
            list(skus),
        )

    async def clear_store_dirty(self, store_id: str) -> int:
        """Dequeue everything of a store (it receives nothing now; eligibility re-queues)."""
        status = await self.conn.execute("DELETE FROM dirty_skus WHERE store_id = $1", store_id)
        return int(status.split()[-1])

    async def backlog(self) -> dict[str, int]:
        """Queued SKUs per store."""
        rows = await self.conn.fetch(
            "SELECT store_id, count(*) AS n FROM dirty_skus GROUP BY store_id"
        )
        return {r["store_id"]: int(r["n"]) for r in rows}

    # --- facts and ledger -----------------------------------------------------------------

    async def sku_facts(self, store: StoreView, skus: Sequence[str]) -> list[SkuFacts]:
        """Product, price of the store's list, effective stock of its warehouse, listing,
        ledger and last payload of each SKU, in one round trip per table."""
        wanted = list(dict.fromkeys(skus))
        products = {
            r["sku"]: _product(r)
            for r in await self.conn.fetch(
                "SELECT * FROM products WHERE sku = ANY($1::text[])", wanted
            )
        }
        prices: dict[str, Price] = {}
        if store.price_list_id is not None:
            for r in await self.conn.fetch(
                "SELECT sku, sale_price, list_price, currency FROM prices "
                "WHERE price_list_id = $1 AND sku = ANY($2::text[])",
                store.price_list_id,
                wanted,
            ):
                prices[r["sku"]] = Price(r["sale_price"], r["list_price"], r["currency"])
        stock: dict[str, int] = {}
        if store.warehouse_id is not None:
            for r in await self.conn.fetch(
                """
                SELECT l.sku, l.level + COALESCE(sum(m.delta) FILTER (
                    WHERE m.state = 'pending'), 0) AS effective
                FROM stock_levels l LEFT JOIN stock_movements m
                  ON m.warehouse_id = l.warehouse_id AND m.sku = l.sku
                WHERE l.warehouse_id = $1 AND l.sku = ANY($2::text[]) AND l.level IS NOT NULL
                GROUP BY l.sku, l.level
                """,
                store.warehouse_id,
                wanted,
            ):
                stock[r["sku"]] = int(r["effective"])
        listings = {
            r["sku"]: ListingIdentity(r["barcode"], r["platform_sku"], r["product_id"])
            for r in await self.conn.fetch(
                "SELECT sku, barcode, platform_sku, product_id FROM listings "
                "WHERE store_id = $1 AND sku = ANY($2::text[])",
                store.store_id,
                wanted,
            )
        }
        ledgers: dict[str, dict[PushedField, FieldLedger]] = {}
        for r in await self.conn.fetch(
            "SELECT * FROM push_fields WHERE store_id = $1 AND sku = ANY($2::text[])",
            store.store_id,
            wanted,
        ):
            ledgers.setdefault(r["sku"], {})[PushedField(r["field"])] = _ledger(r)
        payloads = {
            r["sku"]: SentPayload(r["fingerprint"], r["sent_at"])
            for r in await self.conn.fetch(
                "SELECT sku, fingerprint, sent_at FROM push_payloads "
                "WHERE store_id = $1 AND sku = ANY($2::text[])",
                store.store_id,
                wanted,
            )
        }
        return [
            SkuFacts(
                sku=sku,
                product=products.get(sku),
                price=prices.get(sku),
                stock=stock.get(sku),
                listing=listings.get(sku),
                ledger=ledgers.get(sku, {}),
                last_price_stock=payloads.get(sku),
            )
            for sku in wanted
        ]

    async def known_skus(self, store: StoreView, limit: int) -> list[str]:
        """SKUs the store could receive (preview without a list)."""
        rows = await self.conn.fetch(
            """
            SELECT sku FROM (
                SELECT sku FROM products
                UNION SELECT sku FROM prices WHERE price_list_id = $1
                UNION SELECT sku FROM stock_levels WHERE warehouse_id = $2
            ) AS known ORDER BY sku LIMIT $3
            """,
            store.price_list_id,
            store.warehouse_id,
            limit,
        )
        return [r["sku"] for r in rows]

    async def sku_ledger(self, store_id: str, sku: str) -> dict[PushedField, FieldLedger]:
        """Ledger of one SKU on one store, locked for the transaction."""
        rows = await self.conn.fetch(
            "SELECT * FROM push_fields WHERE store_id = $1 AND sku = $2 FOR UPDATE",
            store_id,
            sku,
        )
        return {PushedField(r["field"]): _ledger(r) for r in rows}

    async def save_ledger(
        self, store_id: str, sku: str, pushed: PushedField, ledger: FieldLedger
    ) -> None:
        """Upsert one field's ledger."""
        await self.conn.execute(
            """
            INSERT INTO push_fields (store_id, sku, field, accepted_value, accepted_at,
                sent_value, sent_at, batch_id, outcome, reason_code, message, permanent,
                attempts, retry_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (store_id, sku, field) DO UPDATE SET
                accepted_value = EXCLUDED.accepted_value, accepted_at = EXCLUDED.accepted_at,
                sent_value = EXCLUDED.sent_value, sent_at = EXCLUDED.sent_at,
                batch_id = EXCLUDED.batch_id, outcome = EXCLUDED.outcome,
                reason_code = EXCLUDED.reason_code, message = EXCLUDED.message,
                permanent = EXCLUDED.permanent, attempts = EXCLUDED.attempts,
                retry_at = EXCLUDED.retry_at
            """,
            store_id,
            sku,
            pushed.value,
            ledger.accepted_value,
            ledger.accepted_at,
            ledger.sent_value,
            ledger.sent_at,
            ledger.batch_id,
            ledger.outcome.value if ledger.outcome else None,
            ledger.reason_code,
            ledger.message,
            ledger.permanent,
            ledger.attempts,
            ledger.retry_at,
        )

    async def save_payload(
        self, store_id: str, sku: str, fingerprint: str, sent_at: datetime
    ) -> None:
        """Remember the last price/stock payload of a SKU."""
        await self.conn.execute(
            """
            INSERT INTO push_payloads (store_id, sku, fingerprint, sent_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (store_id, sku) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
                sent_at = EXCLUDED.sent_at
            """,
            store_id,
            sku,
            fingerprint,
            sent_at,
        )

    async def insert_batch(self, batch: Batch) -> None:
        """Store a new batch (`submitting`) with its items."""
        await self.conn.execute(
            """
            INSERT INTO push_batches (batch_id, store_id, platform, kind, status, created_at,
                                      next_check_at)
            VALUES ($1, $2, $3, $4, 'submitting', $5, $6)
            """,
            batch.batch_id,
            batch.store_id,
            batch.platform,
            batch.kind.value,
            batch.created_at,
            batch.created_at + _SUBMIT_RECOVERY,
        )
        await self.conn.executemany(
            "INSERT INTO push_batch_items (batch_id, sku, fields, outcome) "
            "VALUES ($1, $2, $3::jsonb, 'pending')",
            [(batch.batch_id, item.sku, json.dumps(_item_doc(item))) for item in batch.items],
        )

    async def mark_submitted(
        self,
        batch_id: str,
        handle: Mapping[str, Any],
        platform_ref: str | None,
        at: datetime,
        next_check_at: datetime,
    ) -> None:
        """The platform took the batch: keep its handle to read the result later."""
        await self.conn.execute(
            """
            UPDATE push_batches SET status = 'submitted', handle = $2::jsonb, platform_ref = $3,
                submitted_at = $4, next_check_at = $5
            WHERE batch_id = $1 AND status = 'submitting'
            """,
            batch_id,
            json.dumps(handle),
            platform_ref,
            at,
            next_check_at,
        )

    async def schedule_check(self, batch_id: str, next_check_at: datetime) -> None:
        """Look at the batch again later."""
        await self.conn.execute(
            "UPDATE push_batches SET next_check_at = $2 WHERE batch_id = $1",
            batch_id,
            next_check_at,
        )

    async def finish_batch(
        self, batch_id: str, results: Sequence[ItemResult], at: datetime, error: str | None
    ) -> None:
        """Record per-item outcomes and close the batch."""
        await self.conn.executemany(
            "UPDATE push_batch_items SET outcome = $3, reason_code = $4, message = $5 "
            "WHERE batch_id = $1 AND sku = $2",
            [
                (batch_id, r.sku, r.outcome.value, r.reason_code, (r.message or None))
                for r in results
            ],
        )
        await self.conn.execute(
            "UPDATE push_batches SET status = 'completed', completed_at = $2, error = $3, "
            "next_check_at = NULL WHERE batch_id = $1",
            batch_id,
            at,
            error,
        )

    async def batch(self, batch_id: str) -> Batch | None:
        """One batch with its items."""
        row = await self.conn.fetchrow("SELECT * FROM push_batches WHERE batch_id = $1", batch_id)
        if row is None:
            return None
        return (await self._with_items([row]))[0]

    async def due_batches(
        self, now: datetime, limit: int, store_ids: Collection[str] | None = None
    ) -> list[Batch]:
        """Open batches whose next look is due (of `store_ids` only, when given)."""
        rows = await self.conn.fetch(
            "SELECT * FROM push_batches WHERE status <> 'completed' AND next_check_at <= $1 "
            "AND ($3::text[] IS NULL OR store_id = ANY($3::text[])) "
            "ORDER BY next_check_at LIMIT $2",
            now,
            limit,
            None if store_ids is None else list(store_ids),
        )
        return await self._with_items(rows)

    async def holds_lease(self, store_id: str, replica_id: str) -> bool:
        """See UnitOfWork. No row lock: a share lock would make this replica's own renewals
        wait behind its pushes (and go stale under load). Another replica can claim the lease
        only after `expires_at`, and the pusher checks `may_send` (at least half the TTL
        left) just before, so the lease outlives this transaction unless it runs that long."""
        held = await self.conn.fetchval(
            "SELECT true FROM store_leases "
            "WHERE store_id = $1 AND owner = $2 AND expires_at > now()",
            store_id,
            replica_id,
        )
        return bool(held)

    async def recent_batches(self, store_id: str, limit: int) -> list[BatchSummary]:
        """A store's latest batches with their outcome counts."""
        rows = await self.conn.fetch(
            "SELECT * FROM push_batches WHERE store_id = $1 ORDER BY created_at DESC LIMIT $2",
            store_id,
            limit,
        )
        batches = await self._with_items(rows)
        summaries = []
        for batch in batches:
            counts = await self.conn.fetch(
                "SELECT outcome, count(*) AS n FROM push_batch_items WHERE batch_id = $1 "
                "GROUP BY outcome",
                batch.batch_id,
            )
            summaries.append(BatchSummary(batch, {r["outcome"]: int(r["n"]) for r in counts}))
        return summaries

    async def _with_items(self, rows: Sequence[asyncpg.Record]) -> list[Batch]:
        if not rows:
            return []
        ids = [r["batch_id"] for r in rows]
        items: dict[str, list[BatchItem]] = {}
        for r in await self.conn.fetch(
            "SELECT batch_id, sku, fields FROM push_batch_items WHERE batch_id = ANY($1::text[]) "
            "ORDER BY sku",
            ids,
        ):
            doc = json.loads(r["fields"])
            items.setdefault(r["batch_id"], []).append(
                BatchItem(
                    r["sku"],
                    {PushedField(k): v for k, v in doc["values"].items()},
                    doc.get("fingerprint"),
                )
            )
        return [
            Batch(
                batch_id=r["batch_id"],
                store_id=r["store_id"],
                platform=r["platform"],
                kind=PushKind(r["kind"]),
                status=r["status"],
                created_at=r["created_at"],
                items=tuple(items.get(r["batch_id"], [])),
                handle=json.loads(r["handle"]) if r["handle"] else None,
                platform_ref=r["platform_ref"],
                submitted_at=r["submitted_at"],
                completed_at=r["completed_at"],
                error=r["error"],
            )
            for r in rows
        ]


def _item_doc(item: BatchItem) -> dict[str, Any]:
    return {
        "values": {k.value: v for k, v in item.values.items()},
        "fingerprint": item.fingerprint,
    }
