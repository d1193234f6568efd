"""Settings writes on PostgreSQL: references are checked with the store read (one statement)."""

from __future__ import annotations

import pytest
from store_registry.settings import StoreRegistrySettings

from .conftest import ADMIN, Runner
from .test_concurrent_writes import _counts

pytestmark = pytest.mark.integration


async def test_settings_naming_a_missing_item_are_refused_and_change_nothing(
    run_service: Runner, service_settings: StoreRegistrySettings, pg_dsn: str
) -> None:
    async with run_service() as (_app, client):
        await client.put("/v1/warehouses/main", json={"name": "Main"}, headers=ADMIN)
        created = (
            await client.post("/v1/stores", json={"title": "S", "platform": "n11"}, headers=ADMIN)
        ).json()
        url = f"/v1/stores/{created['id']}/settings/orders"
        body = {
            "order_transfer_enabled": True,
            "default_warehouse_id": "main",
            "cargo_company_id": "ghost",
            "stock_deduction_enabled": True,
        }
        refused = await client.put(url, json=body, headers={**ADMIN, "If-Match": '"1"'})
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "unknown_reference"
        assert error["details"]["missing"] == [
            {"field": "cargo_company_id", "kind": "cargo_company", "id": "ghost"}
        ]
        assert await _counts(pg_dsn, service_settings.db_schema, created["id"]) == (1, 1)

        accepted = await client.put(
            url, json={**body, "cargo_company_id": None}, headers={**ADMIN, "If-Match": '"1"'}
        )
        assert accepted.status_code == 200
        assert accepted.headers["ETag"] == '"2"'
        assert accepted.json()["default_warehouse_id"] == "main"
        assert await _counts(pg_dsn, service_settings.db_schema, created["id"]) == (2, 2)
