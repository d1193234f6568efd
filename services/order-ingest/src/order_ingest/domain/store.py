"""What order-ingest knows about a store: the projection of its snapshot, API status and
credentials, and the one rule deciding whether it may be polled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.stores.v1 import StoreSnapshot, StoreStatus


@dataclass(frozen=True, slots=True)
class StoreProfile:
    """The fields of a store snapshot that order-ingest needs, with its version."""

    store_id: str
    platform: str
    title: str
    active: bool
    test_mode: bool
    order_transfer_enabled: bool
    stock_deduction_enabled: bool
    default_warehouse_id: str | None
    version: int

    @classmethod
    def from_snapshot(cls, snapshot: StoreSnapshot) -> StoreProfile:
        """Project a `kervan.stores.v1` snapshot."""
        return cls(
            store_id=snapshot.store_id,
            platform=snapshot.platform.value,
            title=snapshot.title,
            active=snapshot.status is StoreStatus.ACTIVE,
            test_mode=snapshot.test_mode,
            order_transfer_enabled=snapshot.orders.order_transfer_enabled,
            stock_deduction_enabled=snapshot.orders.stock_deduction_enabled,
            default_warehouse_id=snapshot.orders.default_warehouse_id,
            version=snapshot.version,
        )


@dataclass(frozen=True, slots=True)
class ApiStatusView:
    """The latest API status credential-vault published for a store."""

    status: ApiStatus
    reason_code: str | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class CredentialsView:
    """The Vault version of a store's credentials (never their values)."""

    version: int
    deleted: bool
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a store may be polled now, and if not, why (a stable code)."""

    eligible: bool
    reason: str | None = None


def eligibility(
    store: StoreProfile | None,
    api_status: ApiStatusView | None,
    paused_reason: str | None,
) -> Eligibility:
    """Active, order transfer on, API status valid and not paused by a 401/403."""
    if store is None:
        return Eligibility(False, "unknown_store")
    if not store.active:
        return Eligibility(False, "store_passive")
    if not store.order_transfer_enabled:
        return Eligibility(False, "order_transfer_off")
    if api_status is None or api_status.status is not ApiStatus.VALID:
        return Eligibility(False, "api_status_not_valid")
    if paused_reason is not None:
        return Eligibility(False, f"paused_{paused_reason}")
    return Eligibility(True)
