"""The read model on real PostgreSQL: NOTIFY from any writer, a lost listener, same answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from store_registry.adapters.store_listener import StoreChangeListener
from store_registry.app.read_model import StoreReadModel
from store_registry.settings import StoreRegistrySettings

from kervan_testkit import wait_until

from .conftest import ADMIN, Runner

pytestmark = pytest.mark.integration


def model_of(app: FastAPI) -> StoreReadModel:
    listener: StoreChangeListener = app.state.store_listener
    return listener.model


async def create(client: httpx.AsyncClient, title: str, platform: str = "trendyol") -> str:
    response = await client.post(
        "/v1/stores", json={"title": title, "platform": platform}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    store_id: str = response.json()["id"]
    return store_id


async def record_valid_status(conn: asyncpg.Connection, store_id: str) -> None:
    """A valid API status for the store, written from outside the service (as psql would)."""
    await conn.execute(
        "INSERT INTO store_registry.api_statuses VALUES ($1, 'valid', NULL, NULL, now(), false)",
        store_id,
    )


async def test_a_write_through_one_process_reaches_the_others_model(run_service: Runner) -> None:
    async with run_service() as (app_a, client_a), run_service() as (app_b, client_b):
        model_a, model_b = model_of(app_a), model_of(app_b)
        assert model_a.ready
        assert model_b.ready
        store_id = await create(client_a, "Shop")

        async def in_b() -> bool:
            entry = model_b.get(store_id)
            return entry is not None and entry.etag == b'"1"'

        await wait_until(in_b, what="the new store in the other process's model")
        patched = await client_a.patch(
            f"/v1/stores/{store_id}",
            json={"title": "Renamed"},
            headers={**ADMIN, "If-Match": '"1"'},
        )
        assert patched.status_code == 200
        # The writer reads its own write at once (same process), whatever NOTIFY's timing.
        own = await client_a.get(f"/v1/stores/{store_id}", headers=ADMIN)
        assert (own.json()["title"], own.headers["etag"]) == ("Renamed", '"2"')

        async def renamed_in_b() -> bool:
            entry = model_b.get(store_id)
            return entry is not None and entry.view.state.title == "Renamed"

        await wait_until(renamed_in_b, what="the rename in the other process's model")
        other = await client_b.get(f"/v1/stores/{store_id}", headers=ADMIN)
        assert (other.json()["title"], other.headers["etag"]) == ("Renamed", '"2"')
        deleted = await client_a.delete(
            f"/v1/stores/{store_id}", headers={**ADMIN, "If-Match": "*"}
        )
        assert deleted.status_code == 204
        assert (await client_a.get(f"/v1/stores/{store_id}", headers=ADMIN)).status_code == 404

        async def gone_from_b() -> bool:
            return len(model_b) == 0 and model_b.ready

        await wait_until(gone_from_b, what="the deletion in the other process's model")
        assert (await client_b.get(f"/v1/stores/{store_id}", headers=ADMIN)).status_code == 404


async def test_a_write_from_outside_the_service_reaches_the_model(
    run_service: Runner, service_settings: StoreRegistrySettings
) -> None:
    async with run_service() as (app, client):
        model = model_of(app)
        store_id = await create(client, "Shop")
        conn = await asyncpg.connect(service_settings.postgres.dsn.get_secret_value())
        try:
            await conn.execute(
                "UPDATE store_registry.stores SET title = 'From psql' WHERE id = $1", store_id
            )
            await record_valid_status(conn, store_id)

            async def seen() -> bool:
                entry = model.get(store_id)
                return (
                    entry is not None
                    and entry.view.state.title == "From psql"
                    and entry.view.api_status.status.value == "valid"
                )

            await wait_until(seen, what="the outside write in the model")
            body = (await client.get(f"/v1/stores/{store_id}", headers=ADMIN)).json()
            assert (body["title"], body["api_status"]["status"]) == ("From psql", "valid")
            await conn.execute("TRUNCATE store_registry.api_statuses")

            async def reloaded() -> bool:
                entry = model.get(store_id)
                return entry is not None and entry.view.api_status.status.value == "unknown"

            await wait_until(reloaded, what="the model reloaded after TRUNCATE")
        finally:
            await conn.close()


async def test_an_updated_row_is_applied_from_its_notification_in_utc_with_the_held_status(
    run_service: Runner, service_settings: StoreRegistrySettings
) -> None:
    async with run_service() as (app, client):
        model = model_of(app)
        listener: StoreChangeListener = app.state.store_listener
        store_id = await create(client, "Shop")
        conn = await asyncpg.connect(service_settings.postgres.dsn.get_secret_value())
        try:
            await record_valid_status(conn, store_id)

            async def valid() -> bool:
                entry = model.get(store_id)
                return entry is not None and entry.view.api_status.status.value == "valid"

            await wait_until(valid, what="the API status in the model")
            read_again = listener.stores_read_again
            # The writer's session is in another time zone: row_to_json writes +09:00 times.
            await conn.execute("SET TimeZone = 'Asia/Tokyo'")
            await conn.execute(
                "UPDATE store_registry.stores SET title = 'Tokyo', version = version + 1,"
                " updated_at = '2026-01-02 03:04:05.123456+00' WHERE id = $1",
                store_id,
            )

            async def renamed() -> bool:
                entry = model.get(store_id)
                return entry is not None and entry.view.state.title == "Tokyo"

            await wait_until(renamed, what="the announced row in the model")
            assert listener.stores_read_again == read_again  # applied as announced
            entry = model.get(store_id)
            assert entry is not None
            assert entry.view.api_status.status.value == "valid"
            assert entry.view.state.updated_at == datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)
            assert entry.view.state.updated_at.utcoffset() == timedelta(0)
            from_model = (await client.get(f"/v1/stores/{store_id}", headers=ADMIN)).json()
            row = await conn.fetchrow(
                "SELECT created_at, updated_at FROM store_registry.stores WHERE id = $1", store_id
            )
            assert row is not None
            assert entry.view.state.created_at == row["created_at"]
            assert from_model["updated_at"].startswith("2026-01-02T03:04:05.123456")

            # A row too large for a notification is announced by id and read back.
            long_title = "x" * 8000
            await conn.execute(
                "UPDATE store_registry.stores SET title = $2, version = version + 1 WHERE id = $1",
                store_id,
                long_title,
            )

            async def long_one() -> bool:
                entry = model.get(store_id)
                return entry is not None and entry.view.state.title == long_title

            await wait_until(long_one, what="the oversize row read back")
            assert listener.stores_read_again == read_again + 1
        finally:
            await conn.close()


async def test_a_lost_listener_sends_reads_to_the_database_until_reloaded(
    run_service: Runner, service_settings: StoreRegistrySettings
) -> None:
    # The reconnect delay keeps the model unloaded while the test reads through the database.
    slow = service_settings.model_copy(update={"read_model_reconnect_seconds": 5.0})
    async with run_service(settings=slow) as (app, client):
        listener: StoreChangeListener = app.state.store_listener
        model = listener.model
        store_id = await create(client, "Shop")
        await listener.drop_connection()
        assert not model.ready  # cleared at once, not after the reconnect delay
        assert model.get(store_id) is None
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready"  # informational: the database still answers
        assert ready["checks"]["store_read_model"]["ok"] is False
        # Meanwhile a write nobody announces to this process is read from the database.
        conn = await asyncpg.connect(service_settings.postgres.dsn.get_secret_value())
        try:
            await conn.execute(
                "UPDATE store_registry.stores SET title = 'Meanwhile' WHERE id = $1", store_id
            )
        finally:
            await conn.close()
        body = (await client.get(f"/v1/stores/{store_id}", headers=ADMIN)).json()
        assert body["title"] == "Meanwhile"
        listed = (await client.get("/v1/stores", headers=ADMIN)).json()
        assert [s["title"] for s in listed["items"]] == ["Meanwhile"]
        await listener.loaded.wait()
        assert (await client.get("/readyz")).json()["checks"]["store_read_model"]["ok"] is True
        entry = model.get(store_id)
        assert entry is not None
        assert entry.view.state.title == "Meanwhile"


QUERIES = [
    "",
    "?limit=3",
    "?platform=n11",
    "?status=passive&limit=2",
    "?api_status=unknown&limit=4",
    "?api_status=invalid",
    "?platform=trendyol&status=active&limit=1",
]


async def test_the_model_answers_like_the_database(
    run_service: Runner, service_settings: StoreRegistrySettings
) -> None:
    plain_settings = service_settings.model_copy(update={"read_model": False})
    async with run_service() as (app, fast), run_service(settings=plain_settings) as (_, plain):
        model = model_of(app)
        ids = [
            await create(fast, f"Shop {n}", platform)
            for n, platform in enumerate(["trendyol", "n11", "amazon_tr", "trendyol"] * 3)
        ]
        for store_id in ids[::3]:
            response = await fast.post(
                f"/v1/stores/{store_id}/deactivate", headers={**ADMIN, "If-Match": "*"}
            )
            assert response.status_code == 200
        conn = await asyncpg.connect(service_settings.postgres.dsn.get_secret_value())
        try:
            await conn.executemany(
                "INSERT INTO store_registry.api_statuses VALUES ($1, $2, NULL, NULL, now(), false)",
                [(ids[1], "invalid"), (ids[2], "valid"), (ids[4], "unknown")],
            )
        finally:
            await conn.close()

        async def caught_up() -> bool:
            entries = [model.get(store_id) for store_id in ids]
            return (
                all(
                    e is not None and e.view.state.version == (2 if n % 3 == 0 else 1)
                    for n, e in enumerate(entries)
                )
                and sum(1 for e in entries if e is not None and e.view.api_status.checked_at) == 3
            )

        await wait_until(caught_up, what="the model caught up with every write")
        for query in QUERIES:
            url = "/v1/stores" + query
            while True:
                a, b = await fast.get(url, headers=ADMIN), await plain.get(url, headers=ADMIN)
                assert (a.status_code, a.content) == (b.status_code, b.content), url
                cursor = a.json()["next_cursor"]
                if cursor is None:
                    break
                url = "/v1/stores" + query + ("&" if query else "?") + "cursor=" + cursor
        for store_id in ids:
            a = await fast.get(f"/v1/stores/{store_id}", headers=ADMIN)
            b = await plain.get(f"/v1/stores/{store_id}", headers=ADMIN)
            assert (a.content, a.headers["etag"]) == (b.content, b.headers["etag"])
