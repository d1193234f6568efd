"""In-memory unit of work for service-layer tests: same contract as the PostgreSQL one."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from kervan_contracts.event import EventPayload
from order_ingest.app.ports import IngestState
from order_ingest.domain.order import IngestedOrder
from order_ingest.domain.store import ApiStatusView, CredentialsView, StoreProfile


@dataclass
class MemoryDatabase:
    """Committed state shared by the units of work of one test."""

    stores: dict[str, StoreProfile] = field(default_factory=dict)
    api_statuses: dict[str, ApiStatusView] = field(default_factory=dict)
    credentials: dict[str, CredentialsView] = field(default_factory=dict)
    orders: dict[tuple[str, str], IngestedOrder] = field(default_factory=dict)
    ingest: dict[str, IngestState] = field(default_factory=dict)
    leases: dict[str, str] = field(default_factory=dict)
    published: list[tuple[EventPayload, str]] = field(default_factory=list)
    """Committed events with their correlation id, in commit order (what the outbox holds)."""


class _Working:
    def __init__(self, db: MemoryDatabase) -> None:
        self.db = copy.deepcopy(db)


class MemoryStores:
    """Store projections over a working copy."""

    def __init__(self, work: _Working) -> None:
        self._w = work

    async def get(self, store_id: str) -> StoreProfile | None:
        """See StoreRepository."""
        return self._w.db.stores.get(store_id)

    async def upsert(self, profile: StoreProfile) -> bool:
        """See StoreRepository."""
        held = self._w.db.stores.get(profile.store_id)
        if held is not None and held.version >= profile.version:
            return False
        self._w.db.stores[profile.store_id] = profile
        return True

    async def delete(self, store_id: str) -> None:
        """See StoreRepository."""
        self._w.db.stores.pop(store_id, None)

    async def api_status(self, store_id: str) -> ApiStatusView | None:
        """See StoreRepository."""
        return self._w.db.api_statuses.get(store_id)

    async def get_with_api_status(
        self, store_id: str
    ) -> tuple[StoreProfile | None, ApiStatusView | None]:
        """See StoreRepository."""
        return await self.get(store_id), await self.api_status(store_id)

    async def record_api_status(self, store_id: str, view: ApiStatusView) -> bool:
        """See StoreRepository."""
        held = self._w.db.api_statuses.get(store_id)
        if held is not None and held.checked_at >= view.checked_at:
            return False
        self._w.db.api_statuses[store_id] = view
        return True

    async def record_credentials(self, store_id: str, view: CredentialsView) -> bool:
        """See StoreRepository."""
        held = self._w.db.credentials.get(store_id)
        # As servicekit's CredentialVersionProjection: a higher version wins, and a deletion
        # (published with the last write's version) wins over live credentials of that version.
        deletion_wins = (
            view.deleted and held is not None and not held.deleted and held.version == view.version
        )
        if held is not None and held.version >= view.version and not deletion_wins:
            return False
        self._w.db.credentials[store_id] = view
        return True

    async def credentials_version(self, store_id: str) -> CredentialsView | None:
        """See StoreRepository."""
        return self._w.db.credentials.get(store_id)

    async def store_ids(self) -> list[str]:
        """See StoreRepository."""
        return sorted(self._w.db.stores)


class MemoryOrders:
    """Order aggregates over a working copy."""

    def __init__(self, work: _Working) -> None:
        self._w = work

    async def get_for_update(self, store_id: str, order_number: str) -> IngestedOrder | None:
        """See OrderRepository."""
        return self._w.db.orders.get((store_id, order_number))

    async def save(self, order: IngestedOrder) -> None:
        """See OrderRepository."""
        self._w.db.orders[(order.store_id, order.order_number)] = order

    async def get_many_for_update(
        self, store_id: str, order_numbers: Sequence[str]
    ) -> dict[str, IngestedOrder]:
        """See OrderRepository."""
        found = {n: self._w.db.orders.get((store_id, n)) for n in order_numbers}
        return {n: o for n, o in found.items() if o is not None}

    async def save_many(self, orders: Sequence[IngestedOrder]) -> None:
        """See OrderRepository."""
        for order in orders:
            await self.save(order)

    async def pending_deduction(self, store_id: str) -> list[IngestedOrder]:
        """See OrderRepository."""
        return [
            o for (s, _), o in self._w.db.orders.items() if s == store_id and o.deduction_pending
        ]

    async def count_pending_deduction(self, store_id: str) -> int:
        """See OrderRepository."""
        return len(await self.pending_deduction(store_id))

    async def list_orders(
        self, store_id: str, since: datetime | None, limit: int
    ) -> list[IngestedOrder]:
        """See OrderRepository."""
        found = [
            o
            for (s, _), o in self._w.db.orders.items()
            if s == store_id and (since is None or o.first_seen_at >= since)
        ]
        return sorted(found, key=lambda o: (o.first_seen_at, o.order_number))[:limit]


class MemoryIngestState:
    """Polling state over a working copy."""

    def __init__(self, work: _Working) -> None:
        self._w = work

    async def lock(self, store_id: str) -> IngestState:
        """See IngestStateRepository."""
        return self._w.db.ingest.setdefault(store_id, IngestState(store_id))

    async def get(self, store_id: str) -> IngestState | None:
        """See IngestStateRepository."""
        return self._w.db.ingest.get(store_id)

    async def save(self, state: IngestState) -> None:
        """See IngestStateRepository."""
        self._w.db.ingest[state.store_id] = state

    async def holds_lease(self, store_id: str, replica_id: str) -> bool:
        """See IngestStateRepository."""
        return self._w.db.leases.get(store_id) == replica_id


class MemoryEvents:
    """Events queued in the working copy."""

    def __init__(self, work: _Working) -> None:
        self._w = work

    async def add(self, payloads: Sequence[EventPayload], correlation_id: str) -> None:
        """See EventSink."""
        self._w.db.published.extend((p, correlation_id) for p in payloads)


class MemoryUnitOfWork:
    """Works on a deep copy of the database; `commit` swaps it in (rollback = drop the copy)."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._work = _Working(db)
        self.stores = MemoryStores(self._work)
        self.orders = MemoryOrders(self._work)
        self.ingest = MemoryIngestState(self._work)
        self.events = MemoryEvents(self._work)

    async def __aenter__(self) -> MemoryUnitOfWork:
        self._work.db = copy.deepcopy(self._db)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work.db = self._db

    async def commit(self) -> None:
        """Make the working copy the committed state."""
        committed = self._work.db
        for name in ("stores", "api_statuses", "credentials", "orders", "ingest", "published"):
            setattr(self._db, name, getattr(committed, name))
        self._work.db = copy.deepcopy(self._db)
