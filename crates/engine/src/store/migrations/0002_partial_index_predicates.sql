-- Partial-index predicates written as `state <> …` instead of `state IN (…)`:
-- SQLite evaluates an IN list in an index predicate through a temporary
-- b-tree built for every row written, which made each job state change
-- (and its counter trigger) about five times as slow (measured: 5,000 state
-- changes 330 ms → 75 ms). The six states are a closed set, so these mean
-- the same. Queries that use these indexes repeat the exact terms.
DROP INDEX jobs_unfinished_by_batch;
CREATE INDEX jobs_unfinished_by_batch ON jobs (batch_id, seq)
    WHERE state <> 'completed' AND state <> 'cancelled';

DROP INDEX jobs_source_key;
CREATE UNIQUE INDEX jobs_source_key ON jobs (source_key)
    WHERE source_key IS NOT NULL AND state <> 'failed' AND state <> 'cancelled';

DROP INDEX jobs_content_key;
CREATE UNIQUE INDEX jobs_content_key ON jobs (content_key)
    WHERE content_key IS NOT NULL AND state <> 'failed' AND state <> 'cancelled';

DROP INDEX batch_counts_active;
CREATE INDEX batch_counts_active ON batch_counts (batch_id)
    WHERE n > 0 AND state <> 'completed' AND state <> 'failed' AND state <> 'cancelled';
