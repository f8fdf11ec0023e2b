-- Revocations of sessions whose rows are gone before their access tokens expired (the
-- user was deleted, which deletes the sessions). Other processes learn of revocations by
-- polling; without this table they would never hear of these.
CREATE TABLE revocations (
    session_id TEXT    NOT NULL,
    revoked_at INTEGER NOT NULL
);

CREATE INDEX revocations_by_revoked_at ON revocations (revoked_at);
