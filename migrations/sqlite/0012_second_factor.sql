-- Second factor (TOTP, RFC 6238) and recovery codes.
--
-- One-time use is decided in the database, so that it holds across instances: a TOTP
-- code is accepted only by the one conditional UPDATE that moves `last_step` forward
-- (`... WHERE last_step IS NULL OR last_step < $step`), a recovery code and an
-- mfa_token only by the UPDATE that sets their `used_at`. Rows affected decide.

-- One TOTP factor per user. The secret is sealed with the key-encryption key (never in
-- clear); the factor is pending until a first code confirms it.
CREATE TABLE mfa_totp (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    -- The last time step (Unix time / 30) whose code was accepted.
    last_step     INTEGER
);

-- Recovery codes: only an HMAC of each (keyed with a server key), so the table alone
-- gives nothing back. Looked up by (user, digest): one indexed read.
CREATE TABLE mfa_recovery_codes (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_digest BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, code_digest)
);

-- The step between a correct password and the second factor: the SHA-256 of the
-- mfa_token handed to the client, whose user, expiry, attempts and use are kept here.
CREATE TABLE mfa_challenges (
    token_digest BLOB PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    used_at      INTEGER
);

CREATE INDEX mfa_challenges_by_expires_at ON mfa_challenges (expires_at);

-- What a session's login proved (`amr` of its tokens, space-separated): `pwd`,
-- `pwd otp` or `pwd recovery`. Refreshed tokens carry it on.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
