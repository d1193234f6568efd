"""Which row wins in the shared API status and credential version projections (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_servicekit.projections import (
    ApiStatusProjection,
    ApiStatusRow,
    CredentialVersionProjection,
)

pytestmark = pytest.mark.integration

SCHEMA = "svc"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_api_status_keeps_the_latest_check(db: asyncpg.Pool) -> None:
    await db.execute(
        "CREATE TABLE svc.api_statuses (store_id text PRIMARY KEY, status text NOT NULL, "
        "reason_code text, checked_at timestamptz NOT NULL)"
    )
    statuses = ApiStatusProjection(SCHEMA, "api_statuses")
    async with db.acquire() as conn:
        assert await statuses.get(conn, "s1") is None
        assert await statuses.record(conn, "s1", ApiStatus.INVALID, "auth_rejected", T0)
        later = T0 + timedelta(minutes=1)
        assert await statuses.record(conn, "s1", ApiStatus.VALID, None, later)
        assert not await statuses.record(conn, "s1", ApiStatus.INVALID, "x", T0)
        assert not await statuses.record(conn, "s1", ApiStatus.INVALID, "x", later)
        assert await statuses.get(conn, "s1") == ApiStatusRow(ApiStatus.VALID, None, later)


async def test_credential_versions_keep_the_highest_version(db: asyncpg.Pool) -> None:
    await db.execute(
        "CREATE TABLE svc.credential_versions (store_id text PRIMARY KEY, version bigint NOT NULL, "
        "deleted boolean NOT NULL, changed_at timestamptz NOT NULL)"
    )
    versions = CredentialVersionProjection(SCHEMA, "credential_versions")

    async def held() -> tuple[int, bool]:
        row = await db.fetchrow(
            "SELECT version, deleted FROM svc.credential_versions WHERE store_id = 's1'"
        )
        assert row is not None
        return row["version"], row["deleted"]

    async with db.acquire() as conn:
        assert await versions.record(conn, "s1", 2, False, T0)
        assert not await versions.record(conn, "s1", 1, False, T0)
        assert not await versions.record(conn, "s1", 2, False, T0)
        # credential-vault publishes a deletion with the version of the last write.
        assert await versions.record(conn, "s1", 2, True, T0 + timedelta(minutes=1))
        assert await held() == (2, True)
        assert not await versions.record(conn, "s1", 2, True, T0 + timedelta(minutes=2))
        # Credentials entered again get the next version (Vault's counter keeps growing).
        assert await versions.record(conn, "s1", 3, False, T0 + timedelta(minutes=3))
        # The earlier deletion replayed (a consumer reading the topic again) changes nothing.
        assert not await versions.record(conn, "s1", 2, True, T0 + timedelta(minutes=1))
        assert await held() == (3, False)
        # A deletion of an older version than the one held never wins either.
        assert not await versions.record(conn, "s1", 1, True, T0 + timedelta(minutes=4))
        assert await held() == (3, False)
