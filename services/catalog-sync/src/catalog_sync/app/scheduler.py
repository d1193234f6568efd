"""The push loop: one task per store with due work, plus a follower of open batches.

Stores run concurrently (each waits on its own platform's rate limiter inside the adapter);
one store never has two rounds at once, so its batches keep their order. The follower runs
in its own task: reading results (many rate-limited calls) never delays the next push.
`wake()` lets a consumer cut the idle wait short after marking SKUs dirty. With leases
(several replicas), a lease round runs every `lease_renew_seconds` and only the stores this
replica holds are pushed and followed here.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol

from catalog_sync.app.pusher import PushContext, follow_batches, push_store
from kervan_servicekit import get_logger

logger = get_logger("catalog_sync.scheduler")


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """How often the loop looks for work."""

    tick_seconds: float = 0.25
    max_concurrent_stores: int = 16
    lease_renew_seconds: float = 5.0


class Leases(Protocol):
    """The lease rounds the loop runs (adapters/leases.py)."""

    held: frozenset[str]

    async def sync(self) -> frozenset[str]:
        """One lease round; returns the stores held now."""

    async def release_all(self) -> None:
        """Give every lease back (clean shutdown)."""


class PushLoop:
    """Runs push rounds and batch follow-ups until stopped."""

    def __init__(
        self,
        ctx: PushContext,
        settings: LoopSettings | None = None,
        leases: Leases | None = None,
    ) -> None:
        self._ctx = ctx
        self._settings = settings or LoopSettings()
        self._leases = leases
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._main: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(self._settings.max_concurrent_stores)

    def wake(self) -> None:
        """Look for work now."""
        self._wake.set()

    async def start(self) -> None:
        """Start the loop (and the lease rounds, with leases)."""
        if self._leases is not None and self._lease_task is None:
            self._lease_task = asyncio.create_task(self._renew(), name="catalog-sync-leases")
        if self._main is None:
            self._main = asyncio.create_task(self._run(), name="catalog-sync-push-loop")
        if self._follower is None:
            self._follower = asyncio.create_task(self._follow(), name="catalog-sync-follower")

    async def stop(self) -> None:
        """Stop the loop, wait for rounds in progress to end, give the leases back."""
        for task in (self._main, self._follower, self._lease_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._main = self._follower = self._lease_task = None
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        if self._leases is not None:
            try:
                await self._leases.release_all()
            except Exception:  # the leases then expire after their TTL instead
                logger.exception("leases not released")

    async def run_once(self) -> None:
        """One pass: start rounds for the stores with due work (this replica's)."""
        async with self._ctx.uow() as uow:
            stores = await uow.stores_with_due_work(self._ctx.clock())
            backlog = await uow.backlog()
        self._ctx.telemetry.backlog(backlog)
        held = None if self._leases is None else self._leases.held
        ownership = self._ctx.ownership
        for store_id in stores:
            if held is not None and store_id not in held:
                continue  # another replica's store
            if ownership is not None and not ownership.may_send(store_id):
                continue  # renewals are failing: no round until the next one succeeds
            if store_id not in self._running:
                self._running[store_id] = asyncio.create_task(self._round(store_id))

    async def _follow(self) -> None:
        """Read the results of due batches; idle for a tick when none was due."""
        while True:
            looked = 0
            held = None if self._leases is None else self._leases.held
            try:
                if held is None or held:
                    looked = await follow_batches(self._ctx, store_ids=held)
            except Exception:
                logger.exception("following batches failed")
            if not looked:
                await asyncio.sleep(self._settings.tick_seconds)

    async def _renew(self) -> None:
        assert self._leases is not None
        while True:
            before = self._leases.held
            try:
                if await self._leases.sync() - before:
                    self.wake()  # stores just taken over may have queued work
            except Exception:
                # Renewal failed: the leases run out on their own; `may_send` stops the
                # pushes of this replica at half the TTL.
                logger.exception("lease round failed")
            await asyncio.sleep(self._settings.lease_renew_seconds)

    async def _round(self, store_id: str) -> None:
        try:
            async with self._slots:
                await push_store(store_id, self._ctx)
        except Exception:
            logger.exception("push round failed", store_id=store_id)
        finally:
            self._running.pop(store_id, None)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                logger.exception("push loop pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.tick_seconds)
