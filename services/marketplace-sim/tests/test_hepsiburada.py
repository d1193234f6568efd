"""Hepsiburada: auth, mandatory paging, 24 h windows, header paging, uploads, limits."""

from __future__ import annotations

import httpx
from marketplace_sim.clock import ManualClock
from marketplace_sim.testing import HEPSIBURADA_HEADERS, SimDriver, basic

ORDERS = "/hepsiburada/orders/merchantid/hb-merchant-1"
PACKAGES = "/hepsiburada/packages/merchantid/hb-merchant-1"
LISTINGS = "/hepsiburada/listings/merchantid/hb-merchant-1"


async def test_auth(client: httpx.AsyncClient, sim: SimDriver) -> None:
    await sim.account("hepsiburada")
    page = {"offset": 0, "limit": 10}
    wrong = {**HEPSIBURADA_HEADERS, "Authorization": basic("hb-merchant-1", "WRONGKEY0000")}
    assert (await client.get(ORDERS, params=page, headers=wrong)).status_code == 401
    no_agent = {"Authorization": HEPSIBURADA_HEADERS["Authorization"], "User-Agent": ""}
    assert (await client.get(ORDERS, params=page, headers=no_agent)).status_code == 403
    ok = await client.get(ORDERS, params=page, headers=HEPSIBURADA_HEADERS)
    assert ok.status_code == 200
    assert ok.headers["X-RateLimit-Limit"] == "1000"


async def test_limit_and_offset_are_mandatory(client: httpx.AsyncClient, sim: SimDriver) -> None:
    await sim.account("hepsiburada")
    response = await client.get(ORDERS, headers=HEPSIBURADA_HEADERS)
    assert response.status_code == 400
    assert response.json()["message"] == "Bad Request limit and offset parameters are required"
    too_big = await client.get(
        ORDERS, params={"offset": 0, "limit": 101}, headers=HEPSIBURADA_HEADERS
    )
    assert too_big.status_code == 400


async def test_open_lines_paged_and_window_clamped_to_a_day(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("hepsiburada")
    await sim.order(
        account, "HB-1", [("A", 1, "10"), ("B", 2, "20")], created_at="2026-01-01T10:00:00Z"
    )
    await sim.order(account, "HB-2", [("C", 1, "5")], created_at="2026-01-02T12:00:00Z")
    clock.set(1_767_398_400)  # 2026-01-03
    window = {"begindate": "2026-01-01 00:00", "enddate": "2026-01-03 00:00"}
    first = await client.get(
        ORDERS, params={**window, "offset": 0, "limit": 1}, headers=HEPSIBURADA_HEADERS
    )
    body = first.json()
    # The 2-day range becomes begindate + 24 h, so HB-2 is outside it.
    assert body["totalCount"] == 2
    assert body["pageCount"] == 2
    second = await client.get(
        ORDERS, params={**window, "offset": 1, "limit": 1}, headers=HEPSIBURADA_HEADERS
    )
    lines = body["items"] + second.json()["items"]
    assert {(x["orderNumber"], x["merchantSku"]) for x in lines} == {("HB-1", "A"), ("HB-1", "B")}


async def test_packages_page_through_headers(client: httpx.AsyncClient, sim: SimDriver) -> None:
    account = await sim.account("hepsiburada")
    for i in range(12):
        await sim.order(account, f"P{i}", status="PREPARING")
    response = await client.get(
        PACKAGES, params={"offset": 10, "limit": 10}, headers=HEPSIBURADA_HEADERS
    )
    assert response.headers["X-Total-Count"] == "12"
    assert [p["orderNumber"] for p in response.json()] == ["P10", "P11"]
    too_big = await client.get(
        PACKAGES, params={"offset": 0, "limit": 11}, headers=HEPSIBURADA_HEADERS
    )
    assert too_big.status_code == 400


async def test_upload_lifecycle_with_errors_and_price_lock(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("hepsiburada")
    await sim.seed_listing(account, "A", min_price="50", max_price="150")
    body = [
        {"merchantSku": "A", "price": 120.5},
        {"merchantSku": "B", "price": 999},
        {"merchantSku": "NOPE", "price": 10},
        {"merchantSku": "B", "price": -1},
    ]
    await sim.seed_listing(account, "B", max_price="500")
    upload = await client.post(f"{LISTINGS}/price-uploads", json=body, headers=HEPSIBURADA_HEADERS)
    upload_id = upload.json()["id"]
    status_url = f"{LISTINGS}/price-uploads/id/{upload_id}"
    assert (await client.get(status_url, headers=HEPSIBURADA_HEADERS)).json()["status"] == "Pending"
    clock.advance(5)
    result = (await client.get(status_url, headers=HEPSIBURADA_HEADERS)).json()
    assert result["status"] == "Done"
    assert {e["elementNo"]: e["errors"] for e in result["errors"]} == {
        3: ["ProductNotFound"],
        4: ["DuplicateMerchantSkuSpecified", "InvalidPrice"],
    }
    assert [(v["elementNo"], v["type"]) for v in result["priceValidations"]] == [(2, "MaxLock")]
    assert (await sim.listing(account, "A"))["shown"]["price"] == "120.5"
    assert (await sim.listing(account, "B"))["shown"]["price"] == "100.00"


async def test_sixth_pending_upload_is_refused(client: httpx.AsyncClient, sim: SimDriver) -> None:
    account = await sim.account("hepsiburada")
    await sim.seed_listing(account, "A", stock=1)
    codes = []
    for quantity in range(6):
        body = [{"merchantSku": "A", "availableStock": quantity}]
        codes.append(
            (
                await client.post(
                    f"{LISTINGS}/stock-uploads", json=body, headers=HEPSIBURADA_HEADERS
                )
            ).status_code
        )
    assert codes == [200] * 5 + [429]


async def test_oms_429_carries_rate_limit_headers(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    await sim.account("hepsiburada")
    page = {"offset": 0, "limit": 1}
    statuses = [
        (await client.get(ORDERS, params=page, headers=HEPSIBURADA_HEADERS)).status_code
        for _ in range(1001)
    ]
    assert statuses.count(429) == 1
    assert statuses[-1] == 429
    throttled = await client.get(ORDERS, params=page, headers=HEPSIBURADA_HEADERS)
    assert throttled.status_code == 429
    assert throttled.headers["X-RateLimit-Remaining"] == "0"
    assert int(throttled.headers["X-RateLimit-Reset"]) >= 1
