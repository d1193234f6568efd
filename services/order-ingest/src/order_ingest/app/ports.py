"""Ports of the service layer: repositories, unit of work, credentials, re-test requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.event import EventPayload
from kervan_marketplaces import StoreAdapter
from kervan_servicekit.credentials import StoreCredentials
from order_ingest.domain.order import IngestedOrder
from order_ingest.domain.store import ApiStatusView, CredentialsView, StoreProfile

Clock = Callable[[], datetime]


@dataclass(slots=True)
class IngestState:
    """Polling state of one store: watermark, last outcome, pause."""

    store_id: str
    watermark: datetime | None = None
    settled_watermark: datetime | None = None
    """Everything modified before it was read after it had settled (see domain/window.py)."""
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_outcome: str | None = None
    last_error_code: str | None = None
    paused_reason: str | None = None
    paused_at: datetime | None = None
    orders_ingested: int = 0
    polls: dict[str, int] = field(default_factory=dict)


class StoreRepository(Protocol):
    """Projections of stores, API status and credential versions."""

    async def get(self, store_id: str) -> StoreProfile | None:
        """The projected store, if known."""

    async def upsert(self, profile: StoreProfile) -> bool:
        """Store the profile if its version is newer; True if it was applied."""

    async def delete(self, store_id: str) -> None:
        """Forget a deleted store."""

    async def api_status(self, store_id: str) -> ApiStatusView | None:
        """The latest API status."""

    async def get_with_api_status(
        self, store_id: str
    ) -> tuple[StoreProfile | None, ApiStatusView | None]:
        """`get` and `api_status` in one read (what eligibility needs, before every batch)."""

    async def record_api_status(self, store_id: str, view: ApiStatusView) -> bool:
        """Keep the status if it was checked later than the one held; True if applied."""

    async def record_credentials(self, store_id: str, view: CredentialsView) -> bool:
        """Keep a newer credential version, or a deletion over live ones; True if applied."""

    async def credentials_version(self, store_id: str) -> CredentialsView | None:
        """The latest credential version recorded (by whichever replica consumed it)."""

    async def store_ids(self) -> list[str]:
        """Every projected store."""


class OrderRepository(Protocol):
    """Order aggregates, by natural key."""

    async def get_for_update(self, store_id: str, order_number: str) -> IngestedOrder | None:
        """The order, locked for the rest of the transaction."""

    async def save(self, order: IngestedOrder) -> None:
        """Insert or update the order and its lines."""

    async def get_many_for_update(
        self, store_id: str, order_numbers: Sequence[str]
    ) -> dict[str, IngestedOrder]:
        """The stored ones of these orders by number, locked for the rest of the transaction."""

    async def save_many(self, orders: Sequence[IngestedOrder]) -> None:
        """Insert or update these orders and their lines (one round trip per table)."""

    async def pending_deduction(self, store_id: str) -> list[IngestedOrder]:
        """Orders waiting for a warehouse, locked."""

    async def count_pending_deduction(self, store_id: str) -> int:
        """How many orders wait for a warehouse."""

    async def list_orders(
        self, store_id: str, since: datetime | None, limit: int
    ) -> list[IngestedOrder]:
        """Orders first seen at or after `since`, oldest first."""


class IngestStateRepository(Protocol):
    """Polling state per store."""

    async def lock(self, store_id: str) -> IngestState:
        """The state (created empty if missing), locked: serialises writers of one store."""

    async def get(self, store_id: str) -> IngestState | None:
        """The state, unlocked."""

    async def save(self, state: IngestState) -> None:
        """Write the state back."""

    async def holds_lease(self, store_id: str, replica_id: str) -> bool:
        """Whether `replica_id` holds an unexpired lease on the store."""


class EventSink(Protocol):
    """Events to publish with the transaction (the outbox)."""

    async def add(self, payloads: Sequence[EventPayload], correlation_id: str) -> None:
        """Queue events in the current transaction."""


class UnitOfWork(Protocol):
    """One database transaction: commit explicitly, anything else rolls back."""

    @property
    def stores(self) -> StoreRepository:
        """Projections."""

    @property
    def orders(self) -> OrderRepository:
        """Orders."""

    @property
    def ingest(self) -> IngestStateRepository:
        """Polling state."""

    @property
    def events(self) -> EventSink:
        """The outbox."""

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Commit the transaction."""


UnitOfWorkFactory = Callable[[], UnitOfWork]


class CredentialsSource(Protocol):
    """A store's marketplace credentials, cached per store (values stay `SecretStr`).

    Production: servicekit's `CredentialsReader` (Vault KV v2); tests: `StaticCredentialsSource`.
    """

    async def get(self, store_id: str) -> StoreCredentials | None:
        """The credentials, or None if the store has none; raises servicekit's
        `CredentialsUnavailableError` when they cannot be read now (Vault unreachable, sealed,
        refusing this service's token)."""

    def invalidate(self, store_id: str) -> None:
        """Drop the cached copy (the platform refused the credentials)."""

    def on_credentials_changed(self, event: CredentialsChanged) -> bool:
        """Drop the cached copy if `event` is a deletion or a version newer than the cached one;
        True if something was dropped."""

    def supersede(self, store_id: str, version: int, *, deleted: bool = False) -> bool:
        """As `on_credentials_changed`, for a version known from the shared projection."""

    async def refresh(self, store_id: str, *, rejected_version: int) -> StoreCredentials | None:
        """After the platform refused `rejected_version`: read again bypassing the cache; the
        credentials if a newer version is there (then cached), else None, also when they cannot
        be read now (the cached copy is dropped either way)."""


class AdapterProvider(Protocol):
    """Builds the marketplace adapter of a store."""

    async def adapter_for(self, store: StoreProfile) -> StoreAdapter:
        """An adapter with the store's current credentials (raises `MissingCredentialsError`,
        or servicekit's `CredentialsUnavailableError` when they cannot be read now)."""

    async def adapter_after_rejection(
        self, store: StoreProfile, rejected: StoreAdapter
    ) -> StoreAdapter | None:
        """The platform refused `rejected`'s credentials: an adapter with newer ones if the
        source holds them now (read bypassing the cache); None when it does not or cannot be
        read now (the cached copy is dropped either way)."""

    def invalidate(self, store_id: str) -> None:
        """Forget the store's cached credentials (the platform refused them)."""

    def credentials_changed(self, event: CredentialsChanged) -> bool:
        """Forget the store's cached credentials if `event` announces a deletion or a newer
        version than the cached one; True if they were dropped."""

    def credentials_recorded(self, store_id: str, view: CredentialsView) -> bool:
        """The same for the version the projection holds (another replica may have consumed
        the event); True if the cached credentials were dropped."""


class LeaseManager(Protocol):
    """Which stores this replica polls (a PostgreSQL lease per store)."""

    replica_id: str

    async def sync(self, eligible: Sequence[str]) -> AbstractSet[str]:
        """Heartbeat, renew held leases, drop ineligible or surplus ones, claim free ones up to
        a fair share; returns the stores this replica holds now."""

    async def release_all(self) -> None:
        """Give every lease back (clean shutdown: other replicas take over at once)."""


class RetestRequester(Protocol):
    """Asks credential-vault to re-test a store's credentials after a 401/403."""

    async def request_retest(self, store_id: str, reason: str) -> None:
        """Best effort; failures are logged, the store stays paused either way."""


class PollTelemetry(Protocol):
    """Per-store figures of polling (Prometheus in production, nothing in unit tests)."""

    def poll_finished(
        self, store_id: str, outcome: str, duration_seconds: float, success_at: datetime | None
    ) -> None:
        """One poll ended with `outcome`."""

    def orders_ingested(self, store_id: str, count: int) -> None:
        """New orders were stored."""

    def event_lags(self, store_id: str, seconds: Sequence[float]) -> None:
        """Seconds between each order's marketplace change and its events (one per order of a
        committed batch)."""

    def pending_deductions(self, store_id: str, count: int) -> None:
        """Orders waiting for a default warehouse."""

    def auth_rejection_resolved(self, store_id: str) -> None:
        """A 401/403 was followed by a successful retry with newer credentials (no pause)."""


class NoTelemetry:
    """Telemetry that records nothing."""

    def poll_finished(
        self, store_id: str, outcome: str, duration_seconds: float, success_at: datetime | None
    ) -> None:
        """Ignore."""

    def orders_ingested(self, store_id: str, count: int) -> None:
        """Ignore."""

    def event_lags(self, store_id: str, seconds: Sequence[float]) -> None:
        """Ignore."""

    def pending_deductions(self, store_id: str, count: int) -> None:
        """Ignore."""

    def auth_rejection_resolved(self, store_id: str) -> None:
        """Ignore."""


class MissingCredentialsError(Exception):
    """The store has no credentials in Vault."""

    code = "missing_credentials"
