"""Marketplace adapters per store, with credentials read from Vault (or given, in tests)."""

from __future__ import annotations

from collections.abc import Mapping

from catalog_sync.app.ports import MissingCredentialsError
from catalog_sync.domain.catalog import CredentialsVersion, StoreView
from kervan_marketplaces import AdapterFactory, MarketplaceAdapter
from kervan_servicekit.credentials import CredentialsReader

# The credential field that names the seller account on each platform.
_SELLER_FIELDS = ("seller_id", "merchant_id", "selling_partner_id", "store_domain", "app_key")


class CredentialsSource:
    """Where plain credentials come from: Vault in production, a mapping in tests."""

    def __init__(
        self,
        reader: CredentialsReader | None = None,
        static: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._reader = reader
        self._static = static if static is not None else {}

    async def read(self, store_id: str) -> dict[str, str] | None:
        """The store's credentials, or None when it has none."""
        if self._reader is None:
            found = self._static.get(store_id)
            return dict(found) if found else None
        credentials = await self._reader.get(store_id)
        return credentials.plain() if credentials else None

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

    async def adapter_for(self, store: StoreView) -> MarketplaceAdapter:
        """See AdapterProvider."""
        credentials = await self._credentials.read(store.store_id)
        if not credentials:
            raise MissingCredentialsError(store.store_id)
        seller_id = next((credentials[f] for f in _SELLER_FIELDS if credentials.get(f)), "")
        return self._factory.create(
            store.platform,
            store_id=store.store_id,
            seller_id=seller_id,
            credentials=credentials,
            test_mode=store.test_mode,
        )

    def invalidate(self, store_id: str) -> None:
        """See AdapterProvider."""
        self._credentials.invalidate(store_id)

    def credentials_recorded(self, store_id: str, recorded: CredentialsVersion) -> bool:
        """See AdapterProvider."""
        return self._credentials.supersede(store_id, recorded.version, deleted=recorded.deleted)
