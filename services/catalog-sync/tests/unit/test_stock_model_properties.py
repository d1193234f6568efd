"""Property test of the stock model over random interleavings and redeliveries.

The platform (the ERP's inventory) and catalog-sync are modelled side by side. Movements and
levels are published to logs; catalog-sync receives them in log order per topic, interleaved at
random across topics, and any event already delivered may be delivered again at any time
(at-least-once). The platform consumes movements at its own pace and publishes absolute levels
listing the movements they include.

Ground truth is the platform's own bookkeeping (which movements a level really includes), not
the acknowledgement lists the implementation reads, so the check is independent of the scheme.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from catalog_sync.domain.stock import (
    Level,
    LevelVerdict,
    Movement,
    MovementDirection,
    MovementVerdict,
    StockPosition,
)
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

WINDOW = timedelta(days=14)
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Published:
    """A level the platform published, with what it truly includes."""

    level: Level
    includes: frozenset[str]


class StockDelivery(RuleBasedStateMachine):
    """Platform inventory, its logs, and catalog-sync's position fed from them."""

    def __init__(self) -> None:
        super().__init__()
        self.tick = 0
        self.platform_quantity = 1000
        self.platform_applied: set[str] = set()
        self.movements: list[Movement] = []
        self.levels: list[Published] = []
        self.movements_delivered = 0
        self.levels_delivered = 0
        self.platform_consumed = 0
        self.position = StockPosition("wh-1", "SKU-1")
        self.delivered_ids: set[str] = set()
        self.newest_delivered: Published | None = None

    def _now(self) -> datetime:
        self.tick += 1
        return START + timedelta(minutes=self.tick)

    # --- the world -------------------------------------------------------------------------

    @rule(
        direction=st.sampled_from(list(MovementDirection)),
        quantity=st.integers(min_value=1, max_value=5),
    )
    def order_moves_stock(self, direction: MovementDirection, quantity: int) -> None:
        """order-ingest publishes a movement."""
        self.movements.append(Movement(str(uuid.uuid4()), direction, quantity, self._now()))

    @precondition(lambda self: self.platform_consumed < len(self.movements))
    @rule()
    def platform_applies_next_movement(self) -> None:
        """The platform's inventory consumes the next movement of the log."""
        movement = self.movements[self.platform_consumed]
        self.platform_consumed += 1
        self.platform_quantity += movement.delta
        self.platform_applied.add(movement.movement_id)

    @rule(delta=st.integers(min_value=-3, max_value=20))
    def platform_adjusts(self, delta: int) -> None:
        """A receipt or count correction in the ERP: not a Kervan movement."""
        self.platform_quantity += delta

    @rule()
    def platform_publishes_level(self) -> None:
        """The platform publishes its absolute level and the movements it includes."""
        applied = frozenset(self.platform_applied)
        level = Level(self.platform_quantity, self._now(), applied)
        self.levels.append(Published(level, applied))

    # --- delivery to catalog-sync --------------------------------------------------------

    @precondition(lambda self: self.movements_delivered < len(self.movements))
    @rule()
    def deliver_next_movement(self) -> None:
        self._deliver_movement(self.movements[self.movements_delivered])
        self.movements_delivered += 1

    @precondition(lambda self: self.levels_delivered < len(self.levels))
    @rule()
    def deliver_next_level(self) -> None:
        self._deliver_level(self.levels[self.levels_delivered])
        self.levels_delivered += 1

    @precondition(lambda self: self.movements_delivered > 0)
    @rule(data=st.data())
    def redeliver_movement(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(min_value=0, max_value=self.movements_delivered - 1))
        before = self.position.effective
        verdict = self._deliver_movement(self.movements[index])
        assert verdict in {MovementVerdict.DUPLICATE, MovementVerdict.ALREADY_INCLUDED}
        assert self.position.effective == before

    @precondition(lambda self: self.levels_delivered > 0)
    @rule(data=st.data())
    def redeliver_level(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(min_value=0, max_value=self.levels_delivered - 1))
        before = self.position.effective
        change = self.position.apply_level(self.levels[index].level, ack_window=WINDOW)
        assert change.verdict is LevelVerdict.STALE
        assert self.position.effective == before

    def _deliver_movement(self, movement: Movement) -> MovementVerdict:
        self.delivered_ids.add(movement.movement_id)
        return self.position.apply_movement(movement, ack_window=WINDOW)

    def _deliver_level(self, published: Published) -> None:
        change = self.position.apply_level(published.level, ack_window=WINDOW)
        if change.verdict is LevelVerdict.APPLIED:
            self.newest_delivered = published

    # --- what must always hold -------------------------------------------------------------

    @invariant()
    def each_movement_counts_at_most_once(self) -> None:
        """Effective = newest delivered level + every delivered movement it does not include."""
        if self.newest_delivered is None:
            assert self.position.effective is None
            return
        by_id = {m.movement_id: m for m in self.movements}
        not_included = self.delivered_ids - self.newest_delivered.includes
        expected = self.newest_delivered.level.quantity + sum(
            by_id[mid].delta for mid in not_included
        )
        assert self.position.effective == expected

    @invariant()
    def everything_delivered_means_the_true_level(self) -> None:
        """Once every published event arrived, catalog-sync shows the inventory's true level:
        the latest published level with every movement it does not include yet applied."""
        if not self.levels or self.movements_delivered < len(self.movements):
            return
        if self.levels_delivered < len(self.levels):
            return
        latest = self.levels[-1]
        true_level = latest.level.quantity + sum(
            m.delta for m in self.movements if m.movement_id not in latest.includes
        )
        assert self.position.effective == true_level


StockDelivery.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestStockDelivery = StockDelivery.TestCase
