"""Trendyol seller integration API (`https://apigw.trendyol.com`, stage `stageapigw`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from marketplace_sim.common import (
    DAY_MS,
    BadParameterError,
    basic_credentials,
    body_fingerprint,
    build_item,
    decimal_value,
    decode_cursor,
    encode_cursor,
    int_param,
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
from marketplace_sim.state import Batch, BatchItem, OrderBook, SimPackage
from marketplace_sim.statuses import RAW_STATUSES

PLATFORM = "trendyol"
# Documented: 50 requests per 10 seconds per endpoint, then 429 `too.many.requests`.
LIMIT = RateLimit.per_window(50, 10)
MAX_PAGE_SIZE = 200
MAX_WINDOW_MS = 14 * DAY_MS
DEFAULT_WINDOW_MS = 7 * DAY_MS
MAX_ITEMS = 1000
DUPLICATE_SECONDS = 15 * 60
BATCH_RETENTION_SECONDS = 4 * 3600
GMT3_MS = 3 * 3600 * 1000


def _errors(status: int, key: str, message: str) -> Response:
    return json_response({"errors": [{"key": key, "message": message, "errorCode": key}]}, status)


def _authenticate(request: Request, sim: Simulator) -> AuthResult:
    seller_id = request.path_params.get("sellerId", "")
    account = sim.state.find(PLATFORM, "seller_id", seller_id)
    agent = request.headers.get("user-agent", "")
    prefix, sep, integrator = agent.partition(" - ")
    if not sep or prefix != seller_id or not integrator.isalnum() or len(integrator) > 30:
        # The gateway refuses calls without "<sellerId> - <IntegratorName>" before auth.
        return AuthResult(account, _errors(403, "forbidden", "User-Agent header is required"))
    creds = _basic_cached(request.headers.get("authorization"))
    if (
        account is None
        or creds is None
        or creds != (account.credentials["api_key"], account.credentials["api_secret"])
        or sim.revoked(account)
    ):
        body = {
            "timestamp": int(sim.clock.now() * 1000),
            "exception": "ClientApiAuthenticationException",
            "errors": [{"key": "unauthorized", "message": "Unauthorized", "errorCode": "401"}],
        }
        return AuthResult(account, json_response(body, 401))
    return AuthResult(account)


_BASIC_CACHE: dict[str, tuple[str, str] | None] = {}


def _basic_cached(header: str | None) -> tuple[str, str] | None:
    """basic_credentials, remembered per header value (clients repeat the same one)."""
    if header is None:
        return None
    try:
        return _BASIC_CACHE[header]
    except KeyError:
        if len(_BASIC_CACHE) > 1024:
            _BASIC_CACHE.clear()  # bounded: a client cycling keys cannot grow it
        decoded = _BASIC_CACHE[header] = basic_credentials(header)
        return decoded


def _throttled(decision: BucketDecision, limit: RateLimit | None) -> Response:
    # Retry-After is not documented for Trendyol, so none is sent.
    return _errors(429, "too.many.requests", "Too many requests")


def _server_error(status: int) -> Response:
    return _errors(status, "server.error", "Service unavailable")


def render_package(book: OrderBook, package_id: int) -> bytes:
    """The getShipmentPackages JSON of one package, serialised once per package version.

    `OrderBook.touch` (every status change, cancel split or modification) drops the cached
    bytes, so they are never stale; order pages are then joins of ready bytes.
    """
    cached = book.serialised.get(package_id)
    if cached is None:
        cached = orjson.dumps(_package_dict(book.packages[package_id]))
        book.serialised[package_id] = cached
    return cached


def _package_dict(pkg: SimPackage) -> dict[str, Any]:
    lines = []
    gross = Decimal(0)
    currency = pkg.lines[0].currency if pkg.lines else "TRY"
    for line in pkg.lines:
        amount = line.unit_price * line.quantity
        gross += amount
        lines.append(
            {
                "id": line.line_id,
                "barcode": line.barcode,
                "merchantSku": line.sku,
                "sku": line.barcode,
                "productCode": 1_000_000 + line.line_id,
                "productName": line.product_name,
                "quantity": line.quantity,
                "amount": money(amount),
                "price": money(line.unit_price),
                "discount": 0.0,
                "vatBaseAmount": 20.0,
                "currencyCode": line.currency,
                "orderLineItemStatusName": pkg.status,
            }
        )
    address = {
        "firstName": "Deneme",
        "lastName": "Alici",
        "address1": "Ornek Mah. 1. Sok. No:1",
        "city": "Istanbul",
        "district": "Kadikoy",
        "countryCode": "TR",
        "postalCode": "34710",
    }
    return {
        "id": pkg.package_id,
        "shipmentPackageId": pkg.package_id,
        "orderNumber": pkg.order_number,
        "status": pkg.status,
        "shipmentPackageStatus": pkg.status,
        "packageHistories": [{"createdDate": ms, "status": status} for ms, status in pkg.history],
        # Trendyol shifts orderDate to GMT+3 wall time expressed as epoch ms.
        "orderDate": pkg.created_ms + GMT3_MS,
        "lastModifiedDate": pkg.modified_ms,
        "originShipmentDate": pkg.created_ms,
        "agreedDeliveryDate": pkg.created_ms + 3 * DAY_MS,
        "grossAmount": money(gross),
        "totalDiscount": 0.0,
        "totalPrice": money(gross),
        "currencyCode": currency,
        "cargoTrackingNumber": int(pkg.cargo_tracking_number or "0"),
        "cargoProviderName": "Trendyol Express Marketplace",
        "customerId": 90_000_000 + pkg.package_id % 1_000_000,
        "customerFirstName": "Deneme",
        "customerLastName": "Alici",
        "customerEmail": "pf+demo@trendyolmail.com",
        "shipmentAddress": address,
        "invoiceAddress": address,
        "commercial": False,
        "micro": False,
        "createdBy": pkg.created_by,
        "originPackageIds": pkg.origin_package_ids or None,
        "lines": lines,
    }


def _window(call: Call, start_name: str, end_name: str) -> tuple[int, int]:
    query = call.request.query_params
    now = call.now_ms
    end = int_param(query.get(end_name), end_name, now)
    start = int_param(query.get(start_name), start_name, end - DEFAULT_WINDOW_MS)
    if start > end:
        raise BadParameterError(f"{start_name} must not be after {end_name}")
    if end - start > MAX_WINDOW_MS:
        raise BadParameterError("the date range may not be longer than 2 weeks")
    return start, end


def _statuses(raw: str | None) -> frozenset[str] | None:
    if not raw:
        return None
    values = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = values - RAW_STATUSES[PLATFORM]
    if unknown:
        raise BadParameterError(f"unknown status {sorted(unknown)[0]}")
    return values


async def get_shipment_packages(call: Call) -> Response:
    """GET /integration/order/sellers/{sellerId}/orders."""
    query = call.request.query_params
    try:
        start, end = _window(call, "startDate", "endDate")
        page = int_param(query.get("page"), "page", 0)
        size = int_param(query.get("size"), "size", 50, 1, MAX_PAGE_SIZE)
        statuses = _statuses(query.get("status"))
    except BadParameterError as exc:
        return _errors(400, "invalid.parameter", str(exc))
    account = call.acct
    cap = account.record_cap or call.sim.settings.trendyol_record_cap
    if (page + 1) * size > cap:
        # Announced cap (10,000 records per filter, a setting here): beyond it the gateway
        # answers 429.
        return _errors(429, "too.many.requests", "record limit exceeded for this filter")
    book = account.orders
    order_number = query.get("orderNumber")
    package_ids = query.get("shipmentPackageIds")
    by_created = query.get("orderByField") == "CreatedDate"
    descending = query.get("orderByDirection", "ASC").upper() == "DESC"
    if not (order_number or package_ids or by_created):
        # Fast path: slice the page straight out of the index without copying the window.
        index, lo, hi = book.modified_slice(start, end, statuses)
        if descending:
            first = hi - page * size
            chunk = index[max(lo, first - size) : max(lo, first)][::-1]
        else:
            chunk = index[lo + page * size : min(hi, lo + page * size + size)]
        return _page(call, book, page=page, size=size, total=hi - lo, chunk=chunk)
    if order_number:
        candidates = book.of_order(order_number)
    elif package_ids:
        wanted = {int(x) for x in package_ids.split(",") if x.strip().isdigit()}
        candidates = [book.packages[p] for p in sorted(wanted) if p in book.packages]
    else:
        candidates = [book.packages[pid] for _, pid in book.created_between(start, end)]
    keys = sorted(
        (p.created_ms if by_created else p.modified_ms, p.package_id)
        for p in candidates
        if (statuses is None or p.status in statuses)
        and (by_created or start <= p.modified_ms <= end)
    )
    if descending:
        keys.reverse()
    chunk = keys[page * size : page * size + size]
    return _page(call, book, page=page, size=size, total=len(keys), chunk=chunk)


def _page(
    call: Call,
    book: OrderBook,
    *,
    page: int,
    size: int,
    total: int,
    chunk: list[tuple[int, int]],
) -> Response:
    # The hot path of every order read: the envelope is formatted around the packages' cached
    # bytes rather than handing orjson a structure to walk.
    serialised = book.serialised
    head = b'{"page":%d,"size":%d,"totalPages":%d,"totalElements":%d,"content":[' % (
        page,
        size,
        (total + size - 1) // size,
        total,
    )
    content = b",".join([serialised.get(pid) or render_package(book, pid) for _, pid in chunk])
    return call.raw_json(head + content + b"]}")


async def get_shipment_packages_stream(call: Call) -> Response:
    """GET /integration/order/sellers/{sellerId}/orders/stream (cursor paging)."""
    query = call.request.query_params
    try:
        size = int_param(query.get("size"), "size", 50, 1, MAX_PAGE_SIZE)
        cursor_raw = query.get("nextCursor")
        if cursor_raw:
            cursor = decode_cursor(cursor_raw, "nextCursor")
            start, end, offset = int(cursor["s"]), int(cursor["e"]), int(cursor["o"])
            statuses = _statuses(cursor.get("st"))
        else:
            start, end = _window(call, "lastModifiedStartDate", "lastModifiedEndDate")
            offset = 0
            statuses = _statuses(query.get("packageItemStatuses"))
    except (BadParameterError, KeyError, TypeError, ValueError) as exc:
        return _errors(400, "invalid.parameter", str(exc))
    book = call.acct.orders
    keys = book.modified_between(start, end, statuses)
    chunk = keys[offset : offset + size]
    has_more = offset + size < len(keys)
    body: dict[str, Any] = {
        "hasMore": has_more,
        "nextCursor": None,
        "content": [orjson.Fragment(render_package(book, pid)) for _, pid in chunk],
    }
    if has_more:
        raw_statuses = ",".join(sorted(statuses)) if statuses else None
        body["nextCursor"] = encode_cursor(
            {"s": start, "e": end, "o": offset + size, "st": raw_statuses}
        )
    return call.json(body)


async def update_price_and_inventory(call: Call) -> Response:
    """POST /integration/inventory/sellers/{sellerId}/products/price-and-inventory."""
    account = call.acct
    try:
        body = await call.request.json()
    except ValueError:
        return _errors(400, "invalid.request", "request body is not JSON")
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return _errors(400, "invalid.request", "items must be a non-empty list")
    if len(items) > MAX_ITEMS:
        return _errors(400, "invalid.request", f"at most {MAX_ITEMS} items per request")
    fingerprint = body_fingerprint(body)
    last = account.recent_bodies.get(fingerprint)
    if last is not None and call.now - last < DUPLICATE_SECONDS:
        return _errors(
            400,
            "request.duplicate",
            "The same request cannot be repeated for 15 minutes",
        )
    account.recent_bodies[fingerprint] = call.now
    batch_items = [_inventory_item(call, raw) for raw in items]
    batch = submit_batch(call, "ProductInventoryUpdate", batch_items)
    return call.json({"batchRequestId": batch.batch_id})


def _inventory_item(call: Call, raw: Any) -> BatchItem:
    account = call.acct
    reasons: list[str] = []
    changes: dict[str, Any] = {}
    if not isinstance(raw, dict) or not isinstance(raw.get("barcode"), str):
        return build_item(call, raw, None, {}, ["barcode is required"], not_found="")
    sku = account.listing_by_barcode.get(raw["barcode"])
    listing = account.listings.get(sku) if sku is not None else None
    if "quantity" in raw:
        quantity = raw["quantity"]
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            reasons.append("quantity must be a non-negative integer")
        else:
            changes["stock"] = quantity
    sale = decimal_value(raw.get("salePrice")) if "salePrice" in raw else None
    list_price = decimal_value(raw.get("listPrice")) if "listPrice" in raw else None
    if ("salePrice" in raw and sale is None) or ("listPrice" in raw and list_price is None):
        reasons.append("price must be a number")
    if sale is not None:
        changes["price"] = sale
    if list_price is not None:
        changes["list_price"] = list_price
    if listing is not None and (sale is not None or list_price is not None):
        effective_sale = sale if sale is not None else listing.price
        effective_list = list_price if list_price is not None else listing.list_price
        if effective_list < effective_sale:
            reasons.append("listPrice must be greater than or equal to salePrice")
    if not changes and not reasons:
        reasons.append("nothing to update")
    return build_item(
        call, raw, listing, changes, reasons, not_found="product not found for barcode"
    )


async def content_bulk_update(call: Call) -> Response:
    """POST /integration/product/sellers/{sellerId}/products/content-bulk-update."""
    account = call.acct
    try:
        body = await call.request.json()
    except ValueError:
        return _errors(400, "invalid.request", "request body is not JSON")
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        return _errors(400, "invalid.request", f"items must hold 1 to {MAX_ITEMS} entries")
    batch_items: list[BatchItem] = []
    for raw in items:
        barcode = raw.get("barcode") if isinstance(raw, dict) else None
        sku = account.listing_by_barcode.get(barcode) if isinstance(barcode, str) else None
        listing = account.listings.get(sku) if sku is not None else None
        changes: dict[str, Any] = {}
        reasons: list[str] = []
        if isinstance(raw, dict):
            for key, target in (("title", "title"), ("description", "description")):
                if key in raw:
                    if isinstance(raw[key], str) and raw[key]:
                        changes[target] = raw[key]
                    else:
                        reasons.append(f"{key} must be a non-empty string")
            if "attributes" in raw and listing is not None:
                changes["attributes"] = {**listing.attributes, "attributes": raw["attributes"]}
            reasons.extend(
                f"{frozen} cannot be changed on an approved product"
                for frozen in ("productMainId", "brandId", "categoryId")
                if frozen in raw
            )
        if not changes and not reasons:
            reasons.append("nothing to update")
        batch_items.append(
            build_item(
                call, raw, listing, changes, reasons, not_found="product not found for barcode"
            )
        )
    batch = submit_batch(call, "ProductV2Update", batch_items)
    return call.json({"batchRequestId": batch.batch_id})


def _batch_json(batch: Batch) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for item in batch.items:
        reasons: list[str]
        if not batch.done:
            status, reasons = "PROCESSING", []
        elif item.ok:
            status, reasons = "SUCCESS", []
        else:
            status, reasons = "FAILED", item.failure_reasons or ["product not found"]
        items.append(
            {"requestItem": item.request_item, "status": status, "failureReasons": reasons}
        )
    body: dict[str, Any] = {
        "batchRequestId": batch.batch_id,
        "items": items,
        "creationDate": int(batch.created_at * 1000),
        "lastModification": int((batch.due_at if batch.done else batch.created_at) * 1000),
        "sourceType": "API",
        "itemCount": len(items),
        "failedItemCount": sum(1 for i in items if i["status"] == "FAILED"),
        "batchRequestType": batch.kind,
    }
    if batch.kind != "ProductInventoryUpdate":
        # Inventory batches carry no top-level status; product batches do.
        body["status"] = "COMPLETED" if batch.done else "PROCESSING"
    return body


async def get_batch_request(call: Call) -> Response:
    """GET /integration/product/sellers/{sellerId}/products/batch-requests/{batchRequestId}."""
    batch = call.acct.batches.get(call.path_params["batchRequestId"])
    if batch is None or call.now - batch.created_at > BATCH_RETENTION_SECONDS:
        return _errors(404, "batch.request.not.found", "batch request not found")
    return call.json(_batch_json(batch))


async def filter_products(call: Call) -> Response:
    """GET /integration/product/sellers/{sellerId}/products."""
    query = call.request.query_params
    try:
        page = int_param(query.get("page"), "page", 0)
        size = int_param(query.get("size"), "size", 50, 1, 1000)
    except BadParameterError as exc:
        return _errors(400, "invalid.parameter", str(exc))
    listings = sorted(call.acct.listings.values(), key=lambda x: x.product_id)
    if barcode := query.get("barcode"):
        listings = [x for x in listings if x.barcode == barcode]
    if stock_code := query.get("stockCode"):
        listings = [x for x in listings if x.sku == stock_code]
    chunk = listings[page * size : page * size + size]
    content = [
        {
            "id": str(x.product_id),
            "barcode": x.barcode,
            "stockCode": x.sku,
            "productMainId": x.sku,
            "title": x.title,
            "description": x.description,
            "salePrice": money(x.price),
            "listPrice": money(x.list_price),
            "quantity": x.stock,
            "approved": True,
            "archived": False,
        }
        for x in chunk
    ]
    total = len(listings)
    return call.json(
        {
            "totalElements": total,
            "totalPages": (total + size - 1) // size,
            "page": page,
            "size": size,
            "content": content,
        }
    )


def spec(sim: Simulator) -> PlatformSpec:
    """Trendyol endpoints under `/trendyol`."""
    auth = _authenticate
    order = "/integration/order/sellers/{sellerId}"
    product = "/integration/product/sellers/{sellerId}"
    inventory = "/integration/inventory/sellers/{sellerId}"
    endpoints = [
        Endpoint(
            "getShipmentPackages", "GET", f"{order}/orders", get_shipment_packages, auth, LIMIT
        ),
        Endpoint(
            "getShipmentPackagesStream",
            "GET",
            f"{order}/orders/stream",
            get_shipment_packages_stream,
            auth,
            LIMIT,
        ),
        Endpoint(
            "updatePriceAndInventory",
            "POST",
            f"{inventory}/products/price-and-inventory",
            update_price_and_inventory,
            auth,
            LIMIT,
        ),
        Endpoint(
            "contentBulkUpdate",
            "POST",
            f"{product}/products/content-bulk-update",
            content_bulk_update,
            auth,
            LIMIT,
        ),
        Endpoint(
            "getBatchRequestResult",
            "GET",
            f"{product}/products/batch-requests/{{batchRequestId}}",
            get_batch_request,
            auth,
            LIMIT,
        ),
        Endpoint("filterProducts", "GET", f"{product}/products", filter_products, auth, LIMIT),
    ]
    return PlatformSpec(PLATFORM, endpoints, _throttled, _server_error)
