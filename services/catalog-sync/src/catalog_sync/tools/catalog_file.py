"""Read a catalogue file (JSON or CSV) into the events that describe it.

JSON: an object with optional lists `products` (ProductUpserted fields), `prices`
(`sku`, `price_list_id`, `sale_price`, `list_price` as decimal strings, `currency`, default
`TRY`) and `stock` (`sku`, `warehouse_id`, `quantity`, optional `applied_movement_ids`).

CSV: a header row and one row per SKU and price list / warehouse, columns
`sku, title, barcode, brand_id, category_id, vat_rate, price_list_id, sale_price,
list_price, currency, warehouse_id, quantity` (all but `sku` optional). A row yields a
ProductUpserted when `title` is set (first such row per SKU), a PriceChanged when
`price_list_id` is set and a StockLevelChanged when `warehouse_id` is set.

Every error names the record that caused it; nothing is published from an invalid file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kervan_contracts.catalog.v1 import PriceChanged, ProductUpserted, StockLevelChanged
from kervan_contracts.event import EventPayload
from kervan_contracts.money import Money

DEFAULT_CURRENCY = "TRY"
CSV_COLUMNS = (
    "sku",
    "title",
    "barcode",
    "brand_id",
    "category_id",
    "vat_rate",
    "price_list_id",
    "sale_price",
    "list_price",
    "currency",
    "warehouse_id",
    "quantity",
)


class CatalogFileError(ValueError):
    """The file cannot be read as a catalogue; the message says where and why."""


def load_catalog(path: Path, *, as_of: datetime) -> list[EventPayload]:
    """The events of a catalogue file, products first, then prices, then stock levels.

    `as_of` stamps stock levels that do not carry their own. The format follows the suffix
    (`.json` or `.csv`).
    """
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read ({exc.strerror})") from exc
    if suffix == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogFileError(f"{path}: invalid JSON ({exc})") from exc
        return events_from_document(document, as_of=as_of)
    if suffix == ".csv":
        return events_from_csv_rows(csv.DictReader(text.splitlines()), as_of=as_of)
    raise CatalogFileError(f"{path}: expected a .json or .csv file")


def events_from_document(document: Any, *, as_of: datetime) -> list[EventPayload]:
    """Events of a JSON catalogue document (see module docs)."""
    if not isinstance(document, Mapping):
        raise CatalogFileError("a JSON catalogue is an object with products/prices/stock lists")
    unknown = set(document) - {"products", "prices", "stock"}
    if unknown:
        raise CatalogFileError(f"unknown sections: {', '.join(sorted(unknown))}")
    products = [
        _build(ProductUpserted, record, f"products[{i}]")
        for i, record in enumerate(_records(document, "products"))
    ]
    prices = [
        _price(record, f"prices[{i}]") for i, record in enumerate(_records(document, "prices"))
    ]
    stock = [
        _build(StockLevelChanged, {"as_of": as_of, **record}, f"stock[{i}]")
        for i, record in enumerate(_records(document, "stock"))
    ]
    return [*products, *prices, *stock]


def events_from_csv_rows(
    rows: Iterable[Mapping[str, str | None]], *, as_of: datetime
) -> list[EventPayload]:
    """Events of CSV rows (see module docs); empty cells count as absent."""
    products: list[EventPayload] = []
    prices: list[EventPayload] = []
    stock: list[EventPayload] = []
    described: set[str] = set()
    for line, raw in enumerate(rows, start=2):
        where = f"line {line}"
        unknown = {name for name in raw if name is not None} - set(CSV_COLUMNS)
        if unknown:
            raise CatalogFileError(f"unknown columns: {', '.join(sorted(unknown))}")
        row = {k: v.strip() for k, v in raw.items() if k is not None and v and v.strip()}
        sku = row.get("sku")
        if not sku:
            raise CatalogFileError(f"{where}: sku is required")
        if "title" in row and sku not in described:
            described.add(sku)
            fields = ("sku", "title", "barcode", "brand_id", "category_id", "vat_rate")
            products.append(_build(ProductUpserted, {k: row[k] for k in fields if k in row}, where))
        if "price_list_id" in row:
            prices.append(_price(row, where))
        if "warehouse_id" in row:
            record = {
                "sku": sku,
                "warehouse_id": row["warehouse_id"],
                "quantity": row.get("quantity"),
                "as_of": as_of,
            }
            stock.append(_build(StockLevelChanged, record, where))
    return [*products, *prices, *stock]


def _records(document: Mapping[str, Any], section: str) -> list[Mapping[str, Any]]:
    records = document.get(section, [])
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise CatalogFileError(f"{section} must be a list of objects")
    return records


def _price(record: Mapping[str, Any], where: str) -> EventPayload:
    currency = record.get("currency") or DEFAULT_CURRENCY
    sale = record.get("sale_price")
    listed = record.get("list_price") or sale
    try:
        fields = {
            "sku": record.get("sku"),
            "price_list_id": record.get("price_list_id"),
            "sale_price": Money.of(str(sale), str(currency)),
            "list_price": Money.of(str(listed), str(currency)),
        }
    except ValidationError as exc:
        raise CatalogFileError(f"{where}: {_first_error(exc)}") from exc
    return _build(PriceChanged, fields, where)


def _build(model: type[EventPayload], fields: Mapping[str, Any], where: str) -> EventPayload:
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        raise CatalogFileError(f"{where}: {_first_error(exc)}") from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"]) or "record"
    return f"{location}: {error['msg']}"
