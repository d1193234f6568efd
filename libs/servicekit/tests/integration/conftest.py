"""Helpers for servicekit's integration tests (real PostgreSQL and Kafka from kervan_testkit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged
from kervan_contracts.envelope import Envelope
from kervan_contracts.identifiers import Platform
from kervan_contracts.registry import make_envelope
from kervan_servicekit.metrics import ServiceMetrics
from kervan_servicekit.migrations import MigrationSet, apply_migrations, servicekit_migrations
from kervan_servicekit.outbox import OutboxRelay
from kervan_servicekit.settings import OutboxSettings
from kervan_testkit import wait_until as poll_until

SCHEMA = "svc"


WaitUntil = Callable[..., Awaitable[None]]


@pytest.fixture
def wait_until() -> WaitUntil:
    """`await wait_until(async_condition, timeout=..., what=...)`: poll with a deadline."""
    return poll_until


StatusEnvelope = Callable[..., Envelope[ApiStatusChanged]]


def _status_envelope(store_id: str, **overrides: Any) -> Envelope[ApiStatusChanged]:
    """A valid ApiStatusChanged envelope for `store_id`."""
    payload = ApiStatusChanged(
        store_id=store_id,
        platform=Platform.TRENDYOL,
        status=ApiStatus.VALID,
        checked_at=datetime.now(UTC),
        test_mode=False,
        **overrides,
    )
    return make_envelope(payload, producer="servicekit-tests")


@pytest.fixture
def status_envelope() -> StatusEnvelope:
    """`status_envelope(store_id, message=...)`: a valid ApiStatusChanged envelope."""
    return _status_envelope


@pytest_asyncio.fixture(loop_scope="session")
async def service_db(pg_dsn: str) -> AsyncIterator[str]:
    """A fresh database with servicekit's tables migrated into schema `svc`; yields the DSN."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        await apply_migrations(conn, SCHEMA, [servicekit_migrations(), MigrationSet("svc", [])])
    finally:
        await conn.close()
    yield pg_dsn


@pytest.fixture
def metrics() -> ServiceMetrics:
    return ServiceMetrics("servicekit-test", CollectorRegistry())


RelayFactory = Callable[..., OutboxRelay]


@pytest_asyncio.fixture(loop_scope="session")
async def make_relay(
    service_db: str, kafka_bootstrap: str, metrics: ServiceMetrics
) -> AsyncIterator[RelayFactory]:
    """Factory of relays on the test database; all are stopped after the test."""
    relays: list[OutboxRelay] = []

    def factory(**overrides: Any) -> OutboxRelay:
        settings = OutboxSettings(
            poll_interval_seconds=0.5, lock_retry_seconds=0.2, publish_timeout_seconds=10
        )
        options: dict[str, Any] = {
            "dsn": service_db,
            "schema": SCHEMA,
            "service": "servicekit-test",
            "bootstrap": kafka_bootstrap,
            "settings": settings,
            "metrics": metrics,
        }
        options.update(overrides)
        relay = OutboxRelay(**options)
        relays.append(relay)
        return relay

    yield factory
    for relay in relays:
        await relay.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def db(service_db: str) -> AsyncIterator[asyncpg.Pool]:
    """A small pool on the test database, search_path = the service schema."""
    pool = await asyncpg.create_pool(
        service_db, min_size=1, max_size=12, server_settings={"search_path": SCHEMA}
    )
    yield pool
    await pool.close()
