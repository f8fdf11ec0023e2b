-- Account recovery by email (optional addresses, verified before use).
--
-- `email_key` is the address's comparison form (domain lower-cased; the local part as
-- configured): a verified address belongs to one account only. An unverified one is only
-- a wish, so two accounts may name it.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
-- The language the user's last request asked for, for messages sent later.
ALTER TABLE users ADD COLUMN locale TEXT;
CREATE UNIQUE INDEX users_by_verified_email ON users (email_key) WHERE email_verified_at IS NOT NULL;

-- Codes sent by mail: only keyed digests (HMAC under a key derived from the
-- key-encryption key) of the link's token and of the typed code. Used once by the
-- conditional UPDATE that sets `used_at`; void after `attempts` wrong codes or at expiry.
CREATE TABLE account_codes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose      TEXT    NOT NULL,
    token_digest BLOB    NOT NULL UNIQUE,
    code_digest  BLOB    NOT NULL,
    -- verify_email: the address the code proves.
    email        TEXT,
    email_key    TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    used_at      INTEGER
);
CREATE INDEX account_codes_by_user ON account_codes (user_id, purpose);

-- Messages to send, written in the transaction that creates their code and delivered by a
-- worker. A row is claimed by one conditional UPDATE (one instance sends it), sealed with
-- the key-encryption key (its body holds a link), and emptied once sent or dead.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_key   TEXT    NOT NULL,
    user_id         INTEGER,
    sealed_message  BLOB,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_until   INTEGER,
    sent_at         INTEGER,
    dead_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_by_recipient ON outbox (recipient_key, created_at);
CREATE INDEX outbox_by_user ON outbox (user_id, created_at);

-- One row per address mail went to: the transaction that queues a message first writes
-- its row, which serialises concurrent requests for one address (PostgreSQL takes the
-- row's lock), so the per-hour count cannot be passed by racing.
CREATE TABLE mail_recipients (
    recipient_key TEXT PRIMARY KEY,
    last_queued_at INTEGER NOT NULL
);
