"""What a store receives for one SKU: the update-type rules, change detection and pacing.

Pure: from the store, its API status, the SKU's projected values and the push ledger (what the
platform last accepted and what is in flight per field) to the fields to send now. Nothing is
sent for a passive store, with product update off, or while the API status is invalid;
otherwise only the fields the update type allows, and only those whose value differs from the
last one the platform accepted. Values are read at planning time, so rapid changes coalesce to
the latest. Trendyol refuses an identical price/stock payload within 15 minutes, so such a
repeat waits until the window has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import JsonValue

from catalog_sync.domain.catalog import (
    ApiState,
    ListingIdentity,
    Price,
    Product,
    StoreView,
    fingerprint,
)
from catalog_sync.domain.product_fields import product_fields
from kervan_contracts.credentials.v1 import ApiStatus
from kervan_contracts.identifiers import Platform
from kervan_contracts.stores.v1 import AutoUpdateType
from kervan_contracts.sync.v1 import PushedField, PushOutcome

ALLOWED_FIELDS: Mapping[AutoUpdateType, frozenset[PushedField]] = {
    AutoUpdateType.ALL: frozenset(PushedField),
    AutoUpdateType.PRODUCT_INFO: frozenset({PushedField.PRODUCT_INFO}),
    AutoUpdateType.PRICE: frozenset({PushedField.PRICE}),
    AutoUpdateType.STOCK: frozenset({PushedField.STOCK}),
    AutoUpdateType.STOCK_AND_PRICE: frozenset({PushedField.PRICE, PushedField.STOCK}),
}
"""Fields each auto-update type lets catalog-sync push."""

TRENDYOL_REPEAT_WINDOW = timedelta(minutes=15)


class StoreBlock(StrEnum):
    """Why a store receives nothing at all."""

    UNKNOWN_STORE = "unknown_store"
    STORE_PASSIVE = "store_passive"
    PRODUCT_UPDATE_OFF = "product_update_off"
    API_STATUS_INVALID = "api_status_invalid"


class Action(StrEnum):
    """Decision for one field of one SKU."""

    SEND = "send"
    UP_TO_DATE = "up_to_date"
    """The platform already accepted this value."""
    IN_FLIGHT = "in_flight"
    """This value was sent and its outcome is not known yet."""
    WAITING = "waiting"
    """Retry backoff or Trendyol's repeat window: due at `not_before`."""
    BLOCKED = "blocked"
    """Failed for good with this value (the platform's reason is kept); not retried."""
    NO_VALUE = "no_value"
    """Nothing to send: no product, no price in the store's list, or no stock level yet."""
    NOT_ALLOWED = "not_allowed"
    """The update type (or the platform) does not take this field."""
    STORE_BLOCKED = "store_blocked"


@dataclass(frozen=True, slots=True)
class FieldLedger:
    """The push ledger of one (store, SKU, field)."""

    accepted_value: str | None = None
    accepted_at: datetime | None = None
    sent_value: str | None = None
    sent_at: datetime | None = None
    batch_id: str | None = None
    outcome: PushOutcome | None = None
    reason_code: str | None = None
    message: str | None = None
    permanent: bool = False
    attempts: int = 0
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SentPayload:
    """Fingerprint and time of the last price/stock payload sent for a SKU."""

    fingerprint: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class SkuFacts:
    """Everything known about one SKU for one store."""

    sku: str
    product: Product | None = None
    price: Price | None = None
    stock: int | None = None
    listing: ListingIdentity | None = None
    ledger: Mapping[PushedField, FieldLedger] = field(default_factory=dict)
    last_price_stock: SentPayload | None = None


@dataclass(frozen=True, slots=True)
class FieldDecision:
    """What happens to one field and why."""

    field: PushedField
    action: Action
    value: str | None = None
    reason: str | None = None
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class PriceStockPush:
    """A price/stock item to send: only the changed fields are set."""

    sku: str
    barcode: str | None
    platform_sku: str | None
    quantity: int | None
    sale_price: Decimal | None
    list_price: Decimal | None
    currency: str
    values: Mapping[PushedField, str]
    fingerprint: str


@dataclass(frozen=True, slots=True)
class ProductInfoPush:
    """A product-info item to send, in the platform's field names."""

    sku: str
    barcode: str | None
    platform_sku: str | None
    fields: Mapping[str, JsonValue]
    value: str


@dataclass(frozen=True, slots=True)
class SkuPlan:
    """The decision for one SKU of one store."""

    sku: str
    decisions: tuple[FieldDecision, ...]
    price_stock: PriceStockPush | None = None
    product_info: ProductInfoPush | None = None

    @property
    def not_before(self) -> datetime | None:
        """Earliest time a waiting field becomes due (None when nothing waits)."""
        times = [d.not_before for d in self.decisions if d.not_before is not None]
        return min(times) if times else None

    def decision(self, pushed: PushedField) -> FieldDecision:
        """The decision for one field."""
        return next(d for d in self.decisions if d.field is pushed)


def store_block(store: StoreView | None, api: ApiState | None) -> StoreBlock | None:
    """Why nothing may be pushed to a store, or None when it is eligible."""
    if store is None:
        return StoreBlock.UNKNOWN_STORE
    if not store.active:
        return StoreBlock.STORE_PASSIVE
    if not store.product_update_enabled:
        return StoreBlock.PRODUCT_UPDATE_OFF
    if api is not None and api.status is ApiStatus.INVALID:
        return StoreBlock.API_STATUS_INVALID
    return None


def supported_fields(platform: Platform) -> frozenset[PushedField]:
    """Fields the platform's API takes at all (Hepsiburada has no product-info updates)."""
    if platform is Platform.HEPSIBURADA:
        return frozenset({PushedField.PRICE, PushedField.STOCK})
    return frozenset(PushedField)


def plan_sku(
    store: StoreView | None,
    api: ApiState | None,
    facts: SkuFacts,
    now: datetime,
    *,
    repeat_window: timedelta = TRENDYOL_REPEAT_WINDOW,
) -> SkuPlan:
    """Decide what to send for one SKU to one store now."""
    block = store_block(store, api)
    if block is not None or store is None:
        reason = (block or StoreBlock.UNKNOWN_STORE).value
        return SkuPlan(
            facts.sku,
            tuple(FieldDecision(f, Action.STORE_BLOCKED, reason=reason) for f in PushedField),
        )
    allowed = ALLOWED_FIELDS[store.update_type] & supported_fields(store.platform)
    identity = _identity(facts)
    wanted = _wanted_values(store, facts)
    decisions: dict[PushedField, FieldDecision] = {}
    for pushed in PushedField:
        if pushed not in allowed:
            decisions[pushed] = FieldDecision(pushed, Action.NOT_ALLOWED)
            continue
        value = wanted.get(pushed)
        if value is None:
            decisions[pushed] = FieldDecision(pushed, Action.NO_VALUE)
            continue
        decisions[pushed] = _decide(pushed, value, facts.ledger.get(pushed), now)
    if store.platform is Platform.TRENDYOL and identity.barcode is None:
        for pushed, decision in decisions.items():
            if decision.action is Action.SEND:
                decisions[pushed] = FieldDecision(
                    pushed, Action.BLOCKED, decision.value, reason="missing_barcode"
                )
    price_stock = _price_stock(
        store=store,
        facts=facts,
        identity=identity,
        decisions=decisions,
        now=now,
        repeat_window=repeat_window,
    )
    product_info = _product_info(store, facts, identity, decisions)
    ordered = tuple(decisions[f] for f in PushedField)
    return SkuPlan(facts.sku, ordered, price_stock, product_info)


def _identity(facts: SkuFacts) -> ListingIdentity:
    listing = facts.listing or ListingIdentity()
    barcode = listing.barcode or (facts.product.barcode if facts.product else None)
    return ListingIdentity(barcode, listing.platform_sku, listing.product_id)


def _wanted_values(store: StoreView, facts: SkuFacts) -> dict[PushedField, str]:
    wanted: dict[PushedField, str] = {}
    if facts.price is not None:
        wanted[PushedField.PRICE] = facts.price.text()
    if facts.stock is not None:
        wanted[PushedField.STOCK] = str(max(0, facts.stock))
    if facts.product is not None:
        fields = product_fields(store.platform, facts.product)
        if fields:
            wanted[PushedField.PRODUCT_INFO] = fingerprint(fields)
    return wanted


def _decide(
    pushed: PushedField, value: str, ledger: FieldLedger | None, now: datetime
) -> FieldDecision:
    if ledger is None:
        return FieldDecision(pushed, Action.SEND, value)
    if ledger.sent_value == value:
        if ledger.outcome is PushOutcome.PENDING:
            return FieldDecision(pushed, Action.IN_FLIGHT, value, reason=ledger.batch_id)
        if ledger.outcome is PushOutcome.FAILED:
            if ledger.permanent:
                return FieldDecision(pushed, Action.BLOCKED, value, reason=ledger.reason_code)
            if ledger.retry_at is not None and ledger.retry_at > now:
                return FieldDecision(
                    pushed, Action.WAITING, value, ledger.reason_code, ledger.retry_at
                )
            return FieldDecision(pushed, Action.SEND, value)
    if ledger.accepted_value == value:
        return FieldDecision(pushed, Action.UP_TO_DATE, value)
    return FieldDecision(pushed, Action.SEND, value)


def _price_stock(
    *,
    store: StoreView,
    facts: SkuFacts,
    identity: ListingIdentity,
    decisions: dict[PushedField, FieldDecision],
    now: datetime,
    repeat_window: timedelta,
) -> PriceStockPush | None:
    sending = [
        f for f in (PushedField.PRICE, PushedField.STOCK) if decisions[f].action is Action.SEND
    ]
    if not sending:
        return None
    price = facts.price if PushedField.PRICE in sending else None
    quantity = max(0, facts.stock or 0)
    payload: dict[str, str | int | None] = {"barcode": identity.barcode}
    if PushedField.STOCK in sending:
        payload["quantity"] = quantity
    if price is not None:
        payload["sale"] = str(price.sale)
        payload["list"] = str(price.list_price)
    payload_print = fingerprint(payload)
    last = facts.last_price_stock
    if (
        store.platform is Platform.TRENDYOL
        and last is not None
        and last.fingerprint == payload_print
        and now - last.sent_at < repeat_window
    ):
        due = last.sent_at + repeat_window
        for f in sending:
            decisions[f] = FieldDecision(
                f, Action.WAITING, decisions[f].value, "trendyol_repeat_window", due
            )
        return None
    return PriceStockPush(
        sku=facts.sku,
        barcode=identity.barcode,
        platform_sku=identity.platform_sku,
        quantity=quantity if PushedField.STOCK in sending else None,
        sale_price=price.sale if price else None,
        list_price=price.list_price if price else None,
        currency=facts.price.currency if facts.price else "TRY",
        values={f: str(decisions[f].value) for f in sending},
        fingerprint=payload_print,
    )


def _product_info(
    store: StoreView,
    facts: SkuFacts,
    identity: ListingIdentity,
    decisions: dict[PushedField, FieldDecision],
) -> ProductInfoPush | None:
    decision = decisions[PushedField.PRODUCT_INFO]
    if decision.action is not Action.SEND or facts.product is None:
        return None
    fields = product_fields(store.platform, facts.product) or {}
    return ProductInfoPush(
        sku=facts.sku,
        barcode=identity.barcode,
        platform_sku=identity.platform_sku,
        fields=fields,
        value=str(decision.value),
    )
