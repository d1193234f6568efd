"""In-memory unit of work: the service layer's fake for tests (and a demo without PostgreSQL).

Each unit of work works on a deep copy of the committed `Database`; commit swaps it in, so a
use case that fails part-way leaves nothing behind, as a rolled-back transaction would. Events
are kept as JSON-able envelope dicts in outbox order, tombstones as `None`.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from store_registry.adapters.events import envelope_of
from store_registry.app.ports import AuditEntry, StoreQuery, StoreView
from store_registry.domain.api_status import ApiStatusView
from store_registry.domain.model import Store, StoreState
from store_registry.domain.references import ReferenceItem, ReferenceKind, ReferenceUse

_FIELD_OF = {
    ReferenceKind.PRICE_LIST: ("products", "default_price_list_id"),
    ReferenceKind.CATEGORY: ("products", "default_category_id"),
    ReferenceKind.BRAND: ("products", "default_brand_id"),
    ReferenceKind.WAREHOUSE: ("orders", "default_warehouse_id"),
    ReferenceKind.CARGO_COMPANY: ("orders", "cargo_company_id"),
}


@dataclass
class Database:
    """What a committed fake transaction leaves behind."""

    stores: dict[str, StoreState] = field(default_factory=dict)
    references: dict[tuple[ReferenceKind, str], ReferenceItem] = field(default_factory=dict)
    api_statuses: dict[str, ApiStatusView] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    inbox: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    events: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    """(key, envelope as JSON-able dict, or None for a tombstone), in outbox order."""
    commits: int = 0


class MemoryStores:
    """Stores in memory."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen: list[Store] = []

    async def get(
        self,
        store_id: str,
        *,
        references: Sequence[ReferenceUse] = (),
        known: StoreState | None = None,
    ) -> Store | None:
        # Reading is free here, and this commit does not check versions: `known` is ignored.
        state = self.db.stores.get(store_id)
        if state is None:
            return None
        store = Store(state)
        self.seen.append(store)
        return store

    def add(self, store: Store) -> None:
        self.seen.append(store)

    def _view(self, state: StoreState) -> StoreView:
        return StoreView(state, self.db.api_statuses.get(state.id) or ApiStatusView.unknown())

    async def view(self, store_id: str) -> StoreView | None:
        state = self.db.stores.get(store_id)
        return None if state is None else self._view(state)

    async def list_views(self, query: StoreQuery) -> list[StoreView]:
        views = sorted(
            (self._view(s) for s in self.db.stores.values()),
            key=lambda v: (v.state.created_at, v.state.id),
        )
        out = []
        for v in views:
            if query.platform and v.state.platform is not query.platform:
                continue
            if query.status and v.state.status is not query.status:
                continue
            if query.api_status and v.api_status.status is not query.api_status:
                continue
            if query.text and query.text.lower() not in v.state.title.lower():
                continue
            if query.after and (v.state.created_at, v.state.id) <= query.after:
                continue
            out.append(v)
        return out[: query.limit]


class MemoryReferences:
    """Reference lists in memory."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, kind: ReferenceKind, item_id: str) -> ReferenceItem | None:
        return self.db.references.get((kind, item_id))

    async def missing(self, uses: Sequence[ReferenceUse]) -> list[ReferenceUse]:
        return [u for u in uses if (u.kind, u.id) not in self.db.references]

    async def put(self, kind: ReferenceKind, item_id: str, name: str, now: datetime) -> None:
        old = self.db.references.get((kind, item_id))
        self.db.references[kind, item_id] = ReferenceItem(
            kind, item_id, name, old.created_at if old else now, now
        )

    async def delete(self, kind: ReferenceKind, item_id: str) -> None:
        del self.db.references[kind, item_id]

    async def users(self, kind: ReferenceKind, item_id: str, limit: int) -> list[str]:
        tab, name = _FIELD_OF[kind]
        return sorted(
            s.id for s in self.db.stores.values() if getattr(getattr(s, tab), name) == item_id
        )[:limit]

    async def list(self, kind: ReferenceKind, after: str | None, limit: int) -> list[ReferenceItem]:
        items = sorted(
            (i for (k, _), i in self.db.references.items() if k is kind), key=lambda i: i.id
        )
        return [i for i in items if after is None or i.id > after][:limit]


class MemoryApiStatuses:
    """API status projection in memory."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, store_id: str, *, lock: bool = False) -> ApiStatusView | None:
        return self.db.api_statuses.get(store_id)

    async def put(self, store_id: str, view: ApiStatusView) -> None:
        self.db.api_statuses[store_id] = view


class MemoryAudit:
    """Audit log in memory."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, entry: AuditEntry) -> None:
        self.db.audit.append(entry)

    async def list(
        self, entity_type: str, entity_id: str, before: int | None, limit: int
    ) -> list[AuditEntry]:
        entries = [
            e
            for e in reversed(self.db.audit)
            if e.entity_type == entity_type
            and e.entity_id == entity_id
            and (before is None or (e.id or 0) < before)
        ]
        return entries[:limit]


class MemoryUnitOfWork:
    """Works on a copy of the database; commit swaps it in (rollback = drop the copy)."""

    def __init__(self, committed: Database, topic: str = "kervan.stores.v1") -> None:
        self.committed = committed
        self.topic = topic
        self.correlation_id: str | None = None

    async def __aenter__(self) -> Self:
        self.db = copy.deepcopy(self.committed)
        self.stores = MemoryStores(self.db)
        self.references = MemoryReferences(self.db)
        self.api_statuses = MemoryApiStatuses(self.db)
        self.audit = MemoryAudit(self.db)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        for store in self.stores.seen:
            for change in store.changes:
                self.db.audit.append(
                    AuditEntry(
                        entity_type="store",
                        entity_id=store.id,
                        action=change.kind.value,
                        actor=change.actor,
                        at=change.at,
                        changes=change.diff,
                        version=change.state.version,
                        correlation_id=self.correlation_id,
                        id=len(self.db.audit) + 1,
                    )
                )
                envelope = envelope_of(change, self.correlation_id)
                self.db.events.append((store.id, envelope.model_dump(mode="json")))
            if store.changes:
                if store.deleted:
                    self.db.stores.pop(store.id, None)
                    self.db.events.append((store.id, None))
                else:
                    self.db.stores[store.id] = store.state
            store.changes.clear()
        for i, entry in enumerate(self.db.audit):
            if entry.id is None:
                self.db.audit[i] = dataclasses.replace(entry, id=i + 1)
        self.db.commits += 1
        self.committed.__dict__.update(self.db.__dict__)

    async def claim_event(self, consumer: str, event_id: uuid.UUID) -> bool:
        if (consumer, event_id) in self.db.inbox:
            return False
        self.db.inbox.add((consumer, event_id))
        return True


class MemoryUnitOfWorkFactory:
    """Makes units of work over one shared `Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def __call__(self, *, read_only: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.database)
