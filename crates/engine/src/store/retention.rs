//! Removing finished work: `clean` (everything finished before a time, at
//! once) and retention (the rules kept with the other shared settings,
//! applied by the worker a small transaction at a time, so the app and other
//! workers never wait long for the write lock). Pending, paused and running
//! jobs are never touched: only finished states are selected.

use super::enqueue::{LAST_BATCH_ID, LAST_JOB_ID};
use super::{Durability, Store};
use crate::error::{Error, Result};
use crate::model::{JobId, Retention};
use rusqlite::{params, OptionalExtension, Transaction};
use std::path::PathBuf;

const RETENTION_KEY: &str = "retention";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What a clean-up removed; the engine deletes the files after commit.
#[derive(Debug, Default)]
pub(crate) struct Cleaned {
    pub jobs: u64,
    pub output_files: Vec<PathBuf>,
    /// Jobs that called an AI provider: their saved images go too.
    pub ai_jobs: Vec<JobId>,
    /// Sources of removed items, in the folders the engine owns (pasted
    /// and downloaded images), that no remaining item names.
    pub sources: Vec<PathBuf>,
}

impl Store {
    /// Deletes finished jobs that finished before `cutoff`, with their items,
    /// output rows and emptied batches.
    /// `owned`: the folders whose sources are the engine's to delete.
    pub(crate) fn clean(&self, cutoff: i64, owned: &[PathBuf]) -> Result<Cleaned> {
        self.write(Durability::Normal, |tx| {
            doom(
                tx,
                "SELECT id, item_id FROM jobs
                  WHERE finished_at < ?1 AND state IN ('completed', 'failed', 'cancelled')",
                params![cutoff],
            )?;
            remove_doomed(tx, owned)
        })
    }

    pub(crate) fn retention(&self) -> Result<Retention> {
        self.read(|conn| {
            let saved: Option<String> = conn
                .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
                .query_row([RETENTION_KEY], |r| r.get(0))
                .optional()?;
            Ok(saved
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default())
        })
    }

    pub(crate) fn set_retention(&self, rules: &Retention) -> Result<()> {
        rules.check().map_err(Error::InvalidSetting)?;
        let json =
            serde_json::to_string(rules).map_err(|e| Error::InvalidSetting(e.to_string()))?;
        self.write(Durability::Full, |tx| {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![RETENTION_KEY, json],
            )?;
            Ok(())
        })
    }

    /// Removes at most `batch` finished jobs the rules no longer keep, oldest
    /// first, in one transaction; fewer than `batch` means none are left.
    pub(crate) fn retire(
        &self,
        now: i64,
        rules: &Retention,
        batch: usize,
        owned: &[PathBuf],
    ) -> Result<Cleaned> {
        self.write(Durability::Normal, |tx| {
            let age_cutoff = now - i64::from(rules.completed_days) * DAY_MS;
            let (c_at, c_id) = newest_beyond(tx, "state = 'completed'", rules.completed_keep)?;
            let (f_at, f_id) =
                newest_beyond(tx, "state IN ('failed', 'cancelled')", rules.failed_keep)?;
            doom(
                tx,
                "SELECT id, item_id FROM jobs INDEXED BY jobs_finished
                  WHERE finished_at IS NOT NULL
                    AND ((state = 'completed'
                          AND (finished_at < ?1 OR finished_at < ?2
                               OR (finished_at = ?2 AND id <= ?3)))
                      OR (state IN ('failed', 'cancelled')
                          AND (finished_at < ?4 OR (finished_at = ?4 AND id <= ?5))))
                  ORDER BY finished_at LIMIT ?6",
                params![age_cutoff, c_at, c_id, f_at, f_id, batch as i64],
            )?;
            remove_doomed(tx, owned)
        })
    }
}

/// The newest job matching `which` beyond the `keep` newest (by finish
/// time, then id): it and every older one go. `(i64::MIN, 0)` when there
/// are no more than `keep`.
fn newest_beyond(tx: &Transaction<'_>, which: &str, keep: u32) -> Result<(i64, JobId)> {
    let beyond = tx
        .prepare_cached(&format!(
            "SELECT finished_at, id FROM jobs INDEXED BY jobs_finished
              WHERE finished_at IS NOT NULL AND {which}
              ORDER BY finished_at DESC, id DESC LIMIT 1 OFFSET ?1"
        ))?
        .query_row([keep], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(beyond.unwrap_or((i64::MIN, 0)))
}

/// Fills the temporary `doomed` table with the jobs `select` names.
fn doom(tx: &Transaction<'_>, select: &str, args: impl rusqlite::Params) -> Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY, item_id INTEGER);
         DELETE FROM temp.doomed;",
    )?;
    tx.execute(
        &format!("INSERT INTO temp.doomed (id, item_id) {select}"),
        args,
    )?;
    Ok(())
}

/// Deletes the doomed jobs with their attempts, and the items, outputs and
/// batches no job is left in.
fn remove_doomed(tx: &Transaction<'_>, owned: &[PathBuf]) -> Result<Cleaned> {
    let paths = |sql: &str| -> Result<Vec<PathBuf>> {
        Ok(tx
            .prepare(sql)?
            .query_map([], |r| r.get::<_, String>(0).map(PathBuf::from))?
            .collect::<rusqlite::Result<Vec<_>>>()?)
    };
    let output_files =
        paths("SELECT o.path FROM outputs o JOIN temp.doomed d ON o.item_id = d.item_id")?;
    let sources: Vec<PathBuf> =
        paths("SELECT DISTINCT i.source_path FROM items i JOIN temp.doomed d ON i.id = d.item_id")?
            .into_iter()
            .filter(|p| owned.iter().any(|dir| p.starts_with(dir)))
            .collect();
    let ai_jobs = tx
        .prepare(
            "SELECT j.id FROM jobs j JOIN temp.doomed d ON j.id = d.id
              WHERE j.ai_provider IS NOT NULL",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<JobId>>>()?;
    // Ids are never given again (see `next_id`): keep the highest before
    // their rows may go.
    for (name, table) in [(LAST_JOB_ID, "jobs"), (LAST_BATCH_ID, "batches")] {
        tx.execute(
            &format!(
                "INSERT INTO meta (name, value)
                 SELECT ?1, coalesce(max(id), 0) FROM {table} WHERE true
                 ON CONFLICT (name) DO UPDATE
                    SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))"
            ),
            [name],
        )?;
    }
    let jobs = tx.execute(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM temp.doomed)",
        [],
    )?;
    tx.execute(
        "DELETE FROM attempts WHERE job_id IN (SELECT id FROM temp.doomed)",
        [],
    )?;
    tx.execute_batch(
        "DELETE FROM outputs WHERE item_id IN (SELECT item_id FROM temp.doomed)
            AND item_id NOT IN (SELECT item_id FROM jobs);
         DELETE FROM items WHERE id IN (SELECT item_id FROM temp.doomed)
            AND id NOT IN (SELECT item_id FROM jobs);
         DELETE FROM batch_counts WHERE n = 0
            AND batch_id NOT IN (SELECT batch_id FROM jobs);
         DELETE FROM batches WHERE id NOT IN (SELECT batch_id FROM jobs);
         DELETE FROM temp.doomed;",
    )?;
    // A source another item still names stays (few sources are the
    // engine's own, so the scan without an index is rare).
    let mut named = tx.prepare_cached("SELECT 1 FROM items WHERE source_path = ?1 LIMIT 1")?;
    let mut unneeded = Vec::new();
    for source in sources {
        if !named.exists([source.to_string_lossy()])? {
            unneeded.push(source);
        }
    }
    Ok(Cleaned {
        jobs: jobs as u64,
        output_files,
        ai_jobs,
        sources: unneeded,
    })
}
