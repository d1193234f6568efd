"""Trendyol seller integration API (apigw.trendyol.com)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from kervan_contracts.identifiers import Platform
from kervan_contracts.orders.v1 import Order, OrderStatus
from kervan_marketplaces.base import (
    AdapterBase,
    chunks,
    currency_code,
    decode_json,
    endpoint_limits,
    money_fields,
    number,
    rate,
    to_decimal,
)
from kervan_marketplaces.errors import RequestRejected
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
    ProductInfoItem,
    UpdateType,
)
from kervan_marketplaces.platforms import _status
from kervan_marketplaces.timeutil import epoch_ms, from_epoch_ms, from_shifted_epoch_ms, windows
from kervan_marketplaces.transport import Endpoint

PAGE_SIZE = 200
PRODUCT_PAGE = 200  # filterProducts page size (the order lists' documented maximum)
RECORD_CAP = 10_000  # reachable packages per filter (announced cap)
WINDOW = timedelta(days=14)
HISTORY = timedelta(days=90)
MAX_ITEMS = 1000
_GENERIC = "50 req / 10 s per endpoint, then 429 too.many.requests [D, TYD Authorization]"


class TrendyolAdapter(AdapterBase):
    """Basic auth with API key/secret and the mandatory `User-Agent: <sellerId> - <integrator>`."""

    PLATFORM = Platform.TRENDYOL
    REQUIRED_CREDENTIALS = ("api_key", "api_secret")
    ENDPOINTS: ClassVar[dict[str, tuple[Endpoint, str]]] = {
        "orders": (Endpoint("trendyol.orders", rate(50, 10)), _GENERIC),
        "products": (Endpoint("trendyol.products", rate(50, 10)), _GENERIC),
        "price_inventory": (
            Endpoint("trendyol.price_inventory", rate(50, 10)),
            _GENERIC + "; table says NO LIMIT, group limit from 14 Sep 2026",
        ),
        "batch_requests": (Endpoint("trendyol.batch_requests", rate(50, 10)), _GENERIC),
        "product_update": (Endpoint("trendyol.product_update", rate(50, 10)), _GENERIC),
    }
    # startDate/endDate and lastModifiedDate are epoch milliseconds.
    ORDER_TIME_PRECISION = timedelta(milliseconds=1)

    def __init__(self, *, record_cap: int = RECORD_CAP, **kwargs: Any) -> None:
        """`record_cap`: packages reachable per filter (10,000 as announced; a knob in case
        Trendyol moves it, and so the halving can be tested without 10,000 records)."""
        super().__init__(**kwargs)
        self._record_cap = record_cap

    @classmethod
    def platform_capabilities(cls) -> Capabilities:
        """Trendyol's documented limits."""
        return Capabilities(
            platform=cls.PLATFORM.value,
            auth_style=AuthStyle.KEY_SECRET,
            update_types=frozenset(UpdateType),
            fields={
                "price_stock": ("barcode", "quantity", "salePrice", "listPrice"),
                "product_info": ("title", "description", "images", "attributes"),
            },
            max_items_per_request={"price_stock": MAX_ITEMS, "product_info": MAX_ITEMS},
            synchronous_updates=False,
            rate_limits=endpoint_limits(cls.ENDPOINTS),
            order_window=OrderWindow(
                max_window=WINDOW, max_history=HISTORY, max_page_size=PAGE_SIZE
            ),
            has_sandbox=True,
        )

    @property
    def _seller(self) -> str:
        return self.store.seller_id

    def _url(self, path: str) -> str:
        return self.urls["api"] + path

    def _headers(self) -> dict[str, str]:
        token = httpx.BasicAuth(self.secret("api_key"), self.secret("api_secret"))
        request = next(token.auth_flow(httpx.Request("GET", "https://x")))
        return {
            "Authorization": request.headers["Authorization"],
            "User-Agent": f"{self._seller} - {self.integrator.trendyol_integrator_name}",
        }

    async def _get(self, endpoint: str, path: str, params: dict[str, Any]) -> Any:
        response = await self.http.send(
            self.endpoint(endpoint), "GET", self._url(path), params=params, headers=self._headers()
        )
        return decode_json(response)

    async def _probe(self) -> None:
        await self._get(
            "products",
            f"/integration/product/sellers/{self._seller}/products",
            {"page": 0, "size": 1},
        )

    async def list_listings(self) -> AsyncIterator[ListingRef]:
        """filterProducts, every page: stock code, barcode and Trendyol's product id."""
        path = f"/integration/product/sellers/{self._seller}/products"
        page = 0
        while True:
            body = await self._get("products", path, {"page": page, "size": PRODUCT_PAGE})
            for row in body.get("content") or []:
                if row.get("stockCode"):
                    yield ListingRef(
                        sku=str(row["stockCode"]),
                        barcode=_text_or_none(row.get("barcode")),
                        product_id=_text_or_none(row.get("id")),
                    )
            page += 1
            if page >= int(body.get("totalPages") or 0):
                return

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        """Packages whose last modification falls in [since, until), 14-day windows, all pages."""
        since, until = self._bounds(since, until, max_history=HISTORY)
        for start, end in windows(since, until, WINDOW):
            async for order in self._window(start, end):
                yield order

    async def _window(self, start: datetime, end: datetime) -> AsyncIterator[Order]:
        path = f"/integration/order/sellers/{self._seller}/orders"
        page = 0
        while True:
            body = await self._get(
                "orders",
                path,
                {
                    "startDate": epoch_ms(start),
                    "endDate": epoch_ms(end),
                    "page": page,
                    "size": PAGE_SIZE,
                    "orderByField": "PackageLastModifiedDate",
                    "orderByDirection": "ASC",
                },
            )
            total = int(body.get("totalElements") or 0)
            if page == 0 and total >= self._record_cap and end - start > timedelta(minutes=1):
                # Past the cap the platform stops answering (429), and it may report the capped
                # count rather than the true one: halve the window until it is under the cap.
                middle = start + (end - start) / 2
                async for half in self._window(start, middle):
                    yield half
                async for half in self._window(middle, end):
                    yield half
                return
            content = body.get("content") or []
            for package in content:
                order = self._order(package)
                if order is not None:
                    yield order
            total_pages = int(body.get("totalPages") or 0)
            page += 1
            if not content or page >= total_pages:
                return

    def _order(self, package: dict[str, Any]) -> Order | None:
        # Built as plain data and validated once as a whole: every page of every poll goes
        # through here, and one validation of the order costs a fraction of a model per part.
        currency = currency_code(package.get("currencyCode"))
        raw_status = str(package.get("shipmentPackageStatus") or package.get("status") or "")
        status = _status.lookup(_status.TRENDYOL, raw_status)
        lines = []
        for line in package.get("lines") or []:
            quantity = int(line.get("quantity") or 0)
            if quantity < 1:
                continue
            raw_line = str(line.get("orderLineItemStatusName") or raw_status)
            line_status = _status.lookup(_status.TRENDYOL, raw_line, status)
            unit = to_decimal(line.get("price"), Decimal(0))
            amount = to_decimal(line.get("amount"), unit * quantity)
            lines.append(
                {
                    "line_id": str(line["id"]),
                    "merchant_sku": str(
                        line.get("merchantSku") or line.get("sku") or line.get("barcode")
                    ),
                    "barcode": line.get("barcode") or None,
                    "channel_sku": str(line["productCode"]) if line.get("productCode") else None,
                    "product_name": line.get("productName") or None,
                    "quantity": quantity,
                    "unit_price": money_fields(unit, currency),
                    "line_total": money_fields(amount, currency),
                    "status": line_status,
                    "raw_status": raw_line[:100],
                    "cancelled_quantity": quantity if line_status is OrderStatus.CANCELLED else 0,
                    "returned_quantity": quantity if line_status is OrderStatus.RETURNED else 0,
                }
            )
        if not lines:
            return None
        package_id = package.get("id") or package.get("shipmentPackageId")
        gross = to_decimal(package.get("grossAmount"), Decimal(0))
        discount = to_decimal(package.get("totalDiscount"), Decimal(0))
        net = to_decimal(package.get("totalPrice"), gross - discount)
        ordered = int(package.get("orderDate") or 0)
        modified = int(package.get("lastModifiedDate") or ordered)
        return Order.model_validate(
            {
                "platform": self.PLATFORM,
                "store_id": self.store.store_id,
                "order_number": str(package["orderNumber"]),
                "package_id": str(package_id) if package_id is not None else None,
                "origin_package_ids": [str(p) for p in package.get("originPackageIds") or []],
                "status": status,
                "raw_status": raw_status[:100],
                # orderDate is Türkiye wall-clock encoded as epoch ms; lastModifiedDate is a
                # true epoch.
                "ordered_at": from_shifted_epoch_ms(ordered),
                "last_modified_at": from_epoch_ms(modified),
                "currency": currency,
                "totals": {
                    "net": money_fields(net, currency),
                    "gross": money_fields(gross, currency),
                    "discount": money_fields(discount, currency),
                },
                "lines": lines,
            }
        )

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """POST price-and-inventory in chunks of 1000; one batchRequestId per chunk."""
        refs: dict[str, str] = {}
        barcodes: dict[str, str] = {}
        early: list[ItemOutcome] = []
        sendable: list[PriceStockItem] = []
        for item in items:
            if not item.barcode:
                early.append(
                    ItemOutcome(
                        sku=item.sku, state=OutcomeState.FAILED, reason_code="missing_barcode"
                    )
                )
            elif (
                item.sale_price is not None
                and item.list_price is not None
                and item.list_price < item.sale_price
            ):
                early.append(
                    ItemOutcome(
                        sku=item.sku,
                        state=OutcomeState.FAILED,
                        reason_code="list_price_below_sale_price",
                    )
                )
            else:
                sendable.append(item)
                barcodes[item.barcode] = item.sku
        path = f"/integration/inventory/sellers/{self._seller}/products/price-and-inventory"
        for index, chunk in enumerate(chunks(sendable, MAX_ITEMS)):
            body = {"items": [self._inventory_item(item) for item in chunk]}
            try:
                response = await self.http.send(
                    self.endpoint("price_inventory"),
                    "POST",
                    self._url(path),
                    json_body=body,
                    headers=self._headers(),
                )
            except RequestRejected as exc:
                if exc.status == 400 and _is_duplicate(exc):
                    # Identical body within 15 minutes: Trendyol already has exactly these values
                    # queued or applied, so nothing was lost; the outcome stays visible.
                    early.extend(
                        ItemOutcome(
                            sku=i.sku,
                            state=OutcomeState.FAILED,
                            reason_code="duplicate_request",
                            message=exc.detail,
                        )
                        for i in chunk
                    )
                    continue
                raise
            refs[f"chunk{index}"] = str(decode_json(response)["batchRequestId"])
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="price_stock",
            refs=refs,
            skus=tuple(i.sku for i in items),
            context={"barcodes": barcodes, "early": [o.model_dump(mode="json") for o in early]},
        )

    @staticmethod
    def _inventory_item(item: PriceStockItem) -> dict[str, Any]:
        body: dict[str, Any] = {"barcode": item.barcode}
        if item.quantity is not None:
            body["quantity"] = item.quantity
        if item.sale_price is not None:
            body["salePrice"] = number(item.sale_price)
            body["listPrice"] = number(
                item.list_price if item.list_price is not None else item.sale_price
            )
        elif item.list_price is not None:
            body["listPrice"] = number(item.list_price)
        return body

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        """Approved products' content update (`content-bulk-update`), chunks of 1000."""
        refs: dict[str, str] = {}
        barcodes: dict[str, str] = {}
        early: list[ItemOutcome] = []
        sendable = []
        for item in items:
            if not item.barcode:
                early.append(
                    ItemOutcome(
                        sku=item.sku, state=OutcomeState.FAILED, reason_code="missing_barcode"
                    )
                )
            else:
                sendable.append(item)
                barcodes[item.barcode] = item.sku
        path = f"/integration/product/sellers/{self._seller}/products/content-bulk-update"
        for index, chunk in enumerate(chunks(sendable, MAX_ITEMS)):
            body = {"items": [{"barcode": i.barcode, **i.fields} for i in chunk]}
            response = await self.http.send(
                self.endpoint("product_update"),
                "POST",
                self._url(path),
                json_body=body,
                headers=self._headers(),
            )
            refs[f"chunk{index}"] = str(decode_json(response)["batchRequestId"])
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="product_info",
            refs=refs,
            skus=tuple(i.sku for i in items),
            context={"barcodes": barcodes, "early": [o.model_dump(mode="json") for o in early]},
        )

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """Read every batch request; items absent from a result are still pending."""
        barcodes: dict[str, str] = handle.context.get("barcodes", {})
        outcomes: dict[str, ItemOutcome] = {
            o["sku"]: ItemOutcome.model_validate(o) for o in handle.context.get("early", [])
        }
        for batch_id in handle.refs.values():
            body = await self._get(
                "batch_requests",
                f"/integration/product/sellers/{self._seller}/products/batch-requests/{batch_id}",
                {},
            )
            for entry in body.get("items") or []:
                request_item = entry.get("requestItem") or {}
                barcode = str(
                    request_item.get("barcode")
                    or request_item.get("product", {}).get("barcode")
                    or ""
                )
                sku = barcodes.get(barcode)
                if sku is None:
                    continue
                state = str(entry.get("status") or "").upper()
                if state == "SUCCESS":
                    outcomes[sku] = ItemOutcome(sku=sku, state=OutcomeState.ACCEPTED)
                elif state == "FAILED":
                    reasons = [_reason_text(r) for r in entry.get("failureReasons") or []]
                    outcomes[sku] = ItemOutcome(
                        sku=sku,
                        state=OutcomeState.FAILED,
                        reason_code=reasons[0] if reasons else "failed",
                        message="; ".join(reasons)[:500] or None,
                    )
        items = tuple(
            outcomes.get(sku, ItemOutcome(sku=sku, state=OutcomeState.PENDING))
            for sku in handle.skus
        )
        return BatchResult(handle=handle, items=items)


def _reason_text(reason: object) -> str:
    if isinstance(reason, dict):
        return str(reason.get("code") or reason.get("message") or reason)
    return str(reason)


def _is_duplicate(exc: RequestRejected) -> bool:
    text = f"{exc.code} {exc.detail or ''}".lower()
    return "15" in text or "duplicate" in text or "same request" in text or "tekrar" in text


def _text_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
