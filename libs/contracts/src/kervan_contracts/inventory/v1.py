"""Stock movements, version 1: stock taken by an order line and given back.

Topic `kervan.stock-movements.v1`, key `{warehouse_id}:{sku}`: all movements of one SKU in one
warehouse are ordered. Each movement has a deterministic `movement_id`, so re-ingesting the
same order can never deduct twice, and the platform can report which movements its absolute
stock levels already include (`catalog.stock.level_changed.applied_movement_ids`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from kervan_contracts import topics
from kervan_contracts.envelope import UtcDatetime
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Identifier, OrderNumber, Sku, VendorRef

MOVEMENT_NAMESPACE = uuid.UUID("6f1c1f36-5b0e-5d43-9d0a-1b8e4c0f7a21")
"""UUID namespace of Kervan stock movements. Never change it: ids would stop matching."""


class StockMovementReason(StrEnum):
    """Why stock moved."""

    SALE = "sale"
    """An order line took stock (StockDeducted)."""
    CANCELLATION = "cancellation"
    """A cancelled line gave its stock back (StockReleased)."""
    RETURN = "return"
    """A returned line gave its stock back (StockReleased)."""


def movement_id(store_id: str, order_number: str, line_id: str, reason: str) -> str:
    """Deterministic id of the movement caused by one order line for one reason.

    uuid5 over a JSON array of the four parts: JSON quoting makes the name unambiguous
    whatever characters the parts contain. Returned in canonical lowercase text form.
    """
    name = json.dumps([str(store_id), str(order_number), str(line_id), str(reason)])
    return str(uuid.uuid5(MOVEMENT_NAMESPACE, name))


def _canonical_uuid(value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError as exc:
        raise ValueError("movement ids are UUIDs") from exc
    return str(parsed)


MovementId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="Movement id: a UUID in canonical text form (lower-case after parsing).",
    ),
    # After Field: pydantic drops Field constraints from the JSON Schema otherwise.
    AfterValidator(_canonical_uuid),
]
"""Id of a stock movement, as produced by `movement_id()`."""


def stock_movement_key(warehouse_id: str, sku: str) -> str:
    """Kafka key of stock movements: `{warehouse_id}:{sku}`."""
    return f"{warehouse_id}:{sku}"


class _StockMovement(EventPayload):
    topic = topics.STOCK_MOVEMENTS
    event_version = 1

    movement_id: MovementId = Field(
        description=(
            "uuid5 of (store_id, order_number, line_id, reason), see `movement_id()`; "
            "the same line and reason always give the same id, so consumers apply it once."
        )
    )
    warehouse_id: Identifier = Field(description="Warehouse whose stock moved.")
    sku: Sku = Field(description="Merchant SKU that moved.")
    quantity: int = Field(
        ge=1, description="Units moved (always positive; the event says which way)."
    )
    store_id: Identifier = Field(description="Store whose order caused the movement.")
    order_number: OrderNumber = Field(description="Order that caused the movement.")
    line_id: VendorRef = Field(description="Order line that caused the movement.")
    reason: StockMovementReason = Field(description="Why the stock moved.")
    occurred_at: UtcDatetime = Field(description="When the movement was decided (UTC).")

    @model_validator(mode="after")
    def _id_matches_origin(self) -> Self:
        expected = movement_id(self.store_id, self.order_number, self.line_id, self.reason)
        if self.movement_id != expected:
            raise ValueError(
                "movement_id must equal movement_id(store_id, order_number, line_id, reason)"
            )
        return self

    @classmethod
    def for_order_line(
        cls,
        *,
        store_id: str,
        order_number: str,
        line_id: str,
        reason: StockMovementReason,
        warehouse_id: str,
        sku: str,
        quantity: int,
        occurred_at: datetime,
    ) -> Self:
        """Build the movement of one order line, computing its deterministic `movement_id`."""
        return cls(
            movement_id=movement_id(store_id, order_number, line_id, reason),
            warehouse_id=warehouse_id,
            sku=sku,
            quantity=quantity,
            store_id=store_id,
            order_number=order_number,
            line_id=line_id,
            reason=reason,
            occurred_at=occurred_at,
        )

    def partition_key(self) -> str:
        """`{warehouse_id}:{sku}`."""
        return stock_movement_key(self.warehouse_id, self.sku)


class StockDeducted(_StockMovement):
    """An order line took stock from a warehouse."""

    model_config = ConfigDict(title="StockDeducted")
    event_type = "inventory.stock.deducted"

    @model_validator(mode="after")
    def _is_sale(self) -> Self:
        if self.reason is not StockMovementReason.SALE:
            raise ValueError("StockDeducted has reason 'sale'")
        return self


class StockReleased(_StockMovement):
    """A cancelled or returned order line gave its stock back."""

    model_config = ConfigDict(title="StockReleased")
    event_type = "inventory.stock.released"

    @model_validator(mode="after")
    def _is_release(self) -> Self:
        if self.reason is StockMovementReason.SALE:
            raise ValueError("StockReleased has reason 'cancellation' or 'return'")
        return self
