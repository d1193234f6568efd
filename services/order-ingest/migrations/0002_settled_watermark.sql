-- The sweep cursor (domain/window.py): everything modified before it was read again once it
-- was older than the overlap. NULL for stores polled before it existed: their sweep starts at
-- `watermark - overlap`, where every poll used to re-read from.
ALTER TABLE ingest_state ADD COLUMN settled_watermark timestamptz;
