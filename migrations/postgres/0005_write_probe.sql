-- One row that /readyz upserts when no other write has got through in the last second:
-- the smallest write that still goes through the whole write path (lock, WAL, commit),
-- so a full disk or a read-only (standby) database shows as "not ready".
CREATE TABLE write_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at BIGINT  NOT NULL
);
