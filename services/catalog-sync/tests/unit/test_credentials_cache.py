"""Cached credentials against the shared `credential_versions` projection, on servicekit's
real CredentialsReader over an in-memory Vault (KV v2 over httpx.MockTransport).

The consumer group hands each `CredentialsChanged` to one replica only. Here the event went
to "another replica": it is written straight into the projection and never reaches this
process's reader, so only the projection row the push reads with the store can tell this
replica that its cached copy is stale. Until that replica commits the version, a 401/403
for the cached copy makes the pusher read Vault once more and send with the newer version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, cast

import pytest
import structlog
from catalog_sync.adapters.marketplace import CredentialsSource, FactoryAdapterProvider
from catalog_sync.adapters.telemetry import PrometheusTelemetry
from catalog_sync.app.ports import Batch, ItemResult, StoreSyncState, UnitOfWork
from catalog_sync.app.pusher import PushContext, follow_batches, push_store
from catalog_sync.domain.catalog import ApiState, CredentialsVersion, StoreView
from catalog_sync.domain.push_plan import FieldLedger, SkuFacts
from prometheus_client import CollectorRegistry

from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_contracts.sync.v1 import PushedField, PushKind
from kervan_marketplaces import (
    AdapterFactory,
    AuthRejected,
    BatchHandle,
    BatchResult,
    ItemOutcome,
    MarketplaceAdapter,
    OutcomeState,
    PriceStockItem,
    ProductInfoItem,
    capabilities_of,
)
from kervan_testkit.vault import VAULT_TOKEN, FakeVault, reader

from .builders import NOW, facts, store, valid_api


class FakeAdapter:
    """What a push round and a batch follow-up ask of an adapter; the platform refuses the
    credentials (401) when `refused`, and every push is noted with the app key it used."""

    def __init__(self, platform: Platform, app_key: str, refused: bool, pushes: list[str]) -> None:
        self.capabilities = capabilities_of(platform.value)
        self._app_key, self._refused, self._pushes = app_key, refused, pushes

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        return self._push(PushKind.PRICE_STOCK)

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        return self._push(PushKind.PRODUCT_INFO)

    def _push(self, kind: PushKind) -> BatchHandle:
        self._pushes.append(self._app_key)
        if self._refused:
            raise AuthRejected("401", platform="n11", status=401)
        return BatchHandle(platform="n11", kind=kind.value, refs={"task": f"t-{kind.value}"})

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        return BatchResult(
            handle=handle, items=(ItemOutcome(sku="SKU-1", state=OutcomeState.PENDING),)
        )


@dataclass
class RecordingFactory:
    """AdapterFactory stand-in: records the credentials each adapter was built with and the
    pushes made; the platform refuses the app keys in `refused`."""

    used: list[dict[str, str]] = field(default_factory=list)
    pushes: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)

    def create_for_store(self, platform: str, **kwargs: Any) -> MarketplaceAdapter:
        credentials = dict(kwargs["credentials"])
        self.used.append(credentials)
        key = credentials["app_key"]
        adapter = FakeAdapter(Platform(platform), key, key in self.refused, self.pushes)
        return cast(MarketplaceAdapter, adapter)


@dataclass
class Database:
    """The rows a push round and a batch follow-up read, shared by every "replica"."""

    stores: dict[str, StoreView] = field(default_factory=dict)
    api: dict[str, ApiState] = field(default_factory=dict)
    sync: dict[str, StoreSyncState] = field(default_factory=dict)
    credentials: dict[str, CredentialsVersion] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    dirty: dict[str, set[str]] = field(default_factory=dict)
    """SKUs queued per store (every SKU's facts: `facts()`, never pushed before)."""
    submitted: list[str] = field(default_factory=list)
    """Kinds of the batches the platform took, in order."""
    failed: list[str | None] = field(default_factory=list)
    """Error of each batch settled without reaching the platform."""


class PushUnitOfWork:
    """The part of UnitOfWork that `push_store` (nothing queued) and `follow_batches` use."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        return None

    async def store_with_credentials(
        self, store_id: str
    ) -> tuple[StoreView | None, CredentialsVersion | None]:
        found = self._db.stores.get(store_id)
        return (found, self._db.credentials.get(store_id)) if found else (None, None)

    async def api_state(self, store_id: str) -> ApiState | None:
        return self._db.api.get(store_id)

    async def sync_state(self, store_id: str) -> StoreSyncState:
        return self._db.sync.get(store_id, StoreSyncState())

    async def save_sync_state(self, store_id: str, state: StoreSyncState) -> None:
        self._db.sync[store_id] = state

    async def listing_import_due(self, store_id: str, now: datetime, retry: timedelta) -> bool:
        return False

    async def due_dirty(self, store_id: str, now: datetime, limit: int) -> list[str]:
        return sorted(self._db.dirty.get(store_id, set()))[:limit]

    async def sku_facts(self, store: StoreView, skus: Sequence[str]) -> list[SkuFacts]:
        return [facts(sku=sku) for sku in skus]

    async def clear_dirty(self, store_id: str, skus: Sequence[str]) -> None:
        self._db.dirty.get(store_id, set()).difference_update(skus)

    async def mark_dirty(self, store_id: str, skus: Sequence[str], due_at: datetime) -> None:
        self._db.dirty.setdefault(store_id, set()).update(skus)

    async def insert_batch(self, batch: Batch) -> None:
        return None

    async def save_ledger(
        self, store_id: str, sku: str, pushed: PushedField, ledger: FieldLedger
    ) -> None:
        return None

    async def save_payload(
        self, store_id: str, sku: str, fingerprint: str, sent_at: datetime
    ) -> None:
        return None

    async def sku_ledger(self, store_id: str, sku: str) -> dict[PushedField, FieldLedger]:
        return {}

    async def mark_submitted(
        self,
        batch_id: str,
        handle: Mapping[str, Any],
        platform_ref: str | None,
        submitted_at: datetime,
        next_check_at: datetime,
    ) -> None:
        self._db.submitted.append(str(handle["kind"]))

    async def finish_batch(
        self, batch_id: str, results: Sequence[ItemResult], at: datetime, error: str | None
    ) -> None:
        self._db.failed.append(error)

    async def publish(self, payload: EventPayload, *, correlation_id: str | None = None) -> None:
        return None

    async def due_batches(self, now: datetime, limit: int, store_ids: Any = None) -> list[Batch]:
        return list(self._db.batches)

    async def schedule_check(self, batch_id: str, next_check_at: datetime) -> None:
        self._db.checks.append(batch_id)


class Replica:
    """One catalog-sync process: its own reader (cache) over the shared database and Vault."""

    def __init__(self, db: Database, vault: FakeVault) -> None:
        self.factory = RecordingFactory()
        self.reader = reader(vault)
        self.registry = CollectorRegistry()
        self.ctx = PushContext(
            uow=lambda: cast(UnitOfWork, PushUnitOfWork(db)),
            adapters=FactoryAdapterProvider(
                cast(AdapterFactory, self.factory), CredentialsSource(self.reader)
            ),
            clock=lambda: NOW,
            telemetry=PrometheusTelemetry(self.registry),
        )

    def keys_used(self) -> list[str]:
        return [credentials["app_key"] for credentials in self.factory.used]

    def resolved(self) -> float | None:
        """kervan_catalog_sync_auth_rejections_resolved_total of s1 (None: never counted)."""
        return self.registry.get_sample_value(
            "kervan_catalog_sync_auth_rejections_resolved_total", {"store_id": "s1"}
        )


@dataclass
class World:
    db: Database
    vault: FakeVault
    replica: Replica

    def recorded_elsewhere(self, version: int, *, deleted: bool = False) -> None:
        """Another replica consumed the event: the projection has it, this reader does not."""
        self.db.credentials["s1"] = CredentialsVersion(version, deleted)

    def queue(self, *skus: str) -> None:
        """SKUs of s1 waiting for a push."""
        self.db.dirty.setdefault("s1", set()).update(skus)

    def pause_reason(self) -> str | None:
        return self.db.sync.get("s1", StoreSyncState()).pause_reason


def submitted_batch(batch_id: str, store_id: str) -> Batch:
    """An n11 price/stock batch the platform accepted and has not finished yet."""
    handle = BatchHandle(platform="n11", kind="price_stock", refs={"task": batch_id})
    return Batch(
        batch_id=batch_id,
        store_id=store_id,
        platform="n11",
        kind=PushKind.PRICE_STOCK,
        status="submitted",
        created_at=NOW,
        items=(),
        handle=handle.model_dump(mode="json"),
        submitted_at=NOW,
    )


@pytest.fixture
def world() -> World:
    db = Database(stores={"s1": store()}, api={"s1": valid_api()})
    vault = FakeVault()
    return World(db, vault, Replica(db, vault))


async def test_a_rotation_another_replica_consumed_reaches_this_replicas_next_push(
    world: World,
) -> None:
    world.recorded_elsewhere(world.vault.write("s1", app_key="k1", app_secret="s"))
    await push_store("s1", world.replica.ctx)
    await push_store("s1", world.replica.ctx)  # cached
    world.recorded_elsewhere(world.vault.write("s1", app_key="k2", app_secret="s"))
    await push_store("s1", world.replica.ctx)
    await push_store("s1", world.replica.ctx)  # version 2 is cached now
    assert world.replica.keys_used() == ["k1", "k1", "k2", "k2"]
    assert world.vault.reads == ["s1", "s1"]


async def test_a_deletion_another_replica_consumed_stops_this_replica_using_the_secret(
    world: World,
) -> None:
    world.vault.write("s1", app_key="k1", app_secret="s")
    await push_store("s1", world.replica.ctx)
    world.recorded_elsewhere(world.vault.delete("s1"), deleted=True)
    round_ = await push_store("s1", world.replica.ctx)
    assert round_.skipped_reason == "missing_credentials"
    assert world.db.sync["s1"].pause_reason == "missing_credentials"
    assert world.replica.keys_used() == ["k1"]
    assert world.vault.reads == ["s1", "s1"]


async def test_a_projection_not_newer_than_the_cache_reads_nothing_from_vault(
    world: World,
) -> None:
    version = world.vault.write("s1", app_key="k1", app_secret="s")
    await push_store("s1", world.replica.ctx)  # no projection row yet: first read
    world.recorded_elsewhere(version)
    await push_store("s1", world.replica.ctx)
    world.recorded_elsewhere(version - 1, deleted=True)  # an older deletion, replayed
    await push_store("s1", world.replica.ctx)
    # Credentials written to Vault whose event no replica has consumed yet: the cached copy
    # (version 1) is still what the projection knows of.
    world.vault.write("s1", app_key="k2", app_secret="s")
    await push_store("s1", world.replica.ctx)
    assert world.replica.keys_used() == ["k1"] * 4
    assert world.vault.reads == ["s1"]


async def test_the_projection_also_reaches_the_follow_up_of_an_open_batch(
    world: World,
) -> None:
    world.vault.write("s1", app_key="k1", app_secret="s")
    await push_store("s1", world.replica.ctx)
    world.recorded_elsewhere(world.vault.write("s1", app_key="k2", app_secret="s"))
    world.db.batches.append(submitted_batch("b-1", "s1"))
    assert await follow_batches(world.replica.ctx) == 1
    assert world.db.checks == ["b-1"]  # still pending: looked at again later
    assert world.replica.keys_used() == ["k1", "k2"]


async def test_vault_down_skips_the_push_without_pausing_the_store(world: World) -> None:
    world.vault.down = True
    round_ = await push_store("s1", world.replica.ctx)
    assert round_.skipped_reason == "credentials_unavailable"
    assert world.db.sync.get("s1", StoreSyncState()).paused_until is None
    world.vault.down = False
    world.vault.write("s1", app_key="k1", app_secret="s")
    await push_store("s1", world.replica.ctx)  # the next round pushes as soon as Vault answers
    assert world.replica.keys_used() == ["k1"]


async def test_a_store_whose_credentials_cannot_be_read_does_not_hold_up_the_others_follow_up(
    world: World,
) -> None:
    world.db.stores["s2"] = replace(store(), store_id="s2")
    world.db.api["s2"] = valid_api()
    world.vault.write("s2", app_key="k2", app_secret="s")
    await push_store("s2", world.replica.ctx)  # s2's credentials are cached, s1's are not
    world.vault.down = True
    world.db.batches += [submitted_batch("b-1", "s1"), submitted_batch("b-2", "s2")]
    assert await follow_batches(world.replica.ctx) == 2
    # s1's batch is looked at again later; s2's was read with its cached credentials.
    assert world.db.checks == ["b-1", "b-2"]
    assert world.replica.keys_used() == ["k2", "k2"]


async def test_a_401_for_credentials_vault_has_replaced_sends_with_the_new_ones(
    world: World,
) -> None:
    """Rotated in Vault, no replica has recorded it yet, and the platform already refuses the
    old credentials: the batch goes out with the new version and the store is not paused."""
    world.db.stores["s1"] = store(update_type=AutoUpdateType.STOCK_AND_PRICE)  # one batch
    world.vault.write("s1", app_key="k1", app_secret="s")
    world.queue("SKU-1")
    await push_store("s1", world.replica.ctx)  # caches version 1
    world.vault.write("s1", app_key="k2", app_secret="s")
    world.replica.factory.refused = {"k1"}
    world.queue("SKU-1")
    with structlog.testing.capture_logs() as logs:
        round_ = await push_store("s1", world.replica.ctx)
    assert round_.skipped_reason is None
    assert world.replica.factory.pushes == ["k1", "k1", "k2"]
    assert world.db.submitted == ["price_stock", "price_stock"]
    assert world.db.failed == []
    assert world.pause_reason() is None
    assert world.replica.resolved() == 1
    retry = [e for e in logs if e["event"] == "credentials refused, a newer version read"]
    assert [(e["rejected_version"], e["version"]) for e in retry] == [(1, 2)]
    assert "k2" not in repr(logs)
    # The new version is cached: the next round reads nothing from Vault.
    world.queue("SKU-1")
    await push_store("s1", world.replica.ctx)
    assert world.replica.factory.pushes[-1] == "k2"
    assert world.vault.reads == ["s1", "s1"]


async def test_the_rest_of_the_round_goes_out_with_the_renewed_credentials(
    world: World,
) -> None:
    """One re-read per round: the batches after the refused one use the new adapter."""
    world.vault.write("s1", app_key="k1", app_secret="s")
    await push_store("s1", world.replica.ctx)  # nothing queued: caches version 1
    world.vault.write("s1", app_key="k2", app_secret="s")
    world.replica.factory.refused = {"k1"}
    world.queue("SKU-1")
    await push_store("s1", world.replica.ctx)
    assert world.replica.factory.pushes == ["k1", "k2", "k2"]
    assert world.db.submitted == ["price_stock", "product_info"]
    assert world.vault.reads == ["s1", "s1"]
    assert world.pause_reason() is None


async def test_a_401_when_vault_holds_the_same_version_pauses_the_store(world: World) -> None:
    world.db.stores["s1"] = store(update_type=AutoUpdateType.STOCK_AND_PRICE)  # one batch
    world.vault.write("s1", app_key="k1", app_secret="s")
    world.replica.factory.refused = {"k1"}
    world.queue("SKU-1")
    await push_store("s1", world.replica.ctx)
    assert world.replica.factory.pushes == ["k1"]  # no retry
    assert world.vault.reads == ["s1", "s1"]  # one re-read
    assert world.pause_reason() == "auth_rejected"
    assert world.db.failed == ["auth_rejected"]
    assert world.replica.resolved() is None


async def test_new_credentials_refused_too_pause_the_store_after_one_retry(world: World) -> None:
    world.db.stores["s1"] = store()  # price/stock and product info: two batches, one retry
    world.vault.write("s1", app_key="k1", app_secret="s")
    await push_store("s1", world.replica.ctx)
    world.vault.write("s1", app_key="k2", app_secret="s")
    world.replica.factory.refused = {"k1", "k2"}
    world.queue("SKU-1")
    await push_store("s1", world.replica.ctx)
    assert world.replica.factory.pushes == ["k1", "k2", "k2"]
    assert world.vault.reads == ["s1", "s1"]
    assert world.pause_reason() == "auth_rejected"
    assert world.db.submitted == []
    assert world.db.failed == ["auth_rejected", "auth_rejected"]
    assert world.replica.resolved() is None


async def test_a_401_with_vault_unreadable_pauses_the_store_without_showing_secrets(
    world: World,
) -> None:
    world.vault.write("s1", app_key="k1-secret-value", app_secret="s")
    await push_store("s1", world.replica.ctx)
    world.replica.factory.refused = {"k1-secret-value"}
    world.vault.down = True
    world.queue("SKU-1")
    with structlog.testing.capture_logs() as logs:
        await push_store("s1", world.replica.ctx)
    assert world.pause_reason() == "auth_rejected"
    assert "credentials not re-read after a rejection" in [e["event"] for e in logs]
    for secret in (VAULT_TOKEN, "k1-secret-value"):
        assert secret not in repr(logs)
