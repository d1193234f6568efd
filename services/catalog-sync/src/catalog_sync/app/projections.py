"""Use cases that keep the projections: one transaction each, idempotent through the inbox.

Every change that can alter what a store should show marks the affected (store, SKU) pairs
dirty in the same transaction, so the pusher never misses one and a crash loses nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from catalog_sync.app.ports import Clock, UnitOfWork
from catalog_sync.domain.catalog import ApiState, Price, Product, StoreView
from catalog_sync.domain.push_plan import store_block
from catalog_sync.domain.stock import (
    Level,
    LevelChange,
    Movement,
    MovementDirection,
    MovementVerdict,
)
from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.credentials.v1 import ApiStatusChanged, CredentialsChanged
from kervan_contracts.inventory.v1 import StockDeducted, StockReleased
from kervan_contracts.stores.v1 import StoreSnapshot

CONSUMER = "catalog-sync"


@dataclass(frozen=True, slots=True)
class Incoming:
    """Envelope facts a use case needs: id (inbox), time (ordering)."""

    event_id: uuid.UUID
    occurred_at: datetime


async def apply_product(
    event: Incoming, data: ProductUpserted, uow: UnitOfWork, clock: Clock
) -> bool:
    """Project a product; every store may need its new information."""
    async with uow:
        if not await uow.claim(CONSUMER, event.event_id):
            return False
        product = Product(
            sku=data.sku,
            title=data.title,
            description=data.description,
            barcode=data.barcode,
            model_code=data.model_code,
            brand_id=data.brand_id,
            category_id=data.category_id,
            attributes=dict(data.attributes),
            images=tuple(data.images),
            vat_rate=data.vat_rate,
        )
        changed = await uow.save_product(product, event.occurred_at)
        if changed:
            await uow.mark_dirty_for_product(data.sku, clock())
        await uow.commit()
        return changed


async def apply_price(event: Incoming, data: PriceChanged, uow: UnitOfWork, clock: Clock) -> bool:
    """Project a price; stores whose default price list it belongs to need it."""
    async with uow:
        if not await uow.claim(CONSUMER, event.event_id):
            return False
        price = Price(data.sale_price.amount, data.list_price.amount, data.sale_price.currency)
        changed = await uow.save_price(data.sku, data.price_list_id, price, event.occurred_at)
        if changed:
            await uow.mark_dirty_for_price(data.sku, data.price_list_id, clock())
        await uow.commit()
        return changed


async def apply_stock_level(
    event: Incoming, data: StockLevelChanged, uow: UnitOfWork, clock: Clock, ack_window: timedelta
) -> LevelChange | None:
    """Take the platform's absolute level as the base; None when the event was a redelivery."""
    async with uow:
        if not await uow.claim(CONSUMER, event.event_id):
            return None
        position = await uow.position(data.warehouse_id, data.sku)
        before = position.effective
        change = position.apply_level(
            Level(data.quantity, data.as_of, frozenset(data.applied_movement_ids)),
            ack_window=ack_window,
        )
        await uow.save_position(position)
        if position.effective != before:
            await uow.mark_dirty_for_stock(data.sku, data.warehouse_id, clock())
        await uow.commit()
        return change


async def apply_movement(
    event: Incoming,
    data: StockDeducted | StockReleased,
    uow: UnitOfWork,
    clock: Clock,
    ack_window: timedelta,
) -> MovementVerdict | None:
    """Count a movement at once (once); None when the event was a redelivery."""
    direction = (
        MovementDirection.DEDUCTION
        if isinstance(data, StockDeducted)
        else MovementDirection.RELEASE
    )
    movement = Movement(
        movement_id=data.movement_id,
        direction=direction,
        quantity=data.quantity,
        occurred_at=data.occurred_at,
        origin=f"store {data.store_id} order {data.order_number} line {data.line_id}",
    )
    async with uow:
        if not await uow.claim(CONSUMER, event.event_id):
            return None
        position = await uow.position(data.warehouse_id, data.sku)
        verdict = position.apply_movement(movement, ack_window=ack_window)
        if verdict in {MovementVerdict.APPLIED, MovementVerdict.ALREADY_INCLUDED}:
            await uow.save_position(position)
        if verdict is MovementVerdict.APPLIED and position.effective is not None:
            await uow.mark_dirty_for_stock(data.sku, data.warehouse_id, clock())
        await uow.commit()
        return verdict


async def apply_store(snapshot: StoreSnapshot, uow: UnitOfWork, clock: Clock) -> bool:
    """Upsert a store by version; a store that becomes eligible (or changes what it receives)
    gets a full resync of what differs."""
    view = StoreView.of(snapshot)
    async with uow:
        old = await uow.store(view.store_id)
        if not await uow.save_store(view):
            return False
        api = await uow.api_state(view.store_id)
        if _needs_resync(old, view, api):
            await uow.mark_store_dirty(view.store_id, clock())
        await uow.commit()
        return True


def _needs_resync(old: StoreView | None, new: StoreView, api: ApiState | None) -> bool:
    if store_block(new, api) is not None:
        return False
    if old is None or store_block(old, api) is not None:
        return True
    return (old.update_type, old.price_list_id, old.warehouse_id, old.platform) != (
        new.update_type,
        new.price_list_id,
        new.warehouse_id,
        new.platform,
    )


async def forget_store(store_id: str, version: int, uow: UnitOfWork) -> None:
    """A deleted store receives nothing more."""
    async with uow:
        await uow.delete_store(store_id, version)
        await uow.clear_store_dirty(store_id)
        await uow.commit()


async def apply_api_status(data: ApiStatusChanged, uow: UnitOfWork, clock: Clock) -> bool:
    """Keep the latest check; a store whose credentials became valid again is resynced."""
    state = ApiState(data.status, data.checked_at, data.reason_code)
    async with uow:
        old = await uow.api_state(data.store_id)
        if not await uow.save_api_state(data.store_id, state):
            return False
        store = await uow.store(data.store_id)
        if store_block(store, state) is None and store_block(store, old) is not None:
            await uow.mark_store_dirty(data.store_id, clock())
        await uow.commit()
        return True


#: Pauses that new credentials end at once.
CREDENTIAL_PAUSES = frozenset({"auth_rejected", "missing_credentials"})


async def apply_credentials(data: CredentialsChanged, uow: UnitOfWork, clock: Clock) -> bool:
    """Record the credentials version; new credentials lift a pause that credentials caused
    (a 401/403, or no credentials at all when the store was first pushed)."""
    async with uow:
        if not await uow.save_credentials_version(
            data.store_id, data.version, data.deleted, data.changed_at
        ):
            return False
        sync = await uow.sync_state(data.store_id)
        if sync.pause_reason in CREDENTIAL_PAUSES and not data.deleted:
            await uow.save_sync_state(
                data.store_id, replace(sync, paused_until=None, pause_reason=None)
            )
            await uow.mark_store_dirty(data.store_id, clock())
        await uow.commit()
        return True
