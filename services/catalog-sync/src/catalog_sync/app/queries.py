"""Read models of the explain, preview and sync-health API (JSON-ready dicts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from catalog_sync.app.pusher import PushContext, preview_store
from catalog_sync.domain.push_plan import FieldLedger, SkuPlan, plan_sku, store_block


class UnknownStoreError(LookupError):
    """No live store with this id."""

    code = "store_not_found"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ledger(ledger: FieldLedger | None) -> dict[str, Any] | None:
    if ledger is None:
        return None
    return {
        "accepted_value": ledger.accepted_value,
        "accepted_at": _iso(ledger.accepted_at),
        "last_sent_value": ledger.sent_value,
        "last_sent_at": _iso(ledger.sent_at),
        "batch_id": ledger.batch_id,
        "outcome": ledger.outcome.value if ledger.outcome else None,
        "reason_code": ledger.reason_code,
        "message": ledger.message,
        "permanent": ledger.permanent,
        "attempts": ledger.attempts,
        "retry_at": _iso(ledger.retry_at),
    }


def plan_view(plan: SkuPlan) -> dict[str, Any]:
    """A plan as JSON: per field the decision, and the items that would be sent."""
    body: dict[str, Any] = {
        "sku": plan.sku,
        "fields": {
            d.field.value: {
                "action": d.action.value,
                "value": d.value,
                "reason": d.reason,
                "not_before": _iso(d.not_before),
            }
            for d in plan.decisions
        },
        "price_stock": None,
        "product_info": None,
    }
    if plan.price_stock is not None:
        push = plan.price_stock
        body["price_stock"] = {
            "barcode": push.barcode,
            "platform_sku": push.platform_sku,
            "quantity": push.quantity,
            "sale_price": str(push.sale_price) if push.sale_price is not None else None,
            "list_price": str(push.list_price) if push.list_price is not None else None,
            "currency": push.currency,
        }
    if plan.product_info is not None:
        body["product_info"] = {
            "barcode": plan.product_info.barcode,
            "fields": dict(plan.product_info.fields),
        }
    return body


async def explain_sku(store_id: str, sku: str, ctx: PushContext) -> dict[str, Any]:
    """Why this store shows what it shows for this SKU, and what would be sent now."""
    async with ctx.uow() as uow:
        store = await uow.store(store_id)
        if store is None:
            raise UnknownStoreError(store_id)
        api = await uow.api_state(store_id)
        facts = (await uow.sku_facts(store, [sku]))[0]
        stock: dict[str, Any] | None = None
        if store.warehouse_id is not None:
            position = await uow.position(store.warehouse_id, sku)
            movements = await uow.movements(store.warehouse_id, sku)
            stock = {
                "warehouse_id": store.warehouse_id,
                "level": position.level,
                "as_of": _iso(position.as_of),
                "effective": position.effective,
                "pending_movements": [
                    {
                        "movement_id": m.movement_id,
                        "delta": m.delta,
                        "occurred_at": _iso(m.occurred_at),
                        "origin": m.origin,
                    }
                    for m in movements
                    if m.state == "pending"
                ],
                "acknowledged_movements": sum(1 for m in movements if m.state != "pending"),
            }
    plan = plan_sku(store, api, facts, ctx.clock())
    block = store_block(store, api)
    return {
        "store_id": store_id,
        "sku": sku,
        "platform": store.platform.value,
        "update_type": store.update_type.value,
        "eligible": block is None,
        "blocked_reason": block.value if block else None,
        "api_status": api.status.value if api else None,
        "price_list_id": store.price_list_id,
        "price": (
            {
                "sale_price": str(facts.price.sale),
                "list_price": str(facts.price.list_price),
                "currency": facts.price.currency,
            }
            if facts.price
            else None
        ),
        "stock": stock,
        "product": {"title": facts.product.title, "barcode": facts.product.barcode}
        if facts.product
        else None,
        "listing": (
            {
                "barcode": facts.listing.barcode,
                "platform_sku": facts.listing.platform_sku,
                "product_id": facts.listing.product_id,
            }
            if facts.listing
            else None
        ),
        "ledger": {f.value: _ledger(led) for f, led in facts.ledger.items()},
        "plan": plan_view(plan),
    }


async def preview(
    store_id: str, ctx: PushContext, skus: Sequence[str] | None, limit: int
) -> dict[str, Any]:
    """What would be pushed now to a store (nothing is sent or recorded)."""
    async with ctx.uow() as uow:
        store = await uow.store(store_id)
        api = await uow.api_state(store_id)
    if store is None:
        raise UnknownStoreError(store_id)
    plans = await preview_store(store_id, ctx, skus, limit)
    block = store_block(store, api)
    return {
        "store_id": store_id,
        "blocked_reason": block.value if block else None,
        "items": [plan_view(p) for p in plans if p.price_stock or p.product_info],
        "unchanged": sum(1 for p in plans if not (p.price_stock or p.product_info)),
    }


async def sync_health(store_id: str, ctx: PushContext) -> dict[str, Any]:
    """A store's sync health: eligibility, pause, backlog, recent batches."""
    async with ctx.uow() as uow:
        store = await uow.store(store_id)
        if store is None:
            raise UnknownStoreError(store_id)
        api = await uow.api_state(store_id)
        sync = await uow.sync_state(store_id)
        backlog = (await uow.backlog()).get(store_id, 0)
        batches = await uow.recent_batches(store_id, 20)
    block = store_block(store, api)
    return {
        "store_id": store_id,
        "platform": store.platform.value,
        "update_type": store.update_type.value,
        "eligible": block is None,
        "blocked_reason": block.value if block else None,
        "api_status": api.status.value if api else None,
        "paused_until": _iso(sync.paused_until),
        "pause_reason": sync.pause_reason,
        "last_push_at": _iso(sync.last_push_at),
        "last_error": sync.last_error,
        "backlog": backlog,
        "recent_batches": [
            {
                "batch_id": s.batch.batch_id,
                "kind": s.batch.kind.value,
                "status": s.batch.status,
                "platform_ref": s.batch.platform_ref,
                "created_at": _iso(s.batch.created_at),
                "completed_at": _iso(s.batch.completed_at),
                "items": len(s.batch.items),
                "counts": dict(s.counts),
                "error": s.batch.error,
            }
            for s in batches
        ],
    }
