"""n11 REST API (api.n11.com: /rest orders, /ms product tasks)."""

from __future__ import annotations

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
from kervan_marketplaces.errors import AuthRejected, MarketplaceError
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
from kervan_marketplaces.timeutil import from_shifted_epoch_ms, windows
from kervan_marketplaces.transport import Classifier, Endpoint, default_classifier

STATUSES = ("Created", "Picking", "Shipped", "Cancelled", "Delivered", "UnPacked", "UnSupplied")
PAGE_SIZE = 100
WINDOW = timedelta(days=15)
MAX_ITEMS = 1000
PRODUCT_PAGE = 250  # product-query: size <= 250
TASK_PAGE = 1000
_ORDERS = "1000 req/min [D, magazadestek order page]"
_TASKS = "not documented; Kervan assumes 1000 req/min like orders [U]"
_N11_AUTH_CODES = {"SELLER_API.authenticationFailed", "SellerApiUserUnauthorizedException"}


def _classifier() -> Classifier:
    base = default_classifier("n11")

    def classify(response: httpx.Response) -> MarketplaceError | None:
        error = base(response)
        # /rest answers a wrong secret with HTTP 400 and an in-body error code.
        if error is not None and error.code in _N11_AUTH_CODES:
            return AuthRejected(
                "credentials rejected",
                code="auth_rejected",
                platform="n11",
                status=response.status_code,
                detail=error.code,
            )
        return error

    return classify


class N11Adapter(AdapterBase):
    """`appkey` / `appsecret` headers; the seller is implied by the key pair."""

    PLATFORM = Platform.N11
    REQUIRED_CREDENTIALS = ("app_key", "app_secret")
    ENDPOINTS: ClassVar[dict[str, tuple[Endpoint, str]]] = {
        "orders": (Endpoint("n11.orders", rate(1000, 60)), _ORDERS),
        "product_query": (Endpoint("n11.product_query", rate(1000, 60)), _TASKS),
        "tasks": (Endpoint("n11.tasks", rate(1000, 60)), _TASKS),
        "task_details": (Endpoint("n11.task_details", rate(1000, 60)), _TASKS),
    }
    # startDate/endDate and lastModifiedDate are epoch milliseconds.
    ORDER_TIME_PRECISION = timedelta(milliseconds=1)

    @classmethod
    def platform_capabilities(cls) -> Capabilities:
        """n11's documented limits."""
        return Capabilities(
            platform=cls.PLATFORM.value,
            auth_style=AuthStyle.KEY_SECRET,
            update_types=frozenset(UpdateType),
            fields={
                "price_stock": ("stockCode", "listPrice", "salePrice", "quantity", "currencyType"),
                "product_info": (
                    "status",
                    "description",
                    "vatRate",
                    "productMainId",
                    "maxPurchaseQuantity",
                ),
            },
            max_items_per_request={"price_stock": MAX_ITEMS, "product_info": MAX_ITEMS},
            synchronous_updates=False,
            rate_limits=endpoint_limits(cls.ENDPOINTS),
            order_window=OrderWindow(max_window=WINDOW, max_history=None, max_page_size=PAGE_SIZE),
            has_sandbox=False,
        )

    def _headers(self) -> dict[str, str]:
        return {"appkey": self.secret("app_key"), "appsecret": self.secret("app_secret")}

    async def _call(self, endpoint: str, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.send(
            self.endpoint(endpoint),
            method,
            self.urls["api"] + path,
            headers=self._headers(),
            classify=_classifier(),
            **kwargs,
        )
        return decode_json(response)

    async def _probe(self) -> None:
        await self._call("product_query", "GET", "/ms/product-query", params={"page": 0, "size": 1})

    async def list_listings(self) -> AsyncIterator[ListingRef]:
        """product-query, every page (size 250): stock code, barcode, n11 product id."""
        page = 0
        while True:
            body = await self._call(
                "product_query",
                "GET",
                "/ms/product-query",
                params={"page": page, "size": PRODUCT_PAGE},
            )
            for row in body.get("content") or []:
                if row.get("stockCode"):
                    product_id = row.get("n11ProductId")
                    barcode = row.get("barcode")
                    yield ListingRef(
                        sku=str(row["stockCode"]),
                        barcode=str(barcode) if barcode else None,
                        product_id=str(product_id) if product_id is not None else None,
                    )
            page += 1
            if body.get("last", True) or page >= int(body.get("totalPages") or 0):
                return

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        """One status per call (the API takes exactly one), 15-day windows, every page."""
        since, until = self._bounds(since, until)
        for start, end in windows(since, until, WINDOW):
            for status in STATUSES:
                page = 0
                while True:
                    body = await self._call(
                        "orders",
                        "GET",
                        "/rest/delivery/v1/shipmentPackages",
                        params={
                            "status": status,
                            # n11 reads these as Türkiye wall-clock millis ("GMT+3").
                            "startDate": _shifted_ms(start),
                            "endDate": _shifted_ms(end),
                            "page": page,
                            "size": PAGE_SIZE,
                            "orderByDirection": "ASC",
                        },
                    )
                    content = body.get("content") or []
                    for package in content:
                        order = self._order(package)
                        if order is not None:
                            yield order
                    page += 1
                    total_pages = body.get("totalPages")
                    if not content or (total_pages is not None and page >= int(total_pages)):
                        break

    def _order(self, package: dict[str, Any]) -> Order | None:
        raw_status = str(package.get("shipmentPackageStatus") or package.get("status") or "")
        status = _status.lookup(_status.N11, raw_status)
        currency = currency_code(package.get("currencyCode") or package.get("currency"))
        lines = []
        for line in package.get("lines") or []:
            quantity = int(line.get("quantity") or 0)
            if quantity < 1:
                continue
            raw_line = str(line.get("orderItemLineItemStatusName") or raw_status)
            line_status = _status.lookup(_status.N11, raw_line, status)
            unit = to_decimal(line.get("price"), Decimal(0))
            total = to_decimal(line.get("sellerInvoiceAmount"), unit * quantity)
            lines.append(
                OrderLine(
                    line_id=str(line.get("orderLineId") or line.get("id")),
                    merchant_sku=str(line.get("stockCode") or line.get("barcode")),
                    barcode=line.get("barcode") or None,
                    channel_sku=str(line["productId"]) if line.get("productId") else None,
                    product_name=line.get("productName") or None,
                    quantity=quantity,
                    unit_price=money(unit, currency),
                    line_total=money(total, currency),
                    status=line_status,
                    raw_status=raw_line[:100],
                    cancelled_quantity=quantity if line_status is OrderStatus.CANCELLED else 0,
                    returned_quantity=quantity if line_status is OrderStatus.RETURNED else 0,
                )
            )
        if not lines:
            return None
        modified = from_shifted_epoch_ms(
            int(package.get("lastModifiedDate") or package.get("orderDate") or 0)
        )
        ordered_raw = package.get("orderDate") or package.get("packageHistories", [{}])[0].get(
            "createdDate"
        )
        ordered = from_shifted_epoch_ms(int(ordered_raw)) if ordered_raw else modified
        total = to_decimal(
            package.get("totalAmount"), sum((x.line_total.amount for x in lines), Decimal(0))
        )
        discount = to_decimal(package.get("totalDiscountAmount"), Decimal(0))
        package_id = package.get("id")
        return Order(
            platform=self.PLATFORM,
            store_id=self.store.store_id,
            order_number=str(package["orderNumber"]),
            package_id=str(package_id) if package_id is not None else None,
            status=status,
            raw_status=raw_status[:100],
            ordered_at=ordered,
            last_modified_at=modified,
            currency=currency,
            totals=OrderTotals(net=money(total, currency), discount=money(discount, currency)),
            lines=lines,
        )

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """price-stock-update tasks of ≤1000 SKUs; list and sale price always sent together."""
        refs: dict[str, str] = {}
        early: list[ItemOutcome] = []
        for index, chunk in enumerate(chunks(list(items), MAX_ITEMS)):
            skus = []
            for item in chunk:
                entry: dict[str, Any] = {"stockCode": item.sku}
                if item.quantity is not None:
                    entry["quantity"] = item.quantity
                if item.sale_price is not None or item.list_price is not None:
                    sale = _first(item.sale_price, item.list_price)
                    listed = _first(item.list_price, sale)
                    entry["salePrice"] = number(sale.quantize(Decimal("0.01")))
                    entry["listPrice"] = number(listed.quantize(Decimal("0.01")))
                    entry["currencyType"] = "TL" if item.currency == "TRY" else item.currency
                skus.append(entry)
            body = await self._call(
                "tasks",
                "POST",
                "/ms/product/tasks/price-stock-update",
                json_body={
                    "payload": {"integrator": self.integrator.n11_integrator_name, "skus": skus}
                },
            )
            task_id = str(body.get("id") or body.get("taskId"))
            if str(body.get("status") or "").upper() == "REJECT":
                reasons = [str(r) for r in body.get("reasons") or []]
                early.extend(
                    ItemOutcome(
                        sku=i.sku,
                        state=OutcomeState.FAILED,
                        reason_code="REJECT",
                        message="; ".join(reasons)[:500] or None,
                    )
                    for i in chunk
                )
                continue
            refs[f"task{index}"] = task_id
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="price_stock",
            refs=refs,
            skus=tuple(i.sku for i in items),
            context={"early": [o.model_dump(mode="json") for o in early]},
        )

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        """product-update tasks (status, description, vatRate, ...), ≤1000 SKUs."""
        refs: dict[str, str] = {}
        for index, chunk in enumerate(chunks(list(items), MAX_ITEMS)):
            skus = [{"stockCode": i.sku, **i.fields} for i in chunk]
            body = await self._call(
                "tasks",
                "POST",
                "/ms/product/tasks/product-update",
                json_body={
                    "payload": {"integrator": self.integrator.n11_integrator_name, "skus": skus}
                },
            )
            refs[f"task{index}"] = str(body.get("id") or body.get("taskId"))
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="product_info",
            refs=refs,
            skus=tuple(i.sku for i in items),
        )

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """Task details, every page; a PROCESSED task can still have FAIL SKUs."""
        outcomes = {
            o["sku"]: ItemOutcome.model_validate(o) for o in handle.context.get("early", [])
        }
        for task_id in handle.refs.values():
            page = 0
            while True:
                body = await self._call(
                    "task_details",
                    "POST",
                    "/ms/product/task-details/page-query",
                    json_body={
                        "taskId": _int_or_text(task_id),
                        "pageable": {"page": page, "size": TASK_PAGE},
                    },
                )
                task_status = str(body.get("status") or "").upper()
                sku_page = body.get("skus") or {}
                content = sku_page.get("content") or []
                for entry in content:
                    sku = str(entry.get("itemCode") or entry.get("stockCode"))
                    state = str(entry.get("status") or "").upper()
                    reasons = [str(r) for r in entry.get("reasons") or []]
                    if state == "SUCCESS":
                        outcomes[sku] = ItemOutcome(sku=sku, state=OutcomeState.ACCEPTED)
                    elif state == "FAIL":
                        outcomes[sku] = ItemOutcome(
                            sku=sku,
                            state=OutcomeState.FAILED,
                            reason_code=reasons[0][:100] if reasons else "FAIL",
                            message="; ".join(reasons)[:500] or None,
                        )
                if task_status == "REJECT" and not content:
                    reasons = [str(r) for r in body.get("reasons") or []]
                    for sku in handle.skus:
                        outcomes.setdefault(
                            sku,
                            ItemOutcome(
                                sku=sku,
                                state=OutcomeState.FAILED,
                                reason_code="REJECT",
                                message="; ".join(reasons)[:500] or None,
                            ),
                        )
                page += 1
                total_pages = sku_page.get("totalPages")
                if not content or total_pages is None or page >= int(total_pages):
                    break
        items = tuple(
            outcomes.get(s, ItemOutcome(sku=s, state=OutcomeState.PENDING)) for s in handle.skus
        )
        return BatchResult(handle=handle, items=items)


def _shifted_ms(value: datetime) -> int:
    return int((value.timestamp() + 3 * 3600) * 1000)


def _int_or_text(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _first(*values: Decimal | None) -> Decimal:
    for value in values:
        if value is not None:
            return value
    raise ValueError("no price given")
