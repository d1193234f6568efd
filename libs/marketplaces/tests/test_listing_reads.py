"""Reading a store's product list (the listing map's source) from marketplace-sim."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from kervan_marketplaces import AdapterFactory, ListingReader, ListingRef, UnsupportedOperation

from .conftest import NewAccount, requests_log
from .test_other_platforms import _store

# More listings than one page holds on every platform but T-Soft (pages of 500), so the
# paging itself is exercised.
COUNT = 260
TRENDYOL = {"seller_id": "4242", "api_key": "ty-read-key", "api_secret": "ty-read-secret"}


async def seeded(sim: httpx.AsyncClient, account: str) -> dict[str, dict[str, Any]]:
    """COUNT listings with their own barcodes; returns what the simulator shows per SKU."""
    gate = asyncio.Semaphore(16)

    async def one(i: int) -> tuple[str, dict[str, Any]]:
        sku = f"READ-{i:04d}"
        async with gate:
            response = await sim.put(
                f"/_sim/accounts/{account}/listings/{sku}",
                json={"barcode": f"869{i:010d}", "price": "10.00", "stock": i},
            )
        response.raise_for_status()
        return sku, response.json()["shown"]

    return dict(await asyncio.gather(*(one(i) for i in range(COUNT))))


async def read_all(adapter: Any) -> list[ListingRef]:
    assert isinstance(adapter, ListingReader)
    return [ref async for ref in adapter.list_listings()]


@pytest.mark.parametrize("platform", ["trendyol", "hepsiburada", "n11", "ideasoft", "tsoft"])
async def test_every_listing_is_read_with_the_platforms_identity(
    platform: str, factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    if platform == "trendyol":
        account = await new_account("trendyol", TRENDYOL["seller_id"], TRENDYOL)
        adapter: Any = factory.create(
            "trendyol", store_id="s-ty", seller_id=TRENDYOL["seller_id"], credentials=TRENDYOL
        )
    else:
        adapter, account = await _store(platform, factory, sim, new_account)
    shown = await seeded(sim, account)

    refs = await read_all(adapter)

    assert sorted(r.sku for r in refs) == sorted(shown)  # every listing once, across pages
    for ref in refs:
        listing = shown[ref.sku]
        if platform == "hepsiburada":
            # Hepsiburada's listing list has no barcode; hbSku is what its uploads take.
            assert ref.platform_sku == listing["platform_sku"]
            assert ref.barcode is None
        else:
            assert ref.barcode == listing["barcode"]
            assert ref.product_id == str(listing["product_id"])
        if platform == "ideasoft":  # its updates address the product id
            assert ref.platform_sku == str(listing["product_id"])
    log = await requests_log(sim, account)
    assert log["throttled"] == 0


async def test_amazon_has_no_product_list_to_read(
    factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    adapter, _account = await _store("amazon_tr", factory, sim, new_account)
    with pytest.raises(UnsupportedOperation):
        await read_all(adapter)
