"""Domain changes → `kervan.stores.v1` envelopes (built from the contracts, never by hand)."""

from __future__ import annotations

from kervan_contracts.envelope import Envelope
from kervan_contracts.registry import make_envelope
from kervan_contracts.stores.v1 import (
    OrderSettings,
    ProductSettings,
    StoreCreated,
    StoreDeleted,
    StoreSettingsChanged,
    StoreSnapshot,
    StoreStatusChanged,
    StoreUpdated,
)
from store_registry.domain.model import ChangeKind, StoreChange, StoreState

PRODUCER = "store-registry"

_EVENTS: dict[
    ChangeKind,
    type[StoreCreated | StoreUpdated | StoreSettingsChanged | StoreStatusChanged],
] = {
    ChangeKind.CREATED: StoreCreated,
    ChangeKind.UPDATED: StoreUpdated,
    ChangeKind.SETTINGS_CHANGED: StoreSettingsChanged,
    ChangeKind.STATUS_CHANGED: StoreStatusChanged,
}

StoreEvent = StoreCreated | StoreUpdated | StoreSettingsChanged | StoreStatusChanged | StoreDeleted


def snapshot_of(state: StoreState) -> StoreSnapshot:
    """The contract snapshot of a store state."""
    p, o = state.products, state.orders
    return StoreSnapshot(
        store_id=state.id,
        title=state.title,
        platform=state.platform,
        status=state.status,
        test_mode=state.test_mode,
        store_url=state.store_url,
        products=ProductSettings(
            default_price_list_id=p.default_price_list_id,
            default_category_id=p.default_category_id,
            default_brand_id=p.default_brand_id,
            product_update_enabled=p.product_update_enabled,
            auto_update_type=p.auto_update_type,
        ),
        orders=OrderSettings(
            order_transfer_enabled=o.order_transfer_enabled,
            default_warehouse_id=o.default_warehouse_id,
            cargo_company_id=o.cargo_company_id,
            stock_deduction_enabled=o.stock_deduction_enabled,
        ),
        version=state.version,
        created_at=state.created_at,
        updated_at=state.updated_at,
    )


def event_of(change: StoreChange) -> StoreEvent:
    """The stores.v1 payload describing one change."""
    snapshot = snapshot_of(change.state)
    if change.kind is ChangeKind.DELETED:
        return StoreDeleted(store=snapshot, deleted_at=change.at)
    return _EVENTS[change.kind](store=snapshot)


def envelope_of(change: StoreChange, correlation_id: str | None) -> Envelope[StoreEvent]:
    """The envelope written to the outbox for one change."""
    return make_envelope(
        event_of(change), producer=PRODUCER, correlation_id=correlation_id, occurred_at=change.at
    )
