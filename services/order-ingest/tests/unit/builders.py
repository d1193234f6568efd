"""Builders of normalised orders for unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kervan_contracts.identifiers import Platform
from kervan_contracts.money import Money
from kervan_contracts.orders.v1 import Order, OrderLine, OrderStatus, OrderTotals

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def money(amount: str) -> Money:
    """TRY amount."""
    return Money(amount=Decimal(amount), currency="TRY")


def line(
    line_id: str,
    sku: str = "SKU-1",
    quantity: int = 1,
    cancelled: int = 0,
    status: OrderStatus | None = None,
) -> OrderLine:
    """One line; status follows the cancelled quantity unless given."""
    if status is None:
        status = OrderStatus.CANCELLED if cancelled == quantity else OrderStatus.NEW
    return OrderLine(
        line_id=line_id,
        merchant_sku=sku,
        quantity=quantity,
        unit_price=money("10.00"),
        line_total=money(f"{10 * quantity}.00"),
        status=status,
        raw_status=status.value,
        cancelled_quantity=cancelled,
    )


def order(
    number: str = "1001",
    lines: list[OrderLine] | None = None,
    *,
    store_id: str = "s1",
    status: OrderStatus = OrderStatus.NEW,
    modified: timedelta = timedelta(0),
    package_id: str | None = None,
    origins: list[str] | None = None,
) -> Order:
    """An order of store s1 modified at T0 + `modified`."""
    return Order(
        platform=Platform.TRENDYOL,
        store_id=store_id,
        order_number=number,
        package_id=package_id,
        origin_package_ids=origins or [],
        status=status,
        raw_status=status.value,
        ordered_at=T0,
        last_modified_at=T0 + modified,
        currency="TRY",
        totals=OrderTotals(net=money("10.00")),
        lines=lines or [line("L1")],
    )
