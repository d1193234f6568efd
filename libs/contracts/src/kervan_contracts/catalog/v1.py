"""Catalogue, version 1: products, prices and stock levels as the platform (ERP) publishes them.

Topic `kervan.catalog.v1` is compacted; its key names one record kind of one SKU, so compaction
keeps exactly the latest product, the latest price per price list and the latest stock level
per warehouse:

- `product:{sku}` for ProductUpserted
- `price:{sku}:{price_list_id}` for PriceChanged
- `stock:{sku}:{warehouse_id}` for StockLevelChanged

Price-list and warehouse ids cannot contain `:`, so the SKU is everything between the first
and the last `:` and keys stay unambiguous even for SKUs that contain `:`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from kervan_contracts import topics
from kervan_contracts.envelope import UtcDatetime
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Identifier, Sku
from kervan_contracts.inventory.v1 import MovementId
from kervan_contracts.money import DecimalAmount, NonNegativeMoney


def product_key(sku: str) -> str:
    """Catalog key of a product: `product:{sku}`."""
    return f"product:{sku}"


def price_key(sku: str, price_list_id: str) -> str:
    """Catalog key of a price: `price:{sku}:{price_list_id}`."""
    return f"price:{sku}:{price_list_id}"


def stock_level_key(sku: str, warehouse_id: str) -> str:
    """Catalog key of a stock level: `stock:{sku}:{warehouse_id}`."""
    return f"stock:{sku}:{warehouse_id}"


def _vat_in_range(value: Decimal) -> Decimal:
    if not Decimal(0) <= value <= Decimal(100):
        raise ValueError("vat_rate is a percentage between 0 and 100")
    return value


VatRate = Annotated[DecimalAmount, AfterValidator(_vat_in_range)]

ImageUrl = Annotated[
    str,
    Field(max_length=2048, pattern=r"^https?://[^\s]+$", description="Absolute http(s) URL."),
]


class ProductUpserted(EventPayload):
    """A product was created or its information changed (not price, not stock)."""

    model_config = ConfigDict(title="ProductUpserted")
    event_type = "catalog.product.upserted"
    event_version = 1
    topic = topics.CATALOG

    sku: Sku = Field(description="Merchant SKU; the product's identity on every marketplace.")
    title: str = Field(min_length=1, max_length=500, description="Product name.")
    description: str | None = Field(
        default=None, max_length=30000, description="Product description (HTML allowed)."
    )
    barcode: str | None = Field(
        default=None, min_length=1, max_length=64, description="Barcode (GTIN/EAN), if any."
    )
    model_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Groups variants of one model (Trendyol productMainId), if any.",
    )
    brand_id: Identifier | None = Field(
        default=None, description="Platform's brand id; the store's default brand when absent."
    )
    category_id: Identifier | None = Field(
        default=None,
        description="Platform's category id; the store's default category when absent.",
    )
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Attribute name → value (colour, size, ...)."
    )
    images: list[ImageUrl] = Field(
        default_factory=list, max_length=20, description="Image URLs, main image first."
    )
    vat_rate: VatRate | None = Field(
        default=None, description="VAT percentage as a decimal string, e.g. '20'."
    )

    def partition_key(self) -> str:
        """`product:{sku}`."""
        return product_key(self.sku)


class PriceChanged(EventPayload):
    """The price of a SKU in one price list changed."""

    model_config = ConfigDict(title="PriceChanged")
    event_type = "catalog.price.changed"
    event_version = 1
    topic = topics.CATALOG

    sku: Sku = Field(description="Merchant SKU.")
    price_list_id: Identifier = Field(description="Price list this price belongs to.")
    sale_price: NonNegativeMoney = Field(description="Price the buyer pays.")
    list_price: NonNegativeMoney = Field(
        description="Reference (strike-through) price; marketplaces expect it ≥ sale_price."
    )

    @model_validator(mode="after")
    def _same_currency(self) -> Self:
        if self.sale_price.currency != self.list_price.currency:
            raise ValueError("sale_price and list_price must share a currency")
        return self

    def partition_key(self) -> str:
        """`price:{sku}:{price_list_id}`."""
        return price_key(self.sku, self.price_list_id)


class StockLevelChanged(EventPayload):
    """The platform's absolute stock of a SKU in one warehouse."""

    model_config = ConfigDict(title="StockLevelChanged")
    event_type = "catalog.stock.level_changed"
    event_version = 1
    topic = topics.CATALOG

    sku: Sku = Field(description="Merchant SKU.")
    warehouse_id: Identifier = Field(description="Warehouse holding the stock.")
    quantity: int = Field(ge=0, description="Units available, absolute (not a delta).")
    as_of: UtcDatetime = Field(description="When the platform computed this level (UTC).")
    applied_movement_ids: list[MovementId] = Field(
        default_factory=list,
        description=(
            "Ids of the Kervan stock movements (`inventory.stock.deducted` / `released`) "
            "this warehouse/SKU level already includes. catalog-sync takes this level as "
            "the base and re-applies only the movements it knows of that are NOT listed, "
            "so no deduction is counted twice nor lost. Empty when the platform does not "
            "consume Kervan's movements (the level is then taken as is)."
        ),
    )

    @field_validator("applied_movement_ids")
    @classmethod
    def _unique_sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    def partition_key(self) -> str:
        """`stock:{sku}:{warehouse_id}`."""
        return stock_level_key(self.sku, self.warehouse_id)
