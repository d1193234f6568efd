"""What each store receives, end to end through PostgreSQL, the adapters and the simulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from catalog_sync.app import projections
from catalog_sync.app.projections import Incoming
from catalog_sync.app.pusher import follow_batches, push_store
from catalog_sync.bootstrap import utc_now

from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.money import Money
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_testkit import wait_until

from .conftest import World, history_fields, snapshot, valid_status

pytestmark = pytest.mark.integration

ACK_WINDOW = timedelta(days=14)
SKU = "MUG-1"
GROUPS = {
    "price": {"price", "list_price"},
    "stock": {"stock"},
    "product_info": {"title", "description"},
}
EXPECTED = {
    AutoUpdateType.ALL: {"price", "stock", "product_info"},
    AutoUpdateType.PRODUCT_INFO: {"product_info"},
    AutoUpdateType.PRICE: {"price"},
    AutoUpdateType.STOCK: {"stock"},
    AutoUpdateType.STOCK_AND_PRICE: {"price", "stock"},
}


def incoming() -> Incoming:
    return Incoming(uuid.uuid4(), datetime.now(UTC))


async def seed_catalogue(world: World, *, price_lists: dict[str, str] | None = None) -> None:
    uow = world.ctx.uow
    await projections.apply_product(
        incoming(),
        ProductUpserted(sku=SKU, title="Blue mug", description="A blue mug", barcode=SKU),
        uow(),
        utc_now,
    )
    for price_list, amount in (price_lists or {"pl-main": "99.90"}).items():
        await projections.apply_price(
            incoming(),
            PriceChanged(
                sku=SKU,
                price_list_id=price_list,
                sale_price=Money.of(amount, "TRY"),
                list_price=Money.of("150.00", "TRY"),
            ),
            uow(),
            utc_now,
        )
    await projections.apply_stock_level(
        incoming(),
        StockLevelChanged(sku=SKU, warehouse_id="wh-1", quantity=7, as_of=datetime.now(UTC)),
        uow(),
        utc_now,
        ACK_WINDOW,
    )


async def push_until_settled(world: World, store_id: str) -> None:
    await push_store(store_id, world.ctx)

    async def settled() -> bool:
        await follow_batches(world.ctx)
        count = await world.pool.fetchval(
            "SELECT count(*) FROM catalog_sync.push_batches WHERE status <> 'completed'"
        )
        return int(count) == 0

    await wait_until(settled, what="batches settled")


async def listing(world: World, account: str) -> dict[str, Any]:
    return await world.sim.listing(account, SKU)


@pytest.mark.parametrize("update_type", list(AutoUpdateType))
@pytest.mark.parametrize("platform", list(Platform), ids=str)
async def test_exactly_the_allowed_fields_arrive(
    world: World, platform: Platform, update_type: AutoUpdateType
) -> None:
    store_id = f"s-{platform.value}".replace("_", "-")
    account = await world.add_store(store_id, platform)
    await world.sim.seed_listing(account, SKU, barcode=SKU, price="10.00", stock=1)
    await projections.apply_store(
        snapshot(store_id, platform, update_type=update_type), world.ctx.uow(), utc_now
    )
    await projections.apply_api_status(valid_status(store_id, platform), world.ctx.uow(), utc_now)
    await seed_catalogue(world)

    await push_until_settled(world, store_id)

    shown = await listing(world, account)
    allowed = EXPECTED[update_type]
    if platform is Platform.HEPSIBURADA:
        allowed = allowed - {"product_info"}
    arrived = {name for name, group in GROUPS.items() if history_fields(shown) & group}
    assert arrived == allowed, shown["history"]
    failures = [r for r in shown["history"] if r["outcome"] == "failed"]
    assert not failures
    if "stock" in allowed:
        assert shown["shown"]["stock"] == 7
    if "price" in allowed:
        assert Decimal(shown["shown"]["price"]) == Decimal("99.90")
    # A second round sends nothing: every value was accepted.
    before = len(shown["history"])
    await push_until_settled(world, store_id)
    await projections.apply_store(
        snapshot(store_id, platform, update_type=update_type, version=2), world.ctx.uow(), utc_now
    )
    await push_until_settled(world, store_id)
    assert len((await listing(world, account))["history"]) == before


@pytest.mark.parametrize(
    "kwargs", [{"active": False}, {"product_update": False}], ids=["passive", "update-off"]
)
async def test_blocked_store_receives_nothing(world: World, kwargs: dict[str, bool]) -> None:
    account = await world.add_store("s-blocked", Platform.N11)
    await world.sim.seed_listing(account, SKU, barcode=SKU, price="10.00", stock=1)
    await projections.apply_store(
        snapshot("s-blocked", Platform.N11, **kwargs),  # type: ignore[arg-type]
        world.ctx.uow(),
        utc_now,
    )
    await seed_catalogue(world)
    result = await push_store("s-blocked", world.ctx)
    assert result.skipped_reason in {"store_passive", "product_update_off"}
    assert (await listing(world, account))["history"] == []
    backlog = await world.pool.fetchval("SELECT count(*) FROM catalog_sync.dirty_skus")
    assert backlog == 0


async def test_price_comes_from_the_stores_default_list(world: World) -> None:
    account = await world.add_store("s-pl", Platform.TRENDYOL)
    await world.sim.seed_listing(account, SKU, barcode=SKU, price="10.00", stock=1)
    await projections.apply_store(
        snapshot("s-pl", Platform.TRENDYOL, update_type=AutoUpdateType.PRICE, price_list="pl-b"),
        world.ctx.uow(),
        utc_now,
    )
    await seed_catalogue(world, price_lists={"pl-main": "99.90", "pl-b": "79.50"})
    await push_until_settled(world, "s-pl")
    assert Decimal((await listing(world, account))["shown"]["price"]) == Decimal("79.50")
