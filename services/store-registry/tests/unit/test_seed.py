"""Demo data: one store per platform with reference lists, idempotent."""

from __future__ import annotations

from store_registry.adapters.memory import Database, MemoryUnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.entrypoints.seed import DEMO_REFERENCES, seed_demo_data

from kervan_contracts.identifiers import Platform


async def test_seed_creates_one_test_mode_store_per_platform_once(
    database: Database, uow_factory: MemoryUnitOfWorkFactory, env: Collaborators
) -> None:
    created = await seed_demo_data(uow_factory, env)
    assert len(created) == len(Platform)
    stores = list(database.stores.values())
    assert sorted(s.platform for s in stores) == sorted(Platform)
    assert all(s.test_mode for s in stores)
    assert all(s.orders.default_warehouse_id == "wh-istanbul" for s in stores)
    assert len(database.references) == sum(len(v) for v in DEMO_REFERENCES.values())
    events = len(database.events)
    assert await seed_demo_data(uow_factory, env) == []
    assert len(database.events) == events
