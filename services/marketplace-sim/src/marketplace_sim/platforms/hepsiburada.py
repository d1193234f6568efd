"""Hepsiburada merchant APIs (oms-external, listing-external) served under one prefix."""

from __future__ import annotations

import math
import uuid
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from marketplace_sim.common import (
    DAY_MS,
    BadParameterError,
    basic_credentials,
    build_item,
    decimal_value,
    int_param,
    istanbul_text,
    money,
    parse_istanbul,
    submit_batch,
)
from marketplace_sim.ratelimit import BucketDecision, RateLimit
from marketplace_sim.runtime import (
    AuthResult,
    Call,
    Endpoint,
    PlatformSpec,
    Simulator,
    json_response,
)
from marketplace_sim.state import Account, Batch, BatchItem, Listing, SimLine, SimPackage

PLATFORM = "hepsiburada"
# Documented for OMS: 1000 requests per second, then 429 with X-RateLimit-* headers.
LIMIT = RateLimit(rate=1000.0, burst=1000)
DATE_FORMAT = "%Y-%m-%d %H:%M"
ISO_LOCAL = "%Y-%m-%dT%H:%M:%S+03:00"
HOUR_MS = 3_600_000
MAX_UPLOAD_ITEMS = 4000
MAX_PENDING_UPLOADS = 5
CANCELLED = frozenset({"CancelledByMerchant", "CancelledByCustomer", "CancelledBySap"})
_GUID_NS = uuid.UUID("0b7f1f52-7d44-4a37-8d2b-1f3c2f6d6e21")


def _guid(kind: str, number: int) -> str:
    return str(uuid.uuid5(_GUID_NS, f"{kind}-{number}"))


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"message": message}, status, headers)


def _errors(status: int, code: str, message: str) -> Response:
    return json_response({"errors": [{"code": code, "message": message}]}, status)


def _authenticate(request: Request, sim: Simulator) -> AuthResult:
    merchant_id = request.path_params.get("merchantId", "")
    account = sim.state.find(PLATFORM, "merchant_id", merchant_id)
    creds = basic_credentials(request.headers.get("authorization"))
    if (
        account is None
        or creds is None
        or creds != (account.credentials["merchant_id"], account.credentials["service_key"])
        or sim.revoked(account)
    ):
        return AuthResult(account, _message(401, "Unauthorized"))
    if not request.headers.get("user-agent"):
        # User-Agent carries the integrator's developer username; the bot manager refuses none.
        return AuthResult(account, _message(403, "Forbidden: User-Agent is required"))
    return AuthResult(account)


def _limit_headers(decision: BucketDecision, limit: RateLimit) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit.burst),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(max(1, math.ceil(decision.retry_after))),
    }


def _throttled(decision: BucketDecision, limit: RateLimit | None) -> Response:
    effective = limit or LIMIT
    return _message(429, "Too Many Requests", _limit_headers(decision, effective))


def _server_error(status: int) -> Response:
    return _message(status, "Service Unavailable")


def _line_json(account: Account, pkg: SimPackage, line: SimLine, status: str) -> dict[str, Any]:
    listing = account.listings.get(line.sku)
    total = line.unit_price * line.active_quantity
    return {
        "id": _guid("line", line.line_id),
        "sku": listing.platform_sku if listing else f"HBV{line.line_id:011d}",
        "merchantSku": line.sku,
        "productBarcode": line.barcode,
        "productName": line.product_name,
        "orderId": _guid("order", pkg.package_id),
        "orderNumber": pkg.order_number,
        "orderDate": istanbul_text(pkg.created_ms, ISO_LOCAL),
        "dueDate": istanbul_text(pkg.created_ms + 2 * DAY_MS, ISO_LOCAL),
        "lastStatusUpdateDate": istanbul_text(pkg.modified_ms, ISO_LOCAL),
        "quantity": line.active_quantity if status not in CANCELLED else line.quantity,
        "unitPrice": {"currency": line.currency, "amount": money(line.unit_price)},
        "totalPrice": {"currency": line.currency, "amount": money(total)},
        "vat": money(total * Decimal("0.20") / Decimal("1.20")),
        "vatRate": 20,
        "commission": {"currency": line.currency, "amount": money(total * Decimal("0.15"))},
        "status": status,
        "isCancellable": status == "Open",
        "customerId": _guid("customer", pkg.package_id),
        "customerName": "Deneme Alici",
        "shippingAddress": {
            "name": "Deneme Alici",
            "address": "Ornek Mah. 1. Sok. No:1",
            "town": "Kadikoy",
            "city": "Istanbul",
            "countryCode": "TR",
        },
        "invoice": {"turkishIdentityNumber": "11111111111", "taxNumber": ""},
        "cargoCompanyModel": {"id": 1, "name": "Hepsijet", "shortName": "HX"},
        "creationReason": "OrderCreated",
    }


def _window(call: Call, default_days: int) -> tuple[int, int]:
    query = call.request.query_params
    begin_raw, end_raw = query.get("begindate"), query.get("enddate")
    if begin_raw is None and end_raw is None:
        return call.now_ms - default_days * DAY_MS, call.now_ms
    begin = parse_istanbul(begin_raw or "", DATE_FORMAT, "begindate")
    end = parse_istanbul(end_raw, DATE_FORMAT, "enddate") if end_raw else begin + DAY_MS
    # A range longer than a day silently becomes begindate + 24 h.
    return begin, min(end, begin + DAY_MS)


def _paging(call: Call, max_limit: int) -> tuple[int, int]:
    query = call.request.query_params
    if query.get("limit") is None or query.get("offset") is None:
        raise BadParameterError("Bad Request limit and offset parameters are required")
    limit = int_param(query.get("limit"), "limit", max_limit, 1, max_limit)
    offset = int_param(query.get("offset"), "offset", 0)
    return offset, limit


async def _line_list(call: Call, statuses: frozenset[str], max_limit: int, days: int) -> Response:
    try:
        offset, limit = _paging(call, max_limit)
        start, end = _window(call, days)
    except BadParameterError as exc:
        return _message(400, str(exc))
    account = call.acct
    book = account.orders
    lines: list[dict[str, Any]] = []
    for _, pid in book.modified_between(start, end, statuses):
        pkg = book.packages[pid]
        lines.extend(
            _line_json(account, pkg, x, pkg.status) for x in pkg.lines if x.active_quantity
        )
    return _envelope(call, lines, offset, limit)


def _envelope(call: Call, items: list[dict[str, Any]], offset: int, limit: int) -> Response:
    total = len(items)
    return call.json(
        {
            "totalCount": total,
            "limit": limit,
            "offset": offset,
            "pageCount": (total + limit - 1) // limit,
            "items": items[offset : offset + limit],
        }
    )


async def list_open_orders(call: Call) -> Response:
    """GET /orders/merchantid/{merchantId}: paid lines not yet packaged."""
    return await _line_list(call, frozenset({"Open"}), 100, 30)


async def list_payment_awaiting(call: Call) -> Response:
    """GET /orders/merchantid/{merchantId}/paymentawaiting."""
    return await _line_list(call, frozenset({"PaymentAwaiting"}), 100, 30)


async def list_cancelled(call: Call) -> Response:
    """GET /orders/merchantid/{merchantId}/cancelled: last month, limit at most 50."""
    try:
        offset, limit = _paging(call, 50)
        start, end = _window(call, 30)
    except BadParameterError as exc:
        return _message(400, str(exc))
    account = call.acct
    book = account.orders
    items = []
    for _, pid in book.modified_between(start, end):
        pkg = book.packages[pid]
        for line in pkg.lines:
            if pkg.status in CANCELLED:
                items.append(_line_json(account, pkg, line, pkg.status))
            elif line.cancelled:
                item = _line_json(account, pkg, line, "CancelledByCustomer")
                item["quantity"] = line.cancelled
                items.append(item)
    return _envelope(call, items, offset, limit)


async def get_order_detail(call: Call) -> Response:
    """GET /orders/merchantid/{merchantId}/ordernumber/{orderNumber}."""
    account = call.acct
    packages = account.orders.of_order(call.path_params["orderNumber"])
    if not packages:
        return _message(404, "Order not found")
    pkg = packages[-1]
    items = []
    for line in pkg.lines:
        status = "CancelledByCustomer" if line.active_quantity == 0 else pkg.status
        item = _line_json(account, pkg, line, status)
        item["lineItemId"] = item["id"]
        items.append(item)
    return call.json(
        {
            "orderId": _guid("order", pkg.package_id),
            "orderNumber": pkg.order_number,
            "orderDate": istanbul_text(pkg.created_ms, ISO_LOCAL),
            "status": pkg.status,
            "items": items,
        }
    )


def _package_json(account: Account, pkg: SimPackage) -> dict[str, Any]:
    items = []
    for line in pkg.lines:
        if not line.active_quantity:
            continue
        listing = account.listings.get(line.sku)
        items.append(
            {
                "lineItemId": _guid("line", line.line_id),
                "hbSku": listing.platform_sku if listing else f"HBV{line.line_id:011d}",
                "merchantSku": line.sku,
                "quantity": line.active_quantity,
                "price": {"amount": money(line.unit_price), "currency": line.currency},
                "vatRate": 20,
                "orderNumber": pkg.order_number,
                "productBarcode": line.barcode,
            }
        )
    return {
        "id": _guid("package", pkg.package_id),
        "packageNumber": str(pkg.package_id),
        "barcode": pkg.cargo_tracking_number,
        "status": pkg.status,
        "orderNumber": pkg.order_number,
        "orderDate": istanbul_text(pkg.created_ms, ISO_LOCAL),
        "lastStatusUpdateDate": istanbul_text(pkg.modified_ms, ISO_LOCAL),
        "dueDate": istanbul_text(pkg.created_ms + 2 * DAY_MS, ISO_LOCAL),
        "cargoCompany": "Hepsijet",
        "items": items,
    }


def _packages(status: str) -> Any:
    async def handler(call: Call) -> Response:
        query = call.request.query_params
        try:
            offset, limit = _paging(call, 10)
            if (timespan := query.get("timespan")) is not None:
                hours = int_param(timespan, "timespan", 24, 1, 24 * 30)
                start, end = call.now_ms - hours * HOUR_MS, call.now_ms
            else:
                start, end = _window(call, 30)
        except BadParameterError as exc:
            return _message(400, str(exc))
        account = call.acct
        keys = account.orders.modified_between(start, end, frozenset({status}))
        chunk = keys[offset : offset + limit]
        body = [_package_json(account, account.orders.packages[pid]) for _, pid in chunk]
        # Paging numbers of package lists travel in headers, not in the body.
        call.headers_out.update(
            {
                "X-Total-Count": str(len(keys)),
                "X-Offset": str(offset),
                "X-Limit": str(limit),
                "X-Page-Count": str((len(keys) + limit - 1) // limit),
            }
        )
        return call.json(body)

    return handler


def _find_listing(account: Account, raw: dict[str, Any]) -> Listing | None:
    sku = raw.get("merchantSku")
    if isinstance(sku, str) and sku in account.listings:
        return account.listings[sku]
    hb_sku = raw.get("hepsiburadaSku")
    if isinstance(hb_sku, str) and hb_sku in account.listing_by_platform_sku:
        return account.listings[account.listing_by_platform_sku[hb_sku]]
    return None


def _upload(kind: str) -> Any:
    async def handler(call: Call) -> Response:
        account = call.acct
        try:
            body = await call.request.json()
        except ValueError:
            return _errors(400, "InvalidRequest", "request body is not JSON")
        if not isinstance(body, list) or not body:
            return _errors(400, "InvalidRequest", "body must be a non-empty array")
        if len(body) > MAX_UPLOAD_ITEMS:
            return _errors(400, "TooManyItems", f"at most {MAX_UPLOAD_ITEMS} items per upload")
        ongoing = sum(
            1
            for b in account.batches.values()
            if not b.done and b.kind in {"price-uploads", "stock-uploads", "inventory-uploads"}
        )
        if ongoing >= MAX_PENDING_UPLOADS:
            return _errors(429, "TooManyOngoingUploads", "too many ongoing/waiting uploads")
        seen: set[str] = set()
        items: list[BatchItem] = []
        locks: dict[int, dict[str, Any]] = {}
        for number, raw in enumerate(body, start=1):
            item, lock = _upload_item(call, kind, raw, seen)
            if lock is not None:
                locks[number] = lock
            items.append(item)
        batch = submit_batch(call, kind, items, extra={"locks": locks})
        return call.json({"id": batch.batch_id})

    return handler


def _upload_item(
    call: Call, kind: str, raw: Any, seen: set[str]
) -> tuple[BatchItem, dict[str, Any] | None]:
    account = call.acct
    if not isinstance(raw, dict):
        return build_item(
            call, raw, None, {}, ["InvalidRequest"], not_found="ProductNotFound"
        ), None
    listing = _find_listing(account, raw)
    reasons: list[str] = []
    changes: dict[str, Any] = {}
    lock: dict[str, Any] | None = None
    key = str(raw.get("merchantSku") or raw.get("hepsiburadaSku"))
    if key in seen:
        reasons.append("DuplicateMerchantSkuSpecified")
    seen.add(key)
    if kind == "price-uploads":
        price = decimal_value(raw.get("price"))
        if price is None or price <= 0:
            reasons.append("InvalidPrice")
        else:
            changes["price"] = price
            if listing is not None:
                lock = _price_lock(listing, price)
                if lock is not None:
                    reasons.append(lock["type"])
    else:
        stock = raw.get("availableStock")
        if not isinstance(stock, int) or isinstance(stock, bool) or stock < 0:
            reasons.append("InvalidAvailableStock")
        else:
            changes["stock"] = stock
    return build_item(call, raw, listing, changes, reasons, not_found="ProductNotFound"), lock


def _price_lock(listing: Listing, price: Decimal) -> dict[str, Any] | None:
    low, high = listing.min_price, listing.max_price
    if low is not None and price < low:
        kind = "MinLock"
    elif high is not None and price > high:
        kind = "MaxLock"
    else:
        return None
    return {
        "type": kind,
        "minPrice": money(low) if low is not None else None,
        "maxPrice": money(high) if high is not None else None,
        "description": "price is outside the allowed range; the listing is locked",
    }


def _upload_json(batch: Batch) -> dict[str, Any]:
    errors = []
    validations = []
    locks: dict[int, dict[str, Any]] = batch.extra.get("locks", {})
    for number, item in enumerate(batch.items, start=1):
        if number in locks:
            validations.append({"elementNo": number, **locks[number]})
        codes = [r for r in item.failure_reasons if r not in {"MinLock", "MaxLock"}]
        if codes:
            raw = item.request_item if isinstance(item.request_item, dict) else {}
            errors.append(
                {
                    "elementNo": number,
                    "hepsiburadaSku": raw.get("hepsiburadaSku"),
                    "merchantSku": raw.get("merchantSku"),
                    "errors": codes,
                }
            )
    if not batch.done:
        status = "Pending"
    elif batch.items and all(not item.ok for item in batch.items) and not validations:
        status = "Failed"
    else:
        status = "Done"
    return {
        "id": batch.batch_id,
        "status": status,
        "createdAt": istanbul_text(int(batch.created_at * 1000), ISO_LOCAL),
        "total": len(batch.items),
        "errors": errors if batch.done else [],
        "priceValidations": validations if batch.done else [],
    }


def _upload_status(kind: str) -> Any:
    async def handler(call: Call) -> Response:
        batch = call.acct.batches.get(call.path_params["uploadId"])
        if batch is None or batch.kind != kind:
            return _errors(404, "NotFound", "upload not found")
        return call.json(_upload_json(batch))

    return handler


async def list_listings(call: Call) -> Response:
    """GET /listings/merchantid/{merchantId}."""
    query = call.request.query_params
    try:
        offset = int_param(query.get("offset"), "offset", 0)
        limit = int_param(query.get("limit"), "limit", 100, 1, 1000)
    except BadParameterError as exc:
        return _errors(400, "InvalidRequest", str(exc))
    listings = sorted(call.acct.listings.values(), key=lambda x: x.product_id)
    if wanted := query.get("merchantSkuList"):
        names = set(wanted.split(","))
        listings = [x for x in listings if x.sku in names]
    chunk = listings[offset : offset + limit]
    return call.json(
        {
            "listings": [
                {
                    "hepsiburadaSku": x.platform_sku,
                    "merchantSku": x.sku,
                    "price": money(x.price),
                    "availableStock": x.stock,
                    "isSalable": x.stock > 0,
                    "isLocked": False,
                    "priceIncreaseDisabled": False,
                }
                for x in chunk
            ],
            "totalCount": len(listings),
            "limit": limit,
            "offset": offset,
        }
    )


def spec(sim: Simulator) -> PlatformSpec:
    """Hepsiburada endpoints under `/hepsiburada`."""
    auth = _authenticate
    orders = "/orders/merchantid/{merchantId}"
    packages = "/packages/merchantid/{merchantId}"
    listings = "/listings/merchantid/{merchantId}"
    endpoints = [
        Endpoint("listOrders", "GET", orders, list_open_orders, auth, LIMIT),
        Endpoint(
            "listPaymentAwaiting",
            "GET",
            f"{orders}/paymentawaiting",
            list_payment_awaiting,
            auth,
            LIMIT,
        ),
        Endpoint("listCancelled", "GET", f"{orders}/cancelled", list_cancelled, auth, LIMIT),
        Endpoint(
            "getOrderDetail",
            "GET",
            f"{orders}/ordernumber/{{orderNumber}}",
            get_order_detail,
            auth,
            LIMIT,
        ),
        Endpoint("listPackages", "GET", packages, _packages("Packaged"), auth, LIMIT),
        Endpoint("listShipped", "GET", f"{packages}/shipped", _packages("InTransit"), auth, LIMIT),
        Endpoint(
            "listDelivered", "GET", f"{packages}/delivered", _packages("Delivered"), auth, LIMIT
        ),
        Endpoint(
            "listUndelivered",
            "GET",
            f"{packages}/undelivered",
            _packages("Undelivered"),
            auth,
            LIMIT,
        ),
        Endpoint("listListings", "GET", listings, list_listings, auth, LIMIT),
    ]
    for kind in ("price-uploads", "stock-uploads"):
        endpoints.append(Endpoint(kind, "POST", f"{listings}/{kind}", _upload(kind), auth, LIMIT))
        endpoints.append(
            Endpoint(
                f"{kind}-status",
                "GET",
                f"{listings}/{kind}/id/{{uploadId}}",
                _upload_status(kind),
                auth,
                LIMIT,
            )
        )
    return PlatformSpec(PLATFORM, endpoints, _throttled, _server_error, _limit_headers)
