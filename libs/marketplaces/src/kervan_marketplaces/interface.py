"""The one interface every marketplace adapter implements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from kervan_contracts.identifiers import Platform
from kervan_contracts.orders.v1 import Order
from kervan_marketplaces.models import (
    BatchHandle,
    BatchResult,
    Capabilities,
    CredentialCheck,
    ListingRef,
    PriceStockItem,
    ProductInfoItem,
)


@runtime_checkable
class MarketplaceAdapter(Protocol):
    """One store on one platform.

    Errors: `AuthRejected` (credentials refused; never retried), `RateLimited` and `Transient`
    (after the bounded retries are spent), `RequestRejected` (the request as a whole is invalid),
    `UnsupportedOperation`. Per-item failures are outcomes, not exceptions.
    """

    @property
    def platform(self) -> Platform:
        """The platform this adapter talks to."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the platform's API allows (limits, fields, windows, auth style)."""
        ...

    async def test_credentials(self) -> CredentialCheck:
        """Cheapest documented authenticated call → valid, or invalid with a reason code.

        Raises `Transient`/`RateLimited` when the platform could not answer: an outage is not a
        verdict on the credentials.
        """
        ...

    def list_orders(self, since: datetime, until: datetime | None = None) -> AsyncIterator[Order]:
        """Every order changed (or, where the platform cannot tell, created) in [since, until).

        Walks every page of every window the platform requires; `until` defaults to now (minus
        the platform's minimum lag). Timestamps must be timezone-aware.
        """
        ...

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """Send price and/or stock changes; chunked to the platform's maximum per request."""
        ...

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        """Send product field changes, where the platform allows it."""
        ...

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """Per-item outcome of a push (final at once on synchronous platforms)."""
        ...


@runtime_checkable
class ListingReader(Protocol):
    """An adapter that can read the store's product list (every adapter built on
    `AdapterBase`; platforms without a readable list raise `UnsupportedOperation`)."""

    def list_listings(self) -> AsyncIterator[ListingRef]:
        """Every listing of the store as the platform identifies it, all pages."""
        ...
