"""Helpers for tests that drive the simulator in process (this package's and the adapters').

app = create_app(clock=ManualClock())
async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
    driver = SimDriver(c)
    account = await driver.account("trendyol")
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from marketplace_sim.fidelity import UnknownOperationError, validate_response
from marketplace_sim.state import PLATFORMS

# One fixed account per platform: (seller id, credentials in credential-vault field names).
TEST_ACCOUNTS: dict[str, tuple[str, dict[str, str]]] = {
    "trendyol": ("1001", {"seller_id": "1001", "api_key": "ty-key", "api_secret": "ty-secret"}),
    "hepsiburada": (
        "hb-merchant-1",
        {"merchant_id": "hb-merchant-1", "service_key": "HBKEY1234567"},
    ),
    "n11": ("n11-seller", {"app_key": "n11-key", "app_secret": "n11-secret"}),
    "amazon_tr": (
        "A1SELLERTEST",
        {"selling_partner_id": "A1SELLERTEST", "refresh_token": "Atzr|test-refresh"},
    ),
    "ideasoft": (
        "test.myideasoft.com",
        {
            "store_domain": "test.myideasoft.com",
            "client_id": "is-client",
            "client_secret": "is-secret",
        },
    ),
    "tsoft": (
        "test.tsoft.example",
        {"store_domain": "test.tsoft.example", "api_user": "wsuser", "api_password": "ws-pass"},
    ),
}


def basic(user: str, password: str) -> str:
    """An HTTP Basic Authorization header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


TRENDYOL_HEADERS = {"Authorization": basic("ty-key", "ty-secret"), "User-Agent": "1001 - Kervan"}
HEPSIBURADA_HEADERS = {
    "Authorization": basic("hb-merchant-1", "HBKEY1234567"),
    "User-Agent": "kervan_dev",
}
N11_HEADERS = {"appkey": "n11-key", "appsecret": "n11-secret"}


async def check_fidelity(response: httpx.Response) -> None:
    """httpx response hook: validate platform responses against their contracts."""
    path = response.request.url.path
    platform = path.split("/")[1].removesuffix("-sandbox")
    if platform not in PLATFORMS or "json" not in response.headers.get("content-type", ""):
        return
    await response.aread()
    try:
        validate_response(
            platform, response.request.method, path, response.status_code, response.json()
        )
    except UnknownOperationError:
        return  # LWA, consent and document URLs are outside the API models


class SimDriver:
    """Typed calls to the `/_sim` control API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def account(self, platform: str, **extra: Any) -> str:
        """Create the platform's TEST_ACCOUNTS account; returns its account id."""
        seller_id, creds = TEST_ACCOUNTS[platform]
        body = {"platform": platform, "seller_id": seller_id, "credentials": creds, **extra}
        response = await self.client.post("/_sim/accounts", json=body)
        response.raise_for_status()
        return str(response.json()["account_id"])

    async def order(
        self,
        account: str,
        number: str,
        lines: list[tuple[str, int, str]] | None = None,
        status: str = "NEW",
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """Create an order from (sku, quantity, unit price) lines."""
        body: dict[str, Any] = {
            "order_number": number,
            "status": status,
            "lines": [
                {"sku": sku, "quantity": qty, "unit_price": price, "currency": "TRY"}
                for sku, qty, price in (lines or [("SKU-1", 1, "10.00")])
            ],
        }
        if created_at is not None:
            body["created_at"] = created_at
        response = await self.client.post(f"/_sim/accounts/{account}/orders", json=body)
        response.raise_for_status()
        return dict(response.json())

    async def patch_order(self, account: str, number: str, **change: Any) -> list[Any]:
        """Change status and/or cancel lines."""
        response = await self.client.patch(f"/_sim/accounts/{account}/orders/{number}", json=change)
        response.raise_for_status()
        return list(response.json())

    async def seed_listing(self, account: str, sku: str, **fields: Any) -> dict[str, Any]:
        """Create or replace a listing (price 100.00 and stock 5 unless given)."""
        url = f"/_sim/accounts/{account}/listings/{sku}"
        response = await self.client.put(url, json={"price": "100.00", "stock": 5, **fields})
        response.raise_for_status()
        return dict(response.json())

    async def listing(self, account: str, sku: str) -> dict[str, Any]:
        """What the platform shows for a SKU and the push history."""
        response = await self.client.get(f"/_sim/accounts/{account}/listings/{sku}")
        response.raise_for_status()
        return dict(response.json())

    async def fault(self, **fault: Any) -> dict[str, Any]:
        """Inject a fault."""
        response = await self.client.post("/_sim/faults", json=fault)
        response.raise_for_status()
        return dict(response.json())

    async def requests(self, account: str) -> dict[str, Any]:
        """Request counters of an account."""
        response = await self.client.get(f"/_sim/accounts/{account}/requests")
        response.raise_for_status()
        return dict(response.json())
