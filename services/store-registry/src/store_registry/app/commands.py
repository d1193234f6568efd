"""Commands: what a caller asks the service layer to do, with who is asking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import StoreStatus
from store_registry.domain.model import OrderSettings, ProductSettings
from store_registry.domain.references import ReferenceKind


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks (the token's name, never the token) and the request's correlation id."""

    actor: str
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreateStore:
    """Add a store."""

    caller: Caller
    title: str
    platform: Platform
    status: StoreStatus = StoreStatus.ACTIVE
    test_mode: bool = False
    store_url: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateStore:
    """Change title, test mode and/or store URL; `store_url_given` distinguishes a clear."""

    caller: Caller
    store_id: str
    expected_version: int | None
    title: str | None = None
    test_mode: bool | None = None
    store_url: str | None = None
    store_url_given: bool = False


@dataclass(frozen=True, slots=True)
class ChangeProductSettings:
    """Replace the Products tab."""

    caller: Caller
    store_id: str
    expected_version: int | None
    settings: ProductSettings


@dataclass(frozen=True, slots=True)
class ChangeOrderSettings:
    """Replace the Orders tab."""

    caller: Caller
    store_id: str
    expected_version: int | None
    settings: OrderSettings


@dataclass(frozen=True, slots=True)
class SetStoreStatus:
    """Activate or deactivate a store."""

    caller: Caller
    store_id: str
    expected_version: int | None
    status: StoreStatus


@dataclass(frozen=True, slots=True)
class DeleteStore:
    """Delete a store (a StoreDeleted event and a tombstone follow)."""

    caller: Caller
    store_id: str
    expected_version: int | None


@dataclass(frozen=True, slots=True)
class PutReference:
    """Create or rename a reference list item."""

    caller: Caller
    kind: ReferenceKind
    item_id: str
    name: str


@dataclass(frozen=True, slots=True)
class DeleteReference:
    """Delete a reference list item that no store uses."""

    caller: Caller
    kind: ReferenceKind
    item_id: str


@dataclass(frozen=True, slots=True)
class RecordApiStatus:
    """Apply one `ApiStatusChanged` from credential-vault to the API status column."""

    event_id: uuid.UUID
    store_id: str
    status: ApiStatus
    reason_code: str | None
    message: str | None
    checked_at: datetime
    test_mode: bool
