//! The change feed's reads (see `crate::feed`): where the log of job changes
//! and the batches end, read with SQLite's `data_version` under the writer's
//! lock, and what changed after a place in the log.

use super::query::{row_to_job, JOB_COLUMNS};
use super::{Durability, Store};
use crate::error::Result;
use crate::model::{BatchId, JobId, JobView};
use rusqlite::{params, OptionalExtension};

/// Where the log and the batches end, and the writer's `data_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FeedMark {
    pub seq: i64,
    pub batch: BatchId,
    pub version: i64,
}

/// What changed after a place in the log: each job as it is now (a job
/// removed since is left out), the batches made, and where the read ended.
#[derive(Debug, Default)]
pub(crate) struct FeedRead {
    pub jobs: Vec<JobView>,
    pub batches: Vec<(BatchId, u64)>,
    pub seq: i64,
    /// More changes than `limit` were logged: read on from `seq`.
    pub more: bool,
}

impl Store {
    /// Read together under the writer's lock, so no commit of this process
    /// falls between them: a `data_version` that did not move means every
    /// change logged up to `seq` was this process's own.
    pub(crate) fn feed_mark(&self) -> Result<FeedMark> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let read = || -> rusqlite::Result<FeedMark> {
            Ok(FeedMark {
                seq: conn.query_row("SELECT coalesce(max(seq), 0) FROM job_changes", [], |r| {
                    r.get(0)
                })?,
                batch: conn
                    .query_row("SELECT coalesce(max(id), 0) FROM batches", [], |r| r.get(0))?,
                version: conn.query_row("PRAGMA data_version", [], |r| r.get(0))?,
            })
        };
        read().map_err(|e| self.classify(e))
    }

    /// The jobs changed after `after` up to `upto` (at most `limit` changes)
    /// and the batches made after `batch`, each batch with its size.
    pub(crate) fn feed_read(
        &self,
        after: i64,
        upto: i64,
        batch: BatchId,
        limit: usize,
    ) -> Result<FeedRead> {
        self.read(|conn| {
            let mut read = FeedRead {
                seq: after,
                ..FeedRead::default()
            };
            let mut ids: Vec<JobId> = Vec::new();
            let mut changes = conn.prepare_cached(
                "SELECT seq, job_id FROM job_changes WHERE seq > ?1 AND seq <= ?2
                  ORDER BY seq LIMIT ?3",
            )?;
            let rows = changes.query_map(params![after, upto, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, JobId>(1)?))
            })?;
            let mut n = 0;
            for row in rows {
                let (seq, job) = row?;
                n += 1;
                read.seq = seq;
                if !ids.contains(&job) {
                    ids.push(job);
                }
            }
            read.more = n == limit;
            let sql = format!("SELECT {JOB_COLUMNS} WHERE j.id = ?1");
            let mut job = conn.prepare_cached(&sql)?;
            for id in ids {
                if let Some(view) = job.query_row([id], row_to_job).optional()? {
                    read.jobs.push(view);
                }
            }
            let mut batches =
                conn.prepare_cached("SELECT id, total FROM batches WHERE id > ?1 ORDER BY id")?;
            read.batches = batches
                .query_map([batch], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(read)
        })
    }

    /// Keeps the newest `keep` changes of the log.
    pub(crate) fn trim_changes(&self, keep: i64) -> Result<u64> {
        self.write(Durability::Normal, |tx| {
            Ok(tx.execute(
                "DELETE FROM job_changes
                  WHERE seq <= (SELECT max(seq) FROM job_changes) - ?1",
                [keep],
            )? as u64)
        })
    }
}
