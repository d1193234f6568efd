"""`make up` end to end: the whole local system with the simulator and its demo data.

The system is the session's `system` fixture (conftest.py: `kervan-devstack up` exactly as
`make up` runs it, on free ports and a state dir of its own); these tests check what a user of
the demo sees: the API status column and the stock deductions of the demo orders.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from kervan_testkit import wait_until
from kervan_testkit.events import read_topic

# The first test to run also pays for starting the shared system (conftest.py), and pytest-timeout
# counts fixture setup: allow for that on a loaded 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DEMO_PLATFORMS = {"trendyol", "hepsiburada", "n11", "amazon_tr", "ideasoft", "tsoft"}
#: marketplace-sim's demo seed: three orders of one line each per platform account.
DEMO_ORDERS_PER_STORE = 3


def _get(url: str, token: str, **params: Any) -> Any:
    response = httpx.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return response.json()


def test_every_endpoint_is_exported(system: dict[str, str]) -> None:
    for name in (
        "KERVAN_KAFKA_BOOTSTRAP",
        "KERVAN_POSTGRES_DSN",
        "KERVAN_VAULT_ADDR",
        "KERVAN_VAULT_TOKEN",
        "KERVAN_ADMIN_TOKEN",
        "KERVAN_SIM_URL",
        "KERVAN_STORE_REGISTRY_URL",
        "KERVAN_CREDENTIAL_VAULT_URL",
        "KERVAN_ORDER_INGEST_URL",
    ):
        assert system.get(name), name
    for url_name in ("KERVAN_SIM_URL", "KERVAN_STORE_REGISTRY_URL", "KERVAN_ORDER_INGEST_URL"):
        assert httpx.get(system[url_name] + "/healthz").status_code in (200, 204)


async def test_the_store_table_shows_valid_demo_stores_and_one_invalid(
    system: dict[str, str],
) -> None:
    token = system["KERVAN_ADMIN_TOKEN"]
    url = system["KERVAN_STORE_REGISTRY_URL"] + "/v1/stores"
    stores: list[dict[str, Any]] = []
    statuses: dict[str, Any] = {}

    async def settled() -> bool:
        stores[:] = _get(url, token, limit=100)["items"]
        statuses.clear()
        statuses.update({s["title"]: s["api_status"] for s in stores})
        return all(st and st["status"] != "unknown" for st in statuses.values())

    # The column is fed by kervan.api-status.v1: poll until every store has a status. On a
    # timeout the assertions below say which store is missing what.
    with contextlib.suppress(AssertionError):
        await wait_until(settled, timeout=60, what="an API status for every store")
    demo = {s["platform"] for s in stores if s["title"] == f"Demo {s['platform']}"}
    assert demo == DEMO_PLATFORMS
    for store in stores:
        status = statuses[store["title"]]
        assert status is not None, store["title"]
        if store["title"] == "Demo trendyol (wrong key)":
            assert (status["status"], status["reason_code"]) == ("invalid", "auth_rejected")
        else:
            assert status["status"] == "valid", (store["title"], status)
            assert store["test_mode"] is True


async def test_demo_orders_deduct_stock_once_per_line(system: dict[str, str]) -> None:
    token = system["KERVAN_ADMIN_TOKEN"]
    stores = _get(system["KERVAN_STORE_REGISTRY_URL"] + "/v1/stores", token, limit=100)["items"]
    polled = [s for s in stores if s["title"] == f"Demo {s['platform']}"]
    expected = DEMO_ORDERS_PER_STORE * len(polled)
    ingested = 0

    async def all_ingested() -> bool:
        nonlocal ingested
        ingested = sum(
            _get(f"{system['KERVAN_ORDER_INGEST_URL']}/v1/stores/{s['id']}/ingest", token)[
                "orders_ingested"
            ]
            for s in polled
        )
        return ingested >= expected

    # Amazon's getOrders allows one call a minute; on a timeout the assertion shows the count.
    with contextlib.suppress(AssertionError):
        await wait_until(all_ingested, timeout=150, what="every demo order ingested")
    assert ingested == expected

    records = await read_topic(system["KERVAN_KAFKA_BOOTSTRAP"], "kervan.stock-movements.v1")
    movements = [r.value for r in records if r.value is not None]
    schema = json.loads(
        (REPO / "libs/contracts/schemas/inventory.stock.deducted.v1.json").read_text()
    )
    deducted = [m for m in movements if m["event_type"] == "inventory.stock.deducted"]
    for envelope in deducted:
        jsonschema.validate(envelope, schema)
    # One deduction per demo order line, none twice, against the store's default warehouse.
    ids = [m["data"]["movement_id"] for m in deducted]
    assert len(ids) == expected
    assert len(set(ids)) == expected
    assert {m["data"]["store_id"] for m in deducted} == {s["id"] for s in polled}
    warehouses = {s["id"]: s["orders"]["default_warehouse_id"] for s in polled}
    assert all(m["data"]["warehouse_id"] == warehouses[m["data"]["store_id"]] for m in deducted)
