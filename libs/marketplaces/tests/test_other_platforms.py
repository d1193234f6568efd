"""Hepsiburada, n11, Amazon, IdeaSoft and T-Soft adapters against marketplace-sim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from kervan_contracts.orders.v1 import OrderStatus
from kervan_marketplaces import AdapterFactory, OutcomeState, PriceStockItem

from .conftest import NewAccount, add_fault, requests_log, until

CASES: dict[str, dict[str, str]] = {
    "hepsiburada": {
        "merchant_id": "8f2a7c9e-0d6b-4f0e-9a53-1c2b3d4e5f60",
        "service_key": "HBKEY1234567",
    },
    "n11": {"app_key": "n11-app-key", "app_secret": "n11-app-secret"},
    "amazon_tr": {"selling_partner_id": "A1KERVANSELLER", "refresh_token": "Atzr|kervan-refresh"},
    "ideasoft": {
        "store_domain": "demo.myideasoft.com",
        "client_id": "is-client",
        "client_secret": "is-secret",
    },
    "tsoft": {
        "store_domain": "demo.tsoft.example",
        "api_user": "kervan",
        "api_password": "ts-pass",
    },
}
SELLER = {
    "hepsiburada": CASES["hepsiburada"]["merchant_id"],
    "n11": "n11-seller",
    "amazon_tr": "A1KERVANSELLER",
    "ideasoft": "demo.myideasoft.com",
    "tsoft": "demo.tsoft.example",
}


async def _consent_tokens(
    factory: AdapterFactory, sim: httpx.AsyncClient, creds: dict[str, str], test_mode: bool
) -> dict[str, str]:
    """IdeaSoft: run the authorisation-code flow against the simulator's panel."""
    adapter: Any = factory.create(
        "ideasoft",
        store_id="consent",
        seller_id=SELLER["ideasoft"],
        credentials=creds,
        test_mode=test_mode,
    )
    url = adapter.authorize_url(redirect_uri="https://kervan.example/callback", state="xyz")
    response = await sim.get(url, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["xyz"]
    tokens = await adapter.exchange_code(
        code=query["code"][0], redirect_uri="https://kervan.example/callback"
    )
    return {name: value.get_secret_value() for name, value in tokens.items()}


async def _store(
    platform: str,
    factory: AdapterFactory,
    sim: httpx.AsyncClient,
    new_account: NewAccount,
    test_mode: bool = False,
) -> tuple[Any, str]:
    creds = dict(CASES[platform])
    account = await new_account(platform, SELLER[platform], creds)
    if platform == "ideasoft":
        creds.update(await _consent_tokens(factory, sim, creds, test_mode))
    adapter = factory.create(
        platform,
        store_id=f"store-{platform}",
        seller_id=SELLER[platform],
        credentials=creds,
        test_mode=test_mode,
    )
    return adapter, account


@pytest.mark.parametrize("platform", list(CASES))
async def test_credentials_and_revocation(
    platform: str, factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    adapter, account = await _store(platform, factory, sim, new_account)
    assert (await adapter.test_credentials()).valid
    await add_fault(sim, kind="revoked_credentials", account_id=account)
    before = (await requests_log(sim, account))["total"]
    check = await adapter.test_credentials()
    assert not check.valid
    assert check.reason
    spent = (await requests_log(sim, account))["total"] - before
    assert spent <= 3  # one call, at most one token renewal: never a retry loop


@pytest.mark.parametrize("platform", list(CASES))
async def test_orders_happy_path_and_status(
    platform: str, factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    adapter, account = await _store(platform, factory, sim, new_account)
    created = datetime.now(UTC) - timedelta(hours=3)
    statuses = ["NEW", "CANCELLED"]
    for index, status in enumerate(statuses):
        response = await sim.post(
            f"/_sim/accounts/{account}/orders",
            json={
                "order_number": f"{platform[:2].upper()}-{index}",
                "status": status,
                "created_at": created.isoformat(),
                "lines": [
                    {
                        "sku": f"SKU-{index}",
                        "quantity": 2,
                        "unit_price": "50.00",
                        "barcode": f"BC-{index}",
                    }
                ],
            },
        )
        assert response.status_code == 201, response.text
    orders = [o async for o in adapter.list_orders(created - timedelta(hours=1))]
    by_number = {o.order_number: o for o in orders}
    assert set(by_number) >= {f"{platform[:2].upper()}-0", f"{platform[:2].upper()}-1"}, (
        by_number.keys()
    )
    first = by_number[f"{platform[:2].upper()}-0"]
    assert first.status is OrderStatus.NEW
    assert first.lines[0].merchant_sku == "SKU-0"
    assert first.lines[0].quantity == 2
    assert first.lines[0].line_total.amount == 100
    cancelled = by_number[f"{platform[:2].upper()}-1"]
    assert cancelled.lines[0].status is OrderStatus.CANCELLED
    assert cancelled.lines[0].cancelled_quantity == 2
    assert abs(first.ordered_at - created) < timedelta(minutes=2)


@pytest.mark.parametrize("platform", list(CASES))
async def test_window_starting_mid_second_keeps_an_order_from_that_second(
    platform: str, factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    """The previous poll ended at .500 of a second; the order came at .700 of that second. A
    platform that reports times to the whole second (IdeaSoft) makes it look older than the next
    window's start: the window must start on the second so the order is not skipped."""
    adapter, account = await _store(platform, factory, sim, new_account)
    created = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=700_000)
    response = await sim.post(
        f"/_sim/accounts/{account}/orders",
        json={
            "order_number": "MID-SECOND",
            "status": "NEW",
            "created_at": created.isoformat(),
            "lines": [{"sku": "SKU-M", "quantity": 1, "unit_price": "10.00", "barcode": "BC-M"}],
        },
    )
    assert response.status_code == 201, response.text
    since = created.replace(microsecond=500_000)
    numbers = {o.order_number async for o in adapter.list_orders(since)}
    assert "MID-SECOND" in numbers


async def test_n11_window_starts_on_the_millisecond(
    factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    """n11 stamps and filters in epoch milliseconds: a window starts on the millisecond, so an
    order of the second the previous window ended in is not read again."""
    adapter, account = await _store("n11", factory, sim, new_account)
    created = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=700_000)
    response = await sim.post(
        f"/_sim/accounts/{account}/orders",
        json={
            "order_number": "MID-SECOND",
            "status": "NEW",
            "created_at": created.isoformat(),
            "lines": [{"sku": "SKU-M", "quantity": 1, "unit_price": "10.00", "barcode": "BC-M"}],
        },
    )
    assert response.status_code == 201, response.text
    same_ms = {
        o.order_number async for o in adapter.list_orders(created.replace(microsecond=700_900))
    }
    later_ms = {
        o.order_number async for o in adapter.list_orders(created.replace(microsecond=701_000))
    }
    assert "MID-SECOND" in same_ms
    assert "MID-SECOND" not in later_ms


@pytest.mark.parametrize("platform", list(CASES))
async def test_price_stock_outcomes_per_item(
    platform: str, factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    adapter, account = await _store(platform, factory, sim, new_account)
    for sku in ("SKU-1", "SKU-2"):
        response = await sim.put(
            f"/_sim/accounts/{account}/listings/{sku}",
            json={"barcode": f"BC-{sku}", "price": "100", "stock": 5},
        )
        assert response.status_code in (200, 201)
    await add_fault(
        sim, kind="item_failure", account_id=account, skus=["SKU-2"], reason="InvalidPrice"
    )
    items = [
        PriceStockItem(sku="SKU-1", barcode="BC-SKU-1", quantity=9, sale_price=Decimal("80.00")),
        PriceStockItem(sku="SKU-2", barcode="BC-SKU-2", quantity=4, sale_price=Decimal("70.00")),
    ]
    handle = await adapter.push_price_stock(items)
    result = await adapter.batch_result(handle)
    if adapter.capabilities.synchronous_updates:
        assert result.done

    async def finished() -> bool:
        nonlocal result
        result = await adapter.batch_result(handle)
        return bool(result.done)

    await until(finished)
    outcomes = {o.sku: o for o in result.items}
    assert outcomes["SKU-1"].state is OutcomeState.ACCEPTED, outcomes
    assert outcomes["SKU-2"].state is OutcomeState.FAILED
    assert outcomes["SKU-2"].reason_code


@pytest.mark.parametrize("platform", list(CASES))
async def test_test_mode_hits_sandbox(
    platform: str, factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    adapter, account = await _store(platform, factory, sim, new_account, test_mode=True)
    assert (await adapter.test_credentials()).valid
    bases = (await requests_log(sim, account))["bases"]
    assert set(bases) == {"sandbox"}, bases


@pytest.mark.parametrize("platform", list(CASES))
async def test_a_window_across_turkiyes_midnight(
    platform: str, factory: AdapterFactory, sim: httpx.AsyncClient, new_account: NewAccount
) -> None:
    """Türkiye's day starts at 21:00 UTC. A window that crosses it holds orders from two local
    days, whatever the time of day the test runs at: a platform whose filter is in whole days
    must be asked for both."""
    adapter, account = await _store(platform, factory, sim, new_account)
    midnight = datetime.now(UTC).replace(hour=21, minute=0, second=0, microsecond=0)
    midnight -= timedelta(days=1)
    created = {
        "LATE-DAY": midnight - timedelta(minutes=30),
        "NEXT-DAY": midnight + timedelta(minutes=30),
    }
    for number, at in created.items():
        response = await sim.post(
            f"/_sim/accounts/{account}/orders",
            json={
                "order_number": number,
                "status": "NEW",
                "created_at": at.isoformat(),
                "lines": [{"sku": "SKU-MID", "quantity": 1, "unit_price": "5.00"}],
            },
        )
        assert response.status_code == 201, response.text
    window = (midnight - timedelta(hours=1), midnight + timedelta(hours=1))
    found = {o.order_number async for o in adapter.list_orders(*window)}
    assert found == set(created)
