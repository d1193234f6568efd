"""Composition root: PostgreSQL, Kafka, Vault, adapters, the push loop and the HTTP API.

Nothing connects at import or in `build_app`; the lifespan migrates, connects and starts, in
order, and stops in reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from catalog_sync import __version__
from catalog_sync.adapters.leases import PostgresLeases
from catalog_sync.adapters.marketplace import CredentialsSource, FactoryAdapterProvider
from catalog_sync.adapters.postgres import PostgresUnitOfWorkFactory
from catalog_sync.adapters.telemetry import PrometheusTelemetry
from catalog_sync.app.pusher import PushContext
from catalog_sync.app.scheduler import PushLoop
from catalog_sync.entrypoints.api import build_router, install_error_handlers
from catalog_sync.entrypoints.consumer import register_consumers
from catalog_sync.settings import CatalogSyncSettings
from kervan_contracts import topics
from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_marketplaces import AdapterFactory, MarketplaceSettings
from kervan_servicekit import (
    HealthEndpoints,
    Lifecycle,
    MigrationSet,
    OutboxRelay,
    RetryPolicy,
    ServiceMetrics,
    build_broker,
    create_pool,
    ensure_topics,
    kafka_check,
    load_migrations,
    migrate,
    postgres_check,
    relay_check,
)
from kervan_servicekit.credentials import CredentialsReader

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
CONSUMED = (
    topics.CATALOG,
    topics.STOCK_MOVEMENTS,
    topics.STORES,
    topics.API_STATUS,
    topics.CREDENTIALS,
)


def utc_now() -> datetime:
    """The service clock."""
    return datetime.now(UTC)


def migration_set() -> MigrationSet:
    """catalog-sync's migrations."""
    return MigrationSet("catalog-sync", load_migrations(MIGRATIONS_DIR))


@dataclass
class Runtime:
    """What the lifespan built (on `app.state.runtime` for tests and ops)."""

    ctx: PushContext
    loop: PushLoop


def build_app(
    settings: CatalogSyncSettings,
    *,
    factory: AdapterFactory | None = None,
    credentials: CredentialsSource | None = None,
) -> FastAPI:
    """The ASGI app: API + health + metrics, with a lifespan that runs everything else."""
    registry = CollectorRegistry()
    metrics = ServiceMetrics(settings.service_name, registry)
    metrics.set_build_info(__version__)
    telemetry = PrometheusTelemetry(registry)
    health = HealthEndpoints(registry, check_timeout=settings.readiness_check_timeout_seconds)
    runtime: list[Runtime] = []

    def current() -> PushContext:
        if not runtime:
            raise RuntimeError("catalog-sync is not started")
        return runtime[0].ctx

    def wake() -> None:
        if runtime:
            runtime[0].loop.wake()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await _prepare_infrastructure(settings)
        lifecycle, built = await _assemble(
            settings,
            registry=registry,
            metrics=metrics,
            telemetry=telemetry,
            health=health,
            factory=factory,
            credentials=credentials,
            wake=wake,
        )
        async with lifecycle.lifespan():
            runtime.append(built)
            await built.loop.start()
            try:
                yield
            finally:
                await built.loop.stop()
                runtime.clear()

    app = FastAPI(title="catalog-sync API", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(build_router(current, wake))
    app.router.routes.extend(health.starlette_routes())
    app.state.health = health
    app.state.registry = registry
    app.state.runtime = runtime
    return app


async def _prepare_infrastructure(settings: CatalogSyncSettings) -> None:
    pg = settings.postgres
    await migrate(pg.dsn.get_secret_value(), pg.schema_name, migration_set())
    await ensure_topics(
        settings.kafka.bootstrap,
        [topics.TOPICS[name] for name in (*CONSUMED, topics.SYNC_RESULTS)]
        + [topics.dlq_topic(settings.service_name)],
        replication_factor=settings.kafka.replication_factor,
    )


async def _assemble(
    settings: CatalogSyncSettings,
    *,
    registry: CollectorRegistry,
    metrics: ServiceMetrics,
    telemetry: PrometheusTelemetry,
    health: HealthEndpoints,
    factory: AdapterFactory | None,
    credentials: CredentialsSource | None,
    wake: Callable[[], None],
) -> tuple[Lifecycle, Runtime]:
    pg = settings.postgres
    pool = await create_pool(pg)
    uow = PostgresUnitOfWorkFactory(pool, pg.schema_name, settings.service_name)
    adapter_factory = factory or AdapterFactory(MarketplaceSettings())
    reader = None if credentials is not None else CredentialsReader(settings.vault)
    source = credentials or CredentialsSource(reader)
    leases = PostgresLeases(
        pool, settings.replica_id, timedelta(seconds=settings.lease_ttl_seconds)
    )
    ctx = PushContext(
        uow=uow,
        adapters=FactoryAdapterProvider(adapter_factory, source),
        clock=utc_now,
        settings=settings.push_settings(),
        telemetry=telemetry,
        ownership=leases,
    )
    broker = build_broker(
        service=settings.service_name,
        kafka=settings.kafka,
        retry=RetryPolicy.from_settings(settings.retry),
        registry=registry,
        metrics=metrics,
    )

    def credentials_changed(event: CredentialsChanged) -> None:
        # A rotation reaches this replica's next push without waiting for the cache to
        # expire. The other replicas learn it from `credential_versions` (pusher.adapter_for).
        if reader is not None:
            reader.on_credentials_changed(event)

    register_consumers(
        broker,
        group=settings.service_name,
        uow=uow,
        clock=utc_now,
        ack_window=settings.ack_window,
        wake=wake,
        on_credentials=credentials_changed,
    )
    relay = OutboxRelay(
        dsn=pg.dsn.get_secret_value(),
        schema=pg.schema_name,
        service=settings.service_name,
        bootstrap=settings.kafka.bootstrap,
        settings=settings.outbox,
        metrics=metrics,
    )
    health.add_check("kafka", kafka_check(broker))
    health.add_check("postgres", postgres_check(pool))
    health.add_check("outbox_relay", relay_check(relay), informational=True)

    async def close_clients() -> None:
        if reader is not None:
            await reader.aclose()
        if factory is None:
            await adapter_factory.aclose()

    lifecycle = Lifecycle(
        health=health, broker=broker, relay=relay, pool=pool, closers=(close_clients,)
    )
    return lifecycle, Runtime(ctx, PushLoop(ctx, settings.loop_settings(), leases))
