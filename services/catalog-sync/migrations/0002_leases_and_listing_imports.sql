-- Several replicas, each store pushed by exactly one live replica at a time
-- (docs/catalog-sync-replicas.md), and the listing map read from the platforms.

-- Which replica pushes which store, until when (the database clock decides expiry).
CREATE TABLE store_leases (
    store_id   text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Live replicas, so that each one takes only its fair share of stores.
CREATE TABLE replicas (
    replica_id text PRIMARY KEY,
    seen_at    timestamptz NOT NULL
);

-- The listing map filled from the platform's product list: when each store was last read.
CREATE TABLE listing_imports (
    store_id    text PRIMARY KEY,
    imported_at timestamptz NOT NULL,
    outcome     text        NOT NULL,
    listings    integer     NOT NULL DEFAULT 0,
    reason      text
);
