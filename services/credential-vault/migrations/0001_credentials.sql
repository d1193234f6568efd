-- credential-vault: store projection, credential metadata (never values), API status,
-- check history and OAuth states. Secrets live only in Vault.
CREATE TABLE stores (
    store_id   text        PRIMARY KEY,
    platform   text        NOT NULL,
    test_mode  boolean     NOT NULL,
    version    integer     NOT NULL,
    deleted    boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credential_metadata (
    store_id      text        PRIMARY KEY REFERENCES stores (store_id),
    platform      text        NOT NULL,
    fields_set    text[]      NOT NULL,
    vault_version integer     NOT NULL,
    -- HMAC-SHA256 under the service key: comparable, not reversible, not guessable
    fingerprint   text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL
);

CREATE TABLE api_status (
    store_id    text        PRIMARY KEY REFERENCES stores (store_id),
    platform    text        NOT NULL,
    status      text        NOT NULL,
    reason_code text,
    message     text,
    checked_at  timestamptz NOT NULL,
    test_mode   boolean     NOT NULL
);

CREATE TABLE check_history (
    id          bigserial   PRIMARY KEY,
    store_id    text        NOT NULL,
    status      text        NOT NULL,
    reason_code text,
    checked_at  timestamptz NOT NULL,
    test_mode   boolean     NOT NULL
);
CREATE INDEX check_history_store_idx ON check_history (store_id, checked_at DESC);

-- Only an id is stored; the state handed out is that id signed with the service key.
CREATE TABLE oauth_states (
    state_id   text        PRIMARY KEY,
    store_id   text        NOT NULL,
    platform   text        NOT NULL,
    expires_at timestamptz NOT NULL
);
