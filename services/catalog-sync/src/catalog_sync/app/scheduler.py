"""The push loop: one task per store with due work, plus a follower of open batches.

Stores run concurrently (each waits on its own platform's rate limiter inside the adapter);
one store never has two rounds at once, so its batches keep their order. `wake()` lets a
consumer cut the idle wait short after marking SKUs dirty.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from catalog_sync.app.pusher import PushContext, follow_batches, push_store
from kervan_servicekit import get_logger

logger = get_logger("catalog_sync.scheduler")


@dataclass(frozen=True, slots=True)
class LoopSettings:
    """How often the loop looks for work."""

    tick_seconds: float = 0.25
    max_concurrent_stores: int = 16


class PushLoop:
    """Runs push rounds and batch follow-ups until stopped."""

    def __init__(self, ctx: PushContext, settings: LoopSettings | None = None) -> None:
        self._ctx = ctx
        self._settings = settings or LoopSettings()
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._main: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(self._settings.max_concurrent_stores)

    def wake(self) -> None:
        """Look for work now."""
        self._wake.set()

    async def start(self) -> None:
        """Start the loop."""
        if self._main is None:
            self._main = asyncio.create_task(self._run(), name="catalog-sync-push-loop")

    async def stop(self) -> None:
        """Stop the loop and wait for rounds in progress to end."""
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
            self._main = None
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    async def run_once(self) -> None:
        """One pass: start rounds for stores with due work, follow due batches."""
        async with self._ctx.uow() as uow:
            stores = await uow.stores_with_due_work(self._ctx.clock())
            backlog = await uow.backlog()
        self._ctx.telemetry.backlog(backlog)
        for store_id in stores:
            if store_id not in self._running:
                self._running[store_id] = asyncio.create_task(self._round(store_id))
        await follow_batches(self._ctx)

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
