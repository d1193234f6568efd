"""Demo data: one store per platform (test mode on) and a few items in every reference list.

Idempotent: reference items are upserted and a platform that already has a store named
"Demo <platform>" is skipped, so `make up` may run it on every start.
"""

from __future__ import annotations

from kervan_contracts.identifiers import Platform
from store_registry.app import queries, services
from store_registry.app.commands import (
    Caller,
    ChangeOrderSettings,
    ChangeProductSettings,
    CreateStore,
    PutReference,
)
from store_registry.app.ports import UnitOfWorkFactory
from store_registry.app.services import Collaborators
from store_registry.domain.model import OrderSettings, ProductSettings
from store_registry.domain.references import ReferenceKind

DEMO_REFERENCES: dict[ReferenceKind, list[tuple[str, str]]] = {
    ReferenceKind.WAREHOUSE: [
        ("wh-istanbul", "İstanbul Merkez Depo"),
        ("wh-ankara", "Ankara Depo"),
    ],
    ReferenceKind.PRICE_LIST: [("pl-retail", "Perakende"), ("pl-marketplace", "Pazaryeri")],
    ReferenceKind.CARGO_COMPANY: [("yurtici", "Yurtiçi Kargo"), ("aras", "Aras Kargo")],
    ReferenceKind.CATEGORY: [("cat-apparel", "Giyim"), ("cat-home", "Ev & Yaşam")],
    ReferenceKind.BRAND: [("brand-kervan", "Kervan Demo"), ("brand-anatolia", "Anatolia")],
}


async def seed_demo_data(uow: UnitOfWorkFactory, env: Collaborators) -> list[str]:
    """Create what is missing; returns the ids of stores created now."""
    caller = Caller(actor="demo-seed")
    for kind, items in DEMO_REFERENCES.items():
        for item_id, name in items:
            await services.put_reference(PutReference(caller, kind, item_id, name), uow(), env)
    created: list[str] = []
    for platform in Platform:
        title = f"Demo {platform.value}"
        existing = await queries.list_stores(
            uow(read_only=True), limit=1, platform=platform, text=title
        )
        if existing.items:
            continue
        view = await services.create_store(
            CreateStore(caller, title, platform, test_mode=True), uow(), env
        )
        support = env.catalog.support(platform)
        products = ProductSettings(
            default_price_list_id="pl-marketplace",
            default_category_id="cat-apparel" if support.accepts_product_info else None,
            default_brand_id="brand-kervan" if support.accepts_product_info else None,
            product_update_enabled=True,
            auto_update_type=support.default_update_type(),
        )
        view = await services.change_product_settings(
            ChangeProductSettings(caller, view.state.id, view.state.version, products), uow(), env
        )
        orders = OrderSettings(
            order_transfer_enabled=True,
            default_warehouse_id="wh-istanbul",
            cargo_company_id="yurtici",
            stock_deduction_enabled=True,
        )
        await services.change_order_settings(
            ChangeOrderSettings(caller, view.state.id, view.state.version, orders), uow(), env
        )
        created.append(view.state.id)
    return created
