"""Control API behaviours, faults, metrics, and the fidelity helpers themselves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from marketplace_sim.clock import ManualClock
from marketplace_sim.fidelity import (
    FidelityError,
    UnknownOperationError,
    validate_request,
    validate_response,
)
from marketplace_sim.paths import contracts_dir
from marketplace_sim.testing import TRENDYOL_HEADERS, SimDriver
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

ORDERS = "/trendyol/integration/order/sellers/1001/orders"


async def test_account_validation(client: httpx.AsyncClient, sim: SimDriver) -> None:
    missing = await client.post(
        "/_sim/accounts",
        json={"platform": "n11", "seller_id": "x", "credentials": {"app_key": "k"}},
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["details"] == ["app_secret"]
    unknown = await client.post(
        "/_sim/accounts", json={"platform": "ebay", "seller_id": "x", "credentials": {}}
    )
    assert unknown.status_code == 422
    assert await sim.account("n11") == "n11-1"
    duplicate = await client.post(
        "/_sim/accounts",
        json={
            "platform": "n11",
            "seller_id": "y",
            "credentials": {"app_key": "n11-key", "app_secret": "z"},
        },
    )
    assert duplicate.status_code == 409


async def test_order_control_errors(client: httpx.AsyncClient, sim: SimDriver) -> None:
    account = await sim.account("n11")
    await sim.order(account, "N1")
    again = await client.post(
        f"/_sim/accounts/{account}/orders",
        json={"order_number": "N1", "lines": [{"sku": "A", "quantity": 1, "unit_price": "1"}]},
    )
    assert again.status_code == 409
    no_state = await client.post(
        f"/_sim/accounts/{account}/orders",
        json={
            "order_number": "N2",
            "status": "RETURNED",
            "lines": [{"sku": "A", "quantity": 1, "unit_price": "1"}],
        },
    )
    assert no_state.status_code == 422  # n11 has no returned state
    assert (
        await client.patch(f"/_sim/accounts/{account}/orders/NOPE", json={"status": "SHIPPED"})
    ).status_code == 404
    packages = await sim.patch_order(account, "N1", status="SHIPPED")
    assert packages[0]["status"] == "Shipped"


async def test_bulk_orders_and_request_counters(client: httpx.AsyncClient, sim: SimDriver) -> None:
    account = await sim.account("trendyol", rate_limits=False)
    created = await client.post(
        f"/_sim/accounts/{account}/orders/bulk", json={"count": 300, "spread_seconds": 3600}
    )
    assert created.json() == {"created": 300}
    body = (await client.get(ORDERS, params={"size": 200}, headers=TRENDYOL_HEADERS)).json()
    assert body["totalElements"] == 300
    await client.get(ORDERS, params={"size": 200}, headers=TRENDYOL_HEADERS)
    await client.get(
        "/trendyol-sandbox/integration/order/sellers/1001/orders", headers=TRENDYOL_HEADERS
    )
    counters = await sim.requests(account)
    assert counters["by_endpoint"]["getShipmentPackages"]["count"] == 3
    assert counters["identical_repeats"] == 1
    assert counters["bases"] == {"production": 2, "sandbox": 1}
    assert counters["recent"][-1]["base"] == "sandbox"


async def test_faults_storm_error_rate_revoked_and_expiry(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("trendyol")
    storm = await sim.fault(kind="rate_limit_storm", platform="trendyol", duration_seconds=30)
    assert (await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code == 429
    clock.advance(30)
    assert (await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code == 200
    errors = await sim.fault(kind="error_rate", account_id=account, rate=1.0, status=503)
    assert (await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code == 503
    assert (await client.delete(f"/_sim/faults/{errors['fault_id']}")).status_code == 204
    await sim.fault(kind="revoked_credentials", account_id=account)
    assert (await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code == 401
    assert storm["fault_id"] == "fault-1"
    unscoped = await client.post("/_sim/faults", json={"kind": "latency", "seconds": 1})
    assert unscoped.status_code == 422


async def test_error_rate_is_partial_and_seeded(client: httpx.AsyncClient, sim: SimDriver) -> None:
    await sim.account("trendyol", rate_limits=False)
    await sim.fault(kind="error_rate", platform="trendyol", rate=0.5)
    codes = [(await client.get(ORDERS, headers=TRENDYOL_HEADERS)).status_code for _ in range(200)]
    assert 60 < codes.count(503) < 140
    assert codes.count(200) + codes.count(503) == 200


async def test_reset_clock_and_metrics(client: httpx.AsyncClient, sim: SimDriver) -> None:
    await sim.account("trendyol")
    await client.get(ORDERS, headers=TRENDYOL_HEADERS)
    metrics = (await client.get("/metrics")).text
    series = 'endpoint="getShipmentPackages",platform="trendyol",status="200"'
    assert f"kervan_marketplace_sim_requests_total{{{series}}} 1.0" in metrics
    before = (await client.get("/_sim/clock")).json()
    after = (await client.post("/_sim/clock", json={"advance_seconds": 90})).json()
    assert after["now"] - before["now"] == 90
    assert after["manual"] is True
    assert (await client.post("/_sim/reset")).status_code == 204
    assert (await client.get("/_sim/accounts")).json() == []
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("platform", ["trendyol", "hepsiburada", "n11", "ideasoft", "tsoft"])
def test_contract_files_are_valid_openapi(platform: str) -> None:
    document, _ = read_from_filename(str(Path(contracts_dir()) / f"{platform}.openapi.yaml"))
    validate(document)


def test_validate_response_catches_drift() -> None:
    good = {
        "payload": [
            {
                "marketplace": {
                    "id": "A33AVAJ2PDY3EV",
                    "name": "Amazon.com.tr",
                    "countryCode": "TR",
                    "defaultCurrencyCode": "TRY",
                    "defaultLanguageCode": "tr_TR",
                    "domainName": "www.amazon.com.tr",
                },
                "participation": {"isParticipating": True, "hasSuspendedListings": False},
                "storeName": "s",
            }
        ]
    }
    validate_response(
        "amazon_tr", "GET", "/amazon_tr/sellers/v1/marketplaceParticipations", 200, good
    )
    drifted = {
        "payload": [
            {"marketplace": {"id": "A33AVAJ2PDY3EV"}, "participation": {"isParticipating": "yes"}}
        ]
    }
    with pytest.raises(FidelityError) as caught:
        validate_response("amazon_tr", "GET", "/sellers/v1/marketplaceParticipations", 200, drifted)
    assert "payload/0" in str(caught.value)
    with pytest.raises(FidelityError, match="status not documented"):
        validate_response("trendyol", "GET", ORDERS, 418, {})
    with pytest.raises(UnknownOperationError):
        validate_response("n11", "GET", "/n11/rest/nothing", 200, {})


def test_validate_request_checks_params_auth_and_body() -> None:
    validate_request("trendyol", "GET", f"http://sim{ORDERS}?page=0&size=200", TRENDYOL_HEADERS)
    with pytest.raises(FidelityError) as caught:
        validate_request("trendyol", "GET", ORDERS, {"User-Agent": "bad"}, {"size": "500"})
    text = str(caught.value)
    assert "User-Agent" in text
    assert "size" in text
    assert "credentials missing" in text
    body = {"items": [{"barcode": "A", "quantity": -1}]}
    with pytest.raises(FidelityError, match="body"):
        validate_request(
            "trendyol",
            "POST",
            "/integration/inventory/sellers/1001/products/price-and-inventory",
            TRENDYOL_HEADERS,
            None,
            body,
        )
    with pytest.raises(FidelityError, match="MarketplaceIds"):
        validate_request(
            "amazon_tr",
            "GET",
            "/orders/v0/orders",
            {"x-amz-access-token": "t"},
            {"CreatedAfter": "2026-01-01T00:00:00Z"},
        )
    patch = {
        "productType": "PRODUCT",
        "patches": [{"op": "merge", "path": "/attributes/x", "value": [{}]}],
    }
    validate_request(
        "amazon_tr",
        "PATCH",
        "/listings/2021-08-01/items/S/K",
        {"x-amz-access-token": "t"},
        {"marketplaceIds": "A33AVAJ2PDY3EV"},
        patch,
    )
    with pytest.raises(FidelityError, match="op"):
        validate_request(
            "amazon_tr",
            "PATCH",
            "/listings/2021-08-01/items/S/K",
            {"x-amz-access-token": "t"},
            {"marketplaceIds": "A33AVAJ2PDY3EV"},
            {"productType": "P", "patches": [{"op": "bogus", "path": "/a"}]},
        )
    with pytest.raises(FidelityError, match="status"):
        validate_request(
            "n11",
            "GET",
            "/n11/rest/delivery/v1/shipmentPackages",
            {"appkey": "a", "appsecret": "b"},
            {},
        )


async def test_the_seller_panel_shows_the_issued_credentials(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_sim/accounts",
        json={
            "platform": "n11",
            "seller_id": "panel-seller",
            "credentials": {"app_key": "panel-key", "app_secret": "panel-secret"},
        },
    )
    account_id = created.json()["account_id"]
    shown = await client.get(f"/_sim/accounts/{account_id}/credentials")
    assert shown.status_code == 200
    assert shown.json() == {
        "platform": "n11",
        "credentials": {"app_key": "panel-key", "app_secret": "panel-secret"},
    }
    # The account summary itself never carries them.
    summary = (await client.get(f"/_sim/accounts/{account_id}")).json()
    assert "panel-secret" not in str(summary)
    missing = await client.get("/_sim/accounts/nope/credentials")
    assert missing.status_code == 404
