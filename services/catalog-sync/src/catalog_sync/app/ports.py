"""What the service layer needs from the outside: the unit of work, adapters, clock, telemetry."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from catalog_sync.domain.catalog import (
    ApiState,
    CredentialsVersion,
    ListingIdentity,
    Price,
    Product,
    StoreView,
)
from catalog_sync.domain.push_plan import FieldLedger, SkuFacts
from catalog_sync.domain.stock import StockPosition
from kervan_contracts.event import EventPayload
from kervan_contracts.sync.v1 import PushedField, PushKind, PushOutcome
from kervan_marketplaces import StoreAdapter

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One SKU of a batch: the fields sent and their values (ledger text)."""

    sku: str
    values: Mapping[PushedField, str]
    fingerprint: str | None = None
    """Price/stock payload fingerprint (Trendyol's repeat rule); None for product info."""


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch as stored in the ledger."""

    batch_id: str
    store_id: str
    platform: str
    kind: PushKind
    status: str
    created_at: datetime
    items: tuple[BatchItem, ...]
    handle: Mapping[str, Any] | None = None
    platform_ref: str | None = None
    submitted_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """Settled outcome of one item of a batch."""

    sku: str
    outcome: PushOutcome
    reason_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class StoreSyncState:
    """Pause and last-push bookkeeping of a store."""

    paused_until: datetime | None = None
    pause_reason: str | None = None
    last_push_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class MovementView:
    """A movement as the explain API shows it."""

    movement_id: str
    state: str
    delta: int | None
    occurred_at: datetime
    origin: str | None


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """A batch with its counts, for the sync health view."""

    batch: Batch
    counts: Mapping[str, int] = field(default_factory=dict)


class UnitOfWork(Protocol):
    """One transaction over catalog-sync's schema (`async with uow: ...; await uow.commit()`)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Commit; leaving the block without it rolls back."""

    async def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Inbox: False when this consumer already applied the event."""

    async def publish(self, payload: EventPayload, *, correlation_id: str | None = None) -> None:
        """Outbox: publish an event when the transaction commits."""

    # stores, API status, credentials
    async def store(self, store_id: str) -> StoreView | None: ...
    async def store_with_credentials(
        self, store_id: str
    ) -> tuple[StoreView | None, CredentialsVersion | None]:
        """A live store and, read with it, the latest credentials version recorded for it
        (whichever replica consumed the event); (None, None) for an unknown store."""

    async def stores(self) -> list[StoreView]: ...
    async def save_store(self, store: StoreView) -> bool:
        """Upsert when the version is newer; False for an older or equal version."""

    async def delete_store(self, store_id: str, version: int) -> None: ...
    async def api_state(self, store_id: str) -> ApiState | None: ...
    async def save_api_state(self, store_id: str, state: ApiState) -> bool:
        """Keep the latest check (by `checked_at`); False when older."""

    async def save_credentials_version(
        self, store_id: str, version: int, deleted: bool, changed_at: datetime
    ) -> bool:
        """Keep the highest version; False when not newer."""

    async def sync_state(self, store_id: str) -> StoreSyncState: ...
    async def save_sync_state(self, store_id: str, state: StoreSyncState) -> None: ...

    # catalogue
    async def save_product(self, product: Product, at: datetime) -> bool: ...
    async def product(self, sku: str) -> Product | None: ...
    async def save_price(
        self, sku: str, price_list_id: str, price: Price, at: datetime
    ) -> bool: ...
    async def price(self, sku: str, price_list_id: str) -> Price | None: ...
    async def position(self, warehouse_id: str, sku: str) -> StockPosition:
        """The stock position, locked for the transaction (empty when unknown)."""

    async def save_position(self, position: StockPosition) -> None: ...
    async def movements(self, warehouse_id: str, sku: str) -> list[MovementView]: ...
    async def listing(self, store_id: str, sku: str) -> ListingIdentity | None: ...
    async def save_listing(
        self, store_id: str, sku: str, identity: ListingIdentity, source: str, at: datetime
    ) -> None: ...

    async def save_platform_listings(
        self, store_id: str, listings: Sequence[tuple[str, ListingIdentity]], at: datetime
    ) -> list[str]:
        """Upsert identities read from the platform; a row set through the API is kept.
        Returns the SKUs of the catalogue whose identity changed (they are queued)."""

    async def listing_import_due(self, store_id: str, now: datetime, retry: timedelta) -> bool:
        """True when the store's listings were never read, or the last read failed more than
        `retry` ago."""

    async def save_listing_import(
        self, store_id: str, at: datetime, outcome: str, listings: int, reason: str | None
    ) -> None:
        """Record a read of the store's product list."""

    # dirty queue
    async def mark_dirty_for_product(self, sku: str, now: datetime) -> int: ...
    async def mark_dirty_for_price(self, sku: str, price_list_id: str, now: datetime) -> int: ...
    async def mark_dirty_for_stock(self, sku: str, warehouse_id: str, now: datetime) -> int: ...
    async def mark_store_dirty(self, store_id: str, now: datetime) -> int:
        """Every SKU the store could receive (full resync); returns how many."""

    async def mark_dirty(self, store_id: str, skus: Sequence[str], due_at: datetime) -> None: ...
    async def due_dirty(self, store_id: str, now: datetime, limit: int) -> list[str]: ...
    async def stores_with_due_work(self, now: datetime) -> list[str]: ...
    async def clear_dirty(self, store_id: str, skus: Sequence[str]) -> None: ...
    async def clear_store_dirty(self, store_id: str) -> int: ...
    async def backlog(self) -> dict[str, int]: ...

    # facts and ledger
    async def sku_facts(self, store: StoreView, skus: Sequence[str]) -> list[SkuFacts]: ...
    async def known_skus(self, store: StoreView, limit: int) -> list[str]: ...
    async def sku_ledger(self, store_id: str, sku: str) -> dict[PushedField, FieldLedger]: ...
    async def save_ledger(
        self, store_id: str, sku: str, pushed: PushedField, ledger: FieldLedger
    ) -> None: ...
    async def save_payload(
        self, store_id: str, sku: str, fingerprint: str, sent_at: datetime
    ) -> None: ...
    async def insert_batch(self, batch: Batch) -> None: ...
    async def mark_submitted(
        self,
        batch_id: str,
        handle: Mapping[str, Any],
        platform_ref: str | None,
        at: datetime,
        next_check_at: datetime,
    ) -> None: ...
    async def schedule_check(self, batch_id: str, next_check_at: datetime) -> None: ...
    async def finish_batch(
        self, batch_id: str, results: Sequence[ItemResult], at: datetime, error: str | None
    ) -> None: ...
    async def batch(self, batch_id: str) -> Batch | None: ...
    async def due_batches(
        self, now: datetime, limit: int, store_ids: Collection[str] | None = None
    ) -> list[Batch]:
        """Open batches whose next look is due (of `store_ids` only, when given)."""

    async def holds_lease(self, store_id: str, replica_id: str) -> bool:
        """True when `replica_id` holds a live lease on the store (by the database clock)."""

    async def recent_batches(self, store_id: str, limit: int) -> list[BatchSummary]: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class StoreOwnership(Protocol):
    """Which stores this replica may push (leases; see adapters/leases.py)."""

    @property
    def replica_id(self) -> str:
        """This replica's name in the lease table."""

    def may_send(self, store_id: str) -> bool:
        """True while this replica's lease on the store is safely alive by its own clock."""


class AdapterProvider(Protocol):
    """Marketplace adapters per store (credentials read where they live)."""

    async def adapter_for(self, store: StoreView) -> StoreAdapter:
        """An adapter for the store; raises MissingCredentialsError when it has none (and
        servicekit's `CredentialsUnavailableError` when they cannot be read now)."""

    async def adapter_after_rejection(
        self, store: StoreView, rejected: StoreAdapter
    ) -> StoreAdapter | None:
        """The platform refused `rejected`'s credentials: an adapter with newer ones if they
        are there now (read bypassing the cache); None when they are not or cannot be read now
        (the cached copy is dropped either way)."""

    def invalidate(self, store_id: str) -> None:
        """Forget cached credentials (after a 401/403)."""

    def credentials_recorded(self, store_id: str, recorded: CredentialsVersion) -> bool:
        """Forget the store's cached credentials if the version the shared projection holds
        is newer, or a deletion of the cached ones (only one replica consumes each
        `CredentialsChanged`); True if they were dropped."""


class MissingCredentialsError(Exception):
    """The store has no credentials to call its platform with."""

    code = "missing_credentials"


class PushTelemetry(Protocol):
    """Per-store push metrics."""

    def items(self, store_id: str, outcome: str, count: int) -> None: ...
    def batch(self, store_id: str, kind: str) -> None: ...
    def rate_limited(self, store_id: str) -> None: ...
    def latency(self, store_id: str, seconds: float) -> None: ...
    def backlog(self, by_store: Mapping[str, int]) -> None: ...
    def auth_rejection_resolved(self, store_id: str) -> None: ...


class NoTelemetry:
    """Telemetry that records nothing (tests, tools)."""

    def items(self, store_id: str, outcome: str, count: int) -> None:
        """Nothing."""

    def batch(self, store_id: str, kind: str) -> None:
        """Nothing."""

    def rate_limited(self, store_id: str) -> None:
        """Nothing."""

    def latency(self, store_id: str, seconds: float) -> None:
        """Nothing."""

    def backlog(self, by_store: Mapping[str, int]) -> None:
        """Nothing."""

    def auth_rejection_resolved(self, store_id: str) -> None:
        """Nothing."""
