"""Stores, version 1: the store snapshot and its lifecycle events.

Topic `kervan.stores.v1` is compacted and keyed by `store_id`. Every event carries the full
snapshot with a per-store `version`, so a consumer keeps a projection by upserting when the
version is newer than the one it has, whatever the event type. After `StoreDeleted` the
producer writes a tombstone (same key, null value) so compaction eventually forgets the store.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from kervan_contracts import topics
from kervan_contracts.envelope import ContractModel, UtcDatetime
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Identifier, Platform


class StoreStatus(StrEnum):
    """Whether Kervan integrates the store at all."""

    ACTIVE = "active"
    PASSIVE = "passive"
    """A passive store gets neither order nor product integration."""


class AutoUpdateType(StrEnum):
    """What catalog-sync keeps up to date on the marketplace."""

    ALL = "all"
    PRODUCT_INFO = "product_info"
    PRICE = "price"
    STOCK = "stock"
    STOCK_AND_PRICE = "stock_and_price"


class ProductSettings(ContractModel):
    """Store settings, Products tab."""

    model_config = ConfigDict(title="ProductSettings")

    default_price_list_id: Identifier | None = Field(
        default=None, description="Price list whose prices are sent to this store."
    )
    default_category_id: Identifier | None = Field(
        default=None, description="Category given to new products on this store."
    )
    default_brand_id: Identifier | None = Field(
        default=None, description="Brand given to new products on this store."
    )
    product_update_enabled: bool = Field(
        default=False, description="Whether catalog-sync pushes anything to this store."
    )
    auto_update_type: AutoUpdateType = Field(
        default=AutoUpdateType.ALL, description="Which kinds of change are pushed."
    )


class OrderSettings(ContractModel):
    """Store settings, Orders tab."""

    model_config = ConfigDict(title="OrderSettings")

    order_transfer_enabled: bool = Field(
        default=False, description="Whether order-ingest polls this store's orders."
    )
    default_warehouse_id: Identifier | None = Field(
        default=None, description="Warehouse that this store's orders deduct stock from."
    )
    cargo_company_id: Identifier | None = Field(
        default=None, description="Cargo company used for this store's shipments."
    )
    stock_deduction_enabled: bool = Field(
        default=False, description="Whether received orders deduct stock automatically."
    )


class StoreSnapshot(ContractModel):
    """The whole state of a store at one version."""

    model_config = ConfigDict(title="StoreSnapshot")

    store_id: Identifier = Field(description="Kervan's id of the store.")
    title: str = Field(min_length=1, max_length=200, description="Seller-given store name.")
    platform: Platform = Field(description="Marketplace or web-store platform.")
    status: StoreStatus = Field(description="`active` or `passive`.")
    test_mode: bool = Field(description="True when the store uses the platform's sandbox.")
    store_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https://[^\s]+$",
        description="Public https link to the store (e.g. the Amazon store page).",
    )
    products: ProductSettings = Field(description="Products tab settings.")
    orders: OrderSettings = Field(description="Orders tab settings.")
    version: int = Field(
        ge=1,
        description=(
            "Per-store version, +1 on every change. Consumers upsert only when it is newer "
            "than what they hold; older or equal versions are duplicates or stale replays."
        ),
    )
    created_at: UtcDatetime = Field(description="When the store was created (UTC).")
    updated_at: UtcDatetime = Field(description="When this version was written (UTC).")

    @model_validator(mode="after")
    def _updated_after_created(self) -> Self:
        if self.updated_at < self.created_at:
            raise ValueError("updated_at must not precede created_at")
        return self

    @property
    def is_active(self) -> bool:
        """True when the store is active."""
        return self.status is StoreStatus.ACTIVE


class _StoreEvent(EventPayload):
    topic = topics.STORES
    event_version = 1

    store: StoreSnapshot = Field(description="Full snapshot of the store after the change.")

    def partition_key(self) -> str:
        """`{store_id}`."""
        return self.store.store_id


class StoreCreated(_StoreEvent):
    """A store was added."""

    model_config = ConfigDict(title="StoreCreated")
    event_type = "stores.store.created"


class StoreUpdated(_StoreEvent):
    """Title, test mode or store URL changed."""

    model_config = ConfigDict(title="StoreUpdated")
    event_type = "stores.store.updated"


class StoreSettingsChanged(_StoreEvent):
    """Products or Orders settings changed."""

    model_config = ConfigDict(title="StoreSettingsChanged")
    event_type = "stores.store.settings_changed"


class StoreStatusChanged(_StoreEvent):
    """The store was switched between active and passive."""

    model_config = ConfigDict(title="StoreStatusChanged")
    event_type = "stores.store.status_changed"


class StoreDeleted(_StoreEvent):
    """The store was deleted; its last snapshot is carried, and a tombstone follows."""

    model_config = ConfigDict(title="StoreDeleted")
    event_type = "stores.store.deleted"

    deleted_at: UtcDatetime = Field(description="When the store was deleted (UTC).")
