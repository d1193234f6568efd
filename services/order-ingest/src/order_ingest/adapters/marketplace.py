"""Marketplace adapters for stores, with credentials from a CredentialsSource."""

from __future__ import annotations

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_marketplaces import AdapterFactory, StoreAdapter
from kervan_servicekit.credentials import StoreCredentials
from order_ingest.app.ports import CredentialsSource, MissingCredentialsError
from order_ingest.domain.store import CredentialsView, StoreProfile


class FactoryAdapterProvider:
    """AdapterProvider over one process-wide `AdapterFactory` (shared limiters and tokens)."""

    def __init__(self, factory: AdapterFactory, credentials: CredentialsSource) -> None:
        self._factory = factory
        self._credentials = credentials

    async def adapter_for(self, store: StoreProfile) -> StoreAdapter:
        """See AdapterProvider."""
        found = await self._credentials.get(store.store_id)
        if found is None or not found.fields:
            raise MissingCredentialsError(store.store_id)
        return self._create(store, found)

    async def adapter_after_rejection(
        self, store: StoreProfile, rejected: StoreAdapter
    ) -> StoreAdapter | None:
        """See AdapterProvider."""
        newer = await self._credentials.refresh(
            store.store_id, rejected_version=rejected.credentials_version
        )
        return None if newer is None or not newer.fields else self._create(store, newer)

    def _create(self, store: StoreProfile, found: StoreCredentials) -> StoreAdapter:
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

    def credentials_changed(self, event: CredentialsChanged) -> bool:
        """See AdapterProvider."""
        return self._credentials.on_credentials_changed(event)

    def credentials_recorded(self, store_id: str, view: CredentialsView) -> bool:
        """See AdapterProvider."""
        return self._credentials.supersede(store_id, view.version, deleted=view.deleted)
