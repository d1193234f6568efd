"""CredentialsReader against testkit's in-memory Vault (httpx.MockTransport): caching,
invalidation, and the re-read after a platform refused the credentials (`refresh`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import structlog

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_servicekit.credentials import CredentialsReader, CredentialsUnavailableError
from kervan_testkit.vault import VAULT_TOKEN, FakeVault
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


async def test_refresh_after_a_rejection_returns_and_caches_a_newer_version(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    """A rotation no event has announced yet: the re-read finds it, and it is cached."""
    vault.write("s1", app_key="old")
    held = await reader.get("s1")
    assert held is not None
    vault.write("s1", app_key="new")
    fresh = await reader.refresh("s1", rejected_version=held.version)
    assert fresh is not None
    assert (fresh.version, fresh.value("app_key")) == (2, "new")
    assert await reader.get("s1") is fresh
    assert vault.reads == ["s1", "s1"]


async def test_refresh_bypasses_a_cached_entry_that_is_not_expired(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.write("s1", app_key="old")
    await reader.get("s1")
    await reader.get("s1")
    vault.write("s1", app_key="new")
    assert await reader.refresh("s1", rejected_version=1) is not None
    assert vault.reads == ["s1", "s1"]


async def test_refresh_finding_the_rejected_version_returns_none_and_drops_it(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.write("s1", app_key="old")
    await reader.get("s1")
    assert await reader.refresh("s1", rejected_version=1) is None
    assert vault.reads == ["s1", "s1"]
    # The refused copy is not served again: the next use reads Vault (a fix may land there).
    vault.write("s1", app_key="fixed")
    fresh = await reader.get("s1")
    assert fresh is not None
    assert fresh.value("app_key") == "fixed"
    assert vault.reads == ["s1", "s1", "s1"]


async def test_refresh_finding_no_secret_returns_none(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.write("s1", app_key="old")
    await reader.get("s1")
    vault.write("s1", app_key="new")
    vault.delete("s1")
    assert await reader.refresh("s1", rejected_version=1) is None
    assert await reader.refresh("never-written", rejected_version=1) is None


async def test_refresh_with_vault_down_is_none_logged_without_secrets_and_drops_the_entry(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.write("s1", app_key="old-secret-value")
    await reader.get("s1")
    vault.down = True
    with structlog.testing.capture_logs() as logs:
        assert await reader.refresh("s1", rejected_version=1) is None
    assert [(e["event"], e["store_id"]) for e in logs] == [
        ("credentials not re-read after a rejection", "s1")
    ]
    assert "unreachable" in logs[0]["reason"]
    for secret in ("old-secret-value", VAULT_TOKEN):
        assert secret not in repr(logs)
    vault.down = False
    await reader.get("s1")
    assert vault.reads == ["s1", "s1"]


async def test_refresh_logs_the_versions_of_a_newer_read_never_the_values(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    vault.write("s1", app_key="old-secret-value")
    await reader.get("s1")
    vault.write("s1", app_key="new-secret-value")
    with structlog.testing.capture_logs() as logs:
        await reader.refresh("s1", rejected_version=1)
    assert [(e["event"], e["rejected_version"], e["version"]) for e in logs] == [
        ("credentials refused, a newer version read", 1, 2)
    ]
    assert "secret-value" not in repr(logs)


async def test_a_read_during_a_refresh_waits_for_it_and_never_gets_the_refused_copy(
    reader: CredentialsReader, vault: FakeVault
) -> None:
    """The refused entry is gone as soon as the refresh starts; a use meanwhile waits on the
    store's lock and gets what the refresh cached, without a third read."""
    vault.write("s1", app_key="old")
    await reader.get("s1")
    vault.write("s1", app_key="new")
    vault.gate = asyncio.Event()
    refreshing = asyncio.create_task(reader.refresh("s1", rejected_version=1))
    while len(vault.reads) < 2:  # the refresh is inside Vault, holding the store's lock
        await asyncio.sleep(0)
    getting = asyncio.create_task(reader.get("s1"))
    await asyncio.sleep(0)  # let the miss reach the lock
    vault.gate.set()
    fresh, got = await asyncio.gather(refreshing, getting)
    assert fresh is not None
    assert got is fresh
    assert vault.reads == ["s1", "s1"]
