"""Trendyol: auth, paging and windows, limits, batches, duplicate rule, package split."""

from __future__ import annotations

import httpx
from marketplace_sim.clock import ManualClock
from marketplace_sim.testing import TRENDYOL_HEADERS, SimDriver, basic

ORDERS = "/trendyol/integration/order/sellers/1001/orders"
PRICE = "/trendyol/integration/inventory/sellers/1001/products/price-and-inventory"
BATCH = "/trendyol/integration/product/sellers/1001/products/batch-requests/"


async def test_auth_needs_user_agent_and_right_keys(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    await sim.account("trendyol")
    no_agent = {"Authorization": TRENDYOL_HEADERS["Authorization"]}
    assert (await client.get(ORDERS, headers=no_agent)).status_code == 403
    wrong_agent = {**TRENDYOL_HEADERS, "User-Agent": "9999 - Kervan"}
    assert (await client.get(ORDERS, headers=wrong_agent)).status_code == 403
    bad_key = {**TRENDYOL_HEADERS, "Authorization": basic("ty-key", "nope")}
    rejected = await client.get(ORDERS, headers=bad_key)
    assert rejected.status_code == 401
    assert rejected.json()["exception"] == "ClientApiAuthenticationException"
    assert (await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code == 200


async def test_pages_cover_every_package_in_modified_order(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol", rate_limits=False)
    for i in range(7):
        await sim.order(account, f"TY{i}")
        clock.advance(60)
    seen: list[str] = []
    for page in range(3):
        body = (
            await client.get(ORDERS, params={"page": page, "size": 3}, headers=TRENDYOL_HEADERS)
        ).json()
        assert body["totalElements"] == 7
        assert body["totalPages"] == 3
        seen += [p["orderNumber"] for p in body["content"]]
    assert seen == [f"TY{i}" for i in range(7)]


async def test_window_and_size_limits(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    await sim.account("trendyol")
    now_ms = int(clock.now() * 1000)
    fifteen_days = 15 * 86_400_000
    too_wide = {"startDate": now_ms - fifteen_days, "endDate": now_ms}
    assert (await client.get(ORDERS, params=too_wide, headers=TRENDYOL_HEADERS)).status_code == 400
    assert (
        await client.get(ORDERS, params={"size": 201}, headers=TRENDYOL_HEADERS)
    ).status_code == 400
    beyond_cap = {"size": 200, "page": 50}
    assert (
        await client.get(ORDERS, params=beyond_cap, headers=TRENDYOL_HEADERS)
    ).status_code == 429


async def test_default_window_is_last_week(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol")
    await sim.order(account, "OLD")
    clock.advance(8 * 86_400)
    await sim.order(account, "NEW")
    body = (await client.get(ORDERS, headers=TRENDYOL_HEADERS)).json()
    assert [p["orderNumber"] for p in body["content"]] == ["NEW"]


async def test_429_after_50_requests_in_10_seconds(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol")
    statuses = [(await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code for _ in range(51)]
    assert statuses[:50] == [200] * 50
    assert statuses[50] == 429
    throttled = await client.get(ORDERS, headers=TRENDYOL_HEADERS)
    assert throttled.json()["errors"][0]["key"] == "too.many.requests"
    clock.advance(1)  # five tokens back at 50 per 10 s
    again = [(await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code for _ in range(6)]
    assert again == [200] * 5 + [429]
    counters = await sim.requests(account)
    assert counters["by_endpoint"]["getShipmentPackages"]["throttled"] == 3


async def test_batch_lifecycle_with_item_failures(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol")
    await sim.seed_listing(account, "SKU-A", barcode="BC-A", price="100", list_price="120")
    items = [
        {"barcode": "BC-A", "quantity": 7, "salePrice": 90, "listPrice": 110},
        {"barcode": "BC-MISSING", "quantity": 1},
        {"barcode": "BC-A", "salePrice": 200},
    ]
    accepted = await client.post(PRICE, json={"items": items}, headers=TRENDYOL_HEADERS)
    assert accepted.status_code == 200
    batch_id = accepted.json()["batchRequestId"]
    pending = (await client.get(BATCH + batch_id, headers=TRENDYOL_HEADERS)).json()
    assert {i["status"] for i in pending["items"]} == {"PROCESSING"}
    assert "status" not in pending  # inventory batches have no top-level status
    clock.advance(5)
    done = (await client.get(BATCH + batch_id, headers=TRENDYOL_HEADERS)).json()
    assert [i["status"] for i in done["items"]] == ["SUCCESS", "FAILED", "FAILED"]
    assert done["failedItemCount"] == 2
    assert "listPrice" in done["items"][2]["failureReasons"][0]
    shown = await sim.listing(account, "SKU-A")
    assert shown["shown"]["stock"] == 7
    assert shown["shown"]["price"] == "90"
    outcomes = {(h["field"], h["outcome"]) for h in shown["history"]}
    assert ("stock", "accepted") in outcomes
    assert ("price", "failed") in outcomes


async def test_identical_request_rejected_for_15_minutes(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol")
    await sim.seed_listing(account, "SKU-A", barcode="BC-A")
    body = {"items": [{"barcode": "BC-A", "quantity": 3}]}
    assert (await client.post(PRICE, json=body, headers=TRENDYOL_HEADERS)).status_code == 200
    clock.advance(14 * 60)
    repeat = await client.post(PRICE, json=body, headers=TRENDYOL_HEADERS)
    assert repeat.status_code == 400
    assert repeat.json()["errors"][0]["key"] == "request.duplicate"
    changed = {"items": [{"barcode": "BC-A", "quantity": 4}]}
    assert (await client.post(PRICE, json=changed, headers=TRENDYOL_HEADERS)).status_code == 200
    clock.advance(61)
    assert (await client.post(PRICE, json=body, headers=TRENDYOL_HEADERS)).status_code == 200


async def test_more_than_1000_items_refused(client: httpx.AsyncClient, sim: SimDriver) -> None:
    await sim.account("trendyol")
    items = [{"barcode": f"B{i}", "quantity": 1} for i in range(1001)]
    assert (
        await client.post(PRICE, json={"items": items}, headers=TRENDYOL_HEADERS)
    ).status_code == 400


async def test_partial_cancel_rebuilds_the_package(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol")
    created = await sim.order(account, "TY-SPLIT", [("SKU-A", 2, "10.00"), ("SKU-B", 1, "5.00")])
    old_id = created["package_ids"][0]
    clock.advance(30)
    await sim.patch_order(account, "TY-SPLIT", cancel_lines=[{"sku": "SKU-B"}])
    body = (
        await client.get(ORDERS, params={"orderNumber": "TY-SPLIT"}, headers=TRENDYOL_HEADERS)
    ).json()
    by_id = {p["id"]: p for p in body["content"]}
    assert len(by_id) == 2
    old = by_id.pop(old_id)
    (new,) = by_id.values()
    assert old["status"] == "Cancelled"
    assert [x["merchantSku"] for x in old["lines"]] == ["SKU-B"]
    assert new["createdBy"] == "cancel"
    assert new["originPackageIds"] == [old_id]
    assert new["orderNumber"] == "TY-SPLIT"
    assert new["status"] == "Created"
    assert [x["merchantSku"] for x in new["lines"]] == ["SKU-A"]
    assert new["lastModifiedDate"] == old["lastModifiedDate"] == int(clock.now() * 1000)


async def test_stream_cursor_pages(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol")
    for i in range(5):
        await sim.order(account, f"S{i}")
        clock.advance(1)
    numbers: list[str] = []
    params: dict[str, str | int] = {"size": 2}
    while True:
        body = (
            await client.get(ORDERS + "/stream", params=params, headers=TRENDYOL_HEADERS)
        ).json()
        numbers += [p["orderNumber"] for p in body["content"]]
        if not body["hasMore"]:
            break
        params = {"size": 2, "nextCursor": body["nextCursor"]}
    assert numbers == [f"S{i}" for i in range(5)]
