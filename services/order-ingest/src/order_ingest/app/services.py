"""Use cases: keep the projections, poll one store, deduct orders that waited for a warehouse."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kervan_contracts.credentials.v1 import ApiStatus, ApiStatusChanged, CredentialsChanged
from kervan_contracts.event import EventPayload
from kervan_contracts.orders.v1 import Order, OrderReceived
from kervan_contracts.stores.v1 import StoreSnapshot
from kervan_marketplaces import (
    AuthRejected,
    EndpointLimit,
    MarketplaceAdapter,
    RateLimited,
    Transient,
)
from kervan_marketplaces.errors import MarketplaceError
from kervan_servicekit import get_logger
from kervan_servicekit.credentials import CredentialsUnavailableError
from order_ingest.app.ports import (
    AdapterProvider,
    Clock,
    IngestState,
    MissingCredentialsError,
    NoTelemetry,
    PollTelemetry,
    RetestRequester,
    UnitOfWork,
    UnitOfWorkFactory,
)
from order_ingest.domain.order import IngestedOrder
from order_ingest.domain.store import ApiStatusView, CredentialsView, StoreProfile, eligibility
from order_ingest.domain.window import PollWindow, plan_windows

logger = get_logger("order_ingest.services")

AUTH_PAUSE = "auth_rejected"
CREDENTIALS_UNAVAILABLE = "credentials_unavailable"
MIN_OVERLAP = timedelta(minutes=2)


# -- projections ---------------------------------------------------------------------------


async def apply_store_snapshot(snapshot: StoreSnapshot, uow: UnitOfWork, clock: Clock) -> bool:
    """Upsert the store if newer; orders waiting for a warehouse are deducted once it is set."""
    profile = StoreProfile.from_snapshot(snapshot)
    async with uow:
        applied = await uow.stores.upsert(profile)
        if applied and profile.default_warehouse_id is not None:
            await _deduct_waiting_orders(uow, profile.store_id, profile.default_warehouse_id, clock)
        await uow.commit()
    return applied


async def _deduct_waiting_orders(
    uow: UnitOfWork, store_id: str, warehouse_id: str, clock: Clock
) -> None:
    # The store's ingest row is the per-store lock every poll takes: no poll interleaves here.
    await uow.ingest.lock(store_id)
    correlation_id = str(uuid.uuid4())
    for order in await uow.orders.pending_deduction(store_id):
        events = order.assign_warehouse(warehouse_id, clock())
        await uow.orders.save(order)
        await uow.events.add(events, correlation_id)


async def forget_store(store_id: str, uow: UnitOfWork) -> None:
    """A deleted store (StoreDeleted or its tombstone): drop the projection, keep its orders."""
    async with uow:
        await uow.stores.delete(store_id)
        await uow.commit()


async def apply_api_status(payload: ApiStatusChanged, uow: UnitOfWork) -> bool:
    """Keep the latest API status; a valid one checked after a 401/403 pause lifts the pause."""
    view = ApiStatusView(payload.status, payload.reason_code, payload.checked_at)
    async with uow:
        applied = await uow.stores.record_api_status(payload.store_id, view)
        if applied and payload.status is ApiStatus.VALID:
            state = await uow.ingest.lock(payload.store_id)
            if (
                state.paused_reason is not None
                and state.paused_at is not None
                and payload.checked_at > state.paused_at
            ):
                state.paused_reason = None
                state.paused_at = None
                await uow.ingest.save(state)
        await uow.commit()
    return applied


async def apply_credentials(
    payload: CredentialsChanged, uow: UnitOfWork, adapters: AdapterProvider
) -> bool:
    """Keep the latest credential version (or a deletion); True if the projection applied it.

    The cached credentials are dropped when the event is newer than *them* (or a deletion),
    whatever the projection already held: a redelivery after a restart or a rebalance may
    bring a version the projection recorded while this process still caches an older one.
    """
    adapters.credentials_changed(payload)
    view = CredentialsView(payload.version, payload.deleted, payload.changed_at)
    async with uow:
        applied = await uow.stores.record_credentials(payload.store_id, view)
        await uow.commit()
    return applied


# -- polling -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How a poll reads (see settings.py for the documented defaults)."""

    overlap: timedelta = timedelta(minutes=5)
    fresh_overlap: timedelta = timedelta(0)
    sweep_every: timedelta = timedelta(seconds=30)
    initial_lookback: timedelta = timedelta(days=1)
    commit_batch_size: int = 100
    max_window: timedelta | None = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did. `outcome`: ok, skipped, auth_rejected, rate_limited, transient, error."""

    store_id: str
    outcome: str
    orders_seen: int = 0
    new_orders: int = 0
    events: int = 0
    reason: str | None = None
    retry_after: float | None = None
    min_interval: float = 0.0
    """Shortest poll interval the platform's documented order-endpoint limits allow."""


@dataclass
class PollContext:
    """Everything one poll needs (built once per process in bootstrap)."""

    uow: UnitOfWorkFactory
    adapters: AdapterProvider
    retest: RetestRequester
    clock: Clock
    settings: PollSettings
    telemetry: PollTelemetry = NoTelemetry()  # noqa: RUF009 - stateless, shared on purpose
    replica_id: str | None = None
    """When set, every batch checks in its transaction that this replica still holds the
    store's lease (fencing a replica that stalled past its lease)."""


class StoreIneligibleError(Exception):
    """The store stopped being eligible during the poll."""

    code = "store_ineligible"

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class LeaseLostError(Exception):
    """Another replica owns the store now; this poll stops without writing more."""

    code = "lease_lost"


async def poll_store(
    store_id: str, ctx: PollContext, on_progress: Callable[[], None] | None = None
) -> PollResult:
    """Read every order changed since the watermarks and apply it, page by page.

    Windows: the slice that settled since the last poll (sweep) and what is new since the
    watermark (see domain/window.py). Each batch of orders is one transaction with its outbox
    rows; a window's `until` becomes the watermark (and, for a sweep, the settled watermark) in
    the transaction of its last batch, so a crash anywhere re-reads, never skips.
    `on_progress` is called after each committed batch (the scheduler's timeout counts from it).
    """
    started = time.monotonic()
    result = await _poll(store_id, ctx, on_progress)
    success_at = ctx.clock() if result.outcome == "ok" else None
    ctx.telemetry.poll_finished(store_id, result.outcome, time.monotonic() - started, success_at)
    if result.outcome != "skipped":
        await _record_outcome(store_id, result, ctx, success_at)
    return result


async def _poll(
    store_id: str, ctx: PollContext, on_progress: Callable[[], None] | None
) -> PollResult:
    async with ctx.uow() as uow:
        store, api_status = await uow.stores.get_with_api_status(store_id)
        state = await uow.ingest.get(store_id) or IngestState(store_id)
        credentials = await uow.stores.credentials_version(store_id)
    verdict = eligibility(store, api_status, state.paused_reason)
    if not verdict.eligible or store is None:
        return PollResult(store_id, "skipped", reason=verdict.reason)
    if credentials is not None:
        # Only one replica consumes each CredentialsChanged; the others learn the new version
        # here, from the projection, before they use what they cached.
        ctx.adapters.credentials_recorded(store_id, credentials)
    correlation_id = str(uuid.uuid4())
    counts = _Counts(on_progress=on_progress)
    try:
        built = await ctx.adapters.adapter_for(store)
        try:
            await _read_orders(store, state, built.adapter, ctx, correlation_id, counts)
        except AuthRejected:
            # A rotation reaches this replica through `CredentialsChanged` (one replica of the
            # group) or the projection once that replica committed it; meanwhile the platform
            # may refuse the cached copy although Vault holds working credentials.
            renewed = await ctx.adapters.adapter_after_rejection(store, built)
            if renewed is None:
                raise
            # Once per poll: refused again, the store is paused as usual. Batches the first
            # attempt committed are read again from the same watermarks, which changes nothing.
            await _read_orders(store, state, renewed.adapter, ctx, correlation_id, counts)
            ctx.telemetry.auth_rejection_resolved(store_id)
    except AuthRejected as exc:
        await _pause_for_auth(store_id, ctx)
        return counts.result(store_id, "auth_rejected", exc.code)
    except RateLimited as exc:
        return counts.result(store_id, "rate_limited", exc.code, exc.retry_after)
    except Transient as exc:
        return counts.result(store_id, "transient", exc.code)
    except MissingCredentialsError as exc:
        return counts.result(store_id, "error", exc.code)
    except CredentialsUnavailableError as exc:
        # Vault unreachable, sealed or refusing this service's token: this store backs off,
        # the others go on (their cached credentials stay usable). The text has no secret.
        logger.warning("credentials unavailable", store_id=store_id, reason=str(exc))
        return counts.result(store_id, "transient", CREDENTIALS_UNAVAILABLE)
    except LeaseLostError as exc:
        return counts.result(store_id, "skipped", exc.code)
    except StoreIneligibleError as exc:
        return counts.result(store_id, "skipped", exc.reason)
    except MarketplaceError as exc:
        return counts.result(store_id, "error", exc.code)
    return counts.result(store_id, "ok")


async def _read_orders(  # noqa: PLR0917 - private, `_poll` is its only caller
    store: StoreProfile,
    state: IngestState,
    adapter: MarketplaceAdapter,
    ctx: PollContext,
    correlation_id: str,
    counts: _Counts,
) -> None:
    counts.min_interval = orders_min_interval(adapter.capabilities.rate_limits)
    window_rules = adapter.capabilities.order_window
    max_window = _narrowest(window_rules.max_window, ctx.settings.max_window)
    windows = plan_windows(
        now=ctx.clock(),
        watermark=state.watermark,
        settled_watermark=state.settled_watermark,
        fresh_overlap=ctx.settings.fresh_overlap,
        sweep_every=ctx.settings.sweep_every,
        # Never less than 2 minutes plus the platform's own lag (R8), whatever is set.
        overlap=max(ctx.settings.overlap, MIN_OVERLAP + window_rules.min_lag),
        initial_lookback=ctx.settings.initial_lookback,
        min_lag=window_rules.min_lag,
        max_window=max_window,
        max_history=window_rules.max_history,
    )
    for window in windows:
        batch: list[Order] = []
        async for order in adapter.list_orders(window.since, window.until):
            batch.append(order)
            if len(batch) >= ctx.settings.commit_batch_size:
                await _commit_batch(store, batch, None, ctx, correlation_id, counts)
                batch = []
        await _commit_batch(store, batch, window, ctx, correlation_id, counts)


@dataclass
class _Counts:
    seen: int = 0
    new: int = 0
    events: int = 0
    min_interval: float = 0.0
    on_progress: Callable[[], None] | None = None

    def result(
        self, store_id: str, outcome: str, reason: str | None = None, retry: float | None = None
    ) -> PollResult:
        return PollResult(
            store_id, outcome, self.seen, self.new, self.events, reason, retry, self.min_interval
        )


def orders_min_interval(limits: Sequence[EndpointLimit]) -> float:
    """Seconds between polls that the order-list endpoints' documented rates allow (a poll
    costs at least one request to each; e.g. Amazon getOrders: 1 per 60 s sustained)."""
    periods = [
        limit.per_seconds / limit.requests
        for limit in limits
        if limit.endpoint.lower().endswith("orders") and limit.requests > 0
    ]
    return max(periods, default=0.0)


def _narrowest(a: timedelta | None, b: timedelta | None) -> timedelta | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


async def _commit_batch(  # noqa: PLR0917 - private, called from one place
    store: StoreProfile,
    batch: list[Order],
    window: PollWindow | None,
    ctx: PollContext,
    correlation_id: str,
    counts: _Counts,
) -> None:
    if not batch and window is None:
        return
    async with ctx.uow() as uow:
        state = await uow.ingest.lock(store.store_id)
        if ctx.replica_id is not None and not await uow.ingest.holds_lease(
            store.store_id, ctx.replica_id
        ):
            raise LeaseLostError
        # Re-check inside the lock: a store switched passive (or order transfer off, or paused)
        # since the poll started stops here, and new settings apply to this batch.
        current, api_status = await uow.stores.get_with_api_status(store.store_id)
        verdict = eligibility(current, api_status, state.paused_reason)
        if current is None or not verdict.eligible:
            raise StoreIneligibleError(verdict.reason)
        events = await _apply_orders(uow, current, batch, ctx.clock())
        new_orders = sum(1 for e in events if isinstance(e, OrderReceived))
        await uow.events.add(events, correlation_id)
        if window is not None:
            # The window's last batch: its orders are all committed with this transaction.
            state.watermark = max(state.watermark or window.until, window.until)
            if window.settles:
                state.settled_watermark = window.until
        state.orders_ingested += new_orders
        await uow.ingest.save(state)
        await uow.commit()
    now = ctx.clock()
    ctx.telemetry.event_lags(
        store.store_id, [(now - order.last_modified_at).total_seconds() for order in batch]
    )
    if new_orders:
        ctx.telemetry.orders_ingested(store.store_id, new_orders)
    counts.seen += len(batch)
    counts.new += new_orders
    counts.events += len(events)
    if counts.on_progress is not None:
        counts.on_progress()


async def _apply_orders(
    uow: UnitOfWork, store: StoreProfile, batch: list[Order], now: datetime
) -> list[EventPayload]:
    """Apply a batch of observations: one locked read and one write per table, not per order.

    An order can appear more than once in a batch (one observation per package): they are
    applied in page order to the same aggregate.
    """
    if not batch:
        return []  # a window's last, empty batch: only the watermark moves
    known = await uow.orders.get_many_for_update(
        store.store_id, [order.order_number for order in batch]
    )
    changed: dict[str, IngestedOrder] = {}
    events: list[EventPayload] = []
    for order in batch:
        existing = known.get(order.order_number)
        if existing is None:
            aggregate, new_events = IngestedOrder.first_seen(
                order,
                stock_deduction_enabled=store.stock_deduction_enabled,
                default_warehouse_id=store.default_warehouse_id,
                now=now,
            )
            known[order.order_number] = changed[order.order_number] = aggregate
            events += new_events
            continue
        # Most observations are re-reads (the overlap window, repeated pages): an aggregate
        # that did not change is not written again.
        before = (existing.state_document(), existing.snapshot, existing.status)
        new_events = existing.observe(order, now)
        if new_events or (existing.state_document(), existing.snapshot, existing.status) != before:
            changed[order.order_number] = existing
        events += new_events
    await uow.orders.save_many(list(changed.values()))
    return events


async def _pause_for_auth(store_id: str, ctx: PollContext) -> None:
    async with ctx.uow() as uow:
        state = await uow.ingest.lock(store_id)
        state.paused_reason = AUTH_PAUSE
        state.paused_at = ctx.clock()
        await uow.ingest.save(state)
        await uow.commit()
    ctx.adapters.invalidate(store_id)
    await ctx.retest.request_retest(store_id, AUTH_PAUSE)


async def _record_outcome(
    store_id: str, result: PollResult, ctx: PollContext, success_at: datetime | None
) -> None:
    async with ctx.uow() as uow:
        state = await uow.ingest.lock(store_id)
        state.last_poll_at = ctx.clock()
        state.last_outcome = result.outcome
        state.polls[result.outcome] = state.polls.get(result.outcome, 0) + 1
        if success_at is not None:
            state.last_success_at = success_at
            state.last_error_code = None
        else:
            state.last_error_code = result.reason
        await uow.ingest.save(state)
        pending = await uow.orders.count_pending_deduction(store_id)
        await uow.commit()
    ctx.telemetry.pending_deductions(store_id, pending)
