-- The read models' channel from this release on: `kervan_store_rows`. An inserted or updated
-- store row is announced with the row itself (`<schema>/<row as JSON>`), so a process applies
-- it without reading the store back; a deleted store, a changed API status and a row too
-- large for a notification are announced by id (`<schema>/<store id>`: read it again);
-- TRUNCATE by `<schema>/` (reload everything). A JSON payload starts with `{`, which no store
-- id does.
--
-- `kervan_store_changed` (0002) keeps its id payloads for processes of the previous release
-- during a rolling update; a later release stops sending them.

CREATE FUNCTION notify_store_row_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        payload := TG_TABLE_SCHEMA || '/' || OLD.id;
    ELSE
        payload := TG_TABLE_SCHEMA || '/' || row_to_json(NEW)::text;
        IF octet_length(payload) > 7900 THEN  -- NOTIFY payloads must stay under 8000 bytes
            payload := TG_TABLE_SCHEMA || '/' || NEW.id;
        END IF;
    END IF;
    PERFORM pg_notify('kervan_store_rows', payload);
    PERFORM pg_notify('kervan_store_changed', TG_TABLE_SCHEMA || '/' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_store_api_status_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text := TG_TABLE_SCHEMA || '/' || COALESCE(NEW.store_id, OLD.store_id);
BEGIN
    PERFORM pg_notify('kervan_store_rows', payload);
    PERFORM pg_notify('kervan_store_changed', payload);
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_store_tables_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kervan_store_rows', TG_TABLE_SCHEMA || '/');
    PERFORM pg_notify('kervan_store_changed', TG_TABLE_SCHEMA || '/');
    RETURN NULL;
END
$$;

DROP TRIGGER stores_changed ON stores;
DROP TRIGGER api_statuses_changed ON api_statuses;
DROP TRIGGER stores_truncated ON stores;
DROP TRIGGER api_statuses_truncated ON api_statuses;
DROP FUNCTION notify_store_row_changed();
DROP FUNCTION notify_api_status_changed();
DROP FUNCTION notify_stores_truncated();

CREATE TRIGGER stores_changed AFTER INSERT OR UPDATE OR DELETE ON stores
    FOR EACH ROW EXECUTE FUNCTION notify_store_row_written();
CREATE TRIGGER api_statuses_changed AFTER INSERT OR UPDATE OR DELETE ON api_statuses
    FOR EACH ROW EXECUTE FUNCTION notify_store_api_status_written();
CREATE TRIGGER stores_truncated AFTER TRUNCATE ON stores
    FOR EACH STATEMENT EXECUTE FUNCTION notify_store_tables_truncated();
CREATE TRIGGER api_statuses_truncated AFTER TRUNCATE ON api_statuses
    FOR EACH STATEMENT EXECUTE FUNCTION notify_store_tables_truncated();
