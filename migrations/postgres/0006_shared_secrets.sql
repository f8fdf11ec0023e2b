-- Secrets every instance of a deployment must agree on (the HS256 signing secret, the
-- refresh-token key and its earlier generations, the key-encryption key), created once
-- by whichever instance starts first. `value` is NULL when the operator supplies the
-- secret in each instance's configuration: then only its fingerprint is kept, so an
-- instance configured with a different value refuses to start. A value is stored as
-- "plain:<secret>", or "sealed:<base64>" when an operator-supplied key-encryption key
-- seals it (see src/service/shared_secrets.rs).
CREATE TABLE shared_secrets (
    name        TEXT    NOT NULL,
    generation  BIGINT  NOT NULL,
    value       TEXT,
    fingerprint TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (name, generation)
);
