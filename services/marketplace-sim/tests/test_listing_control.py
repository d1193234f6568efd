"""The control API's bulk read of an account's listings (benchmarks read thousands)."""

from __future__ import annotations

import httpx
from marketplace_sim.testing import TRENDYOL_HEADERS, SimDriver

INVENTORY = "/trendyol/integration/inventory/sellers/1001/products/price-and-inventory"


async def test_listings_are_read_in_one_call_with_their_push_history(
    client: httpx.AsyncClient, sim: SimDriver
) -> None:
    account = await sim.account("trendyol")
    for sku in ("A-1", "A-2", "A-3"):
        await sim.seed_listing(account, sku, barcode=f"bc-{sku}", stock=1)
    pushed = await client.post(
        INVENTORY,
        headers=TRENDYOL_HEADERS,
        json={"items": [{"barcode": "bc-A-2", "quantity": 9}]},
    )
    assert pushed.status_code == 200, pushed.text

    everything = (await client.get(f"/_sim/accounts/{account}/listings")).json()
    assert sorted(everything) == ["A-1", "A-2", "A-3"]
    assert everything["A-1"]["history"] == []
    assert [(r["field"], r["value"]) for r in everything["A-2"]["history"]] == [("stock", 9)]
    assert everything["A-2"] == await sim.listing(account, "A-2")

    some = await client.get(
        f"/_sim/accounts/{account}/listings", params=[("sku", "A-3"), ("sku", "nope")]
    )
    assert list(some.json()) == ["A-3"]  # unknown SKUs are left out
    assert (await client.get("/_sim/accounts/nope/listings")).status_code == 404
