-- What a multi-step delivery has done (a WordPress upload, then its title,
-- then the featured image…), saved after each step so a retry resumes at the
-- step that failed. JSON owned by the destination kind; NULL before any.
ALTER TABLE jobs ADD COLUMN upload_steps TEXT;
