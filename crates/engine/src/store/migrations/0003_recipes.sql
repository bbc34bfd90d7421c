-- Recipes the user saved (the built-in ones live in the code). Jobs freeze a
-- copy when queued, so editing a recipe never changes queued work.
CREATE TABLE recipes (
    name       TEXT PRIMARY KEY,
    json       TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
