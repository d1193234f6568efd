"""A store changed by another writer between read and commit (optimistic adapters).

The in-memory unit of work never races, so these tests make its commit report the race
(`StoreChangedMeanwhile`) a given number of times and check what the use cases do with it.
"""

from __future__ import annotations

import pytest
from store_registry.adapters.memory import Database, MemoryUnitOfWork
from store_registry.app import services
from store_registry.app.commands import Caller, ChangeOrderSettings, CreateStore, DeleteStore
from store_registry.app.ports import StoreChangedMeanwhile
from store_registry.app.services import Collaborators
from store_registry.domain.errors import VersionMismatch
from store_registry.domain.model import OrderSettings

from kervan_contracts.identifiers import Platform

ADMIN = Caller("alice", "corr-1")
SETTINGS = OrderSettings(
    order_transfer_enabled=True,
    default_warehouse_id=None,
    cargo_company_id=None,
    stock_deduction_enabled=True,
)


class RacedUnitOfWork(MemoryUnitOfWork):
    """Commits like the in-memory one, except that the first `races` commits lose a race."""

    def __init__(self, committed: Database, races: int) -> None:
        super().__init__(committed)
        self.races = races
        self.attempts = 0

    async def commit(self) -> None:
        self.attempts += 1
        if self.attempts <= self.races:
            raise StoreChangedMeanwhile([store.id for store in self.stores.seen])
        await super().commit()


async def _store(database: Database, env: Collaborators) -> str:
    view = await services.create_store(
        CreateStore(ADMIN, "Shop", Platform.TRENDYOL), MemoryUnitOfWork(database), env
    )
    return view.state.id


async def test_a_write_with_if_match_star_is_applied_again_on_a_fresh_read(
    database: Database, env: Collaborators
) -> None:
    store_id = await _store(database, env)
    uow = RacedUnitOfWork(database, races=2)

    view = await services.change_order_settings(
        ChangeOrderSettings(ADMIN, store_id, None, SETTINGS), uow, env
    )

    assert uow.attempts == 3
    assert view.state.version == 2
    assert database.stores[store_id].orders == SETTINGS
    # Only the attempt that committed left an event and an audit row.
    assert [key for key, _ in database.events] == [store_id, store_id]
    assert [e.action for e in database.audit] == ["created", "settings_changed"]


async def test_a_write_that_named_its_version_is_refused_when_it_loses_the_race(
    database: Database, env: Collaborators
) -> None:
    store_id = await _store(database, env)
    uow = RacedUnitOfWork(database, races=1)

    with pytest.raises(VersionMismatch) as refused:
        await services.change_order_settings(
            ChangeOrderSettings(ADMIN, store_id, 1, SETTINGS), uow, env
        )

    assert uow.attempts == 1  # not retried: the caller's If-Match no longer holds
    assert refused.value.details == {"store_ids": [store_id], "expected_version": 1}
    assert database.stores[store_id].version == 1
    assert len(database.events) == 1


async def test_if_match_star_gives_up_after_repeated_races(
    database: Database, env: Collaborators
) -> None:
    store_id = await _store(database, env)
    uow = RacedUnitOfWork(database, races=100)

    with pytest.raises(VersionMismatch):
        await services.delete_store(DeleteStore(ADMIN, store_id, None), uow, env)

    assert uow.attempts == services._WRITE_ATTEMPTS
    assert store_id in database.stores
