"""HTTP request and response bodies (pydantic). Requests reject unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import IDENTIFIER_PATTERN, Platform
from kervan_contracts.stores.v1 import AutoUpdateType, StoreStatus
from store_registry.app.ports import AuditEntry, StoreView
from store_registry.domain.model import OrderSettings, ProductSettings
from store_registry.domain.references import ReferenceItem

Id = Annotated[str, Field(pattern=IDENTIFIER_PATTERN, max_length=64)]
# Printable text with at least one non-space: control characters (NUL above all, which
# PostgreSQL text cannot hold) never reach the database.
PRINTABLE_TEXT = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
Title = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE_TEXT)]
Url = Annotated[str, Field(min_length=9, max_length=2048, pattern=r"^https://[\x21-\x7e]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE_TEXT)]


class _Request(BaseModel):
    # No mass assignment: id, version, api_status and timestamps are never accepted.
    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class StoreCreate(_Request):
    """A new store."""

    title: Title
    platform: Platform
    status: StoreStatus = StoreStatus.ACTIVE
    test_mode: bool = False
    store_url: Url | None = Field(
        default=None, description="Public https link to the store (e.g. the Amazon store page)."
    )


class StorePatch(_Request):
    """Fields to change; absent fields stay as they are, `store_url: null` clears the link."""

    title: Title | SkipJsonSchema[None] = None
    test_mode: bool | SkipJsonSchema[None] = None
    store_url: Url | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in ("title", "test_mode"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


def _products(settings: ProductSettings) -> dict[str, Any]:
    return {
        "default_price_list_id": settings.default_price_list_id,
        "default_category_id": settings.default_category_id,
        "default_brand_id": settings.default_brand_id,
        "product_update_enabled": settings.product_update_enabled,
        "auto_update_type": settings.auto_update_type,
    }


def _orders(settings: OrderSettings) -> dict[str, Any]:
    return {
        "order_transfer_enabled": settings.order_transfer_enabled,
        "default_warehouse_id": settings.default_warehouse_id,
        "cargo_company_id": settings.cargo_company_id,
        "stock_deduction_enabled": settings.stock_deduction_enabled,
    }


class ProductSettingsBody(_Request):
    """Store settings, Products tab."""

    default_price_list_id: Id | None = Field(description="Price list whose prices are sent.")
    default_category_id: Id | None = Field(description="Category given to new products.")
    default_brand_id: Id | None = Field(description="Brand given to new products.")
    product_update_enabled: bool = Field(description="Whether anything is pushed to the store.")
    auto_update_type: AutoUpdateType = Field(description="Which kinds of change are pushed.")

    def to_domain(self) -> ProductSettings:
        """Domain value."""
        return ProductSettings(**self.model_dump())

    @classmethod
    def of(cls, settings: ProductSettings) -> ProductSettingsBody:
        """From the domain value."""
        return cls.model_validate(_products(settings))


class OrderSettingsBody(_Request):
    """Store settings, Orders tab."""

    order_transfer_enabled: bool = Field(description="Whether orders are fetched.")
    default_warehouse_id: Id | None = Field(description="Warehouse orders deduct stock from.")
    cargo_company_id: Id | None = Field(description="Cargo company of the store's shipments.")
    stock_deduction_enabled: bool = Field(description="Whether orders deduct stock.")

    def to_domain(self) -> OrderSettings:
        """Domain value."""
        return OrderSettings(**self.model_dump())

    @classmethod
    def of(cls, settings: OrderSettings) -> OrderSettingsBody:
        """From the domain value."""
        return cls.model_validate(_orders(settings))


class ApiStatusOut(_Response):
    """Latest credential check (`unknown` with no check time until one arrives)."""

    status: ApiStatus
    reason_code: str | None
    message: str | None
    checked_at: datetime | None
    test_mode: bool | None


class StoreOut(_Response):
    """A store."""

    id: str
    title: str
    platform: Platform
    status: StoreStatus
    test_mode: bool
    store_url: str | None
    products: ProductSettingsBody
    orders: OrderSettingsBody
    api_status: ApiStatusOut
    version: int = Field(description="Per-store version; also the ETag.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: StoreView) -> StoreOut:
        """From a store view."""
        s, a = view.state, view.api_status
        # One validation of plain values (in pydantic-core) builds the nested models several
        # times faster than `model_construct` per level (pure Python), which matters in lists.
        return cls.model_validate(
            {
                "id": s.id,
                "title": s.title,
                "platform": s.platform,
                "status": s.status,
                "test_mode": s.test_mode,
                "store_url": s.store_url,
                "products": _products(s.products),
                "orders": _orders(s.orders),
                "api_status": {
                    "status": a.status,
                    "reason_code": a.reason_code,
                    "message": a.message,
                    "checked_at": a.checked_at,
                    "test_mode": a.test_mode,
                },
                "version": s.version,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
            }
        )


class StorePage(BaseModel):
    """A page of stores."""

    items: list[StoreOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class AuditEntryOut(_Response):
    """One audit entry."""

    id: int
    action: str = Field(description="created, updated, settings_changed, status_changed, deleted.")
    actor: str = Field(description="Name of the token that made the change.")
    at: datetime
    version: int | None = Field(description="Store version after the change.")
    correlation_id: str | None
    changes: dict[str, dict[str, Any]] = Field(
        description='Field-level diff: `{"products.auto_update_type": {"old": .., "new": ..}}`.'
    )

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        """From a domain entry."""
        return cls.model_construct(
            id=entry.id or 0,
            action=entry.action,
            actor=entry.actor,
            at=entry.at,
            version=entry.version,
            correlation_id=entry.correlation_id,
            changes=entry.changes,
        )


class AuditPage(BaseModel):
    """A page of audit entries, newest first."""

    items: list[AuditEntryOut]
    next_cursor: str | None


class ReferenceBody(_Request):
    """A reference item's mutable part."""

    name: Name


class ReferenceOut(_Response):
    """A reference list item."""

    id: str
    name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, item: ReferenceItem) -> ReferenceOut:
        """From the domain value."""
        return cls.model_construct(
            id=item.id, name=item.name, created_at=item.created_at, updated_at=item.updated_at
        )


class ReferencePage(BaseModel):
    """A page of reference items ordered by id."""

    items: list[ReferenceOut]
    next_cursor: str | None
