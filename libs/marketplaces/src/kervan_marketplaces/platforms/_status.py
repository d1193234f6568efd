"""Raw platform status → normalised lifecycle (marketplace-apis.md §8)."""

from __future__ import annotations

from kervan_contracts.orders.v1 import OrderStatus as S

TRENDYOL = {
    "Awaiting": S.PENDING_PAYMENT,
    "Created": S.NEW,
    "Picking": S.PREPARING,
    "Invoiced": S.PREPARING,
    "Shipped": S.SHIPPED,
    "AtCollectionPoint": S.SHIPPED,
    "Delivered": S.DELIVERED,
    "UnDelivered": S.UNDELIVERED,
    "Cancelled": S.CANCELLED,
    "UnSupplied": S.CANCELLED,
    "Returned": S.RETURNED,
    "UnPacked": S.SPLIT_SUPERSEDED,
}

HEPSIBURADA = {
    "PaymentAwaiting": S.PENDING_PAYMENT,
    "Open": S.NEW,
    "Unpacked": S.NEW,  # lines of an unpacked package are open again
    "Packaged": S.PREPARING,
    "InTransit": S.SHIPPED,
    "Delivered": S.DELIVERED,
    "Undelivered": S.UNDELIVERED,
    "UnDelivered": S.UNDELIVERED,
    "CancelledByMerchant": S.CANCELLED,
    "CancelledByCustomer": S.CANCELLED,
    "CancelledBySap": S.CANCELLED,
    "Cancelled": S.CANCELLED,
    "ClaimCreated": S.RETURNED,
}

N11 = {
    "Created": S.NEW,
    "Picking": S.PREPARING,
    "Shipped": S.SHIPPED,
    "Delivered": S.DELIVERED,
    "Cancelled": S.CANCELLED,
    "UnSupplied": S.CANCELLED,
    "UnPacked": S.NEW,  # children of a split carry on as open packages
}

AMAZON = {
    "PendingAvailability": S.PENDING_PAYMENT,
    "Pending": S.PENDING_PAYMENT,
    "Unshipped": S.NEW,
    "PartiallyShipped": S.SHIPPED,
    "Shipped": S.SHIPPED,
    "InvoiceUnconfirmed": S.SHIPPED,
    "Canceled": S.CANCELLED,
    "Unfulfillable": S.CANCELLED,
}

IDEASOFT = {
    "waiting_for_payment": S.PENDING_PAYMENT,
    "waiting_for_approval": S.NEW,
    "approved": S.NEW,
    "on_accumulation": S.PREPARING,
    "being_prepared": S.PREPARING,
    "fulfilled": S.SHIPPED,
    "delivered": S.DELIVERED,
    "cancelled": S.CANCELLED,
    "refunded": S.RETURNED,
}

TSOFT_DEFAULT = {
    "9": S.CANCELLED,
    "10": S.RETURNED,
}
"""Only 9 and 10 are known; other T-Soft ids are store-configured (see the adapter's map)."""


def lookup(table: dict[str, S], raw: str, default: S = S.NEW) -> S:
    """Normalised status of `raw`; unknown values fall back to `default` (kept in raw_status)."""
    return table.get(raw, default)
