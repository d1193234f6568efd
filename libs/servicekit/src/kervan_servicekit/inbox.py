"""Inbox of an idempotent consumer: apply each (consumer, event) once.

Call `claim` first inside the transaction that applies the event's effects. `False` means the
event was already applied: skip the effects and let the message be acknowledged. Because the
inbox row commits or rolls back together with the effects, a crash anywhere leaves either
both or neither, and a redelivery is recognised.
"""

# ruff: noqa: S608  (only the schema name is formatted in, always through quote_ident;
# values are bind parameters)
from __future__ import annotations

import uuid

from kervan_servicekit.db import Connection
from kervan_servicekit.migrations import quote_ident


class Inbox:
    """Access to the `inbox` table of one schema."""

    def __init__(self, schema: str) -> None:
        self._claim_sql = (
            f"INSERT INTO {quote_ident(schema)}.inbox (consumer, event_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING true"
        )

    async def claim(self, conn: Connection, consumer: str, event_id: uuid.UUID) -> bool:
        """Record that `consumer` applies `event_id`; False if it already did.

        Must run inside the caller's transaction, or the dedup would not be atomic with the
        effects.
        """
        if not conn.is_in_transaction():
            raise RuntimeError("Inbox.claim must run inside the business transaction")
        inserted = await conn.fetchval(self._claim_sql, consumer, event_id)
        return inserted is True
