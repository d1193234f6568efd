"""Orders, version 1: the normalised order every marketplace adapter produces, and its events.

Topic `kervan.orders.v1`, key `{store_id}:{order_number}`: every event about one order lands
on one partition, in order.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from kervan_contracts import topics
from kervan_contracts.envelope import ContractModel, UtcDatetime
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Identifier, OrderNumber, Platform, Sku, VendorRef
from kervan_contracts.money import CurrencyCode, Money, NonNegativeMoney


class OrderStatus(StrEnum):
    """Normalised order/line lifecycle, common to all platforms (marketplace-apis.md §8)."""

    PENDING_PAYMENT = "pending_payment"
    """Placed but not paid yet; must not be fulfilled."""
    NEW = "new"
    """Paid/approved and waiting for the seller."""
    PREPARING = "preparing"
    """Being picked, packed or invoiced."""
    SHIPPED = "shipped"
    """Handed to the carrier."""
    DELIVERED = "delivered"
    """Delivered to the buyer."""
    UNDELIVERED = "undelivered"
    """The carrier could not deliver."""
    CANCELLED = "cancelled"
    """Cancelled by buyer, seller or marketplace (including 'unsupplied')."""
    RETURNED = "returned"
    """Returned or refunded after delivery."""
    SPLIT_SUPERSEDED = "split_superseded"
    """The package was split; its lines continue in the packages that replaced it."""


class OrderBuyer(ContractModel):
    """Minimal buyer data: enough to recognise an order, nothing to contact or identify a person.

    Email, phone, addresses and tax/identity numbers are deliberately absent (KVKK/GDPR data
    minimisation); services that need them must fetch them from the marketplace.
    """

    model_config = ConfigDict(title="OrderBuyer")

    name: str | None = Field(
        default=None,
        max_length=200,
        description="Buyer's display name as the marketplace gives it.",
    )
    city: str | None = Field(default=None, max_length=100, description="Delivery city, if known.")


class OrderTotals(ContractModel):
    """Order-level amounts, all in the order's currency."""

    model_config = ConfigDict(title="OrderTotals")

    net: NonNegativeMoney = Field(description="What the buyer pays: gross minus discounts.")
    gross: NonNegativeMoney | None = Field(
        default=None, description="Sum of line totals before order-level discounts, if given."
    )
    discount: NonNegativeMoney | None = Field(
        default=None, description="Total discount as a positive amount, if given."
    )
    tax: NonNegativeMoney | None = Field(
        default=None, description="Tax included in `net`, if the platform reports it."
    )

    def amounts(self) -> list[Money]:
        """Every amount that is present."""
        return [m for m in (self.net, self.gross, self.discount, self.tax) if m is not None]


class OrderLine(ContractModel):
    """One line of an order: a SKU, a quantity and its prices."""

    model_config = ConfigDict(title="OrderLine")

    line_id: VendorRef = Field(
        description=(
            "The marketplace's stable line id (Trendyol lines.id, Hepsiburada lineItemId, "
            "n11 orderVendorRef, Amazon OrderItemId); unique within the order."
        ),
    )
    merchant_sku: Sku = Field(description="Seller's SKU (stock code) the line refers to.")
    barcode: str | None = Field(
        default=None, min_length=1, max_length=64, description="Product barcode (GTIN), if given."
    )
    channel_sku: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Marketplace's own product id (Hepsiburada hbSku, Amazon ASIN, ...), if any.",
    )
    product_name: str | None = Field(
        default=None, max_length=500, description="Product name shown on the marketplace."
    )
    quantity: int = Field(ge=1, description="Units ordered on this line.")
    unit_price: NonNegativeMoney = Field(description="Price of one unit after line discounts.")
    line_total: NonNegativeMoney = Field(description="Amount of the whole line.")
    status: OrderStatus = Field(description="Normalised status of this line.")
    raw_status: str = Field(
        max_length=100, description="The platform's line status, verbatim (may be empty)."
    )
    cancelled_quantity: int = Field(
        default=0, ge=0, description="Units of this line cancelled so far (cumulative)."
    )
    returned_quantity: int = Field(
        default=0, ge=0, description="Units of this line returned so far (cumulative)."
    )

    @model_validator(mode="after")
    def _quantities_fit(self) -> Self:
        if self.cancelled_quantity + self.returned_quantity > self.quantity:
            raise ValueError("cancelled_quantity + returned_quantity must not exceed quantity")
        if self.unit_price.currency != self.line_total.currency:
            raise ValueError("unit_price and line_total must share a currency")
        return self

    @property
    def active_quantity(self) -> int:
        """Units neither cancelled nor returned."""
        return self.quantity - self.cancelled_quantity - self.returned_quantity


class Order(ContractModel):
    """A marketplace order normalised across platforms; the unit is the order number.

    Orders are identified by `(store_id, order_number)` and lines by `line_id`; a package id
    can be replaced by the marketplace (splits), so it is carried but never used as a key.
    """

    model_config = ConfigDict(title="Order")

    platform: Platform = Field(description="Platform the order comes from.")
    store_id: Identifier = Field(description="Kervan store the order belongs to.")
    order_number: OrderNumber = Field(description="Marketplace order number.")
    package_id: VendorRef | None = Field(
        default=None,
        description=(
            "Current shipment package id (Trendyol shipmentVendorRef, Hepsiburada packageNumber, "
            "n11 id); absent on platforms without packages."
        ),
    )
    origin_package_ids: list[VendorRef] = Field(
        default_factory=list,
        description="Package ids this package was split from or replaces (lineage).",
    )
    status: OrderStatus = Field(description="Normalised order status.")
    raw_status: str = Field(max_length=100, description="The platform's order status, verbatim.")
    ordered_at: UtcDatetime = Field(description="When the buyer placed the order (UTC).")
    last_modified_at: UtcDatetime = Field(
        description="When the marketplace last changed the order (UTC)."
    )
    currency: CurrencyCode = Field(description="ISO 4217 currency of every amount in the order.")
    totals: OrderTotals = Field(description="Order-level amounts.")
    buyer: OrderBuyer | None = Field(default=None, description="Minimal buyer data, if any.")
    lines: list[OrderLine] = Field(min_length=1, description="The order's lines.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        line_ids = [line.line_id for line in self.lines]
        if len(set(line_ids)) != len(line_ids):
            raise ValueError("line_id must be unique within an order")
        amounts = [*self.totals.amounts()]
        for line in self.lines:
            amounts += [line.unit_price, line.line_total]
        if any(money.currency != self.currency for money in amounts):
            raise ValueError("every amount must be in the order's currency")
        return self

    def line(self, line_id: str) -> OrderLine:
        """The line with this id (KeyError if absent)."""
        for candidate in self.lines:
            if candidate.line_id == line_id:
                return candidate
        raise KeyError(line_id)


def order_key(store_id: str, order_number: str) -> str:
    """Kafka key of every event about one order: `{store_id}:{order_number}`."""
    return f"{store_id}:{order_number}"


class _OrderEvent(EventPayload):
    topic = topics.ORDERS
    event_version = 1

    order: Order = Field(description="The order as Kervan stored it after this change.")

    def partition_key(self) -> str:
        """`{store_id}:{order_number}`."""
        return order_key(self.order.store_id, self.order.order_number)


class OrderReceived(_OrderEvent):
    """Kervan saw this order for the first time."""

    model_config = ConfigDict(title="OrderReceived")
    event_type = "orders.order.received"


class OrderUpdated(_OrderEvent):
    """A known order changed (status, lines, package, amounts)."""

    model_config = ConfigDict(title="OrderUpdated")
    event_type = "orders.order.updated"

    previous_status: OrderStatus | None = Field(
        default=None, description="Order status before this change, if it changed."
    )


class CancelledLine(ContractModel):
    """A line affected by a cancellation."""

    model_config = ConfigDict(title="CancelledLine")

    line_id: VendorRef = Field(description="Id of the cancelled line.")
    cancelled_quantity: int = Field(
        ge=1, description="Units of the line cancelled so far (cumulative, as on the line)."
    )


class OrderCancelled(_OrderEvent):
    """Some or all lines of an order were cancelled."""

    model_config = ConfigDict(title="OrderCancelled")
    event_type = "orders.order.cancelled"

    cancelled_lines: list[CancelledLine] = Field(
        min_length=1, description="The lines cancelled (whole order: every line)."
    )

    @model_validator(mode="after")
    def _lines_belong_to_order(self) -> Self:
        for cancelled in self.cancelled_lines:
            try:
                line = self.order.line(cancelled.line_id)
            except KeyError:
                raise ValueError(
                    f"cancelled line {cancelled.line_id!r} is not in the order"
                ) from None
            if cancelled.cancelled_quantity > line.quantity:
                raise ValueError("cancelled_quantity exceeds the line's quantity")
        return self
