"""Per-store leases in PostgreSQL: each store is worked by exactly one live replica at a time.

Used by order-ingest (one poller per store) and catalog-sync (one pusher per store). Each
service keeps two tables in its own schema:

    replicas      (replica_id text PRIMARY KEY, seen_at timestamptz)
    store_leases  (store_id text PRIMARY KEY, owner text, expires_at timestamptz)

Every renew interval a replica runs one round (`sync`): it heartbeats, renews its leases, gives
back what it should no longer hold and claims free or expired ones up to its fair share
(ceil(stores / live replicas)). The database clock decides expiry, so replicas' clocks do not
matter. A dead replica's leases expire after `ttl`; the next round of any other replica takes
them: worst case ttl + renew interval. `may_send` is the fence for side effects: it is true only
while the lease has at least half its TTL left by this process's own clock, so a replica that
missed renewals (a pause, a lost database) stops well before another may take over.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import asyncpg


class StoreLeases:
    """Lease rounds over the `store_leases` and `replicas` tables of the pool's schema."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        replica_id: str,
        ttl: timedelta,
        *,
        eligible_query: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`eligible_query` (one `store_id` column) names the stores to lease when `sync` is
        called without a list; it runs in the round's transaction."""
        self._pool = pool
        self._ttl = ttl
        self._eligible_query = eligible_query
        self._monotonic = monotonic
        self.replica_id = replica_id
        self.held: frozenset[str] = frozenset()
        self._renewed_at: float | None = None

    async def sync(self, eligible: Sequence[str] | None = None) -> frozenset[str]:
        """One round: heartbeat, renew, drop ineligible or surplus leases, claim free ones up to
        a fair share. Returns the stores this replica holds now."""
        if eligible is None and self._eligible_query is None:
            raise ValueError("sync() needs the eligible stores or an eligible_query")
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
            if eligible is None:
                assert self._eligible_query is not None
                eligible = [r["store_id"] for r in await conn.fetch(self._eligible_query)]
            wanted = sorted(set(eligible))
            fair_share = math.ceil(len(wanted) / max(live, 1))
            # Stores no longer eligible are given back at once.
            await conn.execute(
                "DELETE FROM store_leases WHERE owner = $1 AND NOT (store_id = ANY($2::text[]))",
                self.replica_id,
                wanted,
            )
            held = sorted(
                r["store_id"]
                for r in await conn.fetch(
                    "UPDATE store_leases SET expires_at = now() + $2::interval "
                    "WHERE owner = $1 RETURNING store_id",
                    self.replica_id,
                    self._ttl,
                )
            )
            # Above the fair share (a replica joined): give back the surplus; one over is kept
            # so that an uneven split does not make stores hop between replicas every round.
            if len(held) > fair_share + 1:
                await conn.execute(
                    "DELETE FROM store_leases WHERE owner = $1 AND store_id = ANY($2::text[])",
                    self.replica_id,
                    held[fair_share + 1 :],
                )
                held = held[: fair_share + 1]
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
        the database's expiry is never earlier)."""
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
