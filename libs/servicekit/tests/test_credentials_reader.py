"""CredentialsReader against testkit's in-memory Vault (httpx.MockTransport): caching and
invalidation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_servicekit.credentials import CredentialsReader, CredentialsUnavailableError
from kervan_testkit.vault import FakeVault
from kervan_testkit.vault import reader as reader_of


@pytest.fixture
def vault() -> FakeVault:
    return FakeVault()


@pytest.fixture
def now() -> list[float]:
    return [1000.0]


@pytest.fixture
def reader(vault: FakeVault, now: list[float]) -> CredentialsReader:
    return reader_of(vault, max_age_seconds=60, clock=lambda: now[0])


def changed(store_id: str, version: int, *, deleted: bool = False) -> CredentialsChanged:
    return CredentialsChanged(
        store_id=store_id,
        platform="n11",  # type: ignore[arg-type]
        version=version,
        changed_at=datetime.now(UTC),
        deleted=deleted,
    )


async def test_reads_once_then_serves_from_cache(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.secrets["s1"] = (3, {"app_key": "k-secret", "app_secret": "s-secret"})
    first = await reader.get("s1")
    second = await reader.get("s1")
    assert first is second
    assert first is not None
    assert first.version == 3
    assert first.plain() == {"app_key": "k-secret", "app_secret": "s-secret"}
    assert len(vault.reads) == 1
    assert "secret" not in repr(first).replace("app_secret", "")


async def test_newer_event_drops_the_entry_older_does_not(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.secrets["s1"] = (2, {"app_key": "old"})
    await reader.get("s1")
    assert not reader.on_credentials_changed(changed("s1", 1))
    assert not reader.on_credentials_changed(changed("s1", 2))
    vault.secrets["s1"] = (3, {"app_key": "new"})
    assert reader.on_credentials_changed(changed("s1", 3))
    fresh = await reader.get("s1")
    assert fresh is not None
    assert fresh.value("app_key") == "new"
    assert len(vault.reads) == 2


async def test_deletion_event_and_missing_secret(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.secrets["s1"] = (1, {"app_key": "k"})
    await reader.get("s1")
    del vault.secrets["s1"]
    assert reader.on_credentials_changed(changed("s1", 1, deleted=True))
    assert await reader.get("s1") is None
    assert await reader.get("s1") is None  # absence is cached too
    assert len(vault.reads) == 2


async def test_supersede_by_a_version_learnt_elsewhere(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    """What a replica that did not consume the event learns from a shared projection."""
    vault.secrets["s1"] = (4, {"app_key": "v4"})
    await reader.get("s1")
    assert not reader.supersede("s1", 4)  # the version held
    assert not reader.supersede("s1", 3, deleted=True)  # a deletion older than what is held
    assert len(vault.reads) == 1
    assert reader.supersede("s1", 4, deleted=True)
    del vault.secrets["s1"]
    assert await reader.get("s1") is None
    assert not reader.supersede("s1", 4, deleted=True)  # none cached: nothing to drop
    vault.secrets["s1"] = (5, {"app_key": "v5"})
    assert reader.supersede("s1", 5)
    fresh = await reader.get("s1")
    assert fresh is not None
    assert fresh.value("app_key") == "v5"
    assert len(vault.reads) == 3
    assert not reader.supersede("unknown", 9)


async def test_entries_expire_after_max_age(
    reader: CredentialsReader, vault: FakeVault, now: list[float]
) -> None:
    vault.secrets["s1"] = (1, {"app_key": "k"})
    await reader.get("s1")
    now[0] += 61
    await reader.get("s1")
    assert len(vault.reads) == 2


async def test_concurrent_misses_share_one_read(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.secrets["s1"] = (1, {"app_key": "k"})
    vault.gate = asyncio.Event()
    tasks = [asyncio.create_task(reader.get("s1")) for _ in range(5)]
    await asyncio.sleep(0)
    vault.gate.set()
    results = await asyncio.gather(*tasks)
    assert len(vault.reads) == 1
    assert all(r is results[0] for r in results)


@pytest.mark.parametrize("status", [403, 500, 503])
async def test_vault_errors_raise_without_details(
    reader: CredentialsReader, vault: FakeVault, status: int
) -> None:
    vault.status = status
    with pytest.raises(CredentialsUnavailableError, match=str(status)):
        await reader.get("s1")
    vault.status = None
    vault.secrets["s1"] = (1, {"app_key": "k"})
    assert await reader.get("s1") is not None  # a failure is not cached


async def test_unreachable_vault(vault: FakeVault) -> None:
    vault.down = True
    reader = reader_of(vault)
    with pytest.raises(CredentialsUnavailableError, match="unreachable"):
        await reader.get("s1")
