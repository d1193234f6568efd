"""The service layer on fakes: credentials, checks, store lifecycle, OAuth state."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from credential_vault.adapters.memory import MemorySecretStore, MemoryUnitOfWork, ScriptedChecker
from credential_vault.app.ports import CheckResult
from credential_vault.app.services import CredentialService
from credential_vault.domain.errors import (
    CredentialsNotSet,
    InvalidCredentials,
    InvalidOAuthState,
    PlatformMismatch,
    SecretStoreUnavailable,
    StoreNotFound,
    UnsupportedPlatform,
)
from credential_vault.domain.model import StoreView

from kervan_contracts import topics
from kervan_contracts.credentials.v1 import (
    ApiStatus,
    ApiStatusChanged,
    CredentialField,
    CredentialsChanged,
)
from kervan_contracts.identifiers import Platform

TRENDYOL = {"seller_id": "1001", "api_key": "key-1", "api_secret": "secret-1"}
AddStore = Callable[..., Any]


def events(uow: MemoryUnitOfWork, kind: type[Any]) -> list[Any]:
    return [e.payload for e in uow.state.events if isinstance(e.payload, kind)]


async def test_put_stores_in_vault_and_publishes_names_only(
    service: CredentialService, uow: MemoryUnitOfWork, vault: MemorySecretStore, add_store: AddStore
) -> None:
    await add_store("s1", "trendyol")
    metadata = await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    assert vault.secrets["s1"].fields == TRENDYOL
    assert metadata.vault_version == 1
    assert metadata.fields_set == ("api_key", "api_secret", "seller_id")
    assert uow.state.metadata["s1"] == metadata
    [changed] = events(uow, CredentialsChanged)
    assert changed.version == 1
    assert changed.fields_set == sorted(
        [CredentialField.API_KEY, CredentialField.API_SECRET, CredentialField.SELLER_ID]
    )
    again = await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    assert again.vault_version == 2
    assert again.fingerprint == metadata.fingerprint  # same values, same fingerprint


async def test_put_refuses_unknown_store_wrong_platform_and_bad_fields(
    service: CredentialService, uow: MemoryUnitOfWork, vault: MemorySecretStore, add_store: AddStore
) -> None:
    await add_store("s1", "trendyol")
    with pytest.raises(StoreNotFound):
        await service.put_credentials("nope", Platform.TRENDYOL, TRENDYOL, "admin")
    with pytest.raises(PlatformMismatch):
        await service.put_credentials("s1", Platform.N11, {"app_key": "a", "app_secret": "b"}, "a")
    with pytest.raises(InvalidCredentials):
        await service.put_credentials("s1", Platform.TRENDYOL, {"api_key": "k"}, "admin")
    assert vault.secrets == {}
    assert uow.state.metadata == {}
    assert events(uow, CredentialsChanged) == []


async def test_vault_down_changes_nothing_and_recovers(
    service: CredentialService, uow: MemoryUnitOfWork, vault: MemorySecretStore, add_store: AddStore
) -> None:
    await add_store("s1", "trendyol")
    vault.available = False
    with pytest.raises(SecretStoreUnavailable):
        await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    assert uow.state.metadata == {}
    assert events(uow, CredentialsChanged) == []
    vault.available = True
    assert (
        await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "a")
    ).vault_version == 1


async def test_delete_destroys_and_marks_status_unknown(
    service: CredentialService, uow: MemoryUnitOfWork, vault: MemorySecretStore, add_store: AddStore
) -> None:
    await add_store("s1", "trendyol")
    await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    await service.delete_credentials("s1", "admin")
    assert "s1" not in vault.secrets
    with pytest.raises(CredentialsNotSet):
        await service.get_metadata("s1")
    deleted = events(uow, CredentialsChanged)[-1]
    assert deleted.deleted
    assert deleted.version == 1
    assert deleted.fields_set == []
    status = events(uow, ApiStatusChanged)[-1]
    assert (status.status, status.reason_code) == (ApiStatus.UNKNOWN, "credentials_missing")
    with pytest.raises(CredentialsNotSet):
        await service.delete_credentials("s1", "admin")


async def test_credentials_entered_again_after_a_delete_get_a_higher_version(
    service: CredentialService, uow: MemoryUnitOfWork, vault: MemorySecretStore, add_store: AddStore
) -> None:
    await add_store("s1", "trendyol")
    await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    await service.delete_credentials("s1", "admin")
    assert await vault.read("s1") is None
    again = await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    assert again.vault_version == 3
    versions = [(e.version, e.deleted) for e in events(uow, CredentialsChanged)]
    # Consumers keep the higher version: the re-entered credentials must beat the deletion.
    assert versions == [(1, False), (2, False), (2, True), (3, False)]


@pytest.mark.parametrize(
    ("result", "status", "reason"),
    [
        (CheckResult(valid=True), ApiStatus.VALID, None),
        (CheckResult(valid=False, reason_code="auth_rejected"), ApiStatus.INVALID, "auth_rejected"),
        (CheckResult(valid=False, reason_code="forbidden"), ApiStatus.INVALID, "forbidden"),
        (
            CheckResult(valid=False, reason_code="platform_unreachable"),
            ApiStatus.UNKNOWN,
            "platform_unreachable",
        ),
    ],
)
async def test_check_records_and_publishes_the_verdict(
    service: CredentialService,
    uow: MemoryUnitOfWork,
    checker: ScriptedChecker,
    add_store: AddStore,
    result: CheckResult,
    status: ApiStatus,
    reason: str | None,
) -> None:
    await add_store("s1", "trendyol", test_mode=True)
    await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    checker.results["s1"] = result
    record = await service.test_credentials("s1")
    assert (record.status, record.reason_code, record.test_mode) == (status, reason, True)
    assert checker.calls == [("s1", True, TRENDYOL)]
    published = events(uow, ApiStatusChanged)[-1]
    assert (published.status, published.reason_code) == (status, reason)
    assert (await service.get_status("s1")).status is status


async def test_check_without_credentials_is_refused(
    service: CredentialService, add_store: AddStore
) -> None:
    await add_store("s1", "trendyol")
    with pytest.raises(CredentialsNotSet):
        await service.test_credentials("s1")


async def test_store_events_project_by_version_once(
    service: CredentialService, uow: MemoryUnitOfWork, snapshot: Callable[..., Any]
) -> None:
    event_id = uuid.uuid4()
    created = snapshot("s1", "n11", version=1)
    assert not await service.apply_store_event(
        created, deleted=False, event_id=event_id, correlation_id="c1"
    )
    [unknown] = events(uow, ApiStatusChanged)
    assert (unknown.status, unknown.reason_code) == (ApiStatus.UNKNOWN, "not_checked")
    assert uow.state.events[0].causation_id == event_id
    # Redelivery and a stale version change nothing.
    await service.apply_store_event(created, deleted=False, event_id=event_id, correlation_id=None)
    await service.apply_store_event(
        snapshot("s1", "n11", version=1, test_mode=True),
        deleted=False,
        event_id=uuid.uuid4(),
        correlation_id=None,
    )
    assert uow.state.stores["s1"] == StoreView("s1", Platform.N11, False, 1)
    assert len(uow.state.events) == 1


async def test_test_mode_change_asks_for_a_recheck_only_with_credentials(
    service: CredentialService, snapshot: Callable[..., Any], add_store: AddStore
) -> None:
    await add_store("s1", "trendyol", version=1)
    flip = snapshot("s1", "trendyol", version=2, test_mode=True)
    assert not await service.apply_store_event(
        flip, deleted=False, event_id=uuid.uuid4(), correlation_id=None
    )
    await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    back = snapshot("s1", "trendyol", version=3, test_mode=False)
    assert await service.apply_store_event(
        back, deleted=False, event_id=uuid.uuid4(), correlation_id=None
    )
    same_mode = snapshot("s1", "trendyol", version=4, test_mode=False)
    assert not await service.apply_store_event(
        same_mode, deleted=False, event_id=uuid.uuid4(), correlation_id=None
    )


async def test_deleted_store_loses_secrets_and_status(
    service: CredentialService,
    uow: MemoryUnitOfWork,
    vault: MemorySecretStore,
    snapshot: Callable[..., Any],
    add_store: AddStore,
) -> None:
    await add_store("s1", "trendyol", version=1)
    await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    await service.apply_store_event(
        snapshot("s1", "trendyol", version=2),
        deleted=True,
        event_id=uuid.uuid4(),
        correlation_id=None,
    )
    assert vault.secrets == {}
    assert vault.versions == {}  # the store id is never reused: its numbering goes too
    assert uow.state.metadata == {}
    assert uow.state.statuses == {}
    assert events(uow, CredentialsChanged)[-1].deleted
    assert events(uow, ApiStatusChanged)[-1].reason_code == "store_deleted"
    assert uow.state.tombstones == [(topics.API_STATUS, "s1"), (topics.CREDENTIALS, "s1")]
    with pytest.raises(StoreNotFound):
        await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")


async def test_recheck_all_checks_every_store_with_credentials(
    service: CredentialService, checker: ScriptedChecker, add_store: AddStore
) -> None:
    for store_id in ("a", "b", "c"):
        await add_store(store_id, "trendyol")
    for store_id in ("a", "c"):
        await service.put_credentials(store_id, Platform.TRENDYOL, TRENDYOL, "admin")
    assert await service.recheck_all() == 2
    assert [call[0] for call in checker.calls] == ["a", "c"]


class FakeConsent:
    def __init__(self) -> None:
        self.exchanged: list[str] = []

    def start_url(
        self, store: StoreView, fields: Mapping[str, str], state: str, redirect_uri: str
    ) -> str:
        return f"https://consent.example/?state={state}&redirect_uri={redirect_uri}"

    async def exchange(
        self, store: StoreView, fields: Mapping[str, str], code: str, redirect_uri: str
    ) -> dict[str, str]:
        self.exchanged.append(code)
        return {"refresh_token": f"refresh-for-{code}"}


@pytest.fixture
def oauth_service(
    uow: MemoryUnitOfWork, vault: MemorySecretStore, checker: ScriptedChecker
) -> CredentialService:
    return CredentialService(
        uow=uow,
        secret_store=vault,
        checker=checker,
        fingerprint_key=b"k" * 32,
        consent=FakeConsent(),
        oauth_redirect_uri="https://kervan.example/v1/oauth/{platform}/callback",
    )


def state_of(url: str) -> str:
    return url.split("state=")[1].split("&", maxsplit=1)[0]


async def test_oauth_state_is_single_use_and_signed(
    oauth_service: CredentialService, vault: MemorySecretStore, snapshot: Callable[..., Any]
) -> None:
    await oauth_service.apply_store_event(
        snapshot("az", "amazon_tr"), deleted=False, event_id=uuid.uuid4(), correlation_id=None
    )
    url = await oauth_service.oauth_start(Platform.AMAZON_TR, "az")
    assert "redirect_uri=https://kervan.example/v1/oauth/amazon_tr/callback" in url
    state = state_of(url)
    with pytest.raises(InvalidOAuthState):  # forged: right shape, wrong signature
        await oauth_service.oauth_callback(
            Platform.AMAZON_TR, state[:-2] + "xx", "code", {"selling_partner_id": "A1"}
        )
    with pytest.raises(InvalidOAuthState):  # not even ASCII
        await oauth_service.oauth_callback(Platform.AMAZON_TR, "\u00e7.\u00fc", "code", {})
    with pytest.raises(InvalidOAuthState):  # signed for another platform
        await oauth_service.oauth_callback(Platform.IDEASOFT, state, "code", {})
    metadata = await oauth_service.oauth_callback(
        Platform.AMAZON_TR, state, "code-1", {"selling_partner_id": "A1"}
    )
    assert metadata.updated_by == "oauth:amazon_tr"
    assert vault.secrets["az"].fields == {
        "selling_partner_id": "A1",
        "refresh_token": "refresh-for-code-1",
    }
    with pytest.raises(InvalidOAuthState):  # replayed
        await oauth_service.oauth_callback(
            Platform.AMAZON_TR, state, "code-1", {"selling_partner_id": "A1"}
        )


async def test_oauth_state_expires(
    oauth_service: CredentialService, snapshot: Callable[..., Any]
) -> None:
    await oauth_service.apply_store_event(
        snapshot("az", "amazon_tr"), deleted=False, event_id=uuid.uuid4(), correlation_id=None
    )
    state = state_of(await oauth_service.oauth_start(Platform.AMAZON_TR, "az"))
    later = datetime.now(UTC) + timedelta(minutes=11)
    oauth_service.clock = lambda: later
    with pytest.raises(InvalidOAuthState):
        await oauth_service.oauth_callback(Platform.AMAZON_TR, state, "c", {})


async def test_oauth_needs_an_oauth_platform_and_ideasoft_client_fields(
    oauth_service: CredentialService, snapshot: Callable[..., Any]
) -> None:
    for store_id, platform in (("ty", "trendyol"), ("is", "ideasoft")):
        await oauth_service.apply_store_event(
            snapshot(store_id, platform), deleted=False, event_id=uuid.uuid4(), correlation_id=None
        )
    with pytest.raises(UnsupportedPlatform):
        await oauth_service.oauth_start(Platform.TRENDYOL, "ty")
    with pytest.raises(CredentialsNotSet):
        await oauth_service.oauth_start(Platform.IDEASOFT, "is")
    with pytest.raises(PlatformMismatch):
        await oauth_service.oauth_start(Platform.AMAZON_TR, "is")
