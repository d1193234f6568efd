-- Row types for the group commit (adapters/write_batch.py): a batch's store updates, audit
-- rows and outbox rows travel as one array of a row type each instead of one array per column
-- (33 parameters). asyncpg checks every element of an array parameter on its own and PostgreSQL
-- unpacks every array; one composite array per table costs a fraction of that for the same
-- rows. Nothing else uses these types; the previous release's statement does not need them.

CREATE TYPE store_update_row AS (
    id                      text,
    expected                integer,
    title                   text,
    platform                text,
    status                  text,
    test_mode               boolean,
    store_url               text,
    default_price_list_id   text,
    default_category_id     text,
    default_brand_id        text,
    product_update_enabled  boolean,
    auto_update_type        text,
    order_transfer_enabled  boolean,
    default_warehouse_id    text,
    cargo_company_id        text,
    stock_deduction_enabled boolean,
    version                 integer,
    created_at              timestamptz,
    updated_at              timestamptz
);

CREATE TYPE audit_insert_row AS (
    entity_type    text,
    entity_id      text,
    action         text,
    actor          text,
    at             timestamptz,
    version        integer,
    correlation_id text,
    changes        jsonb
);

CREATE TYPE outbox_insert_row AS (
    event_id uuid,
    topic    text,
    key      bytea,
    headers  jsonb,
    payload  bytea,
    store_id text
);
