"""The order aggregate: one marketplace order of one store, keyed by its order number.

Pure: `IngestedOrder.observe` takes what the marketplace returned (one package of the order, as
`kervan_contracts.orders.v1.Order`) and returns the events it causes; nothing else changes.

Why packages are tracked: Trendyol-style platforms split an order into shipment packages and
replace a package id when lines are cancelled (the old package keeps the cancelled units, a new
one carries the rest, with `origin_package_ids`). Lines are identified by `line_id` across
packages, so the facts per line (units cancelled in each package) are summed over packages, and
a package listed as the origin of another contributes no active units.

Exactly-once rules per line:
- deducted at most once (`StockDeducted`, deterministic movement id), when it is first seen with
  active units, stock deduction was on when the order was first seen, and the order has a
  warehouse; the quantity is the active units at that moment;
- released only if it was deducted, when units are cancelled after the deduction (cancellations
  already known when deducting are not in the deducted quantity, so they are not released):
  one `StockReleased` (reason cancellation) per step in which its cancelled units grew, each
  for that step's units, with an id of its own (the cumulative released units are in it from
  the second step on); the released units never exceed the deducted ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kervan_contracts.event import EventPayload
from kervan_contracts.inventory.v1 import (
    StockDeducted,
    StockMovementReason,
    StockReleased,
    movement_id,
)
from kervan_contracts.orders.v1 import (
    CancelledLine,
    Order,
    OrderCancelled,
    OrderReceived,
    OrderStatus,
    OrderUpdated,
)

_NOT_LIVE = frozenset({OrderStatus.CANCELLED, OrderStatus.SPLIT_SUPERSEDED})


@dataclass(slots=True)
class Fragment:
    """A line as the latest observation of one package shows it."""

    quantity: int
    cancelled: int


@dataclass(slots=True)
class PackageState:
    """The latest observation of one package of the order."""

    status: OrderStatus
    last_modified_at: datetime
    origin_package_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class LineState:
    """What Kervan knows and did about one order line."""

    line_id: str
    sku: str
    fragments: dict[str, Fragment] = field(default_factory=dict)
    deducted_quantity: int = 0
    released_quantity: int = 0
    cancelled_at_deduction: int = 0
    """Units already cancelled when the line was deducted: not part of the deduction."""
    deduction_packages: list[str] = field(default_factory=list)
    """Packages whose units made up the deduction. A package first seen later that is their
    ancestor (a package they were split from) held units cancelled before the split, which the
    deduction never included. Timestamps cannot decide this: a split's packages share one."""

    @property
    def deducted(self) -> bool:
        """Whether a StockDeducted was issued for this line."""
        return self.deducted_quantity > 0

    @property
    def released(self) -> bool:
        """Whether a StockReleased was issued for this line."""
        return self.released_quantity > 0

    def cancelled_units(self) -> int:
        """Units cancelled, summed over the packages holding this line."""
        return sum(f.cancelled for f in self.fragments.values())

    def active_units(self, superseded: set[str]) -> int:
        """Units neither cancelled nor moved to a replacing package."""
        return sum(
            f.quantity - f.cancelled for key, f in self.fragments.items() if key not in superseded
        )


@dataclass(slots=True)
class IngestedOrder:
    """An order as order-ingest stored it, and what it already published about it."""

    store_id: str
    order_number: str
    platform: str
    status: OrderStatus
    first_seen_at: datetime
    deduction_wanted: bool
    """Stock deduction was on when the order was first seen (decided once, never re-decided)."""
    warehouse_id: str | None
    """Warehouse the order deducts from; None while the store has no default warehouse."""
    snapshot: Order
    packages: dict[str, PackageState] = field(default_factory=dict)
    lines: dict[str, LineState] = field(default_factory=dict)

    @property
    def deduction_pending(self) -> bool:
        """Deduction is wanted but cannot happen yet: the store has no default warehouse."""
        return self.deduction_wanted and self.warehouse_id is None

    @classmethod
    def first_seen(
        cls,
        order: Order,
        *,
        stock_deduction_enabled: bool,
        default_warehouse_id: str | None,
        now: datetime,
    ) -> tuple[IngestedOrder, list[EventPayload]]:
        """A new aggregate from its first observation: OrderReceived plus its deductions."""
        aggregate = cls(
            store_id=order.store_id,
            order_number=order.order_number,
            platform=order.platform.value,
            status=order.status,
            first_seen_at=now,
            deduction_wanted=stock_deduction_enabled,
            warehouse_id=default_warehouse_id if stock_deduction_enabled else None,
            snapshot=order,
        )
        aggregate._record(order)
        # First sight is the hot path of every order: the order was validated by the adapter,
        # so its event is assembled without validating it a second time.
        events: list[EventPayload] = [OrderReceived.model_construct(order=order)]
        events += aggregate._deduct_new_lines(now)
        return aggregate, events

    def observe(self, order: Order, now: datetime) -> list[EventPayload]:
        """Apply a later observation of one of the order's packages; returns the events."""
        if (order.store_id, order.order_number) != (self.store_id, self.order_number):
            raise ValueError("observation of another order")
        key = _package_key(order)
        known = self.packages.get(key)
        if known is not None and order.last_modified_at < known.last_modified_at:
            return []  # an older read of this package (overlap, repeated page): nothing new
        grown = self._cancellation_growth(order, key)
        previous_status = self.status
        self._record(order)
        events: list[EventPayload] = []
        if grown:
            events.append(OrderCancelled(order=order, cancelled_lines=grown))
        if self.status is not previous_status and not (
            grown and self.status is OrderStatus.CANCELLED
        ):
            events.append(OrderUpdated(order=order, previous_status=previous_status))
        events += self._deduct_new_lines(now)
        events += self._release_cancelled_lines(now)
        return events

    def assign_warehouse(self, warehouse_id: str, now: datetime) -> list[EventPayload]:
        """The store got a default warehouse: deduct the lines that waited for one, once."""
        if not self.deduction_pending:
            return []
        self.warehouse_id = warehouse_id
        return self._deduct_new_lines(now) + self._release_cancelled_lines(now)

    # -- internals -------------------------------------------------------------------------

    def _cancellation_growth(self, order: Order, key: str) -> list[CancelledLine]:
        grown = []
        for line in order.lines:
            state = self.lines.get(line.line_id)
            before = state.fragments[key].cancelled if state and key in state.fragments else 0
            if line.cancelled_quantity > before and self._line_known_before(line.line_id):
                grown.append(
                    CancelledLine(line_id=line.line_id, cancelled_quantity=line.cancelled_quantity)
                )
        return grown

    def _line_known_before(self, line_id: str) -> bool:
        return line_id in self.lines

    def _record(self, order: Order) -> None:
        key = _package_key(order)
        self.packages[key] = PackageState(
            status=order.status,
            last_modified_at=order.last_modified_at,
            origin_package_ids=list(order.origin_package_ids),
        )
        for line in order.lines:
            state = self.lines.setdefault(
                line.line_id, LineState(line_id=line.line_id, sku=line.merchant_sku)
            )
            previous = state.fragments.get(key)
            if (
                previous is None
                and state.deducted
                and key in self._ancestors(state.deduction_packages)
            ):
                state.cancelled_at_deduction += line.cancelled_quantity
            # Cancelled units only grow: a stale or partial read never "un-cancels".
            cancelled = max(line.cancelled_quantity, previous.cancelled if previous else 0)
            state.fragments[key] = Fragment(quantity=line.quantity, cancelled=cancelled)
        self.status = self._derived_status()
        if order.last_modified_at >= self.snapshot.last_modified_at:
            self.snapshot = order

    def _ancestors(self, keys: list[str]) -> set[str]:
        found: set[str] = set()
        pending = [
            o for k in keys if k in self.packages for o in self.packages[k].origin_package_ids
        ]
        while pending:
            origin = pending.pop()
            if origin not in found:
                found.add(origin)
                known = self.packages.get(origin)
                pending.extend(known.origin_package_ids if known else ())
        return found

    def _superseded(self) -> set[str]:
        return {origin for p in self.packages.values() for origin in p.origin_package_ids}

    def _derived_status(self) -> OrderStatus:
        superseded = self._superseded()
        live = [
            p
            for key, p in self.packages.items()
            if p.status not in _NOT_LIVE and key not in superseded
        ]
        if live:
            return max(live, key=lambda p: p.last_modified_at).status
        if any(line.active_units(superseded) > 0 for line in self.lines.values()):
            # Units are still active in a package not seen yet (a split's new package may be
            # on the next page): the order is not cancelled, keep the status it had.
            return self.status
        return max(self.packages.values(), key=lambda p: p.last_modified_at).status

    def _deduct_new_lines(self, now: datetime) -> list[EventPayload]:
        if not self.deduction_wanted or self.warehouse_id is None:
            return []
        superseded = self._superseded()
        events: list[EventPayload] = []
        for state in self.lines.values():
            active = state.active_units(superseded)
            if state.deducted or active <= 0:
                continue
            state.deducted_quantity = active
            state.cancelled_at_deduction = state.cancelled_units()
            state.deduction_packages = sorted(k for k in state.fragments if k not in superseded)
            events.append(self._deduction(state, active, now))
        return events

    def _release_cancelled_lines(self, now: datetime) -> list[EventPayload]:
        if self.warehouse_id is None:
            return []
        events: list[EventPayload] = []
        for state in self.lines.values():
            if not state.deducted:
                continue
            releasable = min(
                state.cancelled_units() - state.cancelled_at_deduction, state.deducted_quantity
            )
            step = releasable - state.released_quantity
            if step <= 0:
                continue
            # The first release keeps the id it always had; each later step (units cancelled
            # in several steps) has the cumulative released units in its id, so every step
            # is released exactly once.
            events.append(
                self._release(state, step, releasable if state.released_quantity else None, now)
            )
            state.released_quantity = releasable
        return events

    def _deduction(self, state: LineState, quantity: int, now: datetime) -> StockDeducted:
        """`StockDeducted.for_order_line`, assembled without its validation: the id is computed
        here once (the validator computes it again to compare), every part comes from the
        validated order and store, and `quantity` is positive. One per line of every new
        order; the unit tests check that each such event passes the contract's validation."""
        assert self.warehouse_id is not None  # checked by the caller
        return StockDeducted.model_construct(
            movement_id=movement_id(
                self.store_id, self.order_number, state.line_id, StockMovementReason.SALE
            ),
            warehouse_id=self.warehouse_id,
            sku=state.sku,
            quantity=quantity,
            store_id=self.store_id,
            order_number=self.order_number,
            line_id=state.line_id,
            reason=StockMovementReason.SALE,
            occurred_at=now.astimezone(UTC),
        )

    def _release(
        self, state: LineState, quantity: int, cumulative: int | None, now: datetime
    ) -> StockReleased:
        assert self.warehouse_id is not None  # checked by the caller
        if cumulative is None:
            return StockReleased.for_order_line(
                store_id=self.store_id,
                order_number=self.order_number,
                line_id=state.line_id,
                reason=StockMovementReason.CANCELLATION,
                warehouse_id=self.warehouse_id,
                sku=state.sku,
                quantity=quantity,
                occurred_at=now,
            )
        return StockReleased.later_step(
            store_id=self.store_id,
            order_number=self.order_number,
            line_id=state.line_id,
            reason=StockMovementReason.CANCELLATION,
            warehouse_id=self.warehouse_id,
            sku=state.sku,
            quantity=quantity,
            cumulative_quantity=cumulative,
            occurred_at=now,
        )

    # -- persistence form (plain JSON; the repository stores it in one jsonb column) -------

    def state_document(self) -> dict[str, Any]:
        """Packages and lines as a JSON-ready document."""
        return {
            "packages": {
                key: {
                    "status": p.status.value,
                    "last_modified_at": p.last_modified_at.isoformat(),
                    "origin_package_ids": p.origin_package_ids,
                }
                for key, p in self.packages.items()
            },
            "lines": {
                line_id: {
                    "sku": s.sku,
                    "fragments": {k: [f.quantity, f.cancelled] for k, f in s.fragments.items()},
                    "deducted_quantity": s.deducted_quantity,
                    "released_quantity": s.released_quantity,
                    "cancelled_at_deduction": s.cancelled_at_deduction,
                    "deduction_packages": s.deduction_packages,
                }
                for line_id, s in self.lines.items()
            },
        }

    @classmethod
    def restore(
        cls,
        *,
        store_id: str,
        order_number: str,
        platform: str,
        status: OrderStatus,
        first_seen_at: datetime,
        deduction_wanted: bool,
        warehouse_id: str | None,
        snapshot: Order,
        state: dict[str, Any],
    ) -> IngestedOrder:
        """Rebuild an aggregate from its stored form."""
        packages = {
            key: PackageState(
                status=OrderStatus(p["status"]),
                last_modified_at=datetime.fromisoformat(p["last_modified_at"]),
                origin_package_ids=list(p["origin_package_ids"]),
            )
            for key, p in state["packages"].items()
        }
        lines = {
            line_id: LineState(
                line_id=line_id,
                sku=s["sku"],
                fragments={k: Fragment(int(q), int(c)) for k, (q, c) in s["fragments"].items()},
                deducted_quantity=int(s["deducted_quantity"]),
                released_quantity=int(s["released_quantity"]),
                cancelled_at_deduction=int(s["cancelled_at_deduction"]),
                deduction_packages=list(s.get("deduction_packages", [])),
            )
            for line_id, s in state["lines"].items()
        }
        return cls(
            store_id=store_id,
            order_number=order_number,
            platform=platform,
            status=status,
            first_seen_at=first_seen_at,
            deduction_wanted=deduction_wanted,
            warehouse_id=warehouse_id,
            snapshot=snapshot,
            packages=packages,
            lines=lines,
        )


def _package_key(order: Order) -> str:
    # Platforms without packages have one implicit package per order.
    return order.package_id or ""
