"""Sync results, version 1: what happened to each item of a batch pushed to a marketplace.

Topic `kervan.sync-results.v1`, key `{store_id}`: results of one store are ordered.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from kervan_contracts import topics
from kervan_contracts.envelope import ContractModel, UtcDatetime
from kervan_contracts.event import EventPayload
from kervan_contracts.identifiers import Identifier, Platform, ReasonCode, Sku, VendorRef


class PushKind(StrEnum):
    """What a batch carried; marketplaces take price/stock and product data separately."""

    PRICE_STOCK = "price_stock"
    PRODUCT_INFO = "product_info"


class PushedField(StrEnum):
    """A kind of value sent for an item."""

    PRICE = "price"
    STOCK = "stock"
    PRODUCT_INFO = "product_info"


_FIELDS_BY_KIND = {
    PushKind.PRICE_STOCK: frozenset({PushedField.PRICE, PushedField.STOCK}),
    PushKind.PRODUCT_INFO: frozenset({PushedField.PRODUCT_INFO}),
}


class PushOutcome(StrEnum):
    """Result of one item at the marketplace."""

    ACCEPTED = "accepted"
    FAILED = "failed"
    PENDING = "pending"
    """The marketplace had not decided when Kervan stopped following the batch."""


class PushItemResult(ContractModel):
    """Outcome of one SKU in a batch."""

    model_config = ConfigDict(title="PushItemResult")

    sku: Sku = Field(description="Merchant SKU.")
    fields: list[PushedField] = Field(min_length=1, description="What was sent for this SKU.")
    outcome: PushOutcome = Field(description="`accepted`, `failed` or `pending`.")
    reason_code: ReasonCode | None = Field(
        default=None, description="Kervan's code for a failure, e.g. `price_locked`."
    )
    message: str | None = Field(
        default=None, max_length=1000, description="The marketplace's message, if any."
    )


class PushCounts(ContractModel):
    """Number of items per outcome."""

    model_config = ConfigDict(title="PushCounts")

    accepted: int = Field(ge=0, description="Items accepted.")
    failed: int = Field(ge=0, description="Items that failed.")
    pending: int = Field(ge=0, description="Items still pending.")

    @property
    def total(self) -> int:
        """All items."""
        return self.accepted + self.failed + self.pending

    @classmethod
    def of(cls, items: list[PushItemResult]) -> PushCounts:
        """Counts computed from item results."""
        tally = Counter(item.outcome for item in items)
        return cls(
            accepted=tally[PushOutcome.ACCEPTED],
            failed=tally[PushOutcome.FAILED],
            pending=tally[PushOutcome.PENDING],
        )


class CatalogPushCompleted(EventPayload):
    """catalog-sync finished following one batch sent to a marketplace."""

    model_config = ConfigDict(title="CatalogPushCompleted")
    event_type = "sync.catalog_push.completed"
    event_version = 1
    topic = topics.SYNC_RESULTS

    store_id: Identifier = Field(description="Store the batch was sent to.")
    platform: Platform = Field(description="Platform of the store.")
    batch_id: Identifier = Field(description="Kervan's id of the batch (unique).")
    platform_batch_ref: VendorRef | None = Field(
        default=None,
        description="The marketplace's id of the submission (batchRequestId, taskId, feedId...).",
    )
    kind: PushKind = Field(description="`price_stock` or `product_info`.")
    submitted_at: UtcDatetime = Field(description="When the batch was sent (UTC).")
    completed_at: UtcDatetime = Field(description="When its outcome was settled (UTC).")
    items: list[PushItemResult] = Field(min_length=1, description="Outcome per SKU.")
    counts: PushCounts = Field(description="Items per outcome; always matches `items`.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.completed_at < self.submitted_at:
            raise ValueError("completed_at must not precede submitted_at")
        if self.counts != PushCounts.of(self.items):
            raise ValueError("counts must match the outcomes in items")
        allowed = _FIELDS_BY_KIND[self.kind]
        if any(not set(item.fields) <= allowed for item in self.items):
            raise ValueError(f"items of a {self.kind.value} batch carry only {sorted(allowed)}")
        return self

    def partition_key(self) -> str:
        """`{store_id}`."""
        return self.store_id
