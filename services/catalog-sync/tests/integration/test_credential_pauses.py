"""New credentials end a pause that credentials caused, and only such a pause; the store is
read together with the credentials version the projection holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from catalog_sync.app.ports import StoreSyncState
from catalog_sync.app.projections import apply_credentials, apply_store, forget_store
from catalog_sync.domain.catalog import CredentialsVersion, StoreView

from kervan_contracts.credentials.v1 import CredentialField, CredentialsChanged
from kervan_contracts.identifiers import Platform

from .conftest import World, snapshot

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _changed(store_id: str, version: int, *, deleted: bool = False) -> CredentialsChanged:
    return CredentialsChanged(
        store_id=store_id,
        platform=Platform.N11,
        version=version,
        fields_set=[] if deleted else [CredentialField.APP_KEY, CredentialField.APP_SECRET],
        changed_at=NOW,
        deleted=deleted,
    )


@pytest.mark.parametrize(
    ("reason", "lifted"),
    [("missing_credentials", True), ("auth_rejected", True), ("rate_limited", False)],
)
async def test_new_credentials_lift_only_credential_pauses(
    world: World, reason: str, lifted: bool
) -> None:
    store_id = f"store-{reason}"
    paused = StoreSyncState(paused_until=NOW + timedelta(hours=1), pause_reason=reason)
    async with world.ctx.uow() as uow:
        await uow.save_sync_state(store_id, paused)
        await uow.commit()

    assert await apply_credentials(_changed(store_id, 1), world.ctx.uow(), lambda: NOW)

    async with world.ctx.uow() as uow:
        state = await uow.sync_state(store_id)
    expected = replace(paused, paused_until=None, pause_reason=None) if lifted else paused
    assert state == expected


async def test_the_store_is_read_with_the_credentials_version_the_projection_holds(
    world: World,
) -> None:
    async def read(store_id: str) -> tuple[StoreView | None, CredentialsVersion | None]:
        async with world.ctx.uow() as uow:
            return await uow.store_with_credentials(store_id)

    await apply_store(snapshot("cred-s1", Platform.N11, version=3), world.ctx.uow(), lambda: NOW)
    async with world.ctx.uow() as uow:
        plain = await uow.store("cred-s1")
    assert plain is not None
    assert await read("cred-s1") == (plain, None)  # no version recorded yet

    assert await apply_credentials(_changed("cred-s1", 2), world.ctx.uow(), lambda: NOW)
    assert await read("cred-s1") == (plain, CredentialsVersion(2, False))
    assert await apply_credentials(
        _changed("cred-s1", 2, deleted=True), world.ctx.uow(), lambda: NOW
    )
    assert await read("cred-s1") == (plain, CredentialsVersion(2, True))

    assert await read("no-such-store") == (None, None)
    await apply_credentials(_changed("no-such-store", 1), world.ctx.uow(), lambda: NOW)
    assert await read("no-such-store") == (None, None)  # credentials without a store
    await forget_store("cred-s1", 4, world.ctx.uow())
    assert await read("cred-s1") == (None, None)
