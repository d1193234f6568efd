"""The whole service in process: projections from Kafka, scheduler, relay, ops API."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from marketplace_sim.app import create_app
from marketplace_sim.testing import TEST_ACCOUNTS, SimDriver
from order_ingest.adapters.credentials import StaticCredentialsSource
from order_ingest.bootstrap import build_app

from kervan_contracts import topics
from kervan_contracts.stores.v1 import StoreCreated
from kervan_marketplaces import AdapterFactory
from kervan_servicekit import ensure_topics
from kervan_testkit import wait_until
from kervan_testkit.events import publish_events, record_events

from .conftest import (
    SIM,
    api_valid,
    service_settings,
    sim_marketplace_settings,
    snapshot,
    store_events,
)

pytestmark = pytest.mark.integration


async def test_store_event_to_stock_deducted_through_the_running_service(
    pg_dsn: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    store_id = unique_name("svc").replace("_", "-")
    settings = service_settings(pg_dsn, kafka_bootstrap, unique_name)
    await ensure_topics(
        kafka_bootstrap,
        [topics.TOPICS[t] for t in (topics.ORDERS, topics.STOCK_MOVEMENTS, topics.STORES)],
    )
    sim_app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url=SIM) as sim:
        driver = SimDriver(sim)
        account = await driver.account("trendyol")
        await driver.order(account, "SVC-1", [("SKU-S", 3, "9.90")])
        app = build_app(
            settings,
            factory=AdapterFactory(sim_marketplace_settings(), client=sim),
            credentials=StaticCredentialsSource({store_id: TEST_ACCOUNTS["trendyol"][1]}),
        )
        async with (
            record_events(kafka_bootstrap, topics.ORDERS, topics.STOCK_MOVEMENTS) as rec,
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oi") as api,
        ):
            await publish_events(
                kafka_bootstrap,
                StoreCreated(store=snapshot(store_id)),
                api_valid(store_id),
            )

            async def deducted() -> bool:
                return any(
                    kind == "inventory.stock.deducted" for kind, _ in store_events(rec, store_id)
                )

            await wait_until(deducted, timeout=30, what="StockDeducted from the running service")
            await rec.settle(timeout=20)
            kinds = sorted(kind for kind, _ in store_events(rec, store_id))
            assert kinds == ["inventory.stock.deducted", "orders.order.received"]

            status = (await api.get(f"/v1/stores/{store_id}/ingest")).json()
            assert status["eligible"] is True
            assert status["orders_ingested"] == 1
            orders = (await api.get("/v1/orders", params={"store_id": store_id})).json()["orders"]
            assert [o["order_number"] for o in orders] == ["SVC-1"]
            metrics = (await api.get("/metrics")).text
            assert (
                f'kervan_order_ingest_orders_ingested_total{{store_id="{store_id}"}} 1.0' in metrics
            )
            assert (await api.get("/readyz")).status_code == 200
