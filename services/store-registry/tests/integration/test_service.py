"""End to end inside the service: HTTP → PostgreSQL → outbox → Kafka, and Kafka → projection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from store_registry.settings import StoreRegistrySettings

from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged
from kervan_contracts.identifiers import Platform
from kervan_contracts.registry import envelope_headers, make_envelope, serialize_envelope
from kervan_servicekit.outbox import ProducerLike
from kervan_testkit import wait_until
from kervan_testkit.events import record_events

from .conftest import ADMIN, Runner

pytestmark = pytest.mark.integration


def snapshot(store: dict[str, Any]) -> dict[str, Any]:
    """The stores.v1 snapshot a store response corresponds to."""
    body = {k: v for k, v in store.items() if k not in ("id", "api_status")}
    return {"store_id": store["id"], **body}


def expected(event_type: str, store: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "event_version": 1,
        "producer": "store-registry",
        "data": {"store": snapshot(store), **extra},
    }


async def test_lifecycle_produces_exactly_the_expected_envelopes_in_order(
    run_service: Runner, service_settings: StoreRegistrySettings, kafka_bootstrap: str
) -> None:
    async with run_service() as (_app, client):
        topic = service_settings.stores_topic
        async with record_events(kafka_bootstrap, topic) as rec:
            created = (
                await client.post(
                    "/v1/stores",
                    json={"title": "Demo", "platform": "trendyol", "test_mode": True},
                    headers=ADMIN,
                )
            ).json()
            sid = created["id"]
            for path, name in (("warehouses", "w1"), ("cargo-companies", "yk")):
                r = await client.put(f"/v1/{path}/{name}", json={"name": name}, headers=ADMIN)
                assert r.status_code == 201
            orders = {
                "order_transfer_enabled": True,
                "default_warehouse_id": "w1",
                "cargo_company_id": "yk",
                "stock_deduction_enabled": True,
            }
            r = await client.put(
                f"/v1/stores/{sid}/settings/orders",
                json=orders,
                headers={**ADMIN, "If-Match": '"1"'},
            )
            assert r.status_code == 200, r.text
            after_settings = (await client.get(f"/v1/stores/{sid}", headers=ADMIN)).json()
            r = await client.post(
                f"/v1/stores/{sid}/deactivate", headers={**ADMIN, "If-Match": '"2"'}
            )
            deactivated = r.json()
            r = await client.delete(f"/v1/stores/{sid}", headers={**ADMIN, "If-Match": '"3"'})
            assert r.status_code == 204
            audit = (await client.get(f"/v1/stores/{sid}/audit", headers=ADMIN)).json()
            deleted_at = audit["items"][0]["at"]
            final = {**deactivated, "version": 4, "updated_at": deleted_at}

            records = await rec.wait_for(5, timeout=30)
            assert {r.key for r in records} == {sid}
            assert records[0].headers["event_type"] == "stores.store.created"
            assert records[-1].value is None  # tombstone
            await rec.assert_exact(
                [
                    expected("stores.store.created", created),
                    expected("stores.store.settings_changed", after_settings),
                    expected("stores.store.status_changed", deactivated),
                    expected("stores.store.deleted", final, deleted_at=deleted_at),
                    None,
                ]
            )
    assert [e["action"] for e in audit["items"]] == [
        "deleted",
        "status_changed",
        "settings_changed",
        "created",
    ]


async def test_stale_if_match_changes_nothing_and_emits_nothing(
    run_service: Runner, service_settings: StoreRegistrySettings, kafka_bootstrap: str
) -> None:
    async with run_service() as (_app, client):
        # Recording starts before the create: its event is relayed asynchronously and could
        # otherwise land after the recorder's start and be mistaken for one of the writes.
        async with record_events(kafka_bootstrap, service_settings.stores_topic) as rec:
            created = await client.post(
                "/v1/stores", json={"title": "A", "platform": "n11"}, headers=ADMIN
            )
            url = f"/v1/stores/{created.json()['id']}"
            ok = await client.patch(url, json={"title": "B"}, headers={**ADMIN, "If-Match": '"1"'})
            assert ok.status_code == 200
            stale = await client.patch(
                url, json={"title": "C"}, headers={**ADMIN, "If-Match": '"1"'}
            )
            assert stale.status_code == 412
            assert stale.json()["error"]["code"] == "version_mismatch"
            # a later valid write proves the relay ran past the refused one
            last = await client.post(f"{url}/deactivate", headers={**ADMIN, "If-Match": '"2"'})
            assert last.json()["version"] == 3
            # The relay publishes after the commit: wait for the three, then compare exactly.
            await rec.wait_for(3, timeout=30)
            await rec.assert_exact(
                [
                    expected("stores.store.created", created.json()),
                    expected("stores.store.updated", ok.json()),
                    expected("stores.store.status_changed", last.json()),
                ]
            )
        current = (await client.get(url, headers=ADMIN)).json()
        assert current["title"] == "B"
        audit = (await client.get(f"{url}/audit", headers=ADMIN)).json()
        assert [e["version"] for e in audit["items"]] == [3, 2, 1]


class _UnreachableKafka:
    """A producer whose broker is gone: starting it fails, so nothing is ever published."""

    async def start(self) -> None:
        raise ConnectionError("kafka unreachable (simulated)")

    async def stop(self) -> None:
        return None

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        raise ConnectionError("kafka unreachable (simulated)")


async def test_a_crash_between_commit_and_publish_still_publishes(
    run_service: Runner,
    service_settings: StoreRegistrySettings,
    kafka_bootstrap: str,
    pg_dsn: str,
) -> None:
    def dead_producer() -> ProducerLike:
        return _UnreachableKafka()

    async with run_service() as _:
        pass  # first start: migrations and topics
    async with record_events(kafka_bootstrap, service_settings.stores_topic) as rec:
        async with run_service(producer_factory=dead_producer) as (_app, client):
            created = await client.post(
                "/v1/stores", json={"title": "Crash", "platform": "tsoft"}, headers=ADMIN
            )
            assert created.status_code == 201
            conn = await asyncpg.connect(pg_dsn)
            try:
                pending = await conn.fetchval(
                    f"SELECT count(*) FROM {service_settings.db_schema}.outbox "
                    "WHERE published_at IS NULL"
                )
            finally:
                await conn.close()
            assert pending == 1  # committed, not published when the process goes away
        async with run_service() as _:  # the next process publishes what was left
            [record] = await rec.wait_for(1, timeout=30)
        assert record.key == created.json()["id"]
        assert record.value["data"]["store"] == snapshot(created.json())
        await rec.assert_no_more()


async def test_stores_topic_is_created_compacted(
    run_service: Runner, service_settings: StoreRegistrySettings, kafka_bootstrap: str
) -> None:
    async with run_service() as _:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            [described] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, service_settings.stores_topic)]
            )
        finally:
            await admin.close()
    configs = {entry[0]: entry[1] for entry in described.resources[0][4]}
    assert configs["cleanup.policy"] == "compact"


async def test_api_status_is_consumed_into_list_and_detail(
    run_service: Runner, service_settings: StoreRegistrySettings, kafka_bootstrap: str
) -> None:
    async with run_service() as (_app, client):
        store = (
            await client.post(
                "/v1/stores", json={"title": "S", "platform": "amazon_tr"}, headers=ADMIN
            )
        ).json()
        checked_at = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
        envelope = make_envelope(
            ApiStatusChanged(
                store_id=store["id"],
                platform=Platform.AMAZON_TR,
                status=ApiStatus.INVALID,
                reason_code="auth_rejected",
                message="The key was refused",
                checked_at=checked_at,
                test_mode=True,
            ),
            producer="credential-vault",
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for _ in range(2):  # a redelivery must be harmless
                await producer.send_and_wait(
                    service_settings.api_status_topic,
                    serialize_envelope(envelope),
                    key=store["id"].encode(),
                    headers=[(k, v.encode()) for k, v in envelope_headers(envelope).items()],
                )
        finally:
            await producer.stop()

        async def shown() -> bool:
            detail = (await client.get(f"/v1/stores/{store['id']}", headers=ADMIN)).json()
            return bool(detail["api_status"]["status"] == "invalid")

        await wait_until(shown, timeout=30, what="api status in the store detail")
        listed = (await client.get("/v1/stores?api_status=invalid", headers=ADMIN)).json()
        [item] = listed["items"]
        assert item["api_status"] == {
            "status": "invalid",
            "reason_code": "auth_rejected",
            "message": "The key was refused",
            "checked_at": "2025-05-01T12:00:00Z",
            "test_mode": True,
        }
