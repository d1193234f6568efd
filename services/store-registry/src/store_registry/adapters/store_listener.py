"""Keeps a `StoreReadModel` current: LISTEN on the stores' change channel, apply what changed.

An inserted or updated store row is announced with its content (migration 0003) and applied
as it is; a store is read again (through the pool) when the notification names only its id
(deleted, its API status changed, a row too large for a notification) or when the model
does not hold it yet. One connection of its own LISTENs. Order of a (re)start: LISTEN, then
load every store, then answer reads, so no change committed after the load's snapshot is
missed (its notification is queued meanwhile). Notifications are applied one batch at a time
in one task, in the order they came, so a later change never lands before an earlier one.
When the listening connection is lost the model is cleared (reads go to the database) until a
new connection listens and the model is loaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from kervan_servicekit.logging import get_logger
from store_registry.adapters.postgres import _VIEW_SELECT, _api_status_of, _state_of
from store_registry.app.ports import StoreView
from store_registry.app.read_model import StoreReadModel
from store_registry.domain.model import StoreState

CHANNEL = "kervan_store_rows"
"""Channel of migration 0003's triggers: `<schema>/<row as JSON>` for an inserted or updated
store, `<schema>/<store id>` for other changes of a store's view (read it again)."""
_EVERYTHING = ""
"""Store id of a TRUNCATE's notification: reload all."""

logger = get_logger("store_registry.store_listener")


def _view_of(row: asyncpg.Record) -> StoreView:
    return StoreView(_state_of(row), _api_status_of(row))


def _announced_state(text: str) -> StoreState:
    """A store row as the trigger announced it (`row_to_json`), as the table would give it.

    Timestamps come in the writer's session time zone: converted to UTC, as asyncpg gives
    them.
    """
    row = json.loads(text)
    for column in ("created_at", "updated_at"):
        row[column] = datetime.fromisoformat(row[column]).astimezone(UTC)
    return _state_of(row)


_ID_FIRST = '{"id":"'
_VERSION_KEY = ',"version":'


def row_id(text: str) -> str:
    """The store id of an announced row without decoding it all.

    `row_to_json` writes the columns in table order and `id` is the first; an id never holds a
    quote (`IDENTIFIER_PATTERN`). Anything else is decoded.
    """
    if text.startswith(_ID_FIRST):
        end = text.find('"', len(_ID_FIRST))
        if end > 0:
            return text[len(_ID_FIRST) : end]
    store_id: str = json.loads(text)["id"]
    return store_id


def row_version(text: str) -> int | None:
    """The version of an announced row without decoding it all (None if not found as such).

    Inside a JSON string a quote is escaped (`\"`), so `,"version":` appears only as the key.
    """
    start = text.find(_VERSION_KEY)
    if start < 0:
        return None
    start += len(_VERSION_KEY)
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    return int(text[start:end]) if end > start else None


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
        self._rows: dict[str, str] = {}
        """Store rows announced with their content since the last refresh (JSON text), the
        latest per store."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self.stores_read_again = 0
        """Stores read back from the database after a notification (not applied from it)."""
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
        if not isinstance(payload, str) or not payload.startswith(self._prefix):
            return
        rest = payload[len(self._prefix) :]
        if rest.startswith("{"):
            self._rows[row_id(rest)] = rest  # decoded when applied (the latest only)
            self._wake.set()
        else:
            self._enqueue(rest)

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
        self._rows.clear()
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
        rows, self._rows = self._rows, {}
        store_ids, self._pending = self._pending, set()
        if _EVERYTHING in store_ids:
            await self._close()  # `_conn` is None: the loop reconnects and reloads at once
            return
        if rows and self.model.ready:
            # A store also to be read again gets the read's answer, which is newer. A row this
            # process wrote itself is the state it committed: not decoded again.
            announced = {
                store_id: self.model.committed(store_id, row_version(text))
                or _announced_state(text)
                for store_id, text in rows.items()
                if store_id not in store_ids
            }
            store_ids.update(self.model.apply_rows(announced))
        if not store_ids:
            return
        marks = self.model.marks(store_ids)
        self.stores_read_again += len(store_ids)
        async with self._pool.acquire() as pooled:
            found = await pooled.fetch(
                f"{_VIEW_SELECT} WHERE s.id = ANY($1::text[])", list(store_ids)
            )
        if self.model.ready:
            self.model.apply(marks, {row["id"]: _view_of(row) for row in found})
