"""Keeps a `StoreReadModel` current: LISTEN on the stores' change channel, re-read what changed.

One connection of its own LISTENs (pooled connections are reset and shared); reads go through
the pool. Order of a (re)start: LISTEN, then load every store, then answer reads, so no change
committed after the load's snapshot is missed (its notification is queued meanwhile). Re-reads
run one batch at a time in one task, so a later re-read never lands before an earlier one.
When the listening connection is lost the model is cleared (reads go to the database) until a
new connection listens and the model is loaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from kervan_servicekit.logging import get_logger
from store_registry.adapters.postgres import _VIEW_SELECT, _api_status_of, _state_of
from store_registry.app.ports import StoreView
from store_registry.app.read_model import StoreReadModel

CHANNEL = "kervan_store_changed"
"""Channel of migration 0002's triggers; the payload is `<schema>/<store id>`."""
_EVERYTHING = ""
"""Store id of a TRUNCATE's notification: reload all."""

logger = get_logger("store_registry.store_listener")


def _view_of(row: asyncpg.Record) -> StoreView:
    return StoreView(_state_of(row), _api_status_of(row))


class StoreChangeListener:
    """Fills the model at start and after every reconnect, and re-reads notified stores."""

    def __init__(
        self,
        model: StoreReadModel,
        *,
        dsn: str,
        schema: str,
        pool: asyncpg.Pool,
        reconnect_seconds: float = 1.0,
    ) -> None:
        self.model = model
        self._dsn = dsn
        self._schema = schema
        self._prefix = f"{schema}/"
        self._pool = pool
        self._reconnect_seconds = reconnect_seconds
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self.loaded = asyncio.Event()
        """Set each time the model has been (re)loaded; tests wait on it."""
        model.on_dirty = self._enqueue

    async def start(self) -> None:
        """Listen and load once (so the first requests are served from memory), then run."""
        with contextlib.suppress(Exception):
            await self._connect_and_load()
        self._task = asyncio.create_task(self._run(), name="store-read-model")

    async def stop(self) -> None:
        """Stop listening; reads go to the database."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()
        self.model.clear()

    async def drop_connection(self) -> None:
        """Close the listening connection as if the server had dropped it (tests, operators)."""
        if self._conn is not None:
            # asyncpg calls termination listeners on a later loop iteration: clear now.
            self._lost(self._conn)
            await self._conn.close()

    def _enqueue(self, store_id: str) -> None:
        self._pending.add(store_id)
        self._wake.set()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        if isinstance(payload, str) and payload.startswith(self._prefix):
            self._enqueue(payload[len(self._prefix) :])

    def _lost(self, _conn: Any) -> None:
        # Whatever we hold may miss changes from now on: stop answering from it at once.
        self.model.clear()
        self.loaded.clear()
        self._wake.set()

    async def _connect_and_load(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(self._lost)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._pending.clear()
        async with self._pool.acquire() as pooled:
            rows = await pooled.fetch(f"{_VIEW_SELECT} ORDER BY s.created_at, s.id")
        if conn.is_closed():
            raise ConnectionError("the listening connection closed while loading")
        self.model.load(_view_of(row) for row in rows)
        self.loaded.set()
        logger.info("store read model loaded", stores=len(self.model))

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def _run(self) -> None:
        while True:
            try:
                if self._conn is None or self._conn.is_closed():
                    self.model.clear()
                    if self._conn is not None:  # lost, not a requested reload: back off
                        await self._close()
                        await asyncio.sleep(self._reconnect_seconds)
                    await self._connect_and_load()
                await self._wake.wait()
                self._wake.clear()
                await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: serve from the database, retry
                self.model.clear()
                self.loaded.clear()
                logger.warning(
                    "store read model unavailable; reads go to the database", error=str(exc)
                )
                await self._close()
                await asyncio.sleep(self._reconnect_seconds)

    async def _refresh(self) -> None:
        if self._conn is None or self._conn.is_closed():
            return  # the loop reconnects and reloads
        if not self._pending:
            return
        store_ids, self._pending = self._pending, set()
        if _EVERYTHING in store_ids:
            await self._close()  # `_conn` is None: the loop reconnects and reloads at once
            return
        marks = self.model.marks(store_ids)
        async with self._pool.acquire() as pooled:
            rows = await pooled.fetch(
                f"{_VIEW_SELECT} WHERE s.id = ANY($1::text[])", list(store_ids)
            )
        if self.model.ready:
            self.model.apply(marks, {row["id"]: _view_of(row) for row in rows})
