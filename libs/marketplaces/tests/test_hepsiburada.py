"""Hepsiburada order lists against marketplace-sim: every stage, 24-hour windows, every page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kervan_contracts.orders.v1 import OrderStatus
from kervan_marketplaces import AdapterFactory, UnsupportedOperation, UpdateType
from kervan_marketplaces.models import ProductInfoItem

from .conftest import NewAccount, requests_log

MERCHANT = "5b0c3a9e-1f2d-4c6b-8a7e-9d0f1e2c3b4a"
CREDS = {"merchant_id": MERCHANT, "service_key": "HBKEY7654321"}


async def _store(factory: AdapterFactory, new_account: NewAccount) -> tuple[Any, str]:
    account = await new_account("hepsiburada", MERCHANT, CREDS)
    adapter = factory.create("hepsiburada", store_id="hb", seller_id=MERCHANT, credentials=CREDS)
    return adapter, account


async def _order(
    sim: httpx.AsyncClient, account: str, number: str, status: str, created: datetime
) -> None:
    response = await sim.post(
        f"/_sim/accounts/{account}/orders",
        json={
            "order_number": number,
            "status": status,
            "created_at": created.isoformat(),
            "lines": [{"sku": f"SKU-{number}", "quantity": 1, "unit_price": "25.50"}],
        },
    )
    assert response.status_code == 201, response.text


async def test_every_stage_reaches_the_normalised_lifecycle(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    now = datetime.now(UTC)
    stages = {
        "PENDING_PAYMENT": OrderStatus.PENDING_PAYMENT,  # /orders/.../paymentawaiting
        "NEW": OrderStatus.NEW,  # /orders/...
        "PREPARING": OrderStatus.PREPARING,  # /packages/... (Packaged)
        "SHIPPED": OrderStatus.SHIPPED,  # /packages/.../shipped
        "DELIVERED": OrderStatus.DELIVERED,  # /packages/.../delivered
        "UNDELIVERED": OrderStatus.UNDELIVERED,  # /packages/.../undelivered
        "CANCELLED": OrderStatus.CANCELLED,  # /orders/.../cancelled
    }
    for stage in stages:
        await _order(sim, account, f"HB-{stage}", stage, now)  # seconds before the query
    orders = {o.order_number: o async for o in adapter.list_orders(now - timedelta(hours=1))}
    assert {n: o.status for n, o in orders.items()} == {f"HB-{s}": v for s, v in stages.items()}
    for stage in ("PREPARING", "SHIPPED", "DELIVERED", "UNDELIVERED"):
        order = orders[f"HB-{stage}"]
        assert order.package_id  # package-stage orders carry their package number
        assert order.lines[0].merchant_sku == f"SKU-HB-{stage}"
        assert order.lines[0].line_total.amount == order.lines[0].unit_price.amount
    assert orders["HB-NEW"].package_id is None
    assert orders["HB-CANCELLED"].lines[0].cancelled_quantity == 1


async def test_windows_of_24_hours_and_every_page_of_each_list(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    now = datetime.now(UTC)
    # 150 open lines (2 pages of 100) and 23 packages (3 pages of 10, totals in headers).
    for body in (
        {"count": 150, "prefix": "OPEN", "status": "NEW", "spread_seconds": 3000},
        {"count": 23, "prefix": "PKG", "status": "PREPARING", "spread_seconds": 3000},
    ):
        response = await sim.post(f"/_sim/accounts/{account}/orders/bulk", json=body)
        assert response.status_code == 201, response.text
    # One shipped package in each of the three 24-hour windows of the query.
    for hours in (60, 30, 2):
        await _order(sim, account, f"SHIP-{hours}", "SHIPPED", now - timedelta(hours=hours))

    # A minute short of 72 h, so the few milliseconds until the adapter reads its clock do not
    # add a fourth window.
    since = now - timedelta(hours=72) + timedelta(minutes=1)
    found = [o.order_number async for o in adapter.list_orders(since)]

    assert len(found) == len(set(found)) == 150 + 23 + 3
    assert {n for n in found if n.startswith("SHIP-")} == {"SHIP-60", "SHIP-30", "SHIP-2"}
    log = await requests_log(sim, account)
    counts = {name: v["count"] for name, v in log["by_endpoint"].items()}
    # 3 windows; the last holds the bulk orders: 2 pages of open lines, 3 pages of packages.
    assert counts == {
        "listPaymentAwaiting": 3,
        "listOrders": 2 + 2,
        "listCancelled": 3,
        "listPackages": 3 + 2,
        "listShipped": 3,
        "listDelivered": 3,
        "listUndelivered": 3,
    }


async def test_wide_query_is_split_without_gaps(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    """Windows are contiguous: an order at a window edge may repeat but is never lost."""
    adapter, account = await _store(factory, new_account)
    now = datetime.now(UTC)
    since = now - timedelta(days=5) + timedelta(minutes=1)
    edges = [since + timedelta(hours=24 * k) for k in range(1, 5)]
    for index, edge in enumerate(edges):
        for shift in (-timedelta(seconds=20), timedelta(seconds=20)):
            await _order(sim, account, f"EDGE-{index}-{shift.days}", "DELIVERED", edge + shift)
    found = {o.order_number async for o in adapter.list_orders(since)}
    assert found == {f"EDGE-{i}-{d}" for i in range(4) for d in (-1, 0)}
    counts = (await requests_log(sim, account))["by_endpoint"]
    assert counts["listDelivered"]["count"] == 5  # 5 days = 5 windows of 24 h, one page each


async def test_product_info_is_not_offered(
    factory: AdapterFactory, new_account: NewAccount
) -> None:
    """No documented update path that Kervan could call: capabilities say so, the call refuses."""
    adapter, _ = await _store(factory, new_account)
    caps = adapter.capabilities
    assert UpdateType.PRODUCT_INFO not in caps.update_types
    assert UpdateType.ALL not in caps.update_types
    assert "product_info" not in caps.max_items_per_request
    with pytest.raises(UnsupportedOperation):
        await adapter.push_product_info([ProductInfoItem(sku="SKU-1", fields={"name": "x"})])


async def test_partial_cancel_keeps_the_units_left(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    now = datetime.now(UTC)
    response = await sim.post(
        f"/_sim/accounts/{account}/orders",
        json={
            "order_number": "HB-PART",
            "status": "NEW",
            "lines": [{"sku": "SKU-P", "quantity": 3, "unit_price": "10.00"}],
        },
    )
    assert response.status_code == 201
    response = await sim.patch(
        f"/_sim/accounts/{account}/orders/HB-PART",
        json={"cancel_lines": [{"sku": "SKU-P", "quantity": 1}]},
    )
    assert response.status_code == 200, response.text
    orders = [o async for o in adapter.list_orders(now - timedelta(hours=1))]
    assert [o.order_number for o in orders] == ["HB-PART"]
    (line,) = orders[0].lines
    assert (line.quantity, line.cancelled_quantity, line.status) == (3, 1, OrderStatus.NEW)
    assert line.line_total.amount == 30
