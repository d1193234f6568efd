"""servicekit's pool on real PostgreSQL: connections come back as they were left, minus any
open transaction."""

from __future__ import annotations

from pydantic import SecretStr

from kervan_servicekit.runtime import create_pool
from kervan_servicekit.settings import PostgresSettings

from .conftest import SCHEMA


async def test_a_released_connection_keeps_its_session_and_loses_its_transaction(
    service_db: str,
) -> None:
    settings = PostgresSettings(
        dsn=SecretStr(service_db), schema_name=SCHEMA, pool_min_size=1, pool_max_size=1
    )
    pool = await create_pool(settings)
    try:
        await pool.execute("CREATE TABLE IF NOT EXISTS pool_probe (n int)")
        await pool.execute("TRUNCATE pool_probe")
        async with pool.acquire() as conn:
            # No reset on release: a session setting survives (asyncpg's default RESET ALL
            # would undo it, one round trip per release)...
            await conn.execute("SET application_name = 'kervan-pool-probe'")
            # ...but a transaction left open is rolled back, never handed to the next user.
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") == "kervan-pool-probe"
            assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
            assert await conn.fetchval("SELECT current_schema()") == SCHEMA
    finally:
        await pool.close()
