"""Composition root: wires PostgreSQL, Kafka, Vault, the adapters, the scheduler and the API.

Nothing connects at import or in `build_app`; the lifespan migrates, connects and starts, in
order, and stops in reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from kervan_contracts import topics
from kervan_marketplaces import AdapterFactory, MarketplaceSettings
from kervan_servicekit import (
    HealthEndpoints,
    Lifecycle,
    MigrationSet,
    Outbox,
    OutboxRecord,
    OutboxRelay,
    RetryPolicy,
    ServiceMetrics,
    build_broker,
    create_pool,
    ensure_topics,
    freeze_startup_heap,
    kafka_check,
    load_migrations,
    migrate,
    postgres_check,
    relay_check,
)
from kervan_servicekit.credentials import CredentialsReader
from order_ingest import __version__
from order_ingest.adapters.leases import PostgresLeases
from order_ingest.adapters.marketplace import FactoryAdapterProvider
from order_ingest.adapters.postgres import PostgresUnitOfWork
from order_ingest.adapters.retest import HttpRetestRequester, LoggingRetestRequester
from order_ingest.adapters.telemetry import PrometheusTelemetry
from order_ingest.app.ports import CredentialsSource, RetestRequester, UnitOfWork
from order_ingest.app.scheduler import Scheduler
from order_ingest.app.services import PollContext, PollResult
from order_ingest.entrypoints.api import build_router, install_error_handlers
from order_ingest.entrypoints.consumer import register_consumers
from order_ingest.settings import OrderIngestSettings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def utc_now() -> datetime:
    """The service clock."""
    return datetime.now(UTC)


GC_THRESHOLDS = (50_000, 10, 10)
"""The collector's thresholds while the service runs (Python's are 700, 10, 10): polling
allocates mostly short-lived objects (decoded pages, orders, events) freed by reference
counting; with the defaults the collector ran ~2,000 times while 20,000 orders were ingested
and full collections took ~15 % of the service's CPU."""


def migration_set() -> MigrationSet:
    """order-ingest's migrations."""
    return MigrationSet("order-ingest", load_migrations(MIGRATIONS_DIR))


def uow_factory(
    pool: asyncpg.Pool,
    outbox: Outbox,
    producer: str,
    handoff: Callable[[Sequence[OutboxRecord]], None] | None = None,
) -> PostgresUnitOfWorkFactory:
    """A factory of PostgreSQL units of work (`handoff`: the relay's, see PostgresUnitOfWork)."""
    return PostgresUnitOfWorkFactory(pool, outbox, producer, handoff)


@dataclass(frozen=True)
class PostgresUnitOfWorkFactory:
    """`UnitOfWorkFactory` over a pool."""

    pool: asyncpg.Pool
    outbox: Outbox
    producer: str
    handoff: Callable[[Sequence[OutboxRecord]], None] | None = None

    def __call__(self) -> UnitOfWork:
        return PostgresUnitOfWork(self.pool, self.outbox, self.producer, self.handoff)


@dataclass
class Runtime:
    """What the lifespan built (exposed on `app.state.runtime` for tests and ops)."""

    ctx: PollContext
    scheduler: Scheduler
    pool: asyncpg.Pool


@dataclass
class _Shared:
    """Process-wide objects built before the lifespan (metrics must exist for /metrics)."""

    settings: OrderIngestSettings
    registry: CollectorRegistry
    metrics: ServiceMetrics
    telemetry: PrometheusTelemetry
    health: HealthEndpoints
    factory: AdapterFactory | None
    credentials: CredentialsSource | None
    retest: RetestRequester | None


async def _prepare_infrastructure(settings: OrderIngestSettings) -> None:
    pg = settings.postgres
    await migrate(pg.dsn.get_secret_value(), pg.schema_name, migration_set())
    names = (topics.ORDERS, topics.STOCK_MOVEMENTS, topics.STORES, topics.API_STATUS)
    await ensure_topics(
        settings.kafka.bootstrap,
        [topics.TOPICS[name] for name in (*names, topics.CREDENTIALS)]
        + [topics.dlq_topic(settings.service_name)],
        replication_factor=settings.kafka.replication_factor,
    )


async def _assemble(shared: _Shared) -> tuple[Lifecycle, Runtime]:
    settings = shared.settings
    pg = settings.postgres
    pool = await create_pool(pg)
    relay = OutboxRelay(
        dsn=pg.dsn.get_secret_value(),
        schema=pg.schema_name,
        service=settings.service_name,
        bootstrap=settings.kafka.bootstrap,
        settings=settings.outbox,
        metrics=shared.metrics,
    )
    # Committed events go to this process's relay at once (when it is the active one): it
    # publishes them without reading them back; the outbox table stays the source of truth.
    uow = uow_factory(pool, Outbox(pg.schema_name), settings.service_name, relay.hand_off)
    http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
    adapter_factory = shared.factory or AdapterFactory(MarketplaceSettings())
    # servicekit's shared reader: `KERVAN_VAULT_*`, `<mount>/marketplace-credentials/<store_id>`,
    # cached per store for at most its default 5 minutes unless an event or a 401/403 drops it.
    reader: CredentialsReader | None = None
    source: CredentialsSource
    if shared.credentials is not None:
        source = shared.credentials
    else:
        source = reader = CredentialsReader(settings.vault)
    adapters = FactoryAdapterProvider(adapter_factory, source)
    requester = shared.retest or (
        HttpRetestRequester(http, settings.retest_url, settings.retest_token)
        if settings.retest_url
        else LoggingRetestRequester()
    )
    ctx = PollContext(
        uow=uow,
        adapters=adapters,
        retest=requester,
        clock=utc_now,
        settings=settings.poll_settings(),
        telemetry=shared.telemetry,
        replica_id=settings.replica_id,
    )
    leases = PostgresLeases(
        pool, settings.replica_id, timedelta(seconds=settings.lease_ttl_seconds)
    )
    scheduler = Scheduler(ctx, leases, settings.schedule_settings())
    broker = build_broker(
        service=settings.service_name,
        kafka=settings.kafka,
        retry=RetryPolicy.from_settings(settings.retry),
        registry=shared.registry,
        metrics=shared.metrics,
    )
    register_consumers(
        broker, group=settings.service_name, uow=uow, adapters=adapters, clock=utc_now
    )
    shared.health.add_check("kafka", kafka_check(broker))
    shared.health.add_check("postgres", postgres_check(pool))
    shared.health.add_check("outbox_relay", relay_check(relay), informational=True)

    async def close_clients() -> None:
        await http.aclose()
        if reader is not None:
            await reader.aclose()
        if shared.factory is None:
            await adapter_factory.aclose()

    lifecycle = Lifecycle(
        health=shared.health, broker=broker, relay=relay, pool=pool, closers=(close_clients,)
    )
    return lifecycle, Runtime(ctx=ctx, scheduler=scheduler, pool=pool)


def build_app(
    settings: OrderIngestSettings,
    *,
    factory: AdapterFactory | None = None,
    credentials: CredentialsSource | None = None,
    retest: RetestRequester | None = None,
) -> FastAPI:
    """The ASGI app: ops API + health, with a lifespan that runs everything else."""
    registry = CollectorRegistry()
    metrics = ServiceMetrics(settings.service_name, registry)
    metrics.set_build_info(__version__)
    health = HealthEndpoints(registry, check_timeout=settings.readiness_check_timeout_seconds)
    shared = _Shared(
        settings,
        registry,
        metrics,
        PrometheusTelemetry(registry),
        health,
        factory,
        credentials,
        retest,
    )
    runtime: list[Runtime] = []

    def current() -> Runtime:
        if not runtime:
            raise RuntimeError("order-ingest is not started")
        return runtime[0]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await _prepare_infrastructure(settings)
        lifecycle, built = await _assemble(shared)
        async with lifecycle.lifespan():
            runtime.append(built)
            freeze_startup_heap(GC_THRESHOLDS)
            await built.scheduler.start()
            try:
                yield
            finally:
                await built.scheduler.stop()
                runtime.clear()

    def uow() -> UnitOfWork:
        return current().ctx.uow()

    async def poll_now(store_id: str) -> PollResult:
        # Any replica may run it: the store's ingest row lock serialises it with the owner's
        # polls, and the upsert by natural key makes a concurrent read harmless.
        return await current().scheduler.poll_with_timeout(store_id)

    app = FastAPI(title="order-ingest ops API", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(build_router(uow, poll_now))
    app.router.routes.extend(health.starlette_routes())
    app.state.health = health
    app.state.registry = registry
    app.state.runtime = runtime
    return app
