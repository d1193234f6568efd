"""IdeaSoft Admin API (per store: https://<store>/admin-api, OAuth2 authorisation code)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from kervan_contracts.identifiers import Platform
from kervan_contracts.orders.v1 import Order, OrderBuyer, OrderLine, OrderStatus, OrderTotals
from kervan_marketplaces.base import (
    AdapterBase,
    currency_code,
    decode_json,
    endpoint_limits,
    money,
    number,
    rate,
    to_decimal,
)
from kervan_marketplaces.errors import AuthRejected, MarketplaceError, RequestRejected
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
from kervan_marketplaces.oauth import TokenCache, consent_url
from kervan_marketplaces.platforms import _status
from kervan_marketplaces.timeutil import format_local, parse_iso
from kervan_marketplaces.transport import Endpoint, PlatformHttp, default_classifier

PRODUCT_PAGE = 100
PAGE_SIZE = 100
_LIMIT = "not documented [U]; Kervan assumes 2 req/s per store"

TokenSink = Callable[[str, Mapping[str, SecretStr]], Awaitable[None]]
"""Called with (store_id, {access_token, refresh_token}) after a refresh, to persist them."""


def _token_classifier(response: httpx.Response) -> MarketplaceError | None:
    if response.status_code in (400, 401):
        return AuthRejected(
            "IdeaSoft refused the token request",
            code="invalid_grant",
            platform="ideasoft",
            status=response.status_code,
        )
    return default_classifier("ideasoft")(response)


class IdeaSoftAuth:
    """Bearer access token; on a 401 the refresh token buys one new access token."""

    def __init__(self, adapter: IdeaSoftAdapter, cache: TokenCache, sink: TokenSink | None) -> None:
        self._adapter = adapter
        self._cache = cache
        self._sink = sink
        creds = adapter.store.credentials
        self._refresh_token = (
            creds["refresh_token"].get_secret_value() if "refresh_token" in creds else ""
        )
        self._key = cache.key(
            adapter.http.store_key, self._refresh_token or adapter.secret("client_id")
        )
        if "access_token" in creds:
            # A token fresh from consent: use it until the platform says otherwise.
            cache.put(self._key, creds["access_token"].get_secret_value(), expires_in=3600.0 + 60.0)

    async def headers(self, http: PlatformHttp) -> dict[str, str]:
        """Bearer header, refreshing first when no token is cached."""
        token = self._cache.get(self._key)
        if token is None:
            async with self._cache.lock(self._key):
                token = self._cache.get(self._key) or await self._refresh(http)
        return {"Authorization": f"Bearer {token}"}

    async def _refresh(self, http: PlatformHttp) -> str:
        if not self._refresh_token:
            raise AuthRejected(
                "no refresh token: the store must be authorised again",
                code="consent_required",
                platform="ideasoft",
            )
        response = await http.send(
            self._adapter.endpoint("token"),
            "POST",
            self._adapter.token_url,
            form={
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token,
                "client_id": self._adapter.secret("client_id"),
                "client_secret": self._adapter.secret("client_secret"),
            },
            classify=_token_classifier,
        )
        body = decode_json(response)
        token = str(body["access_token"])
        self._refresh_token = str(body.get("refresh_token") or self._refresh_token)
        self._cache.put(self._key, token, float(body.get("expires_in") or 3600))
        if self._sink is not None:
            await self._sink(
                self._adapter.store.store_id,
                {"access_token": SecretStr(token), "refresh_token": SecretStr(self._refresh_token)},
            )
        return token

    async def renew(self, http: PlatformHttp) -> bool:
        """401: drop the access token and refresh once."""
        self._cache.drop(self._key)
        return bool(self._refresh_token)


class IdeaSoftAdapter(AdapterBase):
    """Orders by id cursor (no updated-since filter exists); price/stock by product PUT."""

    PLATFORM = Platform.IDEASOFT
    REQUIRED_CREDENTIALS = ("client_id", "client_secret")
    ENDPOINTS: ClassVar[dict[str, tuple[Endpoint, str]]] = {
        "token": (Endpoint("ideasoft.token", rate(5, 5)), _LIMIT),
        "orders": (Endpoint("ideasoft.orders", rate(10, 5)), _LIMIT),
        "products": (Endpoint("ideasoft.products", rate(10, 5)), _LIMIT),
    }

    def __init__(
        self, *, token_cache: TokenCache, token_sink: TokenSink | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._auth = IdeaSoftAuth(self, token_cache, token_sink)

    @property
    def token_url(self) -> str:
        """OAuth token endpoint of this store."""
        return self.urls["api"] + "/oauth/v2/token"

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """Where the store owner approves Kervan (`/panel/auth`)."""
        return consent_url(
            self.urls["api"] + "/panel/auth",
            {
                "response_type": "code",
                "client_id": self.secret("client_id"),
                "redirect_uri": redirect_uri,
                "state": state,
            },
        )

    async def exchange_code(self, *, code: str, redirect_uri: str) -> dict[str, SecretStr]:
        """Authorisation code → access and refresh tokens (persist them; never log them)."""
        response = await self.http.send(
            self.endpoint("token"),
            "POST",
            self.token_url,
            form={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.secret("client_id"),
                "client_secret": self.secret("client_secret"),
            },
            classify=_token_classifier,
        )
        body = decode_json(response)
        return {
            "access_token": SecretStr(str(body["access_token"])),
            "refresh_token": SecretStr(str(body.get("refresh_token") or "")),
        }

    @classmethod
    def platform_capabilities(cls) -> Capabilities:
        """IdeaSoft: synchronous, one product per request."""
        return Capabilities(
            platform=cls.PLATFORM.value,
            auth_style=AuthStyle.OAUTH_CONSENT,
            update_types=frozenset(UpdateType),
            fields={
                "price_stock": ("price1", "stockAmount"),
                "product_info": ("name", "description", "barcode", "status"),
            },
            max_items_per_request={"price_stock": 1, "product_info": 1},
            synchronous_updates=True,
            rate_limits=endpoint_limits(cls.ENDPOINTS),
            order_window=OrderWindow(max_window=None, max_history=None, max_page_size=PAGE_SIZE),
            has_sandbox=False,
        )

    def _url(self, path: str) -> str:
        return self.urls["api"] + "/admin-api" + path

    async def _call(self, endpoint: str, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.send(
            self.endpoint(endpoint), method, self._url(path), auth=self._auth, **kwargs
        )
        return decode_json(response)

    async def _probe(self) -> None:
        await self._call("products", "GET", "/products", params={"limit": 1})

    async def list_listings(self) -> AsyncIterator[ListingRef]:
        """GET /products, pages of 100: SKU, barcode and the product id the updates take."""
        page = 1
        while True:
            body = await self._call(
                "products", "GET", "/products", params={"page": page, "limit": PRODUCT_PAGE}
            )
            rows = body if isinstance(body, list) else (body.get("data") or [])
            for row in rows:
                if row.get("sku") and row.get("id") is not None:
                    barcode = row.get("barcode")
                    yield ListingRef(
                        sku=str(row["sku"]),
                        barcode=str(barcode) if barcode else None,
                        platform_sku=str(row["id"]),
                        product_id=str(row["id"]),
                    )
            if len(rows) < PRODUCT_PAGE:
                return
            page += 1

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        """Orders created in [since, until): day filter on the server, `sinceId` cursor, exact
        filter here. IdeaSoft has no updated-since filter; later changes arrive by webhooks or a
        re-read of a recent window."""
        since, until = self._bounds(since, until)
        cursor = 0
        while True:
            params: dict[str, Any] = {
                "limit": PAGE_SIZE,
                "sort": "id",
                "sinceId": cursor or None,
                # Whole Türkiye days: from 21:00 UTC the shop's date is already tomorrow's.
                "startCreatedAt": format_local(since, "%Y-%m-%d"),
                "endCreatedAt": format_local(until, "%Y-%m-%d"),
            }
            body = await self._call("orders", "GET", "/orders", params=params)
            rows = body if isinstance(body, list) else (body.get("data") or body.get("items") or [])
            for row in rows:
                created = parse_iso(str(row.get("createdAt")))
                if since <= created < until:
                    order = self._order(row)
                    if order is not None:
                        yield order
            if len(rows) < PAGE_SIZE:
                return
            cursor = max(int(r["id"]) for r in rows)

    def _order(self, row: dict[str, Any]) -> Order | None:
        currency = currency_code(row.get("currency"))
        raw_status = str(row.get("status") or "")
        status = _status.lookup(_status.IDEASOFT, raw_status)
        lines = []
        for item in row.get("orderItems") or []:
            quantity = int(
                to_decimal(item.get("productQuantity") or item.get("quantity"), Decimal(0))
            )
            if quantity < 1:
                continue
            unit = to_decimal(item.get("productPrice") or item.get("price"), Decimal(0))
            lines.append(
                OrderLine(
                    line_id=str(item["id"]),
                    merchant_sku=str(item.get("productSku") or item.get("sku")),
                    barcode=item.get("productBarcode") or None,
                    product_name=item.get("productName") or None,
                    quantity=quantity,
                    unit_price=money(unit, currency),
                    line_total=money(unit * quantity, currency),
                    status=status,
                    raw_status=raw_status[:100],
                    cancelled_quantity=quantity if status is OrderStatus.CANCELLED else 0,
                    returned_quantity=quantity if status is OrderStatus.RETURNED else 0,
                )
            )
        if not lines:
            return None
        net = to_decimal(
            row.get("finalAmount") or row.get("amount"),
            sum((x.line_total.amount for x in lines), Decimal(0)),
        )
        name = (
            " ".join(filter(None, [row.get("customerFirstname"), row.get("customerSurname")]))
            or None
        )
        return Order(
            platform=self.PLATFORM,
            store_id=self.store.store_id,
            # transactionId is the order code the shop and the buyer see; id is internal.
            order_number=str(row.get("transactionId") or row["id"]),
            status=status,
            raw_status=raw_status[:100],
            ordered_at=parse_iso(str(row["createdAt"])),
            last_modified_at=parse_iso(str(row.get("updatedAt") or row["createdAt"])),
            currency=currency,
            totals=OrderTotals(net=money(net, currency)),
            buyer=OrderBuyer(name=name[:200]) if name else None,
            lines=lines,
        )

    async def _product_id(self, item_sku: str, known: str | None) -> str | None:
        if known:
            return known
        body = await self._call(
            "products", "GET", "/products", params={"sku": item_sku, "limit": 1}
        )
        rows = body if isinstance(body, list) else (body.get("data") or [])
        matches = [r for r in rows if str(r.get("sku")) == item_sku]
        return str(matches[0]["id"]) if matches else None

    async def _put(self, sku: str, known_id: str | None, fields: dict[str, Any]) -> ItemOutcome:
        try:
            product_id = await self._product_id(sku, known_id)
            if product_id is None:
                return ItemOutcome(
                    sku=sku, state=OutcomeState.FAILED, reason_code="product_not_found"
                )
            await self._call("products", "PUT", f"/products/{product_id}", json_body=fields)
        except RequestRejected as exc:
            return ItemOutcome(
                sku=sku, state=OutcomeState.FAILED, reason_code=exc.code, message=exc.detail
            )
        return ItemOutcome(sku=sku, state=OutcomeState.ACCEPTED)

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """PUT each product (looked up by SKU); final outcomes at once."""
        outcomes = []
        for item in items:
            fields: dict[str, Any] = {}
            if item.sale_price is not None:
                fields["price1"] = number(item.sale_price)
            if item.quantity is not None:
                fields["stockAmount"] = item.quantity
            outcomes.append(await self._put(item.sku, item.platform_sku, fields))
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="price_stock",
            skus=tuple(i.sku for i in items),
            outcomes=tuple(outcomes),
        )

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        """PUT product fields; final outcomes at once."""
        outcomes = [await self._put(i.sku, i.platform_sku, dict(i.fields)) for i in items]
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="product_info",
            skus=tuple(i.sku for i in items),
            outcomes=tuple(outcomes),
        )

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """Synchronous platform: the handle already holds the final outcomes."""
        return BatchResult(handle=handle, items=handle.outcomes or ())
