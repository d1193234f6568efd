"""Test data builders for catalog-sync's domain."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from catalog_sync.domain.catalog import ApiState, Price, Product, StoreView
from catalog_sync.domain.push_plan import SkuFacts

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def store(
    platform: Platform = Platform.N11,
    update_type: AutoUpdateType = AutoUpdateType.ALL,
    *,
    active: bool = True,
    product_update: bool = True,
) -> StoreView:
    """An eligible store unless told otherwise."""
    return StoreView(
        store_id="s1",
        platform=platform,
        active=active,
        test_mode=False,
        product_update_enabled=product_update,
        update_type=update_type,
        price_list_id="pl-main",
        warehouse_id="wh-1",
        version=1,
    )


def valid_api() -> ApiState:
    """A valid credential check."""
    return ApiState(ApiStatus.VALID, NOW)


def facts(**overrides: object) -> SkuFacts:
    """A SKU with product, price and stock, never pushed before."""
    values: dict[str, object] = {
        "sku": "SKU-1",
        "product": Product(sku="SKU-1", title="Mug", description="Blue mug", barcode="869000"),
        "price": Price(Decimal("99.90"), Decimal("120.00"), "TRY"),
        "stock": 7,
    }
    values.update(overrides)
    return SkuFacts(**values)  # type: ignore[arg-type]
