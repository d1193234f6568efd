"""HTTP behaviour over the in-memory unit of work: status codes, headers, error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from store_registry.adapters.memory import Database

from .conftest import MAX_BODY, auth_header

ADMIN = auth_header("admin")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    details: dict[str, Any] = body["error"]["details"]
    return details


async def create(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body = {"title": "Shop", "platform": "trendyol", **fields}
    response = await client.post("/v1/stores", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response


async def test_create_returns_id_version_etag_and_location(client: httpx.AsyncClient) -> None:
    response = await create(client, test_mode=True, status="passive")
    body = response.json()
    assert body["version"] == 1
    assert body["status"] == "passive"
    assert body["test_mode"] is True
    assert body["api_status"] == {
        "status": "unknown",
        "reason_code": None,
        "message": None,
        "checked_at": None,
        "test_mode": None,
    }
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/v1/stores/{body['id']}"
    got = await client.get(response.headers["location"], headers=auth_header("viewer"))
    assert got.json() == body


@pytest.mark.parametrize("field", ["id", "version", "api_status", "created_at", "updated_at"])
async def test_mass_assignment_is_rejected(client: httpx.AsyncClient, field: str) -> None:
    response = await client.post(
        "/v1/stores", json={"title": "x", "platform": "n11", field: "1"}, headers=ADMIN
    )
    details = assert_error(response, 422, "validation_error")
    assert any(e["type"] == "extra_forbidden" for e in details["errors"])


async def test_auth_missing_wrong_and_insufficient(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/stores")
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    wrong = await client.get("/v1/stores", headers={"Authorization": "Bearer nope"})
    assert_error(wrong, 401, "unauthenticated")
    body = {"title": "x", "platform": "n11"}
    for role in ("viewer", "operator"):
        denied = await client.post("/v1/stores", json=body, headers=auth_header(role))
        assert_error(denied, 403, "forbidden")


async def test_operator_may_change_settings_but_not_status(client: httpx.AsyncClient) -> None:
    store = (await create(client)).json()
    operator = {**auth_header("operator"), "If-Match": '"1"'}
    orders = {
        "order_transfer_enabled": True,
        "default_warehouse_id": None,
        "cargo_company_id": None,
        "stock_deduction_enabled": False,
    }
    ok = await client.put(
        f"/v1/stores/{store['id']}/settings/orders", json=orders, headers=operator
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"] == '"2"'
    denied = await client.post(f"/v1/stores/{store['id']}/deactivate", headers=operator)
    assert_error(denied, 403, "forbidden")


async def test_if_match_is_required_and_stale_writes_fail(
    client: httpx.AsyncClient, database: Database
) -> None:
    store = (await create(client)).json()
    url = f"/v1/stores/{store['id']}"
    assert_error(
        await client.patch(url, json={"title": "B"}, headers=ADMIN), 428, "precondition_required"
    )
    ok = await client.patch(url, json={"title": "B"}, headers={**ADMIN, "If-Match": '"1"'})
    assert ok.json()["version"] == 2
    events_before = list(database.events)
    stale = await client.patch(url, json={"title": "C"}, headers={**ADMIN, "If-Match": '"1"'})
    details = assert_error(stale, 412, "version_mismatch")
    assert details["current_version"] == 2
    assert_error(
        await client.post(f"{url}/deactivate", headers={**ADMIN, "If-Match": "garbage"}),
        412,
        "version_mismatch",
    )
    assert database.events == events_before
    assert (await client.get(url, headers=ADMIN)).json()["title"] == "B"
    star = await client.post(f"{url}/deactivate", headers={**ADMIN, "If-Match": "*"})
    assert star.json()["status"] == "passive"


async def test_patch_can_clear_the_store_url_but_not_null_the_title(
    client: httpx.AsyncClient,
) -> None:
    store = (await create(client, store_url="https://shop.example.com")).json()
    url = f"/v1/stores/{store['id']}"
    headers = {**ADMIN, "If-Match": "*"}
    assert_error(
        await client.patch(url, json={"title": None}, headers=headers), 422, "validation_error"
    )
    cleared = await client.patch(url, json={"store_url": None}, headers=headers)
    assert cleared.json()["store_url"] is None
    bad = await client.patch(url, json={"store_url": "https://127.0.0.1/x"}, headers=headers)
    assert_error(bad, 422, "invalid_store_url")


async def test_settings_reference_and_capability_errors(client: httpx.AsyncClient) -> None:
    store = (await create(client, platform="hepsiburada")).json()
    assert store["products"]["auto_update_type"] == "stock_and_price"
    url = f"/v1/stores/{store['id']}/settings/products"
    body = {
        "default_price_list_id": "pl-1",
        "default_category_id": None,
        "default_brand_id": None,
        "product_update_enabled": True,
        "auto_update_type": "price",
    }
    headers = {**ADMIN, "If-Match": '"1"'}
    details = assert_error(
        await client.put(url, json=body, headers=headers), 422, "unknown_reference"
    )
    assert details["missing"][0]["field"] == "default_price_list_id"
    unsupported = await client.put(
        url, json={**body, "auto_update_type": "product_info"}, headers=headers
    )
    assert "hepsiburada" in assert_error(unsupported, 422, "unsupported_by_platform")["platform"]
    created = await client.put("/v1/price-lists/pl-1", json={"name": "Retail"}, headers=ADMIN)
    assert created.status_code == 201
    ok = await client.put(url, json=body, headers=headers)
    assert ok.status_code == 200
    assert ok.json()["default_price_list_id"] == "pl-1"
    in_use = await client.delete("/v1/price-lists/pl-1", headers=ADMIN)
    assert assert_error(in_use, 409, "reference_in_use")["store_ids"] == [store["id"]]


async def test_reference_lists_crud_and_pagination(client: httpx.AsyncClient) -> None:
    for i in range(3):
        response = await client.put(f"/v1/brands/b{i}", json={"name": f"Brand {i}"}, headers=ADMIN)
        assert response.status_code == 201
    renamed = await client.put("/v1/brands/b1", json={"name": "Renamed"}, headers=ADMIN)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed"
    first = (await client.get("/v1/brands?limit=2", headers=ADMIN)).json()
    assert [i["id"] for i in first["items"]] == ["b0", "b1"]
    rest = await client.get(f"/v1/brands?limit=2&cursor={first['next_cursor']}", headers=ADMIN)
    assert [i["id"] for i in rest.json()["items"]] == ["b2"]
    assert rest.json()["next_cursor"] is None
    assert (await client.delete("/v1/brands/b2", headers=ADMIN)).status_code == 204
    assert_error(await client.get("/v1/brands/b2", headers=ADMIN), 404, "reference_not_found")


async def test_audit_shows_actor_and_field_diff(client: httpx.AsyncClient) -> None:
    store = (await create(client)).json()
    await client.post(
        f"/v1/stores/{store['id']}/deactivate", headers={**auth_header("admin"), "If-Match": '"1"'}
    )
    audit = (await client.get(f"/v1/stores/{store['id']}/audit", headers=ADMIN)).json()
    latest = audit["items"][0]
    assert latest["action"] == "status_changed"
    assert latest["actor"] == "admin-user"
    assert latest["version"] == 2
    assert latest["changes"] == {"status": {"old": "active", "new": "passive"}}


async def test_page_size_is_capped_and_bad_cursor_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/stores?limit=101", headers=ADMIN), 422, "validation_error")
    assert_error(await client.get("/v1/stores?cursor=zzz", headers=ADMIN), 400, "invalid_cursor")


async def test_framework_errors_use_the_error_body(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/nothing", headers=ADMIN), 404, "not_found")
    assert_error(await client.put("/v1/stores", headers=ADMIN), 405, "method_not_allowed")
    assert_error(await client.get("/v1/stores/missing", headers=ADMIN), 404, "store_not_found")
    malformed = await client.post(
        "/v1/stores", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_error(malformed, 422, "validation_error")


async def test_body_limit_by_length_and_by_stream(client: httpx.AsyncClient) -> None:
    big = b'{"title": "' + b"x" * MAX_BODY + b'", "platform": "n11"}'
    declared = await client.post(
        "/v1/stores", content=big, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_error(declared, 413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    streamed = await client.post(
        "/v1/stores", content=chunks(), headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert_error(streamed, 413, "body_too_large")


async def test_correlation_id_is_echoed_and_lands_in_events(
    client: httpx.AsyncClient, database: Database
) -> None:
    response = await client.post(
        "/v1/stores",
        json={"title": "x", "platform": "n11"},
        headers={**ADMIN, "X-Correlation-ID": "req-42"},
    )
    assert response.headers["x-correlation-id"] == "req-42"
    _, envelope = database.events[-1]
    assert envelope is not None
    assert envelope["correlation_id"] == "req-42"
