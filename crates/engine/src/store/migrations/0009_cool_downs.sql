-- A destination or AI provider that answered "too many requests" or
-- "unavailable" with a Retry-After holds its other jobs until then (ms since
-- the epoch), with the answer as the reason; every worker on the database
-- and `outbox status` see it. A time in the past means none.
ALTER TABLE destinations ADD COLUMN cool_down_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE destinations ADD COLUMN cool_down_reason TEXT;
ALTER TABLE providers ADD COLUMN cool_down_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN cool_down_reason TEXT;
