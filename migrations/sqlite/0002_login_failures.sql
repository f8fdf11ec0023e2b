-- Failed logins per canonical name (whether or not the account exists, so the back-off
-- reveals nothing about who exists), shared by every instance. See src/abuse/mod.rs.
CREATE TABLE login_failures (
    username_canonical TEXT    PRIMARY KEY,
    failures           INTEGER NOT NULL,
    last_failed_at     INTEGER NOT NULL
);
