"""IdeaSoft refresh-token flow and T-Soft login token: expiry, renewal, exact auth-call counts."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from marketplace_sim.app import create_app
from marketplace_sim.clock import ManualClock
from marketplace_sim.settings import SimSettings
from pydantic import SecretStr

from kervan_marketplaces import AdapterFactory, OutcomeState, UpdateType
from kervan_marketplaces.models import ProductInfoItem
from kervan_marketplaces.oauth import TokenCache

from .conftest import NewAccount, advance_clock, counts, make_settings, requests_log
from .test_other_platforms import CASES, SELLER, _consent_tokens


class FakeMonotonic:
    """The token cache's clock, moved by hand alongside the simulator's."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim_app() -> Any:
    return create_app(
        clock=ManualClock(start=time.time()),
        settings=SimSettings(ideasoft_access_token_ttl=86_400, tsoft_token_ttl=3600),
    )


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def sunk() -> list[tuple[str, dict[str, str]]]:
    return []


@pytest.fixture
def factory(
    sim: httpx.AsyncClient, monotonic: FakeMonotonic, sunk: list[tuple[str, dict[str, str]]]
) -> AdapterFactory:
    async def sink(store_id: str, tokens: Mapping[str, SecretStr]) -> None:
        sunk.append((store_id, {k: v.get_secret_value() for k, v in tokens.items()}))

    # Kervan's own buckets for these two (undocumented limits, ~1-2 req/s) would only slow the
    # test down: rate limiting is tested elsewhere, token handling here.
    return AdapterFactory(
        make_settings(rate_limit_scale=50.0),
        client=sim,
        token_cache=TokenCache(clock=monotonic),
        token_sink=sink,
    )


async def test_ideasoft_expired_access_token_is_refreshed_once(
    factory: AdapterFactory,
    new_account: NewAccount,
    sim: httpx.AsyncClient,
    monotonic: FakeMonotonic,
    sunk: list[tuple[str, dict[str, str]]],
) -> None:
    creds = dict(CASES["ideasoft"])
    account = await new_account("ideasoft", SELLER["ideasoft"], creds)
    creds.update(await _consent_tokens(factory, sim, creds, test_mode=False))
    adapter = factory.create(
        "ideasoft", store_id="is-1", seller_id=SELLER["ideasoft"], credentials=creds
    )
    assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account)) == {
        "authorize": 1,
        "token": 1,  # the code exchange; the consent's access token is used as it is
        "listProducts": 1,
    }

    # IdeaSoft expires the access token: 401, one refresh, one retry; the new pair is persisted.
    await advance_clock(sim, 86_400)
    assert (await adapter.test_credentials()).valid
    log = await requests_log(sim, account)
    assert counts(log)["token"] == 2
    assert log["by_endpoint"]["listProducts"]["statuses"] == {"200": 2, "401": 1}
    assert len(sunk) == 1
    store_id, tokens = sunk[0]
    assert store_id == "is-1"
    assert tokens["access_token"] != creds["access_token"]
    assert tokens["refresh_token"]

    # The refreshed token is cached: no further token call while it is valid...
    assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account))["token"] == 2
    # ...and once the cache knows it is stale, it refreshes before calling (no 401 this time).
    monotonic.now += 86_400
    await advance_clock(sim, 86_400)
    assert (await adapter.test_credentials()).valid
    log = await requests_log(sim, account)
    assert counts(log)["token"] == 3
    assert log["by_endpoint"]["listProducts"]["statuses"] == {"200": 4, "401": 1}


async def test_tsoft_token_expiry_means_one_new_login(
    factory: AdapterFactory,
    new_account: NewAccount,
    sim: httpx.AsyncClient,
    monotonic: FakeMonotonic,
) -> None:
    account = await new_account("tsoft", SELLER["tsoft"], CASES["tsoft"])
    adapter: Any = factory.create(
        "tsoft", store_id="ts-1", seller_id=SELLER["tsoft"], credentials=CASES["tsoft"]
    )
    for _ in range(3):
        assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account)) == {"login": 1, "productGet": 3}

    # expirationTime passed on the cache's clock: log in again before calling.
    monotonic.now += 3600
    await advance_clock(sim, 3600)
    assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account)) == {"login": 2, "productGet": 4}

    # T-Soft expires the token first: the refused call, one login, one retry.
    sent = adapter.http.requests_sent
    await advance_clock(sim, 3600)
    assert (await adapter.test_credentials()).valid
    assert counts(await requests_log(sim, account)) == {"login": 3, "productGet": 6}
    assert adapter.http.requests_sent - sent == 3


async def test_tsoft_product_info_through_update_products(
    factory: AdapterFactory, new_account: NewAccount, sim: httpx.AsyncClient
) -> None:
    account = await new_account("tsoft", SELLER["tsoft"], CASES["tsoft"])
    adapter = factory.create(
        "tsoft", store_id="ts-2", seller_id=SELLER["tsoft"], credentials=CASES["tsoft"]
    )
    assert UpdateType.PRODUCT_INFO in adapter.capabilities.update_types
    response = await sim.put(
        f"/_sim/accounts/{account}/listings/TS-1", json={"title": "Eski ad", "price": "10"}
    )
    assert response.status_code == 201
    handle = await adapter.push_product_info(
        [
            ProductInfoItem(sku="TS-1", fields={"ProductName": "Yeni ad"}),
            ProductInfoItem(sku="TS-404", fields={"ProductName": "Yok"}),
            ProductInfoItem(sku="TS-2", fields={"Colour": "red"}),  # not a field Kervan sends
        ]
    )
    result = await adapter.batch_result(handle)
    assert result.done
    assert [(o.sku, o.state, o.reason_code) for o in result.items] == [
        ("TS-1", OutcomeState.ACCEPTED, None),
        ("TS-404", OutcomeState.FAILED, "Product not found"),
        ("TS-2", OutcomeState.FAILED, "unsupported_field"),
    ]
    # One request for the two sendable items (plus the login); the refused one never left.
    assert counts(await requests_log(sim, account)) == {"login": 1, "updateProducts": 1}
    shown = (await sim.get(f"/_sim/accounts/{account}/listings/TS-1")).json()["shown"]
    assert shown["title"] == "Yeni ad"
