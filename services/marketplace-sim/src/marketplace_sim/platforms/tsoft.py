"""T-Soft REST1 ("Gelismis Web Servis"): form login, form POST calls with a token."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from marketplace_sim.common import (
    BadParameterError,
    account_by_host,
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
)
from marketplace_sim.state import Account, BatchItem, SimPackage, Token
from marketplace_sim.statuses import TSOFT_STATUS_NAMES

PLATFORM = "tsoft"
DATE_TIME = "%Y-%m-%d %H:%M:%S"
MAX_LIMIT = 500


def _failure(code: str, text: str, status: int = 200) -> Response:
    # REST1 reports failures in the body with `success: false`, usually with HTTP 200.
    body = {"success": False, "message": [{"type": 1, "code": code, "text": [text]}], "data": []}
    return json_response(body, status)


def _success(call: Call, data: list[Any], summary: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"success": True, "message": [], "data": data}
    if summary is not None:
        body["summary"] = summary
    return call.json(body)


async def _authenticate(request: Request, sim: Simulator) -> AuthResult:
    """The token comes as a `Token` header or, as REST1 clients usually send it, a form field.

    Resolving it here (before faults and limits) lets account-scoped faults reach T-Soft
    calls and puts every refusal in the account's request log.
    """
    value = request.headers.get("token")
    if value is None:
        value = (await request_form(request)).get("token") or ""
    return _check_token(request, sim, value)


def _check_token(request: Request, sim: Simulator, value: str) -> AuthResult:
    token = sim.state.tokens.get(value)
    account = sim.state.accounts.get(token.account_id) if token is not None else None
    if token is None or token.kind != "tsoft_token" or account is None:
        # An unknown token names no account; the store's host still may.
        return AuthResult(
            account_by_host(request, sim, PLATFORM), _failure("InvalidToken", "Token is invalid")
        )
    if token.expires_at <= sim.clock.now():
        return AuthResult(account, _failure("TokenExpired", "Token has expired"))
    if sim.revoked(account):
        return AuthResult(account, _failure("InvalidToken", "Token is invalid"))
    method = request.url.path.split("/rest1/", 1)[-1]
    if account.permissions is not None and method not in account.permissions:
        return AuthResult(
            account, _failure("PermissionDenied", f"The web service user may not call {method}")
        )
    return AuthResult(account)


def _identify_login(request: Request, sim: Simulator) -> AuthResult:
    """The login user names the account; the handler decides whether the login succeeds."""
    user = request.path_params.get("user", "")
    account = sim.state.find(PLATFORM, "api_user", user) or account_by_host(request, sim, PLATFORM)
    return AuthResult(account)


def _throttled(decision: BucketDecision, limit: RateLimit | None) -> Response:
    return _failure("TooManyRequests", "Too many requests", 429)


def _server_error(status: int) -> Response:
    return _failure("ServiceUnavailable", "Service unavailable", status)


async def login(call: Call) -> Response:
    """POST /rest1/auth/login/{user} with form field `pass`."""
    sim = call.sim
    form = await read_form(call)
    account = sim.state.find(PLATFORM, "api_user", call.path_params["user"])
    if (
        account is None
        or form.get("pass") != account.credentials["api_password"]
        or sim.revoked(account, call.now)
    ):
        return _failure("LoginFailed", "User name or password is wrong")
    call.account = account
    value = sim.state.ids.token("tsoft")
    expires = call.now + sim.settings.tsoft_token_ttl
    sim.state.tokens[value] = Token(account.account_id, "tsoft_token", expires)
    expiration = istanbul_text(int(expires * 1000), DATE_TIME)
    return _success(call, [{"token": value, "expirationTime": expiration}])


def _with_form(handler: Any) -> Any:
    """Hand the (already authenticated) REST1 handler its form fields."""

    async def run(call: Call) -> Response:
        response: Response = await handler(call, await read_form(call))
        return response

    return run


def _order_json(account: Account, pkg: SimPackage, with_products: bool) -> dict[str, Any]:
    total = sum((line.unit_price * line.active_quantity for line in pkg.lines), Decimal(0))
    order: dict[str, Any] = {
        "OrderId": pkg.package_id,
        "OrderCode": pkg.order_number,
        "OrderDate": istanbul_text(pkg.created_ms, DATE_TIME),
        "UpdateDate": istanbul_text(pkg.modified_ms, DATE_TIME),
        "OrderStatusId": pkg.status,
        "OrderStatus": TSOFT_STATUS_NAMES.get(pkg.status, pkg.status),
        "OrderTotalPrice": money(total) if pkg.lines else 0.0,
        "Currency": pkg.lines[0].currency if pkg.lines else "TRY",
        "CustomerName": "Deneme Alici",
        "CustomerMail": "alici@example.com",
        "CargoCode": pkg.cargo_tracking_number,
    }
    if with_products:
        order["OrderDetails"] = [
            {
                "OrderDetailId": line.line_id,
                "ProductCode": line.sku,
                "Barcode": line.barcode,
                "ProductName": line.product_name,
                "Quantity": line.active_quantity,
                "CancelledQuantity": line.cancelled,
                "SellingPrice": money(line.unit_price),
                "Currency": line.currency,
            }
            for line in pkg.lines
        ]
    return order


async def get_orders(call: Call, form: dict[str, str]) -> Response:
    """POST /rest1/order/get: start/limit pages over an order-date window."""
    try:
        start_index = int_param(_text(form, "start"), "start", 0)
        # More than 500 per page is not served; the simulator clamps, as REST1 clients expect.
        limit = min(int_param(_text(form, "limit"), "limit", 50, 1), MAX_LIMIT)
        begin_raw, end_raw = _text(form, "OrderDateTimeStart"), _text(form, "OrderDateTimeEnd")
        begin = parse_istanbul(begin_raw, DATE_TIME, "OrderDateTimeStart") if begin_raw else 0
        end = parse_istanbul(end_raw, DATE_TIME, "OrderDateTimeEnd") if end_raw else call.now_ms
    except BadParameterError as exc:
        return _failure("InvalidParameter", str(exc))
    with_products = (_text(form, "FetchProductData") or "").lower() in {"true", "1"}
    account = call.acct
    book = account.orders
    keys = book.created_between(begin, end)
    if status := _text(form, "OrderStatusId"):
        keys = [k for k in keys if book.packages[k[1]].status == status]
    chunk = keys[start_index : start_index + limit]
    data = [_order_json(account, book.packages[pid], with_products) for _, pid in chunk]
    summary = {"totalRecordCount": len(keys), "start": start_index, "limit": limit}
    return _success(call, data, summary)


def _text(form: dict[str, str], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value != "" else None


async def get_products(call: Call, form: dict[str, str]) -> Response:
    """POST /rest1/product/get."""
    try:
        start_index = int_param(_text(form, "start"), "start", 0)
        limit = min(int_param(_text(form, "limit"), "limit", 50, 1), MAX_LIMIT)
    except BadParameterError as exc:
        return _failure("InvalidParameter", str(exc))
    listings = sorted(call.acct.listings.values(), key=lambda x: x.product_id)
    if code := _text(form, "ProductCode"):
        listings = [x for x in listings if x.sku == code]
    chunk = listings[start_index : start_index + limit]
    data = [
        {
            "ProductId": x.product_id,
            "ProductCode": x.sku,
            "Barcode": x.barcode,
            "ProductName": x.title,
            "Stock": x.stock,
            "SellingPrice": money(x.price),
            "Currency": x.currency,
        }
        for x in chunk
    ]
    return _success(call, data, {"totalRecordCount": len(listings)})


async def update_products(call: Call, form: dict[str, str]) -> Response:
    """POST /rest1/product/updateProducts: form field `data` = JSON array, synchronous."""
    raw = _text(form, "data")
    try:
        rows = orjson.loads(raw or "")
    except orjson.JSONDecodeError:
        return _failure("InvalidParameter", "data must be a JSON array")
    if not isinstance(rows, list) or not rows:
        return _failure("InvalidParameter", "data must be a non-empty JSON array")
    account = call.acct
    items: list[BatchItem] = []
    for row in rows:
        code = row.get("ProductCode") if isinstance(row, dict) else None
        listing = account.listings.get(code) if isinstance(code, str) else None
        changes: dict[str, Any] = {}
        reasons: list[str] = []
        if isinstance(row, dict):
            if "Stock" in row:
                stock = decimal_value(row["Stock"])
                if stock is None or stock < 0:
                    reasons.append("Stock must be a non-negative number")
                else:
                    changes["stock"] = int(stock)
            if "SellingPrice" in row:
                price = decimal_value(row["SellingPrice"])
                if price is None or price < 0:
                    reasons.append("SellingPrice must be a non-negative number")
                else:
                    changes["price"] = price
            if isinstance(row.get("ProductName"), str):
                changes["title"] = row["ProductName"]
        items.append(
            build_item(call, row, listing, changes, reasons, not_found="Product not found")
        )
    submit_batch(call, "updateProducts", items, synchronous=True)
    data = [
        {
            "ProductCode": item.request_item.get("ProductCode")
            if isinstance(item.request_item, dict)
            else None,
            "success": item.ok,
            "message": "; ".join(item.failure_reasons),
        }
        for item in items
    ]
    messages = [
        {"type": 1, "code": "ProductUpdateFailed", "index": i, "text": item.failure_reasons}
        for i, item in enumerate(items)
        if not item.ok
    ]
    body = {"success": all(item.ok for item in items), "message": messages, "data": data}
    return call.json(body)


def spec(sim: Simulator) -> PlatformSpec:
    """T-Soft REST1 endpoints under `/tsoft`."""
    auth = _authenticate
    endpoints = [
        Endpoint("login", "POST", "/rest1/auth/login/{user}", login, _identify_login),
        Endpoint("orderGet", "POST", "/rest1/order/get", _with_form(get_orders), auth),
        Endpoint("productGet", "POST", "/rest1/product/get", _with_form(get_products), auth),
        Endpoint(
            "updateProducts",
            "POST",
            "/rest1/product/updateProducts",
            _with_form(update_products),
            auth,
        ),
    ]
    return PlatformSpec(PLATFORM, endpoints, _throttled, _server_error)
