"""Writes that start from a state the process holds (the read model) on real PostgreSQL.

One statement when the held state is the database's; when it is not (another writer moved
the store on, the store is gone, a reference does not exist) the answer is exactly the one a
write that reads first gives, and nothing is written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import pytest
import pytest_asyncio
from store_registry.adapters import write_batch
from store_registry.adapters.platforms import MarketplaceCatalog, validate_store_url
from store_registry.adapters.postgres import PgUnitOfWorkFactory
from store_registry.app import services
from store_registry.app.commands import (
    Caller,
    ChangeOrderSettings,
    CreateStore,
    DeleteStore,
    RecordApiStatus,
)
from store_registry.app.ports import StoreView
from store_registry.app.services import Collaborators
from store_registry.bootstrap import migrate_database
from store_registry.domain.errors import StoreNotFound, UnknownReference, VersionMismatch
from store_registry.domain.model import OrderSettings, StoreState
from store_registry.settings import StoreRegistrySettings

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_servicekit.migrations import quote_ident

pytestmark = pytest.mark.integration

CALLER = Caller("tester")


@dataclass
class Wiring:
    """A unit-of-work factory whose connections log every statement, and what it 'holds'."""

    uow: PgUnitOfWorkFactory
    pool: asyncpg.Pool
    schema: str
    statements: list[str] = field(default_factory=list)
    held: dict[str, StoreState] = field(default_factory=dict)

    def env(self) -> Collaborators:
        def known(store_id: str, version: int) -> StoreState | None:
            state = self.held.get(store_id)
            return state if state is not None and state.version == version else None

        return Collaborators(
            catalog=MarketplaceCatalog(), validate_store_url=validate_store_url, known_store=known
        )

    async def count(self, table: str, store_id: str, column: str) -> int:
        async with self.pool.acquire() as conn:
            found: int = await conn.fetchval(
                f"SELECT count(*) FROM {quote_ident(self.schema)}.{table} WHERE {column} = $1",
                store_id,
            )
        return found


def _introspection(query: str) -> bool:
    """asyncpg's own look-up of a type it meets for the first time on a connection."""
    return "typeinfo_tree" in query or "set_config('jit'" in query


@pytest_asyncio.fixture
async def wiring(service_settings: StoreRegistrySettings, pg_dsn: str) -> AsyncIterator[Wiring]:
    await migrate_database(service_settings)
    schema = service_settings.db_schema
    statements: list[str] = []

    async def log_statements(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(
            lambda record: None if _introspection(record.query) else statements.append(record.query)
        )

    async def no_reset(_conn: asyncpg.Connection) -> None:
        """As the service's pool: no session reset statement on release."""

    pool = await asyncpg.create_pool(
        pg_dsn,
        min_size=1,
        max_size=8,
        server_settings={"search_path": quote_ident(schema)},
        init=log_statements,
        reset=no_reset,
    )
    assert pool is not None
    try:
        yield Wiring(
            PgUnitOfWorkFactory(pool, schema=schema, stores_topic="stores"),
            pool,
            schema,
            statements,
        )
    finally:
        await pool.close()


async def _store_with_warehouse(w: Wiring) -> StoreState:
    async with w.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO warehouses (id, name, created_at, updated_at)"
            " VALUES ('main', 'Main', now(), now()) ON CONFLICT DO NOTHING"
        )
    view = await services.create_store(
        CreateStore(CALLER, "Shop", Platform.TRENDYOL), w.uow(), w.env()
    )
    return view.state


def _orders(warehouse: str | None) -> OrderSettings:
    return OrderSettings(True, warehouse, None, True)


async def test_a_write_from_the_held_state_is_one_statement_and_reads_the_api_status_back(
    wiring: Wiring,
) -> None:
    state = await _store_with_warehouse(wiring)
    checked = datetime(2026, 1, 1, tzinfo=UTC)
    await services.record_api_status(
        RecordApiStatus(uuid.uuid4(), state.id, ApiStatus.VALID, None, None, checked, False),
        wiring.uow(),
    )
    wiring.held[state.id] = state
    wiring.statements.clear()
    view = await services.change_order_settings(
        ChangeOrderSettings(CALLER, state.id, 1, _orders("main")), wiring.uow(), wiring.env()
    )
    assert len(wiring.statements) == 1, wiring.statements
    assert wiring.statements[0].startswith("WITH ")
    assert (view.state.version, view.state.orders.default_warehouse_id) == (2, "main")
    assert (view.api_status.status, view.api_status.checked_at) == (ApiStatus.VALID, checked)
    assert await wiring.count("outbox", state.id, "convert_from(key, 'UTF8')") == 2
    assert await wiring.count("audit_log", state.id, "entity_id") == 2


class _CountingPool:
    """The wiring's pool, counting the connections taken from it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.taken = 0

    def acquire(self) -> Any:
        self.taken += 1
        return self.pool.acquire()

    async def release(self, conn: Any) -> None:
        await self.pool.release(conn)


async def test_a_write_from_the_held_state_takes_one_connection_the_batchs(
    wiring: Wiring,
) -> None:
    state = await _store_with_warehouse(wiring)
    pool = _CountingPool(wiring.pool)
    uow = PgUnitOfWorkFactory(cast(asyncpg.Pool, pool), schema=wiring.schema, stores_topic="s")
    wiring.held[state.id] = state
    await services.change_order_settings(
        ChangeOrderSettings(CALLER, state.id, 1, _orders("main")), uow(), wiring.env()
    )
    assert pool.taken == 1  # the group commit's; the unit of work ran no statement itself
    wiring.held.clear()  # now the write reads the store first, on a connection of its own
    await services.change_order_settings(
        ChangeOrderSettings(CALLER, state.id, 2, _orders(None)), uow(), wiring.env()
    )
    assert pool.taken == 3
    assert await wiring.count("outbox", state.id, "convert_from(key, 'UTF8')") == 3


async def test_a_held_state_the_database_has_left_gives_the_412_of_a_read(
    wiring: Wiring,
) -> None:
    state = await _store_with_warehouse(wiring)
    # Another process moved the store to version 2; this one still holds version 1.
    await services.change_order_settings(
        ChangeOrderSettings(CALLER, state.id, 1, _orders("main")), wiring.uow(), wiring.env()
    )
    wiring.held[state.id] = state
    wiring.statements.clear()
    with pytest.raises(VersionMismatch) as refused:
        await services.change_order_settings(
            ChangeOrderSettings(CALLER, state.id, 1, _orders(None)), wiring.uow(), wiring.env()
        )
    assert refused.value.details == {"current_version": 2, "expected_version": 1}
    assert len(wiring.statements) == 2  # the refused compare-and-set, then the read
    assert await wiring.count("outbox", state.id, "convert_from(key, 'UTF8')") == 2


async def test_a_missing_reference_from_a_held_state_is_named_like_after_a_read(
    wiring: Wiring,
) -> None:
    state = await _store_with_warehouse(wiring)
    wiring.held[state.id] = state
    with pytest.raises(UnknownReference) as refused:
        await services.change_order_settings(
            ChangeOrderSettings(CALLER, state.id, 1, _orders("ghost")), wiring.uow(), wiring.env()
        )
    assert refused.value.details == {
        "missing": [{"field": "default_warehouse_id", "kind": "warehouse", "id": "ghost"}]
    }
    assert await wiring.count("outbox", state.id, "convert_from(key, 'UTF8')") == 1
    assert await wiring.count("audit_log", state.id, "entity_id") == 1


async def test_a_held_state_of_a_deleted_store_gives_404(wiring: Wiring) -> None:
    state = await _store_with_warehouse(wiring)
    await services.delete_store(DeleteStore(CALLER, state.id, 1), wiring.uow(), wiring.env())
    wiring.held[state.id] = replace(state)
    with pytest.raises(StoreNotFound):
        await services.change_order_settings(
            ChangeOrderSettings(CALLER, state.id, 1, _orders("main")), wiring.uow(), wiring.env()
        )


# Group commit (adapters/write_batch.py): updates that are ready together are one statement,
# and each write still gets its own answer.


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until `condition` holds (no clock involved)."""
    while not condition():
        await asyncio.sleep(0)


async def _blocked_first_write(
    wiring: Wiring, blocker: asyncpg.Connection
) -> tuple[StoreState, asyncio.Task[StoreView]]:
    """A held-state write whose statement waits on a row lock `blocker` holds: the writes
    started meanwhile queue up for the next statement."""
    first = await _store_with_warehouse(wiring)
    wiring.held[first.id] = first
    await blocker.execute(
        f"SELECT 1 FROM {quote_ident(wiring.schema)}.stores WHERE id = $1 FOR UPDATE", first.id
    )
    batcher = wiring.uow.batcher
    assert batcher is not None
    task = asyncio.create_task(_change(wiring, first, "main"))
    await asyncio.wait_for(_until(lambda: batcher.flushing and batcher.waiting == 0), 10)
    return first, task


async def _change(wiring: Wiring, state: StoreState, warehouse: str | None) -> StoreView:
    return await services.change_order_settings(
        ChangeOrderSettings(CALLER, state.id, state.version, _orders(warehouse)),
        wiring.uow(),
        wiring.env(),
    )


def _batch_statements(wiring: Wiring) -> list[str]:
    return [s for s in wiring.statements if s.startswith("WITH v AS")]


async def test_updates_ready_together_are_one_statement_each_with_its_own_answer(
    wiring: Wiring, pg_dsn: str
) -> None:
    blocker = await asyncpg.connect(pg_dsn)
    try:
        lock = blocker.transaction()
        await lock.start()
        first, first_task = await _blocked_first_write(wiring, blocker)
        b, c, stale = [await _store_with_warehouse(wiring) for _ in range(3)]
        for state in (b, c, stale):
            wiring.held[state.id] = state
        # Another process moved `stale` on: the version held here (1) is no longer current.
        async with wiring.pool.acquire() as conn:
            await conn.execute("UPDATE stores SET version = 2 WHERE id = $1", stale.id)
        batcher = wiring.uow.batcher
        assert batcher is not None
        tasks = [asyncio.create_task(_change(wiring, s, "main")) for s in (b, c, stale)]
        await asyncio.wait_for(_until(lambda: batcher.waiting == 3), 10)
        wiring.statements.clear()
        await lock.rollback()
        results = await asyncio.gather(first_task, *tasks, return_exceptions=True)
    finally:
        await blocker.close()
    # Logged as they finish: the held-up first write's, then one for b, c and the stale one.
    assert len(_batch_statements(wiring)) == 2
    for result in results[:3]:
        assert not isinstance(result, BaseException), result
        assert result.state.version == 2
    assert isinstance(results[3], VersionMismatch)
    assert results[3].details == {"current_version": 2, "expected_version": 1}
    for state in (first, b, c):
        assert await wiring.count("outbox", state.id, "convert_from(key, 'UTF8')") == 2
        assert await wiring.count("audit_log", state.id, "entity_id") == 2
    assert await wiring.count("outbox", stale.id, "convert_from(key, 'UTF8')") == 1
    assert await wiring.count("audit_log", stale.id, "entity_id") == 1


async def test_a_refused_reference_in_a_batch_fails_that_write_alone(
    wiring: Wiring, pg_dsn: str
) -> None:
    blocker = await asyncpg.connect(pg_dsn)
    try:
        lock = blocker.transaction()
        await lock.start()
        _first, first_task = await _blocked_first_write(wiring, blocker)
        good, bad = [await _store_with_warehouse(wiring) for _ in range(2)]
        wiring.held.update({good.id: good, bad.id: bad})
        batcher = wiring.uow.batcher
        assert batcher is not None
        tasks = [
            asyncio.create_task(_change(wiring, good, "main")),
            asyncio.create_task(_change(wiring, bad, "ghost")),
        ]
        await asyncio.wait_for(_until(lambda: batcher.waiting == 2), 10)
        wiring.statements.clear()
        await lock.rollback()
        results = await asyncio.gather(first_task, *tasks, return_exceptions=True)
    finally:
        await blocker.close()
    # The held-up first write's, the batch refused as a whole, then each of its writes alone:
    # only `bad` is refused.
    assert len(_batch_statements(wiring)) == 4
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[1], BaseException)
    assert results[1].state.orders.default_warehouse_id == "main"
    assert isinstance(results[2], UnknownReference)
    assert results[2].details == {
        "missing": [{"field": "default_warehouse_id", "kind": "warehouse", "id": "ghost"}]
    }
    assert await wiring.count("outbox", good.id, "convert_from(key, 'UTF8')") == 2
    assert await wiring.count("outbox", bad.id, "convert_from(key, 'UTF8')") == 1
    assert await wiring.count("audit_log", bad.id, "entity_id") == 1


@pytest.mark.parametrize(
    ("row_type", "fields"),
    [
        ("store_update_row", write_batch.STORE_UPDATE_FIELDS),
        ("audit_insert_row", write_batch.AUDIT_INSERT_FIELDS),
        ("outbox_insert_row", write_batch.OUTBOX_INSERT_FIELDS),
    ],
)
async def test_group_commit_row_types_have_the_fields_the_statement_fills_in_order(
    wiring: Wiring, row_type: str, fields: tuple[str, ...]
) -> None:
    # The batch's rows are tuples filled by position: a migration that reorders two fields of
    # one type (two text ids, say) would write each value into the other's column.
    async with wiring.pool.acquire() as conn:
        names = await conn.fetchval(
            "SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a"
            " JOIN pg_type t ON t.typrelid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE t.typname = $1 AND n.nspname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            row_type,
            wiring.schema,
        )
    assert tuple(names) == fields
    columns = set(
        await _table_columns(
            wiring,
            {
                "store_update_row": "stores",
                "audit_insert_row": "audit_log",
                "outbox_insert_row": "outbox",
            }[row_type],
        )
    )
    # Every field but the batch's bookkeeping is a column of the table it is written to.
    assert set(fields) - {"expected", "store_id"} <= columns


async def _table_columns(wiring: Wiring, table: str) -> list[str]:
    async with wiring.pool.acquire() as conn:
        return list(
            await conn.fetchval(
                "SELECT array_agg(column_name::text) FROM information_schema.columns"
                " WHERE table_schema = $1 AND table_name = $2",
                wiring.schema,
                table,
            )
        )
