"""Credentials from Vault KV v2 (`<mount>/marketplace-credentials/<store_id>`), cached per store.

hvac is blocking, so each read runs in a worker thread. The cache holds values in process
memory only; it is dropped when credential-vault announces a newer version or a platform
refuses them. To be swapped for servicekit's shared reader once it lands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import hvac
from hvac.exceptions import InvalidPath
from pydantic import SecretStr

CREDENTIALS_PATH = "marketplace-credentials/{store_id}"


class VaultCredentialsSource:
    """CredentialsSource over hvac (read-only policy)."""

    def __init__(self, addr: str, token: SecretStr, mount: str, timeout: float) -> None:
        self._addr = addr
        self._token = token
        self._mount = mount
        self._timeout = timeout
        self._cache: dict[str, Mapping[str, str]] = {}

    async def read(self, store_id: str) -> Mapping[str, str] | None:
        """See CredentialsSource."""
        cached = self._cache.get(store_id)
        if cached is not None:
            return cached
        data = await asyncio.to_thread(self._read_blocking, store_id)
        if data is not None:
            self._cache[store_id] = data
        return data

    def invalidate(self, store_id: str) -> None:
        """See CredentialsSource."""
        self._cache.pop(store_id, None)

    def _read_blocking(self, store_id: str) -> Mapping[str, str] | None:
        client = hvac.Client(
            url=self._addr,
            token=self._token.get_secret_value(),
            timeout=max(1, round(self._timeout)),
        )
        try:
            response: dict[str, Any] = client.secrets.kv.v2.read_secret_version(
                path=CREDENTIALS_PATH.format(store_id=store_id),
                mount_point=self._mount,
                raise_on_deleted_version=False,
            )
        except InvalidPath:
            return None
        finally:
            client.adapter.close()
        data = (response.get("data") or {}).get("data")
        if not data:
            return None
        return {str(k): str(v) for k, v in data.items() if v is not None}


class StaticCredentialsSource:
    """Credentials held in memory (tests, demos)."""

    def __init__(self, credentials: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.credentials: dict[str, Mapping[str, str]] = dict(credentials or {})
        self.invalidated: list[str] = []

    async def read(self, store_id: str) -> Mapping[str, str] | None:
        """See CredentialsSource."""
        return self.credentials.get(store_id)

    def invalidate(self, store_id: str) -> None:
        """See CredentialsSource."""
        self.invalidated.append(store_id)
