"""The fast settings PUTs answer and write exactly what the FastAPI routes do (in-memory store).

Two apps over two identical databases get the same requests in the same order, one with the
fast routes and one without; every answer (status, body, headers) and every event and audit
entry must be the same, and the fast app's FastAPI route must only see the requests the fast
path is meant to hand over.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from starlette.routing import Route
from store_registry.adapters.memory import Database, MemoryUnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.entrypoints.api import ApiDependencies, create_app
from store_registry.entrypoints.fast_writes import SettingsWriteEndpoint

from kervan_servicekit.auth import Authenticator, Role, TokenGrant, hash_token

from .conftest import TOKENS, auth_header

ADMIN = auth_header("admin")
OPERATOR = auth_header("operator")
VIEWER = auth_header("viewer")
JSON = {"Content-Type": "application/json"}


def _app(database: Database, env: Collaborators, *, fast: bool) -> FastAPI:
    grants = [
        TokenGrant(name=f"{role}-user", role=Role(role), sha256=hash_token(token))
        for role, token in TOKENS.items()
    ]
    deps = ApiDependencies(
        uow=MemoryUnitOfWorkFactory(database),
        env=env,
        auth=Authenticator(grants),
        registry=CollectorRegistry(),
        fast_writes=fast,
    )
    return create_app(deps)


class Handovers:
    """Counts what the fast endpoints pass on to their FastAPI route."""

    def __init__(self, app: FastAPI) -> None:
        self.count = 0
        endpoints = [
            route.app
            for route in app.router.routes
            if isinstance(route, Route) and isinstance(route.app, SettingsWriteEndpoint)
        ]
        assert len(endpoints) == 2
        for endpoint in endpoints:
            # A copy of the route (still an APIRoute: the route's own checks look at that)
            # whose `handle` counts; the original is shared with the other app.
            route = copy.copy(endpoint.route)
            original = route.handle

            async def handle(scope: Any, receive: Any, send: Any, original: Any = original) -> None:
                self.count += 1
                await original(scope, receive, send)

            route.handle = handle  # type: ignore[method-assign]
            endpoint.route = route


Pair = tuple[httpx.AsyncClient, httpx.AsyncClient, Database, Database, Handovers]


@pytest_asyncio.fixture
async def pair(env: Collaborators, twin_env: Collaborators) -> AsyncIterator[Pair]:
    fast_db, plain_db = Database(), Database()
    fast_app, plain_app = _app(fast_db, env, fast=True), _app(plain_db, twin_env, fast=False)
    handovers = Handovers(fast_app)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(fast_app), base_url="http://t") as fast,
        httpx.AsyncClient(transport=httpx.ASGITransport(plain_app), base_url="http://t") as plain,
    ):
        for client in (fast, plain):
            for path in ("/v1/warehouses/w1", "/v1/cargo-companies/c1", "/v1/brands/b1"):
                assert (
                    await client.put(path, json={"name": "x"}, headers=ADMIN)
                ).status_code == 201
            for title, platform in (("A", "trendyol"), ("B", "hepsiburada")):
                created = await client.post(
                    "/v1/stores", json={"title": title, "platform": platform}, headers=ADMIN
                )
                assert created.status_code == 201
        yield fast, plain, fast_db, plain_db, handovers


ORDERS = {
    "order_transfer_enabled": True,
    "default_warehouse_id": "w1",
    "cargo_company_id": "c1",
    "stock_deduction_enabled": True,
}
PRODUCTS = {
    "default_price_list_id": None,
    "default_category_id": None,
    "default_brand_id": "b1",
    "product_update_enabled": True,
    "auto_update_type": "stock_and_price",
}

# (path after /v1/stores/, headers, body as bytes, handed to FastAPI by the fast path)
CASES: list[tuple[str, dict[str, str], bytes | dict[str, Any], bool]] = [
    ("store-1/settings/orders", {**ADMIN, "If-Match": '"1"'}, ORDERS, False),
    (
        "store-1/settings/orders",
        {**OPERATOR, "If-Match": '"2"'},
        {**ORDERS, "cargo_company_id": None},
        False,
    ),
    ("store-1/settings/orders", {**ADMIN, "If-Match": '"2"'}, ORDERS, False),  # stale: 412
    ("store-1/settings/orders", {**ADMIN, "If-Match": "abc"}, ORDERS, False),  # never matches
    (
        "store-1/settings/orders",
        {**ADMIN, "If-Match": "*"},
        {**ORDERS, "default_warehouse_id": None},
        False,
    ),
    (
        "store-1/settings/orders",
        {**ADMIN, "If-Match": '"4"'},
        {**ORDERS, "default_warehouse_id": "nope"},
        False,
    ),
    ("store-1/settings/orders", {**ADMIN, "If-Match": '"4"'}, ORDERS, False),  # no change
    ("store-9/settings/orders", {**ADMIN, "If-Match": '"1"'}, ORDERS, False),  # 404
    ("store-1/settings/orders", {**VIEWER, "If-Match": '"4"'}, ORDERS, True),  # 403
    ("store-1/settings/orders", {"If-Match": '"4"'}, ORDERS, True),  # 401
    ("store-1/settings/orders", {"Authorization": "Bearer nope", "If-Match": '"4"'}, ORDERS, True),
    ("store-1/settings/orders", ADMIN, ORDERS, True),  # 428
    ("store-1/settings/orders", {**ADMIN, "If-Match": '"4"'}, b"{not json", True),
    ("store-1/settings/orders", {**ADMIN, "If-Match": '"4"'}, {**ORDERS, "version": 9}, True),
    (
        "store-1/settings/orders",
        {**ADMIN, "If-Match": '"4"'},
        {"order_transfer_enabled": True},
        True,
    ),
    (
        "store-1/settings/orders",
        {**ADMIN, "If-Match": '"4"'},
        {**ORDERS, "default_warehouse_id": "a b"},
        True,
    ),
    ("store-1/settings/orders?x=1", {**ADMIN, "If-Match": '"4"'}, ORDERS, True),
    ("bad%20id/settings/orders", {**ADMIN, "If-Match": '"1"'}, ORDERS, True),
    ("store-2/settings/products", {**ADMIN, "If-Match": '"1"'}, PRODUCTS, False),
    (
        "store-2/settings/products",
        {**ADMIN, "If-Match": '"2"'},
        {**PRODUCTS, "auto_update_type": "all"},
        False,
    ),
    (
        "store-1/settings/products",
        {**ADMIN, "If-Match": '"4"'},
        {**PRODUCTS, "auto_update_type": "all"},
        False,
    ),
]


async def _send(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: bytes | dict[str, Any]
) -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("PUT", "/", json=body).content
    return await client.put(f"/v1/stores/{path}", content=content, headers={**JSON, **headers})


def _comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    drop = {"x-correlation-id", "content-length"}
    return (
        response.status_code,
        response.content,
        {k: v for k, v in response.headers.items() if k not in drop},
    )


def _events(database: Database) -> list[tuple[str, Any]]:
    def strip(envelope: dict[str, Any] | None) -> Any:
        if envelope is None:
            return None
        return {k: v for k, v in envelope.items() if k not in {"event_id", "correlation_id"}}

    return [(key, strip(envelope)) for key, envelope in database.events]


async def test_every_answer_and_write_is_the_routes(pair: Pair) -> None:
    fast, plain, fast_db, plain_db, handovers = pair
    expected_handovers = 0
    for path, headers, body, handed_over in CASES:
        before = handovers.count
        a, b = await _send(fast, path, headers, body), await _send(plain, path, headers, body)
        assert _comparable(a) == _comparable(b), (path, headers, body)
        assert handovers.count - before == int(handed_over), (path, headers, body, a.text)
        expected_handovers += int(handed_over)
    statuses = [(await _send(plain, p, h, b)).status_code for p, h, b, _ in CASES[:1]]
    assert statuses == [412]  # the cases did move the stores on
    assert handovers.count == expected_handovers
    assert _events(fast_db) == _events(plain_db)
    assert [e.changes for e in fast_db.audit] == [e.changes for e in plain_db.audit]
    assert fast_db.stores == plain_db.stores


async def test_the_cases_cover_successes_and_every_kind_of_refusal(pair: Pair) -> None:
    _, plain, _, _, _ = pair
    statuses = {(await _send(plain, p, h, b)).status_code for p, h, b, _ in CASES}
    assert statuses >= {200, 401, 403, 404, 412, 422, 428}


async def test_fast_answers_keep_correlation_id_and_metrics(pair: Pair) -> None:
    fast, _, _, _, handovers = pair
    answer = await _send(
        fast,
        "store-1/settings/orders",
        {**ADMIN, "If-Match": '"1"', "X-Correlation-ID": "c-9"},
        ORDERS,
    )
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"2"'
    assert answer.headers["x-correlation-id"] == "c-9"
    assert handovers.count == 0
    app: Any = fast._transport.app  # type: ignore[attr-defined]
    metrics = generate_latest(app.state.deps.registry).decode()
    assert 'route="/v1/stores/{store_id}/settings/orders",status="200"' in metrics
