"""Amazon SP-API: LWA, consent, orders paging and rules, limits, listings, feeds, sandbox."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from marketplace_sim.clock import ManualClock
from marketplace_sim.settings import SimSettings
from marketplace_sim.testing import SimDriver

TOKEN = "/amazon_tr/auth/o2/token"
APP = {
    "client_id": "amzn1.application-oa2-client.kervan-sim",
    "client_secret": "kervan-sim-lwa-secret",
}
TR = "A33AVAJ2PDY3EV"
ORDERS = "/amazon_tr/orders/v0/orders"
LISTING = "/amazon_tr/listings/2021-08-01/items/A1SELLERTEST/SKU-1"


async def access_token(client: httpx.AsyncClient, refresh: str = "Atzr|test-refresh") -> str:
    response = await client.post(
        TOKEN, data={**APP, "grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 3600
    assert body["token_type"] == "bearer"
    return str(body["access_token"])


async def test_lwa_refresh_then_call_and_expiry(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    await sim.account("amazon_tr")
    bad = await client.post(
        TOKEN, data={**APP, "grant_type": "refresh_token", "refresh_token": "Atzr|nope"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"
    bad_client = await client.post(
        TOKEN,
        data={
            **APP,
            "client_secret": "x",
            "grant_type": "refresh_token",
            "refresh_token": "Atzr|test-refresh",
        },
    )
    assert bad_client.status_code == 401
    assert bad_client.json()["error"] == "invalid_client"
    assert (await client.get("/amazon_tr/sellers/v1/marketplaceParticipations")).status_code == 403
    token = await access_token(client)
    headers = {"x-amz-access-token": token}
    ok = await client.get("/amazon_tr/sellers/v1/marketplaceParticipations", headers=headers)
    assert ok.status_code == 200
    assert ok.json()["payload"][0]["marketplace"]["id"] == TR
    assert ok.headers["x-amzn-RateLimit-Limit"] == "0.016"
    clock.advance(3600)
    expired = await client.get("/amazon_tr/sellers/v1/marketplaceParticipations", headers=headers)
    assert expired.status_code == 403
    assert expired.json()["errors"][0]["code"] == "Unauthorized"


async def test_revoked_refresh_token_is_invalid_grant(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("amazon_tr")
    await sim.fault(kind="revoked_credentials", account_id=account)
    response = await client.post(
        TOKEN, data={**APP, "grant_type": "refresh_token", "refresh_token": "Atzr|test-refresh"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_consent_redirect_and_code_exchange(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    await sim.account("amazon_tr")
    params = {
        "application_id": "amzn1.sp.solution.kervan-sim",
        "state": "s-123",
        "redirect_uri": "https://kervan.example/cb",
    }
    redirect = await client.get("/amazon_tr/apps/authorize/consent", params=params)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    query = parse_qs(location.query)
    assert location.netloc == "kervan.example"
    assert query["state"] == ["s-123"]
    assert query["selling_partner_id"] == ["A1SELLERTEST"]
    code = query["spapi_oauth_code"][0]
    exchanged = await client.post(
        TOKEN, data={**APP, "grant_type": "authorization_code", "code": code}
    )
    assert exchanged.status_code == 200
    assert exchanged.json()["refresh_token"] == "Atzr|test-refresh"
    again = await client.post(TOKEN, data={**APP, "grant_type": "authorization_code", "code": code})
    assert again.json()["error"] == "invalid_grant"  # single use
    redirect = await client.get("/amazon_tr/apps/authorize/consent", params=params)
    late_code = parse_qs(urlsplit(redirect.headers["location"]).query)["spapi_oauth_code"][0]
    clock.advance(301)
    late = await client.post(
        TOKEN, data={**APP, "grant_type": "authorization_code", "code": late_code}
    )
    assert late.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "settings",
    [SimSettings(amazon_app_is_draft=True, amazon_redirect_uris=["https://kervan.example/cb"])],
)
async def test_consent_errors(client: httpx.AsyncClient, sim: SimDriver) -> None:
    await sim.account("amazon_tr")
    base = {"application_id": "amzn1.sp.solution.kervan-sim", "state": "s"}
    draft = await client.get("/amazon_tr/apps/authorize/consent", params=base)
    assert draft.status_code == 400
    assert "MD1000" in draft.text
    mismatch = await client.get(
        "/amazon_tr/apps/authorize/consent",
        params={**base, "version": "beta", "redirect_uri": "https://evil.example/cb"},
    )
    assert mismatch.status_code == 400
    assert "MD5101" in mismatch.text
    ok = await client.get("/amazon_tr/apps/authorize/consent", params={**base, "version": "beta"})
    assert ok.headers["location"].startswith("https://kervan.example/cb?")


async def test_orders_next_token_and_items(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("amazon_tr")
    for i in range(5):
        await sim.order(account, f"171-000000{i}-000000{i}", [("SKU-1", 2, "50.00")])
        clock.advance(60)
    await sim.order(account, "171-0000009-0000009", status="PENDING_PAYMENT")
    clock.advance(300)
    headers = {"x-amz-access-token": await access_token(client)}
    params: dict[str, str] = {
        "MarketplaceIds": TR,
        "LastUpdatedAfter": "2025-12-31T00:00:00Z",
        "MaxResultsPerPage": "2",
    }
    seen: list[dict[str, object]] = []
    while True:
        payload = (await client.get(ORDERS, params=params, headers=headers)).json()["payload"]
        seen += payload["Orders"]
        if "NextToken" not in payload:
            break
        params = {"MarketplaceIds": TR, "NextToken": payload["NextToken"]}
    assert len(seen) == 6
    pending = seen[-1]
    assert pending["OrderStatus"] == "Pending"
    assert "OrderTotal" not in pending
    assert seen[0]["OrderTotal"] == {"CurrencyCode": "TRY", "Amount": "100.00"}
    items = (await client.get(f"{ORDERS}/171-0000000-0000000/orderItems", headers=headers)).json()
    item = items["payload"]["OrderItems"][0]
    assert item["SellerSKU"] == "SKU-1"
    assert item["QuantityOrdered"] == 2


async def test_orders_parameter_rules(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    await sim.account("amazon_tr")
    headers = {"x-amz-access-token": await access_token(client)}
    too_recent = "2026-01-01T00:01:00Z"  # the clock is at 00:00:00, so not 2 minutes in the past
    cases = [
        {"MarketplaceIds": TR},
        {"LastUpdatedAfter": "2025-12-01T00:00:00Z"},
        {
            "MarketplaceIds": TR,
            "CreatedAfter": "2025-12-01T00:00:00Z",
            "LastUpdatedAfter": "2025-12-01T00:00:00Z",
        },
        {
            "MarketplaceIds": TR,
            "LastUpdatedAfter": "2025-12-01T00:00:00Z",
            "LastUpdatedBefore": too_recent,
        },
    ]
    for params in cases:
        response = await client.get(ORDERS, params=params, headers=headers)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["code"] == "InvalidInput"


async def test_get_orders_burst_then_quota_exceeded(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    await sim.account("amazon_tr")
    headers = {"x-amz-access-token": await access_token(client)}
    params = {"MarketplaceIds": TR, "CreatedAfter": "2025-12-01T00:00:00Z"}
    statuses = [
        (await client.get(ORDERS, params=params, headers=headers)).status_code for _ in range(21)
    ]
    assert statuses == [200] * 20 + [429]
    throttled = await client.get(ORDERS, params=params, headers=headers)
    assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
    assert throttled.headers["x-amzn-RateLimit-Limit"] == "0.0167"
    clock.advance(60)  # one token at 0.0167/s
    assert (await client.get(ORDERS, params=params, headers=headers)).status_code == 200


async def test_listing_patch_accepted_then_applied(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("amazon_tr")
    await sim.seed_listing(account, "SKU-1", price="100", stock=1)
    headers = {"x-amz-access-token": await access_token(client)}
    body = {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "merge",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 9}],
            },
            {
                "op": "replace",
                "path": "/attributes/purchasable_offer",
                "value": [
                    {"currency": "TRY", "our_price": [{"schedule": [{"value_with_tax": 79.9}]}]}
                ],
            },
        ],
    }
    patched = await client.patch(LISTING, params={"marketplaceIds": TR}, json=body, headers=headers)
    assert patched.json()["status"] == "ACCEPTED"
    assert (await sim.listing(account, "SKU-1"))["shown"]["stock"] == 1  # queued, not applied
    clock.advance(5)
    shown = (await sim.listing(account, "SKU-1"))["shown"]
    assert (shown["stock"], shown["price"]) == (9, "79.9")
    read = await client.get(
        LISTING,
        params={"marketplaceIds": TR, "includedData": "summaries,fulfillmentAvailability,offers"},
        headers=headers,
    )
    assert read.json()["fulfillmentAvailability"][0]["quantity"] == 9

    await sim.fault(
        kind="item_failure", account_id=account, skus=["SKU-1"], reason="listing blocked"
    )
    invalid = await client.patch(LISTING, params={"marketplaceIds": TR}, json=body, headers=headers)
    assert invalid.json()["status"] == "INVALID"
    assert invalid.json()["issues"][0]["message"] == "listing blocked"


async def test_feed_lifecycle_with_result_document(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("amazon_tr")
    await sim.seed_listing(account, "SKU-1", stock=1)
    headers = {"x-amz-access-token": await access_token(client)}
    document = (
        await client.post(
            "/amazon_tr/feeds/2021-06-30/documents",
            json={"contentType": "application/json"},
            headers=headers,
        )
    ).json()
    feed_body = {
        "header": {"sellerId": "A1SELLERTEST", "version": "2.0"},
        "messages": [
            {
                "messageId": 1,
                "sku": "SKU-1",
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": [
                    {
                        "op": "merge",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}],
                    }
                ],
            },
            {
                "messageId": 2,
                "sku": "UNKNOWN",
                "operationType": "PATCH",
                "productType": "PRODUCT",
                "patches": [
                    {
                        "op": "merge",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}],
                    }
                ],
            },
        ],
    }
    upload_path = urlsplit(document["url"]).path
    assert (await client.put(upload_path, content=json.dumps(feed_body))).status_code == 200
    created = await client.post(
        "/amazon_tr/feeds/2021-06-30/feeds",
        json={
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [TR],
            "inputFeedDocumentId": document["feedDocumentId"],
        },
        headers=headers,
    )
    assert created.status_code == 202
    feed_url = f"/amazon_tr/feeds/2021-06-30/feeds/{created.json()['feedId']}"
    assert (await client.get(feed_url, headers=headers)).json()["processingStatus"] == "IN_QUEUE"
    clock.advance(5)
    feed = (await client.get(feed_url, headers=headers)).json()
    assert feed["processingStatus"] == "DONE"
    result_doc = (
        await client.get(
            f"/amazon_tr/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}", headers=headers
        )
    ).json()
    report = (await client.get(urlsplit(result_doc["url"]).path)).json()
    assert report["summary"]["messagesAccepted"] == 1
    assert report["summary"]["messagesInvalid"] == 1
    assert report["issues"][0]["messageId"] == 2
    assert (await sim.listing(account, "SKU-1"))["shown"]["stock"] == 3


async def test_sandbox_base_replays_static_cases(client: httpx.AsyncClient, sim: SimDriver) -> None:
    account = await sim.account("amazon_tr")
    headers = {"x-amz-access-token": await access_token(client)}
    params = {"MarketplaceIds": "ATVPDKIKX0DER", "CreatedAfter": "TEST_CASE_200"}
    replay = await client.get("/amazon_tr-sandbox/orders/v0/orders", params=params, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["payload"]["Orders"][0]["AmazonOrderId"] == "902-1845936-5435065"
    # The production base does not replay: that marketplace is refused.
    assert (await client.get(ORDERS, params=params, headers=headers)).status_code == 400
    assert (await sim.requests(account))["bases"] == {"sandbox": 1, "production": 2}
