"""The store aggregate: versions, diffs, platform rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from store_registry.domain.errors import UnsupportedByPlatform, VersionMismatch
from store_registry.domain.model import (
    ChangeKind,
    OrderSettings,
    PlatformSupport,
    ProductSettings,
    Store,
)

from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType, StoreStatus

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ALL = PlatformSupport(Platform.TRENDYOL, frozenset(AutoUpdateType), accepts_product_info=True)
PRICE_STOCK = PlatformSupport(
    Platform.TSOFT,
    frozenset({AutoUpdateType.PRICE, AutoUpdateType.STOCK, AutoUpdateType.STOCK_AND_PRICE}),
    accepts_product_info=False,
)


def new_store(support: PlatformSupport = ALL) -> Store:
    return Store.create(
        store_id="s1",
        title="Shop",
        platform=support.platform,
        status=StoreStatus.ACTIVE,
        test_mode=False,
        store_url=None,
        support=support,
        actor="alice",
        now=T0,
    )


def test_new_store_starts_at_version_one_with_one_created_change() -> None:
    store = new_store()
    assert store.version == 1
    [change] = store.changes
    assert change.kind is ChangeKind.CREATED
    assert change.actor == "alice"
    assert change.diff["title"] == {"old": None, "new": "Shop"}
    assert change.diff["products.auto_update_type"] == {"old": None, "new": "all"}


def test_default_update_type_is_the_broadest_the_platform_accepts() -> None:
    store = new_store(PRICE_STOCK)
    assert store.state.products.auto_update_type is AutoUpdateType.STOCK_AND_PRICE


def test_each_change_bumps_the_version_and_records_a_field_diff() -> None:
    store = new_store()
    store.changes.clear()
    assert store.set_status(StoreStatus.PASSIVE, actor="bob", now=T0 + timedelta(seconds=1))
    assert store.change_order_settings(
        OrderSettings(order_transfer_enabled=True), actor="bob", now=T0 + timedelta(seconds=2)
    )
    assert store.version == 3
    status, settings = store.changes
    assert status.kind is ChangeKind.STATUS_CHANGED
    assert status.diff == {"status": {"old": "active", "new": "passive"}}
    assert status.state.version == 2
    assert settings.diff == {"orders.order_transfer_enabled": {"old": False, "new": True}}
    assert settings.state.version == 3


def test_a_change_to_the_same_values_is_no_change() -> None:
    store = new_store()
    store.changes.clear()
    assert not store.set_status(StoreStatus.ACTIVE, actor="bob", now=T0)
    assert not store.update_details(actor="bob", now=T0, title="Shop")
    assert store.version == 1
    assert store.changes == []


def test_clearing_the_store_url_is_a_change() -> None:
    store = new_store()
    store.update_details(actor="a", now=T0, store_url="https://shop.example.com")
    assert store.update_details(actor="a", now=T0, clear_store_url=True)
    assert store.state.store_url is None
    assert store.changes[-1].diff == {"store_url": {"old": "https://shop.example.com", "new": None}}


def test_stale_version_is_refused() -> None:
    store = new_store()
    with pytest.raises(VersionMismatch) as caught:
        store.check_version(2)
    assert caught.value.details == {"current_version": 1, "expected_version": 2}
    store.check_version(1)
    store.check_version(None)


def test_unsupported_update_type_is_refused_with_the_supported_ones() -> None:
    store = new_store(PRICE_STOCK)
    with pytest.raises(UnsupportedByPlatform) as caught:
        store.change_product_settings(
            ProductSettings(auto_update_type=AutoUpdateType.PRODUCT_INFO),
            support=PRICE_STOCK,
            actor="a",
            now=T0,
        )
    assert "tsoft" in caught.value.message
    assert caught.value.details["supported"] == ["price", "stock", "stock_and_price"]
    assert store.version == 1


def test_category_on_a_platform_without_product_info_is_refused() -> None:
    store = new_store(PRICE_STOCK)
    with pytest.raises(UnsupportedByPlatform) as caught:
        store.change_product_settings(
            ProductSettings(
                default_category_id="c1", auto_update_type=AutoUpdateType.STOCK_AND_PRICE
            ),
            support=PRICE_STOCK,
            actor="a",
            now=T0,
        )
    assert caught.value.details["field"] == "default_category_id"


def test_delete_carries_the_last_state_one_version_higher() -> None:
    store = new_store()
    store.delete(actor="a", now=T0 + timedelta(seconds=5))
    change = store.changes[-1]
    assert store.deleted
    assert change.kind is ChangeKind.DELETED
    assert change.state.version == 2
    assert change.diff["title"] == {"old": "Shop", "new": None}


def test_updated_at_never_goes_backwards_with_a_skewed_clock() -> None:
    store = new_store()
    store.set_status(StoreStatus.PASSIVE, actor="a", now=T0 - timedelta(hours=1))
    assert store.state.updated_at == T0
