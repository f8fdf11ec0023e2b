-- Service clients: downstream services that call /introspect, /revoke and /revocations,
-- authenticated with HTTP Basic (RFC 6749 §2.3.1). The secret is shown once by
-- `tessera clients add` and kept only as an Argon2id hash (PHC string), like a password.
CREATE TABLE service_clients (
    client_id   TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    disabled_at BIGINT
);
