-- A deleted account's name is held back from registration until `held_until`, so that no
-- token of the old owner (a Flask-minted one names only `sub`) can read a new owner's
-- account (ASVS 10.3.3). NULL: held until an operator releases it (imports, `user reserve`).
ALTER TABLE reserved_names ADD COLUMN held_until BIGINT;
