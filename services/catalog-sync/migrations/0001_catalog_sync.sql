-- catalog-sync's own schema: projections, the stock model, the listing map and the push ledger.

-- Store projection, upserted when the snapshot's version is newer.
CREATE TABLE stores (
    store_id               text PRIMARY KEY,
    platform               text        NOT NULL,
    active                 boolean     NOT NULL,
    test_mode              boolean     NOT NULL,
    product_update_enabled boolean     NOT NULL,
    update_type            text        NOT NULL,
    price_list_id          text,
    warehouse_id           text,
    version                bigint      NOT NULL,
    deleted                boolean     NOT NULL DEFAULT false,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stores_price_list ON stores (price_list_id) WHERE NOT deleted;
CREATE INDEX stores_warehouse ON stores (warehouse_id) WHERE NOT deleted;

-- Latest credential check per store (kept when checked_at is newer).
CREATE TABLE api_status (
    store_id    text PRIMARY KEY,
    status      text        NOT NULL,
    reason_code text,
    checked_at  timestamptz NOT NULL
);

-- Credential versions (metadata only, never secret material).
CREATE TABLE credential_versions (
    store_id   text PRIMARY KEY,
    version    bigint      NOT NULL,
    deleted    boolean     NOT NULL,
    changed_at timestamptz NOT NULL
);

-- Catalogue projection. `event_at` is the envelope's occurred_at: older events never win.
CREATE TABLE products (
    sku         text PRIMARY KEY,
    title       text        NOT NULL,
    description text,
    barcode     text,
    model_code  text,
    brand_id    text,
    category_id text,
    attributes  jsonb       NOT NULL DEFAULT '{}',
    images      jsonb       NOT NULL DEFAULT '[]',
    vat_rate    numeric,
    event_at    timestamptz NOT NULL
);

CREATE TABLE prices (
    sku           text        NOT NULL,
    price_list_id text        NOT NULL,
    sale_price    numeric     NOT NULL,
    list_price    numeric     NOT NULL,
    currency      text        NOT NULL,
    event_at      timestamptz NOT NULL,
    PRIMARY KEY (sku, price_list_id)
);

-- The stock model (docs/stock-model.md): the platform's absolute level per (warehouse, SKU)...
CREATE TABLE stock_levels (
    warehouse_id text        NOT NULL,
    sku          text        NOT NULL,
    level        integer,
    as_of        timestamptz,
    PRIMARY KEY (warehouse_id, sku)
);

-- ...and the movements seen: pending ones count on top of the level, acknowledged ones do not.
-- `delta` is NULL for a movement known only from an acknowledgement.
CREATE TABLE stock_movements (
    warehouse_id text        NOT NULL,
    sku          text        NOT NULL,
    movement_id  uuid        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'acknowledged')),
    delta        integer,
    occurred_at  timestamptz NOT NULL,
    origin       text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (warehouse_id, sku, movement_id)
);

-- SKU ↔ the platform's identity of the product, per store.
CREATE TABLE listings (
    store_id     text        NOT NULL,
    sku          text        NOT NULL,
    barcode      text,
    platform_sku text,
    product_id   text,
    source       text        NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (store_id, sku)
);

-- SKUs whose store may need a push; the pusher takes the due ones.
CREATE TABLE dirty_skus (
    store_id  text        NOT NULL,
    sku       text        NOT NULL,
    marked_at timestamptz NOT NULL,
    due_at    timestamptz NOT NULL,
    PRIMARY KEY (store_id, sku)
);
CREATE INDEX dirty_skus_due ON dirty_skus (store_id, due_at);

-- Push ledger per (store, SKU, field): what the platform accepted and what is in flight.
CREATE TABLE push_fields (
    store_id       text        NOT NULL,
    sku            text        NOT NULL,
    field          text        NOT NULL,
    accepted_value text,
    accepted_at    timestamptz,
    sent_value     text,
    sent_at        timestamptz,
    batch_id       text,
    outcome        text,
    reason_code    text,
    message        text,
    permanent      boolean     NOT NULL DEFAULT false,
    attempts       integer     NOT NULL DEFAULT 0,
    retry_at       timestamptz,
    PRIMARY KEY (store_id, sku, field)
);

-- Last price/stock payload per (store, SKU): Trendyol's 15-minute repeat rule.
CREATE TABLE push_payloads (
    store_id    text        NOT NULL,
    sku         text        NOT NULL,
    fingerprint text        NOT NULL,
    sent_at     timestamptz NOT NULL,
    PRIMARY KEY (store_id, sku)
);

-- Batches sent, stored before the platform is called and followed until every item settles.
CREATE TABLE push_batches (
    batch_id      text PRIMARY KEY,
    store_id      text        NOT NULL,
    platform      text        NOT NULL,
    kind          text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('submitting', 'submitted', 'completed')),
    handle        jsonb,
    platform_ref  text,
    created_at    timestamptz NOT NULL,
    submitted_at  timestamptz,
    completed_at  timestamptz,
    next_check_at timestamptz,
    error         text
);
CREATE INDEX push_batches_open ON push_batches (next_check_at) WHERE status <> 'completed';
CREATE INDEX push_batches_store ON push_batches (store_id, created_at DESC);

CREATE TABLE push_batch_items (
    batch_id    text  NOT NULL REFERENCES push_batches (batch_id) ON DELETE CASCADE,
    sku         text  NOT NULL,
    fields      jsonb NOT NULL,
    outcome     text  NOT NULL,
    reason_code text,
    message     text,
    PRIMARY KEY (batch_id, sku)
);

-- Per-store sync health: pauses after 401/403 or rate limiting, last push, last error.
CREATE TABLE store_sync (
    store_id     text PRIMARY KEY,
    paused_until timestamptz,
    pause_reason text,
    last_push_at timestamptz,
    last_error   text
);
