-- AI image providers (OpenAI-style Images API, Gemini): name, kind and
-- non-secret settings; the API key is in the keychain.
CREATE TABLE providers (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,             -- openai | gemini
    settings   TEXT NOT NULL,             -- JSON, never secrets
    created_at INTEGER NOT NULL
);

-- Jobs whose recipe starts with an AI step: the provider they call, the
-- cost of that call (frozen when queued), and whether it was paid for (its
-- image is saved in the data folder, and a retry reuses it).
ALTER TABLE jobs ADD COLUMN ai_provider TEXT;
ALTER TABLE jobs ADD COLUMN ai_cost REAL;
ALTER TABLE jobs ADD COLUMN ai_paid INTEGER NOT NULL DEFAULT 0;
-- The money spent and to be spent (status) and "is this provider in use"
-- read AI jobs only.
CREATE INDEX jobs_ai ON jobs (ai_provider, state) WHERE ai_provider IS NOT NULL;
