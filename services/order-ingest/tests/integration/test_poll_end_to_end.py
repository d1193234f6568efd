"""Simulator → poll → PostgreSQL → outbox relay → Kafka, exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import cast

import pytest
from order_ingest.app.services import poll_store
from order_ingest.domain.store import CredentialsView, StoreProfile

from kervan_contracts import topics
from kervan_contracts.credentials.v1 import CredentialsChanged
from kervan_contracts.orders.v1 import Order
from kervan_marketplaces import MarketplaceAdapter, StoreAdapter
from kervan_testkit import wait_until
from kervan_testkit.events import EventRecorder, record_events

from .conftest import Env, store_events

pytestmark = pytest.mark.integration


async def published(env: Env, recorder: EventRecorder) -> list[tuple[str, dict[str, object]]]:
    """This store's events once everything committed is on Kafka and read."""
    await wait_until(env.outbox_drained, what="outbox drained")
    await recorder.settle(timeout=20)
    return store_events(recorder, env.store_id)


def types(events: list[tuple[str, dict[str, object]]]) -> Counter[str]:
    return Counter(kind for kind, _ in events)


async def test_orders_flow_once_repoll_changes_nothing_partial_cancel_releases_once(
    env: Env, kafka_bootstrap: str
) -> None:
    await env.sim.order(env.account, "T-1", [("SKU-A", 2, "10.00"), ("SKU-B", 1, "5.00")])
    await env.sim.order(env.account, "T-2", [("SKU-C", 1, "7.50")])
    async with record_events(kafka_bootstrap, topics.ORDERS, topics.STOCK_MOVEMENTS) as rec:
        result = await poll_store(env.store_id, env.ctx)
        assert (result.outcome, result.new_orders) == ("ok", 2)
        first = await published(env, rec)
        assert types(first) == {"orders.order.received": 2, "inventory.stock.deducted": 3}
        deducted = {
            (d["sku"], d["quantity"], d["warehouse_id"])
            for kind, d in first
            if kind == "inventory.stock.deducted"
        }
        assert deducted == {
            ("SKU-A", 2, "wh-main"),
            ("SKU-B", 1, "wh-main"),
            ("SKU-C", 1, "wh-main"),
        }

        # Polling again publishes nothing.
        assert (await poll_store(env.store_id, env.ctx)).outcome == "ok"
        assert await published(env, rec) == first

        # Cancel SKU-B of T-1: Trendyol replaces the package; one release, nothing else.
        await env.sim.patch_order(env.account, "T-1", cancel_lines=[{"sku": "SKU-B"}])
        assert (await poll_store(env.store_id, env.ctx)).outcome == "ok"
        after = await published(env, rec)
        assert types(after) - types(first) == {
            "orders.order.cancelled": 1,
            "inventory.stock.released": 1,
        }
        released = next(d for kind, d in after if kind == "inventory.stock.released")
        assert (released["sku"], released["quantity"]) == ("SKU-B", 1)
        assert released["order_number"] == "T-1"
        cancelled = next(d for kind, d in after if kind == "orders.order.cancelled")
        assert cancelled["cancelled_lines"] == [
            {"line_id": released["line_id"], "cancelled_quantity": 1}
        ]

        assert (await poll_store(env.store_id, env.ctx)).outcome == "ok"
        assert await published(env, rec) == after

        # SKU-A (2 units) cancelled in two steps: released in two steps, each with its own id;
        # the second names the units released so far.
        for change in ({"sku": "SKU-A", "quantity": 1}, {"sku": "SKU-A"}):
            await env.sim.patch_order(env.account, "T-1", cancel_lines=[change])
            assert (await poll_store(env.store_id, env.ctx)).outcome == "ok"
        steps = [
            d
            for kind, d in await published(env, rec)
            if kind == "inventory.stock.released" and d["sku"] == "SKU-A"
        ]
        assert [(d["quantity"], d.get("cumulative_quantity")) for d in steps] == [(1, None), (1, 2)]
        assert len({d["movement_id"] for d in steps}) == 2


class _CrashAfter:
    """Wraps an adapter provider: the n-th order of the next poll raises (a crash mid-poll)."""

    def __init__(self, inner: object, after: int) -> None:
        self._inner = inner
        self._after = after

    async def adapter_for(self, store: StoreProfile) -> StoreAdapter:
        built: StoreAdapter = await self._inner.adapter_for(store)  # type: ignore[attr-defined]
        adapter = built.adapter
        after = self._after

        class Crashing:
            capabilities = adapter.capabilities

            async def list_orders(
                self, since: datetime, until: datetime | None = None
            ) -> AsyncIterator[Order]:
                count = 0
                async for order in adapter.list_orders(since, until):
                    if count == after:
                        raise RuntimeError("simulated crash between pages")
                    count += 1
                    yield order

        return StoreAdapter(cast(MarketplaceAdapter, Crashing()), built.credentials_version)

    async def adapter_after_rejection(
        self, store: StoreProfile, rejected: StoreAdapter
    ) -> StoreAdapter | None:
        renewed: StoreAdapter | None = await self._inner.adapter_after_rejection(store, rejected)  # type: ignore[attr-defined]
        return renewed

    def invalidate(self, store_id: str) -> None:
        self._inner.invalidate(store_id)  # type: ignore[attr-defined]

    def credentials_changed(self, event: CredentialsChanged) -> bool:
        changed: bool = self._inner.credentials_changed(event)  # type: ignore[attr-defined]
        return changed

    def credentials_recorded(self, store_id: str, view: CredentialsView) -> bool:
        recorded: bool = self._inner.credentials_recorded(store_id, view)  # type: ignore[attr-defined]
        return recorded


async def test_crash_between_pages_then_new_poll_loses_nothing_duplicates_nothing(
    env: Env, kafka_bootstrap: str
) -> None:
    for n in range(5):
        await env.sim.order(env.account, f"C-{n}", [(f"SKU-{n}", 1, "10.00")])
    real = env.ctx.adapters
    env.ctx.adapters = _CrashAfter(real, after=3)  # batch size 2: one batch committed first
    async with record_events(kafka_bootstrap, topics.ORDERS, topics.STOCK_MOVEMENTS) as rec:
        with pytest.raises(RuntimeError, match="simulated crash"):
            await poll_store(env.store_id, env.ctx)
        committed = await published(env, rec)
        assert types(committed) == {"orders.order.received": 2, "inventory.stock.deducted": 2}
        env.ctx.adapters = real
        assert (await poll_store(env.store_id, env.ctx)).outcome == "ok"
        events = await published(env, rec)
    received = [d["order"]["order_number"] for kind, d in events if kind == "orders.order.received"]  # type: ignore[index]
    movements = [d["movement_id"] for kind, d in events if kind == "inventory.stock.deducted"]
    assert sorted(received) == [f"C-{n}" for n in range(5)]
    assert len(movements) == len(set(movements)) == 5
    rows = await env.pool.fetch(
        "SELECT order_number, sum(deducted_quantity) AS q FROM order_lines "
        "WHERE store_id = $1 GROUP BY order_number",
        env.store_id,
    )
    assert {r["order_number"]: r["q"] for r in rows} == {f"C-{n}": 1 for n in range(5)}
