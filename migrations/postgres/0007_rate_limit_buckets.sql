-- Rate limits shared by every instance (src/abuse/shared.rs): one GCRA bucket per key,
-- its theoretical arrival time in ms on the database's clock. UNLOGGED: the buckets are
-- short-lived counters, not data; losing them in a crash only resets the limits.
CREATE UNLOGGED TABLE rate_limit_buckets (
    key TEXT   PRIMARY KEY,
    tat BIGINT NOT NULL
);
