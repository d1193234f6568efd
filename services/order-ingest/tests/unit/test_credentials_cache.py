"""order-ingest's use of servicekit's CredentialsReader, on an in-memory Vault (KV v2 over
httpx.MockTransport): cached per store, dropped by a newer `CredentialsChanged` or a 401/403,
a 401/403 for a version Vault has already replaced is retried once with the new one instead of
pausing the store, a missing secret is "no credentials", Vault down is a transient failure of
that store only."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
import structlog
from order_ingest.adapters.marketplace import FactoryAdapterProvider
from order_ingest.adapters.memory import MemoryDatabase, MemoryUnitOfWork
from order_ingest.adapters.telemetry import PrometheusTelemetry
from order_ingest.app.ports import UnitOfWork
from order_ingest.app.scheduler import ScheduleSettings, next_delay
from order_ingest.app.services import (
    PollContext,
    PollSettings,
    apply_api_status,
    apply_credentials,
    apply_store_snapshot,
    poll_store,
)
from order_ingest.domain.store import CredentialsView
from prometheus_client import CollectorRegistry

from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.orders.v1 import Order, OrderReceived
from kervan_marketplaces import AdapterFactory, AuthRejected, MarketplaceAdapter
from kervan_testkit.vault import VAULT_TOKEN, FakeVault, reader

from .builders import T0, order
from .fakes import FakeCapabilities, FakeClock, FakeMarketplace, FakeRetest
from .test_poll_store import NOW, snapshot, valid


@dataclass
class RefusingMarketplace:
    """The store's marketplace answering 401 to these credentials after `after` orders (a
    token refused mid-way through the pages)."""

    market: FakeMarketplace
    after: int = 0

    @property
    def capabilities(self) -> FakeCapabilities:
        return self.market.capabilities

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        count = 0
        async for found in self.market.list_orders(since, until):
            if count == self.after:
                break
            count += 1
            yield found
        raise AuthRejected("401", status=401)


@dataclass
class RecordingFactory:
    """AdapterFactory stand-in: one fake marketplace per store, records the credentials used;
    the platform refuses the api keys in `refused` (401)."""

    markets: dict[str, FakeMarketplace]
    used: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    refuse_after: int = 0

    def create_for_store(self, platform: str, **kwargs: Any) -> MarketplaceAdapter:
        assert platform == Platform.TRENDYOL
        credentials = dict(kwargs["credentials"])
        self.used.append((kwargs["store_id"], credentials))
        market = self.markets[kwargs["store_id"]]
        if credentials.get("api_key") in self.refused:
            return cast(MarketplaceAdapter, RefusingMarketplace(market, self.refuse_after))
        return cast(MarketplaceAdapter, market)


class World:
    """Store s1 eligible, polled with credentials read through the real reader."""

    def __init__(self) -> None:
        self.db = MemoryDatabase()
        self.vault = FakeVault()
        self.market = FakeMarketplace()
        self.factory = RecordingFactory({"s1": self.market})
        self.clock = FakeClock(NOW)
        self.retest = FakeRetest()
        self.reader = reader(self.vault)
        self.adapters = FactoryAdapterProvider(cast(AdapterFactory, self.factory), self.reader)
        self.registry = CollectorRegistry()
        self.ctx = PollContext(
            uow=self.uow,
            adapters=self.adapters,
            retest=self.retest,
            clock=self.clock,
            settings=PollSettings(initial_lookback=timedelta(days=1)),
            telemetry=PrometheusTelemetry(self.registry),
        )

    def uow(self) -> UnitOfWork:
        return MemoryUnitOfWork(self.db)

    def keys_used(self) -> list[str]:
        return [credentials["api_key"] for _, credentials in self.factory.used]

    def paused(self) -> str | None:
        return self.db.ingest["s1"].paused_reason

    def resolved(self) -> float | None:
        """kervan_order_ingest_auth_rejections_resolved_total of s1 (None: never counted)."""
        return self.registry.get_sample_value(
            "kervan_order_ingest_auth_rejections_resolved_total", {"store_id": "s1"}
        )

    async def credentials_changed(self, version: int, *, deleted: bool = False) -> bool:
        event = CredentialsChanged(
            store_id="s1",
            platform=Platform.TRENDYOL,
            version=version,
            changed_at=self.clock(),
            deleted=deleted,
        )
        return await apply_credentials(event, self.uow(), self.adapters)


@pytest.fixture
async def world() -> World:
    w = World()
    await apply_store_snapshot(snapshot(), w.uow(), w.clock)
    await apply_api_status(valid(), w.uow())
    return w


async def test_credentials_are_read_once_then_served_from_the_cache(world: World) -> None:
    world.vault.write("s1", seller_id="1001", api_key="k1")
    for _ in range(3):
        assert (await poll_store("s1", world.ctx)).outcome == "ok"
    assert world.vault.reads == ["s1"]
    assert world.factory.used == [("s1", {"seller_id": "1001", "api_key": "k1"})] * 3


async def test_a_newer_version_announced_drops_the_cache_and_the_next_poll_reads_it(
    world: World,
) -> None:
    world.vault.write("s1", seller_id="1001", api_key="k1")
    await world.credentials_changed(1)
    await poll_store("s1", world.ctx)
    version = world.vault.write("s1", seller_id="1001", api_key="k2")
    await poll_store("s1", world.ctx)  # not announced yet: the cached k1
    assert await world.credentials_changed(version)
    await poll_store("s1", world.ctx)
    assert world.keys_used() == ["k1", "k1", "k2"]
    assert world.vault.reads == ["s1", "s1"]


async def test_an_event_not_newer_than_the_cached_version_keeps_the_cache(world: World) -> None:
    world.vault.write("s1", api_key="k1")
    world.vault.write("s1", api_key="k2")
    await poll_store("s1", world.ctx)  # caches version 2
    # The projection applies version 2 (it had nothing), a replay of 1 it does not: neither is
    # newer than what was read, so Vault is not read again.
    assert await world.credentials_changed(2)
    assert not await world.credentials_changed(1)
    await poll_store("s1", world.ctx)
    assert world.vault.reads == ["s1"]


async def test_a_version_the_projection_already_holds_still_drops_an_older_cached_copy(
    world: World,
) -> None:
    world.vault.write("s1", api_key="k1")
    await poll_store("s1", world.ctx)  # caches version 1
    world.vault.write("s1", api_key="k2")
    # Version 2 recorded before (by this consumer group, before a restart), then redelivered.
    world.db.credentials["s1"] = CredentialsView(2, False, T0)
    assert not await world.credentials_changed(2)  # the projection: nothing new
    await poll_store("s1", world.ctx)
    assert world.keys_used() == ["k1", "k2"]


async def test_a_version_another_replica_consumed_reaches_this_replicas_next_poll(
    world: World,
) -> None:
    world.vault.write("s1", seller_id="1001", api_key="k1")
    await world.credentials_changed(1)
    await poll_store("s1", world.ctx)  # caches version 1
    # Only one replica of the consumer group gets each event: here another one recorded
    # version 2 in the shared projection, and this replica's reader never saw the event.
    world.vault.write("s1", seller_id="1001", api_key="k2")
    world.db.credentials["s1"] = CredentialsView(2, False, T0)
    await poll_store("s1", world.ctx)
    await poll_store("s1", world.ctx)  # the projection is not newer than the cache now
    assert world.keys_used() == ["k1", "k2", "k2"]
    assert world.vault.reads == ["s1", "s1"]


async def test_a_deletion_another_replica_consumed_stops_this_replica_using_the_secret(
    world: World,
) -> None:
    version = world.vault.write("s1", api_key="k1")
    await poll_store("s1", world.ctx)
    del world.vault.secrets["s1"]
    world.db.credentials["s1"] = CredentialsView(version, True, T0)
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.reason) == ("error", "missing_credentials")
    await poll_store("s1", world.ctx)  # "none" is cached: the deletion is not re-applied
    assert world.vault.reads == ["s1", "s1"]


async def test_a_deletion_drops_the_cache_and_the_store_then_has_no_credentials(
    world: World,
) -> None:
    version = world.vault.write("s1", api_key="k1")
    await poll_store("s1", world.ctx)
    del world.vault.secrets["s1"]
    await world.credentials_changed(version, deleted=True)
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.reason) == ("error", "missing_credentials")


async def test_auth_rejected_drops_the_cache_and_the_resumed_store_reads_vault_again(
    world: World,
) -> None:
    world.vault.write("s1", api_key="old")
    world.market.put(order("O1"))
    world.market.fail = (0, AuthRejected("401", status=401))
    assert (await poll_store("s1", world.ctx)).outcome == "auth_rejected"
    assert world.retest.requested == [("s1", "auth_rejected")]
    world.vault.write("s1", api_key="new")  # the seller fixed them; no event seen here
    await apply_api_status(valid(NOW + timedelta(minutes=1)), world.uow())
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.new_orders) == ("ok", 1)
    assert world.keys_used() == ["old", "new"]
    # The poll's read, the re-read after the 401 (the same version: paused), the resumed poll's.
    assert world.vault.reads == ["s1", "s1", "s1"]


async def test_a_401_for_credentials_vault_has_replaced_retries_with_the_new_ones(
    world: World,
) -> None:
    """A rotation no event or projection has brought to this replica yet: the 401 makes it
    read Vault again, and the poll goes on with the new version instead of pausing."""
    world.vault.write("s1", seller_id="1001", api_key="k1")
    assert (await poll_store("s1", world.ctx)).outcome == "ok"  # caches version 1
    world.vault.write("s1", seller_id="1001", api_key="k2")
    world.factory.refused = {"k1"}  # the platform took the rotation at once
    world.market.put(order("O1", modified=NOW - T0))
    world.clock.advance(60)
    with structlog.testing.capture_logs() as logs:
        result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.new_orders) == ("ok", 1)
    assert world.keys_used() == ["k1", "k1", "k2"]
    assert world.paused() is None
    assert world.retest.requested == []
    assert world.resolved() == 1
    retry = [e for e in logs if e["event"] == "credentials refused, a newer version read"]
    assert [(e["rejected_version"], e["version"]) for e in retry] == [(1, 2)]
    assert "k2" not in repr(logs)
    # The new version is cached: the next poll reads nothing from Vault.
    assert (await poll_store("s1", world.ctx)).outcome == "ok"
    assert world.keys_used()[-1] == "k2"
    assert world.vault.reads == ["s1", "s1"]


async def test_a_401_when_vault_holds_the_same_version_pauses_the_store(world: World) -> None:
    world.vault.write("s1", api_key="k1")
    await poll_store("s1", world.ctx)
    world.factory.refused = {"k1"}
    world.clock.advance(60)
    result = await poll_store("s1", world.ctx)
    assert result.outcome == "auth_rejected"
    assert world.paused() == "auth_rejected"
    assert world.retest.requested == [("s1", "auth_rejected")]
    assert world.keys_used() == ["k1", "k1"]  # no retry
    assert world.vault.reads == ["s1", "s1"]  # one re-read
    assert world.resolved() is None


async def test_new_credentials_refused_too_pause_the_store_after_one_retry(world: World) -> None:
    world.vault.write("s1", api_key="k1")
    await poll_store("s1", world.ctx)
    world.vault.write("s1", api_key="k2")
    world.factory.refused = {"k1", "k2"}
    world.clock.advance(60)
    result = await poll_store("s1", world.ctx)
    assert result.outcome == "auth_rejected"
    assert world.keys_used() == ["k1", "k1", "k2"]  # exactly one retry
    assert world.vault.reads == ["s1", "s1"]
    assert world.paused() == "auth_rejected"
    assert world.retest.requested == [("s1", "auth_rejected")]
    assert world.resolved() is None


async def test_a_401_with_vault_unreadable_pauses_the_store_without_showing_secrets(
    world: World,
) -> None:
    world.vault.write("s1", api_key="k1-secret-value")
    await poll_store("s1", world.ctx)
    world.factory.refused = {"k1-secret-value"}
    world.vault.down = True
    world.clock.advance(60)
    with structlog.testing.capture_logs() as logs:
        result = await poll_store("s1", world.ctx)
    assert result.outcome == "auth_rejected"  # paused as before, not a transient failure
    assert world.paused() == "auth_rejected"
    assert [e["event"] for e in logs if e.get("store_id") == "s1"] == [
        "credentials not re-read after a rejection"
    ]
    for secret in (VAULT_TOKEN, "k1-secret-value"):
        assert secret not in repr(logs) + repr(result)


async def test_a_401_part_way_through_the_pages_is_retried_without_duplicates(
    world: World,
) -> None:
    """Orders committed before the 401 are read again with the new credentials: each is
    stored once and announced once."""
    world.ctx.settings = PollSettings(initial_lookback=timedelta(days=1), commit_batch_size=2)
    world.vault.write("s1", api_key="k1")
    await poll_store("s1", world.ctx)
    world.vault.write("s1", api_key="k2")
    world.factory.refused, world.factory.refuse_after = {"k1"}, 3
    for n in range(5):
        world.market.put(order(f"O{n}", modified=NOW - T0 + timedelta(seconds=n)))
    world.clock.advance(60)
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.new_orders) == ("ok", 5)
    assert world.keys_used() == ["k1", "k1", "k2"]
    received = [e for e, _ in world.db.published if isinstance(e, OrderReceived)]
    assert sorted(e.order.order_number for e in received) == [f"O{n}" for n in range(5)]


async def test_a_missing_secret_is_no_credentials_and_shows_in_the_ingest_state(
    world: World,
) -> None:
    result = await poll_store("s1", world.ctx)
    assert (result.outcome, result.reason) == ("error", "missing_credentials")
    state = world.db.ingest["s1"]
    assert (state.last_outcome, state.last_error_code) == ("error", "missing_credentials")
    assert world.factory.used == []
    # Credentials entered later are announced; the next poll reads them.
    version = world.vault.write("s1", api_key="k1")
    await world.credentials_changed(version)
    assert (await poll_store("s1", world.ctx)).outcome == "ok"


@pytest.mark.parametrize("failure", ["down", "403", "503"])
async def test_vault_failing_is_a_transient_failure_of_the_stores_it_must_read(
    world: World, failure: str
) -> None:
    world.market.put(order("O1"))
    world.vault.write("s1", api_key="k1")
    world.vault.write("s2", api_key="k2-secret-value")
    # s2: read while Vault was up; its cached credentials stay usable.
    world.factory.markets["s2"] = FakeMarketplace()
    await apply_store_snapshot(
        snapshot().model_copy(update={"store_id": "s2"}), world.uow(), world.clock
    )
    await apply_api_status(valid().model_copy(update={"store_id": "s2"}), world.uow())
    assert (await poll_store("s2", world.ctx)).outcome == "ok"
    if failure == "down":
        world.vault.down = True
    else:
        world.vault.status = int(failure)
    with structlog.testing.capture_logs() as logs:
        result = await poll_store("s1", world.ctx)
        assert (await poll_store("s2", world.ctx)).outcome == "ok"
    assert (result.outcome, result.reason) == ("transient", "credentials_unavailable")
    state = world.db.ingest["s1"]
    assert (state.last_outcome, state.last_error_code) == ("transient", "credentials_unavailable")
    # Backed off like a 5xx of the platform.
    settings = ScheduleSettings(interval=30, jitter=0)
    assert next_delay(result, settings, 3, random.Random(0)) == 120
    # Nothing secret in what was logged or returned.
    text = repr(logs) + repr(result) + repr(state)
    assert "credentials unavailable" in text
    for secret in (VAULT_TOKEN, "k1", "k2-secret-value"):
        assert secret not in text
    # Vault back: the store reads its credentials and polls.
    world.vault.down, world.vault.status = False, None
    assert (await poll_store("s1", world.ctx)).new_orders == 1


async def test_cached_credentials_never_show_their_values() -> None:
    vault = FakeVault()
    vault.write("s1", api_key="k1-secret-value")
    cached = reader(vault)
    credentials = await cached.get("s1")
    assert credentials is not None
    text = repr(credentials) + str(credentials) + repr(credentials.fields) + repr(cached.__dict__)
    assert "k1-secret-value" not in text
    assert VAULT_TOKEN not in text
