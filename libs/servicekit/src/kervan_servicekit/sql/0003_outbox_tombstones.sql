-- Tombstones: a row with no payload is published as a null-value record (compacted topics).
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
