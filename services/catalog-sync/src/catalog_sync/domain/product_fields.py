"""Product information in each platform's own field names (what `push_product_info` carries)."""

from __future__ import annotations

from pydantic import JsonValue

from catalog_sync.domain.catalog import Product
from kervan_contracts.identifiers import Platform


def product_fields(platform: Platform, product: Product) -> dict[str, JsonValue] | None:
    """The product fields a platform accepts, or None when it takes no product updates."""
    match platform:
        case Platform.TRENDYOL:
            fields: dict[str, JsonValue] = {"title": product.title}
            if product.description:
                fields["description"] = product.description
            return fields
        case Platform.N11:
            fields = {}
            if product.description:
                fields["description"] = product.description
            if product.vat_rate is not None:
                fields["vatRate"] = int(product.vat_rate)
            if product.model_code:
                fields["productMainId"] = product.model_code
            return fields or None
        case Platform.AMAZON_TR:
            # Listings Items attributes are arrays of {value, language_tag}.
            fields = {"item_name": [{"value": product.title, "language_tag": "tr_TR"}]}
            if product.description:
                fields["product_description"] = [
                    {"value": product.description, "language_tag": "tr_TR"}
                ]
            return fields
        case Platform.IDEASOFT:
            return {"name": product.title}
        case Platform.TSOFT:
            return {"ProductName": product.title}
        case Platform.HEPSIBURADA:
            return None  # price and stock only through the listing API
