"""PostgreSQL leases: one owner per store, fair shares, takeover of a dead replica's stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import asyncpg
import pytest
from order_ingest.adapters.leases import PostgresLeases
from order_ingest.bootstrap import PostgresUnitOfWorkFactory

from kervan_servicekit import Outbox
from kervan_testkit import wait_until

from .conftest import SCHEMA

pytestmark = pytest.mark.integration

STORES = ["s1", "s2", "s3", "s4"]


async def test_each_store_has_one_owner_and_a_dead_replicas_stores_are_taken(
    pool: asyncpg.Pool, unique_name: Callable[[str], str]
) -> None:
    ttl = timedelta(seconds=1)
    a = PostgresLeases(pool, "replica-a", ttl)
    b = PostgresLeases(pool, "replica-b", ttl)
    assert await a.sync(STORES) == set(STORES)  # alone: takes everything
    assert await b.sync(STORES) == set()  # nothing free yet
    held_a = await a.sync(STORES)  # two live replicas: a sheds its surplus
    held_b = await b.sync(STORES)
    assert held_a.isdisjoint(held_b)
    assert held_a | held_b == set(STORES)
    assert len(held_b) >= 1

    # Fencing: a batch of replica b on a store of a is refused in its transaction.
    uow = PostgresUnitOfWorkFactory(pool, Outbox(SCHEMA), "order-ingest")()
    async with uow:
        some_a = sorted(held_a)[0]
        assert await uow.ingest.holds_lease(some_a, "replica-a")
        assert not await uow.ingest.holds_lease(some_a, "replica-b")

    # Store s4 stops being eligible: its owner gives it back at once.
    owner = a if "s4" in held_a else b
    assert "s4" not in await owner.sync(STORES[:3])

    # a dies (no more syncs): b takes all its stores once the leases expire.
    async def b_owns_all() -> bool:
        return await b.sync(STORES) == set(STORES)

    await wait_until(b_owns_all, timeout=10, what="takeover by replica b")
