"""In-memory state of the simulator: accounts, orders with time indexes, listings, batches.

Everything here is plain data with no I/O; platform modules read and change it, the control
API seeds it. Ids come from counters, so a run with the same inputs gives the same ids.
"""

from __future__ import annotations

import heapq
import uuid
from bisect import bisect_left, insort
from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

PLATFORMS = ("trendyol", "hepsiburada", "n11", "amazon_tr", "ideasoft", "tsoft")

# Credential field names are the ones credential-vault accepts for each platform.
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "trendyol": ("seller_id", "api_key", "api_secret"),
    "hepsiburada": ("merchant_id", "service_key"),
    "n11": ("app_key", "app_secret"),
    "amazon_tr": ("selling_partner_id", "refresh_token"),
    "ideasoft": ("store_domain", "client_id", "client_secret"),
    "tsoft": ("store_domain", "api_user", "api_password"),
}

# The credential that identifies an account on requests; it must be unique per platform
# because one simulator serves every store of a platform under one path prefix.
PRIMARY_CREDENTIAL: dict[str, str] = {
    "trendyol": "api_key",
    "hepsiburada": "merchant_id",
    "n11": "app_key",
    "amazon_tr": "refresh_token",
    "ideasoft": "client_id",
    "tsoft": "api_user",
}

_BATCH_NAMESPACE = uuid.UUID("6f1c3f2e-55a8-4a8e-9d0e-6b8f5d1a9c11")


@dataclass(slots=True)
class SimLine:
    """One order line as the simulator keeps it (platform views are rendered from it)."""

    line_id: int
    sku: str
    barcode: str
    product_name: str
    quantity: int
    unit_price: Decimal
    currency: str
    cancelled: int = 0

    @property
    def active_quantity(self) -> int:
        """Quantity that is not cancelled."""
        return self.quantity - self.cancelled


@dataclass(slots=True)
class SimPackage:
    """An order as one package; Trendyol splits can give one order several packages."""

    package_id: int
    order_number: str
    status: str
    lines: list[SimLine]
    created_ms: int
    modified_ms: int
    origin_package_ids: list[int] = field(default_factory=list)
    created_by: str = "order-creation"
    history: list[tuple[int, str]] = field(default_factory=list)
    cargo_tracking_number: str = ""
    render_cache: dict[str, Any] = field(default_factory=dict)


class OrderBook:
    """The orders of one account with indexes by last-modified time, creation time and id."""

    def __init__(self) -> None:
        self.packages: dict[int, SimPackage] = {}
        self.by_number: dict[str, list[int]] = {}
        self._modified: list[tuple[int, int]] = []
        self._modified_by_status: dict[str, list[tuple[int, int]]] = {}
        self._created: list[tuple[int, int]] = []
        self.ids: list[int] = []
        # Each package's list-page JSON in the account platform's shape, serialised once per
        # package version: `touch` drops the entry, so a page is a join of ready bytes.
        self.serialised: dict[int, bytes] = {}

    def add(self, pkg: SimPackage) -> None:
        """Index a new package."""
        self.packages[pkg.package_id] = pkg
        self.by_number.setdefault(pkg.order_number, []).append(pkg.package_id)
        key = (pkg.modified_ms, pkg.package_id)
        insort(self._modified, key)
        insort(self._modified_by_status.setdefault(pkg.status, []), key)
        insort(self._created, (pkg.created_ms, pkg.package_id))
        insort(self.ids, pkg.package_id)

    def touch(self, pkg: SimPackage, status: str, modified_ms: int) -> None:
        """Change status and/or modification time, keeping indexes right."""
        old = (pkg.modified_ms, pkg.package_id)
        _remove(self._modified, old)
        _remove(self._modified_by_status[pkg.status], old)
        if status != pkg.status:
            pkg.history.append((modified_ms, status))
        pkg.status = status
        pkg.modified_ms = modified_ms
        pkg.render_cache.clear()
        self.serialised.pop(pkg.package_id, None)
        new = (modified_ms, pkg.package_id)
        insort(self._modified, new)
        insort(self._modified_by_status.setdefault(status, []), new)

    def modified_between(
        self, start_ms: int, end_ms: int, statuses: frozenset[str] | None = None
    ) -> list[tuple[int, int]]:
        """(modified_ms, id) pairs with start <= modified <= end, oldest first."""
        if statuses is None:
            return _between(self._modified, start_ms, end_ms)
        if len(statuses) == 1:
            (only,) = statuses
            return _between(self._modified_by_status.get(only, []), start_ms, end_ms)
        merged: list[tuple[int, int]] = []
        for status in statuses:
            merged.extend(_between(self._modified_by_status.get(status, []), start_ms, end_ms))
        merged.sort()
        return merged

    def modified_slice(
        self, start_ms: int, end_ms: int, statuses: frozenset[str] | None = None
    ) -> tuple[list[tuple[int, int]], int, int]:
        """(index, lo, hi) so that index[lo:hi] is modified_between(...), without copying."""
        if statuses is not None and len(statuses) != 1:
            merged = self.modified_between(start_ms, end_ms, statuses)
            return merged, 0, len(merged)
        if statuses is None:
            index = self._modified
        else:
            (only,) = statuses
            index = self._modified_by_status.get(only, [])
        lo = bisect_left(index, (start_ms, -1))
        hi = bisect_left(index, (end_ms + 1, -1))
        return index, lo, hi

    def created_between(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """(created_ms, id) pairs with start <= created <= end, oldest first."""
        return _between(self._created, start_ms, end_ms)

    def of_order(self, order_number: str) -> list[SimPackage]:
        """Every package of an order, oldest first."""
        return [self.packages[pid] for pid in self.by_number.get(order_number, [])]


def _between(index: list[tuple[int, int]], start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    lo = bisect_left(index, (start_ms, -1))
    hi = bisect_left(index, (end_ms + 1, -1))
    return index[lo:hi]


def _remove(index: list[tuple[int, int]], key: tuple[int, int]) -> None:
    pos = bisect_left(index, key)
    if pos < len(index) and index[pos] == key:
        del index[pos]


@dataclass(slots=True)
class PushRecord:
    """One value Kervan pushed for a listing and what became of it."""

    field: str
    value: Any
    at: float
    batch_id: str
    outcome: str = "pending"
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "field": self.field,
            "value": self.value,
            "at": self.at,
            "batch_id": self.batch_id,
            "outcome": self.outcome,
            "reason": self.reason,
        }


@dataclass(slots=True)
class Listing:
    """What the platform shows for one SKU."""

    sku: str
    barcode: str
    product_id: int
    title: str = ""
    description: str = ""
    price: Decimal = Decimal("0")
    list_price: Decimal = Decimal("0")
    stock: int = 0
    currency: str = "TRY"
    platform_sku: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    history: list[PushRecord] = field(default_factory=list)
    updated_at: float = 0.0

    def shown(self) -> dict[str, Any]:
        """The fields the platform would display."""
        return {
            "sku": self.sku,
            "barcode": self.barcode,
            "product_id": self.product_id,
            "platform_sku": self.platform_sku,
            "title": self.title,
            "description": self.description,
            "price": str(self.price),
            "list_price": str(self.list_price),
            "stock": self.stock,
            "currency": self.currency,
            "attributes": self.attributes,
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class BatchItem:
    """One item of an asynchronous batch with the outcome fixed at submission."""

    request_item: Any
    sku: str | None
    changes: dict[str, Any]
    failure_reasons: list[str] = field(default_factory=list)
    records: list[PushRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the item will be applied."""
        return not self.failure_reasons


@dataclass(slots=True)
class Batch:
    """An asynchronous submission (Trendyol batch, Hepsiburada upload, n11 task, Amazon feed)."""

    batch_id: str
    kind: str
    created_at: float
    due_at: float
    items: list[BatchItem]
    done: bool = False
    rejected_reasons: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EndpointStats:
    """Request counters of one endpoint."""

    count: int = 0
    throttled: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(slots=True)
class RequestLog:
    """What an account received, for benchmarks and test-mode checks."""

    by_endpoint: dict[str, EndpointStats] = field(default_factory=dict)
    bases: Counter[str] = field(default_factory=Counter)
    identical_repeats: int = 0
    seen: set[int] = field(default_factory=set)
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "total": sum(s.count for s in self.by_endpoint.values()),
            "throttled": sum(s.throttled for s in self.by_endpoint.values()),
            "identical_repeats": self.identical_repeats,
            "bases": dict(self.bases),
            "by_endpoint": {
                name: {
                    "count": s.count,
                    "throttled": s.throttled,
                    "statuses": {str(k): v for k, v in s.statuses.items()},
                }
                for name, s in sorted(self.by_endpoint.items())
            },
            "recent": list(self.recent),
        }


@dataclass(slots=True)
class Token:
    """An issued access/refresh/login token or authorisation code."""

    account_id: str
    kind: str
    expires_at: float
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Account:
    """One seller account on one platform."""

    account_id: str
    platform: str
    seller_id: str
    credentials: dict[str, str]
    rate_limits: bool | None = None
    orders: OrderBook = field(default_factory=OrderBook)
    listings: dict[str, Listing] = field(default_factory=dict)
    listing_by_barcode: dict[str, str] = field(default_factory=dict)
    listing_by_product_id: dict[int, str] = field(default_factory=dict)
    listing_by_platform_sku: dict[str, str] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    pending: list[tuple[float, int, str]] = field(default_factory=list)
    recent_bodies: dict[str, float] = field(default_factory=dict)
    requests: RequestLog = field(default_factory=RequestLog)
    permissions: set[str] | None = None
    record_cap: int | None = None
    """Trendyol: records one order filter may page through; None = the simulator setting."""

    def put_listing(self, listing: Listing) -> None:
        """Insert or replace a listing and its lookup indexes."""
        self.listings[listing.sku] = listing
        self.listing_by_barcode[listing.barcode] = listing.sku
        self.listing_by_product_id[listing.product_id] = listing.sku
        if listing.platform_sku:
            self.listing_by_platform_sku[listing.platform_sku] = listing.sku

    def settle(self, now: float) -> None:
        """Apply every batch whose processing time has come."""
        while self.pending and self.pending[0][0] <= now:
            _, _, batch_id = heapq.heappop(self.pending)
            batch = self.batches[batch_id]
            apply_batch(self, batch, batch.due_at)

    def schedule(self, batch: Batch) -> None:
        """Register a batch and queue it for processing."""
        self.batches[batch.batch_id] = batch
        heapq.heappush(self.pending, (batch.due_at, len(self.batches), batch.batch_id))


def apply_batch(account: Account, batch: Batch, at: float) -> None:
    """Finish a batch: write accepted changes to listings and record every outcome."""
    if batch.done:
        return
    batch.done = True
    for item in batch.items:
        listing = account.listings.get(item.sku) if item.sku is not None else None
        if item.ok and not batch.rejected_reasons and listing is not None:
            for name, value in item.changes.items():
                setattr(listing, name, value)
            listing.updated_at = at
            outcome, reason = "accepted", None
        else:
            reasons = batch.rejected_reasons or item.failure_reasons or ["listing not found"]
            outcome, reason = "failed", "; ".join(reasons)
        for record in item.records:
            record.outcome = outcome
            record.reason = reason


class IdSource:
    """Deterministic ids for everything the simulator creates."""

    def __init__(self) -> None:
        self._counters: Counter[str] = Counter()

    def next(self, kind: str) -> int:
        """The next number of a kind, starting at 1."""
        self._counters[kind] += 1
        return self._counters[kind]

    def batch_id(self, kind: str) -> str:
        """A UUID-shaped id that only depends on how many batches came before."""
        return str(uuid.uuid5(_BATCH_NAMESPACE, f"{kind}-{self.next('batch')}"))

    def token(self, kind: str) -> str:
        """An opaque token string; unique and reproducible, never a real secret."""
        number = self.next("token")
        return f"{kind}-{uuid.uuid5(_BATCH_NAMESPACE, f'token-{kind}-{number}').hex}"


@dataclass
class SimState:
    """All accounts plus everything keyed across accounts (tokens, documents)."""

    accounts: dict[str, Account] = field(default_factory=dict)
    ids: IdSource = field(default_factory=IdSource)
    tokens: dict[str, Token] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)
    _by_credential: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add_account(
        self,
        platform: str,
        seller_id: str,
        credentials: dict[str, str],
        rate_limits: bool | None = None,
    ) -> Account:
        """Create an account with a deterministic id such as `trendyol-1`."""
        account_id = f"{platform}-{self.ids.next('account:' + platform)}"
        account = Account(account_id, platform, seller_id, credentials, rate_limits)
        self.accounts[account_id] = account
        for name, value in credentials.items():
            self._by_credential.setdefault((platform, name, value), account_id)
        return account

    def find(self, platform: str, credential: str, value: str) -> Account | None:
        """The account of a platform whose credential field equals value."""
        account_id = self._by_credential.get((platform, credential, value))
        return self.accounts.get(account_id) if account_id is not None else None

    def reset(self) -> None:
        """Forget everything."""
        self.accounts.clear()
        self.tokens.clear()
        self.documents.clear()
        self._by_credential.clear()
        self.ids = IdSource()
