"""Store leases in PostgreSQL: each store is polled by exactly one live replica.

A lease is a row (store_id, owner, expires_at). Every `renew_interval` a replica heartbeats,
renews its leases, gives back what it no longer should hold and claims free or expired ones up
to its fair share (ceil(eligible stores / live replicas)). The database clock decides expiry, so
replicas' clocks do not matter. A dead replica's leases expire after `ttl`; the next sync of any
other replica takes them: worst case ttl + renew_interval (20 + 5 s by default, < 30 s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import asyncpg


class PostgresLeases:
    """LeaseManager over the `store_leases` and `replicas` tables."""

    def __init__(self, pool: asyncpg.Pool, replica_id: str, ttl: timedelta) -> None:
        self._pool = pool
        self.replica_id = replica_id
        self._ttl = ttl

    async def sync(self, eligible: Sequence[str]) -> set[str]:
        """See LeaseManager."""
        wanted = sorted(set(eligible))
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
            fair_share = math.ceil(len(wanted) / max(live, 1))
            # Stores no longer eligible are given back at once.
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
            # Above the fair share (a replica joined): give back the surplus, one over is kept
            # so that an uneven split does not make stores hop between replicas on every sync.
            surplus = sorted(held)[fair_share + 1 :] if len(held) > fair_share + 1 else []
            if surplus:
                await conn.execute(
                    "DELETE FROM store_leases WHERE owner = $1 AND store_id = ANY($2::text[])",
                    self.replica_id,
                    surplus,
                )
                held = [s for s in held if s not in surplus]
            room = fair_share - len(held)
            if room > 0:
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
        return set(held)

    async def release_all(self) -> None:
        """See LeaseManager."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM store_leases WHERE owner = $1", self.replica_id)
            await conn.execute("DELETE FROM replicas WHERE replica_id = $1", self.replica_id)
