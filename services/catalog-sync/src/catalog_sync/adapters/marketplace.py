"""Marketplace adapters per store, with credentials read from Vault (or given, in tests)."""

from __future__ import annotations

from collections.abc import Mapping

from catalog_sync.app.ports import MissingCredentialsError
from catalog_sync.domain.catalog import CredentialsVersion, StoreView
from kervan_marketplaces import AdapterFactory, StoreAdapter
from kervan_servicekit.credentials import CredentialsReader, StoreCredentials


class CredentialsSource:
    """Where credentials come from: Vault in production, a mapping in tests (every store at
    version 1)."""

    def __init__(
        self,
        reader: CredentialsReader | None = None,
        static: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._reader = reader
        self._static = static if static is not None else {}

    async def read(self, store_id: str) -> StoreCredentials | None:
        """The store's credentials, or None when it has none."""
        if self._reader is not None:
            return await self._reader.get(store_id)
        found = self._static.get(store_id)
        return StoreCredentials.of(store_id, 1, found) if found else None

    async def refresh(self, store_id: str, *, rejected_version: int) -> StoreCredentials | None:
        """After the platform refused `rejected_version`: newer credentials read bypassing the
        cache, or None (see `CredentialsReader.refresh`). Static ones never change."""
        if self._reader is None:
            return None
        return await self._reader.refresh(store_id, rejected_version=rejected_version)

    def invalidate(self, store_id: str) -> None:
        """Drop a cached entry."""
        if self._reader is not None:
            self._reader.invalidate(store_id)

    def supersede(self, store_id: str, version: int, *, deleted: bool = False) -> bool:
        """Drop the cached entry if `version` is newer than it, or a deletion of it (see
        `CredentialsReader.supersede`); True if dropped. Static credentials are not cached."""
        if self._reader is None:
            return False
        return self._reader.supersede(store_id, version, deleted=deleted)


class FactoryAdapterProvider:
    """AdapterProvider over one process-wide `AdapterFactory` (shared limiters and tokens)."""

    def __init__(self, factory: AdapterFactory, credentials: CredentialsSource) -> None:
        self._factory = factory
        self._credentials = credentials

    async def adapter_for(self, store: StoreView) -> StoreAdapter:
        """See AdapterProvider."""
        found = await self._credentials.read(store.store_id)
        if found is None or not found.fields:
            raise MissingCredentialsError(store.store_id)
        return self._create(store, found)

    async def adapter_after_rejection(
        self, store: StoreView, rejected: StoreAdapter
    ) -> StoreAdapter | None:
        """See AdapterProvider."""
        newer = await self._credentials.refresh(
            store.store_id, rejected_version=rejected.credentials_version
        )
        return None if newer is None or not newer.fields else self._create(store, newer)

    def _create(self, store: StoreView, found: StoreCredentials) -> StoreAdapter:
        adapter = self._factory.create_for_store(
            store.platform,
            store_id=store.store_id,
            credentials=found.plain(),
            test_mode=store.test_mode,
        )
        return StoreAdapter(adapter, found.version)

    def invalidate(self, store_id: str) -> None:
        """See AdapterProvider."""
        self._credentials.invalidate(store_id)

    def credentials_recorded(self, store_id: str, recorded: CredentialsVersion) -> bool:
        """See AdapterProvider."""
        return self._credentials.supersede(store_id, recorded.version, deleted=recorded.deleted)
