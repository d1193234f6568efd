"""Trendyol adapter against marketplace-sim."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from kervan_contracts.orders.v1 import OrderStatus
from kervan_marketplaces import (
    AdapterFactory,
    MarketplaceAdapter,
    OutcomeState,
    PriceStockItem,
)

from .conftest import NewAccount, add_fault, make_settings, requests_log, until

CREDS = {"seller_id": "104001", "api_key": "ty-key-1", "api_secret": "ty-secret-1"}


async def _store(
    factory: AdapterFactory,
    new_account: NewAccount,
    *,
    test_mode: bool = False,
    creds: dict[str, str] | None = None,
) -> tuple[MarketplaceAdapter, str]:
    creds = creds or CREDS
    account = await new_account("trendyol", creds["seller_id"], creds)
    adapter = factory.create(
        "trendyol",
        store_id="store-ty",
        seller_id=creds["seller_id"],
        credentials=creds,
        test_mode=test_mode,
    )
    return adapter, account


async def _order(
    sim: httpx.AsyncClient,
    account: str,
    number: str,
    status: str = "NEW",
    created: datetime | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> None:
    body: dict[str, Any] = {
        "order_number": number,
        "status": status,
        "lines": lines
        or [{"sku": "SKU-1", "quantity": 2, "unit_price": "149.90", "barcode": "869000000001"}],
    }
    if created is not None:
        body["created_at"] = created.isoformat()
    response = await sim.post(f"/_sim/accounts/{account}/orders", json=body)
    assert response.status_code == 201, response.text


async def test_credentials_valid_and_wrong(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, _ = await _store(factory, new_account)
    assert (await adapter.test_credentials()).valid
    wrong = factory.create(
        "trendyol",
        store_id="store-ty2",
        seller_id=CREDS["seller_id"],
        credentials={**CREDS, "api_secret": "nope"},
    )
    check = await wrong.test_credentials()
    assert not check.valid
    assert check.reason == "auth_rejected"
    assert "nope" not in repr(wrong)
    assert "nope" not in str(check.model_dump())


async def test_revoked_credentials_are_invalid_without_retry_loop(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    await add_fault(sim, kind="revoked_credentials", account_id=account)
    check = await adapter.test_credentials()
    assert not check.valid
    assert check.reason == "auth_rejected"
    log = await requests_log(sim, account)
    assert log["total"] == 1  # one call, no retries


async def test_happy_path_orders_are_normalised(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    before = datetime.now(UTC) - timedelta(minutes=1)
    await _order(sim, account, "TY-1001")
    orders = [o async for o in adapter.list_orders(before - timedelta(hours=1))]
    assert len(orders) == 1
    order = orders[0]
    assert order.order_number == "TY-1001"
    assert order.store_id == "store-ty"
    assert order.status is OrderStatus.NEW
    assert order.raw_status == "Created"
    line = order.lines[0]
    assert line.merchant_sku == "SKU-1"
    assert line.quantity == 2
    assert line.unit_price.amount == Decimal("149.90")
    assert line.unit_price.amount * 2 == line.line_total.amount
    # orderDate arrives shifted to GMT+3: after conversion it is the real instant.
    assert abs(order.ordered_at - datetime.now(UTC)) < timedelta(minutes=2)
    assert order.ordered_at.utcoffset() == timedelta(0)


async def test_every_page_of_a_long_list(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    response = await sim.post(
        f"/_sim/accounts/{account}/orders/bulk", json={"count": 450, "spread_seconds": 3600}
    )
    assert response.status_code == 201
    numbers = [
        o.order_number async for o in adapter.list_orders(datetime.now(UTC) - timedelta(hours=2))
    ]
    assert len(numbers) == 450
    assert len(set(numbers)) == 450
    log = await requests_log(sim, account)
    assert log["by_endpoint"]  # 3 pages of 200
    assert sum(v["count"] for v in log["by_endpoint"].values()) == 3


async def test_window_splitting_reaches_older_orders(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    now = datetime.now(UTC)
    for days in (40, 20, 1):
        await _order(sim, account, f"TY-OLD-{days}", created=now - timedelta(days=days))
    found = {o.order_number async for o in adapter.list_orders(now - timedelta(days=45))}
    assert found == {"TY-OLD-40", "TY-OLD-20", "TY-OLD-1"}
    log = await requests_log(sim, account)
    # 45 days in windows of at most 14 days: 4 windows, each one request; none refused.
    assert sum(v["count"] for v in log["by_endpoint"].values()) == 4
    assert all(set(v["statuses"]) == {"200"} for v in log["by_endpoint"].values())


async def test_window_starts_on_the_millisecond(
    factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    """Trendyol stamps and filters in epoch milliseconds: a window starting in the millisecond
    of an order reads it; one starting a millisecond later does not (a whole-second start
    would read it again)."""
    adapter, account = await _store(factory, new_account)
    created = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=700_000)
    await _order(sim, account, "MS-1", created=created)
    same_ms = {
        o.order_number async for o in adapter.list_orders(created.replace(microsecond=700_900))
    }
    later_ms = {
        o.order_number async for o in adapter.list_orders(created.replace(microsecond=701_000))
    }
    assert "MS-1" in same_ms
    assert "MS-1" not in later_ms


async def test_status_mapping_and_partial_cancel(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    since = datetime.now(UTC) - timedelta(hours=1)
    for status in (
        "PENDING_PAYMENT",
        "PREPARING",
        "SHIPPED",
        "DELIVERED",
        "UNDELIVERED",
        "RETURNED",
    ):
        await _order(sim, account, f"TY-{status}", status=status)
    await _order(
        sim,
        account,
        "TY-SPLIT",
        lines=[
            {"sku": "SKU-A", "quantity": 1, "unit_price": "10.00", "barcode": "B-A"},
            {"sku": "SKU-B", "quantity": 1, "unit_price": "20.00", "barcode": "B-B"},
        ],
    )
    response = await sim.patch(
        f"/_sim/accounts/{account}/orders/TY-SPLIT", json={"cancel_lines": [{"sku": "SKU-B"}]}
    )
    assert response.status_code == 200, response.text
    orders = [o async for o in adapter.list_orders(since)]
    by_number: dict[str, list[Any]] = {}
    for order in orders:
        by_number.setdefault(order.order_number, []).append(order)
    for status in (
        "PENDING_PAYMENT",
        "PREPARING",
        "SHIPPED",
        "DELIVERED",
        "UNDELIVERED",
        "RETURNED",
    ):
        assert by_number[f"TY-{status}"][-1].status is OrderStatus(status.lower())
    returned = by_number["TY-RETURNED"][-1].lines[0]
    assert returned.returned_quantity == returned.quantity
    # The cancel rebuilt the package: lines are still keyed by order number + line id.
    split_lines = {
        line.merchant_sku: line for order in by_number["TY-SPLIT"] for line in order.lines
    }
    assert split_lines["SKU-B"].status is OrderStatus.CANCELLED
    assert split_lines["SKU-B"].cancelled_quantity == 1
    assert split_lines["SKU-A"].status is not OrderStatus.CANCELLED
    rebuilt = [o for o in by_number["TY-SPLIT"] if o.origin_package_ids]
    assert rebuilt  # the new package names the one it replaced
    assert all(o.package_id not in o.origin_package_ids for o in rebuilt)


async def test_rate_limit_storm_then_within_limits(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    await sim.post(f"/_sim/accounts/{account}/orders/bulk", json={"count": 5, "spread_seconds": 60})
    fault = await add_fault(sim, kind="rate_limit_storm", account_id=account, duration_seconds=1.0)
    started = time.time()
    numbers = [
        o.order_number async for o in adapter.list_orders(datetime.now(UTC) - timedelta(hours=1))
    ]
    assert len(numbers) == 5
    log = await requests_log(sim, account)
    assert log["throttled"] >= 1
    storm_end = started + 1.0 + 0.05
    after = sorted(r["wall_time"] for r in log["recent"] if r["wall_time"] > storm_end)
    assert all(r["status"] != 429 for r in log["recent"] if r["wall_time"] > storm_end + 0.1)
    for i, t0 in enumerate(after):
        assert sum(1 for t in after[i:] if t < t0 + 10) <= 50
    assert fault["kind"] == "rate_limit_storm"


async def test_price_stock_batch_with_failures(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    for sku, barcode in (("SKU-1", "BC-1"), ("SKU-2", "BC-2"), ("SKU-3", "BC-3")):
        response = await sim.put(
            f"/_sim/accounts/{account}/listings/{sku}",
            json={"barcode": barcode, "price": "100", "list_price": "120", "stock": 5},
        )
        assert response.status_code in (200, 201)
    await add_fault(
        sim, kind="item_failure", account_id=account, skus=["SKU-3"], reason="ProductLocked"
    )
    items = [
        PriceStockItem(
            sku="SKU-1",
            barcode="BC-1",
            quantity=7,
            sale_price=Decimal("99.90"),
            list_price=Decimal("119.90"),
        ),
        PriceStockItem(sku="SKU-2", barcode="BC-2", quantity=3),
        PriceStockItem(sku="SKU-3", barcode="BC-3", quantity=1),
        PriceStockItem(sku="SKU-404", barcode="BC-404", quantity=1),
        PriceStockItem(sku="SKU-NOBARCODE", quantity=1),
    ]
    handle = await adapter.push_price_stock(items)
    assert len(handle.refs) == 1

    result = await adapter.batch_result(handle)
    states = {item.sku: item.state for item in result.items}
    assert states["SKU-NOBARCODE"] is OutcomeState.FAILED

    async def finished() -> bool:
        nonlocal result
        result = await adapter.batch_result(handle)
        return bool(result.done)

    await until(finished)
    outcomes = {item.sku: item for item in result.items}
    assert outcomes["SKU-1"].state is OutcomeState.ACCEPTED
    assert outcomes["SKU-2"].state is OutcomeState.ACCEPTED
    assert outcomes["SKU-3"].state is OutcomeState.FAILED
    assert outcomes["SKU-3"].reason_code
    assert outcomes["SKU-404"].state is OutcomeState.FAILED
    assert [o.sku for o in result.failed()] == ["SKU-3", "SKU-404", "SKU-NOBARCODE"]
    shown = (await sim.get(f"/_sim/accounts/{account}/listings/SKU-1")).json()["shown"]
    assert shown["stock"] == 7
    assert shown["price"] in ("99.90", "99.9")

    # The identical body again within 15 minutes is refused by Trendyol; outcomes say why.
    again = await adapter.push_price_stock(items)
    repeat = {o.sku: o.reason_code for o in (await adapter.batch_result(again)).items}
    assert repeat == {
        "SKU-1": "duplicate_request",
        "SKU-2": "duplicate_request",
        "SKU-3": "duplicate_request",
        "SKU-404": "duplicate_request",
        "SKU-NOBARCODE": "missing_barcode",
    }


async def test_test_mode_uses_sandbox_base(sim: httpx.AsyncClient, new_account: NewAccount) -> None:
    factory = AdapterFactory(make_settings(), client=sim)
    adapter, account = await _store(factory, new_account, test_mode=True)
    assert (await adapter.test_credentials()).valid
    log = await requests_log(sim, account)
    assert log["bases"] == {"sandbox": 1}
    live = factory.create("trendyol", store_id="s", seller_id=CREDS["seller_id"], credentials=CREDS)
    assert (await live.test_credentials()).valid
    assert (await requests_log(sim, account))["bases"] == {"sandbox": 1, "production": 1}


def test_capabilities(factory: AdapterFactory) -> None:
    adapter = factory.create("trendyol", store_id="s", seller_id="1", credentials=CREDS)
    caps = adapter.capabilities
    assert caps.max_items_per_request["price_stock"] == 1000
    assert caps.order_window.max_window == timedelta(days=14)
    assert all(
        limit.burst + (limit.per_seconds and 10 / limit.per_seconds) <= 50 + 1e-6
        for limit in caps.rate_limits
    )
