# ruff: noqa: S608  (SQL is assembled from this module's constants; values are bind parameters)
"""Group commit of store updates: the updates a process has in flight, one statement.

Under load most of what a settings write costs PostgreSQL (and asyncpg in this process) is
per statement: a round trip, parse/bind, a transaction, its commit and NOTIFY delivery to
every listener. Updates of single stores that are ready at the same moment are written
together: one statement updates every store still at the version its write read
(compare-and-set per row, as for one write), inserts the audit and outbox rows of exactly
those stores, wakes the relay and reads each store's API status back.

Batches form by themselves: a write that finds no flush running is written at once (alone, no
added wait); those that arrive while one runs go together in the next. A batch holds each
store once (a second update of a store waits for the next batch, so updates of one store
reach the database in the order they were made). Every write gets its own answer: written,
or not (the row had moved on: `StoreChangedMeanwhile` for that write alone). If the statement
fails as a whole (a foreign key refused one store's reference, a deadlock with another
process's batch), each write of the batch runs again as a statement of its own, so only the
write at fault gets the error.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

STORE_UPDATE_FIELDS = (
    "id",
    "expected",
    "title",
    "platform",
    "status",
    "test_mode",
    "store_url",
    "default_price_list_id",
    "default_category_id",
    "default_brand_id",
    "product_update_enabled",
    "auto_update_type",
    "order_transfer_enabled",
    "default_warehouse_id",
    "cargo_company_id",
    "stock_deduction_enabled",
    "version",
    "created_at",
    "updated_at",
)
"""Fields of the row type `store_update_row`: the store's columns, `expected` after the id."""
AUDIT_INSERT_FIELDS = (
    "entity_type",
    "entity_id",
    "action",
    "actor",
    "at",
    "version",
    "correlation_id",
    "changes",
)
"""Fields of the row type `audit_insert_row`: audit_log's columns but its id."""
OUTBOX_INSERT_FIELDS = ("event_id", "topic", "key", "headers", "payload", "store_id")
"""Fields of the row type `outbox_insert_row`: an outbox row and the store it belongs to."""


def _statement() -> str:
    # Each table's rows are one array of a row type (migration 0004, fields as above).
    names = STORE_UPDATE_FIELDS
    assignments = ", ".join(f"{name} = v.{name}" for name in names[2:])
    audit_names = ", ".join(AUDIT_INSERT_FIELDS)
    return (
        "WITH v AS (SELECT * FROM unnest($1::store_update_row[])),"
        f" w AS (UPDATE stores s SET {assignments} FROM v"
        " WHERE s.id = v.id AND s.version = v.expected RETURNING s.id),"
        f" wa AS (INSERT INTO audit_log ({audit_names})"
        f" SELECT {audit_names} FROM unnest($2::audit_insert_row[])"
        f" WITH ORDINALITY AS a({audit_names}, n)"
        " WHERE a.entity_id IN (SELECT id FROM w) ORDER BY n),"
        " wo AS (INSERT INTO outbox (event_id, topic, key, headers, payload)"
        " SELECT e, t, k, h, p FROM unnest($3::outbox_insert_row[])"
        " WITH ORDINALITY AS m(e, t, k, h, p, store_id, n)"
        " WHERE m.store_id IN (SELECT id FROM w) ORDER BY n)"
        " SELECT v.id, v.id IN (SELECT id FROM w) AS wrote,"
        " pg_notify($4, '') AS notified,"
        " a.status AS api_status, a.reason_code AS api_reason_code, a.message AS api_message,"
        " a.checked_at AS api_checked_at, a.test_mode AS api_test_mode"
        " FROM v LEFT JOIN api_statuses a ON a.store_id = v.id"
    )


_SQL = _statement()


@dataclass(slots=True)
class StoreUpdate:
    """One store's update: the row to write if the store is still at `expected`."""

    store_id: str
    expected: int
    row: tuple[Any, ...]
    """The store's columns in table order (id first), as `_row_of` gives them."""
    audit: list[tuple[str, str, str, str, datetime, int, str | None, dict[str, Any]]]
    """(entity_type, entity_id, action, actor, at, version, correlation_id, changes)."""
    outbox: list[tuple[Any, ...]]
    """(event_id, topic, key, headers, payload), as `Outbox._row` gives them."""
    done: asyncio.Future[asyncpg.Record] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """The statement's row for this store: `wrote` and the API status columns."""


class StoreWriteBatcher:
    """Writes the store updates submitted meanwhile as one statement (see module doc)."""

    def __init__(self, pool: asyncpg.Pool, *, channel: str, max_batch: int = 32) -> None:
        self._pool = pool
        self._channel = channel
        self._max_batch = max_batch
        self._waiting: deque[StoreUpdate] = deque()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Updates waiting for the next statement."""
        return len(self._waiting)

    @property
    def flushing(self) -> bool:
        """Whether a statement is being written (or about to be)."""
        return self._flusher is not None and not self._flusher.done()

    async def write(self, update: StoreUpdate) -> asyncpg.Record:
        """Write the update with whatever else is ready; its row of the statement's answer.

        Raises what the statement raised for this update alone (e.g. a foreign key refusal).
        """
        self._waiting.append(update)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await update.done

    async def _flush_all(self) -> None:
        while self._waiting:
            batch = self._take()
            try:
                await self._write(batch)
            except BaseException as exc:  # handed to every writer of the batch
                for update in batch:
                    if not update.done.done():
                        update.done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    for update in self._waiting:
                        update.done.cancel()
                    self._waiting.clear()
                    raise

    def _take(self) -> list[StoreUpdate]:
        batch: list[StoreUpdate] = []
        stores: set[str] = set()
        later: list[StoreUpdate] = []
        while self._waiting and len(batch) < self._max_batch:
            update = self._waiting.popleft()
            if update.done.done():
                continue  # its writer went away (cancelled): nothing to write for it
            if update.store_id in stores:
                later.append(update)  # one row of one store per statement
                continue
            stores.add(update.store_id)
            batch.append(update)
        self._waiting.extendleft(reversed(later))
        # Rows locked in one order by every process: batches of two processes cannot deadlock
        # on each other's stores (should one happen anyway, the writes run one by one).
        batch.sort(key=lambda update: update.store_id)
        return batch

    async def _write(self, batch: list[StoreUpdate]) -> None:
        if not batch:
            return
        async with self._pool.acquire() as conn:
            try:
                rows = await conn.fetch(_SQL, *self._args(batch))
            except (asyncpg.IntegrityConstraintViolationError, asyncpg.DeadlockDetectedError):
                if len(batch) == 1:
                    raise
                for update in batch:  # find the write at fault: each alone
                    try:
                        (row,) = await conn.fetch(_SQL, *self._args([update]))
                    except asyncpg.PostgresError as exc:
                        if not update.done.done():
                            update.done.set_exception(exc)
                    else:
                        if not update.done.done():
                            update.done.set_result(row)
                return
        by_store = {row["id"]: row for row in rows}
        for update in batch:
            if not update.done.done():
                update.done.set_result(by_store[update.store_id])

    def _args(self, batch: list[StoreUpdate]) -> list[Any]:
        return [
            [(u.row[0], u.expected, *u.row[1:]) for u in batch],
            [(*entry[:7], json.dumps(entry[7])) for update in batch for entry in update.audit],
            [(*row, update.store_id) for update in batch for row in update.outbox],
            self._channel,
        ]
