"""The credential version projection on PostgreSQL: deletions apply, re-entered credentials too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from order_ingest.app.services import apply_credentials
from order_ingest.bootstrap import PostgresUnitOfWorkFactory

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.identifiers import Platform
from kervan_servicekit import Outbox

from ..unit.fakes import FakeAdapters  # noqa: TID252 - shared fake
from .conftest import SCHEMA

pytestmark = pytest.mark.integration


async def test_deletion_and_credentials_entered_again_apply_replays_do_not(
    pool: asyncpg.Pool, unique_name: Callable[[str], str]
) -> None:
    store_id = unique_name("store")
    uow = PostgresUnitOfWorkFactory(pool, Outbox(SCHEMA), "order-ingest")
    adapters = FakeAdapters({})
    at = datetime.now(UTC)

    def changed(version: int, *, deleted: bool = False, minutes: int = 0) -> CredentialsChanged:
        return CredentialsChanged(
            store_id=store_id,
            platform=Platform.TRENDYOL,
            version=version,
            changed_at=at + timedelta(minutes=minutes),
            deleted=deleted,
        )

    assert await apply_credentials(changed(2), uow(), adapters)
    # credential-vault announces a deletion with the version of the last write.
    assert await apply_credentials(changed(2, deleted=True, minutes=1), uow(), adapters)
    assert not await apply_credentials(changed(2, deleted=True, minutes=1), uow(), adapters)
    assert await apply_credentials(changed(3, minutes=2), uow(), adapters)
    assert not await apply_credentials(changed(3, minutes=2), uow(), adapters)
    held = await pool.fetchrow(
        "SELECT version, deleted FROM credential_versions WHERE store_id = $1", store_id
    )
    assert held is not None
    assert (held["version"], held["deleted"]) == (3, False)
    # Every event reaches the cache, applied or not: it compares with what it holds.
    assert [(e.version, e.deleted) for e in adapters.changes] == [
        (2, False),
        (2, True),
        (2, True),
        (3, False),
        (3, False),
    ]
