"""Store leases in PostgreSQL: each store is pushed by exactly one live replica at a time.

Why per store: a store's rate limits are kept by the token buckets of the process that talks
to its platform, and its values must reach the platform in the order they were decided. Two
replicas pushing one store would each spend the whole documented budget (429s) and could let
an older value overtake a newer one. So each store has one owner.

A lease is a row (store_id, owner, expires_at). Every `renew_interval` a replica heartbeats,
renews its leases, gives back what it should no longer hold and claims free or expired ones up
to its fair share (ceil(stores / live replicas)). Expiry is decided by the database clock, so
replicas' clocks do not matter. A dead replica's leases expire after `ttl`; the next round of
any other replica takes them: worst case ttl + renew_interval. The same scheme as
order-ingest's pollers (docs/order-ingest-replicas.md); the fencing that goes with it is in
`app/pusher.py` (`push_store`) and described in docs/catalog-sync-replicas.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta

import asyncpg


class PostgresLeases:
    """Lease rounds over the `store_leases` and `replicas` tables of catalog-sync's schema."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        replica_id: str,
        ttl: timedelta,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._ttl = ttl
        self._monotonic = monotonic
        self.replica_id = replica_id
        self.held: frozenset[str] = frozenset()
        self._renewed_at: float | None = None

    async def sync(self) -> frozenset[str]:
        """One lease round over every known store; returns the stores held now."""
        started = self._monotonic()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO replicas (replica_id, seen_at) VALUES ($1, now()) "
                "ON CONFLICT (replica_id) DO UPDATE SET seen_at = now()",
                self.replica_id,
            )
            await conn.execute(
                "DELETE FROM replicas WHERE seen_at < now() - $1::interval", self._ttl
            )
            live = int(await conn.fetchval("SELECT count(*) FROM replicas"))
            # Every known store is leased, blocked ones too: a blocked store's queue must still
            # be cleared and its open batches followed, by one replica.
            wanted = [r["store_id"] for r in await conn.fetch("SELECT store_id FROM stores")]
            fair_share = math.ceil(len(wanted) / max(live, 1))
            await conn.execute(
                "DELETE FROM store_leases WHERE owner = $1 AND NOT (store_id = ANY($2::text[]))",
                self.replica_id,
                wanted,
            )
            held = [
                r["store_id"]
                for r in await conn.fetch(
                    "UPDATE store_leases SET expires_at = now() + $2::interval "
                    "WHERE owner = $1 RETURNING store_id",
                    self.replica_id,
                    self._ttl,
                )
            ]
            # Above the fair share (a replica joined): give back the surplus; one over is kept
            # so that an uneven split does not make stores hop between replicas every round.
            if len(held) > fair_share + 1:
                surplus = sorted(held)[fair_share + 1 :]
                await conn.execute(
                    "DELETE FROM store_leases WHERE owner = $1 AND store_id = ANY($2::text[])",
                    self.replica_id,
                    surplus,
                )
                held = sorted(held)[: fair_share + 1]
            room = fair_share - len(held)
            if room > 0:
                # The primary key settles two replicas claiming one store at once: one insert
                # wins, the other's conflict update finds a live lease and changes nothing.
                claimed = await conn.fetch(
                    """
                    WITH candidates AS (
                        SELECT id FROM unnest($2::text[]) AS id
                        WHERE NOT EXISTS (
                            SELECT 1 FROM store_leases l
                            WHERE l.store_id = id AND l.expires_at > now()
                        )
                        ORDER BY id LIMIT $4
                    )
                    INSERT INTO store_leases (store_id, owner, expires_at)
                    SELECT id, $1, now() + $3::interval FROM candidates
                    ON CONFLICT (store_id) DO UPDATE
                        SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                        WHERE store_leases.expires_at <= now()
                    RETURNING store_id
                    """,
                    self.replica_id,
                    wanted,
                    self._ttl,
                    room,
                )
                held += [r["store_id"] for r in claimed]
        self.held = frozenset(held)
        self._renewed_at = started
        return self.held

    def may_send(self, store_id: str) -> bool:
        """True while this replica holds the store and its lease has at least half its TTL
        left by this process's own clock (measured from before the renewing transaction, so
        the database's expiry is never earlier). A replica that missed renewals (a pause, a
        lost database) stops calling the platform well before another one may take over."""
        if store_id not in self.held or self._renewed_at is None:
            return False
        return self._monotonic() - self._renewed_at < self._ttl.total_seconds() / 2

    async def release_all(self) -> None:
        """Give every lease back and drop the heartbeat (clean shutdown): the others take the
        stores at their next round instead of after the TTL."""
        self.held = frozenset()
        self._renewed_at = None
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM store_leases WHERE owner = $1", self.replica_id)
            await conn.execute("DELETE FROM replicas WHERE replica_id = $1", self.replica_id)
