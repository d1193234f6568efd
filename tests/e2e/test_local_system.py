"""`make up` end to end: the whole local system with the simulator and its demo data.

Runs `kervan-devstack up` exactly as `make up` does, but with free ports and a state dir of its
own (so it neither clashes with nor reuses a developer's running stack), then checks what a user
of the demo sees: the API status column and the stock deductions of the demo orders.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from kervan_testkit.events import read_topic

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEMO_PLATFORMS = {"trendyol", "hepsiburada", "n11", "amazon_tr", "ideasoft", "tsoft"}
#: marketplace-sim's demo seed: three orders of one line each per platform account.
DEMO_ORDERS_PER_STORE = 3


def _devstack(*args: str, state_dir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kervan_devstack", *args, "--state-dir", str(state_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def system() -> Iterator[dict[str, str]]:
    """The whole system up on free ports; yields the exported variables."""
    # Under the repo, not /tmp: PostgreSQL runs as an unprivileged user that must reach it.
    state_dir = REPO / ".devstack" / f"e2e-{uuid.uuid4().hex[:8]}"
    try:
        up = _devstack("up", "--ports", "auto", state_dir=state_dir, timeout=600)
        if up.returncode != 0:
            pytest.fail(f"kervan-devstack up failed: {up.stderr.strip()[-2000:]}")
        exports: dict[str, str] = {}
        for line in up.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = shlex.split(value)[0]
        exports["_demo_log"] = up.stderr
        yield exports
    finally:
        down = _devstack("down", state_dir=state_dir, timeout=120)
        assert down.returncode == 0, down.stderr
        shutil.rmtree(state_dir, ignore_errors=True)


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


def test_the_store_table_shows_valid_demo_stores_and_one_invalid(system: dict[str, str]) -> None:
    token = system["KERVAN_ADMIN_TOKEN"]
    url = system["KERVAN_STORE_REGISTRY_URL"] + "/v1/stores"
    # The column is fed by kervan.api-status.v1: poll until every store has a status.
    deadline = time.monotonic() + 60
    while True:
        stores = _get(url, token, limit=100)["items"]
        statuses = {s["title"]: s["api_status"] for s in stores}
        settled = all(st and st["status"] != "unknown" for st in statuses.values())
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.5)
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


def test_demo_orders_deduct_stock_once_per_line(system: dict[str, str]) -> None:
    token = system["KERVAN_ADMIN_TOKEN"]
    stores = _get(system["KERVAN_STORE_REGISTRY_URL"] + "/v1/stores", token, limit=100)["items"]
    polled = [s for s in stores if s["title"] == f"Demo {s['platform']}"]
    expected = DEMO_ORDERS_PER_STORE * len(polled)
    deadline = time.monotonic() + 150  # Amazon's getOrders allows one call a minute
    while True:
        ingested = sum(
            _get(f"{system['KERVAN_ORDER_INGEST_URL']}/v1/stores/{s['id']}/ingest", token)[
                "orders_ingested"
            ]
            for s in polled
        )
        if ingested >= expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ingested == expected

    records = asyncio.run(read_topic(system["KERVAN_KAFKA_BOOTSTRAP"], "kervan.stock-movements.v1"))
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
