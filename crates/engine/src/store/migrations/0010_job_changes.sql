-- The change feed (`store/feed.rs`): every change of a job's state, phase,
-- error or attempts, numbered in commit order, so that another process on
-- this database publishes the same events as the one that made the change
-- (an open window sees what `outbox add` or a second worker did). Inserts
-- are not logged: a new batch is seen by its id. Kept short: the worker's
-- housekeeping trims it. AUTOINCREMENT: a number is never used twice, even
-- once every row is trimmed, so a reader's place stays valid.
CREATE TABLE job_changes (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL
);

CREATE TRIGGER jobs_log_changes AFTER UPDATE OF state, phase, error_message, attempts ON jobs
WHEN OLD.state IS NOT NEW.state OR OLD.phase IS NOT NEW.phase
  OR OLD.error_message IS NOT NEW.error_message OR OLD.attempts IS NOT NEW.attempts
BEGIN
    INSERT INTO job_changes (job_id) VALUES (NEW.id);
END;
