"""Poll intervals, backoff, platform limits, windows, and per-store isolation."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from datetime import timedelta

from order_ingest.adapters.memory import MemoryDatabase, MemoryUnitOfWork
from order_ingest.app.ports import UnitOfWork
from order_ingest.app.scheduler import Scheduler, ScheduleSettings, next_delay
from order_ingest.app.services import PollContext, PollResult, PollSettings, orders_min_interval
from order_ingest.domain.store import ApiStatusView, StoreProfile
from order_ingest.domain.window import plan_windows

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_marketplaces import MarketplaceAdapter
from kervan_marketplaces.models import EndpointLimit

from .builders import T0
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


def test_windows_start_at_watermark_minus_overlap_and_respect_the_lag() -> None:
    windows = plan_windows(
        now=T0,
        watermark=T0 - timedelta(minutes=1),
        overlap=timedelta(minutes=3),
        initial_lookback=timedelta(days=1),
        min_lag=timedelta(seconds=30),
        max_window=None,
        max_history=None,
    )
    assert [(w.since, w.until) for w in windows] == [
        (T0 - timedelta(minutes=4), T0 - timedelta(seconds=30))
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

    async def adapter_for(self, store: StoreProfile) -> MarketplaceAdapter:
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
