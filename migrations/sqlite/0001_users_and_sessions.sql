-- Users: the seed's integer ids, the name as registered, and its canonical form (unique).
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    username            TEXT    NOT NULL,
    username_canonical  TEXT    NOT NULL UNIQUE,
    password_hash       TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL,
    disabled_at         INTEGER
);

-- Sessions: one per login. Refresh tokens are never stored; only the SHA-256 digest of
-- the session's nonce and the rotation counter (see src/tokens/refresh.rs).
CREATE TABLE sessions (
    id                   TEXT    PRIMARY KEY,
    user_id              INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at           INTEGER NOT NULL,
    last_used_at         INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    user_agent           TEXT,
    ip                   TEXT,
    refresh_nonce_digest BLOB    NOT NULL,
    refresh_counter      INTEGER NOT NULL DEFAULT 0,
    rotated_at           INTEGER,
    revoked_at           INTEGER,
    revoke_reason        TEXT
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_by_expires_at ON sessions (expires_at);
