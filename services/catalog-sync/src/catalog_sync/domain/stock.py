"""The stock model: an absolute platform level plus the Kervan movements it does not include yet.

Per (warehouse, SKU) catalog-sync keeps the last absolute level the platform published and the
stock movements (deductions by orders, releases by cancellations/returns) it has seen. Each
movement is either *pending* (applied on top of the level) or *acknowledged* (the platform said
its level includes it, so it must not be applied again). A movement id is recorded once, so a
redelivered movement is never counted twice, and an acknowledgement is sticky: the platform's
inventory is cumulative, so a movement included in one level is included in every later one.

    effective = level - sum(pending deductions) + sum(pending releases)

Entries older than the acknowledgement window (measured on the platform's clock, `as_of`) are
pruned: the platform lists in `applied_movement_ids` every movement it applied that occurred
within the window, so anything older is assumed included. See docs/stock-model.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class MovementDirection(StrEnum):
    """Which way a movement moves stock."""

    DEDUCTION = "deduction"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class Movement:
    """One Kervan stock movement (`StockDeducted` / `StockReleased`), reduced to what counts."""

    movement_id: str
    direction: MovementDirection
    quantity: int
    occurred_at: datetime
    origin: str | None = None
    """Where it came from, for explanations (e.g. `store s1 order 123 line 4`)."""

    @property
    def delta(self) -> int:
        """Signed effect on the stock: negative for a deduction."""
        return -self.quantity if self.direction is MovementDirection.DEDUCTION else self.quantity


@dataclass(frozen=True, slots=True)
class Level:
    """An absolute level published by the platform (`StockLevelChanged`)."""

    quantity: int
    as_of: datetime
    applied_movement_ids: frozenset[str] = frozenset()


class EntryState(StrEnum):
    """Whether the platform's level already includes a movement."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class MovementEntry:
    """What catalog-sync remembers of one movement.

    `delta` is None for a movement only known through an acknowledgement (never delivered yet);
    `occurred_at` is then the acknowledging level's `as_of`, an upper bound of the real time,
    so the entry is kept at least as long as the movement itself could still arrive.
    """

    movement_id: str
    state: EntryState
    occurred_at: datetime
    delta: int | None
    origin: str | None = None


class MovementVerdict(StrEnum):
    """What applying a movement did."""

    APPLIED = "applied"
    """New and not included in the level: it now counts (pending)."""
    DUPLICATE = "duplicate"
    """Seen before: nothing changes."""
    ALREADY_INCLUDED = "already_included"
    """The level already acknowledges it: recorded, but it does not count again."""
    TOO_OLD = "too_old"
    """Older than the acknowledgement window before the level: assumed included."""


class LevelVerdict(StrEnum):
    """What applying a level did."""

    APPLIED = "applied"
    STALE = "stale"
    """Not newer than the level held (an older or repeated `as_of`): ignored."""


@dataclass(frozen=True, slots=True)
class LevelChange:
    """Result of applying a level: the verdict and the movements it newly acknowledged."""

    verdict: LevelVerdict
    acknowledged: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()


@dataclass(slots=True)
class StockPosition:
    """Stock of one SKU in one warehouse, as catalog-sync knows it (the aggregate)."""

    warehouse_id: str
    sku: str
    level: int | None = None
    as_of: datetime | None = None
    entries: dict[str, MovementEntry] = field(default_factory=dict)

    @property
    def effective(self) -> int | None:
        """Level with the pending movements applied; None until a level is known."""
        if self.level is None:
            return None
        return self.level + sum(entry.delta or 0 for entry in self.pending())

    def pending(self) -> list[MovementEntry]:
        """Movements counted on top of the level, oldest first."""
        found = [e for e in self.entries.values() if e.state is EntryState.PENDING]
        return sorted(found, key=lambda e: (e.occurred_at, e.movement_id))

    def apply_movement(self, movement: Movement, *, ack_window: timedelta) -> MovementVerdict:
        """Count a movement once, unless the level already includes it."""
        known = self.entries.get(movement.movement_id)
        if known is not None:
            if known.delta is None:
                # First delivery of a movement the platform acknowledged earlier: remember its
                # real figures (for explanations) but keep it out of the sum.
                self.entries[movement.movement_id] = replace(
                    known,
                    delta=movement.delta,
                    occurred_at=movement.occurred_at,
                    origin=movement.origin,
                )
                return MovementVerdict.ALREADY_INCLUDED
            return MovementVerdict.DUPLICATE
        if self.as_of is not None and movement.occurred_at < self.as_of - ack_window:
            return MovementVerdict.TOO_OLD
        self.entries[movement.movement_id] = MovementEntry(
            movement.movement_id,
            EntryState.PENDING,
            movement.occurred_at,
            movement.delta,
            movement.origin,
        )
        return MovementVerdict.APPLIED

    def apply_level(self, level: Level, *, ack_window: timedelta) -> LevelChange:
        """Take a newer absolute level as the base and acknowledge the movements it lists."""
        if self.as_of is not None and level.as_of <= self.as_of:
            return LevelChange(LevelVerdict.STALE)
        self.level = level.quantity
        self.as_of = level.as_of
        acknowledged: list[str] = []
        for movement_id in sorted(level.applied_movement_ids):
            known = self.entries.get(movement_id)
            if known is None:
                self.entries[movement_id] = MovementEntry(
                    movement_id, EntryState.ACKNOWLEDGED, level.as_of, None
                )
                acknowledged.append(movement_id)
            elif known.state is EntryState.PENDING:
                self.entries[movement_id] = replace(known, state=EntryState.ACKNOWLEDGED)
                acknowledged.append(movement_id)
        return LevelChange(LevelVerdict.APPLIED, tuple(acknowledged), self._prune(ack_window))

    def _prune(self, ack_window: timedelta) -> tuple[str, ...]:
        if self.as_of is None:
            return ()
        horizon = self.as_of - ack_window
        old = sorted(mid for mid, e in self.entries.items() if e.occurred_at < horizon)
        for movement_id in old:
            del self.entries[movement_id]
        return tuple(old)
