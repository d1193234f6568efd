"""Amazon Selling Partner API for amazon.com.tr (EU endpoint, marketplace A33AVAJ2PDY3EV)."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from kervan_contracts.identifiers import Platform
from kervan_contracts.orders.v1 import Order, OrderLine, OrderStatus, OrderTotals
from kervan_marketplaces.base import (
    AdapterBase,
    bucket,
    currency_code,
    decode_json,
    endpoint_limits,
    money,
    number,
    to_decimal,
)
from kervan_marketplaces.errors import (
    AuthRejected,
    MarketplaceError,
    RequestRejected,
    UnsafeBaseUrl,
)
from kervan_marketplaces.models import (
    AuthStyle,
    BatchHandle,
    BatchResult,
    Capabilities,
    CredentialCheck,
    ItemOutcome,
    OrderWindow,
    OutcomeState,
    PriceStockItem,
    ProductInfoItem,
    UpdateType,
)
from kervan_marketplaces.oauth import TokenCache, consent_url
from kervan_marketplaces.platforms import _status
from kervan_marketplaces.settings import IntegratorIdentity
from kervan_marketplaces.timeutil import parse_iso
from kervan_marketplaces.transport import Endpoint, PlatformHttp, default_classifier

MARKETPLACE_ID = "A33AVAJ2PDY3EV"
MIN_LAG = timedelta(minutes=2, seconds=5)  # *Before must be ≥ 2 min before the request
PAGE_SIZE = 100
FEED_THRESHOLD = 20
"""More price/stock items than this go as one JSON_LISTINGS_FEED instead of one PATCH each.

One PATCH per SKU at 5 rps is fine for a handful of changes; a feed costs four calls whatever its
size but createFeed allows only one per two minutes (burst 15), so small pushes stay on PATCH.
"""
FEED_CONTENT_TYPE = "application/json; charset=UTF-8"
DOCUMENT_HOST_SUFFIX = ".amazonaws.com"
"""Feed documents live behind pre-signed S3 URLs; no other host is ever sent a document."""
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_FEED_PENDING = frozenset({"IN_QUEUE", "IN_PROGRESS"})


def _lwa_classifier(response: httpx.Response) -> MarketplaceError | None:
    if response.status_code in (400, 401):
        try:
            code = str(response.json().get("error") or "invalid_grant")
        except ValueError:
            code = "invalid_grant"
        # invalid_grant = refresh token revoked/expired; invalid_client = our app's keys.
        return AuthRejected(
            "LWA refused the refresh", code=code, platform="amazon_tr", status=response.status_code
        )
    return default_classifier("amazon_tr")(response)


class AmazonAuth:
    """LWA refresh token → access token, cached until expiry, sent as `x-amz-access-token`."""

    def __init__(self, adapter: AmazonAdapter, cache: TokenCache) -> None:
        self._adapter = adapter
        self._cache = cache
        self._key = cache.key(adapter.http.store_key, adapter.secret("refresh_token"))

    async def headers(self, http: PlatformHttp) -> dict[str, str]:
        """Cached token, or a fresh one from LWA."""
        token = self._cache.get(self._key)
        if token is None:
            async with self._cache.lock(self._key):
                token = self._cache.get(self._key)
                if token is None:
                    token = await self._refresh(http)
        return {"x-amz-access-token": token}

    async def _refresh(self, http: PlatformHttp) -> str:
        ident = self._adapter.integrator
        response = await http.send(
            self._adapter.endpoint("lwa"),
            "POST",
            self._adapter.urls["lwa"],
            form={
                "grant_type": "refresh_token",
                "refresh_token": self._adapter.secret("refresh_token"),
                "client_id": ident.amazon_lwa_client_id.get_secret_value(),
                "client_secret": ident.amazon_lwa_client_secret.get_secret_value(),
            },
            classify=_lwa_classifier,
        )
        body = decode_json(response)
        token = str(body["access_token"])
        self._cache.put(self._key, token, float(body.get("expires_in") or 3600))
        return token

    async def renew(self, http: PlatformHttp) -> bool:
        """A 403 may be an expired token: drop it and try once with a fresh one."""
        had_token = self._cache.get(self._key) is not None
        self._cache.drop(self._key)
        return had_token


class AmazonAdapter(AdapterBase):
    """Orders v0 (getOrders + getOrderItems) and Listings Items PATCH."""

    PLATFORM = Platform.AMAZON_TR
    REQUIRED_CREDENTIALS = ("refresh_token",)
    ENDPOINTS: ClassVar[dict[str, tuple[Endpoint, str]]] = {
        "lwa": (
            Endpoint("amazon.lwa", bucket(1, 5)),
            "LWA token endpoint: not published; Kervan 1/s",
        ),
        "participations": (
            Endpoint("amazon.getMarketplaceParticipations", bucket(0.016, 15)),
            "0.016 rps, burst 15 [D, sellers.json]",
        ),
        "orders": (
            Endpoint("amazon.getOrders", bucket(0.0167, 20)),
            "0.0167 rps, burst 20 [D, ordersV0.json]",
        ),
        "order_items": (
            Endpoint("amazon.getOrderItems", bucket(0.5, 30)),
            "0.5 rps, burst 30 [D, ordersV0.json]",
        ),
        "listings_patch": (
            Endpoint("amazon.patchListingsItem", bucket(5, 5)),
            "5 rps, burst 5 [D, listingsItems_2021-08-01.json]",
        ),
        "create_feed_document": (
            Endpoint("amazon.createFeedDocument", bucket(0.5, 15)),
            "0.5 rps, burst 15 [D, feeds_2021-06-30.json]",
        ),
        "create_feed": (
            Endpoint("amazon.createFeed", bucket(0.0083, 15)),
            "0.0083 rps, burst 15 [D, feeds_2021-06-30.json]",
        ),
        "get_feed": (
            Endpoint("amazon.getFeed", bucket(2, 15)),
            "2 rps, burst 15 [D, feeds_2021-06-30.json]",
        ),
        "get_feed_document": (
            Endpoint("amazon.getFeedDocument", bucket(0.0222, 10)),
            "0.0222 rps, burst 10 [D, feeds_2021-06-30.json]",
        ),
        "document": (
            Endpoint("amazon.document", bucket(5, 5)),
            "pre-signed document upload/download: no SP-API limit; Kervan 5/s",
        ),
    }

    def __init__(
        self, *, token_cache: TokenCache, feed_threshold: int = FEED_THRESHOLD, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._auth = AmazonAuth(self, token_cache)
        self._feed_threshold = feed_threshold

    @classmethod
    def platform_capabilities(cls) -> Capabilities:
        """SP-API limits for the operations Kervan uses."""
        return Capabilities(
            platform=cls.PLATFORM.value,
            auth_style=AuthStyle.OAUTH_CONSENT,
            update_types=frozenset(UpdateType),
            fields={
                "price_stock": ("fulfillment_availability.quantity", "purchasable_offer.our_price"),
                "product_info": ("top-level attributes via JSON patch (productType required)",),
            },
            # One PATCH per SKU; above FEED_THRESHOLD one JSON_LISTINGS_FEED carries them all.
            max_items_per_request={"price_stock": 1, "product_info": 1},
            synchronous_updates=False,
            rate_limits=endpoint_limits(cls.ENDPOINTS),
            order_window=OrderWindow(
                max_window=None,
                max_history=None,
                max_page_size=PAGE_SIZE,
                min_lag=timedelta(minutes=2),
            ),
            has_sandbox=True,
        )

    def _url(self, path: str) -> str:
        return self.urls["api"] + path

    async def _get(self, endpoint: str, path: str, params: dict[str, Any]) -> Any:
        response = await self.http.send(
            self.endpoint(endpoint), "GET", self._url(path), params=params, auth=self._auth
        )
        return decode_json(response)

    async def _probe(self) -> None:
        await self._get("participations", "/sellers/v1/marketplaceParticipations", {})

    async def test_credentials(self) -> CredentialCheck:
        """LWA refresh, then getMarketplaceParticipations must list the TR marketplace."""
        try:
            body = await self._get("participations", "/sellers/v1/marketplaceParticipations", {})
        except (AuthRejected, RequestRejected) as exc:
            return CredentialCheck(valid=False, reason=exc.code, detail=exc.detail)
        ids = {
            str((entry.get("marketplace") or {}).get("id"))
            for entry in body.get("payload") or []
            if isinstance(entry, dict)
        }
        if MARKETPLACE_ID not in ids:
            return CredentialCheck(
                valid=False,
                reason="marketplace_not_participating",
                detail=f"seller does not sell on {MARKETPLACE_ID}",
            )
        return CredentialCheck(valid=True)

    async def list_orders(
        self, since: datetime, until: datetime | None = None
    ) -> AsyncIterator[Order]:
        """getOrders by LastUpdatedAfter/Before (Before ≥ 2 min in the past), NextToken pages."""
        since, until = self._bounds(since, until, min_lag=MIN_LAG)
        if since >= until:
            return
        params: dict[str, Any] = {
            "MarketplaceIds": MARKETPLACE_ID,
            "LastUpdatedAfter": since.strftime(_TIME),
            "LastUpdatedBefore": until.strftime(_TIME),
            "MaxResultsPerPage": PAGE_SIZE,
        }
        while True:
            body = await self._get("orders", "/orders/v0/orders", params)
            payload = body.get("payload") or {}
            for raw in payload.get("Orders") or []:
                order = await self._order(raw)
                if order is not None:
                    yield order
            next_token = payload.get("NextToken")
            if not next_token:
                return
            # NextToken carries the original filters; only the marketplace goes along with it.
            params = {"MarketplaceIds": MARKETPLACE_ID, "NextToken": next_token}

    async def _items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            body = await self._get(
                "order_items", f"/orders/v0/orders/{quote(order_id, safe='')}/orderItems", params
            )
            payload = body.get("payload") or {}
            items.extend(payload.get("OrderItems") or [])
            token = payload.get("NextToken")
            if not token:
                return items
            params = {"NextToken": token}

    async def _order(self, raw: dict[str, Any]) -> Order | None:
        order_id = str(raw["AmazonOrderId"])
        raw_status = str(raw.get("OrderStatus") or "")
        status = _status.lookup(_status.AMAZON, raw_status)
        total = raw.get("OrderTotal") or {}
        currency = currency_code(total.get("CurrencyCode"))
        lines = []
        for item in await self._items(order_id):
            quantity = int(item.get("QuantityOrdered") or 0)
            if quantity < 1:
                continue
            shipped = int(item.get("QuantityShipped") or 0)
            price = item.get("ItemPrice") or {}
            if price.get("CurrencyCode"):
                currency = currency_code(price.get("CurrencyCode"))
            line_total = to_decimal(
                price.get("Amount"), Decimal(0)
            )  # ItemPrice covers the quantity
            if status is OrderStatus.CANCELLED:
                line_status = OrderStatus.CANCELLED
            elif status in (OrderStatus.SHIPPED,) and shipped < quantity:
                line_status = OrderStatus.NEW  # PartiallyShipped: this line still waits
            else:
                line_status = status
            lines.append(
                OrderLine(
                    line_id=str(item["OrderItemId"]),
                    merchant_sku=str(item.get("SellerSKU") or item.get("ASIN")),
                    channel_sku=str(item["ASIN"]) if item.get("ASIN") else None,
                    product_name=(str(item["Title"])[:500] if item.get("Title") else None),
                    quantity=quantity,
                    unit_price=money(line_total / quantity, currency),
                    line_total=money(line_total, currency),
                    status=line_status,
                    raw_status=raw_status[:100],
                    cancelled_quantity=quantity if line_status is OrderStatus.CANCELLED else 0,
                )
            )
        if not lines:
            return None
        net = to_decimal(total.get("Amount"), sum((x.line_total.amount for x in lines), Decimal(0)))
        return Order(
            platform=self.PLATFORM,
            store_id=self.store.store_id,
            order_number=order_id,
            status=status,
            raw_status=raw_status[:100],
            ordered_at=parse_iso(str(raw["PurchaseDate"])),
            last_modified_at=parse_iso(str(raw.get("LastUpdateDate") or raw["PurchaseDate"])),
            currency=currency,
            totals=OrderTotals(net=money(net, currency)),
            lines=lines,
        )

    def _listing_path(self, sku: str) -> str:
        seller = quote(self.store.seller_id, safe="")
        return f"/listings/2021-08-01/items/{seller}/{quote(sku, safe='')}"

    async def _patch(
        self, sku: str, product_type: str, patches: list[dict[str, Any]]
    ) -> ItemOutcome:
        try:
            response = await self.http.send(
                self.endpoint("listings_patch"),
                "PATCH",
                self._url(self._listing_path(sku)),
                params={"marketplaceIds": MARKETPLACE_ID},
                json_body={"productType": product_type, "patches": patches},
                auth=self._auth,
            )
        except RequestRejected as exc:
            return ItemOutcome(
                sku=sku, state=OutcomeState.FAILED, reason_code=exc.code, message=exc.detail
            )
        body = decode_json(response)
        errors = [i for i in body.get("issues") or [] if str(i.get("severity")) == "ERROR"]
        if str(body.get("status")) == "ACCEPTED" and not errors:
            # ACCEPTED means queued for processing: Amazon applies it asynchronously.
            return ItemOutcome(
                sku=sku,
                state=OutcomeState.ACCEPTED,
                message=f"submissionId={body.get('submissionId')}",
            )
        first = errors[0] if errors else {}
        return ItemOutcome(
            sku=sku,
            state=OutcomeState.FAILED,
            reason_code=str(first.get("code") or body.get("status") or "INVALID"),
            message=str(first.get("message") or "")[:500] or None,
        )

    @staticmethod
    def _price_stock_patches(item: PriceStockItem) -> list[dict[str, Any]]:
        """Merge the stock (quantity alone is allowed), replace the offer price."""
        patches: list[dict[str, Any]] = []
        if item.quantity is not None:
            patches.append(
                {
                    "op": "merge",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": item.quantity}],
                }
            )
        if item.sale_price is not None:
            patches.append(
                {
                    "op": "replace",
                    "path": "/attributes/purchasable_offer",
                    "value": [
                        {
                            "marketplace_id": MARKETPLACE_ID,
                            "currency": item.currency,
                            "our_price": [
                                {"schedule": [{"value_with_tax": number(item.sale_price)}]}
                            ],
                        }
                    ],
                }
            )
        return patches

    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """One Listings Items PATCH per SKU (outcomes at once), or one feed for a large push."""
        if len(items) > self._feed_threshold:
            return await self._push_feed(items)
        outcomes = []
        for item in items:
            patches = self._price_stock_patches(item)
            if not patches:
                outcomes.append(
                    ItemOutcome(
                        sku=item.sku, state=OutcomeState.FAILED, reason_code="nothing_to_update"
                    )
                )
                continue
            outcomes.append(await self._patch(item.sku, "PRODUCT", patches))
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="price_stock",
            skus=tuple(i.sku for i in items),
            outcomes=tuple(outcomes),
        )

    def _document_url(self, url: str) -> str:
        """A document URL from Amazon: S3 over https, or the configured API origin (simulator)."""
        parsed = httpx.URL(url)
        api = httpx.URL(self.urls["api"])
        same_origin = (parsed.scheme, parsed.host, parsed.port) == (api.scheme, api.host, api.port)
        s3 = parsed.scheme == "https" and parsed.host.endswith(DOCUMENT_HOST_SUFFIX)
        if not (same_origin or s3):
            raise UnsafeBaseUrl("document_host_not_allowed", "feed document URL host refused")
        return url

    async def _push_feed(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """JSON_LISTINGS_FEED: create a document, upload the messages, create the feed."""
        messages: list[dict[str, Any]] = []
        message_skus: dict[str, str] = {}
        prefailed: dict[str, str] = {}
        for item in items:
            patches = self._price_stock_patches(item)
            if not patches:
                prefailed[item.sku] = "nothing_to_update"
                continue
            message_id = len(messages) + 1
            message_skus[str(message_id)] = item.sku
            messages.append(
                {
                    "messageId": message_id,
                    "sku": item.sku,
                    "operationType": "PATCH",
                    "productType": "PRODUCT",
                    "patches": patches,
                }
            )
        refs: dict[str, str] = {}
        if messages:
            feed = {
                "header": {
                    "sellerId": self.store.seller_id,
                    "version": "2.0",
                    "issueLocale": "en_US",
                },
                "messages": messages,
            }
            document = decode_json(
                await self.http.send(
                    self.endpoint("create_feed_document"),
                    "POST",
                    self._url("/feeds/2021-06-30/documents"),
                    json_body={"contentType": FEED_CONTENT_TYPE},
                    auth=self._auth,
                )
            )
            # The upload URL is pre-signed: it takes no SP-API token.
            await self.http.send(
                self.endpoint("document"),
                "PUT",
                self._document_url(str(document["url"])),
                content=json.dumps(feed).encode(),
                headers={"Content-Type": FEED_CONTENT_TYPE},
            )
            created = decode_json(
                await self.http.send(
                    self.endpoint("create_feed"),
                    "POST",
                    self._url("/feeds/2021-06-30/feeds"),
                    json_body={
                        "feedType": "JSON_LISTINGS_FEED",
                        "marketplaceIds": [MARKETPLACE_ID],
                        "inputFeedDocumentId": str(document["feedDocumentId"]),
                    },
                    auth=self._auth,
                )
            )
            refs["feed"] = str(created["feedId"])
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="price_stock",
            refs=refs,
            skus=tuple(i.sku for i in items),
            context={"messages": message_skus, "prefailed": prefailed},
        )

    async def _feed_result(self, handle: BatchHandle) -> BatchResult:
        """getFeed until DONE, then the result document's issues per messageId."""
        prefailed: dict[str, str] = handle.context.get("prefailed", {})
        message_skus: dict[str, str] = handle.context.get("messages", {})
        failures: dict[str, ItemOutcome] = {
            sku: ItemOutcome(sku=sku, state=OutcomeState.FAILED, reason_code=code)
            for sku, code in prefailed.items()
        }
        state = OutcomeState.ACCEPTED
        if "feed" in handle.refs:
            feed = decode_json(
                await self.http.send(
                    self.endpoint("get_feed"),
                    "GET",
                    self._url(f"/feeds/2021-06-30/feeds/{quote(handle.refs['feed'], safe='')}"),
                    auth=self._auth,
                )
            )
            status = str(feed.get("processingStatus") or "")
            if status in _FEED_PENDING:
                state = OutcomeState.PENDING
            elif status != "DONE" or not feed.get("resultFeedDocumentId"):
                # CANCELLED or FATAL: nothing of the feed was applied.
                for fed in message_skus.values():
                    failures[fed] = ItemOutcome(
                        sku=fed, state=OutcomeState.FAILED, reason_code=f"feed_{status.lower()}"
                    )
            else:
                report = await self._result_document(str(feed["resultFeedDocumentId"]))
                for issue in report.get("issues") or []:
                    if not isinstance(issue, dict) or issue.get("severity") != "ERROR":
                        continue
                    found = message_skus.get(str(issue.get("messageId")))
                    if found is not None and found not in failures:
                        failures[found] = ItemOutcome(
                            sku=found,
                            state=OutcomeState.FAILED,
                            reason_code=str(issue.get("code") or "ERROR"),
                            message=str(issue.get("message") or "")[:500] or None,
                        )
        items = tuple(failures.get(sku) or ItemOutcome(sku=sku, state=state) for sku in handle.skus)
        return BatchResult(handle=handle, items=items)

    async def _result_document(self, document_id: str) -> dict[str, Any]:
        meta = decode_json(
            await self.http.send(
                self.endpoint("get_feed_document"),
                "GET",
                self._url(f"/feeds/2021-06-30/documents/{quote(document_id, safe='')}"),
                auth=self._auth,
            )
        )
        response = await self.http.send(
            self.endpoint("document"), "GET", self._document_url(str(meta["url"]))
        )
        content = response.content
        if str(meta.get("compressionAlgorithm") or "").upper() == "GZIP":
            content = gzip.decompress(content)
        try:
            report = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestRejected(
                "feed result document is not JSON", code="malformed_response", platform="amazon_tr"
            ) from exc
        return report if isinstance(report, dict) else {}

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        """Replace top-level attributes with a PATCH per SKU (productType required)."""
        outcomes = []
        for item in items:
            patches = [
                {"op": "replace", "path": f"/attributes/{name}", "value": value}
                for name, value in item.fields.items()
            ]
            outcomes.append(await self._patch(item.sku, item.product_type or "PRODUCT", patches))
        return BatchHandle(
            platform=self.PLATFORM.value,
            kind="product_info",
            skus=tuple(i.sku for i in items),
            outcomes=tuple(outcomes),
        )

    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """PATCH answers are final per request (ACCEPTED or INVALID); feeds are read back."""
        if handle.outcomes is not None:
            return BatchResult(handle=handle, items=handle.outcomes)
        return await self._feed_result(handle)


class AmazonAuthorization:
    """Seller consent (website authorisation workflow) and the code → refresh-token exchange."""

    def __init__(
        self, *, urls: dict[str, str], http: PlatformHttp, integrator: IntegratorIdentity
    ) -> None:
        self._urls = urls
        self._http = http
        self._integrator = integrator

    def consent_url(self, state: str) -> str:
        """Where to send the seller.

        Amazon returns to the redirect URI with `state`, `selling_partner_id` and
        `spapi_oauth_code`.
        """
        params = {
            "application_id": self._integrator.amazon_application_id,
            "state": state,
        }
        if self._integrator.oauth_redirect_uri:
            params["redirect_uri"] = self._integrator.oauth_redirect_uri
        if self._integrator.amazon_app_is_draft:
            params["version"] = "beta"  # a Draft app without it fails with MD1000
        return consent_url(self._urls["consent"], params)

    async def exchange_code(self, code: str) -> dict[str, str]:
        """`spapi_oauth_code` → `{refresh_token}` (store it in the vault; never log it)."""
        response = await self._http.send(
            AmazonAdapter.ENDPOINTS["lwa"][0],
            "POST",
            self._urls["lwa"],
            form={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._integrator.oauth_redirect_uri,
                "client_id": self._integrator.amazon_lwa_client_id.get_secret_value(),
                "client_secret": self._integrator.amazon_lwa_client_secret.get_secret_value(),
            },
            classify=_lwa_classifier,
        )
        body = decode_json(response)
        return {"refresh_token": str(body["refresh_token"])}
