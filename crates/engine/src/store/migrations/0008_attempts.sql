-- Every attempt a job made, for the app's detail view: when it ran, in which
-- phase, and how it ended (an attempt's error stays here after the job's own
-- error is cleared by a success).
CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL,
    phase         TEXT NOT NULL,           -- generate|upload
    started_at    INTEGER,
    ended_at      INTEGER NOT NULL,
    outcome       TEXT NOT NULL,           -- generated|delivered|retrying|failed|cancelled
    error_class   TEXT,
    error_message TEXT
);
CREATE INDEX attempts_by_job ON attempts (job_id, id);
