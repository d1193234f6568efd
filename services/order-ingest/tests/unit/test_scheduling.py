"""Poll intervals, backoff, platform limits, windows, and per-store isolation."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from order_ingest.adapters.memory import MemoryDatabase, MemoryUnitOfWork
from order_ingest.app.ports import UnitOfWork
from order_ingest.app.scheduler import Scheduler, ScheduleSettings, next_delay
from order_ingest.app.services import PollContext, PollResult, PollSettings, orders_min_interval
from order_ingest.domain.store import ApiStatusView, StoreProfile
from order_ingest.domain.window import plan_windows

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_marketplaces import StoreAdapter
from kervan_marketplaces.models import EndpointLimit

from .builders import T0, line, order
from .fakes import FakeAdapters, FakeClock, FakeMarketplace, FakeRetest

SETTINGS = ScheduleSettings(interval=30, jitter=0.2, backoff_max=600)


def test_interval_is_jittered_within_bounds() -> None:
    rng = random.Random(1)
    delays = [next_delay(PollResult("s", "ok"), SETTINGS, 0, rng) for _ in range(200)]
    assert min(delays) >= 24
    assert max(delays) <= 36
    assert len({round(d, 3) for d in delays}) > 100  # actually spread


def test_platform_limit_raises_the_interval() -> None:
    amazon = [EndpointLimit(endpoint="amazon.getOrders", requests=1, per_seconds=60, burst=20)]
    minimum = orders_min_interval(amazon)
    assert minimum == 60
    delay = next_delay(PollResult("s", "ok", min_interval=minimum), SETTINGS, 0, random.Random(2))
    assert 48 <= delay <= 72
    other = [EndpointLimit(endpoint="trendyol.products", requests=1, per_seconds=99, burst=1)]
    assert orders_min_interval(other) == 0


def test_backoff_grows_honours_retry_after_and_is_capped() -> None:
    rng = random.Random(3)
    failed = PollResult("s", "transient")
    assert 60 <= next_delay(failed, SETTINGS, 2, rng) <= 72
    assert 240 <= next_delay(failed, SETTINGS, 4, rng) <= 288
    assert next_delay(failed, SETTINGS, 30, rng) <= 720
    limited = PollResult("s", "rate_limited", retry_after=500)
    assert next_delay(limited, SETTINGS, 1, rng) >= 500


def test_windows_sweep_what_settled_and_read_what_is_new() -> None:
    minute = timedelta(minutes=1)
    windows = plan_windows(
        now=T0,
        watermark=T0 - minute,
        settled_watermark=T0 - 4 * minute,
        overlap=3 * minute,
        fresh_overlap=timedelta(seconds=5),
        initial_lookback=timedelta(days=1),
        min_lag=timedelta(seconds=30),
        max_window=None,
        max_history=None,
    )
    assert [(w.since, w.until, w.settles) for w in windows] == [
        (T0 - 4 * minute, T0 - 3 * minute, True),
        (T0 - minute - timedelta(seconds=5), T0 - timedelta(seconds=30), False),
    ]


def test_a_store_without_a_sweep_cursor_sweeps_from_watermark_minus_overlap() -> None:
    """State from before the sweep cursor: nothing the old re-read covered is skipped (the
    sweep runs at once, whatever `sweep_every` says, so its start cannot move on)."""
    windows = plan_windows(
        now=T0,
        watermark=T0 - timedelta(minutes=1),
        overlap=timedelta(minutes=3),
        sweep_every=timedelta(minutes=2),
        initial_lookback=timedelta(days=1),
        min_lag=timedelta(seconds=30),
        max_window=None,
        max_history=None,
    )
    assert [(w.since, w.until, w.settles) for w in windows] == [
        (T0 - timedelta(minutes=4), T0 - timedelta(minutes=3), True),
        (T0 - timedelta(minutes=1), T0 - timedelta(seconds=30), False),
    ]


def test_windows_are_cut_and_clamped_to_history() -> None:
    windows = plan_windows(
        now=T0,
        watermark=None,
        overlap=timedelta(minutes=3),
        initial_lookback=timedelta(days=30),
        min_lag=timedelta(0),
        max_window=timedelta(days=7),
        max_history=timedelta(days=14),
    )
    assert windows[0].since == T0 - timedelta(days=14) + timedelta(minutes=1)
    assert windows[-1].until == T0
    assert all(w.until - w.since <= timedelta(days=7) for w in windows)
    assert all(a.until == b.since for a, b in itertools.pairwise(windows))


class FixedLeases:
    """Holds whatever it is given."""

    replica_id = "r1"

    def __init__(self) -> None:
        self.released = False

    async def sync(self, eligible: Sequence[str]) -> set[str]:
        return set(eligible)

    async def release_all(self) -> None:
        self.released = True


class HangingAdapters(FakeAdapters):
    """Store `slow` never answers."""

    async def adapter_for(self, store: StoreProfile) -> StoreAdapter:
        if store.store_id == "slow":
            await asyncio.Event().wait()
        return await super().adapter_for(store)


async def test_a_hanging_store_does_not_delay_the_others() -> None:
    db = MemoryDatabase()
    for store_id in ("slow", "fast"):
        db.stores[store_id] = StoreProfile(
            store_id, "trendyol", "x", True, False, True, True, "w", 1
        )
        db.api_statuses[store_id] = ApiStatusView(ApiStatus.VALID, None, T0)

    def uow() -> UnitOfWork:
        return MemoryUnitOfWork(db)

    ctx = PollContext(
        uow=uow,
        adapters=HangingAdapters({"fast": FakeMarketplace(), "slow": FakeMarketplace()}),
        retest=FakeRetest(),
        clock=FakeClock(T0),
        settings=PollSettings(),
    )
    leases = FixedLeases()
    scheduler = Scheduler(
        ctx, leases, ScheduleSettings(interval=0.05, poll_timeout=0.3, lease_renew_interval=0.05)
    )
    await scheduler.start()
    try:

        async def fast_polled_often() -> bool:
            state = db.ingest.get("fast")
            return state is not None and state.polls.get("ok", 0) >= 5

        deadline = asyncio.get_running_loop().time() + 5
        while not await fast_polled_often():
            assert asyncio.get_running_loop().time() < deadline, "fast store starved"
            await asyncio.sleep(0.02)
        assert scheduler.held == {"slow", "fast"}
        assert db.ingest.get("slow") is None or db.ingest["slow"].polls.get("ok", 0) == 0
    finally:
        await scheduler.stop()
    assert leases.released


class SlowMarketplace(FakeMarketplace):
    """Answers every order after `pause` seconds: slow, but never stuck."""

    pause: float = 0.1

    async def list_orders(self, since: datetime, until: datetime | None = None):  # type: ignore[no-untyped-def]
        async for found in super().list_orders(since, until):
            await asyncio.sleep(self.pause)  # the platform's (or a busy CPU's) slowness
            yield found


async def test_the_poll_timeout_counts_from_the_last_committed_batch() -> None:
    """A poll longer than the timeout that keeps committing batches is not cut (it would be
    restarted from its watermark and re-read everything); a store that stalls is."""
    db = MemoryDatabase()
    db.stores["busy"] = StoreProfile("busy", "trendyol", "x", True, False, True, True, "w", 1)
    db.api_statuses["busy"] = ApiStatusView(ApiStatus.VALID, None, T0)
    market = SlowMarketplace()
    clock = FakeClock(T0)
    for n in range(6):
        market.put(order(f"O{n}", [line("L1", f"SKU-{n}")], modified=timedelta(minutes=-n - 1)))
    ctx = PollContext(
        uow=lambda: MemoryUnitOfWork(db),
        adapters=FakeAdapters({"busy": market}),
        retest=FakeRetest(),
        clock=clock,
        settings=PollSettings(commit_batch_size=1),
    )
    scheduler = Scheduler(ctx, FixedLeases(), ScheduleSettings(poll_timeout=0.35))

    result = await scheduler.poll_with_timeout("busy")  # ~0.6 s in all, 0.1 s per batch

    assert (result.outcome, result.new_orders) == ("ok", 6)
    market.pause = 1.0  # now a batch takes longer than the timeout
    market.put(order("O9", [line("L1", "SKU-9")], modified=timedelta(seconds=5)))
    clock.advance(10)
    cut = await scheduler.poll_with_timeout("busy")
    assert cut.outcome == "timeout"


def test_the_sweep_waits_until_enough_time_has_settled() -> None:
    """At short intervals most polls make one query: the sweep runs once `sweep_every` has
    settled, and then covers everything since its cursor (nothing is skipped)."""
    minute = timedelta(minutes=1)

    def plan(settled_behind: timedelta) -> list[tuple[datetime, datetime, bool]]:
        windows = plan_windows(
            now=T0,
            watermark=T0 - timedelta(seconds=2),
            settled_watermark=T0 - 5 * minute - settled_behind,
            overlap=5 * minute,
            sweep_every=timedelta(seconds=30),
            initial_lookback=timedelta(days=1),
            min_lag=timedelta(0),
            max_window=None,
            max_history=None,
        )
        return [(w.since, w.until, w.settles) for w in windows]

    assert plan(timedelta(seconds=10)) == [(T0 - timedelta(seconds=2), T0, False)]
    assert plan(timedelta(seconds=40)) == [
        (T0 - 5 * minute - timedelta(seconds=40), T0 - 5 * minute, True),
        (T0 - timedelta(seconds=2), T0, False),
    ]
