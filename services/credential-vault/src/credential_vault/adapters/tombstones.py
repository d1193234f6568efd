"""Tombstones (null-value records) through servicekit's outbox.

servicekit's `Outbox` writes envelopes only. A tombstone is written as an outbox row marked by
a header, and `TombstoneProducer` (wrapped around the relay's producer) sends marked rows with a
null value. Same scheme as store-registry's; to move into servicekit (one way to do it).
"""

# ruff: noqa: S608  (only the schema name is formatted in, through quote_ident)
from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg

from kervan_servicekit.migrations import quote_ident
from kervan_servicekit.outbox import ProducerLike

TOMBSTONE_HEADER = "x-kervan-tombstone"


class TombstoneWriter:
    """Adds tombstone rows to a schema's outbox, in the caller's transaction."""

    def __init__(self, schema: str) -> None:
        self._sql = (
            f"INSERT INTO {quote_ident(schema)}.outbox (event_id, topic, key, headers, payload) "
            "VALUES ($1, $2, $3, $4::jsonb, ''::bytea)"
        )

    async def add(self, conn: asyncpg.Connection, topic: str, key: str) -> None:
        """Queue a tombstone for `key`; it is published after the rows written before it."""
        if not conn.is_in_transaction():
            raise RuntimeError("tombstones must be written inside the business transaction")
        await conn.execute(
            self._sql, uuid.uuid4(), topic, key.encode(), json.dumps({TOMBSTONE_HEADER: "1"})
        )


class TombstoneProducer:
    """A relay producer that sends rows marked as tombstones with a null value."""

    def __init__(self, inner: ProducerLike) -> None:
        self._inner = inner

    async def start(self) -> None:
        """Start the wrapped producer."""
        await self._inner.start()

    async def stop(self) -> None:
        """Stop the wrapped producer."""
        await self._inner.stop()

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        """Send; a marked row goes out as key + null value, without headers."""
        if headers and any(name == TOMBSTONE_HEADER for name, _ in headers):
            return await self._inner.send(topic, value=None, key=key, headers=None)
        return await self._inner.send(topic, value=value, key=key, headers=headers)
