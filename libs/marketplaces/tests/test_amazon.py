"""Amazon: consent and LWA code exchange, token cache and refresh, JSON_LISTINGS_FEED."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from marketplace_sim.app import create_app
from marketplace_sim.clock import ManualClock
from marketplace_sim.settings import SimSettings

from kervan_contracts.orders.v1 import OrderStatus
from kervan_marketplaces import AdapterFactory, AuthRejected, OutcomeState, PriceStockItem
from kervan_marketplaces.oauth import TokenCache

from .conftest import NewAccount, add_fault, advance_clock, counts, make_settings, requests_log

SELLER = "A2KERVANTOKENS"
CREDS = {"selling_partner_id": SELLER, "refresh_token": "Atzr|kervan-token-test"}


class FakeMonotonic:
    """The token cache's clock, moved by hand alongside the simulator's."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim_app() -> Any:
    # The simulator's clock moves only when a test says so: token expiry and feed processing
    # happen exactly when advanced, never by waiting.
    return create_app(
        clock=ManualClock(start=time.time()), settings=SimSettings(batch_delay_seconds=1.0)
    )


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def factory(sim: httpx.AsyncClient, monotonic: FakeMonotonic) -> AdapterFactory:
    return AdapterFactory(make_settings(), client=sim, token_cache=TokenCache(clock=monotonic))


async def _store(factory: AdapterFactory, new_account: NewAccount, **extra: Any) -> tuple[Any, str]:
    account = await new_account("amazon_tr", SELLER, CREDS)
    adapter = factory.create(
        "amazon_tr", store_id="amz", seller_id=SELLER, credentials=CREDS, **extra
    )
    return adapter, account


async def test_consent_url_and_code_exchange(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    account = await new_account("amazon_tr", SELLER, CREDS)
    authorization = factory.amazon_authorization()
    url = authorization.consent_url(state="st-8f3a")
    query = parse_qs(urlsplit(url).query)
    assert query["application_id"] == ["amzn1.sp.solution.kervan-sim"]
    assert query["redirect_uri"] == ["https://kervan.example/callback"]

    # The seller approves on Seller Central (the simulator), which redirects back to Kervan.
    response = await sim.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith("https://kervan.example/callback?")
    back = parse_qs(urlsplit(location).query)
    assert back["state"] == ["st-8f3a"]  # the caller's state comes back untouched
    assert back["selling_partner_id"] == [SELLER]

    tokens = await authorization.exchange_code(back["spapi_oauth_code"][0])
    assert tokens == {"refresh_token": CREDS["refresh_token"]}
    # Codes are single-use: a replay is an auth rejection, not a retry loop.
    with pytest.raises(AuthRejected) as rejected:
        await authorization.exchange_code(back["spapi_oauth_code"][0])
    assert rejected.value.code == "invalid_grant"
    # Both exchanges reach the platform once each (the refused replay is filed under the seller
    # too), and Kervan's own counter agrees: no retry of a refused grant.
    assert counts(await requests_log(sim, account)) == {"consent": 1, "lwaToken": 2}
    assert authorization._http.requests_sent == 2


async def test_access_token_is_cached_and_refreshed_on_expiry(
    factory: AdapterFactory,
    new_account: NewAccount,
    sim: httpx.AsyncClient,
    monotonic: FakeMonotonic,
) -> None:
    adapter, account = await _store(factory, new_account)
    for _ in range(3):
        assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account)) == {
        "lwaToken": 1,  # one token serves every call within its hour
        "getMarketplaceParticipations": 3,
    }

    # An hour later, on both clocks: the cache knows the token is stale and refreshes first.
    monotonic.now += 3600
    await advance_clock(sim, 3600)
    assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account))["lwaToken"] == 2

    # Amazon expires the token while Kervan still trusts it: 403, one refresh, one retry.
    await advance_clock(sim, 3600)
    assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account)) == {
        "lwaToken": 3,
        "getMarketplaceParticipations": 3 + 1 + 2,
    }


async def test_invalid_grant_means_invalid_credentials(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account)
    await add_fault(sim, kind="revoked_credentials", account_id=account)
    check = await adapter.test_credentials()
    assert not check.valid
    assert check.reason == "invalid_grant"
    # One LWA request, refused, and no SP-API call at all.
    assert adapter.http.requests_sent == 1
    assert counts(await requests_log(sim, account)) == {"lwaToken": 1}


async def test_large_push_goes_as_one_feed_with_per_item_results(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    adapter, account = await _store(factory, new_account, feed_threshold=3)
    for sku in ("SKU-1", "SKU-2", "SKU-3"):
        response = await sim.put(
            f"/_sim/accounts/{account}/listings/{sku}", json={"price": "100", "stock": 5}
        )
        assert response.status_code == 201
    await add_fault(
        sim, kind="item_failure", account_id=account, skus=["SKU-3"], reason="PriceOutOfRange"
    )
    items = [
        PriceStockItem(sku="SKU-1", quantity=9, sale_price=Decimal("89.90")),
        PriceStockItem(sku="SKU-2", quantity=0),
        PriceStockItem(sku="SKU-3", sale_price=Decimal("1.00")),
        PriceStockItem(sku="SKU-404", quantity=1),
        PriceStockItem(sku="SKU-EMPTY"),
    ]
    handle = await adapter.push_price_stock(items)
    assert set(handle.refs) == {"feed"}

    pending = await adapter.batch_result(handle)
    assert not pending.done  # IN_QUEUE until the simulator's clock moves
    assert {o.sku: o.state for o in pending.items} == {
        "SKU-1": OutcomeState.PENDING,
        "SKU-2": OutcomeState.PENDING,
        "SKU-3": OutcomeState.PENDING,
        "SKU-404": OutcomeState.PENDING,
        "SKU-EMPTY": OutcomeState.FAILED,
    }

    await advance_clock(sim, 1.0)
    result = await adapter.batch_result(handle)
    outcomes = {o.sku: o for o in result.items}
    assert result.done
    assert outcomes["SKU-1"].state is OutcomeState.ACCEPTED
    assert outcomes["SKU-2"].state is OutcomeState.ACCEPTED
    assert outcomes["SKU-3"].state is OutcomeState.FAILED
    assert outcomes["SKU-3"].reason_code == "PriceOutOfRange"
    assert outcomes["SKU-404"].state is OutcomeState.FAILED
    assert outcomes["SKU-EMPTY"].reason_code == "nothing_to_update"
    shown = (await sim.get(f"/_sim/accounts/{account}/listings/SKU-1")).json()["shown"]
    assert shown["stock"] == 9
    assert Decimal(str(shown["price"])) == Decimal("89.90")
    assert counts(await requests_log(sim, account)) == {
        "lwaToken": 1,
        "createFeedDocument": 1,
        "createFeed": 1,
        "getFeed": 2,
        "getFeedDocument": 1,
    }


async def test_feed_document_urls_are_checked(
    factory: AdapterFactory, new_account: NewAccount
) -> None:
    adapter, _ = await _store(factory, new_account)
    good = "https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com/doc?X-Amz-Signature=abc"
    assert adapter._document_url(good) == good
    for bad in (
        "http://tortuga-prod-eu.s3-eu-west-1.amazonaws.com/doc",  # not https
        "https://evil.example/doc",
        "https://amazonaws.com.evil.example/doc",
        "http://127.0.0.1:9999/amazon_tr/_documents/x",  # not the configured origin
    ):
        with pytest.raises(ValueError):
            adapter._document_url(bad)


async def test_every_page_of_orders_by_next_token(
    sim_app: Any, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    clock = sim_app.state.sim.clock
    # Kervan reads time from the simulator's clock, so "two minutes ago" agrees on both sides;
    # 101 getOrderItems calls would take minutes at the real 0.5 rps, so limits are off here.
    factory = AdapterFactory(
        make_settings(rate_limit_scale=1000.0),
        client=sim,
        clock=lambda: datetime.fromtimestamp(clock.now(), UTC),
    )
    account = await new_account("amazon_tr", SELLER, CREDS, rate_limits=False)
    adapter = factory.create("amazon_tr", store_id="amz-p", seller_id=SELLER, credentials=CREDS)
    response = await sim.post(
        f"/_sim/accounts/{account}/orders/bulk",
        json={"count": 101, "spread_seconds": 1800, "prefix": "171-0000000-"},
    )
    assert response.status_code == 201
    await advance_clock(sim, 300)  # every order is now older than the two-minute lag
    since = datetime.fromtimestamp(clock.now(), UTC) - timedelta(hours=1)
    orders = [o async for o in adapter.list_orders(since)]
    assert len(orders) == len({o.order_number for o in orders}) == 101
    assert all(o.lines and o.status is OrderStatus.NEW for o in orders)
    assert counts(await requests_log(sim, account)) == {
        "lwaToken": 1,
        "getOrders": 2,  # 100 + 1, the second page by NextToken
        "getOrderItems": 101,
    }
