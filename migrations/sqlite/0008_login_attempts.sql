-- The login back-off counts attempts before their password is checked and spaces them
-- out per name (see src/domain/backoff.rs): the start of the last counted attempt, in
-- milliseconds, is what the next one is measured from. Existing rows start over.
ALTER TABLE login_failures ADD COLUMN last_attempt_ms INTEGER NOT NULL DEFAULT 0;
