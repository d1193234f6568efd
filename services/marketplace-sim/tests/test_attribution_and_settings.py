"""Refusals counted per account, faults reaching body-token calls, the record cap, split sums."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from marketplace_sim.clock import ManualClock
from marketplace_sim.settings import SimSettings
from marketplace_sim.testing import TRENDYOL_HEADERS, SimDriver

LWA = "/amazon_tr/auth/o2/token"
APP = {
    "client_id": "amzn1.application-oa2-client.kervan-sim",
    "client_secret": "kervan-sim-lwa-secret",
}
IDEASOFT_TOKEN = "/ideasoft/oauth/v2/token"
TSOFT_ORDERS = "/tsoft/rest1/order/get"
TRENDYOL_ORDERS = "/trendyol/integration/order/sellers/1001/orders"


def statuses(log: dict[str, Any], endpoint: str) -> dict[str, int]:
    """Status counts of one endpoint in an account's request log."""
    return dict(log["by_endpoint"].get(endpoint, {}).get("statuses", {}))


async def tsoft_login(client: httpx.AsyncClient) -> str:
    body = (await client.post("/tsoft/rest1/auth/login/wsuser", data={"pass": "ws-pass"})).json()
    assert body["success"] is True
    return str(body["data"][0]["token"])


# ---- 1. refusals at login/token time land in the account's log ---------------------------


async def test_amazon_refused_grants_are_recorded_against_the_account(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("amazon_tr")
    refresh = {**APP, "grant_type": "refresh_token", "refresh_token": "Atzr|test-refresh"}
    # Wrong app secret: the refresh token still names the seller.
    assert (await client.post(LWA, data={**refresh, "client_secret": "x"})).status_code == 401
    await sim.fault(kind="revoked_credentials", account_id=account)
    revoked = await client.post(LWA, data=refresh)
    assert revoked.json()["error"] == "invalid_grant"
    assert statuses(await sim.requests(account), "lwaToken") == {"401": 1, "400": 1}


async def test_amazon_replayed_consent_code_is_recorded_against_the_account(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("amazon_tr")
    consent = await client.get(
        "/amazon_tr/apps/authorize/consent",
        params={"application_id": "amzn1.sp.solution.kervan-sim", "redirect_uri": "https://k/cb"},
    )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["spapi_oauth_code"][0]
    exchange = {**APP, "grant_type": "authorization_code", "code": code}
    assert (await client.post(LWA, data=exchange)).status_code == 200
    replay = await client.post(LWA, data=exchange)
    assert replay.json()["error"] == "invalid_grant"
    log = await sim.requests(account)
    assert statuses(log, "lwaToken") == {"200": 1, "400": 1}
    assert log["identical_repeats"] == 1  # the replay is visible as such


async def test_tsoft_refused_logins_and_tokens_are_recorded(
    client: httpx.AsyncClient, sim: SimDriver, clock: ManualClock
) -> None:
    account = await sim.account("tsoft")
    wrong = await client.post("/tsoft/rest1/auth/login/wsuser", data={"pass": "nope"})
    assert wrong.json()["message"][0]["code"] == "LoginFailed"
    token = await tsoft_login(client)
    clock.advance(3600)
    expired = (await client.post(TSOFT_ORDERS, data={"token": token})).json()
    assert expired["message"][0]["code"] == "TokenExpired"
    # An unknown token names no account, but the store's host does.
    unknown = await client.post(
        TSOFT_ORDERS, data={"token": "forged"}, headers={"Host": "test.tsoft.example"}
    )
    assert unknown.json()["message"][0]["code"] == "InvalidToken"
    stray = await client.post(TSOFT_ORDERS, data={"token": "forged"})  # no store named
    assert stray.json()["success"] is False
    log = await sim.requests(account)
    assert log["by_endpoint"]["login"]["count"] == 2
    assert log["by_endpoint"]["orderGet"]["count"] == 2


async def test_ideasoft_refused_token_requests_are_recorded(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("ideasoft")
    bad_secret = await client.post(
        IDEASOFT_TOKEN,
        data={"client_id": "is-client", "client_secret": "x", "grant_type": "client_credentials"},
    )
    assert bad_secret.json()["error"] == "invalid_client"
    bad_refresh = await client.post(
        IDEASOFT_TOKEN,
        data={
            "client_id": "is-client",
            "client_secret": "is-secret",
            "grant_type": "refresh_token",
            "refresh_token": "stale",
        },
    )
    assert bad_refresh.json()["error"] == "invalid_grant"
    unknown_bearer = await client.get(
        "/ideasoft/admin-api/orders",
        headers={"Authorization": "Bearer forged", "Host": "test.myideasoft.com"},
    )
    assert unknown_bearer.status_code == 401
    log = await sim.requests(account)
    assert statuses(log, "token") == {"400": 2}
    assert statuses(log, "listOrders") == {"401": 1}


# ---- 2. account-scoped faults reach calls whose token is in the body ---------------------


async def test_account_scoped_storm_and_errors_reach_tsoft_form_token_calls(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("tsoft")
    token = await tsoft_login(client)
    storm = await sim.fault(kind="rate_limit_storm", account_id=account)
    throttled = await client.post(TSOFT_ORDERS, data={"token": token})
    assert throttled.status_code == 429
    await client.delete(f"/_sim/faults/{storm['fault_id']}")
    await sim.fault(kind="error_rate", account_id=account, rate=1.0, status=503)
    assert (await client.post(TSOFT_ORDERS, data={"token": token})).status_code == 503
    log = await sim.requests(account)
    assert log["throttled"] == 1
    assert statuses(log, "orderGet") == {"429": 1, "503": 1}


async def test_account_scoped_storm_reaches_token_endpoints(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    ideasoft = await sim.account("ideasoft")
    amazon = await sim.account("amazon_tr")
    await sim.fault(kind="rate_limit_storm", account_id=ideasoft)
    await sim.fault(kind="rate_limit_storm", account_id=amazon)
    ideasoft_token = await client.post(
        IDEASOFT_TOKEN,
        data={"client_id": "is-client", "client_secret": "is-secret", "grant_type": "x"},
    )
    assert ideasoft_token.status_code == 429
    lwa = await client.post(
        LWA, data={**APP, "grant_type": "refresh_token", "refresh_token": "Atzr|test-refresh"}
    )
    assert lwa.status_code == 429
    assert (await sim.requests(ideasoft))["throttled"] == 1
    assert (await sim.requests(amazon))["throttled"] == 1


# ---- 3. Trendyol's record cap: a setting and a per-account override ----------------------


@pytest.fixture
def settings() -> SimSettings:
    return SimSettings(batch_delay_seconds=5.0, trendyol_record_cap=100)


async def _status_of_page(client: httpx.AsyncClient, page: int) -> int:
    params = {"page": page, "size": 50}
    return (await client.get(TRENDYOL_ORDERS, params=params, headers=TRENDYOL_HEADERS)).status_code


async def test_trendyol_record_cap_is_a_setting_and_per_account(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("trendyol", rate_limits=False)
    assert await _status_of_page(client, 1) == 200  # records 51..100: within the setting
    assert await _status_of_page(client, 2) == 429  # records 101..150: beyond it
    raised = await client.patch(f"/_sim/accounts/{account}", json={"record_cap": 1000})
    assert raised.json()["record_cap"] == 1000
    assert await _status_of_page(client, 2) == 200
    assert await _status_of_page(client, 20) == 429
    reset = await client.patch(f"/_sim/accounts/{account}", json={"record_cap": None})
    assert reset.json()["record_cap"] is None
    assert await _status_of_page(client, 2) == 429
    assert (
        await client.patch(f"/_sim/accounts/{account}", json={"record_cap": 0})
    ).status_code == 422


async def test_trendyol_record_cap_at_account_creation(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    await sim.account("trendyol", rate_limits=False, record_cap=60)
    assert await _status_of_page(client, 0) == 200
    assert await _status_of_page(client, 1) == 429


def test_trendyol_record_cap_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SimSettings().trendyol_record_cap == 10_000
    monkeypatch.setenv("MARKETPLACE_SIM_TRENDYOL_RECORD_CAP", "2500")
    assert SimSettings().trendyol_record_cap == 2500


# ---- 4. a partial cancel splits amounts, not just quantities ------------------------------


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


async def test_trendyol_partial_cancel_amounts_and_totals(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("trendyol")
    lines = [("SKU-A", 3, "10.00"), ("SKU-B", 1, "5.00"), ("SKU-A", 2, "12.50")]
    await sim.order(account, "TY-PART", lines)
    before = (
        await client.get(
            TRENDYOL_ORDERS, params={"orderNumber": "TY-PART"}, headers=TRENDYOL_HEADERS
        )
    ).json()["content"]
    # 4 units of SKU-A go: the 3 of the first line and 1 of the third, not 4 of each line.
    await sim.patch_order(account, "TY-PART", cancel_lines=[{"sku": "SKU-A", "quantity": 4}])
    after = (
        await client.get(
            TRENDYOL_ORDERS, params={"orderNumber": "TY-PART"}, headers=TRENDYOL_HEADERS
        )
    ).json()["content"]
    by_status = {p["status"]: p for p in after}
    cancelled, kept = by_status["Cancelled"], by_status["Created"]
    assert [(x["merchantSku"], x["quantity"], x["amount"]) for x in cancelled["lines"]] == [
        ("SKU-A", 3, 30.0),
        ("SKU-A", 1, 12.5),
    ]
    assert [(x["merchantSku"], x["quantity"], x["amount"]) for x in kept["lines"]] == [
        ("SKU-B", 1, 5.0),
        ("SKU-A", 1, 12.5),
    ]
    for package in (cancelled, kept):
        line_sum = sum((_money(x["amount"]) for x in package["lines"]), Decimal(0))
        assert _money(package["grossAmount"]) == line_sum
        assert _money(package["totalPrice"]) == line_sum
        for line in package["lines"]:
            assert _money(line["amount"]) == _money(line["price"]) * line["quantity"]
    assert _money(cancelled["totalPrice"]) + _money(kept["totalPrice"]) == _money(
        before[0]["totalPrice"]
    )
