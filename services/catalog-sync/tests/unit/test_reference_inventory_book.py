"""The reference inventory's book: each movement once, levels acknowledge what they include."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catalog_sync.tools.reference_inventory import InventoryBook

from kervan_contracts.catalog.v1 import StockLevelChanged
from kervan_contracts.inventory.v1 import StockDeducted, StockMovementReason, StockReleased

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WH, SKU = "wh-1", "LAMP-1"


def sale(line: str, quantity: int = 1, at: datetime = T0) -> StockDeducted:
    return StockDeducted.for_order_line(
        store_id="s-1",
        order_number="O-1",
        line_id=line,
        reason=StockMovementReason.SALE,
        warehouse_id=WH,
        sku=SKU,
        quantity=quantity,
        occurred_at=at,
    )


def cancel(line: str, quantity: int = 1) -> StockReleased:
    return StockReleased.for_order_line(
        store_id="s-1",
        order_number="O-1",
        line_id=line,
        reason=StockMovementReason.CANCELLATION,
        warehouse_id=WH,
        sku=SKU,
        quantity=quantity,
        occurred_at=T0,
    )


def level(quantity: int, at: datetime, *ids: str) -> StockLevelChanged:
    return StockLevelChanged(
        sku=SKU, warehouse_id=WH, quantity=quantity, as_of=at, applied_movement_ids=list(ids)
    )


def test_a_movement_is_applied_once_and_acknowledged_in_every_later_level() -> None:
    book = InventoryBook()
    book.restore(level(10, T0))
    first = book.apply(sale("1", 3), T0 + timedelta(seconds=1))
    again = book.apply(sale("1", 3), T0 + timedelta(seconds=2))
    second = book.apply(cancel("2", 1), T0 + timedelta(seconds=3))

    assert again is None
    assert first is not None
    assert second is not None
    assert (first.quantity, first.applied_movement_ids) == (7, [sale("1").movement_id])
    assert second.quantity == 8
    assert set(second.applied_movement_ids) == {sale("1").movement_id, cancel("2").movement_id}
    assert first.as_of < second.as_of


def test_restoring_its_own_level_after_a_restart_skips_what_it_already_applied() -> None:
    before = InventoryBook()
    before.restore(level(10, T0))
    published = before.apply(sale("1", 4), T0 + timedelta(seconds=1))
    assert published is not None

    after = InventoryBook()  # a restart: state comes back from the compacted topic
    after.restore(level(10, T0))
    after.restore(published)

    assert after.apply(sale("1", 4), T0 + timedelta(seconds=5)) is None
    assert after.level(WH, SKU) == 6


def test_a_newer_external_level_replaces_the_quantity_and_keeps_acknowledgements() -> None:
    book = InventoryBook()
    book.restore(level(10, T0))
    assert book.apply(sale("1", 2), T0 + timedelta(seconds=1)) is not None
    book.restore(level(50, T0 + timedelta(minutes=1)))  # a recount
    book.restore(level(1, T0 - timedelta(minutes=1)))  # stale: ignored

    assert book.level(WH, SKU) == 50
    assert book.apply(sale("1", 2), T0 + timedelta(minutes=2)) is None
    after = book.apply(sale("2", 1), T0 + timedelta(minutes=2))
    assert after is not None
    assert after.quantity == 49
    assert set(after.applied_movement_ids) == {sale("1").movement_id, sale("2").movement_id}


def test_sales_beyond_the_level_publish_zero_but_are_remembered() -> None:
    book = InventoryBook()
    oversold = book.apply(sale("1", 2), T0)  # nothing known yet: starts from 0
    released = book.apply(cancel("2", 3), T0 + timedelta(seconds=1))

    assert oversold is not None
    assert released is not None
    assert (oversold.quantity, released.quantity) == (0, 1)


def test_old_ids_leave_the_list_after_the_window_and_older_movements_are_ignored() -> None:
    window = timedelta(hours=1)
    book = InventoryBook(window)
    book.restore(level(10, T0))
    assert book.apply(sale("1"), T0) is not None
    later = book.apply(sale("2", at=T0 + timedelta(hours=2)), T0 + timedelta(hours=2))

    assert later is not None
    assert later.applied_movement_ids == [sale("2").movement_id]
    assert book.apply(sale("3", at=T0), T0 + timedelta(hours=2)) is None  # too old
    assert book.level(WH, SKU) == 8
