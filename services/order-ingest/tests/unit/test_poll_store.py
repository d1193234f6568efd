"""The poll use case against in-memory fakes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from order_ingest.adapters.memory import MemoryDatabase, MemoryUnitOfWork
from order_ingest.app.ports import UnitOfWork
from order_ingest.app.services import (
    PollContext,
    PollSettings,
    apply_api_status,
    apply_store_snapshot,
    poll_store,
)

from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased
from kervan_contracts.orders.v1 import OrderStatus
from kervan_contracts.stores.v1 import OrderSettings, ProductSettings, StoreSnapshot, StoreStatus
from kervan_marketplaces import AuthRejected, Transient

from .builders import T0, line, order
from .fakes import FakeAdapters, FakeClock, FakeMarketplace, FakeRetest

NOW = T0 + timedelta(hours=1)


def snapshot(
    version: int = 1,
    *,
    warehouse: str | None = "wh1",
    active: bool = True,
    transfer: bool = True,
    deduct: bool = True,
) -> StoreSnapshot:
    return StoreSnapshot(
        store_id="s1",
        title="Shop",
        platform=Platform.TRENDYOL,
        status=StoreStatus.ACTIVE if active else StoreStatus.PASSIVE,
        test_mode=False,
        products=ProductSettings(),
        orders=OrderSettings(
            order_transfer_enabled=transfer,
            stock_deduction_enabled=deduct,
            default_warehouse_id=warehouse,
        ),
        version=version,
        created_at=T0 - timedelta(days=10),
        updated_at=T0 - timedelta(days=10),
    )


def valid(at: datetime = T0 - timedelta(days=1)) -> ApiStatusChanged:
    return ApiStatusChanged(
        store_id="s1",
        platform=Platform.TRENDYOL,
        status=ApiStatus.VALID,
        checked_at=at,
        test_mode=False,
    )


class World:
    def __init__(self) -> None:
        self.db = MemoryDatabase()
        self.market = FakeMarketplace()
        self.clock = FakeClock(NOW)
        self.retest = FakeRetest()
        self.adapters = FakeAdapters({"s1": self.market})
        self.ctx = PollContext(
            uow=self.uow,
            adapters=self.adapters,
            retest=self.retest,
            clock=self.clock,
            settings=PollSettings(commit_batch_size=2, initial_lookback=timedelta(days=1)),
        )

    def uow(self) -> UnitOfWork:
        return MemoryUnitOfWork(self.db)

    def events(self) -> list[EventPayload]:
        return [e for e, _ in self.db.published]

    async def eligible_store(self) -> None:
        await apply_store_snapshot(snapshot(), self.uow(), self.clock)
        await apply_api_status(valid(), self.uow())


@pytest.fixture
async def world() -> World:
    w = World()
    await w.eligible_store()
    return w


def names(events: list[EventPayload]) -> list[str]:
    return [type(e).__name__ for e in events]


async def test_new_orders_received_and_deducted_then_repoll_changes_nothing(world: World) -> None:
    for n in range(3):
        world.market.put(order(f"O{n}", [line("L1", f"SKU-{n}", 2)], modified=timedelta(minutes=n)))
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.new_orders) == ("ok", 3)
    assert names(world.events()) == ["OrderReceived", "StockDeducted"] * 3
    before = list(world.db.published)
    world.clock.advance(30)
    assert (await poll_store("s1", world.ctx)).outcome == "ok"
    assert world.db.published == before
    assert world.db.ingest["s1"].watermark == NOW + timedelta(seconds=30)


async def test_each_poll_reads_what_settled_and_what_is_new(world: World) -> None:
    overlap, fresh = world.ctx.settings.overlap, world.ctx.settings.fresh_overlap
    await poll_store("s1", world.ctx)
    assert world.market.queries[-2][1] == NOW - overlap  # the first day, swept (6 h windows)
    assert world.market.queries[-1] == (NOW - overlap, NOW)
    world.clock.advance(60)
    await poll_store("s1", world.ctx)
    later = NOW + timedelta(seconds=60)
    # Not the whole overlap again: the minute that settled, and what is new since the watermark.
    assert world.market.queries[-2:] == [(NOW - overlap, later - overlap), (NOW - fresh, later)]
    state = world.db.ingest["s1"]
    assert (state.watermark, state.settled_watermark) == (later, later - overlap)


async def test_order_a_moment_late_is_read_by_the_next_poll(world: World) -> None:
    """Inside the fresh overlap (when one is set): not only at the settled re-read."""
    world.ctx.settings = PollSettings(fresh_overlap=timedelta(seconds=2))
    await poll_store("s1", world.ctx)
    late = timedelta(seconds=1)
    world.market.put(order("LATE", modified=NOW - T0 - late))
    world.clock.advance(30)
    await poll_store("s1", world.ctx)
    assert names(world.events()) == ["OrderReceived", "StockDeducted"]


async def test_late_visible_order_is_read_once_it_settled(world: World) -> None:
    await poll_store("s1", world.ctx)
    # Becomes visible now, but stamped a minute before the last watermark (visibility lag).
    world.market.put(order("LATE", modified=NOW - T0 - timedelta(minutes=1)))
    overlap = world.ctx.settings.overlap.total_seconds()
    for _ in range(int(overlap // 30)):
        world.clock.advance(30)
        await poll_store("s1", world.ctx)
    assert names(world.events()) == ["OrderReceived", "StockDeducted"]
    world.clock.advance(30)
    await poll_store("s1", world.ctx)
    assert names(world.events()) == ["OrderReceived", "StockDeducted"]


async def test_crash_between_pages_loses_nothing_and_duplicates_nothing(world: World) -> None:
    for n in range(5):
        world.market.put(order(f"O{n}", [line("L1", f"SKU-{n}")], modified=timedelta(minutes=n)))
    world.market.fail = (3, Transient("connection reset"))  # after the first batch of 2 committed
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.new_orders) == ("transient", 2)
    # Empty earlier windows were saved; the one holding the orders was not finished.
    watermark = world.db.ingest["s1"].watermark
    assert watermark is not None
    assert watermark <= T0
    world.clock.advance(30)
    assert (await poll_store("s1", world.ctx)).outcome == "ok"
    deducted = [e.order_number for e in world.events() if isinstance(e, StockDeducted)]
    assert sorted(deducted) == [f"O{n}" for n in range(5)]


async def test_partial_cancel_then_status_change(world: World) -> None:
    world.market.put(order("O1", [line("L1", "A"), line("L2", "B")]))
    await poll_store("s1", world.ctx)
    world.market.put(
        order(
            "O1",
            [line("L1", "A"), line("L2", "B", cancelled=1)],
            modified=timedelta(minutes=60, seconds=10),
        )
    )
    world.clock.advance(30)
    await poll_store("s1", world.ctx)
    world.market.put(
        order(
            "O1",
            [line("L1", "A", status=OrderStatus.SHIPPED), line("L2", "B", cancelled=1)],
            status=OrderStatus.SHIPPED,
            modified=timedelta(minutes=60, seconds=40),
        )
    )
    world.clock.advance(30)
    await poll_store("s1", world.ctx)
    assert names(world.events()) == [
        "OrderReceived",
        "StockDeducted",
        "StockDeducted",
        "OrderCancelled",
        "StockReleased",
        "OrderUpdated",
    ]
    released = [e for e in world.events() if isinstance(e, StockReleased)]
    assert [(r.line_id, r.sku) for r in released] == [("L2", "B")]


async def test_store_without_warehouse_deducts_once_the_warehouse_is_set(world: World) -> None:
    await apply_store_snapshot(snapshot(2, warehouse=None), world.uow(), world.clock)
    world.market.put(order("O1"))
    await poll_store("s1", world.ctx)
    assert names(world.events()) == ["OrderReceived"]
    assert await world.uow().orders.count_pending_deduction("s1") == 1
    await apply_store_snapshot(snapshot(3, warehouse="wh7"), world.uow(), world.clock)
    await apply_store_snapshot(snapshot(3, warehouse="wh7"), world.uow(), world.clock)  # replay
    deducted = [e for e in world.events() if isinstance(e, StockDeducted)]
    assert [(d.order_number, d.warehouse_id) for d in deducted] == [("O1", "wh7")]
    assert await world.uow().orders.count_pending_deduction("s1") == 0


@pytest.mark.parametrize(
    "change",
    [{"active": False}, {"transfer": False}],
    ids=["passive", "order-transfer-off"],
)
async def test_ineligible_store_is_not_polled(world: World, change: dict[str, bool]) -> None:
    await apply_store_snapshot(
        snapshot(2, active=change.get("active", True), transfer=change.get("transfer", True)),
        world.uow(),
        world.clock,
    )
    world.market.put(order("O1"))
    result = await poll_store("s1", world.ctx)
    assert result.outcome == "skipped"
    assert world.market.queries == []


async def test_older_store_version_is_ignored(world: World) -> None:
    await apply_store_snapshot(snapshot(5, transfer=False), world.uow(), world.clock)
    assert not await apply_store_snapshot(snapshot(4), world.uow(), world.clock)
    assert (await poll_store("s1", world.ctx)).outcome == "skipped"


async def test_auth_rejected_pauses_and_requests_a_retest_until_status_is_valid_again(
    world: World,
) -> None:
    world.market.put(order("O1"))
    world.market.fail = (0, AuthRejected("401", status=401))
    result = await poll_store("s1", world.ctx)
    assert result.outcome == "auth_rejected"
    assert world.retest.requested == [("s1", "auth_rejected")]
    assert world.adapters.invalidated == ["s1"]
    assert (await poll_store("s1", world.ctx)).reason == "paused_auth_rejected"
    # A check older than the pause does not lift it; a later valid one does.
    await apply_api_status(valid(NOW - timedelta(minutes=1)), world.uow())
    assert (await poll_store("s1", world.ctx)).outcome == "skipped"
    await apply_api_status(valid(NOW + timedelta(minutes=1)), world.uow())
    assert (await poll_store("s1", world.ctx)).outcome == "ok"
    assert names(world.events()) == ["OrderReceived", "StockDeducted"]


async def test_long_catch_up_commits_window_by_window(world: World) -> None:
    world.ctx.settings = PollSettings(
        commit_batch_size=10, initial_lookback=timedelta(hours=3), max_window=timedelta(hours=1)
    )
    world.market.put(order("O1", modified=timedelta(minutes=-90)))
    world.market.fail = None
    result = await poll_store("s1", world.ctx)
    assert result.outcome == "ok"
    assert len(world.market.queries) == 4  # three hours swept in 1 h windows, then the fresh one
    assert all(u is not None and u - s <= timedelta(hours=1) for s, u in world.market.queries)
    assert names(world.events()) == ["OrderReceived", "StockDeducted"]


async def test_overlap_is_at_least_two_minutes_plus_the_platform_lag(world: World) -> None:
    world.ctx.settings = PollSettings(overlap=timedelta(seconds=10))
    world.market.min_lag = timedelta(minutes=1)
    await poll_store("s1", world.ctx)
    first_until = world.market.queries[-1][1]
    assert first_until == NOW - timedelta(minutes=1)
    assert world.market.queries[-1][0] == NOW - timedelta(minutes=3)  # the settle line
    world.clock.advance(30)
    await poll_store("s1", world.ctx)
    sweep = world.market.queries[-2]
    assert sweep == (NOW - timedelta(minutes=3), NOW + timedelta(seconds=30) - timedelta(minutes=3))


async def test_store_switched_passive_mid_poll_stops_before_the_next_batch(world: World) -> None:
    for n in range(4):
        world.market.put(order(f"O{n}", [line("L1", f"SKU-{n}")], modified=timedelta(minutes=n)))
    inner = world.market.list_orders

    async def switch_after_first_batch(since: datetime, until: datetime | None = None):  # type: ignore[no-untyped-def]
        count = 0
        async for found in inner(since, until):
            if count == 2:
                await apply_store_snapshot(snapshot(2, active=False), world.uow(), world.clock)
            count += 1
            yield found

    world.market.list_orders = switch_after_first_batch  # type: ignore[method-assign]
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.reason, result.new_orders) == ("skipped", "store_passive", 2)
    assert len([e for e in world.events() if isinstance(e, StockDeducted)]) == 2
