"""Order status vocabularies: each platform's raw values and the normalised lifecycle."""

from __future__ import annotations

NORMALISED = (
    "PENDING_PAYMENT",
    "NEW",
    "PREPARING",
    "SHIPPED",
    "DELIVERED",
    "UNDELIVERED",
    "CANCELLED",
    "RETURNED",
)

# Normalised value -> the raw status the simulator stores for that platform.
# A missing key means the platform has no such state; the control API refuses it.
_TO_RAW: dict[str, dict[str, str]] = {
    "trendyol": {
        "PENDING_PAYMENT": "Awaiting",
        "NEW": "Created",
        "PREPARING": "Picking",
        "SHIPPED": "Shipped",
        "DELIVERED": "Delivered",
        "UNDELIVERED": "UnDelivered",
        "CANCELLED": "Cancelled",
        "RETURNED": "Returned",
    },
    "hepsiburada": {
        "PENDING_PAYMENT": "PaymentAwaiting",
        "NEW": "Open",
        "PREPARING": "Packaged",
        "SHIPPED": "InTransit",
        "DELIVERED": "Delivered",
        "UNDELIVERED": "Undelivered",
        "CANCELLED": "CancelledByCustomer",
        "RETURNED": "ClaimCreated",
    },
    "n11": {
        "NEW": "Created",
        "PREPARING": "Picking",
        "SHIPPED": "Shipped",
        "DELIVERED": "Delivered",
        "CANCELLED": "Cancelled",
    },
    "amazon_tr": {
        "PENDING_PAYMENT": "Pending",
        "NEW": "Unshipped",
        "PREPARING": "Unshipped",
        "SHIPPED": "Shipped",
        "DELIVERED": "Shipped",
        "CANCELLED": "Canceled",
    },
    "ideasoft": {
        "PENDING_PAYMENT": "waiting_for_payment",
        "NEW": "waiting_for_approval",
        "PREPARING": "being_prepared",
        "SHIPPED": "fulfilled",
        "DELIVERED": "delivered",
        "CANCELLED": "cancelled",
        "RETURNED": "refunded",
    },
    # T-Soft status ids are configured per store; these are the simulator's store defaults
    # (9 = cancelled and 10 = returned are the values seen in integrators' code).
    "tsoft": {
        "PENDING_PAYMENT": "11",
        "NEW": "1",
        "PREPARING": "2",
        "SHIPPED": "3",
        "DELIVERED": "4",
        "CANCELLED": "9",
        "RETURNED": "10",
    },
}

RAW_STATUSES: dict[str, frozenset[str]] = {
    "trendyol": frozenset(
        {
            "Created",
            "Picking",
            "Invoiced",
            "Shipped",
            "Cancelled",
            "Delivered",
            "UnDelivered",
            "Returned",
            "AtCollectionPoint",
            "UnSupplied",
            "UnPacked",
            "Awaiting",
        }
    ),
    "hepsiburada": frozenset(
        {
            "PaymentAwaiting",
            "Open",
            "Packaged",
            "InTransit",
            "Delivered",
            "Undelivered",
            "CancelledByMerchant",
            "CancelledByCustomer",
            "CancelledBySap",
            "ClaimCreated",
        }
    ),
    "n11": frozenset(
        {"Created", "Picking", "Shipped", "Cancelled", "Delivered", "UnPacked", "UnSupplied"}
    ),
    "amazon_tr": frozenset(
        {
            "PendingAvailability",
            "Pending",
            "Unshipped",
            "PartiallyShipped",
            "Shipped",
            "InvoiceUnconfirmed",
            "Canceled",
            "Unfulfillable",
        }
    ),
    "ideasoft": frozenset(
        {
            "waiting_for_approval",
            "approved",
            "fulfilled",
            "cancelled",
            "delivered",
            "on_accumulation",
            "waiting_for_payment",
            "being_prepared",
            "refunded",
            "personal_status_1",
            "personal_status_2",
            "personal_status_3",
        }
    ),
    "tsoft": frozenset({"1", "2", "3", "4", "9", "10", "11"}),
}

TSOFT_STATUS_NAMES = {
    "1": "Onay Bekliyor",
    "2": "Hazirlaniyor",
    "3": "Kargoya Verildi",
    "4": "Teslim Edildi",
    "9": "Iptal Edildi",
    "10": "Iade Edildi",
    "11": "Odeme Bekleniyor",
}


def to_raw(platform: str, status: str) -> str:
    """Map a normalised or raw status to the platform's raw value; ValueError if unknown."""
    if status in RAW_STATUSES[platform]:
        return status
    raw = _TO_RAW[platform].get(status.upper())
    if raw is None:
        raise ValueError(f"status {status!r} does not exist on {platform}")
    return raw


def cancelled_raw(platform: str) -> str:
    """The raw status a fully cancelled order takes."""
    return _TO_RAW[platform]["CANCELLED"]
