"""Fixtures shared by unit and component tests: in-memory unit of work, fake platforms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from store_registry.adapters.memory import Database, MemoryUnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.domain.errors import InvalidStoreUrl
from store_registry.domain.model import PlatformSupport

from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType

SUPPORT = {
    p: PlatformSupport(p, frozenset(AutoUpdateType), accepts_product_info=True) for p in Platform
}
SUPPORT[Platform.HEPSIBURADA] = PlatformSupport(
    Platform.HEPSIBURADA,
    frozenset({AutoUpdateType.PRICE, AutoUpdateType.STOCK, AutoUpdateType.STOCK_AND_PRICE}),
    accepts_product_info=False,
)


class FakeCatalog:
    """Every platform accepts everything except hepsiburada (price/stock only)."""

    def support(self, platform: Platform) -> PlatformSupport:
        return SUPPORT[platform]


def fake_validate_url(url: str) -> str:
    if not url.startswith("https://") or "127.0.0.1" in url or "localhost" in url:
        raise InvalidStoreUrl("store_url is not a public https address", {"rule": "fake"})
    return url


class SteppingClock:
    """Each call is one second later: timestamps are distinct and predictable."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def database() -> Database:
    return Database()


@pytest.fixture
def uow_factory(database: Database) -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory(database)


def _make_env() -> Collaborators:
    counter: Iterator[int] = iter(range(1, 1_000_000))
    return Collaborators(
        catalog=FakeCatalog(),
        validate_store_url=fake_validate_url,
        clock=SteppingClock(),
        new_store_id=lambda: f"store-{next(counter)}",
    )


@pytest.fixture
def env() -> Collaborators:
    return _make_env()


@pytest.fixture
def twin_env() -> Collaborators:
    """A second `env` that gives the same ids and times in the same order (its own clock)."""
    return _make_env()
