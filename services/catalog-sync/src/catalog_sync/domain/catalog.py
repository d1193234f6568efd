"""Projected catalogue and store facts the push rules read (plain values, no I/O)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType, StoreSnapshot, StoreStatus


@dataclass(frozen=True, slots=True)
class StoreView:
    """What catalog-sync needs of a store snapshot."""

    store_id: str
    platform: Platform
    active: bool
    test_mode: bool
    product_update_enabled: bool
    update_type: AutoUpdateType
    price_list_id: str | None
    warehouse_id: str | None
    version: int

    @classmethod
    def of(cls, snapshot: StoreSnapshot) -> StoreView:
        """The view of a store snapshot."""
        return cls(
            store_id=snapshot.store_id,
            platform=snapshot.platform,
            active=snapshot.status is StoreStatus.ACTIVE,
            test_mode=snapshot.test_mode,
            product_update_enabled=snapshot.products.product_update_enabled,
            update_type=snapshot.products.auto_update_type,
            price_list_id=snapshot.products.default_price_list_id,
            warehouse_id=snapshot.orders.default_warehouse_id,
            version=snapshot.version,
        )


@dataclass(frozen=True, slots=True)
class ApiState:
    """Latest credential check of a store."""

    status: ApiStatus
    checked_at: datetime
    reason_code: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialsVersion:
    """The latest credentials version of a store recorded in the shared `credential_versions`
    projection (metadata only, never secret material)."""

    version: int
    deleted: bool


@dataclass(frozen=True, slots=True)
class Product:
    """Product information from `ProductUpserted`."""

    sku: str
    title: str
    description: str | None = None
    barcode: str | None = None
    model_code: str | None = None
    brand_id: str | None = None
    category_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    images: tuple[str, ...] = ()
    vat_rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """A SKU's price in one price list."""

    sale: Decimal
    list_price: Decimal
    currency: str

    def text(self) -> str:
        """Canonical text used to compare with what a platform accepted."""
        return f"{self.sale.normalize():f}/{self.list_price.normalize():f} {self.currency}"


@dataclass(frozen=True, slots=True)
class ListingIdentity:
    """How a platform knows a SKU: barcode, its own SKU (hbSku, ASIN, seller SKU), product id."""

    barcode: str | None = None
    platform_sku: str | None = None
    product_id: str | None = None


def fingerprint(document: object) -> str:
    """Stable short digest of a JSON-able document (compares payloads without storing them)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
