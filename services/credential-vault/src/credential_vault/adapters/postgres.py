"""Unit of work over asyncpg: repositories and the outbox in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg

from credential_vault.domain.model import CredentialMetadata, StatusRecord, StoreView
from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform
from kervan_contracts.registry import make_envelope
from kervan_servicekit import Inbox, Outbox


def _status_record(row: asyncpg.Record) -> StatusRecord:
    return StatusRecord(
        store_id=row["store_id"],
        platform=Platform(row["platform"]),
        status=ApiStatus(row["status"]),
        reason_code=row["reason_code"],
        message=row["message"],
        checked_at=row["checked_at"],
        test_mode=row["test_mode"],
    )


class PostgresTransaction:
    """Repositories bound to one connection inside a transaction."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        outbox: Outbox,
        inbox: Inbox,
        producer: str,
    ) -> None:
        self._conn = conn
        self._outbox = outbox
        self._inbox = inbox
        self._producer = producer

    async def get_store(self, store_id: str, *, lock: bool = False) -> StoreView | None:
        sql = "SELECT store_id, platform, test_mode, version, deleted FROM stores WHERE store_id=$1"
        row = await self._conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), store_id)
        if row is None:
            return None
        return StoreView(
            row["store_id"],
            Platform(row["platform"]),
            row["test_mode"],
            row["version"],
            row["deleted"],
        )

    async def save_store(self, store: StoreView) -> None:
        await self._conn.execute(
            "INSERT INTO stores (store_id, platform, test_mode, version, deleted) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store_id) DO UPDATE SET "
            "platform = $2, test_mode = $3, version = $4, deleted = $5, updated_at = now()",
            store.store_id,
            store.platform.value,
            store.test_mode,
            store.version,
            store.deleted,
        )

    async def get_metadata(self, store_id: str) -> CredentialMetadata | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM credential_metadata WHERE store_id = $1", store_id
        )
        if row is None:
            return None
        return CredentialMetadata(
            store_id=row["store_id"],
            platform=Platform(row["platform"]),
            fields_set=tuple(row["fields_set"]),
            vault_version=row["vault_version"],
            fingerprint=row["fingerprint"],
            updated_at=row["updated_at"],
            updated_by=row["updated_by"],
        )

    async def save_metadata(self, metadata: CredentialMetadata) -> None:
        await self._conn.execute(
            "INSERT INTO credential_metadata (store_id, platform, fields_set, vault_version, "
            "fingerprint, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (store_id) DO UPDATE SET platform = $2, fields_set = $3, "
            "vault_version = $4, fingerprint = $5, updated_at = $6, updated_by = $7",
            metadata.store_id,
            metadata.platform.value,
            list(metadata.fields_set),
            metadata.vault_version,
            metadata.fingerprint,
            metadata.updated_at,
            metadata.updated_by,
        )

    async def delete_metadata(self, store_id: str) -> None:
        await self._conn.execute("DELETE FROM credential_metadata WHERE store_id = $1", store_id)

    async def stores_with_credentials(self) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT m.store_id FROM credential_metadata m JOIN stores s USING (store_id) "
            "WHERE NOT s.deleted ORDER BY m.store_id"
        )
        return [str(row["store_id"]) for row in rows]

    async def get_status(self, store_id: str) -> StatusRecord | None:
        row = await self._conn.fetchrow("SELECT * FROM api_status WHERE store_id = $1", store_id)
        return None if row is None else _status_record(row)

    async def list_statuses(self) -> list[StatusRecord]:
        rows = await self._conn.fetch(
            "SELECT a.* FROM api_status a JOIN stores s USING (store_id) "
            "WHERE NOT s.deleted ORDER BY a.store_id"
        )
        return [_status_record(row) for row in rows]

    async def save_status(self, status: StatusRecord) -> None:
        args = (
            status.store_id,
            status.status.value,
            status.reason_code,
            status.checked_at,
            status.test_mode,
        )
        await self._conn.execute(
            "INSERT INTO api_status (store_id, status, reason_code, checked_at, test_mode, "
            "platform, message) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (store_id) "
            "DO UPDATE SET status = $2, reason_code = $3, checked_at = $4, test_mode = $5, "
            "platform = $6, message = $7",
            *args,
            status.platform.value,
            status.message,
        )
        await self._conn.execute(
            "INSERT INTO check_history (store_id, status, reason_code, checked_at, test_mode) "
            "VALUES ($1, $2, $3, $4, $5)",
            *args,
        )

    async def delete_status(self, store_id: str) -> None:
        await self._conn.execute("DELETE FROM api_status WHERE store_id = $1", store_id)
        await self._conn.execute("DELETE FROM check_history WHERE store_id = $1", store_id)

    async def add_oauth_state(
        self, state_id: str, store_id: str, platform: Platform, expires_at: datetime
    ) -> None:
        await self._conn.execute(
            "INSERT INTO oauth_states (state_id, store_id, platform, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            state_id,
            store_id,
            platform.value,
            expires_at,
        )

    async def consume_oauth_state(
        self, state_id: str, platform: Platform, now: datetime
    ) -> str | None:
        # DELETE ... RETURNING: of two concurrent callbacks with the same state, one wins.
        row = await self._conn.fetchrow(
            "DELETE FROM oauth_states WHERE state_id = $1 RETURNING store_id, platform, expires_at",
            state_id,
        )
        if row is None or row["platform"] != platform.value or row["expires_at"] <= now:
            return None
        return str(row["store_id"])

    async def claim_event(self, consumer: str, event_id: UUID) -> bool:
        return await self._inbox.claim(self._conn, consumer, event_id)

    async def publish(
        self, payload: EventPayload, *, correlation_id: str | None, causation_id: UUID | None
    ) -> None:
        envelope = make_envelope(
            payload,
            producer=self._producer,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        await self._outbox.add(self._conn, payload.topic, payload.partition_key(), envelope)

    async def tombstone(self, topic: str, key: str) -> None:
        await self._outbox.add_tombstone(self._conn, topic, key)


class PostgresUnitOfWork:
    """Transactions on a pool whose search_path is the service schema.

    The pool may be attached later (`uow.pool = ...`), once the server's loop runs.
    """

    def __init__(self, pool: asyncpg.Pool | None, schema: str, producer: str) -> None:
        self.pool = pool
        self._outbox = Outbox(schema)
        self._inbox = Inbox(schema)
        self._producer = producer

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        if self.pool is None:
            raise RuntimeError("the database pool is not open yet")
        async with self.pool.acquire() as conn, conn.transaction():
            # The pool's proxy forwards every Connection method; the stubs type it apart.
            yield PostgresTransaction(
                cast(asyncpg.Connection, conn),
                self._outbox,
                self._inbox,
                self._producer,
            )
