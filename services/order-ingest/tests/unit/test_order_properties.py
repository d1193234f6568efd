"""Property tests: re-reads, overlaps and package replacement never change the effects."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from order_ingest.domain.order import IngestedOrder

from kervan_contracts.event import EventPayload
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased
from kervan_contracts.orders.v1 import Order, OrderStatus

from .builders import T0, line, order


@st.composite
def histories(draw: st.DrawFn) -> list[Order]:
    """A plausible sequence of versions of one order: lines get cancelled, status moves on."""
    n_lines = draw(st.integers(1, 4))
    quantities = [draw(st.integers(1, 3)) for _ in range(n_lines)]
    cancelled = [0] * n_lines
    status = OrderStatus.NEW
    versions = []
    for step in range(draw(st.integers(1, 6))):
        if step:
            action = draw(st.sampled_from(["cancel", "status", "package", "none"]))
            if action == "cancel":
                i = draw(st.integers(0, n_lines - 1))
                cancelled[i] = draw(st.integers(cancelled[i], quantities[i]))
            elif action == "status":
                status = draw(st.sampled_from([OrderStatus.PREPARING, OrderStatus.SHIPPED]))
        package = f"P{draw(st.integers(1, 3))}"
        all_cancelled = all(c == q for c, q in zip(cancelled, quantities, strict=True))
        versions.append(
            order(
                lines=[
                    line(f"L{i}", f"SKU-{i}", q, c)
                    for i, (q, c) in enumerate(zip(quantities, cancelled, strict=True))
                ],
                status=OrderStatus.CANCELLED if all_cancelled else status,
                modified=timedelta(minutes=step),
                package_id=package if draw(st.booleans()) else None,
            )
        )
    return versions


def run(
    observations: list[Order], warehouse: str | None
) -> tuple[IngestedOrder, list[EventPayload]]:
    agg, events = IngestedOrder.first_seen(
        observations[0], stock_deduction_enabled=True, default_warehouse_id=warehouse, now=T0
    )
    for seen in observations[1:]:
        events += agg.observe(seen, T0)
    return agg, events


def movement_effects(events: list[EventPayload]) -> Counter[tuple[str, str]]:
    return Counter(
        (type(e).__name__, e.movement_id)
        for e in events
        if isinstance(e, StockDeducted | StockReleased)
    )


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_rereads_and_overlaps_change_nothing(versions: list[Order], data: st.DataObject) -> None:
    """Reading every version once, or with repeats and stale re-reads mixed in, is the same."""
    _, once = run(versions, "w")
    noisy: list[Order] = [versions[0]]
    for i, version in enumerate(versions[1:], start=1):
        noisy.append(version)
        if data.draw(st.booleans()):
            noisy.append(version)  # the page is read again
        if data.draw(st.booleans()):
            noisy.append(versions[data.draw(st.integers(0, i))])  # overlap: an older version
    _, again = run(noisy, "w")
    assert movement_effects(again) == movement_effects(once)
    assert [type(e).__name__ for e in again] == [type(e).__name__ for e in once]


@settings(max_examples=150, deadline=None)
@given(histories(), st.sampled_from(["w", None]))
def test_each_movement_once_and_releases_only_up_to_the_deduction(
    versions: list[Order], warehouse: str | None
) -> None:
    agg, events = run(versions, warehouse)
    if warehouse is None:
        events += agg.assign_warehouse("late", T0) + agg.assign_warehouse("later", T0)
    effects = movement_effects(events)
    assert all(count == 1 for count in effects.values())
    deducted = {e.line_id: e.quantity for e in events if isinstance(e, StockDeducted)}
    released: Counter[str] = Counter()
    for release in (e for e in events if isinstance(e, StockReleased)):
        assert release.line_id in deducted
        released[release.line_id] += release.quantity
        # A later step names the units released so far (its id depends on them).
        assert release.cumulative_quantity in {None, released[release.line_id]}
    for line_id, units in released.items():
        assert units <= deducted[line_id]


@settings(max_examples=150, deadline=None)
@given(histories())
def test_single_package_stock_held_matches_what_is_left(versions: list[Order]) -> None:
    """One package (no splits): every line active at first sight is deducted by its active units,
    and every unit cancelled after that is released, however many steps the cancellation took:
    at the end the stock held is exactly the line's active units."""
    single = [v.model_copy(update={"package_id": None}) for v in versions]
    agg, events = run(single, "w")
    deducted = {e.line_id: e.quantity for e in events if isinstance(e, StockDeducted)}
    released: Counter[str] = Counter()
    for e in events:
        if isinstance(e, StockReleased):
            released[e.line_id] += e.quantity
    first = {ln.line_id: ln for ln in single[0].lines}
    for final_line in single[-1].lines:
        initial = first[final_line.line_id]
        assert deducted.get(final_line.line_id, 0) == initial.active_quantity
        expected = final_line.active_quantity if initial.active_quantity else 0
        assert deducted.get(final_line.line_id, 0) - released[final_line.line_id] == expected
    assert agg.status is single[-1].status
