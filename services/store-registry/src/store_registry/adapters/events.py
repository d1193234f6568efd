"""Domain changes → `kervan.stores.v1` events.

`envelope_of` builds the contract's `Envelope` (validated). `outbox_row` writes the same bytes
straight from the domain state, without building and validating pydantic models: a settings
write is the hot path and its state has been validated on the way in (API schemas, domain
rules, or the database row). Unit tests hold both byte-equal over generated states.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from kervan_contracts.envelope import Envelope
from kervan_contracts.registry import HEADER_EVENT_ID, HEADER_EVENT_TYPE, make_envelope, spec_of
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


_EVENT_TYPES = {
    kind: spec_of(model).event_type
    for kind, model in (*_EVENTS.items(), (ChangeKind.DELETED, StoreDeleted))
}
_EVENT_VERSION = spec_of(StoreCreated).version


def _utc(at: datetime) -> datetime:
    # The contract normalises instants to UTC; states read from the database already are.
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def _snapshot_dict(state: StoreState) -> dict[str, Any]:
    # Field for field what `snapshot_of(state).model_dump_json()` writes, in its order.
    p, o = state.products, state.orders
    return {
        "store_id": state.id,
        "title": state.title,
        "platform": state.platform,
        "status": state.status,
        "test_mode": state.test_mode,
        "store_url": state.store_url,
        "products": {
            "default_price_list_id": p.default_price_list_id,
            "default_category_id": p.default_category_id,
            "default_brand_id": p.default_brand_id,
            "product_update_enabled": p.product_update_enabled,
            "auto_update_type": p.auto_update_type,
        },
        "orders": {
            "order_transfer_enabled": o.order_transfer_enabled,
            "default_warehouse_id": o.default_warehouse_id,
            "cargo_company_id": o.cargo_company_id,
            "stock_deduction_enabled": o.stock_deduction_enabled,
        },
        "version": state.version,
        "created_at": _utc(state.created_at),
        "updated_at": _utc(state.updated_at),
    }


def outbox_row(
    change: StoreChange,
    *,
    topic: str,
    correlation_id: str | None,
    event_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, str, bytes, str, bytes]:
    """(event_id, topic, key, headers, payload) of the change's outbox row: what servicekit's
    `Outbox` writes for `envelope_of(change, correlation_id)`, byte for byte."""
    event_id = event_id or uuid.uuid4()
    correlation_id = correlation_id or str(uuid.uuid4())
    event_type = _EVENT_TYPES[change.kind]
    text_id = str(event_id)
    data: dict[str, Any] = {"store": _snapshot_dict(change.state)}
    if change.kind is ChangeKind.DELETED:
        data["deleted_at"] = _utc(change.at)
    envelope = {
        "event_id": text_id,
        "event_type": event_type,
        "event_version": _EVENT_VERSION,
        "occurred_at": _utc(change.at),
        "producer": PRODUCER,
        "correlation_id": correlation_id,
        "causation_id": None,
        "data": data,
    }
    headers = {
        HEADER_EVENT_TYPE: event_type,
        HEADER_EVENT_ID: text_id,
        # As servicekit's outbox does: FastStream reads it into the message's correlation id.
        "correlation_id": correlation_id,
    }
    return (
        event_id,
        topic,
        change.state.id.encode(),
        orjson.dumps(headers).decode(),
        orjson.dumps(envelope, option=orjson.OPT_UTC_Z),
    )
