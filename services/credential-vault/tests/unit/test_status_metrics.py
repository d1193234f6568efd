"""The API status gauge: what a check shows at once, what a reload from the table shows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from credential_vault.adapters.memory import MemorySecretStore, MemoryUnitOfWork, ScriptedChecker
from credential_vault.app.ports import CheckResult
from credential_vault.app.services import CredentialService
from credential_vault.domain.model import StatusRecord
from credential_vault.entrypoints.metrics import ApiStatusGauge
from prometheus_client import CollectorRegistry, generate_latest

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform

from ..conftest import FINGERPRINT_KEY  # noqa: TID252 - shared test key

NAME = "kervan_credential_vault_store_api_status"
TRENDYOL = {"seller_id": "1001", "api_key": "key-1", "api_secret": "secret-1"}
AddStore = Callable[..., Any]


def _gauge() -> tuple[ApiStatusGauge, CollectorRegistry]:
    registry = CollectorRegistry()
    gauge = ApiStatusGauge("kervan_credential_vault")
    registry.register(gauge)
    return gauge, registry


def _current(registry: CollectorRegistry, store_id: str, platform: str) -> dict[str, float]:
    values = {
        status.value: registry.get_sample_value(
            NAME, {"store_id": store_id, "platform": platform, "status": status.value}
        )
        for status in ApiStatus
    }
    return {status: value for status, value in values.items() if value is not None}


async def test_a_failed_first_check_shows_invalid_and_stays_until_a_valid_check(
    service: CredentialService,
    checker: ScriptedChecker,
    add_store: AddStore,
) -> None:
    gauge, registry = _gauge()
    service.on_status = gauge.record
    await add_store("s1", "trendyol")
    await service.put_credentials("s1", Platform.TRENDYOL, TRENDYOL, "admin")
    checker.results["s1"] = CheckResult(valid=False, reason_code="auth_rejected")
    await service.test_credentials("s1")
    assert _current(registry, "s1", "trendyol") == {"valid": 0, "invalid": 1, "unknown": 0}
    await service.test_credentials("s1")  # still broken: still invalid, not cleared
    assert _current(registry, "s1", "trendyol") == {"valid": 0, "invalid": 1, "unknown": 0}
    checker.results["s1"] = CheckResult(valid=True)
    await service.test_credentials("s1")
    assert _current(registry, "s1", "trendyol") == {"valid": 1, "invalid": 0, "unknown": 0}


async def test_a_restarted_process_reports_the_stored_statuses(
    service: CredentialService,
    uow: MemoryUnitOfWork,
    vault: MemorySecretStore,
    checker: ScriptedChecker,
    add_store: AddStore,
) -> None:
    await add_store("bad", "trendyol")
    await add_store("new", "n11")
    await service.put_credentials("bad", Platform.TRENDYOL, TRENDYOL, "admin")
    checker.results["bad"] = CheckResult(valid=False, reason_code="auth_rejected")
    await service.test_credentials("bad")

    # A fresh process on the same database: nothing was checked here, the table is the truth.
    restarted = CredentialService(
        uow=uow, secret_store=vault, checker=checker, fingerprint_key=FINGERPRINT_KEY
    )
    gauge, registry = _gauge()
    gauge.replace(await restarted.list_statuses())
    assert _current(registry, "bad", "trendyol") == {"valid": 0, "invalid": 1, "unknown": 0}
    assert _current(registry, "new", "n11") == {"valid": 0, "invalid": 0, "unknown": 1}
    exposition = generate_latest(registry).decode()
    assert f'{NAME}{{platform="trendyol",status="invalid",store_id="bad"}} 1.0' in exposition


async def test_a_deleted_store_leaves_the_gauge_on_reload(
    service: CredentialService, snapshot: Callable[..., Any], add_store: AddStore
) -> None:
    gauge, registry = _gauge()
    await add_store("s1", "trendyol", version=1)
    await add_store("s2", "n11", version=1)
    gauge.replace(await service.list_statuses())
    assert _current(registry, "s1", "trendyol")
    await service.apply_store_event(
        snapshot("s1", "trendyol", version=2),
        deleted=True,
        event_id=uuid.uuid4(),
        correlation_id=None,
    )
    gauge.replace(await service.list_statuses())
    assert _current(registry, "s1", "trendyol") == {}
    assert _current(registry, "s2", "n11") == {"valid": 0, "invalid": 0, "unknown": 1}


def test_a_reload_read_before_a_local_check_does_not_undo_it() -> None:
    gauge, registry = _gauge()
    t0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def record(status: ApiStatus, at: datetime) -> StatusRecord:
        return StatusRecord("s1", Platform.TRENDYOL, status, None, None, at, test_mode=False)

    gauge.record(record(ApiStatus.INVALID, t0 + timedelta(seconds=5)))
    gauge.replace([record(ApiStatus.VALID, t0)])  # the row as it was before that check
    assert _current(registry, "s1", "trendyol")["invalid"] == 1
    gauge.replace([record(ApiStatus.VALID, t0 + timedelta(seconds=9))])  # another replica, later
    assert _current(registry, "s1", "trendyol")["valid"] == 1
