-- The asymmetric signing keys of the key ring. Private keys are sealed with the
-- key-encryption key (never stored in clear). States follow from the timestamps:
-- next while activate_at > now, retired once retired_at <= now, current in between.
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY,
    alg         TEXT    NOT NULL,
    sealed_key  BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    activate_at BIGINT  NOT NULL,
    retired_at  BIGINT
);
