-- Every change to what a store's view reads (its row and its API status row) is announced on
-- one channel, `kervan_store_changed`, with the payload `<schema>/<store id>`, so each
-- process's in-memory read model re-reads that store whoever wrote it (API, consumer, a
-- migration, psql). TRUNCATE announces `<schema>/` (everything changed: reload).
-- The schema is in the payload, not the channel name: channel names are capped at 63 bytes.

CREATE FUNCTION notify_store_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kervan_store_changed', TG_TABLE_SCHEMA || '/' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_api_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'kervan_store_changed', TG_TABLE_SCHEMA || '/' || COALESCE(NEW.store_id, OLD.store_id)
    );
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_stores_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kervan_store_changed', TG_TABLE_SCHEMA || '/');
    RETURN NULL;
END
$$;

CREATE TRIGGER stores_changed AFTER INSERT OR UPDATE OR DELETE ON stores
    FOR EACH ROW EXECUTE FUNCTION notify_store_row_changed();
CREATE TRIGGER api_statuses_changed AFTER INSERT OR UPDATE OR DELETE ON api_statuses
    FOR EACH ROW EXECUTE FUNCTION notify_api_status_changed();
CREATE TRIGGER stores_truncated AFTER TRUNCATE ON stores
    FOR EACH STATEMENT EXECUTE FUNCTION notify_stores_truncated();
CREATE TRIGGER api_statuses_truncated AFTER TRUNCATE ON api_statuses
    FOR EACH STATEMENT EXECUTE FUNCTION notify_stores_truncated();
