-- Inbox of an idempotent consumer: one row per (consumer, event) applied, inserted in the
-- same transaction as the effect, so a redelivered event is recognised and skipped.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
