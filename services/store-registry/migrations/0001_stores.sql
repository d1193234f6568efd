-- store-registry: reference lists, stores with their settings, the API status projection and
-- the audit log. Runs inside the service's schema (the runner sets search_path).

-- Reference lists are kept current by the platform's ERP; ids are the ERP's own.
CREATE TABLE warehouses (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE price_lists (LIKE warehouses INCLUDING ALL);
CREATE TABLE cargo_companies (LIKE warehouses INCLUDING ALL);
CREATE TABLE categories (LIKE warehouses INCLUDING ALL);
CREATE TABLE brands (LIKE warehouses INCLUDING ALL);

-- One row per store at its current version. The settings' references are foreign keys, so a
-- referenced item can never disappear under a store even when two requests race.
CREATE TABLE stores (
    id                      text        PRIMARY KEY,
    title                   text        NOT NULL,
    platform                text        NOT NULL,
    status                  text        NOT NULL CHECK (status IN ('active', 'passive')),
    test_mode               boolean     NOT NULL,
    store_url               text,
    default_price_list_id   text        REFERENCES price_lists (id),
    default_category_id     text        REFERENCES categories (id),
    default_brand_id        text        REFERENCES brands (id),
    product_update_enabled  boolean     NOT NULL,
    auto_update_type        text        NOT NULL,
    order_transfer_enabled  boolean     NOT NULL,
    default_warehouse_id    text        REFERENCES warehouses (id),
    cargo_company_id        text        REFERENCES cargo_companies (id),
    stock_deduction_enabled boolean     NOT NULL,
    version                 integer     NOT NULL CHECK (version >= 1),
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);
-- keyset pagination of the listing
CREATE INDEX stores_created_id_idx ON stores (created_at, id);
-- "which stores use this item" (reference deletes and the FK checks behind them)
CREATE INDEX stores_price_list_idx ON stores (default_price_list_id);
CREATE INDEX stores_category_idx ON stores (default_category_id);
CREATE INDEX stores_brand_idx ON stores (default_brand_id);
CREATE INDEX stores_warehouse_idx ON stores (default_warehouse_id);
CREATE INDEX stores_cargo_company_idx ON stores (cargo_company_id);

-- Latest ApiStatusChanged per store (consumed from kervan.api-status.v1). No foreign key:
-- a check may be heard before the store's creation is, or after its deletion.
CREATE TABLE api_statuses (
    store_id    text        PRIMARY KEY,
    status      text        NOT NULL,
    reason_code text,
    message     text,
    checked_at  timestamptz NOT NULL,
    test_mode   boolean     NOT NULL
);

-- Append-only: who changed what, when, with a field-level diff. Outlives deleted stores.
CREATE TABLE audit_log (
    id             bigserial   PRIMARY KEY,
    entity_type    text        NOT NULL,
    entity_id      text        NOT NULL,
    action         text        NOT NULL,
    actor          text        NOT NULL,
    at             timestamptz NOT NULL,
    version        integer,
    correlation_id text,
    changes        jsonb       NOT NULL
);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, id DESC);
