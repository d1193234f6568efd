"""Credential versions from credential-vault: which changes the projection applies; every one
reaches the credentials cache, which compares it with the version it holds
(test_credentials_cache.py)."""

from __future__ import annotations

from datetime import timedelta

from order_ingest.adapters.memory import MemoryDatabase, MemoryUnitOfWork
from order_ingest.app.services import apply_credentials

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.identifiers import Platform

from .builders import T0
from .fakes import FakeAdapters


def changed(version: int, *, deleted: bool = False, minutes: int = 0) -> CredentialsChanged:
    return CredentialsChanged(
        store_id="s1",
        platform=Platform.TRENDYOL,
        version=version,
        changed_at=T0 + timedelta(minutes=minutes),
        deleted=deleted,
    )


async def test_deletion_with_the_last_writes_version_applies_and_drops_the_adapter() -> None:
    db, adapters = MemoryDatabase(), FakeAdapters({})
    assert await apply_credentials(changed(2), MemoryUnitOfWork(db), adapters)
    # credential-vault announces a deletion with the version of the last write.
    assert await apply_credentials(
        changed(2, deleted=True, minutes=1), MemoryUnitOfWork(db), adapters
    )
    assert db.credentials["s1"].deleted
    assert [(e.version, e.deleted) for e in adapters.changes] == [(2, False), (2, True)]


async def test_credentials_entered_again_after_a_deletion_apply() -> None:
    db, adapters = MemoryDatabase(), FakeAdapters({})
    await apply_credentials(changed(2), MemoryUnitOfWork(db), adapters)
    await apply_credentials(changed(2, deleted=True, minutes=1), MemoryUnitOfWork(db), adapters)
    assert await apply_credentials(changed(3, minutes=2), MemoryUnitOfWork(db), adapters)
    assert not db.credentials["s1"].deleted
    assert [e.version for e in adapters.changes] == [2, 2, 3]


async def test_replays_change_nothing() -> None:
    db, adapters = MemoryDatabase(), FakeAdapters({})
    await apply_credentials(changed(3), MemoryUnitOfWork(db), adapters)
    await apply_credentials(changed(3, deleted=True, minutes=1), MemoryUnitOfWork(db), adapters)
    for replay in (changed(2), changed(3), changed(3, deleted=True, minutes=1)):
        assert not await apply_credentials(replay, MemoryUnitOfWork(db), adapters)
    assert db.credentials["s1"].deleted
    assert len(adapters.changes) == 5


async def test_an_older_deletion_replayed_never_wins_over_newer_credentials() -> None:
    db, adapters = MemoryDatabase(), FakeAdapters({})
    for event in (changed(2), changed(2, deleted=True, minutes=1), changed(3, minutes=2)):
        await apply_credentials(event, MemoryUnitOfWork(db), adapters)
    assert not await apply_credentials(
        changed(2, deleted=True, minutes=1), MemoryUnitOfWork(db), adapters
    )
    assert (db.credentials["s1"].version, db.credentials["s1"].deleted) == (3, False)
