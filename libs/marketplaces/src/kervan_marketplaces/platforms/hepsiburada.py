"""Hepsiburada merchant APIs (oms-external, listing-external, mpop)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from kervan_contracts.identifiers import Platform
from kervan_contracts.orders.v1 import Order, OrderLine, OrderStatus, OrderTotals
from kervan_marketplaces.base import (
    AdapterBase,
    chunks,
    currency_code,
    decode_json,
    endpoint_limits,
    money,
    number,
    rate,
    to_decimal,
)
from kervan_marketplaces.models import (
    AuthStyle,
    BatchHandle,
    BatchResult,
    Capabilities,
    ItemOutcome,
    ListingRef,
    OrderWindow,
    OutcomeState,
    PriceStockItem,
    UpdateType,
)
from kervan_marketplaces.platforms import _status
from kervan_marketplaces.timeutil import ceil_to, format_local, parse_iso, windows
from kervan_marketplaces.transport import Endpoint

WINDOW = timedelta(hours=24)
ORDER_LIMIT = 100
CANCELLED_LIMIT = 50
PACKAGE_LIMIT = 10
LINE_LISTS: tuple[tuple[str, int, str], ...] = (
    ("/paymentawaiting", ORDER_LIMIT, "PaymentAwaiting"),
    ("", ORDER_LIMIT, "Open"),
    ("/cancelled", CANCELLED_LIMIT, "CancelledByMerchant"),
)
"""Line lists under /orders: (path suffix, page limit, status when the item tells none we know)."""
PACKAGE_LISTS: tuple[tuple[str, str], ...] = (
    ("", "Packaged"),
    ("/shipped", "InTransit"),
    ("/delivered", "Delivered"),
    ("/undelivered", "Undelivered"),
)
"""Package lists under /packages: (path suffix, the stage the list stands for)."""
LISTING_PAGE = 100
MAX_ITEMS = 4000
DATE_FORMAT = "%Y-%m-%d %H:%M"
_OMS = "OMS 1000 req/s, then 429 + X-RateLimit-* [D, changelog Kasim 2025]"
_LISTING = "listing uploads: ≤5 pending, daily budget 10 x listings [C]; rate not documented"


class HepsiburadaAdapter(AdapterBase):
    """Basic `merchantId:serviceKey`, `User-Agent` = the integrator's developer username."""

    PLATFORM = Platform.HEPSIBURADA
    REQUIRED_CREDENTIALS = ("service_key",)
    ENDPOINTS: ClassVar[dict[str, tuple[Endpoint, str]]] = {
        "orders": (Endpoint("hepsiburada.orders", rate(1000, 1)), _OMS),
        "listings": (Endpoint("hepsiburada.listings", rate(10, 1)), _LISTING + " (Kervan: 10/s)"),
        "uploads": (Endpoint("hepsiburada.uploads", rate(5, 1)), _LISTING + " (Kervan: 5/s)"),
        "upload_status": (Endpoint("hepsiburada.upload_status", rate(10, 1)), _LISTING),
    }

    @classmethod
    def platform_capabilities(cls) -> Capabilities:
        """Hepsiburada's documented limits."""
        return Capabilities(
            platform=cls.PLATFORM.value,
            auth_style=AuthStyle.KEY_SECRET,
            # Product content goes through the catalog (mpop) import, not implemented here.
            update_types=frozenset(
                {UpdateType.PRICE, UpdateType.STOCK, UpdateType.STOCK_AND_PRICE}
            ),
            fields={"price_stock": ("hepsiburadaSku", "merchantSku", "price", "availableStock")},
            max_items_per_request={"price_stock": MAX_ITEMS},
            synchronous_updates=False,
            rate_limits=endpoint_limits(cls.ENDPOINTS),
            order_window=OrderWindow(
                max_window=WINDOW, max_history=timedelta(days=30), max_page_size=ORDER_LIMIT
            ),
            has_sandbox=True,
        )

    @property
    def _merchant(self) -> str:
        value = self.store.credentials.get("merchant_id")
        return value.get_secret_value() if value is not None else self.store.seller_id

    def _headers(self) -> dict[str, str]:
        auth = httpx.BasicAuth(self._merchant, self.secret("service_key"))
        request = next(auth.auth_flow(httpx.Request("GET", "https://x")))
        return {
            "Authorization": request.headers["Authorization"],
            "User-Agent": self.integrator.hepsiburada_integrator_user,
        }

    async def _call(self, endpoint: str, method: str, url: str, **kwargs: Any) -> Any:
        response = await self.http.send(
            self.endpoint(endpoint), method, url, headers=self._headers(), **kwargs
        )
        return decode_json(response)

    async def _probe(self) -> None:
        await self._call(
            "listings",
            "GET",
            f"{self.urls['listing']}/listings/merchantid/{self._merchant}",
            params={"offset": 0, "limit": 1},
        )

    async def list_listings(self) -> AsyncIterator[ListingRef]:
        """The listings endpoint, offset pages: merchant SKU and hbSku (the push key)."""
        url = f"{self.urls['listing']}/listings/merchantid/{self._merchant}"
        offset = 0
        while True:
            body = await self._call(
                "listings", "GET", url, params={"offset": offset, "limit": LISTING_PAGE}
            )
            rows = body.get("listings") or []
            for row in rows:
                if row.get("merchantSku"):
                    hb_sku = row.get("hepsiburadaSku")
                    yield ListingRef(
                        sku=str(row["merchantSku"]),
                        platform_sku=str(hb_sku) if hb_sku else None,
                    )
            offset += len(rows)
            if not rows or offset >= int(body.get("totalCount") or 0):
                return

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        """Every order stage in 24-hour windows, every page of every list.

        Hepsiburada has no single "changed since" list: unpaid, open (paid, not packaged) and
        cancelled lines come from `/orders/...` (offset/limit with totals in the body), packaged,
        shipped, delivered and undelivered packages from `/packages/...` (at most 10 per page,
        totals in response headers). Items are grouped by order number and package within each
        window, so an order whose lines arrive in one window is yielded once per package.
        """
        since, until = self._bounds(since, until, max_history=timedelta(days=30))
        orders = f"{self.urls['oms']}/orders/merchantid/{self._merchant}"
        packages = f"{self.urls['oms']}/packages/merchantid/{self._merchant}"
        for start, end in windows(since, until, WINDOW):
            lines: list[dict[str, Any]] = []
            for suffix, limit, implied in LINE_LISTS:
                # These lists say the state by where they are, not always in every item.
                lines.extend(
                    [
                        {**item, "status": _known(item.get("status"), implied)}
                        async for item in self._pages(orders + suffix, start, end, limit)
                    ]
                )
            for suffix, implied in PACKAGE_LISTS:
                async for package in self._package_pages(packages + suffix, start, end):
                    lines.extend(_package_lines(package, implied))
            for order in self._orders(lines):
                yield order

    @staticmethod
    def _window_params(offset: int, limit: int, start: datetime, end: datetime) -> Any:
        # Dates have minute resolution: the start rounds down and the end rounds up, so a line
        # changed in the last seconds of a window is never lost (an overlap of under a minute
        # only repeats an order, and orders are upserted by number and line).
        return {
            "offset": offset,
            "limit": limit,
            "begindate": format_local(start, DATE_FORMAT),
            "enddate": format_local(ceil_to(end, timedelta(minutes=1)), DATE_FORMAT),
        }

    async def _pages(
        self, url: str, start: datetime, end: datetime, limit: int
    ) -> AsyncIterator[dict[str, Any]]:
        offset = 0
        while True:
            body = await self._call(
                "orders", "GET", url, params=self._window_params(offset, limit, start, end)
            )
            items = body.get("items") if isinstance(body, dict) else body
            items = items or []
            for item in items:
                yield item
            offset += len(items)
            total = int(body.get("totalCount") or 0) if isinstance(body, dict) else 0
            if not items or offset >= total:
                return

    async def _package_pages(
        self, url: str, start: datetime, end: datetime
    ) -> AsyncIterator[dict[str, Any]]:
        """Package lists page with offset/limit too, but tell the total in response headers."""
        offset = 0
        while True:
            response = await self.http.send(
                self.endpoint("orders"),
                "GET",
                url,
                headers=self._headers(),
                params=self._window_params(offset, PACKAGE_LIMIT, start, end),
            )
            body = decode_json(response)
            items = body if isinstance(body, list) else (body or {}).get("items") or []
            for item in items:
                yield item
            offset += len(items)
            total = _header_int(response, "x-total-count")
            if not items or (offset >= total if total is not None else len(items) < PACKAGE_LIMIT):
                return

    def _orders(self, lines: list[dict[str, Any]]) -> list[Order]:
        groups: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
        for line in lines:
            package = str(line["packageNumber"]) if line.get("packageNumber") else None
            groups[(str(line["orderNumber"]), package)].append(line)
        orders = []
        for (number_, package_number), items in groups.items():
            seen: dict[str, OrderLine] = {}
            currency = "TRY"
            for item in items:
                price = item.get("unitPrice") or {}
                currency = currency_code(price.get("currency") if isinstance(price, dict) else None)
                unit = to_decimal(
                    price.get("amount") if isinstance(price, dict) else price, Decimal(0)
                )
                quantity = int(item.get("quantity") or 0)
                if quantity < 1:
                    continue
                total_raw = item.get("totalPrice")
                total = to_decimal(
                    total_raw.get("amount") if isinstance(total_raw, dict) else total_raw,
                    unit * quantity,
                )
                raw = str(item.get("status") or "Open")
                status = _status.lookup(_status.HEPSIBURADA, raw)
                line_id = str(item.get("id") or item.get("lineItemId"))
                earlier = seen.get(line_id)
                if earlier is not None:
                    if status is not OrderStatus.CANCELLED:
                        continue
                    if earlier.status is not OrderStatus.CANCELLED:
                        # A partial cancel: the open list still shows the units left, the
                        # cancelled list the units cancelled. One line holds both.
                        # The cancelled copy's totalPrice is not reliably for the cancelled
                        # units, so the total is rebuilt from the unit price.
                        both = earlier.quantity + quantity
                        seen[line_id] = earlier.model_copy(
                            update={
                                "quantity": both,
                                "line_total": money(earlier.unit_price.amount * both, currency),
                                "cancelled_quantity": quantity,
                            }
                        )
                        continue
                seen[line_id] = OrderLine(
                    line_id=line_id,
                    merchant_sku=str(item.get("merchantSku") or item.get("sku")),
                    channel_sku=str(item["sku"]) if item.get("sku") else None,
                    barcode=item.get("productBarcode") or None,
                    product_name=item.get("productName") or None,
                    quantity=quantity,
                    unit_price=money(unit, currency),
                    line_total=money(total, currency),
                    status=status,
                    raw_status=raw[:100],
                    cancelled_quantity=quantity if status is OrderStatus.CANCELLED else 0,
                    returned_quantity=quantity if status is OrderStatus.RETURNED else 0,
                )
            if not seen:
                continue
            order_lines = list(seen.values())
            statuses = {line.status for line in order_lines}
            status = statuses.pop() if len(statuses) == 1 else OrderStatus.NEW
            first = items[0]
            ordered = parse_iso(str(_first_date(first, "orderDate", "lastStatusUpdateDate")))
            modified = max(
                parse_iso(str(_first_date(i, "lastStatusUpdateDate", "orderDate"))) for i in items
            )
            net = sum((line.line_total.amount for line in order_lines), Decimal(0))
            orders.append(
                Order(
                    platform=self.PLATFORM,
                    store_id=self.store.store_id,
                    order_number=number_,
                    package_id=package_number,
                    status=status,
                    raw_status=str(first.get("status") or "Open")[:100],
                    ordered_at=ordered,
                    last_modified_at=modified,
                    currency=currency,
                    totals=OrderTotals(net=money(net, currency)),
                    lines=order_lines,
                )
            )
        return orders

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """Price and stock go to separate upload endpoints, 4000 items each."""
        base = f"{self.urls['listing']}/listings/merchantid/{self._merchant}"
        refs: dict[str, str] = {}
        prices = [i for i in items if i.sale_price is not None]
        stocks = [i for i in items if i.quantity is not None]
        order: dict[str, list[str]] = {}
        for kind, selected in (("price", prices), ("stock", stocks)):
            for index, chunk in enumerate(chunks(selected, MAX_ITEMS)):
                payload = [self._upload_item(kind, item) for item in chunk]
                body = await self._call(
                    "uploads", "POST", f"{base}/{kind}-uploads", json_body=payload
                )
                label = f"{kind}:{index}"
                refs[label] = str(body["id"])
                order[label] = [item.sku for item in chunk]
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="price_stock",
            refs=refs,
            skus=tuple(i.sku for i in items),
            context={"order": order},
        )

    @staticmethod
    def _upload_item(kind: str, item: PriceStockItem) -> dict[str, Any]:
        body: dict[str, Any] = {"merchantSku": item.sku}
        if item.platform_sku:
            body["hepsiburadaSku"] = item.platform_sku
        if kind == "price":
            body["price"] = number(item.sale_price or Decimal(0))
        else:
            body["availableStock"] = item.quantity
        return body

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """An SKU is accepted when every upload it was in is Done without an error for it."""
        base = f"{self.urls['listing']}/listings/merchantid/{self._merchant}"
        order: dict[str, list[str]] = handle.context.get("order", {})
        per_sku: dict[str, list[ItemOutcome]] = defaultdict(list)
        for label, upload_id in handle.refs.items():
            kind = label.split(":", 1)[0]
            body = await self._call("upload_status", "GET", f"{base}/{kind}-uploads/id/{upload_id}")
            skus = order.get(label, [])
            status = str(body.get("status") or "").lower()
            errors: dict[str, list[str]] = {}
            for error in body.get("errors") or []:
                position = int(error.get("elementNo") or 0) - 1  # elementNo is 1-based
                sku = str(
                    error.get("merchantSku")
                    or (skus[position] if 0 <= position < len(skus) else "")
                )
                errors[sku] = [str(code) for code in error.get("errors") or []] or ["error"]
            locked = {
                skus[int(v.get("elementNo")) - 1]
                for v in body.get("priceValidations") or []
                if v.get("elementNo") and 0 < int(v["elementNo"]) <= len(skus)
            }
            for sku in skus:
                if sku in errors:
                    per_sku[sku].append(
                        ItemOutcome(
                            sku=sku,
                            state=OutcomeState.FAILED,
                            reason_code=errors[sku][0],
                            message=", ".join(errors[sku]),
                        )
                    )
                elif status == "done" and sku in locked:
                    per_sku[sku].append(
                        ItemOutcome(sku=sku, state=OutcomeState.FAILED, reason_code="PriceLocked")
                    )
                elif status == "done":
                    per_sku[sku].append(ItemOutcome(sku=sku, state=OutcomeState.ACCEPTED))
                elif status == "failed":
                    per_sku[sku].append(
                        ItemOutcome(sku=sku, state=OutcomeState.FAILED, reason_code="UploadFailed")
                    )
                else:
                    per_sku[sku].append(ItemOutcome(sku=sku, state=OutcomeState.PENDING))
        items = tuple(_combine(sku, per_sku.get(sku, [])) for sku in handle.skus)
        return BatchResult(handle=handle, items=items)


def _combine(sku: str, outcomes: list[ItemOutcome]) -> ItemOutcome:
    """One outcome from the price and stock uploads of the same SKU."""
    for outcome in outcomes:
        if outcome.state is OutcomeState.FAILED:
            return outcome
    if not outcomes or any(o.state is OutcomeState.PENDING for o in outcomes):
        return ItemOutcome(
            sku=sku,
            state=OutcomeState.PENDING if outcomes else OutcomeState.FAILED,
            reason_code=None if outcomes else "nothing_to_update",
        )
    return ItemOutcome(sku=sku, state=OutcomeState.ACCEPTED)


def _known(raw: object, implied: str) -> str:
    """The item's own status when it is one we know, else the one its list stands for."""
    text = str(raw or "")
    return text if text in _status.HEPSIBURADA else implied


def _first_date(item: dict[str, Any], *names: str) -> object:
    for name in (*names, "dueDate"):
        if item.get(name):
            return item[name]
    raise ValueError("Hepsiburada item carries no date")


def _header_int(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _package_lines(package: dict[str, Any], implied: str) -> list[dict[str, Any]]:
    """A package's items in the shape of order lines (one normaliser for both lists).

    Package items carry `lineItemId`, `hbSku` and a `price`; the order number, dates and
    status are on the package (items may repeat the order number).
    """
    status = _known(package.get("status"), implied)
    return [
        {
            "id": item.get("lineItemId") or item.get("id"),
            "sku": item.get("hbSku") or item.get("sku"),
            "merchantSku": item.get("merchantSku"),
            "productBarcode": item.get("productBarcode"),
            "productName": item.get("productName"),
            "orderNumber": item.get("orderNumber") or package.get("orderNumber"),
            "packageNumber": package.get("packageNumber") or package.get("id"),
            "orderDate": item.get("orderDate") or package.get("orderDate"),
            "lastStatusUpdateDate": package.get("lastStatusUpdateDate"),
            "dueDate": package.get("dueDate"),
            "quantity": item.get("quantity"),
            "unitPrice": item.get("price") or item.get("unitPrice"),
            "status": status,
        }
        for item in package.get("items") or []
    ]
