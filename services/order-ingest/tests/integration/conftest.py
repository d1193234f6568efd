"""order-ingest's components on real PostgreSQL and Kafka, with marketplace-sim in process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from marketplace_sim.app import create_app
from marketplace_sim.testing import TEST_ACCOUNTS, SimDriver
from order_ingest.adapters.credentials import StaticCredentialsSource
from order_ingest.adapters.marketplace import FactoryAdapterProvider
from order_ingest.app.services import (
    PollContext,
    PollSettings,
    apply_api_status,
    apply_store_snapshot,
)
from order_ingest.bootstrap import PostgresUnitOfWorkFactory, migration_set, utc_now
from order_ingest.settings import OrderIngestSettings, OrderOutboxSettings
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from kervan_contracts import topics
from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import OrderSettings, ProductSettings, StoreSnapshot, StoreStatus
from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    simulator_urls,
)
from kervan_servicekit import (
    KafkaSettings,
    Outbox,
    OutboxRelay,
    OutboxSettings,
    PostgresSettings,
    ServiceMetrics,
    create_pool,
    ensure_topics,
    migrate,
)
from kervan_testkit.events import EventRecorder

SCHEMA = "order_ingest"
SIM = "http://127.0.0.1:8090"


def sim_marketplace_settings() -> MarketplaceSettings:
    """Every platform's production URL pointed at the in-process simulator."""
    urls = simulator_urls(SIM)
    return MarketplaceSettings(
        urls=urls,
        simulator_origins=[SIM],
        check_dns=False,
        retry_attempts=3,
        retry_timeout=10.0,
        retry_wait_initial=0.05,
        retry_wait_max=0.2,
        retry_wait_jitter=0.05,
        integrator=IntegratorIdentity(trendyol_integrator_name="Kervan"),
    )


@dataclass
class Env:
    """One test's world: database, relay, simulator, poll context."""

    store_id: str
    pool: asyncpg.Pool
    ctx: PollContext
    sim: SimDriver
    account: str
    relay: OutboxRelay

    async def outbox_drained(self) -> bool:
        """Every outbox row published."""
        count = await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        return int(count) == 0


def store_events(recorder: EventRecorder, store_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(event_type, data) of this store's events, in arrival order, both topics."""
    found = []
    for topic in (topics.ORDERS, topics.STOCK_MOVEMENTS):
        for record in recorder.by_topic().get(topic, []):
            data = record.value["data"]
            owner = data["order"]["store_id"] if "order" in data else data["store_id"]
            if owner == store_id:
                found.append((record.value["event_type"], data))
    return found


@pytest.fixture
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the migrated schema, closed after the test."""
    await migrate(pg_dsn, SCHEMA, migration_set())
    pool = await create_pool(PostgresSettings(dsn=SecretStr(pg_dsn), schema_name=SCHEMA))
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def env(
    pg_dsn: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> AsyncIterator[Env]:
    await migrate(pg_dsn, SCHEMA, migration_set())
    await ensure_topics(
        kafka_bootstrap, [topics.TOPICS[topics.ORDERS], topics.TOPICS[topics.STOCK_MOVEMENTS]]
    )
    pool = await create_pool(
        PostgresSettings(dsn=SecretStr(pg_dsn), schema_name=SCHEMA, pool_max_size=4)
    )
    uow = PostgresUnitOfWorkFactory(pool, Outbox(SCHEMA), "order-ingest")
    relay = OutboxRelay(
        dsn=pg_dsn,
        schema=SCHEMA,
        service="order-ingest",
        bootstrap=kafka_bootstrap,
        settings=OutboxSettings(poll_interval_seconds=0.2, lock_retry_seconds=0.2),
        metrics=ServiceMetrics("order-ingest", CollectorRegistry()),
    )
    store_id = unique_name("store").replace("_", "-")
    sim_app = create_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim_app), base_url=SIM
    ) as client:
        sim = SimDriver(client)
        account = await sim.account("trendyol")
        factory = AdapterFactory(sim_marketplace_settings(), client=client)
        credentials = StaticCredentialsSource({store_id: TEST_ACCOUNTS["trendyol"][1]})
        ctx = PollContext(
            uow=uow,
            adapters=FactoryAdapterProvider(factory, credentials),
            retest=_NoRetest(),
            clock=utc_now,
            settings=PollSettings(
                commit_batch_size=2,
                initial_lookback=timedelta(hours=1),
                overlap=timedelta(minutes=3),
            ),
        )
        await apply_store_snapshot(snapshot(store_id), uow(), utc_now)
        await apply_api_status(api_valid(store_id, timedelta(hours=1)), uow())
        await relay.start()
        try:
            yield Env(store_id, pool, ctx, sim, account, relay)
        finally:
            await relay.stop()
            await pool.close()


class _NoRetest:
    async def request_retest(self, store_id: str, reason: str) -> None:
        """Nothing to call in these tests."""


def snapshot(store_id: str, version: int = 1, warehouse: str | None = "wh-main") -> StoreSnapshot:
    """An active trendyol store with order transfer and stock deduction on."""
    at = datetime.now(UTC) - timedelta(days=1)
    return StoreSnapshot(
        store_id=store_id,
        title="Integration shop",
        platform=Platform.TRENDYOL,
        status=StoreStatus.ACTIVE,
        test_mode=False,
        products=ProductSettings(),
        orders=OrderSettings(
            order_transfer_enabled=True,
            stock_deduction_enabled=True,
            default_warehouse_id=warehouse,
        ),
        version=version,
        created_at=at,
        updated_at=at,
    )


def api_valid(store_id: str, ago: timedelta = timedelta(minutes=1)) -> ApiStatusChanged:
    """The store's trendyol credentials were found valid `ago` (live mode)."""
    return ApiStatusChanged(
        store_id=store_id,
        platform=Platform.TRENDYOL,
        status=ApiStatus.VALID,
        checked_at=datetime.now(UTC) - ago,
        test_mode=False,
    )


def service_settings(
    pg_dsn: str, kafka_bootstrap: str, unique_name: Callable[[str], str], **extra: Any
) -> OrderIngestSettings:
    """The whole service in process, with a unique name (consumer group), fast polls and relay;
    `extra` adds or overrides settings."""
    fields: dict[str, Any] = {
        "service_name": unique_name("order-ingest").replace("_", "-"),
        "postgres": PostgresSettings(dsn=SecretStr(pg_dsn), schema_name=SCHEMA, pool_max_size=6),
        "kafka": KafkaSettings(bootstrap=kafka_bootstrap),
        "outbox": OrderOutboxSettings(poll_interval_seconds=0.2, lock_retry_seconds=0.2),
        "poll_interval_seconds": 1.0,
        "lease_renew_interval_seconds": 0.5,
        "retest_url": "",
    }
    return OrderIngestSettings(**(fields | extra))
