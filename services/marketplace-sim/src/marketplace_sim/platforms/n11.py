"""n11 REST API (`https://api.n11.com`): `/rest` orders and `/ms` product tasks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from marketplace_sim.common import (
    DAY_MS,
    BadParameterError,
    build_item,
    decimal_value,
    int_param,
    istanbul_text,
    money,
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
from marketplace_sim.state import Batch, BatchItem, SimPackage
from marketplace_sim.statuses import RAW_STATUSES

PLATFORM = "n11"
# Documented for order listing: at most 1000 requests per minute.
ORDER_LIMIT = RateLimit.per_window(1000, 60)
MAX_PAGE_SIZE = 100
MAX_WINDOW_MS = 15 * DAY_MS
GMT3_MS = 3 * 3600 * 1000
MAX_SKUS = 1000
TASK_DATE = "%d-%m-%Y %H:%M:%S"


def _rest_failure(status: int, error_code: str, message: str, category: str) -> Response:
    body = {
        "code": error_code.rsplit(".", 1)[-1],
        "status": "failure",
        "errorCode": error_code,
        "errorMessage": message,
        "errorCategory": category,
    }
    return json_response(body, status)


def _spring(
    status: int, exception: str, message: str, reasons: list[str] | None = None
) -> Response:
    body = {
        "@type": exception,
        "name": exception,
        "message": message,
        "description": message,
        "urlStack": [],
        "errors": [{"reason": r} for r in reasons or []],
    }
    return json_response(body, status)


def _check_keys(request: Request, sim: Simulator) -> tuple[AuthResult, bool]:
    key = request.headers.get("appkey")
    secret = request.headers.get("appsecret")
    account = sim.state.find(PLATFORM, "app_key", key) if key else None
    ok = (
        account is not None
        and secret == account.credentials["app_secret"]
        and not sim.revoked(account)
    )
    return AuthResult(account), ok and key is not None and secret is not None


def _auth_rest(request: Request, sim: Simulator) -> AuthResult:
    result, ok = _check_keys(request, sim)
    if not ok:
        # /rest answers a wrong or missing key pair with 400, not 401.
        result.rejection = _rest_failure(
            400, "SELLER_API.authenticationFailed", "Authentication failed", "AUTHENTICATION"
        )
    return result


def _auth_ms(request: Request, sim: Simulator) -> AuthResult:
    result, ok = _check_keys(request, sim)
    if not ok:
        missing = [h for h in ("appkey", "appsecret") if h not in request.headers]
        if missing:
            result.rejection = _spring(
                500,
                "MissingRequestHeaderException",
                f"Required request header '{missing[0]}' is not present",
            )
        else:
            result.rejection = _spring(
                401, "SellerApiUserUnauthorizedException", "Seller api user unauthorized"
            )
    return result


def _throttled(decision: BucketDecision, limit: RateLimit | None) -> Response:
    return _rest_failure(429, "SELLER_API.maxCallLimitReached", "Too many requests", "RATE_LIMIT")


def _server_error(status: int) -> Response:
    return _spring(status, "ServiceUnavailableException", "Service unavailable")


def render_package(pkg: SimPackage) -> dict[str, Any]:
    """shipmentPackages JSON of one package (cached until it changes)."""
    cached = pkg.render_cache.get(PLATFORM)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    total = Decimal(0)
    lines = []
    for line in pkg.lines:
        quantity = line.active_quantity or line.quantity
        amount = line.unit_price * quantity
        if line.active_quantity:
            total += amount
        lines.append(
            {
                "orderLineId": line.line_id,
                "productId": 400_000_000 + line.line_id,
                "productName": line.product_name,
                "stockCode": line.sku,
                "barcode": line.barcode,
                "quantity": quantity,
                "price": money(line.unit_price),
                "sellerInvoiceAmount": money(amount),
                "totalSellerDiscountPrice": 0.0,
                "orderItemLineItemStatusName": pkg.status if line.active_quantity else "Cancelled",
            }
        )
    address = {
        "fullName": "Deneme Alici",
        "address": "Ornek Mah. 1. Sok. No:1",
        "city": "Istanbul",
        "district": "Kadikoy",
        "gsm": "5550000000",
    }
    rendered = {
        "id": pkg.package_id,
        "orderNumber": pkg.order_number,
        "shipmentPackageStatus": pkg.status,
        # n11 dates are epoch milliseconds of Turkish wall time ("GMT+3").
        "lastModifiedDate": pkg.modified_ms + GMT3_MS,
        "createdDate": pkg.created_ms + GMT3_MS,
        "customerId": 70_000_000 + pkg.package_id % 1_000_000,
        "customerfullName": "Deneme Alici",
        "customerEmail": "alici@example.com",
        "shippingAddress": address,
        "billingAddress": address,
        "totalAmount": money(total),
        "totalDiscountAmount": 0.0,
        "cargoTrackingNumber": pkg.cargo_tracking_number,
        "lines": lines,
    }
    pkg.render_cache[PLATFORM] = rendered
    return rendered


async def shipment_packages(call: Call) -> Response:
    """GET /rest/delivery/v1/shipmentPackages: one status per call."""
    query = call.request.query_params
    status = query.get("status", "")
    if status not in RAW_STATUSES[PLATFORM]:
        return _rest_failure(
            400,
            "SELLER_API.invalidParameter",
            "status must be exactly one of " + ",".join(sorted(RAW_STATUSES[PLATFORM])),
            "VALIDATION",
        )
    try:
        page = int_param(query.get("page"), "page", 0)
        size = min(int_param(query.get("size"), "size", MAX_PAGE_SIZE, 1), MAX_PAGE_SIZE)
        end = int_param(query.get("endDate"), "endDate", call.now_ms + GMT3_MS) - GMT3_MS
        start = int_param(query.get("startDate"), "startDate", end + GMT3_MS - MAX_WINDOW_MS)
        start -= GMT3_MS
    except BadParameterError as exc:
        return _rest_failure(400, "SELLER_API.invalidParameter", str(exc), "VALIDATION")
    # Longer ranges are silently clamped to 15 days from startDate.
    end = min(end, start + MAX_WINDOW_MS)
    book = call.acct.orders
    if order_number := query.get("orderNumber"):
        keys = [
            (p.modified_ms, p.package_id)
            for p in book.of_order(order_number)
            if p.status == status and start <= p.modified_ms <= end
        ]
    else:
        keys = book.modified_between(start, end, frozenset({status}))
    if query.get("orderByDirection", "ASC").upper() == "DESC":
        keys = keys[::-1]
    chunk = keys[page * size : page * size + size]
    return call.json(
        {
            "pageCount": len(chunk),
            "totalPages": (len(keys) + size - 1) // size,
            "page": page,
            "size": size,
            "content": [render_package(book.packages[pid]) for _, pid in chunk],
        }
    )


def _two_decimals(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -2


async def price_stock_update(call: Call) -> Response:
    """POST /ms/product/tasks/price-stock-update."""
    account = call.acct
    try:
        body = await call.request.json()
    except ValueError:
        return _spring(400, "HttpMessageNotReadableException", "request body is not JSON")
    payload = body.get("payload") if isinstance(body, dict) else None
    skus = payload.get("skus") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or not payload.get("integrator"):
        return _spring(400, "ValidationException", "payload.integrator is required")
    if not isinstance(skus, list) or not skus or len(skus) > MAX_SKUS:
        return _spring(400, "ValidationException", f"skus must hold 1 to {MAX_SKUS} items")
    task_reasons: list[str] = []
    items: list[BatchItem] = []
    for raw in skus:
        item, reject = _price_item(call, raw)
        items.append(item)
        task_reasons.extend(reject)
    task_id = str(500_000_000 + call.sim.state.ids.next("n11-task"))
    batch = submit_batch(
        call,
        "SKU_PRICE_STOCK_UPDATE",
        items,
        rejected=task_reasons,
        extra={"created_ms": call.now_ms},
        batch_id=task_id,
    )
    del account
    return call.json(
        {
            "id": int(batch.batch_id),
            "type": batch.kind,
            "status": "REJECT" if task_reasons else "IN_QUEUE",
            "reasons": task_reasons,
        }
    )


def _price_item(call: Call, raw: Any) -> tuple[BatchItem, list[str]]:
    account = call.acct
    if not isinstance(raw, dict) or not isinstance(raw.get("stockCode"), str):
        return build_item(call, raw, None, {}, ["stockCode is required"], not_found=""), [
            "stockCode is required"
        ]
    code = raw["stockCode"]
    listing = account.listings.get(code)
    changes: dict[str, Any] = {}
    reject: list[str] = []
    has_list, has_sale = "listPrice" in raw, "salePrice" in raw
    if has_list != has_sale:
        reject.append(f"{code}: listPrice and salePrice must be sent together")
    if has_list and has_sale:
        list_price = decimal_value(raw["listPrice"])
        sale = decimal_value(raw["salePrice"])
        if list_price is None or sale is None:
            reject.append(f"{code}: prices must be numbers")
        elif not (_two_decimals(list_price) and _two_decimals(sale)):
            reject.append(f"{code}: prices may have at most 2 decimals")
        elif list_price < sale:
            reject.append(f"{code}: listPrice must not be lower than salePrice")
        else:
            changes["price"], changes["list_price"] = sale, list_price
    if "quantity" in raw:
        quantity = raw["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            reject.append(f"{code}: quantity must be a non-negative integer")
        else:
            changes["stock"] = quantity
    if raw.get("currencyType", "TL") not in {"TL", "USD", "EUR"}:
        reject.append(f"{code}: currencyType must be TL, USD or EUR")
    return build_item(call, raw, listing, changes, [], not_found="Urun bulunamadi"), reject


async def product_update(call: Call) -> Response:
    """POST /ms/product/tasks/product-update (description, status, vatRate...)."""
    account = call.acct
    try:
        body = await call.request.json()
    except ValueError:
        return _spring(400, "HttpMessageNotReadableException", "request body is not JSON")
    payload = body.get("payload") if isinstance(body, dict) else None
    skus = payload.get("skus") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or not payload.get("integrator"):
        return _spring(400, "ValidationException", "payload.integrator is required")
    if not isinstance(skus, list) or not skus or len(skus) > MAX_SKUS:
        return _spring(400, "ValidationException", f"skus must hold 1 to {MAX_SKUS} items")
    items: list[BatchItem] = []
    for raw in skus:
        code = raw.get("stockCode") if isinstance(raw, dict) else None
        listing = account.listings.get(code) if isinstance(code, str) else None
        changes: dict[str, Any] = {}
        reasons: list[str] = []
        if isinstance(raw, dict):
            if isinstance(raw.get("description"), str):
                changes["description"] = raw["description"]
            if "vatRate" in raw and raw["vatRate"] not in {0, 1, 10, 20}:
                reasons.append("vatRate must be 0, 1, 10 or 20")
            reasons.extend(
                f"{frozen} can only be changed by n11"
                for frozen in ("brand", "color", "size")
                if frozen in raw
            )
        items.append(build_item(call, raw, listing, changes, reasons, not_found="Urun bulunamadi"))
    task_id = str(500_000_000 + call.sim.state.ids.next("n11-task"))
    batch = submit_batch(call, "PRODUCT_UPDATE", items, batch_id=task_id)
    return call.json(
        {"id": int(batch.batch_id), "type": batch.kind, "status": "IN_QUEUE", "reasons": []}
    )


def _task_json(batch: Batch, page: int, size: int) -> dict[str, Any]:
    if batch.rejected_reasons:
        status = "REJECT"
    elif batch.done:
        status = "PROCESSED"
    else:
        status = "IN_QUEUE"
    content = []
    if batch.done and not batch.rejected_reasons:
        for item in batch.items:
            raw = item.request_item if isinstance(item.request_item, dict) else {}
            content.append(
                {
                    "itemCode": raw.get("stockCode"),
                    "status": "SUCCESS" if item.ok else "FAIL",
                    "reasons": item.failure_reasons,
                }
            )
    chunk = content[page * size : page * size + size]
    return {
        "taskId": int(batch.batch_id),
        "createdDate": istanbul_text(int(batch.created_at * 1000), TASK_DATE),
        "status": status,
        "reasons": batch.rejected_reasons,
        "skus": {
            "content": chunk,
            "totalElements": len(content),
            "totalPages": (len(content) + size - 1) // size,
            "number": page,
            "size": size,
        },
    }


async def task_details(call: Call) -> Response:
    """POST /ms/product/task-details/page-query."""
    try:
        body = await call.request.json()
    except ValueError:
        return _spring(400, "HttpMessageNotReadableException", "request body is not JSON")
    task_id = body.get("taskId") if isinstance(body, dict) else None
    pageable = body.get("pageable") if isinstance(body, dict) else None
    pageable = pageable if isinstance(pageable, dict) else {}
    page = pageable.get("page", 0)
    size = pageable.get("size", 100)
    if not isinstance(page, int) or not isinstance(size, int) or page < 0 or not 0 < size <= 1000:
        return _spring(500, "ConstraintViolationException", "page/size out of range")
    batch = call.acct.batches.get(str(task_id))
    if batch is None:
        return _spring(404, "TaskNotFoundException", "task not found")
    return call.json(_task_json(batch, page, size))


async def product_query(call: Call) -> Response:
    """GET /ms/product-query (Spring page envelope)."""
    query = call.request.query_params
    try:
        page = int_param(query.get("page"), "page", 0)
        size = int_param(query.get("size"), "size", 20, 1, 250)
    except BadParameterError as exc:
        return _spring(500, "ConstraintViolationException", str(exc))
    listings = sorted(call.acct.listings.values(), key=lambda x: x.product_id)
    if stock_code := query.get("stockCode"):
        listings = [x for x in listings if x.sku == stock_code]
    chunk = listings[page * size : page * size + size]
    total = len(listings)
    return call.json(
        {
            "content": [
                {
                    "n11ProductId": x.product_id,
                    "stockCode": x.sku,
                    "barcode": x.barcode,
                    "title": x.title,
                    "description": x.description,
                    "salePrice": money(x.price),
                    "listPrice": money(x.list_price),
                    "quantity": x.stock,
                    "currencyType": "TL",
                    "status": "Active",
                }
                for x in chunk
            ],
            "pageable": {"pageNumber": page, "pageSize": size},
            "totalElements": total,
            "totalPages": (total + size - 1) // size,
            "size": size,
            "number": page,
            "numberOfElements": len(chunk),
            "first": page == 0,
            "last": (page + 1) * size >= total,
            "empty": not chunk,
        }
    )


def spec(sim: Simulator) -> PlatformSpec:
    """n11 endpoints under `/n11`."""
    endpoints = [
        Endpoint(
            "shipmentPackages",
            "GET",
            "/rest/delivery/v1/shipmentPackages",
            shipment_packages,
            _auth_rest,
            ORDER_LIMIT,
        ),
        Endpoint(
            "priceStockUpdate",
            "POST",
            "/ms/product/tasks/price-stock-update",
            price_stock_update,
            _auth_ms,
        ),
        Endpoint(
            "productUpdate", "POST", "/ms/product/tasks/product-update", product_update, _auth_ms
        ),
        Endpoint(
            "taskDetails", "POST", "/ms/product/task-details/page-query", task_details, _auth_ms
        ),
        Endpoint("productQuery", "GET", "/ms/product-query", product_query, _auth_ms),
    ]
    return PlatformSpec(PLATFORM, endpoints, _throttled, _server_error)
