"""Store leases: each store is polled by exactly one live replica (docs/order-ingest-replicas.md).

The scheme is servicekit's (`kervan_servicekit.leases`); order-ingest passes the eligible stores
(active, order transfer on, API status valid) to every round. With the defaults (ttl 20 s, renew
every 5 s) a dead replica's stores are taken within 25 s.
"""

from __future__ import annotations

from kervan_servicekit.leases import StoreLeases as PostgresLeases

__all__ = ["PostgresLeases"]
