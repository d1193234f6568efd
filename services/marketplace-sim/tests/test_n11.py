"""n11: per-family auth errors, one status per call, clamps, tasks."""

from __future__ import annotations

import httpx
from marketplace_sim.clock import ManualClock
from marketplace_sim.testing import N11_HEADERS, SimDriver

PACKAGES = "/n11/rest/delivery/v1/shipmentPackages"
PRICE = "/n11/ms/product/tasks/price-stock-update"
TASK = "/n11/ms/product/task-details/page-query"
GMT3 = 3 * 3_600_000


async def test_auth_errors_differ_per_family(client: httpx.AsyncClient, sim: SimDriver) -> None:
    await sim.account("n11")
    wrong = {"appkey": "n11-key", "appsecret": "bad"}
    rest = await client.get(PACKAGES, params={"status": "Created"}, headers=wrong)
    assert rest.status_code == 400
    assert rest.json()["errorCode"] == "SELLER_API.authenticationFailed"
    ms = await client.get("/n11/ms/product-query", headers=wrong)
    assert ms.status_code == 401
    assert ms.json()["@type"] == "SellerApiUserUnauthorizedException"
    missing = await client.get("/n11/ms/product-query", headers={"appkey": "n11-key"})
    assert missing.status_code == 500
    assert missing.json()["@type"] == "MissingRequestHeaderException"
    assert (await client.get("/n11/ms/product-query", headers=N11_HEADERS)).status_code == 200


async def test_one_status_per_call_and_silent_clamps(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("n11")
    both = await client.get(PACKAGES, params={"status": "Created,Picking"}, headers=N11_HEADERS)
    assert both.status_code == 400
    start_ms = int(clock.now() * 1000)
    for i in range(3):
        await sim.order(account, f"N{i}")
    clock.advance(20 * 86_400)
    await sim.order(account, "LATE")
    await sim.order(account, "PICK", status="PREPARING")
    params: dict[str, str | int] = {
        "status": "Created",
        "startDate": start_ms + GMT3,
        "endDate": int(clock.now() * 1000) + GMT3,
        "size": 500,
    }
    body = (await client.get(PACKAGES, params=params, headers=N11_HEADERS)).json()
    assert body["size"] == 100  # clamped
    # 20 days asked, 15 days served: LATE is outside the clamped window.
    assert [p["orderNumber"] for p in body["content"]] == ["N0", "N1", "N2"]
    assert body["pageCount"] == 3
    empty = (await client.get(PACKAGES, params={**params, "page": 1}, headers=N11_HEADERS)).json()
    assert empty["content"] == []
    assert empty["pageCount"] == 0


async def test_task_lifecycle_and_reject(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("n11")
    await sim.seed_listing(account, "SKU-1")
    payload = {
        "payload": {
            "integrator": "Kervan",
            "skus": [
                {
                    "stockCode": "SKU-1",
                    "listPrice": 120,
                    "salePrice": 99.9,
                    "quantity": 4,
                    "currencyType": "TL",
                },
                {"stockCode": "GONE", "quantity": 1},
            ],
        }
    }
    task = (await client.post(PRICE, json=payload, headers=N11_HEADERS)).json()
    assert task["status"] == "IN_QUEUE"
    query = {"taskId": task["id"], "pageable": {"page": 0, "size": 10}}
    assert (await client.post(TASK, json=query, headers=N11_HEADERS)).json()["status"] == "IN_QUEUE"
    clock.advance(5)
    done = (await client.post(TASK, json=query, headers=N11_HEADERS)).json()
    assert done["status"] == "PROCESSED"
    assert [(s["itemCode"], s["status"]) for s in done["skus"]["content"]] == [
        ("SKU-1", "SUCCESS"),
        ("GONE", "FAIL"),
    ]
    shown = (await sim.listing(account, "SKU-1"))["shown"]
    assert (shown["stock"], shown["price"], shown["list_price"]) == (4, "99.9", "120")

    bad = {
        "payload": {
            "integrator": "Kervan",
            "skus": [{"stockCode": "SKU-1", "listPrice": 10, "salePrice": 20}],
        }
    }
    rejected = (await client.post(PRICE, json=bad, headers=N11_HEADERS)).json()
    assert rejected["status"] == "REJECT"
    assert rejected["reasons"]
    three_decimals = {
        "payload": {
            "integrator": "Kervan",
            "skus": [{"stockCode": "SKU-1", "listPrice": 10.123, "salePrice": 5}],
        }
    }
    assert (await client.post(PRICE, json=three_decimals, headers=N11_HEADERS)).json()[
        "status"
    ] == "REJECT"
