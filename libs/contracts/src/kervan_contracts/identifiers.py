"""Identifier and enumeration types shared by every event context."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field


def _text_from_id(value: object) -> object:
    # Services keep ids as UUIDs or integers internally; the wire always carries text.
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

Identifier = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        description="Opaque id: 1-64 characters of letters, digits, `.`, `_` or `-`.",
    ),
    # After Field: pydantic drops Field constraints from the JSON Schema otherwise.
    BeforeValidator(_text_from_id),
]
"""Id of a store, warehouse, price list, brand, category or cargo company.

The character set excludes `:` on purpose: Kafka keys join ids with `:`, and keeping the
separator out of ids makes every key unambiguous.
"""

Sku = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$",
        description="Merchant SKU (stock code): no control characters, no surrounding spaces.",
    ),
]
"""A merchant SKU as the seller's catalogue spells it (the same string on every marketplace)."""

OrderNumber = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\s\x00-\x1f\x7f]+$",
        description="The marketplace's order number, verbatim (no whitespace).",
    ),
    # After Field: pydantic drops Field constraints from the JSON Schema otherwise.
    BeforeValidator(_text_from_id),
]
"""The marketplace's order number (Trendyol/Hepsiburada/n11 orderNumber, AmazonOrderId, ...)."""

VendorRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[^\s\x00-\x1f\x7f]+$",
        description="An id assigned by the marketplace, verbatim (no whitespace).",
    ),
    # After Field: pydantic drops Field constraints from the JSON Schema otherwise.
    BeforeValidator(_text_from_id),
]
"""A marketplace-assigned reference: order line id, package id, batch id."""

ReasonCode = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_.]{0,63}$",
        description="Stable, machine-readable snake_case code.",
    ),
]
"""A stable code naming why something happened, e.g. `auth_rejected`."""

ShortText = Annotated[str, Field(max_length=1000)]
"""Human-readable text of bounded size (messages, titles)."""


class Platform(StrEnum):
    """Marketplaces and web-store platforms Kervan integrates with."""

    TRENDYOL = "trendyol"
    HEPSIBURADA = "hepsiburada"
    N11 = "n11"
    AMAZON_TR = "amazon_tr"
    IDEASOFT = "ideasoft"
    TSOFT = "tsoft"
