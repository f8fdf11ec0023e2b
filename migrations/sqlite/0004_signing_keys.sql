-- The asymmetric signing keys of the key ring. Private keys are sealed with the
-- key-encryption key (never stored in clear). States follow from the timestamps:
-- next while activate_at > now, retired once retired_at <= now, current in between.
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY,
    alg         TEXT    NOT NULL,
    sealed_key  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    activate_at INTEGER NOT NULL,
    retired_at  INTEGER
);
