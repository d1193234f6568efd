"""The read model's fast routes answer exactly what the FastAPI routes answer (in-memory store)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from store_registry.adapters.memory import Database, MemoryUnitOfWorkFactory
from store_registry.app.commands import RecordApiStatus
from store_registry.app.ports import StoreQuery
from store_registry.app.read_model import StoreReadModel
from store_registry.app.services import Collaborators, record_api_status
from store_registry.entrypoints.api import ApiDependencies, create_app, render_store

from kervan_contracts.credentials.v1 import ApiStatus
from kervan_servicekit.auth import Authenticator, Role, TokenGrant, hash_token

from .conftest import TOKENS, auth_header

ADMIN = auth_header("admin")
VIEWER = auth_header("viewer")


def _app(uow: MemoryUnitOfWorkFactory, env: Collaborators, model: StoreReadModel | None) -> FastAPI:
    grants = [
        TokenGrant(name=f"{role}-user", role=Role(role), sha256=hash_token(token))
        for role, token in TOKENS.items()
    ]
    deps = ApiDependencies(
        uow=uow,
        env=env,
        auth=Authenticator(grants),
        registry=CollectorRegistry(),
        read_model=model,
    )
    return create_app(deps)


async def reload(model: StoreReadModel, uow: MemoryUnitOfWorkFactory) -> None:
    async with uow() as work:
        model.load(await work.stores.list_views(StoreQuery(limit=1_000_000)))


@pytest_asyncio.fixture
async def clients(
    uow_factory: MemoryUnitOfWorkFactory, env: Collaborators
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, StoreReadModel]]:
    model = StoreReadModel(render_store)
    fast_app = _app(uow_factory, env, model)
    plain_app = _app(uow_factory, env, None)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(fast_app), base_url="http://t") as fast,
        httpx.AsyncClient(transport=httpx.ASGITransport(plain_app), base_url="http://t") as plain,
    ):
        for n, platform in enumerate(["trendyol", "n11", "trendyol", "amazon_tr", "trendyol"] * 3):
            created = await fast.post(
                "/v1/stores", json={"title": f"Shop {n}", "platform": platform}, headers=ADMIN
            )
            assert created.status_code == 201, created.text
        ids = [s["id"] for s in (await plain.get("/v1/stores", headers=ADMIN)).json()["items"]]
        await fast.post(f"/v1/stores/{ids[1]}/deactivate", headers={**ADMIN, "If-Match": "*"})
        await record_api_status(
            RecordApiStatus(
                uuid.uuid4(), ids[2], ApiStatus.INVALID, "auth", "denied", env.clock(), False
            ),
            uow_factory(),
        )
        await reload(model, uow_factory)
        yield fast, plain, model


QUERIES = [
    "",
    "?limit=1",
    "?limit=4",
    "?limit=100",
    "?platform=trendyol&limit=2",
    "?status=passive",
    "?status=active&platform=n11",
    "?api_status=unknown&limit=3",
    "?api_status=invalid",
    "?api_status=valid",
    "?text=shop%201",
    "?limit=0",
    "?limit=101",
    "?limit=abc",
    "?platform=nope",
    "?colour=red",
    "?limit=2&limit=3",
    "?cursor=%%%",
    "?cursor=abc",
    "?cursor=",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_listing_is_the_same_from_the_model(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, StoreReadModel], query: str
) -> None:
    fast, plain, _ = clients
    url = "/v1/stores" + query
    while True:
        a, b = await fast.get(url, headers=VIEWER), await plain.get(url, headers=VIEWER)
        assert (a.status_code, a.content) == (b.status_code, b.content)
        if a.status_code != 200 or a.json()["next_cursor"] is None:
            break
        sep = "&" if "?" in query else "?"
        url = "/v1/stores" + query + sep + "cursor=" + a.json()["next_cursor"]


@pytest.mark.parametrize(
    ("suffix", "headers"),
    [
        ("", VIEWER),
        ("", {}),
        ("", {"Authorization": "Bearer wrong"}),
        ("", {"Authorization": "Basic abc"}),
        ("?x=1", VIEWER),
        ("-missing", VIEWER),
    ],
)
async def test_get_is_the_same_from_the_model(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, StoreReadModel],
    suffix: str,
    headers: dict[str, str],
) -> None:
    fast, plain, _ = clients
    store_id = (await plain.get("/v1/stores?limit=1", headers=VIEWER)).json()["items"][0]["id"]
    path = f"/v1/stores/{store_id}{suffix}"
    a, b = await fast.get(path, headers=headers), await plain.get(path, headers=headers)
    assert (a.status_code, a.content) == (b.status_code, b.content)
    drop = {"x-correlation-id", "content-length"}
    assert {k: v for k, v in a.headers.items() if k not in drop} == {
        k: v for k, v in b.headers.items() if k not in drop
    }


async def test_fast_answers_come_from_the_model_and_keep_metrics(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, StoreReadModel],
    database: Database,
) -> None:
    fast, _, model = clients
    store_id = (await fast.get("/v1/stores?limit=1", headers=VIEWER)).json()["items"][0]["id"]
    # Change the database behind the model's back: the model's answer shows it did not ask.
    database.stores[store_id] = dataclasses.replace(
        database.stores[store_id], title="Changed behind"
    )
    answer = await fast.get(f"/v1/stores/{store_id}", headers={**VIEWER, "X-Correlation-ID": "c-1"})
    assert answer.json()["title"] != "Changed behind"
    listed = await fast.get("/v1/stores?platform=trendyol", headers=VIEWER)
    assert "Changed behind" not in [s["title"] for s in listed.json()["items"]]
    assert answer.headers["x-correlation-id"] == "c-1"
    assert answer.headers["etag"] == '"1"'
    app: Any = fast._transport.app  # type: ignore[attr-defined]
    metrics = generate_latest(app.state.deps.registry).decode()
    assert 'route="/v1/stores/{store_id}",status="200"' in metrics
    assert model.ready


async def test_a_write_marks_the_store_so_the_writer_reads_the_database(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, StoreReadModel],
) -> None:
    fast, _, model = clients
    store_id = (await fast.get("/v1/stores?limit=1", headers=VIEWER)).json()["items"][0]["id"]
    patched = await fast.patch(
        f"/v1/stores/{store_id}", json={"title": "Renamed"}, headers={**ADMIN, "If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    # No listener here: the model still holds version 1, but the store is dirty.
    assert model.get(store_id) is None
    read = await fast.get(f"/v1/stores/{store_id}", headers=VIEWER)
    assert (read.json()["title"], read.headers["etag"]) == ("Renamed", '"2"')
    listed = await fast.get("/v1/stores", headers=VIEWER)
    assert "Renamed" in [s["title"] for s in listed.json()["items"]]
    created = await fast.post("/v1/stores", json={"title": "New", "platform": "n11"}, headers=ADMIN)
    assert model.get(created.json()["id"]) is None
    assert (await fast.get(created.headers["location"], headers=VIEWER)).status_code == 200
