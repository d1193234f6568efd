"""The whole service in process: Kafka in, pushes to the simulator, results out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from catalog_sync.adapters.marketplace import CredentialsSource
from catalog_sync.bootstrap import build_app
from catalog_sync.settings import CatalogSyncSettings
from marketplace_sim.app import create_app
from marketplace_sim.settings import SimSettings
from marketplace_sim.testing import TEST_ACCOUNTS, SimDriver
from pydantic import SecretStr

from kervan_contracts import topics
from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.inventory.v1 import StockDeducted, StockMovementReason
from kervan_contracts.money import Money
from kervan_contracts.stores.v1 import StoreCreated
from kervan_marketplaces import AdapterFactory
from kervan_servicekit import KafkaSettings, OutboxSettings, PostgresSettings, ensure_topics
from kervan_testkit import wait_until
from kervan_testkit.events import publish_events, record_events

from .conftest import SCHEMA, SIM, sim_marketplace_settings, snapshot, valid_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SKU = "LAMP-1"


async def test_a_sale_on_one_store_lowers_the_stock_on_the_others_once(
    pg_dsn: str, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    suffix = unique_name("cs").replace("_", "-")[-12:]
    trendyol, n11, other = f"ty-{suffix}", f"n11-{suffix}", f"ts-{suffix}"
    warehouse, far = f"wh-{suffix}", f"far-{suffix}"
    settings = CatalogSyncSettings(
        service_name=unique_name("catalog-sync").replace("_", "-"),
        postgres=PostgresSettings(dsn=SecretStr(pg_dsn), schema_name=SCHEMA, pool_max_size=6),
        kafka=KafkaSettings(bootstrap=kafka_bootstrap),
        outbox=OutboxSettings(poll_interval_seconds=0.2, lock_retry_seconds=0.2),
        push_tick_seconds=0.1,
        follow_interval_seconds=0.1,
    )
    await ensure_topics(
        kafka_bootstrap,
        [
            topics.TOPICS[t]
            for t in (
                topics.CATALOG,
                topics.STOCK_MOVEMENTS,
                topics.STORES,
                topics.API_STATUS,
                topics.SYNC_RESULTS,
            )
        ],
    )
    sim_app = create_app(settings=SimSettings(batch_delay_seconds=0.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url=SIM) as sim:
        driver = SimDriver(sim)
        accounts = {
            platform: await driver.account(platform.value)
            for platform in (Platform.TRENDYOL, Platform.N11, Platform.TSOFT)
        }
        for account in accounts.values():
            await driver.seed_listing(account, SKU, barcode=SKU, price="1.00", stock=0)
        credentials = {
            trendyol: TEST_ACCOUNTS["trendyol"][1],
            n11: TEST_ACCOUNTS["n11"][1],
            other: TEST_ACCOUNTS["tsoft"][1],
        }
        app = build_app(
            settings,
            factory=AdapterFactory(sim_marketplace_settings(), client=sim),
            credentials=CredentialsSource(static=credentials),
        )

        async def shown(platform: Platform) -> dict[str, Any]:
            listing = await driver.listing(accounts[platform], SKU)
            view: dict[str, Any] = listing["shown"]
            return view

        async with (
            record_events(kafka_bootstrap, topics.SYNC_RESULTS) as results,
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cs") as api,
        ):
            now = datetime.now(UTC)
            await publish_events(
                kafka_bootstrap,
                StoreCreated(store=snapshot(trendyol, Platform.TRENDYOL, warehouse=warehouse)),
                StoreCreated(store=snapshot(n11, Platform.N11, warehouse=warehouse)),
                StoreCreated(store=snapshot(other, Platform.TSOFT, warehouse=far)),
                valid_status(trendyol, Platform.TRENDYOL),
                ProductUpserted(sku=SKU, title="Desk lamp", barcode=SKU),
                PriceChanged(
                    sku=SKU,
                    price_list_id="pl-main",
                    sale_price=Money.of("250.00", "TRY"),
                    list_price=Money.of("300.00", "TRY"),
                ),
                StockLevelChanged(sku=SKU, warehouse_id=warehouse, quantity=10, as_of=now),
                StockLevelChanged(sku=SKU, warehouse_id=far, quantity=4, as_of=now),
            )

            async def initial_stock_everywhere() -> bool:
                stocks = [(await shown(p))["stock"] for p in accounts]
                return bool(stocks == [10, 10, 4])

            # The first wait covers the consumer group joining (slow on a freshly started broker).
            await wait_until(
                initial_stock_everywhere, timeout=90, what="initial stock on every store"
            )

            sale = StockDeducted.for_order_line(
                store_id=trendyol,
                order_number="TY-1001",
                line_id="1",
                reason=StockMovementReason.SALE,
                warehouse_id=warehouse,
                sku=SKU,
                quantity=3,
                occurred_at=datetime.now(UTC),
            )
            await publish_events(kafka_bootstrap, sale, sale)  # delivered twice: counts once

            async def lowered() -> bool:
                stocks = [(await shown(p))["stock"] for p in accounts]
                return bool(stocks == [7, 7, 4])

            await wait_until(lowered, what="the sale reaching the other store")

            # The platform applies the sale and publishes its new level acknowledging it.
            await publish_events(
                kafka_bootstrap,
                StockLevelChanged(
                    sku=SKU,
                    warehouse_id=warehouse,
                    quantity=7,
                    as_of=datetime.now(UTC) + timedelta(seconds=1),
                    applied_movement_ids=[sale.movement_id],
                ),
            )

            async def acknowledged() -> bool:
                body = (await api.get(f"/v1/stores/{n11}/skus/{SKU}")).json()
                stock, ledger = body["stock"], body["ledger"].get("stock") or {}
                return bool(
                    stock["level"] == 7
                    and stock["pending_movements"] == []
                    and ledger.get("outcome") == "accepted"
                )

            await wait_until(acknowledged, what="the acknowledging level and the settled push")
            explain = (await api.get(f"/v1/stores/{n11}/skus/{SKU}")).json()
            assert explain["stock"]["effective"] == 7
            assert explain["ledger"]["stock"]["accepted_value"] == "7"
            assert explain["ledger"]["stock"]["outcome"] == "accepted"
            assert explain["price"]["sale_price"] == "250.00"
            assert (await shown(Platform.TSOFT))["stock"] == 4

            preview = (await api.post(f"/v1/stores/{n11}/preview", json={"skus": [SKU]})).json()
            assert preview["items"] == []
            health = (await api.get(f"/v1/stores/{n11}/sync")).json()
            assert health["eligible"] is True
            assert health["backlog"] == 0
            assert all(b["status"] == "completed" for b in health["recent_batches"])
            assert (await api.get("/v1/stores/nope/sync")).status_code == 404

            # How the values are split into batches depends on how the five topics interleave;
            # what must hold: each store's results cover exactly the fields it takes, none
            # failed, and the platform saw each stock value once, in order.
            expected_fields = {
                trendyol: {"price", "stock", "product_info"},
                n11: {"price", "stock"},  # n11 takes no title; this product has nothing else
                other: {"price", "stock", "product_info"},
            }

            def reported() -> dict[str, set[str]]:
                fields: dict[str, set[str]] = {}
                for _key, _headers, value in results.records:
                    data = value["data"]
                    for item in data["items"]:
                        assert item["outcome"] == "accepted", data
                        fields.setdefault(data["store_id"], set()).update(item["fields"])
                return fields

            async def all_reported() -> bool:
                return reported() == expected_fields

            await wait_until(all_reported, timeout=30, what="CatalogPushCompleted per store")
            for platform, values in (
                (Platform.TRENDYOL, [10, 7]),
                (Platform.N11, [10, 7]),
                (Platform.TSOFT, [4]),
            ):
                history = (await driver.listing(accounts[platform], SKU))["history"]
                assert [r["value"] for r in history if r["field"] == "stock"] == values
            metrics = (await api.get("/metrics")).text
            assert (
                f'kervan_catalog_sync_items_pushed_total{{outcome="accepted",store_id="{n11}"}}'
                in metrics
            )
