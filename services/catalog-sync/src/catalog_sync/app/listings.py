"""The listing map filled from the platform: each store's product list, read once.

Platforms identify a product by something other than the seller's SKU on some endpoints
(Hepsiburada's hbSku, IdeaSoft's product id), and a seller may already have listings there
that Kervan has never seen. So before a store's first push, its product list is read through
the adapter (`list_listings`) and each SKU's barcode / platform SKU / product id is stored with
source `platform`. A value set through the API (`PUT /v1/stores/{id}/listings/{sku}`) always
wins and is never overwritten by a read. Platforms without a readable list (Amazon: the
seller SKU itself is the key) are recorded as `unsupported` and not asked again. A failed
read is retried after `LISTING_RETRY`; `POST /v1/stores/{id}/listings/import` reads again on
demand (e.g. after listing products on the platform by hand).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from catalog_sync.domain.catalog import ListingIdentity, StoreView
from kervan_marketplaces import (
    ListingReader,
    ListingRef,
    MarketplaceAdapter,
    MarketplaceError,
    UnsupportedOperation,
)
from kervan_servicekit import get_logger

if TYPE_CHECKING:  # the pusher calls in here
    from catalog_sync.app.pusher import PushContext

logger = get_logger("catalog_sync.listings")

LISTING_RETRY = timedelta(hours=1)
CHUNK = 1000
"""Identities written per transaction while the pages are read."""


@dataclass(frozen=True, slots=True)
class ListingImport:
    """What one read of a store's product list did."""

    store_id: str
    outcome: str
    """`imported`, `unsupported` or `failed`."""
    listings: int = 0
    changed: int = 0
    reason: str | None = None


async def import_listings(
    store: StoreView, adapter: MarketplaceAdapter, ctx: PushContext
) -> ListingImport:
    """Read the store's product list and store what it says; returns the counts."""
    read = changed = 0
    outcome, reason = "imported", None
    if not isinstance(adapter, ListingReader):
        outcome = "unsupported"
    try:
        chunk: list[tuple[str, ListingIdentity]] = []
        async for ref in _refs(adapter):
            chunk.append((ref.sku, ListingIdentity(ref.barcode, ref.platform_sku, ref.product_id)))
            if len(chunk) >= CHUNK:
                changed += await _save(store.store_id, chunk, ctx)
                read += len(chunk)
                chunk = []
        changed += await _save(store.store_id, chunk, ctx)
        read += len(chunk)
    except UnsupportedOperation:
        outcome = "unsupported"
    except MarketplaceError as exc:
        outcome, reason = "failed", exc.code
        logger.warning("listings not read", store_id=store.store_id, reason=exc.code)
    async with ctx.uow() as uow:
        await uow.save_listing_import(store.store_id, ctx.clock(), outcome, read, reason)
        await uow.commit()
    return ListingImport(store.store_id, outcome, read, changed, reason)


async def import_if_due(
    store: StoreView, adapter: MarketplaceAdapter, ctx: PushContext
) -> ListingImport | None:
    """Read the product list when the store was never read (or the last read failed long
    enough ago); None when not due."""
    if store.store_id in ctx.listings_read:
        return None
    async with ctx.uow() as uow:
        due = await uow.listing_import_due(store.store_id, ctx.clock(), LISTING_RETRY)
    if not due:
        ctx.listings_read.add(store.store_id)
        return None
    result = await import_listings(store, adapter, ctx)
    if result.outcome != "failed":
        ctx.listings_read.add(store.store_id)
    return result


async def _save(store_id: str, chunk: list[tuple[str, ListingIdentity]], ctx: PushContext) -> int:
    if not chunk:
        return 0
    async with ctx.uow() as uow:
        changed = await uow.save_platform_listings(store_id, chunk, ctx.clock())
        await uow.commit()
    return len(changed)


async def _refs(adapter: MarketplaceAdapter) -> AsyncIterator[ListingRef]:
    if not isinstance(adapter, ListingReader):
        return
    async for ref in adapter.list_listings():
        yield ref
