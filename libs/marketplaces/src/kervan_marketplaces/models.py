"""Value types of the adapter interface (what callers pass in and get back)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from kervan_contracts.identifiers import Sku


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UpdateType(StrEnum):
    """What a store lets Kervan push (the store-registry's update types)."""

    ALL = "all"
    PRODUCT_INFO = "product_info"
    PRICE = "price"
    STOCK = "stock"
    STOCK_AND_PRICE = "stock_and_price"


class AuthStyle(StrEnum):
    """How a store authenticates towards its platform."""

    KEY_SECRET = "key_secret"  # noqa: S105 - a style name, not a secret
    OAUTH_CONSENT = "oauth_consent"
    LOGIN_TOKEN = "login_token"  # noqa: S105 - a style name, not a secret


class CredentialCheck(_Value):
    """Outcome of `test_credentials()`: `reason` is a stable code when not valid."""

    valid: bool
    reason: str | None = Field(
        default=None, description="e.g. auth_rejected, forbidden, unreachable"
    )
    detail: str | None = Field(default=None, description="Platform's own message, secrets never.")


class PriceStockItem(_Value):
    """One SKU's new price and/or stock. Absent fields are not touched on the platform."""

    sku: Sku
    barcode: str | None = Field(default=None, description="Trendyol's key; required there.")
    platform_sku: str | None = Field(
        default=None, description="Hepsiburada hbSku / IdeaSoft product id, when known."
    )
    quantity: int | None = Field(default=None, ge=0)
    sale_price: Decimal | None = Field(default=None, ge=0)
    list_price: Decimal | None = Field(default=None, ge=0)
    currency: str = Field(default="TRY", pattern=r"^[A-Z]{3}$")


class ProductInfoItem(_Value):
    """Product fields for platforms that accept product-info updates."""

    sku: Sku
    barcode: str | None = None
    platform_sku: str | None = None
    product_type: str | None = Field(default=None, description="Amazon productType.")
    fields: dict[str, JsonValue] = Field(
        default_factory=dict, description="Platform field name → value (see capabilities)."
    )


class ListingRef(_Value):
    """How the platform identifies one of the store's listings (read from its product list)."""

    sku: Sku = Field(description="The seller's own code on the platform (stock code, SKU).")
    barcode: str | None = None
    platform_sku: str | None = Field(
        default=None,
        description="The id the push endpoints take besides the SKU (Hepsiburada hbSku, "
        "IdeaSoft product id), when there is one.",
    )
    product_id: str | None = Field(default=None, description="The platform's product id.")


class OutcomeState(StrEnum):
    """Per-item result of a push."""

    ACCEPTED = "accepted"
    FAILED = "failed"
    PENDING = "pending"


class ItemOutcome(_Value):
    """What happened to one SKU of a batch."""

    sku: str
    state: OutcomeState
    reason_code: str | None = Field(default=None, description="Platform's reason code, verbatim.")
    message: str | None = None


class BatchHandle(_Value):
    """Returned by a push; serialisable so a caller may store it and ask again later.

    `refs` are the platform's submission ids (Trendyol batchRequestId, Hepsiburada upload ids,
    n11 taskId, Amazon submissionIds). Synchronous platforms fill `outcomes` at once.
    """

    platform: str
    kind: str = Field(description="price_stock or product_info")
    refs: dict[str, str] = Field(default_factory=dict, description="label → platform id")
    skus: tuple[str, ...] = ()
    outcomes: tuple[ItemOutcome, ...] | None = None
    context: dict[str, Any] = Field(
        default_factory=dict, description="Adapter data needed to read the result (no secrets)."
    )


class BatchResult(_Value):
    """Per-item outcomes of a batch; `done` once nothing is pending."""

    handle: BatchHandle
    items: tuple[ItemOutcome, ...]

    @property
    def done(self) -> bool:
        """True when no item is pending any more."""
        return all(item.state is not OutcomeState.PENDING for item in self.items)

    def failed(self) -> tuple[ItemOutcome, ...]:
        """The items that failed (the only ones worth re-sending)."""
        return tuple(i for i in self.items if i.state is OutcomeState.FAILED)


class EndpointLimit(_Value):
    """A documented rate limit: `requests` per `per_seconds`, bursting to `burst`."""

    endpoint: str
    requests: float
    per_seconds: float
    burst: int
    source: str = Field(default="", description="Where the figure comes from and how sure it is.")


class OrderWindow(_Value):
    """How far and how wide an order query may reach on the platform."""

    max_window: timedelta | None = Field(description="Widest since..until of one query.")
    max_history: timedelta | None = Field(description="How far back orders are reachable.")
    max_page_size: int
    min_lag: timedelta = Field(default=timedelta(0), description="`until` <= now - min_lag.")


class Capabilities(_Value):
    """What one platform's API allows, as documented."""

    platform: str
    auth_style: AuthStyle
    update_types: frozenset[UpdateType]
    fields: dict[str, tuple[str, ...]] = Field(description="update kind → fields accepted")
    max_items_per_request: dict[str, int] = Field(description="price_stock/product_info → max")
    synchronous_updates: bool
    rate_limits: tuple[EndpointLimit, ...]
    order_window: OrderWindow
    has_sandbox: bool
