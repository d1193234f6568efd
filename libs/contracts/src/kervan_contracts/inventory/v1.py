"""Stock movements, version 1: stock taken by an order line and given back.

Topic `kervan.stock-movements.v1`, key `{warehouse_id}:{sku}`: all movements of one SKU in one
warehouse are ordered. Each movement has a deterministic `movement_id`, so re-ingesting the
same order can never deduct twice, and the platform can report which movements its absolute
stock levels already include (`catalog.stock.level_changed.applied_movement_ids`).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from typing import Annotated, Self

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from kervan_contracts import topics
from kervan_contracts.envelope import UtcDatetime
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Identifier, OrderNumber, Sku, VendorRef

MOVEMENT_NAMESPACE = uuid.UUID("6f1c1f36-5b0e-5d43-9d0a-1b8e4c0f7a21")
"""UUID namespace of Kervan stock movements. Never change it: ids would stop matching."""
_NAMESPACE_BYTES = MOVEMENT_NAMESPACE.bytes
_VARIANT_DIGIT = {f"{d:x}": f"{8 | (d & 3):x}" for d in range(16)}
"""The 17th hex digit of a uuid5: its top two bits are the RFC 4122 variant (10)."""


class StockMovementReason(StrEnum):
    """Why stock moved."""

    SALE = "sale"
    """An order line took stock (StockDeducted)."""
    CANCELLATION = "cancellation"
    """A cancelled line gave its stock back (StockReleased)."""
    RETURN = "return"
    """A returned line gave its stock back (StockReleased)."""


def movement_id(
    store_id: str,
    order_number: str,
    line_id: str,
    reason: str,
    cumulative_quantity: int | None = None,
) -> str:
    """Deterministic id of the movement caused by one order line for one reason.

    uuid5 over a JSON array of the four parts: JSON quoting makes the name unambiguous
    whatever characters the parts contain. Returned in canonical lowercase text form.

    `cumulative_quantity` tells apart the later steps of a line released in several steps
    (units cancelled one part at a time): it is the units released by this and the earlier
    releases of the line. Without it the name is the four parts exactly as before, so the ids
    of deductions and of first releases never change.
    """
    # `str(uuid.uuid5(MOVEMENT_NAMESPACE, json.dumps(parts)))`, spelt out (a test holds them
    # equal): one id per line of every order, and the UUID object and the encoder's layers
    # cost three times the hashing. `encode_basestring_ascii` is json.dumps' quoting.
    name = (
        f"[{encode_basestring_ascii(str(store_id))}, "
        f"{encode_basestring_ascii(str(order_number))}, "
        f"{encode_basestring_ascii(str(line_id))}, {encode_basestring_ascii(str(reason))}"
    )
    if cumulative_quantity is not None:
        name += f", {encode_basestring_ascii(str(cumulative_quantity))}"
    digest = hashlib.sha1(  # uuid5's hash, an identifier, not a secret
        _NAMESPACE_BYTES + (name + "]").encode(), usedforsecurity=False
    ).hexdigest()
    # uuid5: version 5 in the 13th hex digit, the variant in the 17th.
    return (
        f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-"
        f"{_VARIANT_DIGIT[digest[16]]}{digest[17:20]}-{digest[20:32]}"
    )


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
            "uuid5 of (store_id, order_number, line_id, reason), plus `cumulative_quantity` "
            "when a release has one, see `movement_id()`; the same line, reason (and step) "
            "always give the same id, so consumers apply it once."
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

    def _step(self) -> int | None:
        """The cumulative quantity hashed into the id (releases in several steps only)."""
        return None

    @model_validator(mode="after")
    def _id_matches_origin(self) -> Self:
        expected = movement_id(
            self.store_id, self.order_number, self.line_id, self.reason, self._step()
        )
        if self.movement_id != expected:
            raise ValueError(
                "movement_id must equal movement_id(store_id, order_number, line_id, reason"
                "[, cumulative_quantity])"
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
    """A cancelled or returned order line gave its stock back.

    A line whose units are cancelled in several steps is released once per step: the first
    release carries no `cumulative_quantity`; each later one carries the units released by the
    line so far (this one included), which is also hashed into its `movement_id`. Consumers
    apply `quantity` once per `movement_id`, as for every movement.
    """

    model_config = ConfigDict(title="StockReleased")
    event_type = "inventory.stock.released"

    cumulative_quantity: int | None = Field(
        default=None,
        ge=2,
        description=(
            "Set on the second and later releases of one line for one reason: units released "
            "by this and the line's earlier releases (> quantity). Part of `movement_id`, so "
            "each step has its own id. Absent on a line's first release."
        ),
    )

    def _step(self) -> int | None:
        return self.cumulative_quantity

    @model_validator(mode="after")
    def _is_release(self) -> Self:
        if self.reason is StockMovementReason.SALE:
            raise ValueError("StockReleased has reason 'cancellation' or 'return'")
        if self.cumulative_quantity is not None and self.cumulative_quantity <= self.quantity:
            raise ValueError("cumulative_quantity includes earlier releases: it exceeds quantity")
        return self

    @classmethod
    def later_step(
        cls,
        *,
        store_id: str,
        order_number: str,
        line_id: str,
        reason: StockMovementReason,
        warehouse_id: str,
        sku: str,
        quantity: int,
        cumulative_quantity: int,
        occurred_at: datetime,
    ) -> Self:
        """A second or later release of one line: `cumulative_quantity` is in its id."""
        return cls(
            movement_id=movement_id(store_id, order_number, line_id, reason, cumulative_quantity),
            warehouse_id=warehouse_id,
            sku=sku,
            quantity=quantity,
            store_id=store_id,
            order_number=order_number,
            line_id=line_id,
            reason=reason,
            occurred_at=occurred_at,
            cumulative_quantity=cumulative_quantity,
        )
