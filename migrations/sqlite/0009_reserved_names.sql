-- Names nobody may register until an operator releases them (`tessera user release`):
-- the Flask users an import could not bring over (`--reserve-skipped`), or names reserved
-- by hand (`tessera user reserve`). See src/import/mod.rs.
CREATE TABLE reserved_names (
    username_canonical TEXT    PRIMARY KEY,
    username           TEXT    NOT NULL,
    reason             TEXT    NOT NULL,
    reserved_at        INTEGER NOT NULL
);

-- SHA-256 of the source hash an account was imported with, so a later import recognises
-- the user it brought over even after the hash was upgraded (src/domain/import_match.rs).
-- NULL for accounts registered on tessera.
ALTER TABLE users ADD COLUMN imported_hash_sha256 BLOB;
