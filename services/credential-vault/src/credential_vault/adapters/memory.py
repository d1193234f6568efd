"""In-memory fakes of the ports, for unit and component tests (no I/O)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from credential_vault.app.ports import CheckResult, StoredSecret
from credential_vault.domain.errors import SecretStoreUnavailable
from credential_vault.domain.model import CredentialMetadata, StatusRecord, StoreView
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform


@dataclass
class PublishedEvent:
    """An event queued in a committed fake transaction."""

    payload: EventPayload
    correlation_id: str | None
    causation_id: UUID | None


@dataclass
class MemoryState:
    """Everything the fake database holds."""

    stores: dict[str, StoreView] = field(default_factory=dict)
    metadata: dict[str, CredentialMetadata] = field(default_factory=dict)
    statuses: dict[str, StatusRecord] = field(default_factory=dict)
    history: list[StatusRecord] = field(default_factory=list)
    oauth_states: dict[str, tuple[str, Platform, datetime]] = field(default_factory=dict)
    inbox: set[tuple[str, UUID]] = field(default_factory=set)
    events: list[PublishedEvent] = field(default_factory=list)
    tombstones: list[tuple[str, str]] = field(default_factory=list)


class MemoryTransaction:
    """Works on a copy of the state; the unit of work swaps it in on commit."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state

    async def get_store(self, store_id: str, *, lock: bool = False) -> StoreView | None:
        return self.state.stores.get(store_id)

    async def save_store(self, store: StoreView) -> None:
        self.state.stores[store.store_id] = store

    async def get_metadata(self, store_id: str) -> CredentialMetadata | None:
        return self.state.metadata.get(store_id)

    async def save_metadata(self, metadata: CredentialMetadata) -> None:
        self.state.metadata[metadata.store_id] = metadata

    async def delete_metadata(self, store_id: str) -> None:
        self.state.metadata.pop(store_id, None)

    async def stores_with_credentials(self) -> list[str]:
        return sorted(sid for sid in self.state.metadata if not self.state.stores[sid].deleted)

    async def get_status(self, store_id: str) -> StatusRecord | None:
        return self.state.statuses.get(store_id)

    async def list_statuses(self) -> list[StatusRecord]:
        live = (s for sid, s in self.state.statuses.items() if not self.state.stores[sid].deleted)
        return sorted(live, key=lambda status: status.store_id)

    async def save_status(self, status: StatusRecord) -> None:
        self.state.statuses[status.store_id] = status
        self.state.history.append(status)

    async def delete_status(self, store_id: str) -> None:
        self.state.statuses.pop(store_id, None)
        self.state.history = [h for h in self.state.history if h.store_id != store_id]

    async def add_oauth_state(
        self, state_id: str, store_id: str, platform: Platform, expires_at: datetime
    ) -> None:
        self.state.oauth_states[state_id] = (store_id, platform, expires_at)

    async def consume_oauth_state(
        self, state_id: str, platform: Platform, now: datetime
    ) -> str | None:
        found = self.state.oauth_states.pop(state_id, None)
        if found is None or found[1] is not platform or found[2] <= now:
            return None
        return found[0]

    async def claim_event(self, consumer: str, event_id: UUID) -> bool:
        if (consumer, event_id) in self.state.inbox:
            return False
        self.state.inbox.add((consumer, event_id))
        return True

    async def publish(
        self, payload: EventPayload, *, correlation_id: str | None, causation_id: UUID | None
    ) -> None:
        self.state.events.append(PublishedEvent(payload, correlation_id, causation_id))

    async def tombstone(self, topic: str, key: str) -> None:
        self.state.tombstones.append((topic, key))


class MemoryUnitOfWork:
    """Transactions over a `MemoryState`: all or nothing, like the real one."""

    def __init__(self, state: MemoryState | None = None) -> None:
        self.state = state or MemoryState()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        work = copy.deepcopy(self.state)
        yield MemoryTransaction(work)
        self.state.__dict__.update(work.__dict__)


class MemorySecretStore:
    """KV v2 semantics that matter here: versions grow, destroying the versions keeps the
    counter, destroy forgets everything."""

    def __init__(self) -> None:
        self.secrets: dict[str, StoredSecret] = {}
        self.versions: dict[str, int] = {}
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise SecretStoreUnavailable("the secret store is unavailable; nothing was changed")

    async def write(self, store_id: str, fields: Mapping[str, str]) -> int:
        self._check()
        version = self.versions.get(store_id, 0) + 1
        self.versions[store_id] = version
        self.secrets[store_id] = StoredSecret(dict(fields), version)
        return version

    async def read(self, store_id: str) -> StoredSecret | None:
        self._check()
        return self.secrets.get(store_id)

    async def destroy_versions(self, store_id: str) -> None:
        self._check()
        self.secrets.pop(store_id, None)

    async def destroy(self, store_id: str) -> None:
        self._check()
        self.secrets.pop(store_id, None)
        self.versions.pop(store_id, None)


class ScriptedChecker:
    """Answers checks from a table keyed by store id (valid unless told otherwise)."""

    def __init__(self) -> None:
        self.results: dict[str, CheckResult] = {}
        self.calls: list[tuple[str, bool, dict[str, str]]] = []

    async def check(self, store: StoreView, fields: Mapping[str, str]) -> CheckResult:
        self.calls.append((store.store_id, store.test_mode, dict(fields)))
        return self.results.get(store.store_id, CheckResult(valid=True))
