"""T-Soft REST1 ("Gelişmiş Web Servis", per store: https://<store>/rest1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from kervan_contracts.identifiers import Platform
from kervan_contracts.orders.v1 import Order, OrderLine, OrderStatus, OrderTotals
from kervan_contracts.orders.v1 import OrderStatus as S
from kervan_marketplaces.base import (
    AdapterBase,
    currency_code,
    decode_json,
    endpoint_limits,
    money,
    rate,
    to_decimal,
)
from kervan_marketplaces.errors import AuthRejected, RequestRejected
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
from kervan_marketplaces.oauth import TokenCache
from kervan_marketplaces.platforms import _status
from kervan_marketplaces.timeutil import ceil_to, format_local, parse_local
from kervan_marketplaces.transport import Endpoint, PlatformHttp

PAGE_SIZE = 500
MAX_ITEMS = 100
PRODUCT_FIELDS = ("ProductName",)
"""Product fields Kervan sends through `updateProducts` (the only one evidenced so far [C])."""
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_LIMIT = "not documented [U]; Kervan assumes 2 req/s per store"

DEFAULT_STATUS_MAP: Mapping[str, OrderStatus] = {
    **_status.TSOFT_DEFAULT,
    "1": S.NEW,
    "2": S.PREPARING,
    "3": S.SHIPPED,
    "4": S.DELIVERED,
    "11": S.PENDING_PAYMENT,
}
"""Store-configurable ids: 9/10 are known; the rest follow T-Soft's default order statuses [U]."""


def _unwrap(body: Any) -> Any:
    """REST1 answers `{success, message, data}`; `success: false` with an auth message = 401."""
    if isinstance(body, dict) and body.get("success") is False:
        text = json.dumps(body.get("message"), ensure_ascii=False)[:300]
        raise (
            AuthRejected(
                "T-Soft refused the call", code="auth_rejected", platform="tsoft", detail=text
            )
            if _looks_like_auth(text)
            else _rejected(text)
        )
    return body.get("data") if isinstance(body, dict) and "data" in body else body


def _looks_like_auth(text: str) -> bool:
    lowered = text.lower()
    return any(
        w in lowered for w in ("token", "login", "yetki", "auth", "password", "şifre", "sifre")
    )


def _rejected(text: str) -> Exception:
    return RequestRejected(
        "T-Soft rejected the request", code="request_rejected", platform="tsoft", detail=text
    )


class TSoftAuth:
    """Login with the web-service user → token, cached until its expiry; re-login once on 401."""

    def __init__(self, adapter: TSoftAdapter, cache: TokenCache) -> None:
        self._adapter = adapter
        self._cache = cache
        self._key = cache.key(
            adapter.http.store_key,
            adapter.secret("api_user") + "\0" + adapter.secret("api_password"),
        )

    async def token(self, http: PlatformHttp) -> str:
        """A valid token (login when none is cached)."""
        token = self._cache.get(self._key)
        if token is None:
            async with self._cache.lock(self._key):
                token = self._cache.get(self._key) or await self._login(http)
        return token

    async def _login(self, http: PlatformHttp) -> str:
        user = self._adapter.secret("api_user")
        response = await http.send(
            self._adapter.endpoint("login"),
            "POST",
            f"{self._adapter.urls['api']}/rest1/auth/login/{user}",
            form={"pass": self._adapter.secret("api_password")},
        )
        data = _unwrap(decode_json(response))
        record = data[0] if isinstance(data, list) and data else data
        token = str(record["token"])
        expires = record.get("expirationTime")
        ttl = 3600.0
        if expires:
            try:
                ttl = (
                    parse_local(str(expires), DATE_FORMAT) - self._adapter.clock()
                ).total_seconds()
            except ValueError:
                ttl = 3600.0
        self._cache.put(self._key, token, ttl)
        return token

    async def headers(self, http: PlatformHttp) -> dict[str, str]:
        """REST1 takes the token as a form field; nothing goes into headers."""
        return {}

    async def renew(self, http: PlatformHttp) -> bool:
        """Expired token: log in again, once."""
        self._cache.drop(self._key)
        return True


class TSoftAdapter(AdapterBase):
    """Orders by `order/get` pages; price/stock by synchronous `product/updateProducts`."""

    PLATFORM = Platform.TSOFT
    REQUIRED_CREDENTIALS = ("api_user", "api_password")
    ENDPOINTS: ClassVar[dict[str, tuple[Endpoint, str]]] = {
        "login": (Endpoint("tsoft.login", rate(5, 5)), _LIMIT),
        "orders": (Endpoint("tsoft.orders", rate(10, 5)), _LIMIT),
        "products": (Endpoint("tsoft.products", rate(10, 5)), _LIMIT),
    }

    def __init__(
        self,
        *,
        token_cache: TokenCache,
        status_map: Mapping[str, OrderStatus] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._auth = TSoftAuth(self, token_cache)
        self._status_map = dict(status_map or DEFAULT_STATUS_MAP)

    @classmethod
    def platform_capabilities(cls) -> Capabilities:
        """T-Soft REST1: synchronous batch form."""
        return Capabilities(
            platform=cls.PLATFORM.value,
            auth_style=AuthStyle.LOGIN_TOKEN,
            update_types=frozenset(UpdateType),
            fields={
                "price_stock": ("ProductCode", "Stock", "SellingPrice"),
                "product_info": PRODUCT_FIELDS,
            },
            max_items_per_request={"price_stock": MAX_ITEMS, "product_info": MAX_ITEMS},
            synchronous_updates=True,
            rate_limits=endpoint_limits(cls.ENDPOINTS),
            order_window=OrderWindow(max_window=None, max_history=None, max_page_size=PAGE_SIZE),
            has_sandbox=False,
        )

    async def _call(
        self, endpoint: str, path: str, form: dict[str, str], *, per_item: bool = False
    ) -> Any:
        async def send() -> Any:
            token = await self._auth.token(self.http)
            response = await self.http.send(
                self.endpoint(endpoint),
                "POST",
                f"{self.urls['api']}/rest1{path}",
                form={"token": token, **form},
            )
            body = decode_json(response)
            if per_item and isinstance(body, dict) and isinstance(body.get("data"), list):
                # success=false only says that some item failed; the rows say which.
                return body["data"]
            return _unwrap(body)

        try:
            return await send()
        except AuthRejected:
            # An expired token reads as an auth failure: log in again once, then give up.
            await self._auth.renew(self.http)
            return await send()

    async def _probe(self) -> None:
        await self._call("products", "/product/get", {"start": "0", "limit": "1"})

    async def list_listings(self) -> AsyncIterator[ListingRef]:
        """product/get, start/limit pages: product code, barcode, T-Soft product id."""
        start = 0
        while True:
            data = await self._call(
                "products", "/product/get", {"start": str(start), "limit": str(PAGE_SIZE)}
            )
            rows = data if isinstance(data, list) else []
            for row in rows:
                if row.get("ProductCode"):
                    barcode, product_id = row.get("Barcode"), row.get("ProductId")
                    yield ListingRef(
                        sku=str(row["ProductCode"]),
                        barcode=str(barcode) if barcode else None,
                        product_id=str(product_id) if product_id is not None else None,
                    )
            start += len(rows)
            if len(rows) < PAGE_SIZE:
                return

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        """order/get by order date window, start/limit pages of 500."""
        since, until = self._bounds(since, until)
        start = 0
        while True:
            data = await self._call(
                "orders",
                "/order/get",
                {
                    "OrderDateTimeStart": format_local(since, DATE_FORMAT),
                    # Second resolution, inclusive end: round up so the last second is not lost.
                    "OrderDateTimeEnd": format_local(
                        ceil_to(until, timedelta(seconds=1)), DATE_FORMAT
                    ),
                    "FetchProductData": "true",
                    "start": str(start),
                    "limit": str(PAGE_SIZE),
                },
            )
            rows = data if isinstance(data, list) else []
            for row in rows:
                order = self._order(row)
                if order is not None:
                    yield order
            start += len(rows)
            if len(rows) < PAGE_SIZE:
                return

    def _order(self, row: dict[str, Any]) -> Order | None:
        currency = currency_code(row.get("Currency") or row.get("CurrencyCode"))
        raw_status = str(row.get("OrderStatusId") or row.get("OrderStatus") or "")
        status = self._status_map.get(raw_status, S.NEW)
        lines = []
        for index, item in enumerate(row.get("OrderDetails") or row.get("Products") or []):
            quantity = int(to_decimal(item.get("Quantity"), Decimal(0)))
            if quantity < 1:
                continue
            unit = to_decimal(item.get("SellingPrice") or item.get("Price"), Decimal(0))
            item_status_raw = str(item.get("OrderStatusId") or raw_status)
            item_status = self._status_map.get(item_status_raw, status)
            lines.append(
                OrderLine(
                    line_id=str(item.get("Id") or item.get("OrderProductId") or index + 1),
                    merchant_sku=str(item.get("ProductCode") or item.get("StockCode")),
                    barcode=item.get("Barcode") or None,
                    product_name=item.get("ProductName") or None,
                    quantity=quantity,
                    unit_price=money(unit, currency),
                    line_total=money(to_decimal(item.get("Total"), unit * quantity), currency),
                    status=item_status,
                    raw_status=item_status_raw[:100],
                    cancelled_quantity=quantity if item_status is OrderStatus.CANCELLED else 0,
                    returned_quantity=quantity if item_status is OrderStatus.RETURNED else 0,
                )
            )
        if not lines:
            return None
        ordered = parse_local(str(row.get("OrderDate") or row.get("OrderDateTime")), DATE_FORMAT)
        updated_raw = row.get("UpdateDate") or row.get("UpdateDateTime")
        net = to_decimal(
            row.get("OrderTotalPrice") or row.get("TotalPrice"),
            sum((x.line_total.amount for x in lines), Decimal(0)),
        )
        return Order(
            platform=self.PLATFORM,
            store_id=self.store.store_id,
            order_number=str(row.get("OrderCode") or row.get("OrderId")),
            status=status,
            raw_status=raw_status[:100],
            ordered_at=ordered,
            last_modified_at=parse_local(str(updated_raw), DATE_FORMAT) if updated_raw else ordered,
            currency=currency,
            totals=OrderTotals(net=money(net, currency)),
            lines=lines,
        )

    async def _update_products(
        self, kind: str, skus: Sequence[str], rows: Sequence[dict[str, Any] | ItemOutcome]
    ) -> BatchHandle:
        """`product/updateProducts` with a JSON `data` array per chunk; the answer is final.

        A row that is already an `ItemOutcome` failed before sending and is not sent.
        """
        outcomes: dict[str, ItemOutcome] = {
            row.sku: row for row in rows if isinstance(row, ItemOutcome)
        }
        to_send = [row for row in rows if not isinstance(row, ItemOutcome)]
        for start in range(0, len(to_send), MAX_ITEMS):
            chunk = to_send[start : start + MAX_ITEMS]
            body = await self._call(
                "products", "/product/updateProducts", {"data": json.dumps(chunk)}, per_item=True
            )
            for outcome in _update_outcomes([str(r["ProductCode"]) for r in chunk], body):
                outcomes[outcome.sku] = outcome
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind=kind,
            skus=tuple(skus),
            outcomes=tuple(outcomes[sku] for sku in skus),
        )

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """Stock, selling and list price per product code."""
        rows: list[dict[str, Any] | ItemOutcome] = []
        for item in items:
            entry: dict[str, Any] = {"ProductCode": item.sku}
            if item.quantity is not None:
                entry["Stock"] = item.quantity
            if item.sale_price is not None:
                entry["SellingPrice"] = str(item.sale_price)
            if item.list_price is not None:
                entry["ListPrice"] = str(item.list_price)
            rows.append(entry)
        return await self._update_products("price_stock", [i.sku for i in items], rows)

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        """Product fields through the same `updateProducts` method (see `PRODUCT_FIELDS`)."""
        rows: list[dict[str, Any] | ItemOutcome] = []
        for item in items:
            unknown = sorted(set(item.fields) - set(PRODUCT_FIELDS))
            if unknown or not item.fields:
                rows.append(
                    ItemOutcome(
                        sku=item.sku,
                        state=OutcomeState.FAILED,
                        reason_code="unsupported_field" if unknown else "nothing_to_update",
                        message=", ".join(unknown) or None,
                    )
                )
                continue
            rows.append({"ProductCode": item.sku, **item.fields})
        return await self._update_products("product_info", [i.sku for i in items], rows)

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """Synchronous platform: the handle already holds the final outcomes."""
        return BatchResult(handle=handle, items=handle.outcomes or ())


def _update_outcomes(chunk: Sequence[str], data: Any) -> list[ItemOutcome]:
    """Per-item results: rows naming a ProductCode with success false are failures."""
    failures: dict[str, str] = {}
    for row in data if isinstance(data, list) else []:
        if not isinstance(row, dict):
            continue
        code = str(row.get("ProductCode") or "")
        if row.get("success") is False or row.get("Success") is False:
            failures[code] = str(row.get("code") or row.get("message") or "rejected")[:100]
    return [
        ItemOutcome(sku=sku, state=OutcomeState.FAILED, reason_code=failures[sku])
        if sku in failures
        else ItemOutcome(sku=sku, state=OutcomeState.ACCEPTED)
        for sku in chunk
    ]
