"""Demo seed: one account per platform with a few listings and orders (credentials in README)."""

from __future__ import annotations

from decimal import Decimal

from marketplace_sim.orders import NewLine, create_order
from marketplace_sim.runtime import Simulator
from marketplace_sim.state import Listing

DEMO_ACCOUNTS: dict[str, tuple[str, dict[str, str]]] = {
    "trendyol": (
        "1001",
        {"seller_id": "1001", "api_key": "demo-trendyol-key", "api_secret": "demo-trendyol-secret"},
    ),
    "hepsiburada": (
        "demo-hb-merchant",
        {"merchant_id": "demo-hb-merchant", "service_key": "DEMOHBKEY123"},
    ),
    "n11": ("demo-n11", {"app_key": "demo-n11-key", "app_secret": "demo-n11-secret"}),
    "amazon_tr": (
        "A1DEMOSELLER",
        {"selling_partner_id": "A1DEMOSELLER", "refresh_token": "Atzr|demo-amazon-refresh"},
    ),
    "ideasoft": (
        "demo.myideasoft.com",
        {
            "store_domain": "demo.myideasoft.com",
            "client_id": "demo-ideasoft-client",
            "client_secret": "demo-ideasoft-secret",
        },
    ),
    "tsoft": (
        "demo.tsoft.example",
        {
            "store_domain": "demo.tsoft.example",
            "api_user": "demo-tsoft-user",
            "api_password": "demo-tsoft-pass",
        },
    ),
}

_SKUS = (("DEMO-SKU-1", "249.90", 12), ("DEMO-SKU-2", "89.50", 40), ("DEMO-SKU-3", "1299.00", 3))


def seed_demo(sim: Simulator) -> list[str]:
    """Create the demo accounts; returns their account ids."""
    state = sim.state
    now_ms = int(sim.clock.now() * 1000)
    created = []
    for platform, (seller_id, credentials) in DEMO_ACCOUNTS.items():
        account = state.add_account(platform, seller_id, dict(credentials))
        for sku, price, stock in _SKUS:
            product_id = 7_000_000 + state.ids.next("product")
            account.put_listing(
                Listing(
                    sku=sku,
                    barcode=f"869{product_id:010d}",
                    product_id=product_id,
                    title=f"Demo urun {sku[-1]}",
                    price=Decimal(price),
                    list_price=Decimal(price),
                    stock=stock,
                    platform_sku=f"HBV{product_id:011d}",
                    updated_at=sim.clock.now(),
                )
            )
        for index, status in enumerate(("NEW", "PREPARING", "SHIPPED"), start=1):
            sku, price, _ = _SKUS[index - 1]
            number = (
                f"171-{index:07d}-{int(seller_id.encode().hex()[:7], 16) % 10_000_000:07d}"
                if platform == "amazon_tr"
                else f"DEMO-{platform.upper()}-{index}"
            )
            created_ms = now_ms - index * 3_600_000
            create_order(
                account,
                state.ids,
                number,
                status,
                [NewLine(sku, index, Decimal(price), "TRY")],
                created_ms=created_ms,
            )
        created.append(account.account_id)
    return created
