"""Several replicas on one PostgreSQL: each store is pushed by exactly one of them at a time."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import timedelta

import pytest
from catalog_sync.adapters.leases import PostgresLeases
from catalog_sync.app import projections
from catalog_sync.app.ports import AdapterProvider
from catalog_sync.app.pusher import PushContext, push_store
from catalog_sync.app.scheduler import LoopSettings, PushLoop
from catalog_sync.bootstrap import utc_now
from catalog_sync.domain.catalog import CredentialsVersion, StoreView

from kervan_contracts.catalog.v1 import StockLevelChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_marketplaces import StoreAdapter
from kervan_testkit import wait_until

from .conftest import World, snapshot, valid_status
from .test_push_to_sim import ACK_WINDOW, SKU, incoming, seed_catalogue

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

STORES = [f"r-{i:02d}" for i in range(10)]


async def add_stores(world: World, store_ids: list[str]) -> None:
    for store_id in store_ids:
        await projections.apply_store(
            snapshot(store_id, Platform.N11, update_type=AutoUpdateType.STOCK),
            world.ctx.uow(),
            utc_now,
        )


async def test_replicas_split_the_stores_and_take_over_a_dead_ones(world: World) -> None:
    await add_stores(world, STORES)
    ttl = timedelta(seconds=1)
    a = PostgresLeases(world.pool, "replica-a", ttl)
    b = PostgresLeases(world.pool, "replica-b", ttl)

    assert await a.sync() == set(STORES)  # alone: every store
    assert await b.sync() == set()  # every lease is live: nothing to take yet
    held_a = await a.sync()  # b counts now: a keeps its fair share + 1
    held_b = await b.sync()
    assert len(held_a) == 6
    assert held_b == set(STORES) - held_a
    assert await a.sync() == held_a  # stable: no store hops between replicas
    assert await b.sync() == held_b

    # a stops renewing (killed): b takes all of its stores once the leases expire.
    async def b_has_everything() -> bool:
        return await b.sync() == set(STORES)

    await wait_until(b_has_everything, timeout=10, what="takeover of the dead replica's stores")
    rows = await world.pool.fetch("SELECT DISTINCT owner FROM catalog_sync.store_leases")
    assert [r["owner"] for r in rows] == ["replica-b"]

    # A clean shutdown hands the stores over at the next round, without waiting for the TTL.
    slow = PostgresLeases(world.pool, "replica-c", timedelta(minutes=5))
    await b.release_all()
    assert await slow.sync() == set(STORES)
    await slow.release_all()
    assert await world.pool.fetchval("SELECT count(*) FROM catalog_sync.store_leases") == 0


async def test_may_send_only_while_the_lease_is_fresh(world: World) -> None:
    await add_stores(world, STORES[:1])
    now = [100.0]
    leases = PostgresLeases(world.pool, "r", timedelta(seconds=20), monotonic=lambda: now[0])
    assert not leases.may_send(STORES[0])  # nothing held before the first round
    await leases.sync()
    assert leases.may_send(STORES[0])
    assert not leases.may_send("someone-elses")
    now[0] += 9.9
    assert leases.may_send(STORES[0])
    now[0] += 0.2  # half the TTL without a renewal: stop calling the platform
    assert not leases.may_send(STORES[0])
    await leases.sync()
    assert leases.may_send(STORES[0])


async def test_a_replica_without_the_lease_writes_and_sends_nothing(world: World) -> None:
    store_id = "r-fenced"
    account = await world.add_store(store_id, Platform.N11)
    await world.sim.seed_listing(account, SKU, barcode=SKU, price="10.00", stock=1)
    await projections.apply_store(
        snapshot(store_id, Platform.N11, update_type=AutoUpdateType.STOCK), world.ctx.uow(), utc_now
    )
    await projections.apply_api_status(
        valid_status(store_id, Platform.N11), world.ctx.uow(), utc_now
    )
    await seed_catalogue(world)
    owner = PostgresLeases(world.pool, "owner", timedelta(seconds=30))
    other = PostgresLeases(world.pool, "other", timedelta(seconds=30))
    assert await owner.sync() == {store_id}
    await other.sync()

    # `other` believes it may send (a stale view of its leases) but does not hold the row.
    other.held = frozenset({store_id})
    result = await push_store(store_id, dataclasses.replace(world.ctx, ownership=other))
    assert result.skipped_reason == "lease_lost"
    assert await world.pool.fetchval("SELECT count(*) FROM catalog_sync.push_batches") == 0
    assert await world.pool.fetchval("SELECT count(*) FROM catalog_sync.dirty_skus") == 1
    assert (await world.sim.listing(account, SKU))["history"] == []

    result = await push_store(store_id, dataclasses.replace(world.ctx, ownership=owner))
    assert result.skipped_reason is None
    assert len(result.batches) == 1
    history = (await world.sim.listing(account, SKU))["history"]
    assert [(r["field"], r["value"]) for r in history] == [("stock", 7)]


class RecordingProvider:
    """An AdapterProvider that notes which replica asked for which store's adapter."""

    def __init__(self, inner: AdapterProvider, name: str, log: dict[str, set[str]]) -> None:
        self._inner, self._name, self._log = inner, name, log

    async def adapter_for(self, store: StoreView) -> StoreAdapter:
        self._log[store.store_id].add(self._name)
        return await self._inner.adapter_for(store)

    async def adapter_after_rejection(
        self, store: StoreView, rejected: StoreAdapter
    ) -> StoreAdapter | None:
        return await self._inner.adapter_after_rejection(store, rejected)

    def invalidate(self, store_id: str) -> None:
        self._inner.invalidate(store_id)

    def credentials_recorded(self, store_id: str, recorded: CredentialsVersion) -> bool:
        return self._inner.credentials_recorded(store_id, recorded)


async def test_two_push_loops_push_each_store_from_one_replica(world: World) -> None:
    store_ids = [f"r-loop-{i}" for i in range(4)]
    # One simulator account behind every store (same credentials): which replica pushed
    # which store is recorded by the adapter provider below instead.
    account = await world.add_store(store_ids[0], Platform.N11)
    for store_id in store_ids[1:]:
        world.credentials[store_id] = world.credentials[store_ids[0]]
    await world.sim.seed_listing(account, SKU, barcode=SKU, price="1.00", stock=0)
    for store_id in store_ids:
        await projections.apply_store(
            snapshot(store_id, Platform.N11, update_type=AutoUpdateType.STOCK),
            world.ctx.uow(),
            utc_now,
        )
        await projections.apply_api_status(
            valid_status(store_id, Platform.N11), world.ctx.uow(), utc_now
        )

    used: dict[str, set[str]] = defaultdict(set)
    loops = []
    for name in ("a", "b"):
        leases = PostgresLeases(world.pool, name, timedelta(seconds=20))
        ctx = PushContext(
            uow=world.ctx.uow,
            adapters=RecordingProvider(world.ctx.adapters, name, used),
            clock=utc_now,
            settings=world.ctx.settings,
            ownership=leases,
        )
        settings = LoopSettings(tick_seconds=0.05, lease_renew_seconds=0.2)
        loops.append(PushLoop(ctx, settings, leases))
    for loop in loops:
        await loop.start()
    try:

        async def split() -> bool:
            owners = await world.pool.fetch(
                "SELECT DISTINCT owner FROM catalog_sync.store_leases WHERE expires_at > now()"
            )
            return len(owners) == 2

        # The first replica takes every store, then gives back what is above its fair share
        # + 1 once the second one counts; the work starts after that settles.
        await wait_until(split, timeout=20, what="both replicas holding stores")
        await seed_catalogue(world)
        for step, quantity in enumerate((7, 5, 4, 3)):
            if step:
                await projections.apply_stock_level(
                    incoming(),
                    StockLevelChanged(
                        sku=SKU,
                        warehouse_id="wh-1",
                        quantity=quantity,
                        as_of=utc_now() + timedelta(seconds=step),
                    ),
                    world.ctx.uow(),
                    utc_now,
                    ACK_WINDOW,
                )
            for loop in loops:
                loop.wake()

            async def accepted(value: int = quantity) -> bool:
                rows = await world.pool.fetch(
                    "SELECT accepted_value FROM catalog_sync.push_fields WHERE field = 'stock'"
                )
                values = {r["accepted_value"] for r in rows}
                return len(rows) == len(store_ids) and values == {str(value)}

            await wait_until(accepted, timeout=30, what=f"stock {quantity} at every store")
    finally:
        for loop in loops:
            await loop.stop()
    assert set(used) == set(store_ids)
    assert all(len(names) == 1 for names in used.values()), dict(used)
    assert {n for names in used.values() for n in names} == {"a", "b"}
    # A clean stop gives every lease back.
    assert await world.pool.fetchval("SELECT count(*) FROM catalog_sync.store_leases") == 0
