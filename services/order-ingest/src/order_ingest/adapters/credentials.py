"""Credentials held in memory, for tests and demos.

Production reads Vault through servicekit's `CredentialsReader` (see bootstrap.py), which
satisfies the same `CredentialsSource` port.
"""

from __future__ import annotations

from collections.abc import Mapping

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_servicekit.credentials import StoreCredentials


class StaticCredentialsSource:
    """CredentialsSource over a mapping store id → fields (every store at version 1)."""

    def __init__(self, credentials: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.credentials: dict[str, Mapping[str, str]] = dict(credentials or {})
        self.invalidated: list[str] = []
        self.changes: list[CredentialsChanged] = []

    async def get(self, store_id: str) -> StoreCredentials | None:
        """See CredentialsSource."""
        found = self.credentials.get(store_id)
        return StoreCredentials.of(store_id, 1, found) if found else None

    def invalidate(self, store_id: str) -> None:
        """See CredentialsSource (recorded: nothing is cached)."""
        self.invalidated.append(store_id)

    def on_credentials_changed(self, event: CredentialsChanged) -> bool:
        """See CredentialsSource (recorded: nothing is cached)."""
        self.changes.append(event)
        return False

    def supersede(self, store_id: str, version: int, *, deleted: bool = False) -> bool:
        """See CredentialsSource (nothing is cached)."""
        return False

    async def refresh(self, store_id: str, *, rejected_version: int) -> StoreCredentials | None:
        """See CredentialsSource: every store stays at version 1, so never anything newer."""
        return None
