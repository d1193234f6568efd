"""Migration runner on real PostgreSQL: order, idempotence, checksums, concurrency."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from kervan_servicekit.migrations import (
    MigrationError,
    MigrationSet,
    apply_migrations,
    parse_migrations,
    servicekit_migrations,
)

pytestmark = pytest.mark.integration


def _service(*files: tuple[str, str]) -> MigrationSet:
    return MigrationSet("order-ingest", parse_migrations(files))


FILES = (
    ("0001_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, note text)"),
    ("0002_order_lines.sql", "CREATE TABLE order_lines (order_id bigint REFERENCES orders(id))"),
)


async def _run(dsn: str, sets: list[MigrationSet], schema: str = "order_ingest") -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn, schema, sets)
    finally:
        await conn.close()


async def test_applies_in_order_into_the_schema_then_is_idempotent(pg_dsn: str) -> None:
    sets = [servicekit_migrations(), _service(*reversed(FILES))]
    applied = await _run(pg_dsn, sets)
    assert applied == [
        "kervan_servicekit:0001_outbox",
        "kervan_servicekit:0002_inbox",
        "kervan_servicekit:0003_outbox_tombstones",
        "order-ingest:0001_orders",
        "order-ingest:0002_order_lines",
    ]
    assert await _run(pg_dsn, sets) == []
    conn = await asyncpg.connect(pg_dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'order_ingest'"
        )
        recorded = await conn.fetch(
            "SELECT source, version FROM order_ingest.schema_migrations"
            " ORDER BY applied_at, version"
        )
    finally:
        await conn.close()
    assert {r["table_name"] for r in tables} == {
        "outbox",
        "inbox",
        "orders",
        "order_lines",
        "schema_migrations",
    }
    assert [(r["source"], r["version"]) for r in recorded] == [
        ("kervan_servicekit", 1),
        ("kervan_servicekit", 2),
        ("kervan_servicekit", 3),
        ("order-ingest", 1),
        ("order-ingest", 2),
    ]


async def test_a_changed_landed_migration_is_an_error(pg_dsn: str) -> None:
    await _run(pg_dsn, [_service(*FILES)])
    edited = (FILES[0][0], FILES[0][1] + " -- tweaked"), FILES[1]
    with pytest.raises(MigrationError, match="0001_orders changed after it was applied"):
        await _run(pg_dsn, [_service(*edited)])


async def test_a_new_migration_numbered_below_an_applied_one_is_an_error(pg_dsn: str) -> None:
    await _run(pg_dsn, [_service(FILES[0], ("0003_late.sql", "SELECT 1"))])
    with pytest.raises(MigrationError, match="numbered below"):
        await _run(pg_dsn, [_service(FILES[0], FILES[1], ("0003_late.sql", "SELECT 1"))])


async def test_a_failing_migration_leaves_nothing_behind(pg_dsn: str) -> None:
    broken = ("0002_broken.sql", "CREATE TABLE half (id int); SELECT no_such_function()")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await _run(pg_dsn, [_service(FILES[0], broken)])
    conn = await asyncpg.connect(pg_dsn)
    try:
        half = await conn.fetchval("SELECT to_regclass('order_ingest.half')")
        versions = await conn.fetch("SELECT version FROM order_ingest.schema_migrations")
    finally:
        await conn.close()
    assert half is None
    assert [r["version"] for r in versions] == [1]


async def test_concurrent_runners_are_serialised(pg_dsn: str) -> None:
    slow = (
        "0001_slow.sql",
        "SELECT pg_sleep(0.3); CREATE TABLE counters (n int); INSERT INTO counters VALUES (1)",
    )
    sets = [servicekit_migrations(), _service(slow)]
    results = await asyncio.gather(*(_run(pg_dsn, sets) for _ in range(4)))
    applied = [r for r in results if r]
    assert len(applied) == 1  # one runner did the work, three found it done
    assert applied[0][-1] == "order-ingest:0001_slow"
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM order_ingest.counters") == 1
    finally:
        await conn.close()
