"""The whole service (API, outbox relay, consumer) on real PostgreSQL and Kafka, in-process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI
from pydantic import SecretStr
from store_registry.bootstrap import build_app
from store_registry.settings import StoreOutboxSettings, StoreRegistrySettings

from kervan_servicekit.outbox import ProducerLike
from kervan_servicekit.settings import KafkaSettings, PostgresSettings

ADMIN_TOKEN = "integration-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def service_settings(
    pg_dsn: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> StoreRegistrySettings:
    return StoreRegistrySettings(
        admin_token=SecretStr(ADMIN_TOKEN),
        tokens=[],
        postgres=PostgresSettings(dsn=SecretStr(pg_dsn), pool_max_size=4),
        kafka=KafkaSettings(bootstrap=kafka_bootstrap),
        # Published rows kept (the service deletes them by default): tests count outbox rows
        # to see which writes emitted events. servicekit's relay tests cover the deletion.
        outbox=StoreOutboxSettings(
            poll_interval_seconds=0.2, lock_retry_seconds=0.2, delete_published=False
        ),
        stores_topic=unique_name("stores"),
        api_status_topic=unique_name("api_status"),
        consumer_group=unique_name("store_registry"),
    )


Runner = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def run_service(
    service_settings: StoreRegistrySettings, kafka_bootstrap: str
) -> AsyncIterator[Runner]:
    """`async with run_service(producer_factory=None, settings=None) as (app, client):` runs one."""

    @asynccontextmanager
    async def run(
        producer_factory: Callable[[], ProducerLike] | None = None,
        settings: StoreRegistrySettings | None = None,
    ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = build_app(settings or service_settings, producer_factory=producer_factory)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sr") as client:
                yield app, client

    yield run
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    with contextlib.suppress(Exception):
        await admin.delete_topics(
            [
                service_settings.stores_topic,
                service_settings.api_status_topic,
                f"{service_settings.consumer_group}.dlq",
            ]
        )
    await admin.close()
