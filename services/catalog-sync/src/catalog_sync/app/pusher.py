"""Pushing: per store, take the due dirty SKUs, plan, batch, send, follow, settle.

A batch is written to the ledger (fields marked in flight) before the platform is called, so
a crash can at worst re-send a value, never forget one. Results are followed until every item
settles (or the follow deadline passes); only failed items go back to the queue, with backoff,
and permanent failures stay recorded with the platform's reason. Each settled batch publishes
`CatalogPushCompleted` through the outbox in the same transaction as the ledger update.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from catalog_sync.app.listings import import_if_due
from catalog_sync.app.ports import (
    AdapterProvider,
    Batch,
    BatchItem,
    Clock,
    ItemResult,
    MissingCredentialsError,
    NoTelemetry,
    PushTelemetry,
    StoreOwnership,
    StoreSyncState,
    UnitOfWorkFactory,
)
from catalog_sync.domain.catalog import CredentialsVersion, StoreView
from catalog_sync.domain.outcomes import RetryRule, judge_failure
from catalog_sync.domain.push_plan import (
    FieldLedger,
    PriceStockPush,
    ProductInfoPush,
    SkuPlan,
    plan_sku,
    store_block,
)
from kervan_contracts.identifiers import Platform
from kervan_contracts.sync.v1 import (
    CatalogPushCompleted,
    PushCounts,
    PushedField,
    PushItemResult,
    PushKind,
    PushOutcome,
)
from kervan_marketplaces import (
    AuthRejected,
    BatchHandle,
    MarketplaceAdapter,
    MarketplaceError,
    PriceStockItem,
    ProductInfoItem,
    RateLimited,
    StoreAdapter,
)
from kervan_servicekit import get_logger
from kervan_servicekit.credentials import CredentialsUnavailableError

logger = get_logger("catalog_sync.pusher")

PRODUCER = "catalog-sync"


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Pacing of the pusher."""

    take_limit: int = 2000
    per_item_group: int = 20
    """Items per adapter call on per-item platforms (Amazon, IdeaSoft): one ledger batch."""
    follow_interval: timedelta = timedelta(seconds=2)
    follow_deadline: timedelta = timedelta(minutes=30)
    submit_recovery: timedelta = timedelta(minutes=5)
    """A batch still `submitting` this long after creation was lost in a crash: re-queued."""
    rate_limit_pause: timedelta = timedelta(seconds=30)
    auth_pause: timedelta = timedelta(hours=1)
    retry: RetryRule = field(default_factory=RetryRule)


@dataclass
class PushContext:
    """Collaborators of the push use cases."""

    uow: UnitOfWorkFactory
    adapters: AdapterProvider
    clock: Clock
    settings: PushSettings = field(default_factory=PushSettings)
    telemetry: PushTelemetry = field(default_factory=NoTelemetry)
    ownership: StoreOwnership | None = None
    """Leases of this replica; None: this process pushes every store (tools, tests)."""
    listings_read: set[str] = field(default_factory=set)
    """Stores whose product list is known to be read: no database look per round."""


@dataclass(frozen=True, slots=True)
class PushRound:
    """What one round for one store did."""

    store_id: str
    planned: int = 0
    batches: tuple[str, ...] = ()
    skipped_reason: str | None = None


async def preview_store(
    store_id: str, ctx: PushContext, skus: Sequence[str] | None = None, limit: int = 500
) -> list[SkuPlan]:
    """What would be pushed now, without sending or recording anything."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        store = await uow.store(store_id)
        api = await uow.api_state(store_id)
        if store is None:
            return []
        chosen = list(skus) if skus else await uow.known_skus(store, limit)
        facts = await uow.sku_facts(store, chosen)
    return [plan_sku(store, api, f, now) for f in facts]


async def push_store(store_id: str, ctx: PushContext) -> PushRound:
    """One round for one store: plan its due SKUs, record the batches, send them."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        store, recorded = await uow.store_with_credentials(store_id)
        api = await uow.api_state(store_id)
        sync = await uow.sync_state(store_id)
    block = store_block(store, api)
    if block is not None or store is None:
        async with ctx.uow() as uow:
            await uow.clear_store_dirty(store_id)
            await uow.commit()
        return PushRound(store_id, skipped_reason=(block.value if block else "unknown_store"))
    if sync.paused_until is not None and sync.paused_until > now:
        return PushRound(store_id, skipped_reason=sync.pause_reason or "paused")
    try:
        built = await adapter_for(store, recorded, ctx)
    except MissingCredentialsError:
        await _pause(ctx, store_id, now + ctx.settings.auth_pause, "missing_credentials")
        return PushRound(store_id, skipped_reason="missing_credentials")
    except CredentialsUnavailableError as exc:
        # Vault unreachable, sealed or refusing this service's token: nothing is paused (it is
        # not the store's fault); its SKUs stay dirty for the next round. No secret in the text.
        logger.warning("credentials unavailable", store_id=store_id, reason=str(exc))
        return PushRound(store_id, skipped_reason="credentials_unavailable")
    adapter = built.adapter
    # Before the store's first push: what the platform already lists, and under which ids.
    await import_if_due(store, adapter, ctx)
    async with ctx.uow() as uow:
        # Fencing: the batches are written only while this replica holds the store's lease,
        # checked (and the lease row locked) in the same transaction, and while the lease is
        # fresh enough to send them. A replica that lost it writes nothing and leaves the
        # queue to the new owner (or to itself after its next renewal).
        if ctx.ownership is not None:
            if not ctx.ownership.may_send(store_id):
                return PushRound(store_id, skipped_reason="lease_stale")
            if not await uow.holds_lease(store_id, ctx.ownership.replica_id):
                return PushRound(store_id, skipped_reason="lease_lost")
        skus = await uow.due_dirty(store_id, now, take_size(adapter, ctx.settings))
        if not skus:
            return PushRound(store_id)
        facts = await uow.sku_facts(store, skus)
        plans = [plan_sku(store, api, f, now) for f in facts]
        await uow.clear_dirty(store_id, skus)
        for plan in plans:
            if plan.not_before is not None:
                await uow.mark_dirty(store_id, [plan.sku], plan.not_before)
        ledgers = {f.sku: f.ledger for f in facts}
        batches = _build_batches(
            store_id=store.store_id,
            platform=store.platform,
            plans=plans,
            adapter=adapter,
            settings=ctx.settings,
            now=now,
        )
        for batch in batches:
            await uow.insert_batch(batch)
            for item in batch.items:
                for pushed, value in item.values.items():
                    old = ledgers[item.sku].get(pushed) or FieldLedger()
                    await uow.save_ledger(
                        store_id, item.sku, pushed, _sent(old, value, batch.batch_id, now)
                    )
                if item.fingerprint is not None:
                    await uow.save_payload(store_id, item.sku, item.fingerprint, now)
        await uow.commit()
    payloads = _payloads(plans)
    sender = _Sender(store, built)
    for batch in batches:
        if ctx.ownership is not None and not ctx.ownership.may_send(store_id):
            # The lease went stale while the batches were written (rare: checked just before):
            # the batches left stay `submitting` and are re-queued by the store's owner after
            # `submit_recovery` (`follow_batches`).
            logger.warning("lease not fresh, batches left unsent", store_id=store_id)
            break
        await _send(batch, sender, payloads, ctx)
    return PushRound(store_id, len(plans), tuple(b.batch_id for b in batches))


async def adapter_for(
    store: StoreView, recorded: CredentialsVersion | None, ctx: PushContext
) -> StoreAdapter:
    """The store's adapter, after comparing the cached credentials with `recorded`, the
    version the shared projection holds (`UnitOfWork.store_with_credentials`).

    The consumer group hands each `CredentialsChanged` to one replica only; the replica that
    pushes the store (or serves the request) may not be that one. Here it learns of a rotation
    or deletion another replica consumed, and drops its cached copy before using it.
    Raises MissingCredentialsError when the store has no credentials.
    """
    if recorded is not None:
        ctx.adapters.credentials_recorded(store.store_id, recorded)
    return await ctx.adapters.adapter_for(store)


def _sent(old: FieldLedger, value: str, batch_id: str, now: datetime) -> FieldLedger:
    attempts = old.attempts + 1 if old.sent_value == value else 1
    return replace(
        old,
        sent_value=value,
        sent_at=now,
        batch_id=batch_id,
        outcome=PushOutcome.PENDING,
        reason_code=None,
        message=None,
        permanent=False,
        attempts=attempts,
        retry_at=None,
    )


def take_size(adapter: MarketplaceAdapter, settings: PushSettings) -> int:
    """SKUs taken per round: `take_limit` rounded up to whole batches of the largest kind.

    A round's SKUs are split into batches of the platform's maximum; a take that is not a
    multiple of it would leave a part-filled batch in every round of a large backlog (e.g.
    Hepsiburada's 4,000 against a take of 2,000: twice the requests).
    """
    largest = max(_group_size(adapter, kind, settings) for kind in PushKind)
    return -(-settings.take_limit // largest) * largest


def _group_size(adapter: MarketplaceAdapter, kind: PushKind, settings: PushSettings) -> int:
    maximum = adapter.capabilities.max_items_per_request.get(kind.value, 1)
    return maximum if maximum > 1 else settings.per_item_group


def _build_batches(
    *,
    store_id: str,
    platform: Platform,
    plans: Sequence[SkuPlan],
    adapter: MarketplaceAdapter,
    settings: PushSettings,
    now: datetime,
) -> list[Batch]:
    batches: list[Batch] = []
    price_stock = [
        BatchItem(p.sku, dict(p.price_stock.values), p.price_stock.fingerprint)
        for p in plans
        if p.price_stock is not None
    ]
    product_info = [
        BatchItem(p.sku, {PushedField.PRODUCT_INFO: p.product_info.value})
        for p in plans
        if p.product_info is not None
    ]
    for kind, items in ((PushKind.PRICE_STOCK, price_stock), (PushKind.PRODUCT_INFO, product_info)):
        size = _group_size(adapter, kind, settings)
        batches.extend(
            Batch(
                batch_id=f"b-{uuid.uuid4().hex[:24]}",
                store_id=store_id,
                platform=platform.value,
                kind=kind,
                status="submitting",
                created_at=now,
                items=tuple(items[start : start + size]),
            )
            for start in range(0, len(items), size)
        )
    return batches


@dataclass(frozen=True, slots=True)
class _Payloads:
    price_stock: dict[str, PriceStockPush]
    product_info: dict[str, ProductInfoPush]


def _payloads(plans: Sequence[SkuPlan]) -> _Payloads:
    return _Payloads(
        {p.sku: p.price_stock for p in plans if p.price_stock is not None},
        {p.sku: p.product_info for p in plans if p.product_info is not None},
    )


@dataclass
class _Sender:
    """The adapter a push round sends its batches with: after a 401/403 it is replaced, at
    most once per round, when Vault already holds newer credentials than the refused ones."""

    store: StoreView
    current: StoreAdapter
    renewal_tried: bool = False

    async def renew(self, ctx: PushContext) -> bool:
        """Switch to newer credentials if Vault holds them; False: pause as for any 401/403.

        A rotation reaches this replica through `CredentialsChanged` (one replica of the
        group) or the `credential_versions` projection once that replica committed it; until
        then the platform may refuse the cached copy although Vault holds working credentials.
        """
        if self.renewal_tried:
            return False
        self.renewal_tried = True
        renewed = await ctx.adapters.adapter_after_rejection(self.store, self.current)
        if renewed is None:
            return False
        self.current = renewed
        return True


async def _submit(batch: Batch, adapter: MarketplaceAdapter, payloads: _Payloads) -> BatchHandle:
    skus = [item.sku for item in batch.items]
    if batch.kind is PushKind.PRICE_STOCK:
        return await adapter.push_price_stock(
            [_price_stock_item(payloads.price_stock[sku]) for sku in skus]
        )
    return await adapter.push_product_info(
        [_product_item(payloads.product_info[sku]) for sku in skus]
    )


async def _submit_renewing(
    batch: Batch, sender: _Sender, payloads: _Payloads, ctx: PushContext
) -> BatchHandle:
    """Submit; refused (401/403), submit once more with newer credentials if there are any."""
    try:
        return await _submit(batch, sender.current.adapter, payloads)
    except AuthRejected:
        if not await sender.renew(ctx):
            raise
    handle = await _submit(batch, sender.current.adapter, payloads)
    ctx.telemetry.auth_rejection_resolved(batch.store_id)
    return handle


async def _send(batch: Batch, sender: _Sender, payloads: _Payloads, ctx: PushContext) -> None:
    try:
        handle = await _submit_renewing(batch, sender, payloads, ctx)
    except AuthRejected as exc:
        ctx.adapters.invalidate(batch.store_id)
        await _pause(ctx, batch.store_id, ctx.clock() + ctx.settings.auth_pause, "auth_rejected")
        await _settle_all(batch, ctx, exc.code, "the platform refused the credentials")
        return
    except RateLimited as exc:
        ctx.telemetry.rate_limited(batch.store_id)
        pause = timedelta(seconds=exc.retry_after or ctx.settings.rate_limit_pause.total_seconds())
        await _pause(ctx, batch.store_id, ctx.clock() + pause, "rate_limited")
        await _settle_all(batch, ctx, exc.code, "rate limited")
        return
    except MarketplaceError as exc:
        await _settle_all(batch, ctx, exc.code, exc.detail)
        return
    now = ctx.clock()
    ref = ",".join(handle.refs.values())[:128] or None
    async with ctx.uow() as uow:
        await uow.mark_submitted(
            batch.batch_id,
            handle.model_dump(mode="json"),
            ref,
            now,
            now + ctx.settings.follow_interval,
        )
        await uow.commit()
    ctx.telemetry.batch(batch.store_id, batch.kind.value)
    submitted = replace(
        batch,
        status="submitted",
        handle=handle.model_dump(mode="json"),
        platform_ref=ref,
        submitted_at=now,
    )
    if handle.outcomes is not None:
        await _follow_one(submitted, sender.current.adapter, ctx)


def _price_stock_item(push: PriceStockPush) -> PriceStockItem:
    return PriceStockItem(
        sku=push.sku,
        barcode=push.barcode,
        platform_sku=push.platform_sku,
        quantity=push.quantity,
        sale_price=push.sale_price,
        list_price=push.list_price,
        currency=push.currency,
    )


def _product_item(push: ProductInfoPush) -> ProductInfoItem:
    return ProductInfoItem(
        sku=push.sku, barcode=push.barcode, platform_sku=push.platform_sku, fields=dict(push.fields)
    )


async def _pause(ctx: PushContext, store_id: str, until: datetime, reason: str) -> None:
    async with ctx.uow() as uow:
        sync = await uow.sync_state(store_id)
        await uow.save_sync_state(
            store_id, replace(sync, paused_until=until, pause_reason=reason, last_error=reason)
        )
        await uow.commit()
    logger.warning("store paused", store_id=store_id, reason=reason, until=until.isoformat())


async def _settle_all(batch: Batch, ctx: PushContext, code: str, message: str | None) -> None:
    results = [ItemResult(i.sku, PushOutcome.FAILED, code, message) for i in batch.items]
    await settle_batch(batch, results, ctx, error=code)


async def follow_batches(
    ctx: PushContext, limit: int = 50, store_ids: Collection[str] | None = None
) -> int:
    """Ask the platforms for the results of due batches (of `store_ids` only, when given:
    the stores this replica holds); returns how many were looked at."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        due = await uow.due_batches(now, limit, store_ids)
    for batch in due:
        if batch.status == "submitting":
            # Created, but the process died before the platform answered: send again.
            await _settle_all(batch, ctx, "not_sent", "interrupted before the platform answered")
            continue
        async with ctx.uow() as uow:
            store, recorded = await uow.store_with_credentials(batch.store_id)
        if store is None:
            await _settle_all(batch, ctx, "store_deleted", None)
            continue
        try:
            built = await adapter_for(store, recorded, ctx)
            await _follow_one(batch, built.adapter, ctx)
        except (MarketplaceError, MissingCredentialsError, CredentialsUnavailableError) as exc:
            # Looked at again later; the other stores' batches go on meanwhile.
            logger.warning(
                "batch result not read",
                store_id=batch.store_id,
                batch_id=batch.batch_id,
                error=type(exc).__name__,
            )
            async with ctx.uow() as uow:
                await uow.schedule_check(batch.batch_id, ctx.clock() + ctx.settings.follow_interval)
                await uow.commit()
    return len(due)


async def _follow_one(batch: Batch, adapter: MarketplaceAdapter, ctx: PushContext) -> None:
    handle = BatchHandle.model_validate(batch.handle or {})
    result = await adapter.batch_result(handle)
    now = ctx.clock()
    started = batch.submitted_at or batch.created_at
    if not result.done and now - started < ctx.settings.follow_deadline:
        async with ctx.uow() as uow:
            await uow.schedule_check(batch.batch_id, now + ctx.settings.follow_interval)
            await uow.commit()
        return
    by_sku = {o.sku: o for o in result.items}
    results = []
    for item in batch.items:
        outcome = by_sku.get(item.sku)
        if outcome is None or outcome.state.value == PushOutcome.PENDING.value:
            results.append(ItemResult(item.sku, PushOutcome.PENDING, "result_timeout", None))
        else:
            results.append(
                ItemResult(
                    item.sku, PushOutcome(outcome.state.value), outcome.reason_code, outcome.message
                )
            )
    await settle_batch(batch, results, ctx, error=None)


async def settle_batch(
    batch: Batch, results: Sequence[ItemResult], ctx: PushContext, *, error: str | None
) -> None:
    """Record per-item outcomes, re-queue what may be retried, publish CatalogPushCompleted."""
    now = ctx.clock()
    items = {item.sku: item for item in batch.items}
    async with ctx.uow() as uow:
        for result in results:
            item = items[result.sku]
            ledgers = await uow.sku_ledger(batch.store_id, result.sku)
            retry_at: datetime | None = None
            for pushed, value in item.values.items():
                old = ledgers.get(pushed) or FieldLedger()
                new, due = _settled(
                    old,
                    value=value,
                    batch_id=batch.batch_id,
                    result=result,
                    now=now,
                    rule=ctx.settings.retry,
                )
                await uow.save_ledger(batch.store_id, result.sku, pushed, new)
                if due is not None:
                    retry_at = due if retry_at is None else min(retry_at, due)
            if retry_at is not None:
                await uow.mark_dirty(batch.store_id, [result.sku], retry_at)
        await uow.finish_batch(batch.batch_id, results, now, error)
        await uow.publish(_completed_event(batch, results, now), correlation_id=batch.batch_id)
        sync = await uow.sync_state(batch.store_id)
        await uow.save_sync_state(
            batch.store_id, replace(sync, last_push_at=now, last_error=error or sync.last_error)
        )
        await uow.commit()
    for outcome in PushOutcome:
        count = sum(1 for r in results if r.outcome is outcome)
        if count:
            ctx.telemetry.items(batch.store_id, outcome.value, count)
    ctx.telemetry.latency(batch.store_id, (now - batch.created_at).total_seconds())


def _settled(
    old: FieldLedger,
    *,
    value: str,
    batch_id: str,
    result: ItemResult,
    now: datetime,
    rule: RetryRule,
) -> tuple[FieldLedger, datetime | None]:
    """New ledger state of one field after its batch settled, and when to retry (if at all)."""
    current = old.batch_id == batch_id
    if result.outcome is PushOutcome.ACCEPTED:
        if current:
            return replace(
                old,
                accepted_value=value,
                accepted_at=now,
                outcome=PushOutcome.ACCEPTED,
                reason_code=None,
                message=None,
                retry_at=None,
            ), None
        if old.outcome is PushOutcome.ACCEPTED:
            # An older batch settled after the newer one: the platform applies submissions in
            # order, so it shows the newer value; keep it.
            return old, None
        return replace(old, accepted_value=value, accepted_at=now), None
    if not current:
        return old, None  # a newer value was sent since; its own batch decides
    verdict = judge_failure(result.reason_code, old.attempts, now, rule)
    failed = replace(
        old,
        outcome=PushOutcome.FAILED,
        reason_code=verdict.reason_code,
        message=result.message,
        permanent=verdict.permanent,
        retry_at=verdict.retry_at,
    )
    return failed, verdict.retry_at


def _completed_event(
    batch: Batch, results: Sequence[ItemResult], now: datetime
) -> CatalogPushCompleted:
    items = {item.sku: item for item in batch.items}
    pushed = [
        PushItemResult(
            sku=r.sku,
            fields=sorted(items[r.sku].values),
            outcome=r.outcome,
            reason_code=_reason_code(r.reason_code),
            message=(r.message or None) and str(r.message)[:1000],
        )
        for r in results
    ]
    submitted = batch.submitted_at or batch.created_at
    return CatalogPushCompleted(
        store_id=batch.store_id,
        platform=Platform(batch.platform),
        batch_id=batch.batch_id,
        platform_batch_ref=batch.platform_ref,
        kind=batch.kind,
        submitted_at=submitted,
        completed_at=max(now, submitted),
        items=pushed,
        counts=PushCounts.of(pushed),
    )


def _reason_code(code: str | None) -> str | None:
    """Platform codes in the contract's snake_case form (`InvalidPrice` → `invalidprice`)."""
    if not code:
        return None
    cleaned = "".join(c if c.isalnum() or c in "_." else "_" for c in code.lower()).strip("_.")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"r_{cleaned}"
    return cleaned[:64]


def plan_counts(plans: Sequence[SkuPlan]) -> dict[str, Any]:
    """Summary of a preview: SKUs with something to send per kind."""
    return {
        "skus": len(plans),
        "price_stock": sum(1 for p in plans if p.price_stock is not None),
        "product_info": sum(1 for p in plans if p.product_info is not None),
    }


__all__ = [
    "PushContext",
    "PushRound",
    "PushSettings",
    "StoreSyncState",
    "adapter_for",
    "follow_batches",
    "plan_counts",
    "preview_store",
    "push_store",
    "settle_batch",
]
