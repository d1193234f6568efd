"""Amazon Selling Partner API for amazon.com.tr (EU endpoint), with LWA and the consent page."""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from marketplace_sim.common import (
    BadParameterError,
    build_item,
    decimal_value,
    decode_cursor,
    encode_cursor,
    int_param,
    iso_utc,
    money_str,
    parse_iso,
    read_form,
    request_form,
    submit_batch,
)
from marketplace_sim.paths import contracts_dir
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
from marketplace_sim.state import Account, Batch, BatchItem, Listing, SimPackage, Token

PLATFORM = "amazon_tr"
MARKETPLACE_ID = "A33AVAJ2PDY3EV"
MIN_LAG_MS = 2 * 60 * 1000
FEED_RETENTION_SECONDS = 90 * 86_400

# Rates and bursts from the usage plans in the official models.
LIMITS = {
    "getOrders": RateLimit(0.0167, 20),
    "getOrder": RateLimit(0.5, 30),
    "getOrderItems": RateLimit(0.5, 30),
    "getMarketplaceParticipations": RateLimit(0.016, 15),
    "getListingsItem": RateLimit(5.0, 10),
    "patchListingsItem": RateLimit(5.0, 5),
    "createFeedDocument": RateLimit(0.5, 15),
    "createFeed": RateLimit(0.0083, 15),
    "getFeed": RateLimit(2.0, 15),
    "getFeedDocument": RateLimit(0.0222, 10),
}

MODEL_DIR = contracts_dir() / "amazon-sp-api"


def _errors(status: int, code: str, message: str, details: str = "") -> Response:
    error: dict[str, str] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return json_response({"errors": [error]}, status)


def _lwa_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status)


def _authenticate(request: Request, sim: Simulator) -> AuthResult:
    token_value = request.headers.get("x-amz-access-token", "")
    token = sim.state.tokens.get(token_value)
    account = sim.state.accounts.get(token.account_id) if token is not None else None
    now = sim.clock.now()
    if token is None or token.kind != "amazon_access" or account is None:
        return AuthResult(
            None, _errors(403, "Unauthorized", "Access to requested resource is denied.")
        )
    if token.expires_at <= now:
        return AuthResult(
            account,
            _errors(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided has expired.",
            ),
        )
    if sim.revoked(account, now):
        return AuthResult(
            account, _errors(403, "Unauthorized", "Access to requested resource is denied.")
        )
    seller = request.path_params.get("sellerId")
    if seller is not None and seller != account.credentials["selling_partner_id"]:
        return AuthResult(
            account, _errors(403, "Unauthorized", "Access to requested resource is denied.")
        )
    return AuthResult(account)


async def _identify_lwa(request: Request, sim: Simulator) -> AuthResult:
    """Name the account an LWA request is for (refresh token, or the account of an issued,
    expired or spent code) before any check: account-scoped faults then reach the token
    endpoint, and refusals such as `invalid_grant` land in the account's request log."""
    form = await request_form(request)
    account = sim.state.find(PLATFORM, "refresh_token", form.get("refresh_token") or "")
    code = sim.state.tokens.get(form.get("code") or "")
    if account is None and code is not None and code.kind in {"amazon_code", "amazon_code_used"}:
        account = sim.state.accounts.get(code.account_id)
    return AuthResult(account)


def _limit_headers(decision: BucketDecision, limit: RateLimit) -> dict[str, str]:
    return {"x-amzn-RateLimit-Limit": str(limit.rate)}


def _throttled(decision: BucketDecision, limit: RateLimit | None) -> Response:
    response = _errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
    if limit is not None:
        response.headers["x-amzn-RateLimit-Limit"] = str(limit.rate)
    return response


def _server_error(status: int) -> Response:
    return _errors(status, "InternalFailure", "We encountered an internal error.")


# ---- Login with Amazon and the consent page -------------------------------------------


async def lwa_token(call: Call) -> Response:
    """POST /auth/o2/token: refresh_token and authorization_code grants."""
    sim = call.sim
    form = await read_form(call)
    settings = sim.settings
    if (
        form.get("client_id") != settings.amazon_lwa_client_id
        or form.get("client_secret") != settings.amazon_lwa_client_secret
    ):
        return _lwa_error(401, "invalid_client", "Client authentication failed")
    grant = form.get("grant_type")
    account: Account | None
    refresh: str | None = None
    if grant == "refresh_token":
        account = sim.state.find(PLATFORM, "refresh_token", str(form.get("refresh_token", "")))
    elif grant == "authorization_code":
        code_value = str(form.get("code", ""))
        code = sim.state.tokens.get(code_value)
        valid = code is not None and code.kind == "amazon_code" and code.expires_at > call.now
        account = sim.state.accounts.get(code.account_id) if valid and code else None
        if account is not None and code is not None:
            # Codes are single-use; the spent code is kept (as such) so that a replay is still
            # attributed to its account while being refused.
            sim.state.tokens[code_value] = Token(
                code.account_id, "amazon_code_used", code.expires_at
            )
            refresh = account.credentials["refresh_token"]
    else:
        return _lwa_error(400, "unsupported_grant_type", "The grant type is not supported")
    if account is None or sim.revoked(account, call.now):
        return _lwa_error(
            400, "invalid_grant", f"The request has an invalid grant parameter : {grant}"
        )
    call.account = account
    access = "Atza|" + sim.state.ids.token("amazon-access")
    expires = sim.settings.amazon_access_token_ttl
    sim.state.tokens[access] = Token(account.account_id, "amazon_access", call.now + expires)
    body: dict[str, Any] = {"access_token": access, "token_type": "bearer", "expires_in": expires}
    if refresh is not None:
        body["refresh_token"] = refresh
    return call.json(body)


async def consent(call: Call) -> Response:
    """GET /apps/authorize/consent: the seller approves and is sent back with a code."""
    sim = call.sim
    settings = sim.settings
    query = call.request.query_params
    if query.get("application_id") != settings.amazon_application_id:
        return text_response("Unknown application_id", 400)
    if settings.amazon_app_is_draft and query.get("version") != "beta":
        return text_response("MD1000: the application is in Draft state; add version=beta", 400)
    redirect_uri = query.get("redirect_uri") or (
        settings.amazon_redirect_uris[0] if settings.amazon_redirect_uris else ""
    )
    allowed = settings.amazon_redirect_uris
    scheme_ok = urlsplit(redirect_uri).scheme in {"http", "https"}
    if not scheme_ok or (allowed and redirect_uri not in allowed):
        return text_response("MD5101: the redirect URI does not match the application", 400)
    # Simulator extension: there is no seller login, so the caller names the seller with
    # `selling_partner_id`, or the only Amazon account is taken.
    accounts = [a for a in sim.state.accounts.values() if a.platform == PLATFORM]
    wanted = query.get("selling_partner_id")
    if wanted:
        accounts = [a for a in accounts if a.credentials["selling_partner_id"] == wanted]
    if len(accounts) != 1:
        return text_response("Sign in as exactly one seller (selling_partner_id)", 400)
    account = accounts[0]
    call.account = account
    code = sim.state.ids.token("spapi-code")
    sim.state.tokens[code] = Token(
        account.account_id, "amazon_code", call.now + settings.amazon_auth_code_ttl
    )
    params = {
        "state": query.get("state", ""),
        "selling_partner_id": account.credentials["selling_partner_id"],
        "spapi_oauth_code": code,
    }
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", 302)


# ---- Orders v0 -------------------------------------------------------------------------


def _order_json(pkg: SimPackage) -> dict[str, Any]:
    cached = pkg.render_cache.get(PLATFORM)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    shipped = pkg.status == "Shipped"
    quantity = sum(line.active_quantity for line in pkg.lines)
    order: dict[str, Any] = {
        "AmazonOrderId": pkg.order_number,
        "PurchaseDate": iso_utc(pkg.created_ms),
        "LastUpdateDate": iso_utc(pkg.modified_ms),
        "OrderStatus": pkg.status,
        "FulfillmentChannel": "MFN",
        "SalesChannel": "Amazon.com.tr",
        "ShipServiceLevel": "Std TR Dom",
        "NumberOfItemsShipped": quantity if shipped else 0,
        "NumberOfItemsUnshipped": 0 if shipped else quantity,
        "PaymentMethod": "Other",
        "PaymentMethodDetails": ["Standard"],
        "MarketplaceId": MARKETPLACE_ID,
        "ShipmentServiceLevelCategory": "Standard",
        "OrderType": "StandardOrder",
        "EarliestShipDate": iso_utc(pkg.created_ms + 86_400_000),
        "LatestShipDate": iso_utc(pkg.created_ms + 2 * 86_400_000),
        "IsBusinessOrder": False,
        "IsPrime": False,
        "IsPremiumOrder": False,
        "IsGlobalExpressEnabled": False,
        "IsReplacementOrder": False,
        "IsSoldByAB": False,
        "IsISPU": False,
        "IsAccessPointOrder": False,
        "HasRegulatedItems": False,
    }
    if pkg.status != "Pending":
        # Amazon sends no money while an order is Pending.
        total = sum((x.unit_price * x.active_quantity for x in pkg.lines), Decimal(0))
        currency = pkg.lines[0].currency if pkg.lines else "TRY"
        order["OrderTotal"] = {"CurrencyCode": currency, "Amount": money_str(total)}
    pkg.render_cache[PLATFORM] = order
    return order


def _require_marketplace(call: Call) -> None:
    ids = call.request.query_params.get("MarketplaceIds") or call.request.query_params.get(
        "marketplaceIds"
    )
    if not ids:
        raise BadParameterError("MarketplaceIds is required")
    if MARKETPLACE_ID not in ids.split(","):
        raise BadParameterError(f"Invalid MarketplaceIds: only {MARKETPLACE_ID} is served here")


async def get_orders(call: Call) -> Response:
    """GET /orders/v0/orders."""
    query = call.request.query_params
    try:
        _require_marketplace(call)
        if token := query.get("NextToken"):
            cursor = decode_cursor(token, "NextToken")
        else:
            cursor = _orders_query(call)
    except BadParameterError as exc:
        return _errors(400, "InvalidInput", str(exc))
    book = call.acct.orders
    if cursor["by"] == "created":
        keys = book.created_between(cursor["after"], cursor["before"])
    else:
        keys = book.modified_between(cursor["after"], cursor["before"])
    statuses = set(cursor["statuses"] or [])
    ids = set(cursor["ids"] or [])
    offset, size = int(cursor["offset"]), int(cursor["size"])
    packages = (book.packages[pid] for _, pid in keys)
    selected = [
        p
        for p in packages
        if (not statuses or p.status in statuses) and (not ids or p.order_number in ids)
    ]
    chunk = selected[offset : offset + size]
    payload: dict[str, Any] = {"Orders": [_order_json(p) for p in chunk]}
    if offset + size < len(selected):
        payload["NextToken"] = encode_cursor({**cursor, "offset": offset + size})
    key = "CreatedBefore" if cursor["by"] == "created" else "LastUpdatedBefore"
    payload[key] = iso_utc(cursor["before"])
    return call.json({"payload": payload})


def _orders_query(call: Call) -> dict[str, Any]:
    query = call.request.query_params
    created_after, updated_after = query.get("CreatedAfter"), query.get("LastUpdatedAfter")
    if bool(created_after) == bool(updated_after):
        raise BadParameterError("Exactly one of CreatedAfter and LastUpdatedAfter must be given")
    if created_after and (query.get("LastUpdatedBefore") or query.get("LastUpdatedAfter")):
        raise BadParameterError("LastUpdated filters cannot be combined with CreatedAfter")
    if updated_after and query.get("CreatedBefore"):
        raise BadParameterError("CreatedBefore cannot be combined with LastUpdatedAfter")
    prefix = "Created" if created_after else "LastUpdated"
    latest = call.now_ms - MIN_LAG_MS
    after = parse_iso(created_after or updated_after or "", f"{prefix}After")
    before_raw = query.get(f"{prefix}Before")
    before = parse_iso(before_raw, f"{prefix}Before") if before_raw else latest
    if after > latest:
        raise BadParameterError(f"{prefix}After must be at least 2 minutes before the request time")
    if before > latest:
        raise BadParameterError(
            f"{prefix}Before must be at least 2 minutes before the request time"
        )
    if before < after:
        raise BadParameterError(f"{prefix}Before must not be before {prefix}After")
    size = int_param(query.get("MaxResultsPerPage"), "MaxResultsPerPage", 100, 1, 100)
    statuses = [s for s in (query.get("OrderStatuses") or "").split(",") if s]
    ids = [s for s in (query.get("AmazonOrderIds") or "").split(",") if s]
    return {
        "by": "created" if created_after else "updated",
        "after": after,
        "before": before,
        "statuses": statuses,
        "ids": ids,
        "offset": 0,
        "size": size,
    }


def _package(call: Call) -> SimPackage | None:
    packages = call.acct.orders.of_order(call.path_params["orderId"])
    return packages[-1] if packages else None


async def get_order(call: Call) -> Response:
    """GET /orders/v0/orders/{orderId}."""
    pkg = _package(call)
    if pkg is None:
        return _errors(404, "NotFound", "The order was not found.")
    return call.json({"payload": _order_json(pkg)})


async def get_order_items(call: Call) -> Response:
    """GET /orders/v0/orders/{orderId}/orderItems."""
    pkg = _package(call)
    if pkg is None:
        return _errors(404, "NotFound", "The order was not found.")
    cancelled_order = pkg.status == "Canceled"
    items = []
    for line in pkg.lines:
        listing = call.acct.listings.get(line.sku)
        quantity = line.quantity if cancelled_order else line.active_quantity
        item: dict[str, Any] = {
            "ASIN": (listing.attributes.get("asin") if listing else None)
            or f"B0{line.line_id:08d}",
            "SellerSKU": line.sku,
            "OrderItemId": str(line.line_id),
            "Title": line.product_name,
            "QuantityOrdered": quantity,
            "QuantityShipped": quantity if pkg.status == "Shipped" else 0,
        }
        if pkg.status != "Pending":
            total = line.unit_price * quantity
            item["ItemPrice"] = {"CurrencyCode": line.currency, "Amount": money_str(total)}
            tax = total * Decimal("0.20") / Decimal("1.20")
            item["ItemTax"] = {"CurrencyCode": line.currency, "Amount": money_str(tax)}
        if line.cancelled:
            item["BuyerRequestedCancel"] = {
                "IsBuyerRequestedCancel": "true",
                "BuyerCancelReason": "Cancelled quantity " + str(line.cancelled),
            }
        items.append(item)
    return call.json({"payload": {"AmazonOrderId": pkg.order_number, "OrderItems": items}})


# ---- Sellers ---------------------------------------------------------------------------


async def marketplace_participations(call: Call) -> Response:
    """GET /sellers/v1/marketplaceParticipations: the cheapest credential check."""
    return call.json(
        {
            "payload": [
                {
                    "marketplace": {
                        "id": MARKETPLACE_ID,
                        "name": "Amazon.com.tr",
                        "countryCode": "TR",
                        "defaultCurrencyCode": "TRY",
                        "defaultLanguageCode": "tr_TR",
                        "domainName": "www.amazon.com.tr",
                    },
                    "participation": {"isParticipating": True, "hasSuspendedListings": False},
                    "storeName": f"Kervan Sim {call.acct.seller_id}",
                }
            ]
        }
    )


# ---- Listings Items --------------------------------------------------------------------


def _issue(code: str, message: str, attribute: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "code": code,
        "message": message,
        "severity": "ERROR",
        "categories": ["INVALID_ATTRIBUTE"],
    }
    if attribute:
        issue["attributeNames"] = [attribute]
    return issue


def evaluate_patches(
    listing: Listing | None, patches: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Turn listing patches into listing changes, or issues for what Amazon would refuse."""
    changes: dict[str, Any] = {}
    issues: list[dict[str, Any]] = []
    if not isinstance(patches, list) or not patches:
        return changes, [_issue("4000001", "patches must be a non-empty list")]
    attributes = dict(listing.attributes) if listing is not None else {}
    for patch in patches:
        if not isinstance(patch, dict) or patch.get("op") not in {
            "add",
            "replace",
            "merge",
            "delete",
        }:
            issues.append(_issue("4000001", "op must be add, replace, merge or delete"))
            continue
        path = str(patch.get("path", ""))
        name = path.removeprefix("/attributes/")
        value = patch.get("value")
        if not path.startswith("/attributes/") or not name or "/" in name:
            issues.append(_issue("4000002", "only top-level attributes can be patched", name))
            continue
        if patch["op"] == "delete":
            attributes.pop(name, None)
            continue
        if not isinstance(value, list) or not value or not isinstance(value[0], dict):
            issues.append(_issue("4000003", "value must be a non-empty list of objects", name))
            continue
        first = value[0]
        if name == "fulfillment_availability":
            quantity = first.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
                issues.append(_issue("4000004", "quantity must be a non-negative integer", name))
                continue
            changes["stock"] = quantity
        elif name == "purchasable_offer":
            price = _offer_price(first)
            if price is None or price <= 0:
                issues.append(_issue("4000005", "our_price value_with_tax must be positive", name))
                continue
            changes["price"] = price
        elif name == "item_name" and isinstance(first.get("value"), str):
            changes["title"] = first["value"]
        elif name == "product_description" and isinstance(first.get("value"), str):
            changes["description"] = first["value"]
        attributes[name] = value
    if not issues:
        changes["attributes"] = attributes
    return changes, issues


def _offer_price(offer: dict[str, Any]) -> Decimal | None:
    try:
        value = offer["our_price"][0]["schedule"][0]["value_with_tax"]
    except (KeyError, IndexError, TypeError):
        return None
    return decimal_value(value)


async def patch_listings_item(call: Call) -> Response:
    """PATCH /listings/2021-08-01/items/{sellerId}/{sku}: ACCEPTED now, applied later."""
    query = call.request.query_params
    if not query.get("marketplaceIds"):
        return _errors(400, "InvalidInput", "marketplaceIds is required")
    try:
        body = await call.request.json()
    except ValueError:
        return _errors(400, "InvalidInput", "request body is not JSON")
    if not isinstance(body, dict) or not body.get("productType") or "patches" not in body:
        return _errors(400, "InvalidInput", "productType and patches are required")
    sku = call.path_params["sku"]
    account = call.acct
    listing = account.listings.get(sku)
    changes, issues = evaluate_patches(listing, body["patches"])
    if listing is None:
        issues.append(_issue("4000009", f"SKU {sku} was not found in the marketplace"))
    injected = call.sim.faults.item_failure(PLATFORM, account.account_id, sku, call.now)
    if injected is not None:
        issues.append(_issue("4000010", injected))
    submission_id = call.sim.state.ids.batch_id("listings").replace("-", "")
    if issues:
        status = "INVALID"
    elif query.get("mode") == "VALIDATION_PREVIEW":
        status = "VALID"
    else:
        status = "ACCEPTED"
        item = BatchItem(body, sku, changes)
        submit_batch(call, "LISTINGS_PATCH", [item], batch_id=submission_id)
    return call.json(
        {"sku": sku, "status": status, "submissionId": submission_id, "issues": issues}
    )


async def get_listings_item(call: Call) -> Response:
    """GET /listings/2021-08-01/items/{sellerId}/{sku}."""
    if not call.request.query_params.get("marketplaceIds"):
        return _errors(400, "InvalidInput", "marketplaceIds is required")
    listing = call.acct.listings.get(call.path_params["sku"])
    if listing is None:
        return _errors(404, "NOT_FOUND", "SKU not found")
    included = set((call.request.query_params.get("includedData") or "summaries").split(","))
    stamp = iso_utc(int(listing.updated_at * 1000))
    body: dict[str, Any] = {"sku": listing.sku}
    if "summaries" in included:
        body["summaries"] = [
            {
                "marketplaceId": MARKETPLACE_ID,
                "asin": str(listing.attributes.get("asin") or f"B0{listing.product_id:08d}"),
                "productType": str(listing.attributes.get("product_type", "PRODUCT")),
                "conditionType": "new_new",
                "status": ["BUYABLE"] if listing.stock > 0 else ["DISCOVERABLE"],
                "itemName": listing.title,
                "createdDate": stamp,
                "lastUpdatedDate": stamp,
            }
        ]
    if "attributes" in included:
        body["attributes"] = listing.attributes
    if "issues" in included:
        body["issues"] = []
    if "offers" in included:
        body["offers"] = [
            {
                "marketplaceId": MARKETPLACE_ID,
                "offerType": "B2C",
                "price": {"currencyCode": listing.currency, "amount": money_str(listing.price)},
            }
        ]
    if "fulfillmentAvailability" in included:
        body["fulfillmentAvailability"] = [
            {"fulfillmentChannelCode": "DEFAULT", "quantity": listing.stock}
        ]
    return call.json(body)


# ---- Feeds -----------------------------------------------------------------------------


def _document_url(call: Call, document_id: str) -> str:
    root = call.request.scope.get("root_path", "")
    return str(call.request.url.replace(path=f"{root}/_documents/{document_id}", query=""))


async def create_feed_document(call: Call) -> Response:
    """POST /feeds/2021-06-30/documents: an upload URL (served by the simulator)."""
    try:
        body = await call.request.json()
    except ValueError:
        return _errors(400, "InvalidInput", "request body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("contentType"), str):
        return _errors(400, "InvalidInput", "contentType is required")
    document_id = "amzn1.tortuga.4.eu." + call.sim.state.ids.batch_id("document")
    call.sim.state.documents[document_id] = b""
    return call.json({"feedDocumentId": document_id, "url": _document_url(call, document_id)}, 201)


async def put_document(call: Call) -> Response:
    """PUT /_documents/{documentId}: stands in for the pre-signed upload URL."""
    document_id = call.path_params["documentId"]
    if document_id not in call.sim.state.documents:
        return text_response("NoSuchKey", 404)
    call.sim.state.documents[document_id] = await call.request.body()
    return Response(status_code=200)


async def get_document(call: Call) -> Response:
    """GET /_documents/{documentId}: stands in for the pre-signed download URL."""
    content = call.sim.state.documents.get(call.path_params["documentId"])
    if content is None:
        return text_response("NoSuchKey", 404)
    return Response(content, media_type="application/json")


async def create_feed(call: Call) -> Response:
    """POST /feeds/2021-06-30/feeds: JSON_LISTINGS_FEED processed on the simulator clock."""
    try:
        body = await call.request.json()
    except ValueError:
        return _errors(400, "InvalidInput", "request body is not JSON")
    if not isinstance(body, dict):
        return _errors(400, "InvalidInput", "body must be an object")
    if body.get("feedType") != "JSON_LISTINGS_FEED":
        return _errors(400, "InvalidInput", "the simulator accepts feedType JSON_LISTINGS_FEED")
    if MARKETPLACE_ID not in (body.get("marketplaceIds") or []):
        return _errors(400, "InvalidInput", f"marketplaceIds must include {MARKETPLACE_ID}")
    content = call.sim.state.documents.get(str(body.get("inputFeedDocumentId")))
    if content is None:
        return _errors(400, "InvalidInput", "inputFeedDocumentId is unknown")
    items: list[BatchItem] = []
    fatal = False
    try:
        messages = json.loads(content or b"null")["messages"]
    except (ValueError, KeyError, TypeError):
        messages = None
    if not isinstance(messages, list):
        fatal, messages = True, []
    account = call.acct
    for message in messages:
        sku = message.get("sku") if isinstance(message, dict) else None
        listing = account.listings.get(sku) if isinstance(sku, str) else None
        patches = message.get("patches") if isinstance(message, dict) else None
        changes, issues = evaluate_patches(listing, patches)
        reasons = [f"{i['code']}: {i['message']}" for i in issues]
        items.append(
            build_item(call, message, listing, changes, reasons, not_found="SKU not found")
        )
    feed_id = str(50_000_000_000 + call.sim.state.ids.next("feed"))
    submit_batch(
        call,
        "JSON_LISTINGS_FEED",
        items,
        rejected=["FATAL: the feed document is not a JSON listings feed"] if fatal else None,
        extra={"fatal": fatal, "marketplaceIds": [MARKETPLACE_ID]},
        batch_id=feed_id,
    )
    return call.json({"feedId": feed_id}, 202)


def _feed_json(call: Call, batch: Batch) -> dict[str, Any]:
    feed: dict[str, Any] = {
        "feedId": batch.batch_id,
        "feedType": batch.kind,
        "marketplaceIds": batch.extra["marketplaceIds"],
        "createdTime": iso_utc(int(batch.created_at * 1000)),
        "processingStatus": "IN_QUEUE",
    }
    if batch.done:
        feed["processingStatus"] = "FATAL" if batch.extra["fatal"] else "DONE"
        feed["processingStartTime"] = iso_utc(int(batch.created_at * 1000))
        feed["processingEndTime"] = iso_utc(int(batch.due_at * 1000))
        feed["resultFeedDocumentId"] = _result_document(call, batch)
    return feed


def _result_document(call: Call, batch: Batch) -> str:
    existing = batch.extra.get("result_document")
    if isinstance(existing, str):
        return existing
    document_id = "amzn1.tortuga.4.eu." + call.sim.state.ids.batch_id("report")
    issues: list[dict[str, Any]] = []
    for number, item in enumerate(batch.items, start=1):
        message = item.request_item if isinstance(item.request_item, dict) else {}
        issues.extend(
            {
                "messageId": message.get("messageId", number),
                "code": reason.split(":", 1)[0],
                "severity": "ERROR",
                "message": reason,
            }
            for reason in item.failure_reasons
        )
    invalid = sum(1 for item in batch.items if not item.ok)
    report = {
        "header": {
            "sellerId": call.acct.credentials["selling_partner_id"],
            "version": "2.0",
            "feedId": batch.batch_id,
        },
        "issues": issues,
        "summary": {
            "errors": len(issues),
            "warnings": 0,
            "messagesProcessed": len(batch.items),
            "messagesAccepted": len(batch.items) - invalid,
            "messagesInvalid": invalid,
        },
    }
    call.sim.state.documents[document_id] = json.dumps(report).encode()
    batch.extra["result_document"] = document_id
    return document_id


async def get_feed(call: Call) -> Response:
    """GET /feeds/2021-06-30/feeds/{feedId}."""
    batch = call.acct.batches.get(call.path_params["feedId"])
    if batch is None or batch.kind != "JSON_LISTINGS_FEED":
        return _errors(404, "NotFound", "The feed was not found.")
    return call.json(_feed_json(call, batch))


async def get_feed_document(call: Call) -> Response:
    """GET /feeds/2021-06-30/documents/{feedDocumentId}."""
    document_id = call.path_params["feedDocumentId"]
    if document_id not in call.sim.state.documents:
        return _errors(404, "NotFound", "The document was not found.")
    return call.json({"feedDocumentId": document_id, "url": _document_url(call, document_id)})


# ---- Static sandbox replay -------------------------------------------------------------


@functools.cache
def _static_cases(operation: str) -> list[tuple[dict[str, Any], int, Any]]:
    files = {
        "getOrders": ("ordersV0.json", "/orders/v0/orders", "get"),
        "getOrder": ("ordersV0.json", "/orders/v0/orders/{orderId}", "get"),
        "getOrderItems": ("ordersV0.json", "/orders/v0/orders/{orderId}/orderItems", "get"),
    }
    if operation not in files or not MODEL_DIR.is_dir():
        return []
    name, path, method = files[operation]
    model = json.loads((MODEL_DIR / name).read_text())
    cases = []
    for status, response in model["paths"][path][method]["responses"].items():
        sandbox = response.get("x-amzn-api-sandbox", {})
        for case in sandbox.get("static", []):
            params = case.get("request", {}).get("parameters", {})
            cases.append((params, int(status), case.get("response")))
    return cases


def _replay(operation: str, handler: Any) -> Any:
    """On the sandbox base, answer the model's static request/response pairs verbatim."""

    async def run(call: Call) -> Response:
        if call.base == "sandbox":
            values = {**call.request.query_params, **call.path_params}
            for params, status, body in _static_cases(operation):
                if all(_matches(values.get(k), v.get("value")) for k, v in params.items()):
                    return call.json(body, status)
        response: Response = await handler(call)
        return response

    return run


def _matches(actual: str | None, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(expected, list):
        return actual.split(",") == [str(x) for x in expected]
    return actual == str(expected)


def spec(sim: Simulator) -> PlatformSpec:
    """Amazon SP-API, LWA and consent endpoints under `/amazon_tr`."""
    auth = _authenticate
    orders = "/orders/v0/orders"
    listings = "/listings/2021-08-01/items/{sellerId}/{sku}"
    endpoints = [
        Endpoint("lwaToken", "POST", "/auth/o2/token", lwa_token, _identify_lwa),
        Endpoint("consent", "GET", "/apps/authorize/consent", consent),
        Endpoint(
            "getOrders", "GET", orders, _replay("getOrders", get_orders), auth, LIMITS["getOrders"]
        ),
        Endpoint(
            "getOrder",
            "GET",
            f"{orders}/{{orderId}}",
            _replay("getOrder", get_order),
            auth,
            LIMITS["getOrder"],
        ),
        Endpoint(
            "getOrderItems",
            "GET",
            f"{orders}/{{orderId}}/orderItems",
            _replay("getOrderItems", get_order_items),
            auth,
            LIMITS["getOrderItems"],
        ),
        Endpoint(
            "getMarketplaceParticipations",
            "GET",
            "/sellers/v1/marketplaceParticipations",
            marketplace_participations,
            auth,
            LIMITS["getMarketplaceParticipations"],
        ),
        Endpoint(
            "patchListingsItem",
            "PATCH",
            listings,
            patch_listings_item,
            auth,
            LIMITS["patchListingsItem"],
        ),
        Endpoint(
            "getListingsItem", "GET", listings, get_listings_item, auth, LIMITS["getListingsItem"]
        ),
        Endpoint(
            "createFeedDocument",
            "POST",
            "/feeds/2021-06-30/documents",
            create_feed_document,
            auth,
            LIMITS["createFeedDocument"],
        ),
        Endpoint(
            "createFeed", "POST", "/feeds/2021-06-30/feeds", create_feed, auth, LIMITS["createFeed"]
        ),
        Endpoint(
            "getFeed",
            "GET",
            "/feeds/2021-06-30/feeds/{feedId}",
            get_feed,
            auth,
            LIMITS["getFeed"],
        ),
        Endpoint(
            "getFeedDocument",
            "GET",
            "/feeds/2021-06-30/documents/{feedDocumentId}",
            get_feed_document,
            auth,
            LIMITS["getFeedDocument"],
        ),
        Endpoint("putDocument", "PUT", "/_documents/{documentId}", put_document),
        Endpoint("getDocument", "GET", "/_documents/{documentId}", get_document),
    ]
    return PlatformSpec(PLATFORM, endpoints, _throttled, _server_error, _limit_headers)
