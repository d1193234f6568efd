"""The listing map filled from the platform's product list (marketplace-sim in process)."""

from __future__ import annotations

import pytest
from catalog_sync.app import projections
from catalog_sync.app.listings import import_listings
from catalog_sync.app.pusher import push_store
from catalog_sync.bootstrap import utc_now
from catalog_sync.domain.catalog import ListingIdentity, StoreView

from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType

from .conftest import World, snapshot, valid_status
from .test_push_to_sim import SKU, push_until_settled, seed_catalogue

pytestmark = pytest.mark.integration


async def add_store(world: World, store_id: str, platform: Platform) -> str:
    account = await world.add_store(store_id, platform)
    await projections.apply_store(
        snapshot(store_id, platform, update_type=AutoUpdateType.STOCK), world.ctx.uow(), utc_now
    )
    await projections.apply_api_status(valid_status(store_id, platform), world.ctx.uow(), utc_now)
    return account


async def listing_rows(world: World, store_id: str) -> dict[str, tuple[str | None, ...]]:
    rows = await world.pool.fetch(
        "SELECT sku, barcode, platform_sku, product_id, source FROM catalog_sync.listings "
        "WHERE store_id = $1",
        store_id,
    )
    return {r["sku"]: (r["barcode"], r["platform_sku"], r["product_id"], r["source"]) for r in rows}


async def test_the_first_push_reads_the_product_list_and_uses_its_ids(world: World) -> None:
    account = await add_store(world, "s-is", Platform.IDEASOFT)
    seeded = {}
    for sku in (SKU, "OTHER-1", "OTHER-2"):
        view = await world.sim.seed_listing(account, sku, barcode=f"bc-{sku}", price="1", stock=0)
        seeded[sku] = str(view["shown"]["product_id"])
    await seed_catalogue(world)
    before = await world.sim.requests(account)

    await push_until_settled(world, "s-is")

    # Every listing of the platform is in the map, with IdeaSoft's product id as the push key,
    # the ones Kervan has no product for too (they may be published later).
    assert await listing_rows(world, "s-is") == {
        sku: (f"bc-{sku}", product_id, product_id, "platform") for sku, product_id in seeded.items()
    }
    shown = await world.sim.listing(account, SKU)
    assert shown["shown"]["stock"] == 7
    # The push addressed the product by the id from the map: no per-SKU product lookup.
    after = await world.sim.requests(account)
    lists = after["by_endpoint"]["listProducts"]["count"] - before["by_endpoint"].get(
        "listProducts", {}
    ).get("count", 0)
    assert lists == 1  # the one page of the product list, nothing per item
    assert after["by_endpoint"]["putProduct"]["count"] == 1

    # Read once: the next rounds do not ask again.
    await seed_catalogue(world)
    await push_store("s-is", world.ctx)
    final = await world.sim.requests(account)
    assert (
        final["by_endpoint"]["listProducts"]["count"]
        == after["by_endpoint"]["listProducts"]["count"]
    )


async def test_a_value_set_through_the_api_wins_over_the_platforms(world: World) -> None:
    account = await add_store(world, "s-hb", Platform.HEPSIBURADA)
    view = await world.sim.seed_listing(account, SKU, barcode=SKU, price="1", stock=0)
    other = await world.sim.seed_listing(account, "OTHER-1", barcode="x", price="1", stock=0)
    async with world.ctx.uow() as uow:
        await uow.save_listing(
            "s-hb", SKU, ListingIdentity(None, "HB-MANUAL", None), "api", utc_now()
        )
        await uow.commit()
    store = await _store(world, "s-hb")
    adapter = (await world.ctx.adapters.adapter_for(store)).adapter

    result = await import_listings(store, adapter, world.ctx)

    assert result.outcome == "imported"
    assert result.listings == 2
    rows = await listing_rows(world, "s-hb")
    assert rows[SKU] == (None, "HB-MANUAL", None, "api")
    assert rows["OTHER-1"] == (None, other["shown"]["platform_sku"], None, "platform")
    assert view["shown"]["platform_sku"] != "HB-MANUAL"
    # Read again: nothing changed, nothing queued.
    again = await import_listings(store, adapter, world.ctx)
    assert again.changed == 0


async def test_amazon_is_recorded_as_unreadable_and_still_pushed(world: World) -> None:
    account = await add_store(world, "s-amz", Platform.AMAZON_TR)
    await world.sim.seed_listing(account, SKU, barcode=SKU, price="1", stock=0)
    await seed_catalogue(world)

    await push_until_settled(world, "s-amz")

    row = await world.pool.fetchrow(
        "SELECT outcome, listings FROM catalog_sync.listing_imports WHERE store_id = 's-amz'"
    )
    assert row is not None
    assert (row["outcome"], row["listings"]) == ("unsupported", 0)
    assert (await world.sim.listing(account, SKU))["shown"]["stock"] == 7


async def _store(world: World, store_id: str) -> StoreView:
    async with world.ctx.uow() as uow:
        store = await uow.store(store_id)
    assert store is not None
    return store
