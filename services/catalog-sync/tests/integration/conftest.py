"""catalog-sync on real PostgreSQL (and Kafka where needed), marketplace-sim in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from catalog_sync.adapters.marketplace import CredentialsSource, FactoryAdapterProvider
from catalog_sync.adapters.postgres import PostgresUnitOfWorkFactory
from catalog_sync.app.pusher import PushContext, PushSettings
from catalog_sync.bootstrap import migration_set, utc_now
from marketplace_sim.app import create_app
from marketplace_sim.settings import SimSettings
from marketplace_sim.testing import TEST_ACCOUNTS, SimDriver
from pydantic import SecretStr

from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import (
    AutoUpdateType,
    OrderSettings,
    ProductSettings,
    StoreSnapshot,
    StoreStatus,
)
from kervan_marketplaces import (
    AdapterFactory,
    IntegratorIdentity,
    MarketplaceSettings,
    simulator_urls,
)
from kervan_servicekit import PostgresSettings, create_pool, migrate

SCHEMA = "catalog_sync"
SIM = "http://127.0.0.1:8090"
REDIRECT = "https://kervan.example/callback"


def sim_marketplace_settings() -> MarketplaceSettings:
    """Every platform's URLs pointed at the in-process simulator."""
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
        integrator=IntegratorIdentity(
            trendyol_integrator_name="Kervan",
            amazon_lwa_client_id="amzn1.application-oa2-client.kervan-sim",  # type: ignore[arg-type]
            amazon_lwa_client_secret="kervan-sim-lwa-secret",  # type: ignore[arg-type]
            amazon_application_id="amzn1.sp.solution.kervan-sim",
            oauth_redirect_uri=REDIRECT,
        ),
    )


def snapshot(
    store_id: str,
    platform: Platform,
    *,
    update_type: AutoUpdateType = AutoUpdateType.ALL,
    active: bool = True,
    product_update: bool = True,
    price_list: str = "pl-main",
    warehouse: str = "wh-1",
    version: int = 1,
) -> StoreSnapshot:
    """A store snapshot."""
    at = datetime.now(UTC) - timedelta(days=1)
    return StoreSnapshot(
        store_id=store_id,
        title=f"{platform.value} shop",
        platform=platform,
        status=StoreStatus.ACTIVE if active else StoreStatus.PASSIVE,
        test_mode=False,
        products=ProductSettings(
            default_price_list_id=price_list,
            product_update_enabled=product_update,
            auto_update_type=update_type,
        ),
        orders=OrderSettings(default_warehouse_id=warehouse),
        version=version,
        created_at=at,
        updated_at=at,
    )


def valid_status(store_id: str, platform: Platform) -> ApiStatusChanged:
    """A valid credential check."""
    return ApiStatusChanged(
        store_id=store_id,
        platform=platform,
        status=ApiStatus.VALID,
        checked_at=datetime.now(UTC) - timedelta(minutes=5),
        test_mode=False,
    )


@dataclass
class World:
    """A fresh database, an in-process simulator, and a push context over both."""

    pool: asyncpg.Pool
    ctx: PushContext
    sim: SimDriver
    client: httpx.AsyncClient
    factory: AdapterFactory
    credentials: dict[str, dict[str, str]]

    async def add_store(self, store_id: str, platform: Platform) -> str:
        """Give the store the platform's test credentials; returns the sim account id."""
        credentials = dict(TEST_ACCOUNTS[platform.value][1])
        account = await self.sim.account(platform.value)
        if platform is Platform.IDEASOFT:
            credentials.update(await self._consent_tokens(credentials))
        self.credentials[store_id] = credentials
        return account

    async def _consent_tokens(self, credentials: dict[str, str]) -> dict[str, str]:
        """IdeaSoft: run the authorisation-code flow against the simulator's panel."""
        adapter: Any = self.factory.create(
            "ideasoft",
            store_id="consent",
            seller_id=credentials["store_domain"],
            credentials=credentials,
        )
        url = adapter.authorize_url(redirect_uri=REDIRECT, state="xyz")
        response = await self.client.get(url, follow_redirects=False)
        assert response.status_code in (302, 303), response.text
        code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
        tokens = await adapter.exchange_code(code=code, redirect_uri=REDIRECT)
        return {name: value.get_secret_value() for name, value in tokens.items()}


@pytest.fixture
async def world(pg_dsn: str) -> AsyncIterator[World]:
    await migrate(pg_dsn, SCHEMA, migration_set())
    pool = await create_pool(
        PostgresSettings(dsn=SecretStr(pg_dsn), schema_name=SCHEMA, pool_max_size=4)
    )
    sim_app = create_app(settings=SimSettings(batch_delay_seconds=0.0))
    credentials: dict[str, dict[str, str]] = {}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim_app), base_url=SIM
        ) as client:
            factory = AdapterFactory(sim_marketplace_settings(), client=client)
            ctx = PushContext(
                uow=PostgresUnitOfWorkFactory(pool, SCHEMA),
                adapters=FactoryAdapterProvider(factory, CredentialsSource(static=credentials)),
                clock=utc_now,
                settings=PushSettings(follow_interval=timedelta(0)),
            )
            yield World(pool, ctx, SimDriver(client), client, factory, credentials)
    finally:
        await pool.close()


def history_fields(listing: dict[str, Any]) -> set[str]:
    """Fields the simulator recorded as pushed for a listing."""
    return {record["field"] for record in listing["history"]}
