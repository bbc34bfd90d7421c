-- A random id for this database: the keychain holds the secrets of every
-- Outbox data folder on the machine, so their keys carry it (two folders
-- may each have a destination named "shop").
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('database_id', lower(hex(randomblob(8))));
