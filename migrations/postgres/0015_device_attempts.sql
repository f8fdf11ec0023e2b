-- Device tokens (OWASP's device cookies, see src/tokens/device.rs): login attempts counted
-- per token, by the SHA-256 of its nonce (nothing of the token itself), so that a stolen
-- token buys only a few guesses (see src/domain/device_lockout.rs). A success deletes the
-- row; the purge deletes rows whose window is over.
CREATE TABLE device_attempts (
    token_digest BYTEA   PRIMARY KEY,
    attempts     BIGINT  NOT NULL,
    window_start BIGINT  NOT NULL
);

CREATE INDEX device_attempts_by_window_start ON device_attempts (window_start);
