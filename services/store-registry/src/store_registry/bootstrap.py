"""Composition root: settings → adapters → use cases → ASGI app. Nothing connects at import."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge

from kervan_contracts.topics import TOPICS, dlq_topic
from kervan_servicekit.auth import Authenticator
from kervan_servicekit.broker import build_broker
from kervan_servicekit.health import HealthEndpoints, kafka_check, postgres_check, relay_check
from kervan_servicekit.metrics import ServiceMetrics, metric_prefix
from kervan_servicekit.migrations import MigrationSet, load_migrations, migrate
from kervan_servicekit.outbox import OutboxRelay, ProducerLike
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.runtime import Lifecycle, create_pool, freeze_startup_heap
from kervan_servicekit.topics import ensure_topics
from store_registry import __version__
from store_registry.adapters.platforms import MarketplaceCatalog, validate_store_url
from store_registry.adapters.postgres import PgUnitOfWork, PgUnitOfWorkFactory
from store_registry.adapters.store_listener import StoreChangeListener
from store_registry.app.read_model import StoreReadModel
from store_registry.app.services import Collaborators
from store_registry.entrypoints.api import ApiDependencies, create_app, render_store
from store_registry.entrypoints.consumer import register_api_status_consumer
from store_registry.settings import StoreRegistrySettings

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
SOURCE = "store-registry"


def service_migrations() -> MigrationSet:
    """The service's own numbered SQL files."""
    return MigrationSet(SOURCE, load_migrations(MIGRATIONS_DIR))


async def migrate_database(settings: StoreRegistrySettings) -> list[str]:
    """Apply servicekit's and the service's migrations in the service schema."""
    return await migrate(
        settings.postgres.dsn.get_secret_value(), settings.db_schema, service_migrations()
    )


async def create_topics(settings: StoreRegistrySettings) -> list[str]:
    """Create the stores topic (compacted) and the consumer's DLQ when missing."""
    stores_spec = dataclasses.replace(TOPICS["kervan.stores.v1"], name=settings.stores_topic)
    api_spec = dataclasses.replace(TOPICS["kervan.api-status.v1"], name=settings.api_status_topic)
    return await ensure_topics(
        settings.kafka.bootstrap,
        [stores_spec, api_spec, dlq_topic(settings.consumer_group)],
        replication_factor=settings.kafka.replication_factor,
        request_timeout=settings.kafka.request_timeout_seconds,
    )


class _PoolHolder:
    """Unit-of-work factory whose pool is created in the lifespan (inside the server's loop)."""

    def __init__(self, settings: StoreRegistrySettings) -> None:
        self._settings = settings
        self.factory: PgUnitOfWorkFactory | None = None
        self.read_model: StoreReadModel | None = None

    def __call__(self, *, read_only: bool = False) -> PgUnitOfWork:
        if self.factory is None:
            raise RuntimeError("the database pool is not open yet")
        uow = self.factory(read_only=read_only)
        model = self.read_model
        if model is not None and not read_only:
            # Every store a commit of this process wrote is read from PostgreSQL here until
            # the read model has re-read it, whoever committed (API, consumer, tests), so this
            # process always reads its own writes.
            commit = uow.commit

            async def commit_and_mark() -> None:
                await commit()
                for store in uow.stores.seen:
                    model.mark_dirty(store.id, None if store.deleted else store.state)

            uow.commit = commit_and_mark  # type: ignore[method-assign]
        return uow


def _read_model_check(model: StoreReadModel) -> Callable[[], Awaitable[None]]:
    # Informational: without the model the process still answers, from the database.
    async def check() -> None:
        if not model.ready:
            raise RuntimeError("not loaded: reads go to the database")

    return check


def build_app(
    settings: StoreRegistrySettings,
    *,
    consume: bool = True,
    producer_factory: Callable[[], ProducerLike] | None = None,
) -> FastAPI:
    """The full service: API, outbox relay and API status consumer, wired to real servers.

    `producer_factory` replaces the relay's Kafka producer (tests inject failures with it).
    """
    registry = CollectorRegistry()
    metrics = ServiceMetrics(settings.service_name, registry)
    metrics.set_build_info(__version__)
    health = HealthEndpoints(registry, check_timeout=settings.readiness_check_timeout_seconds)
    uow = _PoolHolder(settings)
    r = settings.retry
    broker = build_broker(
        service=settings.service_name,
        kafka=settings.kafka,
        retry=RetryPolicy(
            max_attempts=r.max_attempts,
            base_delay=r.base_delay_seconds,
            max_delay=r.max_delay_seconds,
            multiplier=r.multiplier,
            jitter=r.jitter,
        ),
        registry=registry,
        metrics=metrics,
    )
    if consume:
        register_api_status_consumer(
            broker, topic=settings.api_status_topic, group=settings.consumer_group, uow=uow
        )
    relay = OutboxRelay(
        dsn=settings.postgres.dsn.get_secret_value(),
        schema=settings.db_schema,
        service=settings.service_name,
        bootstrap=settings.kafka.bootstrap,
        settings=settings.outbox,
        metrics=metrics,
        producer_factory=producer_factory,
    )

    read_model = StoreReadModel(render_store) if settings.read_model else None
    uow.read_model = read_model
    if read_model is not None:
        stores_held = Gauge(
            f"{metric_prefix(settings.service_name)}_read_model_stores",
            "Stores this process answers reads for from memory (0 while it reads from the "
            "database: not loaded yet, or its LISTEN connection was lost).",
            registry=registry,
        )
        stores_held.set_function(lambda: len(read_model) if read_model.ready else 0)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await migrate_database(settings)
        if settings.create_topics:
            await create_topics(settings)
        pool_settings = settings.postgres.model_copy(update={"schema_name": settings.db_schema})
        pool: asyncpg.Pool = await create_pool(pool_settings)
        uow.factory = PgUnitOfWorkFactory(
            pool,
            schema=settings.db_schema,
            stores_topic=settings.stores_topic,
            write_batch=settings.write_batch,
        )
        health.add_check("postgres", postgres_check(pool))
        health.add_check("kafka", kafka_check(broker))
        health.add_check("outbox_relay", relay_check(relay), informational=True)
        closers = []
        if read_model is not None:
            listener = StoreChangeListener(
                read_model,
                dsn=settings.postgres.dsn.get_secret_value(),
                schema=settings.db_schema,
                pool=pool,
                reconnect_seconds=settings.read_model_reconnect_seconds,
            )
            _app.state.store_listener = listener
            await listener.start()
            closers.append(listener.stop)
            health.add_check("store_read_model", _read_model_check(read_model), informational=True)
        lifecycle = Lifecycle(health=health, broker=broker, relay=relay, pool=pool, closers=closers)
        async with lifecycle.lifespan():
            freeze_startup_heap()
            yield

    env = Collaborators(catalog=MarketplaceCatalog(), validate_store_url=validate_store_url)
    if read_model is not None:
        env = dataclasses.replace(env, known_store=read_model.state_at)
    deps = ApiDependencies(
        uow=uow,
        env=env,
        auth=Authenticator.from_settings(settings.tokens, settings.admin_token),
        registry=registry,
        max_body_bytes=settings.max_body_bytes,
        health=health,
        lifespan=lifespan,
        metric_prefix=metric_prefix(settings.service_name),
        read_model=read_model,
    )
    app = create_app(deps)
    app.state.health = health
    app.state.relay = relay
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, built without any server (what `openapi.json` holds)."""
    settings = StoreRegistrySettings(admin_token=None, tokens=[])
    app = build_app(settings, consume=False)
    document: dict[str, Any] = app.openapi()
    return document


def run_blocking(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion from synchronous code (CLI commands)."""
    return asyncio.run(coro_factory())
