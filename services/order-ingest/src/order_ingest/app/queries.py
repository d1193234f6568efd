"""Read models of the ops API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from order_ingest.app.ports import UnitOfWorkFactory
from order_ingest.domain.store import eligibility


class UnknownStoreError(Exception):
    """No such store in the projection and no polling state either."""

    code = "store_not_found"


@dataclass(frozen=True, slots=True)
class IngestStatus:
    """What `GET /v1/stores/{id}/ingest` shows."""

    store_id: str
    eligible: bool
    ineligible_reason: str | None
    watermark: datetime | None
    settled_watermark: datetime | None
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_outcome: str | None
    last_error_code: str | None
    paused_reason: str | None
    orders_ingested: int
    polls: dict[str, int]
    pending_deductions: int


async def ingest_status(store_id: str, uow_factory: UnitOfWorkFactory) -> IngestStatus:
    """Polling state and eligibility of one store."""
    async with uow_factory() as uow:
        store = await uow.stores.get(store_id)
        state = await uow.ingest.get(store_id)
        if store is None and state is None:
            raise UnknownStoreError(store_id)
        verdict = eligibility(
            store, await uow.stores.api_status(store_id), state.paused_reason if state else None
        )
        pending = await uow.orders.count_pending_deduction(store_id)
    return IngestStatus(
        store_id=store_id,
        eligible=verdict.eligible,
        ineligible_reason=verdict.reason,
        watermark=state.watermark if state else None,
        settled_watermark=state.settled_watermark if state else None,
        last_poll_at=state.last_poll_at if state else None,
        last_success_at=state.last_success_at if state else None,
        last_outcome=state.last_outcome if state else None,
        last_error_code=state.last_error_code if state else None,
        paused_reason=state.paused_reason if state else None,
        orders_ingested=state.orders_ingested if state else 0,
        polls=dict(state.polls) if state else {},
        pending_deductions=pending,
    )


async def list_orders(
    store_id: str, since: datetime | None, limit: int, uow_factory: UnitOfWorkFactory
) -> list[dict[str, Any]]:
    """Stored orders of a store (first seen at or after `since`), with deduction state."""
    async with uow_factory() as uow:
        orders = await uow.orders.list_orders(store_id, since, limit)
    return [
        {
            "store_id": o.store_id,
            "order_number": o.order_number,
            "status": o.status.value,
            "first_seen_at": o.first_seen_at,
            "warehouse_id": o.warehouse_id,
            "deduction_pending": o.deduction_pending,
            "lines": [
                {
                    "line_id": line.line_id,
                    "sku": line.sku,
                    "deducted_quantity": line.deducted_quantity,
                    "released_quantity": line.released_quantity,
                    "cancelled_units": line.cancelled_units(),
                }
                for line in o.lines.values()
            ],
            "order": o.snapshot.model_dump(mode="json"),
        }
        for o in orders
    ]
