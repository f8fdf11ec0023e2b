-- One row that /readyz upserts when no other write has got through in the last second:
-- the smallest write that still goes through the whole write path (lock, log, commit),
-- so a full disk or a read-only database shows as "not ready".
CREATE TABLE write_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at INTEGER NOT NULL
);
