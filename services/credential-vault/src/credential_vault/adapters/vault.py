"""SecretStore on Vault/OpenBao KV v2 through hvac (blocking, so every call runs in a thread)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from credential_vault.app.ports import StoredSecret
from credential_vault.domain.errors import SecretStoreUnavailable

logger = logging.getLogger("credential_vault.vault")
T = TypeVar("T")


class VaultSecretStore:
    """One secret per store at `<mount>/data/<prefix>/<store_id>`; KV keeps the versions."""

    def __init__(
        self, *, addr: str, token: str, mount: str, prefix: str, timeout: float = 5.0
    ) -> None:
        self._client = hvac.Client(url=addr, token=token, timeout=max(1, math.ceil(timeout)))
        self._mount = mount
        self._prefix = prefix.strip("/")

    def _path(self, store_id: str) -> str:
        return f"{self._prefix}/{store_id}"

    async def _call(self, operation: str, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except (hvac.exceptions.VaultError, requests.RequestException, OSError) as exc:
            # The exception text may contain request details; only its type is logged.
            logger.warning(
                "vault call failed",
                extra={"operation": operation, "error_type": type(exc).__name__},
            )
            raise SecretStoreUnavailable(
                "the secret store is unavailable; nothing was changed"
            ) from None

    async def write(self, store_id: str, fields: Mapping[str, str]) -> int:
        """Write a new version; returns its number."""
        kv = self._client.secrets.kv.v2
        response: dict[str, Any] = await self._call(
            "write",
            lambda: kv.create_or_update_secret(
                path=self._path(store_id), secret=dict(fields), mount_point=self._mount
            ),
        )
        return int(response["data"]["version"])

    async def read(self, store_id: str) -> StoredSecret | None:
        """The current version, or None."""
        kv = self._client.secrets.kv.v2

        def read() -> StoredSecret | None:
            try:
                response = kv.read_secret_version(
                    path=self._path(store_id),
                    mount_point=self._mount,
                    raise_on_deleted_version=False,
                )
            except hvac.exceptions.InvalidPath:
                return None
            data = response["data"]
            if not data.get("data"):
                return None
            return StoredSecret(
                fields={str(k): str(v) for k, v in data["data"].items()},
                version=int(data["metadata"]["version"]),
            )

        return await self._call("read", read)

    async def destroy_versions(self, store_id: str) -> None:
        """Destroy every version's data, keep the metadata and its counter (idempotent).

        A destroyed current version reads as "not found", like a secret never written.
        """
        kv = self._client.secrets.kv.v2
        path = self._path(store_id)

        def destroy_versions() -> None:
            try:
                response = kv.read_secret_metadata(path=path, mount_point=self._mount)
            except hvac.exceptions.InvalidPath:
                return
            # Versions beyond the mount's max_versions are already gone and not listed.
            versions: dict[str, dict[str, Any]] = response["data"].get("versions") or {}
            live = sorted(int(n) for n, v in versions.items() if not v.get("destroyed"))
            if live:
                kv.destroy_secret_versions(path=path, versions=live, mount_point=self._mount)

        await self._call("destroy_versions", destroy_versions)

    async def destroy(self, store_id: str) -> None:
        """Delete metadata and every version (idempotent)."""
        kv = self._client.secrets.kv.v2

        def destroy() -> None:
            try:
                kv.delete_metadata_and_all_versions(
                    path=self._path(store_id), mount_point=self._mount
                )
            except hvac.exceptions.InvalidPath:
                return

        await self._call("destroy", destroy)

    async def ping(self) -> bool:
        """True when Vault answers and is unsealed."""
        try:
            return bool(await asyncio.to_thread(self._client.sys.is_sealed) is False)
        except Exception:
            return False
