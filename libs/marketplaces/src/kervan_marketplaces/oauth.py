"""OAuth pieces: a shared access-token cache and helpers for consent URLs."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass
class CachedToken:
    """An access token and the monotonic time after which it must not be used."""

    value: str
    expires_at: float


class TokenCache:
    """Access tokens keyed by store and a digest of the refresh credential.

    Shared by every adapter instance of a process (via the factory) so a token is fetched once
    per hour per store, not once per poll. The key includes a digest of the refresh token, so a
    re-authorised store never gets the old store's token.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, margin: float = 60.0) -> None:
        self._clock = clock
        self._margin = margin
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def key(store_key: str, refresh_credential: str) -> str:
        """Cache key: never contains the credential itself."""
        digest = hashlib.sha256(refresh_credential.encode()).hexdigest()[:16]
        return f"{store_key}:{digest}"

    def lock(self, key: str) -> asyncio.Lock:
        """One refresh at a time per key (concurrent callers wait for the same token)."""
        return self._locks.setdefault(key, asyncio.Lock())

    def get(self, key: str) -> str | None:
        """A still-valid token, or None."""
        token = self._tokens.get(key)
        if token is None or token.expires_at <= self._clock():
            return None
        return token.value

    def put(self, key: str, value: str, expires_in: float) -> None:
        """Store a token valid for `expires_in` seconds (minus a safety margin)."""
        self._tokens[key] = CachedToken(value, self._clock() + max(0.0, expires_in - self._margin))

    def drop(self, key: str) -> None:
        """Forget a token the platform rejected."""
        self._tokens.pop(key, None)


def consent_url(base: str, params: dict[str, str]) -> str:
    """`base?query` with the parameters encoded (the base has no query by validation)."""
    return f"{base}?{urlencode(params)}"
