-- Outbox queue schema, version 1. Times are Unix milliseconds (UTC).

CREATE TABLE destinations (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    settings       TEXT NOT NULL,          -- JSON, never secrets
    max_concurrent INTEGER,                -- per-destination upload limit (NULL: the worker's)
    created_at     INTEGER NOT NULL
);

-- Frozen copies of recipe and destination settings, shared by every job
-- queued with the same ones (content-addressed, so 10,000 jobs store one row).
CREATE TABLE snapshots (
    id    INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL,                   -- 'recipe' | 'destination'
    json  TEXT NOT NULL,
    UNIQUE (kind, json)
);

CREATE TABLE batches (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    sequential  INTEGER NOT NULL DEFAULT 0,
    paused      INTEGER NOT NULL DEFAULT 0,
    total       INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE items (
    id           INTEGER PRIMARY KEY,
    batch_id     INTEGER NOT NULL REFERENCES batches(id),
    source_path  TEXT NOT NULL,
    fields       TEXT,                     -- JSON object of item fields, NULL if none
    source_size  INTEGER,
    source_mtime INTEGER,
    source_hash  BLOB                      -- BLAKE3 of the source bytes, set when generated
);

-- One generated output (bytes on disk in the data folder, fsynced before the
-- job that uploads it moves on).
CREATE TABLE outputs (
    id         INTEGER PRIMARY KEY,
    item_id    INTEGER NOT NULL REFERENCES items(id),
    path       TEXT NOT NULL,
    file_name  TEXT NOT NULL,              -- the name it is delivered under
    mime       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    hash       BLOB NOT NULL
);

-- One worker process's lifetime. A run holds an OS lock on its lock file while
-- it lives; a run whose lock is free is dead, and its claims are orphans.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    pid         INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    dead        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    batch_id        INTEGER NOT NULL REFERENCES batches(id),
    item_id         INTEGER NOT NULL REFERENCES items(id),
    -- No foreign key: a job outlives its destination row (it carries the
    -- frozen settings); the id serves scheduling limits and duplicate keys.
    destination_id  INTEGER NOT NULL,
    recipe_snap     INTEGER NOT NULL REFERENCES snapshots(id),
    dest_snap       INTEGER NOT NULL REFERENCES snapshots(id),
    output_id       INTEGER REFERENCES outputs(id),
    seq             INTEGER NOT NULL,      -- position in its batch
    priority        INTEGER NOT NULL DEFAULT 0,
    queue_order     INTEGER NOT NULL,      -- FIFO key; a manual retry moves it to the front
    state           TEXT NOT NULL,         -- pending|processing|completed|failed|paused|cancelled
    phase           TEXT NOT NULL,         -- generate|upload
    run_id          INTEGER,               -- the run that claimed it (while processing)
    attempts        INTEGER NOT NULL DEFAULT 0,   -- automatic attempts since the last manual retry
    manual_retries  INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    crashes         INTEGER NOT NULL DEFAULT 0,   -- runs that died while generating it
    outcome_unknown INTEGER NOT NULL DEFAULT 0,   -- an upload was interrupted: reconcile first
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    bytes_sent      INTEGER NOT NULL DEFAULT 0,
    bytes_total     INTEGER,
    error_message   TEXT,
    error_class     TEXT,                  -- transient|permanent|needs_user
    remote_id       TEXT,
    remote_url      TEXT,
    -- Duplicate keys: same source (path, size, mtime) or same content, with
    -- the same recipe to the same destination. NULL when the user forced it.
    source_key      BLOB,
    content_key     BLOB
);

-- The claim: ready jobs of one phase, best first.
CREATE INDEX jobs_ready ON jobs (phase, priority DESC, queue_order) WHERE state = 'pending';
-- The next retry due, for the worker's sleep.
CREATE INDEX jobs_backoff ON jobs (next_attempt_at) WHERE state = 'pending' AND next_attempt_at > 0;
-- Orphans of dead runs, and in-flight listing.
CREATE INDEX jobs_in_flight ON jobs (run_id) WHERE state = 'processing';
-- History pages and filters, clean-up.
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Batch listing and batch actions.
CREATE INDEX jobs_by_batch ON jobs (batch_id, seq);
-- Sequential batches: the first unfinished job of a batch, in O(log n).
CREATE INDEX jobs_unfinished_by_batch ON jobs (batch_id, seq)
    WHERE state NOT IN ('completed', 'cancelled');
-- No duplicates while pending, processing or completed.
CREATE UNIQUE INDEX jobs_source_key ON jobs (source_key)
    WHERE source_key IS NOT NULL AND state IN ('pending', 'processing', 'completed', 'paused');
CREATE UNIQUE INDEX jobs_content_key ON jobs (content_key)
    WHERE content_key IS NOT NULL AND state IN ('pending', 'processing', 'completed', 'paused');
CREATE INDEX items_by_batch ON items (batch_id);

-- Counts per state, kept in the same transaction as every state change, so
-- `status` is a handful of primary-key reads instead of a GROUP BY.
CREATE TABLE state_counts (
    state TEXT PRIMARY KEY,
    n     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO state_counts (state, n) VALUES
    ('pending', 0), ('processing', 0), ('completed', 0),
    ('failed', 0), ('paused', 0), ('cancelled', 0);

CREATE TABLE batch_counts (
    batch_id INTEGER NOT NULL,
    state    TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (batch_id, state)
) WITHOUT ROWID;
CREATE INDEX batch_counts_active ON batch_counts (batch_id) WHERE n > 0 AND state IN ('pending', 'processing', 'paused');

-- Inserts are counted by the enqueue itself (one statement for the whole
-- batch); changes and deletions by these triggers, whoever makes them.
CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs
WHEN old.state <> new.state
BEGIN
    UPDATE state_counts SET n = n - 1 WHERE state = old.state;
    UPDATE state_counts SET n = n + 1 WHERE state = new.state;
    UPDATE batch_counts SET n = n - 1 WHERE batch_id = old.batch_id AND state = old.state;
    INSERT INTO batch_counts (batch_id, state, n) VALUES (new.batch_id, new.state, 1)
        ON CONFLICT (batch_id, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
BEGIN
    UPDATE state_counts SET n = n - 1 WHERE state = old.state;
    UPDATE batch_counts SET n = n - 1 WHERE batch_id = old.batch_id AND state = old.state;
END;

CREATE TABLE flags (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO flags (name, value) VALUES ('queue_paused', 0);
