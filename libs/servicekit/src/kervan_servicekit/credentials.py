"""Reading a store's marketplace credentials from Vault, for order-ingest and catalog-sync.

Each service reads with its own Vault token (a read-only policy on the credentials path, see
deploy/vault/). Credentials are cached per store and dropped when `CredentialsChanged` says a
newer version exists, so a rotation reaches the next call without polling Vault; after a
401/403 `refresh` reads Vault once more in case a newer version is already there. Values are
`SecretStr` and never appear in reprs, logs or exception texts.

Vault is called with httpx (async) rather than hvac (blocking), so nothing blocks the loop and
servicekit needs no extra dependency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_servicekit.logging import get_logger
from kervan_servicekit.settings import VaultSettings

DEFAULT_PREFIX = "marketplace-credentials"

logger = get_logger("kervan_servicekit.credentials")


class CredentialsUnavailableError(RuntimeError):
    """Vault could not be read (unreachable, sealed, permission denied). Retry later."""


@dataclass(frozen=True, slots=True, repr=False)
class StoreCredentials:
    """One store's credentials at one Vault version."""

    store_id: str
    version: int
    fields: Mapping[str, SecretStr]

    @classmethod
    def of(cls, store_id: str, version: int, fields: Mapping[str, str]) -> StoreCredentials:
        """Credentials from plain values (Vault's answer, or a test's fixed credentials)."""
        secrets = MappingProxyType({str(k): SecretStr(str(v)) for k, v in fields.items()})
        return cls(store_id=store_id, version=version, fields=secrets)

    def value(self, name: str) -> str:
        """The plain value of one field (use it only while building a request)."""
        return self.fields[name].get_secret_value()

    def plain(self) -> dict[str, str]:
        """Every field as plain text (e.g. for `AdapterFactory.create(credentials=...)`)."""
        return {name: secret.get_secret_value() for name, secret in self.fields.items()}

    def __repr__(self) -> str:
        return (
            f"StoreCredentials(store_id={self.store_id!r}, version={self.version}, "
            f"fields={sorted(self.fields)})"
        )


@dataclass(slots=True)
class _Cached:
    credentials: StoreCredentials | None
    fetched_at: float


class CredentialsReader:
    """Per-store cached reads of `<mount>/data/<prefix>/<store_id>` (KV v2).

    `max_age_seconds` bounds how long an entry is trusted without an event (a safety net for a
    missed `CredentialsChanged`); `None` keeps entries until an event drops them.
    """

    def __init__(
        self,
        vault: VaultSettings,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_age_seconds: float | None = 300.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = f"{vault.addr.rstrip('/')}/v1/{quote(vault.kv_mount)}/data/{prefix.strip('/')}"
        self._token = vault.token
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=vault.timeout_seconds, follow_redirects=False
        )
        self._max_age = max_age_seconds
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, store_id: str) -> StoreCredentials | None:
        """The store's current credentials (None when it has none). One Vault read per miss."""
        cached = self._fresh(store_id)
        if cached is not None:
            return cached.credentials
        async with self._locks.setdefault(store_id, asyncio.Lock()):
            cached = self._fresh(store_id)  # a concurrent caller may have filled it
            if cached is not None:
                return cached.credentials
            credentials = await self._read(store_id)
            self._cache[store_id] = _Cached(credentials, self._clock())
            return credentials

    async def refresh(self, store_id: str, *, rejected_version: int) -> StoreCredentials | None:
        """After a platform refused `rejected_version`: one Vault read, bypassing the cache.

        Returns the credentials when Vault holds a newer version (a rotation this process has
        not heard of yet), and caches them. None otherwise: the same version, none, or Vault
        not readable now (logged; the caller pauses the store as for any 401/403). Either way
        the refused entry is dropped first, as by `invalidate`.
        """
        async with self._locks.setdefault(store_id, asyncio.Lock()):
            self._cache.pop(store_id, None)
            try:
                credentials = await self._read(store_id)
            except CredentialsUnavailableError as exc:
                logger.warning(
                    "credentials not re-read after a rejection", store_id=store_id, reason=str(exc)
                )
                return None
            if credentials is None or credentials.version <= rejected_version:
                return None
            self._cache[store_id] = _Cached(credentials, self._clock())
        logger.info(
            "credentials refused, a newer version read",
            store_id=store_id,
            rejected_version=rejected_version,
            version=credentials.version,
        )
        return credentials

    def invalidate(self, store_id: str) -> None:
        """Forget a store's entry (e.g. after the platform answered 401/403)."""
        self._cache.pop(store_id, None)

    def on_credentials_changed(self, event: CredentialsChanged) -> bool:
        """Apply a `CredentialsChanged`; True when the cached entry was dropped.

        Older events (version below the cached one) are replays and change nothing.
        """
        return self.supersede(event.store_id, event.version, deleted=event.deleted)

    def supersede(self, store_id: str, version: int, *, deleted: bool = False) -> bool:
        """Credentials of `version` exist (or were deleted at it): drop the cached entry if it
        is older, or holds credentials the deletion removed; True when it was dropped.

        For a version learnt elsewhere than from the event itself, e.g. a projection shared by
        several replicas of which only one consumed the event.
        """
        cached = self._cache.get(store_id)
        if cached is None:
            return False
        held = cached.credentials.version if cached.credentials else 0
        if deleted:
            # A deletion carries the version of the write it removed: newer credentials, or
            # none cached, stay.
            if cached.credentials is None or held > version:
                return False
        elif version <= held:
            return False
        del self._cache[store_id]
        return True

    def _fresh(self, store_id: str) -> _Cached | None:
        cached = self._cache.get(store_id)
        if cached is None:
            return None
        if self._max_age is not None and self._clock() - cached.fetched_at > self._max_age:
            return None
        return cached

    async def _read(self, store_id: str) -> StoreCredentials | None:
        url = f"{self._base}/{quote(store_id, safe='')}"
        try:
            response = await self._client.get(
                url, headers={"X-Vault-Token": self._token.get_secret_value()}
            )
        except httpx.HTTPError as exc:
            raise CredentialsUnavailableError(f"vault unreachable ({type(exc).__name__})") from None
        if response.status_code == 404:
            return None  # never written, or destroyed
        if response.status_code != 200:
            raise CredentialsUnavailableError(f"vault answered {response.status_code}")
        try:
            body = response.json()["data"]
            data = body.get("data") or {}
            version = int(body["metadata"]["version"])
        except (ValueError, KeyError, TypeError):
            raise CredentialsUnavailableError("vault answered an unexpected body") from None
        if not data:
            return None  # the current version is soft-deleted
        return StoreCredentials.of(store_id, version, data)

    async def aclose(self) -> None:
        """Close the HTTP client if the reader created it."""
        if self._owns_client:
            await self._client.aclose()
