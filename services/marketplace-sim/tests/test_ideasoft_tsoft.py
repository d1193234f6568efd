"""IdeaSoft OAuth and Admin API; T-Soft login, token expiry, orders and product updates."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from marketplace_sim.clock import ManualClock
from marketplace_sim.testing import SimDriver

CLIENT = {"client_id": "is-client", "client_secret": "is-secret"}
REDIRECT = "https://kervan.example/ideasoft/cb"


async def ideasoft_tokens(client: httpx.AsyncClient) -> dict[str, Any]:
    authorize = await client.get(
        "/ideasoft/panel/auth",
        params={
            "response_type": "code",
            "client_id": "is-client",
            "redirect_uri": REDIRECT,
            "state": "xyz",
        },
    )
    assert authorize.status_code == 302
    query = parse_qs(urlsplit(authorize.headers["location"]).query)
    assert query["state"] == ["xyz"]
    token = await client.post(
        "/ideasoft/oauth/v2/token",
        data={
            **CLIENT,
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": REDIRECT,
        },
    )
    assert token.status_code == 200, token.text
    return dict(token.json())


async def test_ideasoft_code_refresh_and_expiry(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    await sim.account("ideasoft")
    tokens = await ideasoft_tokens(client)
    assert tokens["expires_in"] == 86400
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/ideasoft/admin-api/orders", headers=bearer)).status_code == 200
    clock.advance(86400)
    expired = await client.get("/ideasoft/admin-api/orders", headers=bearer)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error_description"]
    refreshed = await client.post(
        "/ideasoft/oauth/v2/token",
        data={**CLIENT, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200
    bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await client.get("/ideasoft/admin-api/orders", headers=bearer)).status_code == 200
    wrong = await client.post(
        "/ideasoft/oauth/v2/token",
        data={
            **CLIENT,
            "client_secret": "x",
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_client"


async def test_ideasoft_orders_since_id_and_limits(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("ideasoft")
    for i in range(5):
        await sim.order(account, f"IS{i}", [("SKU-1", 1, "10.00")])
    bearer = {"Authorization": f"Bearer {(await ideasoft_tokens(client))['access_token']}"}
    assert (
        await client.get("/ideasoft/admin-api/orders", params={"limit": 101}, headers=bearer)
    ).status_code == 400
    first = (
        await client.get("/ideasoft/admin-api/orders", params={"limit": 2}, headers=bearer)
    ).json()
    assert isinstance(first, list)
    assert len(first) == 2
    rest = (
        await client.get(
            "/ideasoft/admin-api/orders",
            params={"limit": 100, "sinceId": first[-1]["id"]},
            headers=bearer,
        )
    ).json()
    assert [o["transactionId"] for o in first + rest] == [f"IS{i}" for i in range(5)]
    count = (await client.get("/ideasoft/admin-api/orders/count", headers=bearer)).json()
    assert count == {"count": 5}


async def test_ideasoft_product_put_is_synchronous(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("ideasoft")
    seeded = await sim.seed_listing(account, "SKU-1", stock=2)
    product_id = seeded["shown"]["product_id"]
    bearer = {"Authorization": f"Bearer {(await ideasoft_tokens(client))['access_token']}"}
    ok = await client.put(
        f"/ideasoft/admin-api/products/{product_id}",
        json={"stockAmount": 8, "price1": 55.5},
        headers=bearer,
    )
    assert ok.status_code == 200
    assert ok.json()["stockAmount"] == 8
    assert (await sim.listing(account, "SKU-1"))["history"][-1]["outcome"] == "accepted"
    bad = await client.put(
        f"/ideasoft/admin-api/products/{product_id}", json={"price1": -1}, headers=bearer
    )
    assert bad.status_code == 422


async def tsoft_token(client: httpx.AsyncClient) -> str:
    response = await client.post("/tsoft/rest1/auth/login/wsuser", data={"pass": "ws-pass"})
    body = response.json()
    assert body["success"] is True, body
    return str(body["data"][0]["token"])


async def test_tsoft_login_and_token_expiry(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    await sim.account("tsoft")
    wrong = (await client.post("/tsoft/rest1/auth/login/wsuser", data={"pass": "nope"})).json()
    assert wrong["success"] is False
    assert wrong["message"][0]["code"] == "LoginFailed"
    token = await tsoft_token(client)
    assert (await client.post("/tsoft/rest1/order/get", data={"token": token})).json()[
        "success"
    ] is True
    assert (await client.post("/tsoft/rest1/order/get", headers={"Token": token})).json()[
        "success"
    ] is True
    clock.advance(3600)
    expired = (await client.post("/tsoft/rest1/order/get", data={"token": token})).json()
    assert expired["success"] is False
    assert expired["message"][0]["code"] == "TokenExpired"


async def test_tsoft_orders_pages_and_limit_clamp(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("tsoft")
    for i in range(3):
        await sim.order(account, f"TS{i}", [("SKU-1", 2, "10.00")])
    token = await tsoft_token(client)
    page = (
        await client.post(
            "/tsoft/rest1/order/get",
            data={"token": token, "start": "1", "limit": "900", "FetchProductData": "true"},
        )
    ).json()
    assert page["summary"] == {"totalRecordCount": 3, "start": 1, "limit": 500}
    assert [o["OrderCode"] for o in page["data"]] == ["TS1", "TS2"]
    assert page["data"][0]["OrderDetails"][0]["Quantity"] == 2


async def test_tsoft_update_products_per_item_and_permissions(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("tsoft", permissions=["order/get", "product/updateProducts"])
    await sim.seed_listing(account, "SKU-1", stock=1)
    token = await tsoft_token(client)
    rows = [{"ProductCode": "SKU-1", "Stock": 6}, {"ProductCode": "MISSING", "Stock": 1}]
    body = (
        await client.post(
            "/tsoft/rest1/product/updateProducts", data={"token": token, "data": json.dumps(rows)}
        )
    ).json()
    assert body["success"] is False
    assert [(d["ProductCode"], d["success"]) for d in body["data"]] == [
        ("SKU-1", True),
        ("MISSING", False),
    ]
    assert (await sim.listing(account, "SKU-1"))["shown"]["stock"] == 6
    denied = (await client.post("/tsoft/rest1/product/get", data={"token": token})).json()
    assert denied["success"] is False
    assert denied["message"][0]["code"] == "PermissionDenied"
