"""The service's state, as plain values: store projection, credential metadata, statuses."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform


@dataclass(frozen=True, slots=True)
class StoreView:
    """What credential-vault keeps of a store (from kervan.stores.v1)."""

    store_id: str
    platform: Platform
    test_mode: bool
    version: int
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class CredentialMetadata:
    """Everything known about a store's credentials except the values."""

    store_id: str
    platform: Platform
    fields_set: tuple[str, ...]
    vault_version: int
    fingerprint: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """Latest API status of a store."""

    store_id: str
    platform: Platform
    status: ApiStatus
    reason_code: str | None
    message: str | None
    checked_at: datetime
    test_mode: bool


def fingerprint(key: bytes, store_id: str, fields: Mapping[str, str]) -> str:
    """HMAC-SHA256 of the canonical credentials under the service's key (hex, 32 chars).

    Equal credentials of one store give equal fingerprints, so an operator can see whether a
    rotation changed anything; without the key nothing can be guessed from it, not even by
    trying candidate secrets, which a plain hash would allow.
    """
    canonical = json.dumps(
        {"store_id": store_id, "fields": dict(sorted(fields.items()))},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()[:32]
