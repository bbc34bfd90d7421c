//! Adding items: one batch, its items and their jobs in one durable
//! transaction, with duplicates named instead of queued twice.

use super::destinations::DestinationRow;
use super::{snapshots, Durability, Store};
use crate::error::Result;
use crate::model::{BatchId, JobId, JobState};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::path::PathBuf;

/// One source to queue: a file and what is known of it when it is added.
#[derive(Clone, Debug)]
pub struct NewItem {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ms: i64,
    pub fields: Option<serde_json::Value>,
}

pub(crate) struct EnqueueBatch<'a> {
    pub name: &'a str,
    pub sequential: bool,
    pub priority: i64,
    pub max_attempts: u32,
    pub force: bool,
    /// The outputs wait for the user to accept them before upload.
    pub review: bool,
    pub destination: &'a DestinationRow,
    pub recipe_json: &'a str,
    pub items: &'a [NewItem],
    /// The recipe starts with an AI step: its provider and the cost of one
    /// item's call, frozen for the money shown.
    pub ai: Option<AiCall<'a>>,
}

pub(crate) struct AiCall<'a> {
    pub provider: &'a str,
    pub cost: f64,
}

/// A source that is queued or delivered already (same file, same recipe, same
/// destination): the existing job is named instead of queuing it again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Duplicate {
    pub path: PathBuf,
    pub existing_job: JobId,
    pub state: JobState,
    pub url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Enqueued {
    /// None when every item was a duplicate (no batch is made).
    pub batch_id: Option<BatchId>,
    pub jobs: Vec<JobId>,
    pub duplicates: Vec<Duplicate>,
    /// For each of `jobs`, its item's position in the batch's items.
    #[serde(skip)]
    pub added_items: Vec<usize>,
}

/// The key that makes a second add of the same item (file and fields) to the
/// same place a duplicate. The content key (set when the bytes are read)
/// catches copies under other names. Public so the queue benchmark can write
/// the same rows.
pub fn source_key(item: &NewItem, recipe_snap: i64, destination_id: i64) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(item.path.as_os_str().as_encoded_bytes());
    h.update(&[0]);
    h.update(&item.size.to_le_bytes());
    h.update(&item.mtime_ms.to_le_bytes());
    // Items of one file with other fields (a prompt filled from them, a
    // different title) are other items.
    if let Some(fields) = &item.fields {
        h.update(fields.to_string().as_bytes());
    }
    h.update(&recipe_snap.to_le_bytes());
    h.update(&destination_id.to_le_bytes());
    *h.finalize().as_bytes()
}

/// The `meta` rows keeping the highest job and batch ids ever given.
pub(crate) const LAST_JOB_ID: &str = "last_job_id";
pub(crate) const LAST_BATCH_ID: &str = "last_batch_id";

/// The next id of `table`, above every id it ever gave: SQLite alone would
/// give a cleaned row's id again (`max(id) + 1`), and a job's id names its
/// cached previews and outputs, its saved AI images, what a window shows.
fn next_id(tx: &rusqlite::Transaction<'_>, table: &str, last: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(&format!(
        "SELECT max(coalesce((SELECT max(id) FROM {table}), 0),
                    coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE name = ?1), 0)) + 1"
    ))?
    .query_row([last], |r| r.get(0))
}

impl Store {
    pub(crate) fn enqueue(&self, batch: &EnqueueBatch<'_>, now: i64) -> Result<Enqueued> {
        self.write(Durability::Full, |tx| {
            let recipe_snap = snapshots::intern(tx, snapshots::RECIPE, batch.recipe_json)?;
            let dest_snap = snapshots::intern(
                tx,
                snapshots::DESTINATION,
                &batch.destination.snapshot_json(),
            )?;
            tx.prepare_cached(
                "INSERT INTO batches (id, name, sequential, created_at) VALUES (?4, ?1, ?2, ?3)",
            )?
            .execute(params![
                batch.name,
                batch.sequential,
                now,
                next_id(tx, "batches", LAST_BATCH_ID)?
            ])?;
            let batch_id = tx.last_insert_rowid();
            let mut job_id = next_id(tx, "jobs", LAST_JOB_ID)?;

            let mut find_duplicate = tx.prepare_cached(
                "SELECT id, state, remote_url FROM jobs WHERE source_key = ?1
                   AND state <> 'failed' AND state <> 'cancelled'",
            )?;
            let mut insert_item = tx.prepare_cached(
                "INSERT INTO items (batch_id, source_path, fields, source_size, source_mtime)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut insert_job = tx.prepare_cached(
                "INSERT INTO jobs (batch_id, item_id, destination_id, recipe_snap, dest_snap,
                                   seq, priority, queue_order, state, phase, max_attempts,
                                   created_at, source_key, ai_provider, ai_cost, review, id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 'pending', 'generate', ?8, ?9, ?10,
                         ?11, ?12, ?13, ?14)",
            )?;

            let mut out = Enqueued::default();
            for (index, item) in batch.items.iter().enumerate() {
                let key = source_key(item, recipe_snap, batch.destination.id);
                if !batch.force {
                    let existing = find_duplicate
                        .query_row([&key[..]], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                        })
                        .optional()?;
                    if let Some((existing_job, state, url)) = existing {
                        out.duplicates.push(Duplicate {
                            path: item.path.clone(),
                            existing_job,
                            state: super::state_from_sql(&state)?,
                            url,
                        });
                        continue;
                    }
                }
                let path = item.path.to_string_lossy();
                let fields = item.fields.as_ref().map(|f| f.to_string());
                insert_item.execute(params![
                    batch_id,
                    path,
                    fields,
                    item.size as i64,
                    item.mtime_ms
                ])?;
                let item_id = tx.last_insert_rowid();
                let key: Option<&[u8]> = (!batch.force).then_some(&key[..]);
                insert_job.execute(params![
                    batch_id,
                    item_id,
                    batch.destination.id,
                    recipe_snap,
                    dest_snap,
                    out.jobs.len() as i64,
                    batch.priority,
                    batch.max_attempts,
                    now,
                    key,
                    batch.ai.as_ref().map(|a| a.provider),
                    batch.ai.as_ref().map(|a| a.cost),
                    batch.review,
                    job_id
                ])?;
                job_id += 1;
                out.jobs.push(tx.last_insert_rowid());
                out.added_items.push(index);
            }

            let added = out.jobs.len() as i64;
            if added == 0 {
                tx.execute("DELETE FROM batches WHERE id = ?1", [batch_id])?;
                return Ok(out);
            }
            tx.execute(
                "UPDATE batches SET total = ?2 WHERE id = ?1",
                params![batch_id, added],
            )?;
            // New jobs are counted here, once for the batch; later changes by triggers.
            tx.execute(
                "UPDATE state_counts SET n = n + ?1 WHERE state = 'pending'",
                [added],
            )?;
            tx.execute(
                "INSERT INTO batch_counts (batch_id, state, n) VALUES (?1, 'pending', ?2)",
                params![batch_id, added],
            )?;
            out.batch_id = Some(batch_id);
            Ok(out)
        })
    }
}
