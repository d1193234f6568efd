"""Fakes of the marketplace side for service-layer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from order_ingest.domain.store import CredentialsView, StoreProfile

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.orders.v1 import Order
from kervan_marketplaces import MarketplaceAdapter, StoreAdapter
from kervan_marketplaces.models import EndpointLimit, OrderWindow


@dataclass
class FakeCapabilities:
    """Only what order-ingest reads."""

    order_window: OrderWindow
    rate_limits: tuple[EndpointLimit, ...] = ()


@dataclass
class FakeMarketplace:
    """Orders by `last_modified_at`; `fail` raises instead of yielding the n-th order."""

    orders: dict[tuple[str, str | None], Order] = field(default_factory=dict)
    min_lag: timedelta = timedelta(0)
    max_window: timedelta | None = None
    fail: tuple[int, Exception] | None = None
    queries: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def put(self, order: Order) -> None:
        """Create or replace a package."""
        self.orders[(order.order_number, order.package_id)] = order

    @property
    def capabilities(self) -> FakeCapabilities:
        """Window limits."""
        return FakeCapabilities(
            OrderWindow(
                max_window=self.max_window,
                max_history=None,
                max_page_size=50,
                min_lag=self.min_lag,
            )
        )

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        """Orders changed in [since, until)."""
        self.queries.append((since, until))
        matching = sorted(
            (
                o
                for o in self.orders.values()
                if o.last_modified_at >= since and (until is None or o.last_modified_at < until)
            ),
            key=lambda o: (o.last_modified_at, o.order_number),
        )
        for n, found in enumerate(matching):
            if self.fail is not None and self.fail[0] == n:
                failure = self.fail[1]
                self.fail = None
                raise failure
            yield found


@dataclass
class FakeAdapters:
    """AdapterProvider over one FakeMarketplace per store."""

    markets: Mapping[str, FakeMarketplace]
    invalidated: list[str] = field(default_factory=list)
    changes: list[CredentialsChanged] = field(default_factory=list)
    recorded: list[tuple[str, CredentialsView]] = field(default_factory=list)

    async def adapter_for(self, store: StoreProfile) -> StoreAdapter:
        """The store's fake marketplace (credentials at version 1)."""
        return StoreAdapter(cast(MarketplaceAdapter, self.markets[store.store_id]), 1)

    async def adapter_after_rejection(
        self, store: StoreProfile, rejected: StoreAdapter
    ) -> StoreAdapter | None:
        """Never newer credentials (the store is paused as before)."""
        return None

    def invalidate(self, store_id: str) -> None:
        """Record it."""
        self.invalidated.append(store_id)

    def credentials_changed(self, event: CredentialsChanged) -> bool:
        """Record it (nothing is cached here)."""
        self.changes.append(event)
        return False

    def credentials_recorded(self, store_id: str, view: CredentialsView) -> bool:
        """Record it (nothing is cached here)."""
        self.recorded.append((store_id, view))
        return False


@dataclass
class FakeRetest:
    """Records re-test requests."""

    requested: list[tuple[str, str]] = field(default_factory=list)

    async def request_retest(self, store_id: str, reason: str) -> None:
        """Record it."""
        self.requested.append((store_id, reason))


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move forward."""
        self.now += timedelta(seconds=seconds)
