"""What the service layer needs from the outside world (implemented in adapters/)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from credential_vault.domain.model import CredentialMetadata, StatusRecord, StoreView
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Platform


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """A store's credentials as read from Vault, with the KV version they came from."""

    fields: dict[str, str]
    version: int

    def __repr__(self) -> str:  # values never reach a log line or a traceback
        return f"StoredSecret(fields={sorted(self.fields)}, version={self.version})"


class SecretStore(Protocol):
    """Vault KV v2, one secret per store. Raises `SecretStoreUnavailable` when unreachable."""

    async def write(self, store_id: str, fields: Mapping[str, str]) -> int:
        """Write a new version; returns its number."""
        ...

    async def read(self, store_id: str) -> StoredSecret | None:
        """The current version, or None when there is none."""
        ...

    async def destroy_versions(self, store_id: str) -> None:
        """Destroy every version's data but keep the metadata (idempotent).

        The version counter survives, so the next write numbers on from the last one.
        """
        ...

    async def destroy(self, store_id: str) -> None:
        """Remove every version and the metadata (idempotent); numbering restarts at 1."""
        ...


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict of one credential check."""

    valid: bool
    reason_code: str | None = None


class CredentialChecker(Protocol):
    """Runs the platform adapter's `test_credentials()` (sandbox base in test mode)."""

    async def check(self, store: StoreView, fields: Mapping[str, str]) -> CheckResult:
        """Check; unreachable platforms give `valid=False, reason_code='platform_unreachable'`."""
        ...


class ConsentProvider(Protocol):
    """OAuth consent URLs and code exchange of Amazon and IdeaSoft."""

    def start_url(
        self, store: StoreView, fields: Mapping[str, str], state: str, redirect_uri: str
    ) -> str:
        """Where to send the seller."""
        ...

    async def exchange(
        self, store: StoreView, fields: Mapping[str, str], code: str, redirect_uri: str
    ) -> dict[str, str]:
        """Authorisation code → fields to store (tokens). Raises `OAuthExchangeFailed`."""
        ...


class Transaction(Protocol):
    """Repositories and the outbox, all inside one database transaction."""

    async def get_store(self, store_id: str, *, lock: bool = False) -> StoreView | None:
        """The projected store; `lock` serialises writers of the same store."""
        ...

    async def save_store(self, store: StoreView) -> None:
        """Upsert the projection."""
        ...

    async def get_metadata(self, store_id: str) -> CredentialMetadata | None:
        """Credential metadata of a store."""
        ...

    async def save_metadata(self, metadata: CredentialMetadata) -> None:
        """Upsert credential metadata."""
        ...

    async def delete_metadata(self, store_id: str) -> None:
        """Forget a store's credential metadata."""
        ...

    async def stores_with_credentials(self) -> list[str]:
        """Ids of live stores that have credentials (the periodic re-check walks them)."""
        ...

    async def get_status(self, store_id: str) -> StatusRecord | None:
        """Latest API status."""
        ...

    async def list_statuses(self) -> list[StatusRecord]:
        """Latest API status of every live (not deleted) store, by store id."""
        ...

    async def save_status(self, status: StatusRecord) -> None:
        """Upsert the latest status and append it to the check history."""
        ...

    async def delete_status(self, store_id: str) -> None:
        """Forget a store's status and history."""
        ...

    async def add_oauth_state(
        self, state_id: str, store_id: str, platform: Platform, expires_at: datetime
    ) -> None:
        """Remember an issued OAuth state (by its id, never the signed value)."""
        ...

    async def consume_oauth_state(
        self, state_id: str, platform: Platform, now: datetime
    ) -> str | None:
        """Delete the state atomically; its store id when it existed and had not expired."""
        ...

    async def claim_event(self, consumer: str, event_id: UUID) -> bool:
        """Inbox: False when this event was applied already."""
        ...

    async def publish(
        self, payload: EventPayload, *, correlation_id: str | None, causation_id: UUID | None
    ) -> None:
        """Queue an event in the outbox of this transaction."""
        ...

    async def tombstone(self, topic: str, key: str) -> None:
        """Queue a null-value record (compaction then forgets the key)."""
        ...


class UnitOfWork(Protocol):
    """Opens transactions; commit on normal exit, rollback on exception."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A new transaction."""
        ...
