"""Edge cases of the stock model: acknowledgements before deliveries, windows, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catalog_sync.domain.stock import (
    EntryState,
    Level,
    LevelVerdict,
    Movement,
    MovementDirection,
    MovementVerdict,
    StockPosition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(days=14)
D = MovementDirection.DEDUCTION
R = MovementDirection.RELEASE


def sale(mid: str, qty: int, at: datetime = T0) -> Movement:
    return Movement(mid, D, qty, at)


def test_movement_before_any_level_waits_for_a_base() -> None:
    position = StockPosition("wh", "SKU")
    assert position.apply_movement(sale("m1", 2), ack_window=WINDOW) is MovementVerdict.APPLIED
    assert position.effective is None
    position.apply_level(Level(10, T0 + timedelta(minutes=1)), ack_window=WINDOW)
    assert position.effective == 8


def test_acknowledgement_arriving_before_the_movement_keeps_it_out() -> None:
    position = StockPosition("wh", "SKU")
    position.apply_level(Level(7, T0 + timedelta(minutes=5), frozenset({"m1"})), ack_window=WINDOW)
    verdict = position.apply_movement(sale("m1", 3), ack_window=WINDOW)
    assert verdict is MovementVerdict.ALREADY_INCLUDED
    assert position.effective == 7
    assert position.entries["m1"].delta == -3  # remembered for explanations


def test_release_adds_and_acknowledgement_removes_it_from_the_sum() -> None:
    position = StockPosition("wh", "SKU")
    position.apply_level(Level(5, T0), ack_window=WINDOW)
    position.apply_movement(Movement("r1", R, 2, T0 + timedelta(minutes=1)), ack_window=WINDOW)
    assert position.effective == 7
    change = position.apply_level(
        Level(7, T0 + timedelta(minutes=2), frozenset({"r1"})), ack_window=WINDOW
    )
    assert change.acknowledged == ("r1",)
    assert position.effective == 7
    assert position.entries["r1"].state is EntryState.ACKNOWLEDGED


def test_stale_and_repeated_levels_are_ignored() -> None:
    position = StockPosition("wh", "SKU")
    position.apply_level(Level(5, T0 + timedelta(minutes=2)), ack_window=WINDOW)
    assert position.apply_level(Level(9, T0), ack_window=WINDOW).verdict is LevelVerdict.STALE
    repeat = Level(9, T0 + timedelta(minutes=2))
    assert position.apply_level(repeat, ack_window=WINDOW).verdict is LevelVerdict.STALE
    assert position.effective == 5


def test_entries_older_than_the_window_are_pruned_and_late_copies_ignored() -> None:
    position = StockPosition("wh", "SKU")
    position.apply_level(Level(10, T0), ack_window=WINDOW)
    position.apply_movement(sale("old", 1, T0 + timedelta(hours=1)), ack_window=WINDOW)
    position.apply_movement(sale("new", 1, T0 + timedelta(days=10)), ack_window=WINDOW)
    later = T0 + timedelta(days=15)
    change = position.apply_level(Level(9, later, frozenset({"new"})), ack_window=WINDOW)
    assert change.pruned == ("old",)
    assert set(position.entries) == {"new"}
    assert (
        position.apply_movement(sale("old", 1, T0 + timedelta(hours=1)), ack_window=WINDOW)
        is MovementVerdict.TOO_OLD
    )
    assert position.effective == 9
