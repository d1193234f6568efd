"""The order aggregate: which events each observation causes."""

from __future__ import annotations

from datetime import timedelta

from order_ingest.domain.order import IngestedOrder

from kervan_contracts.event import EventPayload
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased, movement_id
from kervan_contracts.orders.v1 import OrderCancelled, OrderReceived, OrderStatus, OrderUpdated

from .builders import T0, line, order


def kinds(events: list[EventPayload]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_first_sight_received_and_one_deduction_per_line() -> None:
    agg, events = IngestedOrder.first_seen(
        order(lines=[line("L1", "A", 2), line("L2", "B", 1)]),
        stock_deduction_enabled=True,
        default_warehouse_id="wh1",
        now=T0,
    )
    assert kinds(events) == ["OrderReceived", "StockDeducted", "StockDeducted"]
    deducted = [e for e in events if isinstance(e, StockDeducted)]
    assert [(d.sku, d.quantity, d.warehouse_id) for d in deducted] == [
        ("A", 2, "wh1"),
        ("B", 1, "wh1"),
    ]
    assert deducted[0].movement_id == movement_id("s1", "1001", "L1", "sale")
    assert not agg.deduction_pending


def test_no_deduction_when_switched_off() -> None:
    _, events = IngestedOrder.first_seen(
        order(), stock_deduction_enabled=False, default_warehouse_id="wh1", now=T0
    )
    assert kinds(events) == ["OrderReceived"]


def test_same_observation_again_changes_nothing() -> None:
    first = order()
    agg, _ = IngestedOrder.first_seen(
        first, stock_deduction_enabled=True, default_warehouse_id="w", now=T0
    )
    assert agg.observe(first, T0) == []


def test_status_change_is_one_update() -> None:
    agg, _ = IngestedOrder.first_seen(
        order(), stock_deduction_enabled=True, default_warehouse_id="w", now=T0
    )
    shipped = order(status=OrderStatus.SHIPPED, modified=timedelta(minutes=1))
    events = agg.observe(shipped, T0)
    assert kinds(events) == ["OrderUpdated"]
    assert isinstance(events[0], OrderUpdated)
    assert events[0].previous_status is OrderStatus.NEW
    assert agg.observe(shipped, T0) == []


def test_older_read_is_ignored() -> None:
    agg, _ = IngestedOrder.first_seen(
        order(status=OrderStatus.SHIPPED, modified=timedelta(minutes=5)),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    assert agg.observe(order(status=OrderStatus.NEW), T0) == []
    assert agg.status is OrderStatus.SHIPPED


def test_partial_cancel_releases_the_cancelled_line_once() -> None:
    agg, _ = IngestedOrder.first_seen(
        order(lines=[line("L1", "A"), line("L2", "B")]),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    cancelled = order(
        lines=[line("L1", "A"), line("L2", "B", cancelled=1)], modified=timedelta(minutes=1)
    )
    events = agg.observe(cancelled, T0)
    assert kinds(events) == ["OrderCancelled", "StockReleased"]
    assert isinstance(events[0], OrderCancelled)
    assert [c.line_id for c in events[0].cancelled_lines] == ["L2"]
    released = events[1]
    assert isinstance(released, StockReleased)
    assert (released.line_id, released.quantity, released.sku) == ("L2", 1, "B")
    assert agg.observe(cancelled, T0) == []


def test_full_cancel_is_cancelled_not_updated() -> None:
    agg, _ = IngestedOrder.first_seen(
        order(), stock_deduction_enabled=True, default_warehouse_id="w", now=T0
    )
    events = agg.observe(
        order(lines=[line("L1", cancelled=1)], status=OrderStatus.CANCELLED, modified=timedelta(1)),
        T0,
    )
    assert kinds(events) == ["OrderCancelled", "StockReleased"]


def test_cancelled_before_first_sight_is_neither_deducted_nor_released() -> None:
    _, events = IngestedOrder.first_seen(
        order(lines=[line("L1", cancelled=1)], status=OrderStatus.CANCELLED),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    assert kinds(events) == ["OrderReceived"]


def test_cancel_without_deduction_releases_nothing() -> None:
    agg, _ = IngestedOrder.first_seen(
        order(), stock_deduction_enabled=False, default_warehouse_id="w", now=T0
    )
    events = agg.observe(order(lines=[line("L1", cancelled=1)], modified=timedelta(1)), T0)
    assert kinds(events) == ["OrderCancelled"]


def test_missing_warehouse_defers_the_deduction_until_one_is_set() -> None:
    agg, events = IngestedOrder.first_seen(
        order(lines=[line("L1", "A"), line("L2", "B")]),
        stock_deduction_enabled=True,
        default_warehouse_id=None,
        now=T0,
    )
    assert kinds(events) == ["OrderReceived"]
    assert agg.deduction_pending
    # L2 gets cancelled while waiting: it never took stock, so nothing is deducted or released.
    agg.observe(
        order(lines=[line("L1", "A"), line("L2", "B", cancelled=1)], modified=timedelta(1)), T0
    )
    events = agg.assign_warehouse("wh9", T0)
    assert kinds(events) == ["StockDeducted"]
    assert isinstance(events[0], StockDeducted)
    assert (events[0].line_id, events[0].warehouse_id) == ("L1", "wh9")
    assert agg.assign_warehouse("wh10", T0) == []
    assert not agg.deduction_pending


def test_package_replaced_by_split_keeps_quantities() -> None:
    """Trendyol cancels 1 of 3 units: the old package keeps 1 cancelled, a new one carries 2."""
    agg, events = IngestedOrder.first_seen(
        order(lines=[line("L1", quantity=3)], package_id="P1"),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    assert [e.quantity for e in events if isinstance(e, StockDeducted)] == [3]
    new_package = order(
        lines=[line("L1", quantity=2)], package_id="P2", origins=["P1"], modified=timedelta(1)
    )
    assert agg.observe(new_package, T0) == []
    old_package = order(
        lines=[line("L1", quantity=1, cancelled=1)],
        package_id="P1",
        status=OrderStatus.CANCELLED,
        modified=timedelta(1),
    )
    events = agg.observe(old_package, T0)
    assert kinds(events) == ["OrderCancelled", "StockReleased"]
    assert isinstance(events[1], StockReleased)
    assert events[1].quantity == 1
    assert agg.status is OrderStatus.NEW  # the live package decides


def test_split_seen_child_first_does_not_release_a_cancel_it_never_deducted() -> None:
    agg, events = IngestedOrder.first_seen(
        order(
            lines=[line("L1", quantity=2)], package_id="P2", origins=["P1"], modified=timedelta(1)
        ),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    assert [e.quantity for e in events if isinstance(e, StockDeducted)] == [2]
    old = order(
        lines=[line("L1", quantity=1, cancelled=1)],
        package_id="P1",
        status=OrderStatus.CANCELLED,
        modified=timedelta(1),
    )
    assert not any(isinstance(e, StockReleased) for e in agg.observe(old, T0))


def test_state_document_round_trip() -> None:
    agg, _ = IngestedOrder.first_seen(
        order(lines=[line("L1", quantity=3)], package_id="P1"),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    again = IngestedOrder.restore(
        store_id=agg.store_id,
        order_number=agg.order_number,
        platform=agg.platform,
        status=agg.status,
        first_seen_at=agg.first_seen_at,
        deduction_wanted=agg.deduction_wanted,
        warehouse_id=agg.warehouse_id,
        snapshot=agg.snapshot,
        state=agg.state_document(),
    )
    assert again == agg
    assert isinstance(OrderReceived(order=agg.snapshot), OrderReceived)


def test_a_line_cancelled_in_two_steps_is_released_in_two_steps() -> None:
    """3 units, 1 cancelled, later all 3: two releases (1 then 2), each with its own id; the
    first keeps the id it always had, the second has the cumulative units (3) in it. A re-read
    of either step releases nothing more."""
    agg, _ = IngestedOrder.first_seen(
        order(lines=[line("L1", quantity=3)]),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    one = order(lines=[line("L1", quantity=3, cancelled=1)], modified=timedelta(1))
    first = [e for e in agg.observe(one, T0) if isinstance(e, StockReleased)]
    assert [(e.quantity, e.cumulative_quantity) for e in first] == [(1, None)]
    assert first[0].movement_id == movement_id("s1", "1001", "L1", "cancellation")
    every = order(
        lines=[line("L1", quantity=3, cancelled=3)],
        status=OrderStatus.CANCELLED,
        modified=timedelta(2),
    )
    second = agg.observe(every, T0)
    assert kinds(second) == ["OrderCancelled", "StockReleased"]
    step = second[1]
    assert isinstance(step, StockReleased)
    assert (step.quantity, step.cumulative_quantity) == (2, 3)
    assert step.movement_id == movement_id("s1", "1001", "L1", "cancellation", 3)
    assert agg.lines["L1"].released_quantity == agg.lines["L1"].deducted_quantity == 3
    assert agg.observe(every, T0) == []
    assert agg.observe(one, T0) == []


def test_split_seen_old_package_first_does_not_flip_the_order_status() -> None:
    """The cancelled old package arrives before the new one (next page): the order is not
    cancelled meanwhile, so no OrderUpdated back and forth."""
    agg, _ = IngestedOrder.first_seen(
        order(lines=[line("L1", "A", 2), line("L2", "B")], package_id="P1"),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    old = order(
        lines=[line("L2", "B", cancelled=1)],
        package_id="P1",
        status=OrderStatus.CANCELLED,
        modified=timedelta(1),
    )
    assert kinds(agg.observe(old, T0)) == ["OrderCancelled", "StockReleased"]
    assert agg.status is OrderStatus.NEW
    new = order(lines=[line("L1", "A", 2)], package_id="P2", origins=["P1"], modified=timedelta(1))
    assert agg.observe(new, T0) == []


def test_second_split_in_the_same_millisecond_still_releases() -> None:
    """Timestamp ties: deducted, then two cancellations split the order twice, all stamped
    with the same time as the first sight. Each cancelled line is released once."""
    agg, _ = IngestedOrder.first_seen(
        order(lines=[line("L1", "A"), line("L2", "B", 3), line("L3", "C", 2)], package_id="P1"),
        stock_deduction_enabled=True,
        default_warehouse_id="w",
        now=T0,
    )
    observations = [
        order(lines=[line("L3", "C", 1, 1)], package_id="P1", status=OrderStatus.CANCELLED),
        order(
            lines=[line("L2", "B", 3, 3)],
            package_id="P2",
            origins=["P1"],
            status=OrderStatus.CANCELLED,
        ),
        order(lines=[line("L1", "A"), line("L3", "C", 1)], package_id="P3", origins=["P2"]),
    ]
    events = [e for seen in observations for e in agg.observe(seen, T0)]
    released = {e.line_id: e.quantity for e in events if isinstance(e, StockReleased)}
    assert released == {"L3": 1, "L2": 3}
    assert agg.status is OrderStatus.NEW
