"""The catalogue file reader: JSON and CSV give the same events, errors say where."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from catalog_sync.__main__ import DEMO_CATALOG
from catalog_sync.tools.catalog_file import CatalogFileError, load_catalog

from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.money import Money
from kervan_contracts.registry import key_for

AS_OF = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DEMO = DEMO_CATALOG.parent


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_yields_products_then_prices_then_stock_under_their_contract_keys(
    tmp_path: Path,
) -> None:
    document = {
        "stock": [{"sku": "A-1", "warehouse_id": "wh-1", "quantity": 7}],
        "prices": [{"sku": "A-1", "price_list_id": "pl-1", "sale_price": "9.90"}],
        "products": [{"sku": "A-1", "title": "Lamp", "attributes": {"Renk": "Mavi"}}],
    }
    events = load_catalog(_write(tmp_path, "c.json", json.dumps(document)), as_of=AS_OF)

    assert events == [
        ProductUpserted(sku="A-1", title="Lamp", attributes={"Renk": "Mavi"}),
        PriceChanged(
            sku="A-1",
            price_list_id="pl-1",
            sale_price=Money.of("9.90", "TRY"),
            list_price=Money.of("9.90", "TRY"),  # defaults to the sale price
        ),
        StockLevelChanged(sku="A-1", warehouse_id="wh-1", quantity=7, as_of=AS_OF),
    ]
    assert [key_for(e) for e in events] == ["product:A-1", "price:A-1:pl-1", "stock:A-1:wh-1"]


def test_the_demo_catalogue_reads_the_same_from_json_and_csv() -> None:
    from_json = load_catalog(DEMO / "catalog.json", as_of=AS_OF)
    from_csv = load_catalog(DEMO / "catalog.csv", as_of=AS_OF)

    def essentials(events: Sequence[object]) -> set[tuple[object, ...]]:
        out: set[tuple[object, ...]] = set()
        for event in events:
            if isinstance(event, ProductUpserted):
                out.add(("product", event.sku, event.title, event.barcode, event.brand_id))
            elif isinstance(event, PriceChanged):
                out.add(("price", event.sku, event.price_list_id, event.sale_price))
            elif isinstance(event, StockLevelChanged):
                out.add(("stock", event.sku, event.warehouse_id, event.quantity))
        return out

    assert essentials(from_json) == essentials(from_csv)
    skus = {e.sku for e in from_json if isinstance(e, ProductUpserted)}
    assert skus == {"DEMO-SKU-1", "DEMO-SKU-2", "DEMO-SKU-3"}
    # Every SKU has a price in the demo stores' default list and stock in their warehouse.
    priced = {e.sku for e in from_json if isinstance(e, PriceChanged)}
    stocked = {e.sku for e in from_json if isinstance(e, StockLevelChanged)}
    assert priced == stocked == skus
    assert {e.price_list_id for e in from_json if isinstance(e, PriceChanged)} == {
        "pl-marketplace",
        "pl-retail",
    }


def test_csv_describes_a_product_once_and_allows_a_row_per_list_and_warehouse(
    tmp_path: Path,
) -> None:
    text = (
        "sku,title,price_list_id,sale_price,list_price,currency,warehouse_id,quantity\n"
        "A-1,Lamp,pl-1,10.00,12.00,EUR,wh-1,3\n"
        "A-1,Other title,pl-2,11.00,,,,\n"
    )
    events = load_catalog(_write(tmp_path, "c.csv", text), as_of=AS_OF)

    assert [type(e).__name__ for e in events] == [
        "ProductUpserted",
        "PriceChanged",
        "PriceChanged",
        "StockLevelChanged",
    ]
    assert isinstance(events[0], ProductUpserted)
    assert events[0].title == "Lamp"
    assert isinstance(events[1], PriceChanged)
    assert events[1].list_price == Money.of("12.00", "EUR")
    assert isinstance(events[2], PriceChanged)
    assert events[2].sale_price == events[2].list_price == Money.of("11.00", "TRY")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.json", "[]", "is an object"),
        ("c.json", '{"stocks": []}', "unknown sections: stocks"),
        ("c.json", '{"stock": [{"sku": "A", "warehouse_id": "w", "quantity": -1}]}', "stock[0]"),
        ("c.json", '{"prices": [{"sku": "A", "price_list_id": "p"}]}', "prices[0]"),
        ("c.json", "{", "invalid JSON"),
        ("c.csv", "sku,colour\nA,red\n", "unknown columns: colour"),
        ("c.csv", "sku,title\n,Lamp\n", "line 2: sku is required"),
        ("c.csv", "sku,warehouse_id,quantity\nA,wh,many\n", "line 2: quantity"),
        ("c.txt", "", "expected a .json or .csv file"),
    ],
)
def test_errors_name_the_record(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(CatalogFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_catalog(_write(tmp_path, name, text), as_of=AS_OF)
