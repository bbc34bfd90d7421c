//! The user's review of generated outputs when auto-accept is off: a job
//! generates as usual, then waits (pending, upload phase, `review = 1`) until
//! the user accepts its output, discards it (a cancel) or has it made again.

use super::{Durability, Store};
use crate::error::{Error, Result};
use crate::model::JobId;
use rusqlite::{OptionalExtension, Transaction};
use std::path::PathBuf;

/// Fails unless the job's output exists and waits for the user.
fn require_awaiting(tx: &Transaction<'_>, job: JobId) -> Result<()> {
    let waiting: Option<bool> = tx
        .prepare_cached(
            "SELECT review = 1 AND state = 'pending' AND phase = 'upload' FROM jobs WHERE id = ?1",
        )?
        .query_row([job], |r| r.get(0))
        .optional()?;
    match waiting {
        None => Err(Error::NoSuchJob(job)),
        Some(false) => Err(Error::InvalidSetting(format!(
            "job {job} has no output waiting for review"
        ))),
        Some(true) => Ok(()),
    }
}

impl Store {
    /// Lets the outputs go to their destinations.
    pub(crate) fn accept(&self, jobs: &[JobId]) -> Result<()> {
        self.write(Durability::Full, |tx| {
            for &job in jobs {
                require_awaiting(tx, job)?;
                tx.prepare_cached("UPDATE jobs SET review = 0 WHERE id = ?1")?
                    .execute([job])?;
            }
            Ok(())
        })
    }

    /// Sends the jobs back to generation (still held for review); returns the
    /// files of the outputs dropped, for the engine to delete after commit.
    pub(crate) fn regenerate(&self, jobs: &[JobId]) -> Result<Vec<PathBuf>> {
        self.write(Durability::Full, |tx| {
            let mut files = Vec::new();
            for &job in jobs {
                require_awaiting(tx, job)?;
                let path: Option<String> = tx
                    .prepare_cached(
                        "SELECT o.path FROM jobs j JOIN outputs o ON o.id = j.output_id
                          WHERE j.id = ?1",
                    )?
                    .query_row([job], |r| r.get(0))
                    .optional()?;
                tx.prepare_cached(
                    "UPDATE jobs SET phase = 'generate', output_id = NULL, content_key = NULL,
                            attempts = 0, bytes_sent = 0, bytes_total = NULL, upload_steps = NULL
                      WHERE id = ?1",
                )?
                .execute([job])?;
                tx.prepare_cached(
                    "DELETE FROM outputs WHERE path = ?1
                       AND NOT EXISTS (SELECT 1 FROM jobs WHERE output_id = outputs.id)",
                )?
                .execute([&path])?;
                files.extend(path.map(PathBuf::from));
            }
            Ok(files)
        })
    }
}
