"""Ports of the service layer: the unit of work, its repositories, and platform knowledge."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import StoreStatus
from store_registry.domain.api_status import ApiStatusView
from store_registry.domain.model import PlatformSupport, Store, StoreState
from store_registry.domain.references import ReferenceItem, ReferenceKind, ReferenceUse


@dataclass(frozen=True, slots=True)
class StoreView:
    """A store as the API shows it: its state plus the API status column."""

    state: StoreState
    api_status: ApiStatusView


@dataclass(frozen=True, slots=True)
class StoreQuery:
    """Filters and keyset position of a store listing (ordered by creation, then id)."""

    limit: int
    platform: Platform | None = None
    status: StoreStatus | None = None
    api_status: ApiStatus | None = None
    text: str | None = None
    after: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row: who did what to which entity, when, with the field-level diff."""

    entity_type: str
    entity_id: str
    action: str
    actor: str
    at: datetime
    changes: dict[str, dict[str, Any]]
    version: int | None = None
    correlation_id: str | None = None
    id: int | None = field(default=None, compare=False)


class StoreChangedMeanwhile(Exception):  # noqa: N818 - reads as the fact it reports
    """A store loaded for change was changed by another writer before this commit.

    Raised by `UnitOfWork.commit` of adapters that do not lock loaded stores; nothing of the
    unit of work was written. The use case decides: retry on a fresh read, or refuse.
    """

    def __init__(self, store_ids: list[str]) -> None:
        super().__init__(f"stores changed meanwhile: {', '.join(store_ids)}")
        self.store_ids = store_ids


class StoreRepository(Protocol):
    """Stores, loaded for change and read as views."""

    async def get(
        self,
        store_id: str,
        *,
        references: Sequence[ReferenceUse] = (),
        known: StoreState | None = None,
    ) -> Store | None:
        """Load a store for change.

        Either it stays locked until the commit, or the commit checks that it is still at
        the version read and raises `StoreChangedMeanwhile` if not. `references`: items the
        use case will ask `ReferenceRepository.missing` about next; an adapter may look them
        up along with the store (a hint, the answer still comes from `missing`).

        `known`: the store's state at some version, as this process last saw it. An adapter
        whose commit checks the version may start from it without reading; then `missing`
        may answer "none missing" for `references` and leave them to the commit, which raises
        `UnknownReference` (and writes nothing) if one is gone. The caller retries without
        `known` when the commit refuses, for the exact answer.
        """
        ...

    def add(self, store: Store) -> None:
        """Track a newly created store; it is inserted at commit."""
        ...

    async def view(self, store_id: str) -> StoreView | None:
        """A store with its API status, unlocked."""
        ...

    async def list_views(self, query: StoreQuery) -> list[StoreView]:
        """Up to `query.limit` stores matching the filters, after the keyset position."""
        ...


class ReferenceRepository(Protocol):
    """The five reference lists."""

    async def get(self, kind: ReferenceKind, item_id: str) -> ReferenceItem | None:
        """One item, or None."""
        ...

    async def missing(self, uses: Sequence[ReferenceUse]) -> list[ReferenceUse]:
        """Those of `uses` whose item does not exist."""
        ...

    async def put(self, kind: ReferenceKind, item_id: str, name: str, now: datetime) -> None:
        """Insert or rename an item."""
        ...

    async def delete(self, kind: ReferenceKind, item_id: str) -> None:
        """Delete an item (the caller checked it exists and is unused)."""
        ...

    async def users(self, kind: ReferenceKind, item_id: str, limit: int) -> list[str]:
        """Ids of (up to `limit`) stores whose settings point at the item."""
        ...

    async def list(self, kind: ReferenceKind, after: str | None, limit: int) -> list[ReferenceItem]:
        """Items of one list ordered by id, after the keyset position."""
        ...


class ApiStatusRepository(Protocol):
    """The API status projection."""

    async def get(self, store_id: str, *, lock: bool = False) -> ApiStatusView | None:
        """Latest status recorded for a store (`lock`: until the transaction ends)."""
        ...

    async def put(self, store_id: str, view: ApiStatusView) -> None:
        """Insert or replace a store's status."""
        ...


class AuditRepository(Protocol):
    """The audit log (append-only)."""

    def add(self, entry: AuditEntry) -> None:
        """Append an entry; written at commit."""
        ...

    async def list(
        self, entity_type: str, entity_id: str, before: int | None, limit: int
    ) -> list[AuditEntry]:
        """Entries of one entity, newest first, older than the `before` id."""
        ...


class UnitOfWork(Protocol):
    """One database transaction; `commit` writes tracked changes, audit rows and events."""

    correlation_id: str | None

    @property
    def stores(self) -> StoreRepository:
        """Stores."""
        ...

    @property
    def references(self) -> ReferenceRepository:
        """Reference lists."""
        ...

    @property
    def api_statuses(self) -> ApiStatusRepository:
        """API status projection."""
        ...

    @property
    def audit(self) -> AuditRepository:
        """Audit log."""
        ...

    async def __aenter__(self) -> Self:
        """Begin."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    async def commit(self) -> None:
        """Persist tracked stores, append audit rows and outbox events, commit.

        Raises `StoreChangedMeanwhile` (and writes nothing) when a store loaded for change
        was changed by someone else since it was read.
        """
        ...

    async def claim_event(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Inbox: False when `consumer` already applied `event_id`."""
        ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work per use case."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A new, not yet started unit of work; `read_only` ones skip the transaction."""
        ...


KnownStores = Callable[[str, int], StoreState | None]
"""(store id, version) → the store's state at that version if this process holds exactly
that, else None."""


class PlatformCatalog(Protocol):
    """What each platform's API supports (from the marketplace adapters)."""

    def support(self, platform: Platform) -> PlatformSupport:
        """Update types and fields the platform accepts."""
        ...


class StoreUrlValidator(Protocol):
    """Checks a seller-typed store URL; raises `InvalidStoreUrl`, returns it normalised."""

    def __call__(self, url: str) -> str:
        """Validate and normalise."""
        ...
