"""Shared machinery of the six adapters (the interface itself is in `interface.py`)."""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from kervan_contracts.identifiers import Platform
from kervan_contracts.money import Money, NonNegativeMoney
from kervan_contracts.orders.v1 import Order
from kervan_marketplaces.errors import (
    AuthRejected,
    RequestRejected,
    UnsupportedOperation,
)
from kervan_marketplaces.models import (
    BatchHandle,
    BatchResult,
    Capabilities,
    CredentialCheck,
    EndpointLimit,
    ListingRef,
    PriceStockItem,
    ProductInfoItem,
)
from kervan_marketplaces.ratelimit import Rate
from kervan_marketplaces.settings import IntegratorIdentity
from kervan_marketplaces.timeutil import floor_to, require_aware
from kervan_marketplaces.transport import Endpoint, PlatformHttp

log = logging.getLogger("kervan_marketplaces")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoreContext:
    """Per-store input of an adapter. Credentials stay `SecretStr` until the moment of use."""

    store_id: str
    seller_id: str
    credentials: Mapping[str, SecretStr] = field(repr=False)
    test_mode: bool = False

    def __repr__(self) -> str:  # never print credential values, not even masked lengths
        return (
            f"StoreContext(store_id={self.store_id!r}, seller_id={self.seller_id!r}, "
            f"test_mode={self.test_mode}, credentials=<{len(self.credentials)} fields>)"
        )


def endpoint_limits(endpoints: Mapping[str, tuple[Endpoint, str]]) -> tuple[EndpointLimit, ...]:
    """Capabilities' view of the endpoint table."""
    limits = []
    for endpoint, source in endpoints.values():
        period = 1.0 / endpoint.rate.per_second
        limits.append(
            EndpointLimit(
                endpoint=endpoint.name,
                requests=1.0,
                per_seconds=round(period, 6),
                burst=endpoint.rate.burst,
                source=source,
            )
        )
    return tuple(limits)


def decode_json(response: httpx.Response) -> Any:
    """Parse a response body with decimals kept exact (never floats)."""
    try:
        return json.loads(response.content or b"null", parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestRejected(
            "platform returned a body that is not JSON",
            code="malformed_response",
            status=response.status_code,
        ) from exc


def to_decimal(value: object, default: Decimal | None = None) -> Decimal:
    """A platform amount (number or string, comma or dot decimal) as Decimal."""
    if type(value) is Decimal:
        return value  # what the JSON decoder gives for every number with a fraction
    if value is None or value == "":
        if default is None:
            raise ValueError("missing amount")
        return default
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("boolean is not an amount")
    text = str(value).strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc


_ZERO = Decimal(0)
_EIGHT_DECIMALS = Decimal("0.00000001")


_AMOUNT_TEXTS: dict[str, str] = {}
"""`amount_text` by `str(amount)` (exact: it keeps a Decimal's digits and exponent, where
equal Decimals such as 129.9 and 129.90 hash alike): prices repeat across orders."""
_AMOUNT_TEXTS_MAX = 4096


def amount_text(amount: Decimal) -> str:
    """A non-negative amount as the contract's decimal text, at most 8 decimals (its
    precision); whole amounts lose their zeros (`100.00` → `100`)."""
    key = str(amount)
    text = _AMOUNT_TEXTS.get(key)
    if text is None:
        text = _amount_text(amount)
        if len(_AMOUNT_TEXTS) < _AMOUNT_TEXTS_MAX:
            _AMOUNT_TEXTS[key] = text
    return text


def _amount_text(amount: Decimal) -> str:
    amount = max(amount, _ZERO)
    whole, _, decimals = format(amount, "f").partition(".")
    if len(decimals) > 8:
        whole, _, decimals = format(amount.quantize(_EIGHT_DECIMALS), "f").partition(".")
    if not decimals.strip("0"):
        return "0" if whole == "-0" else whole
    return f"{whole}.{decimals}"


def money_fields(amount: Decimal, currency: str) -> dict[str, str]:
    """The wire form of `money(amount, currency)`, for a model validated as a whole (one
    `Order.model_validate` checks every amount at once, far cheaper than a model each)."""
    return {"amount": amount_text(amount), "currency": currency}


def money(amount: Decimal, currency: str) -> NonNegativeMoney:
    """Non-negative money, normalised to at most 8 decimals (the contract's precision)."""
    return Money.model_validate(money_fields(amount, currency))


def currency_code(value: object, default: str = "TRY") -> str:
    """ISO 4217 code; n11/T-Soft 'TL' and empty values become TRY."""
    text = str(value or "").strip().upper()
    if text in {"", "TL", "YTL"}:
        return default
    return text


def number(value: Decimal) -> float:
    """A decimal for a JSON number field.

    Platforms want JSON numbers; prices have at most a few decimals, and Python's float repr
    round-trips them exactly in text (Decimal('129.90') → 129.9), so no precision is lost.
    """
    return float(value)


class AdapterBase(ABC):
    """Common parts: store context, endpoints, credential check, unsupported defaults."""

    PLATFORM: ClassVar[Platform]
    REQUIRED_CREDENTIALS: ClassVar[tuple[str, ...]]
    ENDPOINTS: ClassVar[dict[str, tuple[Endpoint, str]]]
    ORDER_TIME_PRECISION: ClassVar[timedelta] = timedelta(seconds=1)
    """Resolution of the order timestamps the platform filters and reports (order windows
    start on a whole unit of it): a second unless the platform documents finer."""

    def __init__(
        self,
        *,
        store: StoreContext,
        urls: Mapping[str, str],
        http: PlatformHttp,
        integrator: IntegratorIdentity,
        clock: Clock = utc_now,
    ) -> None:
        missing = [name for name in self.REQUIRED_CREDENTIALS if name not in store.credentials]
        if missing:
            raise ValueError(f"{self.PLATFORM.value} credentials lack fields: {', '.join(missing)}")
        self.store = store
        self.urls = dict(urls)
        self.http = http
        self.integrator = integrator
        self.clock = clock

    @property
    def platform(self) -> Platform:
        """The platform this adapter talks to."""
        return self.PLATFORM

    @classmethod
    @abstractmethod
    def platform_capabilities(cls) -> Capabilities:
        """What the platform's API allows, as documented: the same for every store."""

    @property
    def capabilities(self) -> Capabilities:
        """What the platform's API allows."""
        return self.platform_capabilities()

    def secret(self, name: str) -> str:
        """The plain value of a credential field, for the request being built only."""
        return self.store.credentials[name].get_secret_value()

    def endpoint(self, name: str) -> Endpoint:
        """Endpoint (bucket + documented rate) by short name."""
        return self.ENDPOINTS[name][0]

    async def test_credentials(self) -> CredentialCheck:
        """Run the platform's cheapest authenticated call and turn its answer into a verdict."""
        try:
            await self._probe()
        except AuthRejected as exc:
            return CredentialCheck(valid=False, reason=exc.code, detail=exc.detail)
        except RequestRejected as exc:
            return CredentialCheck(valid=False, reason=exc.code, detail=exc.detail)
        return CredentialCheck(valid=True)

    @abstractmethod
    async def _probe(self) -> None:
        """The cheapest documented authenticated call; raises on rejection."""

    @abstractmethod
    def list_orders(self, since: datetime, until: datetime | None = None) -> AsyncIterator[Order]:
        """Every order changed in [since, until)."""

    @abstractmethod
    async def push_price_stock(self, items: Sequence[PriceStockItem]) -> BatchHandle:
        """Send price/stock changes."""

    async def push_product_info(self, items: Sequence[ProductInfoItem]) -> BatchHandle:
        """Default: the platform (or this adapter) has no product-info update."""
        raise UnsupportedOperation(
            "product info updates are not supported", platform=self.PLATFORM.value
        )

    @abstractmethod
    async def batch_result(self, handle: BatchHandle) -> BatchResult:
        """Per-item outcomes of a push."""

    def list_listings(self) -> AsyncIterator[ListingRef]:
        """Every listing of the store as the platform identifies it (SKU, barcode, ids), all
        pages. Default: the platform has no product list to read."""
        raise UnsupportedOperation(
            "reading the product list is not supported", platform=self.PLATFORM.value
        )

    def _bounds(
        self,
        since: datetime,
        until: datetime | None,
        *,
        min_lag: timedelta = timedelta(0),
        max_history: timedelta | None = None,
    ) -> tuple[datetime, datetime]:
        """Validate and clamp a [since, until) query to what the platform can answer."""
        now = self.clock()
        since = require_aware(since, "since")
        until = require_aware(until, "until") if until is not None else now
        until = min(until, now - min_lag)
        if max_history is not None and since < now - max_history:
            log.warning(
                "order query clamped to the platform's history",
                extra={"platform": self.PLATFORM.value, "store_id": self.store.store_id},
            )
            since = now - max_history
        # Most platforms report order times to the whole second (IdeaSoft's createdAt, for
        # one). A window that starts mid-second would drop an order created later in that same
        # second, after the previous window ended: it reads as older than `since`. Starting on
        # the second re-reads at most one second of orders, which the callers' upserts absorb.
        # Platforms that stamp and filter in milliseconds (Trendyol, n11) start on the
        # millisecond: a whole second would re-read every order of the second a poll ended in.
        return floor_to(since, self.ORDER_TIME_PRECISION), until


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """`items` in consecutive slices of at most `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def rate(count: int, seconds: float) -> Rate:
    """A documented "count per seconds" limit that must hold in every interval."""
    return Rate.window(count, seconds)


def bucket(per_second: float, burst: int) -> Rate:
    """A documented token bucket (Amazon publishes rate and burst)."""
    return Rate(per_second=per_second, burst=burst)
