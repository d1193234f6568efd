"""The ops API over the in-memory unit of work (no servers)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from order_ingest.adapters.memory import MemoryDatabase, MemoryUnitOfWork
from order_ingest.app.ports import IngestState, UnitOfWork
from order_ingest.app.services import PollResult
from order_ingest.domain.order import IngestedOrder
from order_ingest.domain.store import ApiStatusView, StoreProfile
from order_ingest.entrypoints.api import build_router, install_error_handlers

from kervan_contracts.credentials.v1 import ApiStatus

from ..unit.builders import T0, line, order  # noqa: TID252 - shared builders


@pytest.fixture
def db() -> MemoryDatabase:
    db = MemoryDatabase()
    db.stores["s1"] = StoreProfile("s1", "trendyol", "Shop", True, False, True, True, None, 3)
    db.api_statuses["s1"] = ApiStatusView(ApiStatus.VALID, None, T0)
    db.ingest["s1"] = IngestState(
        "s1", watermark=T0, last_outcome="ok", orders_ingested=2, polls={"ok": 4}
    )
    for number, offset in (("A", 0), ("B", 10)):
        agg, _ = IngestedOrder.first_seen(
            order(number, [line("L1", "SKU-1", 2)]),
            stock_deduction_enabled=True,
            default_warehouse_id=None,
            now=T0 + timedelta(minutes=offset),
        )
        db.orders[("s1", number)] = agg
    return db


@pytest.fixture
async def client(db: MemoryDatabase) -> httpx.AsyncClient:
    polled: list[str] = []

    def uow() -> UnitOfWork:
        return MemoryUnitOfWork(db)

    async def poll_now(store_id: str) -> PollResult:
        polled.append(store_id)
        return PollResult(store_id, "ok", orders_seen=1)

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(uow, poll_now))
    app.state.polled = polled
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oi")


async def test_ingest_status_shows_state_and_missing_deductions(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/stores/s1/ingest")).json()
    assert body["eligible"] is True
    assert body["polls"] == {"ok": 4}
    assert body["orders_ingested"] == 2
    assert body["pending_deductions"] == 2  # no default warehouse: visible, not silent
    assert body["watermark"].startswith("2026-01-05T10:00:00")


async def test_unknown_store_is_404_in_house_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/stores/nope/ingest")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "store_not_found"
    assert (await client.post("/v1/stores/nope/ingest/run")).status_code == 404


async def test_run_polls_the_store_now(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/stores/s1/ingest/run")
    assert response.status_code == 200
    assert response.json()["outcome"] == "ok"


async def test_orders_since_filters_and_shows_lines(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/orders", params={"store_id": "s1", "since": (T0 + timedelta(minutes=5)).isoformat()}
    )
    orders = response.json()["orders"]
    assert [o["order_number"] for o in orders] == ["B"]
    assert orders[0]["deduction_pending"] is True
    assert orders[0]["lines"] == [
        {
            "line_id": "L1",
            "sku": "SKU-1",
            "deducted_quantity": 0,
            "released_quantity": 0,
            "cancelled_units": 0,
        }
    ]


async def test_bad_input_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/orders", params={"store_id": "s1", "since": "yesterday"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    naive = await client.get("/v1/orders", params={"store_id": "s1", "since": "2026-01-01T00:00"})
    assert naive.status_code == 400
