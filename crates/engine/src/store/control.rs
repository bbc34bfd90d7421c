//! The user's actions on the queue: retry, cancel, pause, resume, priority. Each names the jobs it changes; a change the state machine does
//! not allow is refused with an error, never skipped in silence.

use super::claim::front_of_queue;
use super::{check_transition, state_from_sql, Durability, Store};
use crate::error::{Error, Result};
use crate::model::{BatchId, JobId, JobState};
use rusqlite::{params, OptionalExtension, Transaction};

/// Which jobs a retry is for.
#[derive(Clone, Debug)]
pub enum RetryTarget {
    Jobs(Vec<JobId>),
    AllFailed,
    Batch(BatchId),
}

fn current_state(tx: &Transaction<'_>, job: JobId) -> Result<JobState> {
    let state: String = tx
        .prepare_cached("SELECT state FROM jobs WHERE id = ?1")?
        .query_row([job], |r| r.get(0))
        .optional()?
        .ok_or(Error::NoSuchJob(job))?;
    Ok(state_from_sql(&state)?)
}

fn require_batch(tx: &Transaction<'_>, batch: BatchId) -> Result<()> {
    let found: Option<i64> = tx
        .query_row("SELECT id FROM batches WHERE id = ?1", [batch], |r| {
            r.get(0)
        })
        .optional()?;
    found.map(|_| ()).ok_or(Error::NoSuchBatch(batch))
}

/// Puts one failed or cancelled job back at the front of the queue, with a
/// fresh budget of automatic attempts. It resumes at the phase it failed in.
fn retry_one(tx: &Transaction<'_>, job: JobId, now: i64) -> Result<()> {
    let from = current_state(tx, job)?;
    // `paused → pending` is a resume and `processing → pending` the worker's
    // own retry: a user's retry is for failed and cancelled jobs only.
    if !matches!(from, JobState::Failed | JobState::Cancelled) {
        return Err(Error::InvalidTransition {
            job,
            from,
            to: JobState::Pending,
        });
    }
    check_transition(job, from, JobState::Pending)?;
    // Back in the active set, its duplicate keys must still be its own.
    let existing: Option<JobId> = tx
        .prepare_cached(
            "SELECT o.id FROM jobs j JOIN jobs o
                 ON o.id <> j.id AND o.state <> 'failed' AND o.state <> 'cancelled'
                AND (o.source_key = j.source_key OR o.content_key = j.content_key)
              WHERE j.id = ?1 LIMIT 1",
        )?
        .query_row([job], |r| r.get(0))
        .optional()?;
    if let Some(existing) = existing {
        return Err(Error::RetryWouldDuplicate { job, existing });
    }
    tx.prepare_cached(
        "UPDATE jobs SET state = 'pending', attempts = 0, manual_retries = manual_retries + 1,
                queue_order = ?2, next_attempt_at = 0, finished_at = NULL,
                error_class = NULL, error_message = NULL, bytes_sent = 0,
                -- the user chose to try again: crashes before no longer count
                crashes = 0
          WHERE id = ?1",
    )?
    .execute(params![job, front_of_queue(now)])?;
    Ok(())
}

impl Store {
    /// Retries the target's jobs; returns the ones put back in the queue. For
    /// named jobs every refusal is an error; for "all failed" and batches,
    /// jobs that would now duplicate another are left failed and listed.
    pub(crate) fn retry(&self, target: &RetryTarget, now: i64) -> Result<(Vec<JobId>, Vec<Error>)> {
        self.write(Durability::Full, |tx| {
            let ids: Vec<JobId> = match target {
                RetryTarget::Jobs(ids) => {
                    for &id in ids {
                        retry_one(tx, id, now)?;
                    }
                    return Ok((ids.clone(), Vec::new()));
                }
                RetryTarget::AllFailed => tx
                    .prepare("SELECT id FROM jobs WHERE state = 'failed' ORDER BY id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?,
                RetryTarget::Batch(batch) => {
                    require_batch(tx, *batch)?;
                    tx.prepare(
                        "SELECT id FROM jobs WHERE batch_id = ?1 AND state = 'failed' ORDER BY seq",
                    )?
                    .query_map([batch], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
                }
            };
            let mut retried = Vec::new();
            let mut refused = Vec::new();
            for id in ids {
                match retry_one(tx, id, now) {
                    Ok(()) => retried.push(id),
                    Err(e @ Error::RetryWouldDuplicate { .. }) => refused.push(e),
                    Err(e) => return Err(e),
                }
            }
            Ok((retried, refused))
        })
    }

    pub(crate) fn cancel(&self, jobs: &[JobId], now: i64) -> Result<()> {
        self.write(Durability::Full, |tx| {
            for &job in jobs {
                let from = current_state(tx, job)?;
                check_transition(job, from, JobState::Cancelled)?;
                tx.prepare_cached(
                    "UPDATE jobs SET state = 'cancelled', finished_at = ?2, run_id = NULL,
                            error_class = NULL, error_message = 'cancelled by the user',
                            -- stopped mid-upload: a later retry asks first
                            outcome_unknown = outcome_unknown
                                OR (state = 'processing' AND phase = 'upload')
                      WHERE id = ?1",
                )?
                .execute(params![job, now])?;
            }
            Ok(())
        })
    }

    /// Pauses the whole queue (nothing new starts), or one batch (its waiting
    /// jobs become `paused`). Jobs already running finish.
    pub(crate) fn pause(&self, batch: Option<BatchId>) -> Result<u64> {
        self.set_paused(batch, true)
    }

    pub(crate) fn resume(&self, batch: Option<BatchId>) -> Result<u64> {
        self.set_paused(batch, false)
    }

    fn set_paused(&self, batch: Option<BatchId>, paused: bool) -> Result<u64> {
        self.write(Durability::Full, |tx| {
            let Some(batch) = batch else {
                tx.execute(
                    "UPDATE flags SET value = ?1 WHERE name = 'queue_paused'",
                    [paused],
                )?;
                return Ok(0);
            };
            require_batch(tx, batch)?;
            tx.execute(
                "UPDATE batches SET paused = ?2 WHERE id = ?1",
                params![batch, paused],
            )?;
            let (from, to) = if paused {
                (JobState::Pending, JobState::Paused)
            } else {
                (JobState::Paused, JobState::Pending)
            };
            check_transition(0, from, to)?;
            let changed = tx.execute(
                "UPDATE jobs SET state = ?3 WHERE batch_id = ?1 AND state = ?2",
                params![batch, from.as_str(), to.as_str()],
            )?;
            Ok(changed as u64)
        })
    }

    /// Sets the priority of waiting jobs (higher runs first).
    pub(crate) fn set_priority(&self, jobs: &[JobId], priority: i64) -> Result<()> {
        self.write(Durability::Full, |tx| {
            for &job in jobs {
                let state = current_state(tx, job)?;
                if state.is_finished() {
                    return Err(Error::InvalidSetting(format!(
                        "job {job} is {state}; only unfinished jobs have a priority"
                    )));
                }
                tx.execute(
                    "UPDATE jobs SET priority = ?2 WHERE id = ?1",
                    params![job, priority],
                )?;
            }
            Ok(())
        })
    }
}
