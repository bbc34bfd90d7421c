//! What the queue panel, `status` and `history` read. Counts come from the
//! counters kept with every change, so status costs the same at a million jobs.

use super::{state_from_sql, Store};
use crate::error::Result;
use crate::model::{
    AttemptView, BatchView, CoolDown, Cost, ErrorClass, HistoryQuery, InFlightJob, JobDetail,
    JobError, JobId, JobView, OutputView, Phase, Remote, StateCounts, Status,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};
use std::path::PathBuf;

/// How many in-flight jobs and active batches a status lists.
const STATUS_LIST_LIMIT: i64 = 50;

fn counts(conn: &Connection) -> Result<StateCounts> {
    let mut counts = StateCounts::default();
    let mut stmt = conn.prepare_cached("SELECT state, n FROM state_counts")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        counts.set(state_from_sql(&state)?, n.max(0) as u64);
    }
    Ok(counts)
}

/// The tables a job's view reads, joined.
macro_rules! job_tables {
    () => {
        "jobs j
    JOIN items i ON i.id = j.item_id
    JOIN snapshots rs ON rs.id = j.recipe_snap
    JOIN snapshots ds ON ds.id = j.dest_snap"
    };
}
const JOB_TABLES: &str = job_tables!();

pub(super) const JOB_COLUMNS: &str = concat!(
    "j.id, j.batch_id, i.source_path,
    json_extract(ds.json, '$.name'), json_extract(rs.json, '$.name'),
    j.state, j.phase, j.priority, j.attempts, j.manual_retries, j.max_attempts,
    j.created_at, j.started_at, j.finished_at, j.next_attempt_at,
    j.bytes_sent, j.bytes_total, j.error_class, j.error_message, j.remote_id, j.remote_url,
    j.review
    FROM ",
    job_tables!()
);

/// An error from its class and message columns (a job's, an attempt's).
fn job_error(class: Option<String>, message: Option<String>) -> Option<JobError> {
    message.map(|message| JobError {
        class: class
            .as_deref()
            .and_then(ErrorClass::parse)
            .unwrap_or(ErrorClass::Permanent),
        message,
    })
}

pub(super) fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobView> {
    let state = state_from_sql(&r.get::<_, String>(5)?)?;
    let phase: String = r.get(6)?;
    let error_class: Option<String> = r.get(17)?;
    let error_message: Option<String> = r.get(18)?;
    let remote_id: Option<String> = r.get(19)?;
    let remote_url: Option<String> = r.get(20)?;
    let next_attempt_at: i64 = r.get(14)?;
    let phase = Phase::parse(&phase).unwrap_or(Phase::Generate);
    Ok(JobView {
        id: r.get(0)?,
        batch_id: r.get(1)?,
        source: PathBuf::from(r.get::<_, String>(2)?),
        destination: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        recipe: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        state,
        phase,
        awaiting_review: r.get::<_, bool>(21)?
            && state == crate::model::JobState::Pending
            && phase == Phase::Upload,
        priority: r.get(7)?,
        attempts: r.get(8)?,
        manual_retries: r.get(9)?,
        max_attempts: r.get(10)?,
        created_at: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        next_attempt_at: (next_attempt_at > 0 && state == crate::model::JobState::Pending)
            .then_some(next_attempt_at),
        bytes_sent: r.get::<_, i64>(15)?.max(0) as u64,
        bytes_total: r.get::<_, Option<i64>>(16)?.map(|n| n.max(0) as u64),
        error: job_error(error_class, error_message),
        remote: (remote_id.is_some() || remote_url.is_some()).then_some(Remote {
            id: remote_id,
            url: remote_url,
        }),
    })
}

impl Store {
    pub(crate) fn counts(&self) -> Result<StateCounts> {
        self.read(counts)
    }

    pub(crate) fn status(&self, now: i64) -> Result<Status> {
        self.read(|conn| {
            let counts = counts(conn)?;
            let queue_paused: bool = conn
                .prepare_cached("SELECT value FROM flags WHERE name = 'queue_paused'")?
                .query_row([], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT j.id, i.source_path, json_extract(ds.json, '$.name'), j.phase,
                        j.started_at, j.bytes_sent, j.bytes_total
                   FROM jobs j
                   JOIN items i ON i.id = j.item_id
                   JOIN snapshots ds ON ds.id = j.dest_snap
                  WHERE j.state = 'processing'
                  ORDER BY j.id LIMIT ?1",
            )?;
            let in_flight = stmt
                .query_map([STATUS_LIST_LIMIT], |r| {
                    let started_at: i64 = r.get::<_, Option<i64>>(4)?.unwrap_or(now);
                    let phase: String = r.get(3)?;
                    Ok(InFlightJob {
                        id: r.get(0)?,
                        source: PathBuf::from(r.get::<_, String>(1)?),
                        destination: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        phase: Phase::parse(&phase).unwrap_or(Phase::Generate),
                        started_at,
                        elapsed_ms: (now - started_at).max(0) as u64,
                        bytes_sent: r.get::<_, i64>(5)?.max(0) as u64,
                        bytes_total: r.get::<_, Option<i64>>(6)?.map(|n| n.max(0) as u64),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let active: Vec<i64> = conn
                .prepare_cached(
                    "SELECT DISTINCT batch_id FROM batch_counts
                      WHERE n > 0 AND state <> 'completed' AND state <> 'failed' AND state <> 'cancelled'
                      ORDER BY batch_id DESC LIMIT ?1",
                )?
                .query_map([STATUS_LIST_LIMIT], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut batches = Vec::with_capacity(active.len());
            for id in active.into_iter().rev() {
                if let Some(batch) = batch_view(conn, id, now)? {
                    batches.push(batch);
                }
            }
            // AI jobs only (an index holds them): few next to all jobs.
            let cost = conn
                .prepare_cached(
                    "SELECT coalesce(sum(CASE WHEN ai_paid THEN ai_cost END), 0),
                            coalesce(sum(CASE WHEN NOT ai_paid
                                          AND state IN ('pending', 'processing', 'paused')
                                         THEN ai_cost END), 0)
                       FROM jobs INDEXED BY jobs_ai WHERE ai_provider IS NOT NULL",
                )?
                .query_row([], |r| {
                    Ok(Cost {
                        spent: r.get(0)?,
                        to_spend: r.get(1)?,
                    })
                })?;
            let cool_downs = conn
                .prepare_cached(
                    "SELECT 'destination', name, cool_down_until, coalesce(cool_down_reason, '')
                       FROM destinations WHERE cool_down_until > ?1
                     UNION ALL
                     SELECT 'provider', name, cool_down_until, coalesce(cool_down_reason, '')
                       FROM providers WHERE cool_down_until > ?1
                     ORDER BY 3",
                )?
                .query_map([now], |r| {
                    let of: String = r.get(0)?;
                    Ok(CoolDown {
                        of: if of == "provider" { "provider" } else { "destination" },
                        name: r.get(1)?,
                        until: r.get(2)?,
                        reason: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Status {
                counts,
                queue_paused,
                in_flight,
                batches,
                cost,
                cool_downs,
            })
        })
    }

    pub(crate) fn batch(&self, id: i64, now: i64) -> Result<Option<BatchView>> {
        self.read(|conn| batch_view(conn, id, now))
    }

    /// Newest first, filtered, one page.
    pub(crate) fn history(&self, q: &HistoryQuery) -> Result<Vec<JobView>> {
        self.read(|conn| {
            let sql = format!(
                "SELECT {JOB_COLUMNS} WHERE {HISTORY_FILTER} ORDER BY j.id DESC LIMIT ?7 OFFSET ?8"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut params = filter_params(q).to_vec();
            params.push(Value::Integer(i64::from(q.limit.max(1))));
            params.push(Value::Integer(i64::from(q.offset)));
            let rows = stmt.query_map(rusqlite::params_from_iter(params), row_to_job)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// How many jobs match a history filter (its page ignored).
    pub(crate) fn history_count(&self, q: &HistoryQuery) -> Result<u64> {
        self.read(|conn| {
            let sql = format!("SELECT count(*) FROM {JOB_TABLES} WHERE {HISTORY_FILTER}");
            let n: i64 = conn
                .prepare_cached(&sql)?
                .query_row(rusqlite::params_from_iter(filter_params(q)), |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    /// A job with its output, fields and attempts.
    pub(crate) fn job_detail(&self, id: JobId) -> Result<Option<JobDetail>> {
        let Some(job) = self.job(id)? else {
            return Ok(None);
        };
        self.read(|conn| {
            // Gone since it was read (a clean-up): as if never there.
            let Some((output, fields)) = conn
                .prepare_cached(
                    "SELECT o.file_name, o.mime, o.size, o.width, o.height, i.fields
                       FROM jobs j JOIN items i ON i.id = j.item_id
                       LEFT JOIN outputs o ON o.id = j.output_id
                      WHERE j.id = ?1",
                )?
                .query_row([id], |r| {
                    let output = match r.get::<_, Option<String>>(0)? {
                        Some(file_name) => Some(OutputView {
                            file_name,
                            mime: r.get(1)?,
                            size: r.get::<_, i64>(2)?.max(0) as u64,
                            width: r.get(3)?,
                            height: r.get(4)?,
                        }),
                        None => None,
                    };
                    Ok((output, r.get::<_, Option<String>>(5)?))
                })
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT phase, started_at, ended_at, outcome, error_class, error_message
                   FROM attempts WHERE job_id = ?1 ORDER BY id",
            )?;
            let attempts = stmt
                .query_map([id], |r| {
                    Ok(AttemptView {
                        phase: Phase::parse(&r.get::<_, String>(0)?).unwrap_or(Phase::Generate),
                        started_at: r.get(1)?,
                        ended_at: r.get(2)?,
                        outcome: r.get(3)?,
                        error: job_error(r.get(4)?, r.get(5)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(JobDetail {
                job: job.clone(),
                output,
                fields: fields.and_then(|f| serde_json::from_str(&f).ok()),
                attempts,
            }))
        })
    }

    pub(crate) fn job(&self, id: JobId) -> Result<Option<JobView>> {
        self.read(|conn| {
            let sql = format!("SELECT {JOB_COLUMNS} WHERE j.id = ?1");
            Ok(conn
                .prepare_cached(&sql)?
                .query_row([id], row_to_job)
                .optional()?)
        })
    }
}

/// A history query's filter over [`JOB_TABLES`]: parameters 1 to 6 are
/// [`filter_params`].
const HISTORY_FILTER: &str = "(?1 IS NULL OR j.state = ?1) AND (?2 IS NULL OR j.batch_id = ?2)
    AND (?3 IS NULL OR i.source_path LIKE '%' || ?3 || '%' ESCAPE '\\')
    AND (?4 IS NULL OR json_extract(ds.json, '$.name') = ?4)
    AND (?5 IS NULL OR j.created_at >= ?5) AND (?6 IS NULL OR j.created_at < ?6)";

fn filter_params(q: &HistoryQuery) -> [Value; 6] {
    let text = |s: Option<String>| s.map_or(Value::Null, Value::Text);
    let int = |n: Option<i64>| n.map_or(Value::Null, Value::Integer);
    let search = q
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(like_escaped);
    [
        text(q.state.map(|s| s.as_str().to_string())),
        int(q.batch),
        text(search),
        text(q.destination.clone()),
        int(q.since),
        int(q.until),
    ]
}

/// `text` matched literally by LIKE (its `%`, `_` and `\` are not wildcards).
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn batch_view(conn: &Connection, id: i64, now: i64) -> Result<Option<BatchView>> {
    let Some((name, sequential, paused, created_at)) = conn
        .prepare_cached("SELECT name, sequential, paused, created_at FROM batches WHERE id = ?1")?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?
    else {
        return Ok(None);
    };
    let mut counts = StateCounts::default();
    let mut stmt = conn.prepare_cached("SELECT state, n FROM batch_counts WHERE batch_id = ?1")?;
    for row in stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (state, n) = row?;
        counts.set(state_from_sql(&state)?, n.max(0) as u64);
    }
    // Time left at the pace kept since the batch was added.
    let done = counts.finished();
    let left = counts.total - done;
    let elapsed = (now - created_at).max(0) as u64;
    let eta_ms = (done > 0 && left > 0).then(|| elapsed * left / done);
    Ok(Some(BatchView {
        id,
        name,
        sequential,
        paused,
        created_at,
        counts,
        eta_ms,
    }))
}

impl Store {
    pub(crate) fn source_path(&self, job: JobId) -> Result<Option<PathBuf>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT i.source_path FROM jobs j JOIN items i ON i.id = j.item_id WHERE j.id = ?1",
                )?
                .query_row([job], |r| r.get::<_, String>(0))
                .optional()?
                .map(PathBuf::from))
        })
    }

    pub(crate) fn output_path(&self, job: JobId) -> Result<Option<PathBuf>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT o.path FROM jobs j JOIN outputs o ON o.id = j.output_id WHERE j.id = ?1",
                )?
                .query_row([job], |r| r.get::<_, String>(0))
                .optional()?
                .map(PathBuf::from))
        })
    }
}
