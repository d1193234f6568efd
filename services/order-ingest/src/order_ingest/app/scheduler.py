"""Runs one polling task per store this replica holds a lease on.

Each store has its own task, interval and jitter, and each poll its own timeout (counted from
its last committed batch), so a slow or broken store never delays another. The interval is
never shorter than what the platform's documented order-endpoint limits allow; 429 and 5xx
back off exponentially (honouring `Retry-After`), within the store's own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

from kervan_servicekit import get_logger
from order_ingest.app.ports import LeaseManager
from order_ingest.app.services import PollContext, PollResult, poll_store
from order_ingest.domain.store import eligibility

logger = get_logger("order_ingest.scheduler")


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """Timing of polls and leases (documented in settings.py)."""

    interval: float = 30.0
    jitter: float = 0.2
    poll_timeout: float = 120.0
    backoff_max: float = 600.0
    lease_renew_interval: float = 5.0


def next_delay(
    result: PollResult, settings: ScheduleSettings, failures: int, rng: random.Random
) -> float:
    """Seconds until the store's next poll after `result` (`failures`: consecutive ones)."""
    base = max(settings.interval, result.min_interval)
    if result.outcome in {"rate_limited", "transient", "error", "timeout"}:
        backoff = min(settings.backoff_max, base * 2 ** max(failures - 1, 0))
        if result.retry_after is not None:
            backoff = max(backoff, result.retry_after)
        return float(backoff * (1 + rng.uniform(0, settings.jitter)))
    return float(base * (1 + rng.uniform(-settings.jitter, settings.jitter)))


async def eligible_store_ids(ctx: PollContext) -> list[str]:
    """Stores that may be polled now (active, order transfer on, API status valid, unpaused)."""
    async with ctx.uow() as uow:
        found = []
        for store_id in await uow.stores.store_ids():
            state = await uow.ingest.get(store_id)
            verdict = eligibility(
                await uow.stores.get(store_id),
                await uow.stores.api_status(store_id),
                state.paused_reason if state else None,
            )
            if verdict.eligible:
                found.append(store_id)
        return found


class Scheduler:
    """Leases stores and keeps one polling task per leased store."""

    def __init__(
        self,
        ctx: PollContext,
        leases: LeaseManager,
        settings: ScheduleSettings,
        rng: random.Random | None = None,
    ) -> None:
        self._ctx = ctx
        self._leases = leases
        self._settings = settings
        self._rng = rng or random.Random()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self.held: set[str] = set()

    async def start(self) -> None:
        """Start leasing and polling in the background."""
        self._loop_task = asyncio.create_task(self._lease_loop(), name="order-ingest-leases")

    async def stop(self) -> None:
        """Stop every task and give the leases back."""
        tasks = [t for t in (self._loop_task, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self._leases.release_all()

    @property
    def running(self) -> bool:
        """Whether the lease loop is alive."""
        return self._loop_task is not None and not self._loop_task.done()

    async def sync_once(self) -> set[str]:
        """One lease round: renew/claim, then start or stop store tasks to match."""
        self.held = set(await self._leases.sync(await eligible_store_ids(self._ctx)))
        for store_id in list(self._tasks):
            if store_id not in self.held:
                self._tasks.pop(store_id).cancel()
                self._wakeups.pop(store_id, None)
        for store_id in self.held - set(self._tasks):
            self._wakeups[store_id] = asyncio.Event()
            self._tasks[store_id] = asyncio.create_task(
                self._store_loop(store_id), name=f"poll-{store_id}"
            )
        return self.held

    def wake(self, store_id: str) -> bool:
        """Poll a held store now (the next round of its task); False if not held here."""
        event = self._wakeups.get(store_id)
        if event is None:
            return False
        event.set()
        return True

    async def _lease_loop(self) -> None:
        while True:
            try:
                await self.sync_once()
            except Exception:
                # Keep the tasks we have: their leases stay valid until ttl, and each batch
                # re-checks its lease in its transaction anyway.
                logger.exception("lease sync failed")
            await asyncio.sleep(self._settings.lease_renew_interval)

    async def _store_loop(self, store_id: str) -> None:
        wakeup = self._wakeups[store_id]
        # Spread the first polls so that stores leased together do not poll together.
        delay = self._rng.uniform(0, self._settings.interval)
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=delay)
            wakeup.clear()
            result = await self.poll_with_timeout(store_id)
            failures = failures + 1 if result.outcome not in {"ok", "skipped"} else 0
            delay = next_delay(result, self._settings, failures, self._rng)

    async def poll_with_timeout(self, store_id: str) -> PollResult:
        """One poll cut after `poll_timeout` without progress; unexpected errors become `error`.

        The clock restarts at every committed batch: a store that hangs is cut after the
        timeout, but a long poll that keeps committing (a catch-up, or every store's burst
        sharing a busy CPU) is not thrown away and restarted from its watermark again.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._settings.poll_timeout) as deadline:

                def progressed() -> None:
                    deadline.reschedule(loop.time() + self._settings.poll_timeout)

                return await poll_store(store_id, self._ctx, progressed)
        except TimeoutError:
            logger.warning("poll timed out", store_id=store_id)
            return PollResult(store_id, "timeout", reason="poll_timeout")
        except Exception as exc:
            logger.exception("poll failed", store_id=store_id)
            return PollResult(store_id, "error", reason=type(exc).__name__)
