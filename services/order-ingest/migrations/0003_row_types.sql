-- Row types for the batch writes (adapters/postgres.py): a batch's rows travel as one array of
-- these instead of one array per column. asyncpg checks every element of an array parameter
-- against collections.abc (two Python calls per text element); a composite element is checked
-- once and its fields are encoded without, and PostgreSQL unpacks one array instead of ten.
CREATE TYPE order_row AS (
    store_id         text,
    order_number     text,
    platform         text,
    status           text,
    first_seen_at    timestamptz,
    last_modified_at timestamptz,
    deduction_wanted boolean,
    warehouse_id     text,
    snapshot         text,
    state            text
);

CREATE TYPE order_line_row AS (
    store_id          text,
    order_number      text,
    line_id           text,
    sku               text,
    deducted_quantity integer,
    released_quantity integer,
    cancelled_units   integer
);

CREATE TYPE outbox_row AS (
    event_id uuid,
    topic    text,
    key      bytea,
    headers  text,
    payload  bytea
);
