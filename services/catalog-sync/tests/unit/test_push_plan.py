"""The update-type rules, change detection, retries and Trendyol's repeat window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from catalog_sync.domain.catalog import ApiState, ListingIdentity, Price
from catalog_sync.domain.push_plan import (
    Action,
    FieldLedger,
    SentPayload,
    plan_sku,
)

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_contracts.sync.v1 import PushedField, PushOutcome

from .builders import NOW, facts, store, valid_api

F = PushedField
EXPECTED = {
    AutoUpdateType.ALL: {F.PRICE, F.STOCK, F.PRODUCT_INFO},
    AutoUpdateType.PRODUCT_INFO: {F.PRODUCT_INFO},
    AutoUpdateType.PRICE: {F.PRICE},
    AutoUpdateType.STOCK: {F.STOCK},
    AutoUpdateType.STOCK_AND_PRICE: {F.PRICE, F.STOCK},
}


def sent_fields(plan_platform: Platform, update_type: AutoUpdateType) -> set[PushedField]:
    plan = plan_sku(store(plan_platform, update_type), valid_api(), facts(), NOW)
    fields: set[PushedField] = set()
    if plan.price_stock is not None:
        fields |= set(plan.price_stock.values)
        assert (plan.price_stock.quantity is not None) == (F.STOCK in fields)
        assert (plan.price_stock.sale_price is not None) == (F.PRICE in fields)
    if plan.product_info is not None:
        fields.add(F.PRODUCT_INFO)
    return fields


@pytest.mark.parametrize("update_type", list(AutoUpdateType))
@pytest.mark.parametrize(
    "platform", [p for p in Platform if p is not Platform.HEPSIBURADA], ids=str
)
def test_each_update_type_sends_exactly_its_fields(
    platform: Platform, update_type: AutoUpdateType
) -> None:
    assert sent_fields(platform, update_type) == EXPECTED[update_type]


@pytest.mark.parametrize("update_type", list(AutoUpdateType))
def test_hepsiburada_never_gets_product_info(update_type: AutoUpdateType) -> None:
    assert sent_fields(Platform.HEPSIBURADA, update_type) == EXPECTED[update_type] - {
        F.PRODUCT_INFO
    }


@pytest.mark.parametrize(
    ("kwargs", "api", "reason"),
    [
        ({"active": False}, valid_api(), "store_passive"),
        ({"product_update": False}, valid_api(), "product_update_off"),
        ({}, ApiState(ApiStatus.INVALID, NOW, "auth_rejected"), "api_status_invalid"),
    ],
)
def test_blocked_stores_receive_nothing(
    kwargs: dict[str, bool], api: ApiState, reason: str
) -> None:
    plan = plan_sku(store(**kwargs), api, facts(), NOW)  # type: ignore[arg-type]
    assert plan.price_stock is None
    assert plan.product_info is None
    assert {(d.action, d.reason) for d in plan.decisions} == {(Action.STORE_BLOCKED, reason)}


def test_unknown_api_status_does_not_block() -> None:
    plan = plan_sku(store(), ApiState(ApiStatus.UNKNOWN, NOW), facts(), NOW)
    assert plan.price_stock is not None


def test_price_is_the_store_lists_value_and_stock_is_clamped_at_zero() -> None:
    plan = plan_sku(store(), valid_api(), facts(stock=-2), NOW)
    assert plan.price_stock is not None
    assert plan.price_stock.sale_price == Decimal("99.90")
    assert plan.price_stock.list_price == Decimal("120.00")
    assert plan.price_stock.quantity == 0


def test_only_changed_fields_are_sent() -> None:
    base = facts()
    first = plan_sku(store(), valid_api(), base, NOW)
    assert first.price_stock is not None
    accepted = {
        F.PRICE: FieldLedger(accepted_value=first.price_stock.values[F.PRICE]),
        F.STOCK: FieldLedger(accepted_value="7"),
    }
    plan = plan_sku(store(), valid_api(), replace(base, stock=6, ledger=accepted), NOW)
    assert plan.price_stock is not None
    assert dict(plan.price_stock.values) == {F.STOCK: "6"}
    assert plan.price_stock.sale_price is None
    assert plan.decision(F.PRICE).action is Action.UP_TO_DATE


def test_nothing_to_send_without_values() -> None:
    plan = plan_sku(store(), valid_api(), facts(product=None, price=None, stock=None), NOW)
    assert plan.price_stock is None
    assert plan.product_info is None
    assert {d.action for d in plan.decisions} == {Action.NO_VALUE}


def test_value_in_flight_is_not_sent_again() -> None:
    ledger = {F.STOCK: FieldLedger(sent_value="7", outcome=PushOutcome.PENDING, batch_id="b1")}
    plan = plan_sku(store(update_type=AutoUpdateType.STOCK), valid_api(), facts(ledger=ledger), NOW)
    assert plan.price_stock is None
    assert plan.decision(F.STOCK).action is Action.IN_FLIGHT


def test_newer_value_is_sent_while_an_older_one_is_in_flight() -> None:
    ledger = {F.STOCK: FieldLedger(sent_value="9", outcome=PushOutcome.PENDING, batch_id="b1")}
    plan = plan_sku(store(update_type=AutoUpdateType.STOCK), valid_api(), facts(ledger=ledger), NOW)
    assert plan.price_stock is not None
    assert plan.price_stock.quantity == 7


def test_failed_value_waits_for_its_backoff_then_goes_again() -> None:
    retry_at = NOW + timedelta(seconds=30)
    ledger = {
        F.STOCK: FieldLedger(
            sent_value="7", outcome=PushOutcome.FAILED, reason_code="timeout", retry_at=retry_at
        )
    }
    stock_store = store(update_type=AutoUpdateType.STOCK)
    waiting = plan_sku(stock_store, valid_api(), facts(ledger=ledger), NOW)
    assert waiting.price_stock is None
    assert waiting.not_before == retry_at
    due = plan_sku(stock_store, valid_api(), facts(ledger=ledger), retry_at)
    assert due.price_stock is not None


def test_permanent_failure_is_not_retried_but_a_new_value_is_tried() -> None:
    ledger = {
        F.PRICE: FieldLedger(
            sent_value=Price(Decimal("99.90"), Decimal("120.00"), "TRY").text(),
            outcome=PushOutcome.FAILED,
            reason_code="price_locked",
            permanent=True,
        )
    }
    price_store = store(update_type=AutoUpdateType.PRICE)
    blocked = plan_sku(price_store, valid_api(), facts(ledger=ledger), NOW)
    assert blocked.price_stock is None
    assert blocked.decision(F.PRICE).action is Action.BLOCKED
    assert blocked.decision(F.PRICE).reason == "price_locked"
    new_price = Price(Decimal("89.90"), Decimal("120.00"), "TRY")
    retried = plan_sku(price_store, valid_api(), facts(ledger=ledger, price=new_price), NOW)
    assert retried.price_stock is not None


def test_trendyol_needs_a_barcode() -> None:
    no_barcode = facts(product=None)
    plan = plan_sku(store(Platform.TRENDYOL), valid_api(), no_barcode, NOW)
    assert plan.price_stock is None
    assert plan.decision(F.STOCK).reason == "missing_barcode"
    listed = replace(no_barcode, listing=ListingIdentity(barcode="869001"))
    plan = plan_sku(store(Platform.TRENDYOL), valid_api(), listed, NOW)
    assert plan.price_stock is not None
    assert plan.price_stock.barcode == "869001"


def test_trendyol_never_gets_the_same_payload_twice_within_15_minutes() -> None:
    trendyol = store(Platform.TRENDYOL, AutoUpdateType.STOCK)
    first = plan_sku(trendyol, valid_api(), facts(), NOW)
    assert first.price_stock is not None
    memory = SentPayload(first.price_stock.fingerprint, NOW)
    # 7 was sent, then 6 was accepted; going back to 7 repeats the first payload.
    ledger = {F.STOCK: FieldLedger(accepted_value="6", sent_value="6")}
    again = facts(ledger=ledger, last_price_stock=memory)
    soon = plan_sku(trendyol, valid_api(), again, NOW + timedelta(minutes=14, seconds=59))
    assert soon.price_stock is None
    assert soon.decision(F.STOCK).reason == "trendyol_repeat_window"
    assert soon.not_before == NOW + timedelta(minutes=15)
    later = plan_sku(trendyol, valid_api(), again, NOW + timedelta(minutes=15))
    assert later.price_stock is not None
    # other platforms have no such rule
    n11 = plan_sku(store(Platform.N11, AutoUpdateType.STOCK), valid_api(), again, NOW)
    assert n11.price_stock is not None


def test_product_info_uses_the_platform_field_names() -> None:
    plan = plan_sku(store(Platform.TSOFT, AutoUpdateType.PRODUCT_INFO), valid_api(), facts(), NOW)
    assert plan.product_info is not None
    assert dict(plan.product_info.fields) == {"ProductName": "Mug"}
    accepted = {F.PRODUCT_INFO: FieldLedger(accepted_value=plan.product_info.value)}
    again = plan_sku(
        store(Platform.TSOFT, AutoUpdateType.PRODUCT_INFO), valid_api(), facts(ledger=accepted), NOW
    )
    assert again.product_info is None
