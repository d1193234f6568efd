-- order-ingest's own schema: projections, orders by natural key, polling state, leases.

-- Projection of kervan.stores.v1 (upsert when the version is newer; a tombstone deletes).
CREATE TABLE stores (
    store_id                text PRIMARY KEY,
    platform                text NOT NULL,
    title                   text NOT NULL,
    active                  boolean NOT NULL,
    test_mode               boolean NOT NULL,
    order_transfer_enabled  boolean NOT NULL,
    stock_deduction_enabled boolean NOT NULL,
    default_warehouse_id    text,
    version                 bigint NOT NULL CHECK (version >= 1),
    projected_at            timestamptz NOT NULL DEFAULT now()
);

-- Latest kervan.api-status.v1 per store (kept when checked later).
CREATE TABLE api_statuses (
    store_id    text PRIMARY KEY,
    status      text NOT NULL,
    reason_code text,
    checked_at  timestamptz NOT NULL
);

-- Latest kervan.credentials.v1 version per store (never the secret itself).
CREATE TABLE credential_versions (
    store_id   text PRIMARY KEY,
    version    bigint NOT NULL,
    deleted    boolean NOT NULL,
    changed_at timestamptz NOT NULL
);

-- The order aggregate, keyed by (store, order number); never by a package id.
CREATE TABLE orders (
    store_id         text NOT NULL,
    order_number     text NOT NULL,
    platform         text NOT NULL,
    status           text NOT NULL,
    first_seen_at    timestamptz NOT NULL,
    last_modified_at timestamptz NOT NULL,
    deduction_wanted boolean NOT NULL,
    warehouse_id     text,
    snapshot         jsonb NOT NULL,
    state            jsonb NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, order_number)
);

CREATE INDEX orders_first_seen ON orders (store_id, first_seen_at, order_number);
CREATE INDEX orders_pending_deduction ON orders (store_id)
    WHERE deduction_wanted AND warehouse_id IS NULL;

-- Lines by their natural key, with what was published about each (queryable, and a second
-- guard: the checks make a double deduction or a release without deduction impossible to store).
CREATE TABLE order_lines (
    store_id          text NOT NULL,
    order_number      text NOT NULL,
    line_id           text NOT NULL,
    sku               text NOT NULL,
    deducted_quantity integer NOT NULL CHECK (deducted_quantity >= 0),
    released_quantity integer NOT NULL CHECK (released_quantity >= 0),
    cancelled_units   integer NOT NULL CHECK (cancelled_units >= 0),
    PRIMARY KEY (store_id, order_number, line_id),
    FOREIGN KEY (store_id, order_number) REFERENCES orders ON DELETE CASCADE,
    CHECK (released_quantity <= deducted_quantity)
);

-- Polling state per store; its row lock serialises every writer of one store's orders.
CREATE TABLE ingest_state (
    store_id        text PRIMARY KEY,
    watermark       timestamptz,
    last_poll_at    timestamptz,
    last_success_at timestamptz,
    last_outcome    text,
    last_error_code text,
    paused_reason   text,
    paused_at       timestamptz,
    orders_ingested bigint NOT NULL DEFAULT 0,
    polls           jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- Which replica polls which store (see README, "Several replicas").
CREATE TABLE store_leases (
    store_id   text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Live replicas, so each one can take only its fair share of stores.
CREATE TABLE replicas (
    replica_id text PRIMARY KEY,
    seen_at    timestamptz NOT NULL
);
