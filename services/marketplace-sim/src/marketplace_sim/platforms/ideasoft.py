"""IdeaSoft store Admin API with its OAuth2 endpoints (one prefix serves every store)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from marketplace_sim.common import (
    BadParameterError,
    account_by_host,
    bearer_token,
    build_item,
    decimal_value,
    int_param,
    istanbul_text,
    money,
    parse_istanbul,
    read_form,
    request_form,
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
    text_response,
)
from marketplace_sim.state import Account, Listing, SimPackage, Token
from marketplace_sim.statuses import RAW_STATUSES

PLATFORM = "ideasoft"
# Not documented; the simulator's choice (a leaky bucket of 40 refilled at 2 per second).
LIMIT = RateLimit(rate=2.0, burst=40)
ISO_LOCAL = "%Y-%m-%dT%H:%M:%S+03:00"
DAY = "%Y-%m-%d"


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def _api_error(status: int, message: str, code: str = "") -> Response:
    return json_response({"errorCode": code or str(status), "errorMessage": message}, status)


def _authenticate(request: Request, sim: Simulator) -> AuthResult:
    value = bearer_token(request.headers.get("authorization")) or ""
    token = sim.state.tokens.get(value)
    account = sim.state.accounts.get(token.account_id) if token is not None else None
    if token is None or token.kind != "ideasoft_access" or account is None:
        # An unknown token names no account; the store's host still may.
        return AuthResult(
            account_by_host(request, sim, PLATFORM),
            _oauth_error(401, "invalid_grant", "The access token provided is invalid."),
        )
    if token.expires_at <= sim.clock.now():
        return AuthResult(
            account, _oauth_error(401, "invalid_grant", "The access token provided has expired.")
        )
    if sim.revoked(account):
        return AuthResult(
            account, _oauth_error(401, "invalid_grant", "The access token provided is invalid.")
        )
    return AuthResult(account)


def _throttled(decision: BucketDecision, limit: RateLimit | None) -> Response:
    response = _api_error(429, "Too Many Requests", "too_many_requests")
    response.headers["Retry-After"] = str(max(1, round(decision.retry_after)))
    return response


def _server_error(status: int) -> Response:
    return _api_error(status, "Service Unavailable")


def _client(sim: Simulator, client_id: str | None) -> Account | None:
    return sim.state.find(PLATFORM, "client_id", client_id) if client_id else None


def _identify_consent(request: Request, sim: Simulator) -> AuthResult:
    """The client id (or the store host) names the account; the handler decides the rest."""
    account = _client(sim, request.query_params.get("client_id"))
    return AuthResult(account or account_by_host(request, sim, PLATFORM))


async def _identify_token(request: Request, sim: Simulator) -> AuthResult:
    """Token requests name their account by client id (or store host) before any check, so
    account-scoped faults reach them and refusals are counted against the account."""
    form = await request_form(request)
    account = _client(sim, form.get("client_id"))
    return AuthResult(account or account_by_host(request, sim, PLATFORM))


async def authorize(call: Call) -> Response:
    """GET /panel/auth: the store owner approves the app (automatically in the simulator)."""
    query = call.request.query_params
    account = _client(call.sim, query.get("client_id"))
    redirect_uri = query.get("redirect_uri", "")
    if query.get("response_type") != "code":
        return text_response("response_type must be code", 400)
    if account is None:
        return text_response("Unknown client_id", 400)
    if urlsplit(redirect_uri).scheme not in {"http", "https"}:
        return text_response("redirect_uri is missing or invalid", 400)
    call.account = account
    code = call.sim.state.ids.token("ideasoft-code")
    call.sim.state.tokens[code] = Token(
        account.account_id,
        "ideasoft_code",
        call.now + call.sim.settings.ideasoft_auth_code_ttl,
        {"redirect_uri": redirect_uri},
    )
    params = {"code": code, "state": query.get("state", "")}
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", 302)


async def token(call: Call) -> Response:
    """POST /oauth/v2/token: authorization_code, refresh_token (and client_credentials)."""
    sim = call.sim
    form = await read_form(call)
    account = _client(sim, str(form.get("client_id") or ""))
    if account is None or form.get("client_secret") != account.credentials["client_secret"]:
        return _oauth_error(400, "invalid_client", "The client credentials are invalid")
    call.account = account
    grant = form.get("grant_type")
    tokens = sim.state.tokens
    if grant == "authorization_code":
        code_value = str(form.get("code") or "")
        code = tokens.get(code_value)
        if (
            code is None
            or code.kind != "ideasoft_code"
            or code.account_id != account.account_id
            or code.expires_at <= call.now
        ):
            return _oauth_error(
                400, "invalid_grant", "The authorization code is invalid or expired"
            )
        if form.get("redirect_uri") and form.get("redirect_uri") != code.extra["redirect_uri"]:
            return _oauth_error(400, "redirect_uri_mismatch", "The redirect URI does not match")
        del tokens[code_value]
    elif grant == "refresh_token":
        refresh = tokens.get(str(form.get("refresh_token") or ""))
        if (
            refresh is None
            or refresh.kind != "ideasoft_refresh"
            or refresh.account_id != account.account_id
        ):
            return _oauth_error(400, "invalid_grant", "Invalid refresh token")
    elif grant != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type parameter")
    if sim.revoked(account, call.now):
        return _oauth_error(400, "invalid_grant", "The grant was revoked")
    ttl = sim.settings.ideasoft_access_token_ttl
    access = sim.state.ids.token("ideasoft-access")
    tokens[access] = Token(account.account_id, "ideasoft_access", call.now + ttl)
    body: dict[str, Any] = {
        "access_token": access,
        "expires_in": ttl,
        "token_type": "bearer",
        "scope": "order_read order_write catalog_read catalog_write",
    }
    if grant != "client_credentials":
        refresh_value = sim.state.ids.token("ideasoft-refresh")
        # Refresh tokens are not revoked on use; each response carries a fresh one as well.
        tokens[refresh_value] = Token(account.account_id, "ideasoft_refresh", float("inf"))
        body["refresh_token"] = refresh_value
    return call.json(body)


def _order_json(account: Account, pkg: SimPackage) -> dict[str, Any]:
    cached = pkg.render_cache.get(PLATFORM)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    total = sum((x.unit_price * x.active_quantity for x in pkg.lines), Decimal(0))
    address = {
        "firstname": "Deneme",
        "surname": "Alici",
        "address": "Ornek Mah. 1. Sok. No:1",
        "location": "Istanbul",
        "subLocation": "Kadikoy",
        "country": "Turkiye",
        "phoneNumber": "05550000000",
    }
    items = [_item_json(account, pkg, line_index) for line_index in range(len(pkg.lines))]
    rendered = {
        "id": pkg.package_id,
        "transactionId": pkg.order_number,
        "status": pkg.status,
        "paymentStatus": "in_transaction" if pkg.status == "waiting_for_payment" else "success",
        "amount": money(total),
        "finalAmount": money(total),
        "taxAmount": money(total * Decimal("0.20") / Decimal("1.20")),
        "shippingAmount": 0.0,
        "currency": pkg.lines[0].currency if pkg.lines else "TRY",
        "shippingTrackingCode": pkg.cargo_tracking_number,
        "customerFirstname": "Deneme",
        "customerSurname": "Alici",
        "customerEmail": "alici@example.com",
        "shippingAddress": address,
        "billingAddress": address,
        "orderItems": items,
        "createdAt": istanbul_text(pkg.created_ms, ISO_LOCAL),
        "updatedAt": istanbul_text(pkg.modified_ms, ISO_LOCAL),
    }
    pkg.render_cache[PLATFORM] = rendered
    return rendered


def _item_json(account: Account, pkg: SimPackage, index: int) -> dict[str, Any]:
    line = pkg.lines[index]
    listing = account.listings.get(line.sku)
    return {
        "id": line.line_id,
        "productId": listing.product_id if listing else None,
        "productName": line.product_name,
        "productSku": line.sku,
        "productBarcode": line.barcode,
        "productPrice": money(line.unit_price),
        "productQuantity": line.active_quantity,
        "productCancelledQuantity": line.cancelled,
        "currency": line.currency,
        "order": {"id": pkg.package_id},
    }


def _filtered_orders(call: Call) -> list[SimPackage]:
    query = call.request.query_params
    book = call.acct.orders
    status = query.get("status")
    if status is not None and status not in RAW_STATUSES[PLATFORM]:
        raise BadParameterError("status is not valid")
    since = int_param(query.get("sinceId"), "sinceId", 0)
    ids = {int(x) for x in (query.get("ids") or "").split(",") if x.strip().isdigit()}
    start_raw, end_raw = query.get("startCreatedAt"), query.get("endCreatedAt")
    start = parse_istanbul(start_raw, DAY, "startCreatedAt") if start_raw else None
    end = parse_istanbul(end_raw, DAY, "endCreatedAt") + 86_399_999 if end_raw else None
    sku = query.get("productSku")
    result = []
    for pid in book.ids:
        if pid <= since or (ids and pid not in ids):
            continue
        pkg = book.packages[pid]
        if status is not None and pkg.status != status:
            continue
        if (start is not None and pkg.created_ms < start) or (
            end is not None and pkg.created_ms > end
        ):
            continue
        if sku is not None and all(line.sku != sku for line in pkg.lines):
            continue
        result.append(pkg)
    return result


async def list_orders(call: Call) -> Response:
    """GET /admin-api/orders: a plain JSON array, page >= 1, limit <= 100."""
    query = call.request.query_params
    try:
        page = int_param(query.get("page"), "page", 1, 1)
        limit = int_param(query.get("limit"), "limit", 20, 1, 100)
        orders = _filtered_orders(call)
    except BadParameterError as exc:
        return _api_error(400, str(exc), "invalid_parameter")
    sort = query.get("sort", "id")
    if sort not in {"id", "-id"}:
        return _api_error(400, "sort must be id or -id", "invalid_parameter")
    if sort == "-id":
        orders.reverse()
    chunk = orders[(page - 1) * limit : page * limit]
    return call.json([_order_json(call.acct, pkg) for pkg in chunk])


async def count_orders(call: Call) -> Response:
    """GET /admin-api/orders/count."""
    try:
        orders = _filtered_orders(call)
    except BadParameterError as exc:
        return _api_error(400, str(exc), "invalid_parameter")
    return call.json({"count": len(orders)})


async def list_order_items(call: Call) -> Response:
    """GET /admin-api/order_items?order={id}."""
    try:
        order_id = int_param(call.request.query_params.get("order"), "order", 0, 1)
    except BadParameterError as exc:
        return _api_error(400, str(exc), "invalid_parameter")
    pkg = call.acct.orders.packages.get(order_id)
    if pkg is None:
        return call.json([])
    return call.json([_item_json(call.acct, pkg, i) for i in range(len(pkg.lines))])


def _product_json(listing: Listing) -> dict[str, Any]:
    return {
        "id": listing.product_id,
        "name": listing.title,
        "sku": listing.sku,
        "barcode": listing.barcode,
        "stockAmount": listing.stock,
        "price1": money(listing.price),
        "currency": {"abbr": listing.currency},
        "status": 1,
        "updatedAt": istanbul_text(int(listing.updated_at * 1000), ISO_LOCAL),
    }


async def list_products(call: Call) -> Response:
    """GET /admin-api/products."""
    query = call.request.query_params
    try:
        page = int_param(query.get("page"), "page", 1, 1)
        limit = int_param(query.get("limit"), "limit", 20, 1, 100)
    except BadParameterError as exc:
        return _api_error(400, str(exc), "invalid_parameter")
    listings = sorted(call.acct.listings.values(), key=lambda x: x.product_id)
    if sku := query.get("sku"):
        listings = [x for x in listings if x.sku == sku]
    chunk = listings[(page - 1) * limit : page * limit]
    return call.json([_product_json(x) for x in chunk])


def _product(call: Call) -> Listing | None:
    try:
        product_id = int(call.path_params["id"])
    except ValueError:
        return None
    sku = call.acct.listing_by_product_id.get(product_id)
    return call.acct.listings.get(sku) if sku is not None else None


async def get_product(call: Call) -> Response:
    """GET /admin-api/products/{id}."""
    listing = _product(call)
    if listing is None:
        return _api_error(404, "Product not found", "not_found")
    return call.json(_product_json(listing))


async def put_product(call: Call) -> Response:
    """PUT /admin-api/products/{id}: synchronous price/stock/content update."""
    listing = _product(call)
    if listing is None:
        return _api_error(404, "Product not found", "not_found")
    try:
        body = await call.request.json()
    except ValueError:
        return _api_error(400, "request body is not JSON", "invalid_json")
    if not isinstance(body, dict):
        return _api_error(422, "body must be an object", "validation")
    changes: dict[str, Any] = {}
    reasons: list[str] = []
    if "price1" in body:
        price = decimal_value(body["price1"])
        if price is None or price < 0:
            reasons.append("price1 must be a non-negative number")
        else:
            changes["price"] = price
    if "stockAmount" in body:
        stock = body["stockAmount"]
        if not isinstance(stock, int | float) or isinstance(stock, bool) or stock < 0:
            reasons.append("stockAmount must be a non-negative number")
        else:
            changes["stock"] = int(stock)
    if "name" in body:
        if isinstance(body["name"], str) and body["name"]:
            changes["title"] = body["name"]
        else:
            reasons.append("name must be a non-empty string")
    item = build_item(call, body, listing, changes, reasons, not_found="Product not found")
    batch = submit_batch(call, "product-put", [item], synchronous=True)
    del batch
    if not item.ok:
        return _api_error(422, "; ".join(item.failure_reasons), "validation")
    return call.json(_product_json(listing))


def spec(sim: Simulator) -> PlatformSpec:
    """IdeaSoft endpoints under `/ideasoft`."""
    auth = _authenticate
    endpoints = [
        Endpoint("authorize", "GET", "/panel/auth", authorize, _identify_consent),
        Endpoint("token", "POST", "/oauth/v2/token", token, _identify_token),
        Endpoint("listOrders", "GET", "/admin-api/orders", list_orders, auth, LIMIT),
        Endpoint("countOrders", "GET", "/admin-api/orders/count", count_orders, auth, LIMIT),
        Endpoint("listOrderItems", "GET", "/admin-api/order_items", list_order_items, auth, LIMIT),
        Endpoint("listProducts", "GET", "/admin-api/products", list_products, auth, LIMIT),
        Endpoint("getProduct", "GET", "/admin-api/products/{id}", get_product, auth, LIMIT),
        Endpoint("putProduct", "PUT", "/admin-api/products/{id}", put_product, auth, LIMIT),
    ]
    return PlatformSpec(PLATFORM, endpoints, _throttled, _server_error)
