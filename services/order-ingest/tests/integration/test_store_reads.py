"""The store projection reads on PostgreSQL: the store and its API status in one read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from order_ingest.bootstrap import PostgresUnitOfWorkFactory
from order_ingest.domain.store import ApiStatusView, StoreProfile

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_servicekit import Outbox

from .conftest import SCHEMA

pytestmark = pytest.mark.integration


async def test_store_with_api_status_is_what_the_two_reads_give(
    pool: asyncpg.Pool, unique_name: Callable[[str], str]
) -> None:
    uow = PostgresUnitOfWorkFactory(pool, Outbox(SCHEMA), "order-ingest")
    with_both, store_only, status_only, neither = (unique_name("store") for _ in range(4))
    checked = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
    async with uow() as work:
        for store_id in (with_both, store_only):
            await work.stores.upsert(
                StoreProfile(
                    store_id=store_id,
                    platform="trendyol",
                    title=f"Store {store_id}",
                    active=True,
                    test_mode=False,
                    order_transfer_enabled=True,
                    stock_deduction_enabled=store_id == with_both,
                    default_warehouse_id="wh-1" if store_id == with_both else None,
                    version=3,
                )
            )
        await work.stores.record_api_status(
            with_both, ApiStatusView(ApiStatus.VALID, None, checked)
        )
        await work.stores.record_api_status(
            status_only, ApiStatusView(ApiStatus.INVALID, "wrong_key", checked)
        )
        await work.commit()

    async with uow() as work:
        for store_id in (with_both, store_only, status_only, neither):
            both = await work.stores.get_with_api_status(store_id)
            assert both == (
                await work.stores.get(store_id),
                await work.stores.api_status(store_id),
            )
        store, status = await work.stores.get_with_api_status(with_both)
        assert store is not None
        assert (store.store_id, store.default_warehouse_id, store.version) == (
            with_both,
            "wh-1",
            3,
        )
        assert status == ApiStatusView(ApiStatus.VALID, None, checked)
        assert await work.stores.get_with_api_status(status_only) == (
            None,
            ApiStatusView(ApiStatus.INVALID, "wrong_key", checked),
        )
        assert await work.stores.get_with_api_status(neither) == (None, None)
