"""Projections of credential-vault's events that several services keep in their own schema:
the latest API status (`kervan.api-status.v1`) and credential version (`kervan.credentials.v1`)
of each store. Each service names its tables; the rule of which row wins lives here once.

A service's store projection (`kervan.stores.v1`) is not here: each keeps the snapshot fields
it needs, in columns of its own.
"""

# ruff: noqa: S608  (only the schema and table names are formatted in, always through
# quote_ident; values are bind parameters)
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_servicekit.db import Connection
from kervan_servicekit.migrations import quote_ident


@dataclass(frozen=True, slots=True)
class ApiStatusRow:
    """The check held for a store."""

    status: ApiStatus
    reason_code: str | None
    checked_at: datetime


class ApiStatusProjection:
    """A table `(store_id PRIMARY KEY, status, reason_code, checked_at)`: a check replaces the
    one held only when it was checked later."""

    def __init__(self, schema: str, table: str) -> None:
        name = f"{quote_ident(schema)}.{quote_ident(table)}"
        self._get_sql = f"SELECT status, reason_code, checked_at FROM {name} WHERE store_id = $1"
        self._record_sql = f"""
            INSERT INTO {name} AS held (store_id, status, reason_code, checked_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (store_id) DO UPDATE SET status = EXCLUDED.status,
                reason_code = EXCLUDED.reason_code, checked_at = EXCLUDED.checked_at
            WHERE held.checked_at < EXCLUDED.checked_at
            RETURNING true
            """

    async def get(self, conn: Connection, store_id: str) -> ApiStatusRow | None:
        """The check held for the store, if any."""
        row = await conn.fetchrow(self._get_sql, store_id)
        if row is None:
            return None
        return ApiStatusRow(ApiStatus(row["status"]), row["reason_code"], row["checked_at"])

    async def record(
        self,
        conn: Connection,
        store_id: str,
        status: ApiStatus,
        reason_code: str | None,
        checked_at: datetime,
    ) -> bool:
        """Keep the check if it is later than the one held; True if it was applied."""
        applied = await conn.fetchval(
            self._record_sql, store_id, status.value, reason_code, checked_at
        )
        return applied is True


class CredentialVersionProjection:
    """A table `(store_id PRIMARY KEY, version, deleted, changed_at)` (never secret material).

    A change replaces the one held when its version is higher. credential-vault publishes a
    deletion with the version of the last write (versions keep growing across a deletion), so
    a deletion also replaces live credentials of the same or a lower version; a replayed older
    deletion never wins over credentials entered after it.
    """

    def __init__(self, schema: str, table: str) -> None:
        name = f"{quote_ident(schema)}.{quote_ident(table)}"
        self._record_sql = f"""
            INSERT INTO {name} AS held (store_id, version, deleted, changed_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (store_id) DO UPDATE SET version = EXCLUDED.version,
                deleted = EXCLUDED.deleted, changed_at = EXCLUDED.changed_at
            WHERE held.version < EXCLUDED.version
                OR (EXCLUDED.deleted AND NOT held.deleted AND held.version = EXCLUDED.version)
            RETURNING true
            """

    async def record(
        self, conn: Connection, store_id: str, version: int, deleted: bool, changed_at: datetime
    ) -> bool:
        """Keep the change if it wins over the one held (see the class); True if applied."""
        applied = await conn.fetchval(self._record_sql, store_id, version, deleted, changed_at)
        return applied is True
