"""Composition root: settings → adapters → use cases → ASGI app. Nothing connects at import."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from credential_vault import __version__
from credential_vault.adapters.marketplace import AdapterChecker, AdapterConsent
from credential_vault.adapters.postgres import PostgresUnitOfWork
from credential_vault.adapters.vault import VaultSecretStore
from credential_vault.app.ports import CheckResult, CredentialChecker
from credential_vault.app.services import CredentialService
from credential_vault.domain.model import StoreView
from credential_vault.entrypoints.api import create_api
from credential_vault.entrypoints.consumer import register_stores_consumer
from credential_vault.entrypoints.metrics import ApiStatusGauge, refresh_forever
from credential_vault.settings import CredentialVaultSettings
from kervan_contracts.topics import TOPICS, dlq_topic
from kervan_marketplaces import AdapterFactory, MarketplaceSettings
from kervan_servicekit.auth import Authenticator
from kervan_servicekit.broker import build_broker
from kervan_servicekit.health import (
    HealthEndpoints,
    kafka_check,
    postgres_check,
    relay_check,
    vault_check,
)
from kervan_servicekit.metrics import ServiceMetrics, metric_prefix
from kervan_servicekit.migrations import MigrationSet, load_migrations, migrate
from kervan_servicekit.outbox import OutboxRelay, ProducerLike
from kervan_servicekit.retry import RetryPolicy
from kervan_servicekit.runtime import Lifecycle, create_pool
from kervan_servicekit.topics import ensure_topics

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
SOURCE = "credential-vault"
logger = logging.getLogger("credential_vault.bootstrap")


def service_migrations() -> MigrationSet:
    """The service's own numbered SQL files."""
    return MigrationSet(SOURCE, load_migrations(MIGRATIONS_DIR))


async def migrate_database(settings: CredentialVaultSettings) -> list[str]:
    """Apply servicekit's and the service's migrations in the service schema."""
    return await migrate(
        settings.postgres.dsn.get_secret_value(), settings.db_schema, service_migrations()
    )


async def create_topics(settings: CredentialVaultSettings) -> list[str]:
    """Topics this service writes or reads, and its DLQ."""
    stores = dataclasses.replace(TOPICS["kervan.stores.v1"], name=settings.stores_topic)
    return await ensure_topics(
        settings.kafka.bootstrap,
        [
            stores,
            TOPICS["kervan.api-status.v1"],
            TOPICS["kervan.credentials.v1"],
            dlq_topic(settings.consumer_group),
        ],
        replication_factor=settings.kafka.replication_factor,
        request_timeout=settings.kafka.request_timeout_seconds,
    )


class MeteredChecker:
    """Counts check verdicts per platform (`kervan_credential_vault_checks_total`)."""

    def __init__(self, inner: CredentialChecker, counter: Counter) -> None:
        self._inner = inner
        self._counter = counter

    async def check(self, store: StoreView, fields: Mapping[str, str]) -> CheckResult:
        """Delegate and count."""
        result = await self._inner.check(store, fields)
        outcome = "valid" if result.valid else (result.reason_code or "invalid")
        self._counter.labels(platform=store.platform.value, outcome=outcome).inc()
        return result


def fingerprint_key(settings: CredentialVaultSettings) -> bytes:
    """The configured key, or a random one (fingerprints then change on restart)."""
    configured = settings.fingerprint_key.get_secret_value()
    if configured:
        return configured.encode()
    logger.warning("no fingerprint key configured; using a random key for this process")
    return secrets.token_bytes(32)


async def recheck_forever(service: CredentialService, interval: float, jitter: float) -> None:
    """Re-check every store each `interval` seconds (± jitter, so replicas spread out)."""
    while True:
        await asyncio.sleep(interval * (1 + random.uniform(-jitter, jitter)))
        try:
            checked = await service.recheck_all()
            logger.info("periodic re-check done", extra={"stores_checked": checked})
        except Exception as exc:  # the loop must survive a bad round
            logger.warning("periodic re-check failed", extra={"error_type": type(exc).__name__})


def build_app(
    settings: CredentialVaultSettings,
    *,
    marketplaces: AdapterFactory | None = None,
    consume: bool = True,
    producer_factory: Callable[[], ProducerLike] | None = None,
) -> FastAPI:
    """The whole service: API, stores consumer, outbox relay, periodic re-check.

    `marketplaces` replaces the adapter factory (tests serve marketplace-sim in process).
    """
    registry = CollectorRegistry()
    metrics = ServiceMetrics(settings.service_name, registry)
    metrics.set_build_info(__version__)
    prefix = metric_prefix(settings.service_name)
    checks = Counter(
        f"{prefix}_checks",
        "Credential checks by platform and outcome.",
        ["platform", "outcome"],
        registry=registry,
    )
    status_gauge = ApiStatusGauge(prefix)
    registry.register(status_gauge)
    health = HealthEndpoints(registry, check_timeout=settings.readiness_check_timeout_seconds)
    factory = marketplaces or AdapterFactory(MarketplaceSettings())
    vault = settings.vault
    secret_store = VaultSecretStore(
        addr=vault.addr,
        token=vault.token.get_secret_value(),
        mount=vault.kv_mount,
        prefix=settings.vault_prefix,
        timeout=vault.timeout_seconds,
    )
    uow = PostgresUnitOfWork(None, settings.db_schema, settings.service_name)
    service = CredentialService(
        uow=uow,
        secret_store=secret_store,
        checker=MeteredChecker(AdapterChecker(factory), checks),
        fingerprint_key=fingerprint_key(settings),
        consent=AdapterConsent(factory),
        oauth_redirect_uri=settings.oauth_redirect_uri,
        oauth_state_ttl=timedelta(seconds=settings.oauth_state_ttl_seconds),
        on_status=status_gauge.record,
    )
    broker = build_broker(
        service=settings.service_name,
        kafka=settings.kafka,
        retry=RetryPolicy.from_settings(settings.retry),
        registry=registry,
        metrics=metrics,
    )
    if consume:
        register_stores_consumer(
            broker, topic=settings.stores_topic, group=settings.consumer_group, service=service
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

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await migrate_database(settings)
        if settings.create_topics:
            await create_topics(settings)
        pool = await create_pool(
            settings.postgres.model_copy(update={"schema_name": settings.db_schema})
        )
        uow.pool = pool
        health.add_check("postgres", postgres_check(pool))
        health.add_check("kafka", kafka_check(broker))
        health.add_check("vault", vault_check(vault.addr))
        health.add_check("outbox_relay", relay_check(relay), informational=True)
        lifecycle = Lifecycle(
            health=health,
            broker=broker if consume else None,
            relay=relay,
            pool=pool,
            closers=(factory.aclose,) if marketplaces is None else (),
        )
        recheck: asyncio.Task[None] | None = None
        async with lifecycle.lifespan():
            # Before the first scrape: a restarted process reports the stored statuses.
            status_gauge.replace(await service.list_statuses())
            reload = asyncio.create_task(
                refresh_forever(
                    status_gauge, service.list_statuses, settings.status_metrics_interval_seconds
                )
            )
            if settings.recheck_interval_seconds > 0:
                recheck = asyncio.create_task(
                    recheck_forever(
                        service, settings.recheck_interval_seconds, settings.recheck_jitter
                    )
                )
            try:
                yield
            finally:
                for task in (recheck, reload):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task

    app = create_api(
        service,
        Authenticator.from_settings(settings.tokens, settings.admin_token),
        settings.max_body_bytes,
    )
    app.router.lifespan_context = lifespan
    app.router.routes.extend(health.starlette_routes())
    app.state.health = health
    app.state.relay = relay
    app.state.registry = registry
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, built without any server (what `openapi.json` holds)."""
    settings = CredentialVaultSettings(admin_token=None, tokens=[], fingerprint_key="x" * 32)  # type: ignore[arg-type]
    app = build_app(settings, consume=False)
    document: dict[str, Any] = app.openapi()
    return document
