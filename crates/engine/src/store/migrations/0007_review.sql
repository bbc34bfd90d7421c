-- 1: the user reviews this job's output before it is uploaded (the app's
-- auto-accept is off). Generation runs as usual; the upload waits for accept.
ALTER TABLE jobs ADD COLUMN review INTEGER NOT NULL DEFAULT 0;
