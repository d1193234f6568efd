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

import time
from collections.abc import Callable
from datetime import timedelta

import asyncpg

from kervan_servicekit.leases import StoreLeases


class PostgresLeases(StoreLeases):
    """Every known store is leased, blocked ones too: a blocked store's queue must still be
    cleared and its open batches followed, by one replica."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        replica_id: str,
        ttl: timedelta,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            pool,
            replica_id,
            ttl,
            eligible_query="SELECT store_id FROM stores",
            monotonic=monotonic,
        )
