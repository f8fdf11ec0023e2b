-- When a session was opened, in microseconds: `created_at` has whole seconds, too coarse
-- to tell which of two logins in the same second is older when `max_sessions_per_user`
-- ends the oldest. 0 for sessions opened before this column existed.
ALTER TABLE sessions ADD COLUMN opened_at_us BIGINT NOT NULL DEFAULT 0;
