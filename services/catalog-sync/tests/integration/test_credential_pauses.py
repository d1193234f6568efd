"""New credentials end a pause that credentials caused, and only such a pause."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from catalog_sync.app.ports import StoreSyncState
from catalog_sync.app.projections import apply_credentials

from kervan_contracts.credentials.v1 import CredentialField, CredentialsChanged
from kervan_contracts.identifiers import Platform

from .conftest import World

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _changed(store_id: str, version: int) -> CredentialsChanged:
    return CredentialsChanged(
        store_id=store_id,
        platform=Platform.N11,
        version=version,
        fields_set=[CredentialField.APP_KEY, CredentialField.APP_SECRET],
        changed_at=NOW,
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
