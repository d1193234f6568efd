"""The `/_sim/` control API through which tests, demos and benchmarks drive the simulator."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from marketplace_sim.clock import ManualClock
from marketplace_sim.faults import Fault, FaultKind
from marketplace_sim.orders import NewLine, cancel_lines, change_status, create_order
from marketplace_sim.runtime import Simulator, json_response
from marketplace_sim.state import (
    CREDENTIAL_FIELDS,
    PLATFORMS,
    PRIMARY_CREDENTIAL,
    Account,
    Listing,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(_Body):
    """POST /_sim/accounts."""

    platform: str
    seller_id: str
    credentials: dict[str, str]
    rate_limits: bool | None = None
    permissions: list[str] | None = None
    record_cap: int | None = Field(default=None, gt=0)


class AccountPatchIn(_Body):
    """PATCH /_sim/accounts/{id}: per-account behaviour; an explicit null restores the default."""

    rate_limits: bool | None = None
    permissions: list[str] | None = None
    record_cap: int | None = Field(default=None, gt=0)


class LineIn(_Body):
    """One order line."""

    sku: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    currency: str = "TRY"
    barcode: str | None = None
    product_name: str | None = None


class OrderIn(_Body):
    """POST /_sim/accounts/{id}/orders."""

    order_number: str
    status: str = "NEW"
    lines: list[LineIn] = Field(min_length=1)
    created_at: datetime | None = None


class BulkOrdersIn(_Body):
    """POST /_sim/accounts/{id}/orders/bulk: many orders spread over a time range."""

    count: int = Field(gt=0, le=1_000_000)
    prefix: str = "BULK"
    status: str = "NEW"
    lines_per_order: int = Field(default=1, gt=0, le=50)
    spread_seconds: float = Field(default=86_400.0, ge=0)
    unit_price: Decimal = Decimal("100.00")


class CancelIn(_Body):
    """A line to cancel; no quantity means all that is left."""

    sku: str
    quantity: int | None = Field(default=None, gt=0)


class OrderPatchIn(_Body):
    """PATCH /_sim/accounts/{id}/orders/{order_number}."""

    status: str | None = None
    cancel_lines: list[CancelIn] = Field(default_factory=list)


class ListingIn(_Body):
    """PUT /_sim/accounts/{id}/listings/{sku}."""

    barcode: str | None = None
    title: str = ""
    description: str = ""
    price: Decimal = Decimal("0")
    list_price: Decimal | None = None
    stock: int = Field(default=0, ge=0)
    currency: str = "TRY"
    platform_sku: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    min_price: Decimal | None = None
    max_price: Decimal | None = None


class FaultIn(_Body):
    """POST /_sim/faults."""

    kind: FaultKind
    platform: str | None = None
    account_id: str | None = None
    duration_seconds: float | None = Field(default=None, gt=0)
    seconds: float = Field(default=0.0, ge=0, le=60)
    rate: float = Field(default=1.0, ge=0, le=1)
    status: int = Field(default=503, ge=500, le=599)
    skus: list[str] | None = None
    reason: str = "simulated failure"


class ClockIn(_Body):
    """POST /_sim/clock."""

    advance_seconds: float = Field(ge=0)


def _error(status: int, code: str, message: str, details: Any = None) -> Response:
    return json_response({"error": {"code": code, "message": message, "details": details}}, status)


ModelT = TypeVar("ModelT", bound=BaseModel)


async def _parse(request: Request, model: type[ModelT]) -> ModelT | Response:
    try:
        raw = orjson.loads(await request.body() or b"{}")
        return model.model_validate(raw)
    except orjson.JSONDecodeError:
        return _error(400, "invalid_json", "request body is not JSON")
    except ValidationError as exc:
        details = orjson.loads(exc.json(include_url=False, include_context=False))
        return _error(422, "invalid_body", "request body does not match", details)


def account_view(account: Account) -> dict[str, Any]:
    """Account summary without secrets."""
    return {
        "account_id": account.account_id,
        "platform": account.platform,
        "seller_id": account.seller_id,
        "orders": len(account.orders.packages),
        "listings": len(account.listings),
        "rate_limits": account.rate_limits,
        "permissions": sorted(account.permissions) if account.permissions is not None else None,
        "record_cap": account.record_cap,
    }


def listing_view(listing: Listing) -> dict[str, Any]:
    """What the platform shows plus the push history."""
    return {"shown": listing.shown(), "history": [r.as_dict() for r in listing.history]}


class ControlApi:
    """Handlers of the control API over one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.state = sim.state

    def find_account(self, request: Request) -> Account | Response:
        account = self.state.accounts.get(request.path_params["account_id"])
        if account is None:
            return _error(404, "account_not_found", "no such account")
        return account

    async def create_account(self, request: Request) -> Response:
        body = await _parse(request, AccountIn)
        if isinstance(body, Response):
            return body
        if body.platform not in PLATFORMS:
            return _error(422, "unknown_platform", f"platform must be one of {list(PLATFORMS)}")
        missing = [f for f in CREDENTIAL_FIELDS[body.platform] if not body.credentials.get(f)]
        if missing:
            return _error(422, "missing_credentials", "credential fields missing", missing)
        primary = PRIMARY_CREDENTIAL[body.platform]
        if self.state.find(body.platform, primary, body.credentials[primary]) is not None:
            return _error(409, "account_exists", f"an account already uses this {primary}")
        account = self.state.add_account(
            body.platform, body.seller_id, dict(body.credentials), body.rate_limits
        )
        if body.permissions is not None:
            account.permissions = set(body.permissions)
        account.record_cap = body.record_cap
        return json_response({"account_id": account.account_id}, 201)

    async def patch_account(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        body = await _parse(request, AccountPatchIn)
        if isinstance(body, Response):
            return body
        given = body.model_fields_set  # only the fields sent change; null resets to default
        if "rate_limits" in given:
            account.rate_limits = body.rate_limits
        if "permissions" in given:
            account.permissions = set(body.permissions) if body.permissions is not None else None
        if "record_cap" in given:
            account.record_cap = body.record_cap
        return json_response(account_view(account))

    async def list_accounts(self, request: Request) -> Response:
        return json_response([account_view(a) for a in self.state.accounts.values()])

    async def get_account(self, request: Request) -> Response:
        account = self.find_account(request)
        return account if isinstance(account, Response) else json_response(account_view(account))

    async def get_credentials(self, request: Request) -> Response:
        """The seller panel's API page: the credentials the platform issued to this account.

        A real seller copies these from the marketplace's panel into Kervan; the demo seeding
        of `make up` does the same through this route.
        """
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        return json_response({"platform": account.platform, "credentials": account.credentials})

    async def add_order(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        body = await _parse(request, OrderIn)
        if isinstance(body, Response):
            return body
        now_ms = int(self.sim.clock.now() * 1000)
        created = int(body.created_at.timestamp() * 1000) if body.created_at else now_ms
        lines = [
            NewLine(x.sku, x.quantity, x.unit_price, x.currency, x.barcode, x.product_name)
            for x in body.lines
        ]
        try:
            pkg = create_order(
                account, self.state.ids, body.order_number, body.status, lines, created_ms=created
            )
        except ValueError as exc:
            return _error(409 if "exists" in str(exc) else 422, "invalid_order", str(exc))
        return json_response(
            {"order_number": pkg.order_number, "package_ids": [pkg.package_id]}, 201
        )

    async def add_orders_bulk(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        body = await _parse(request, BulkOrdersIn)
        if isinstance(body, Response):
            return body
        now_ms = int(self.sim.clock.now() * 1000)
        spread_ms = int(body.spread_seconds * 1000)
        skus = sorted(account.listings) or ["BULK-SKU-1"]
        start = len(account.orders.by_number)
        try:
            for i in range(body.count):
                offset = spread_ms * (body.count - 1 - i) // max(body.count, 1)
                lines = [
                    NewLine(skus[(i + j) % len(skus)], 1 + j % 3, body.unit_price, "TRY")
                    for j in range(body.lines_per_order)
                ]
                number = f"{body.prefix}{start + i + 1:09d}"
                create_order(
                    account, self.state.ids, number, body.status, lines, created_ms=now_ms - offset
                )
        except ValueError as exc:
            return _error(422, "invalid_order", str(exc))
        return json_response({"created": body.count}, 201)

    async def get_order(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        packages = account.orders.of_order(request.path_params["order_number"])
        if not packages:
            return _error(404, "order_not_found", "no such order")
        return json_response(
            [
                {
                    "package_id": p.package_id,
                    "status": p.status,
                    "created_by": p.created_by,
                    "origin_package_ids": p.origin_package_ids,
                    "modified_ms": p.modified_ms,
                    "lines": [
                        {
                            "line_id": x.line_id,
                            "sku": x.sku,
                            "quantity": x.quantity,
                            "cancelled": x.cancelled,
                        }
                        for x in p.lines
                    ],
                }
                for p in packages
            ]
        )

    async def patch_order(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        body = await _parse(request, OrderPatchIn)
        if isinstance(body, Response):
            return body
        number = request.path_params["order_number"]
        now_ms = int(self.sim.clock.now() * 1000)
        try:
            if body.cancel_lines:
                cancels = {c.sku: c.quantity for c in body.cancel_lines}
                cancel_lines(account, self.state.ids, number, cancels, now_ms)
            if body.status is not None:
                change_status(account, number, body.status, now_ms)
        except KeyError:
            return _error(404, "order_not_found", "no such order")
        except ValueError as exc:
            return _error(422, "invalid_change", str(exc))
        return await self.get_order(request)

    async def get_listing(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        account.settle(self.sim.clock.now())
        listing = account.listings.get(request.path_params["sku"])
        if listing is None:
            return _error(404, "listing_not_found", "no such listing")
        return json_response(listing_view(listing))

    async def list_listings(self, request: Request) -> Response:
        """Every listing of the account (or those named by `?sku=`), with push history:
        one call per account instead of one per listing (benchmarks read thousands)."""
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        account.settle(self.sim.clock.now())
        wanted = request.query_params.getlist("sku")
        skus = wanted or sorted(account.listings)
        return json_response(
            {sku: listing_view(account.listings[sku]) for sku in skus if sku in account.listings}
        )

    async def put_listing(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        body = await _parse(request, ListingIn)
        if isinstance(body, Response):
            return body
        sku = request.path_params["sku"]
        old = account.listings.get(sku)
        product_id = old.product_id if old else 7_000_000 + self.state.ids.next("product")
        listing = Listing(
            sku=sku,
            barcode=body.barcode or sku,
            product_id=product_id,
            title=body.title or f"Urun {sku}",
            description=body.description,
            price=body.price,
            list_price=body.list_price if body.list_price is not None else body.price,
            stock=body.stock,
            currency=body.currency,
            platform_sku=body.platform_sku or f"HB{product_id:010d}",
            attributes=body.attributes,
            min_price=body.min_price,
            max_price=body.max_price,
            history=old.history if old else [],
            updated_at=self.sim.clock.now(),
        )
        account.put_listing(listing)
        return json_response(listing_view(listing), 200 if old else 201)

    async def get_requests(self, request: Request) -> Response:
        account = self.find_account(request)
        if isinstance(account, Response):
            return account
        return json_response(account.requests.as_dict())

    async def add_fault(self, request: Request) -> Response:
        body = await _parse(request, FaultIn)
        if isinstance(body, Response):
            return body
        if body.platform is not None and body.platform not in PLATFORMS:
            return _error(422, "unknown_platform", f"platform must be one of {list(PLATFORMS)}")
        if body.account_id is not None and body.account_id not in self.state.accounts:
            return _error(404, "account_not_found", "no such account")
        if body.platform is None and body.account_id is None:
            return _error(422, "unscoped_fault", "give platform and/or account_id")
        now = self.sim.clock.now()
        fault = Fault(
            fault_id=self.sim.faults.next_id(),
            kind=body.kind,
            platform=body.platform,
            account_id=body.account_id,
            starts_at=now,
            until=now + body.duration_seconds if body.duration_seconds else None,
            seconds=body.seconds,
            rate=body.rate,
            status=body.status,
            skus=frozenset(body.skus) if body.skus is not None else None,
            reason=body.reason,
        )
        self.sim.faults.add(fault)
        return json_response(fault.as_dict(), 201)

    async def list_faults(self, request: Request) -> Response:
        return json_response([f.as_dict() for f in self.sim.faults.all()])

    async def delete_fault(self, request: Request) -> Response:
        if not self.sim.faults.remove(request.path_params["fault_id"]):
            return _error(404, "fault_not_found", "no such fault")
        return Response(status_code=204)

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        self.sim.faults.clear()
        self.sim.buckets.clear()
        return Response(status_code=204)

    async def get_clock(self, request: Request) -> Response:
        return json_response(
            {"now": self.sim.clock.now(), "manual": isinstance(self.sim.clock, ManualClock)}
        )

    async def advance_clock(self, request: Request) -> Response:
        if not isinstance(self.sim.clock, ManualClock):
            return _error(409, "clock_not_manual", "the simulator runs on the wall clock")
        body = await _parse(request, ClockIn)
        if isinstance(body, Response):
            return body
        return json_response({"now": self.sim.clock.advance(body.advance_seconds), "manual": True})

    acct = "/accounts/{account_id}"

    def routes(self) -> list[Route]:
        """Routes to mount at /_sim."""
        acct = "/accounts/{account_id}"
        return [
            Route("/accounts", self.create_account, methods=["POST"]),
            Route("/accounts", self.list_accounts, methods=["GET"]),
            Route(acct, self.get_account, methods=["GET"]),
            Route(acct, self.patch_account, methods=["PATCH"]),
            Route(f"{acct}/credentials", self.get_credentials, methods=["GET"]),
            Route(f"{acct}/orders", self.add_order, methods=["POST"]),
            Route(f"{acct}/orders/bulk", self.add_orders_bulk, methods=["POST"]),
            Route(f"{acct}/orders/{{order_number}}", self.get_order, methods=["GET"]),
            Route(f"{acct}/orders/{{order_number}}", self.patch_order, methods=["PATCH"]),
            Route(f"{acct}/listings", self.list_listings, methods=["GET"]),
            Route(f"{acct}/listings/{{sku}}", self.get_listing, methods=["GET"]),
            Route(f"{acct}/listings/{{sku}}", self.put_listing, methods=["PUT"]),
            Route(f"{acct}/requests", self.get_requests, methods=["GET"]),
            Route("/faults", self.add_fault, methods=["POST"]),
            Route("/faults", self.list_faults, methods=["GET"]),
            Route("/faults/{fault_id}", self.delete_fault, methods=["DELETE"]),
            Route("/reset", self.reset, methods=["POST"]),
            Route("/clock", self.get_clock, methods=["GET"]),
            Route("/clock", self.advance_clock, methods=["POST"]),
        ]


def routes(sim: Simulator) -> list[Route]:
    """Control routes (mounted at /_sim)."""
    return ControlApi(sim).routes()
