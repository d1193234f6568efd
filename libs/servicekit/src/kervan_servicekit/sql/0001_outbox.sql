-- Transactional outbox: rows written in the business transaction, published by OutboxRelay.
-- Created in the service's schema (the migration runner sets search_path).
CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    key          bytea,
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- the exact Kafka value (JSON envelope bytes); never re-serialised by the relay
    payload      bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);

-- The relay's claim query: unpublished rows in id order.
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
-- The cleanup query: published rows older than the retention.
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
