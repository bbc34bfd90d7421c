//! The worker's side of the queue: claim ready jobs, record what became of
//! them. A worker calls [`Store::record_and_claim`] once per turn of its loop,
//! so finishing jobs and claiming their successors share one transaction.

use super::{check_transition, Durability, Store};
use crate::error::Result;
use crate::model::{ErrorClass, JobId, JobState, Phase, Remote};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::HashMap;
use std::path::PathBuf;

/// A claimed job with everything needed to work on it.
#[derive(Clone, Debug)]
pub(crate) struct Claimed {
    pub job_id: JobId,
    pub destination_id: i64,
    pub phase: Phase,
    pub source: PathBuf,
    /// The item's fields as JSON text, when it has any.
    pub fields: Option<String>,
    /// What earlier attempts of a multi-step delivery saved.
    pub upload_steps: Option<String>,
    pub recipe_json: String,
    pub destination_json: String,
    pub output: Option<OutputRow>,
    pub attempts: u32,
    pub max_attempts: u32,
    /// The previous upload was interrupted: ask the destination first.
    pub outcome_unknown: bool,
    /// The recipe starts with an AI step.
    pub ai: bool,
}

/// A generated output on disk.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OutputRow {
    pub path: PathBuf,
    pub file_name: String,
    pub mime: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub hash: [u8; 32],
}

/// What generating a job's output produced (its file is fsynced already).
#[derive(Clone, Debug)]
pub(crate) struct Generated {
    pub output: OutputRow,
    pub source_hash: [u8; 32],
    /// Cancel it when the same content is already queued. Not for an AI
    /// provider's image: paid for, and new by nature (the item itself was
    /// checked for duplicates when it was added).
    pub check_content: bool,
}

/// The end of one phase of one claimed job.
#[derive(Clone, Debug)]
pub(crate) enum Finished {
    Generated(JobId, Generated),
    Delivered(JobId, Remote, u64),
    /// `retry_at` is the worker's decision: when to try again, or never.
    Failed {
        job: JobId,
        class: ErrorClass,
        message: String,
        retry_at: Option<i64>,
        /// The server asked for a pause (`Retry-After`): its destination,
        /// or its AI provider when generating, takes no other job before.
        cool_down_until: Option<i64>,
    },
    /// The destination asked to be asked again at `retry_at` (it may still
    /// be finishing an earlier attempt): the attempt does not count.
    Waiting {
        job: JobId,
        message: String,
        retry_at: i64,
    },
    /// Given back unfinished (shutdown): the attempt does not count.
    Released {
        job: JobId,
        outcome_unknown: bool,
    },
}

impl Finished {
    pub(crate) fn job(&self) -> JobId {
        match self {
            Finished::Generated(job, _) | Finished::Delivered(job, _, _) => *job,
            Finished::Failed { job, .. }
            | Finished::Waiting { job, .. }
            | Finished::Released { job, .. } => *job,
        }
    }
}

/// What one recorded result did to its job.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Recorded {
    Changed {
        job: JobId,
        state: JobState,
        phase: Phase,
        error: Option<(ErrorClass, String)>,
        retry_at: Option<i64>,
        attempts: u32,
        link: Option<String>,
    },
    /// The job was changed by someone else meanwhile (cancelled, say): the
    /// result is dropped, and the worker says so in its log.
    Superseded { job: JobId },
}

/// How many jobs to claim for each phase, and how many more uploads each
/// destination with a limit can take.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClaimRequest {
    pub generate: usize,
    pub upload: usize,
    pub destination_room: HashMap<i64, usize>,
    pub quarantine_after: u32,
    /// Jobs queued less than this many milliseconds ago are not generated yet.
    pub generate_after_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Turn {
    pub recorded: Vec<Recorded>,
    pub claimed: Vec<Claimed>,
    /// Jobs failed at claim time because runs kept dying on them.
    /// Failed for good: id, reason, attempts spent.
    pub quarantined: Vec<(JobId, String, u32)>,
    /// Waiting jobs held at a spending cap (with the reason), or let go:
    /// id, attempts spent, reason.
    pub capped: Vec<(JobId, u32, Option<String>)>,
}

impl Store {
    /// Saves a delivery's finished steps while `run` still holds the job.
    pub(crate) fn save_upload_steps(&self, job: JobId, run: i64, steps: &str) -> Result<bool> {
        self.write(Durability::Full, |tx| {
            Ok(tx.execute(
                "UPDATE jobs SET upload_steps = ?3
                  WHERE id = ?1 AND run_id = ?2 AND state = 'processing'",
                params![job, run, steps],
            )? == 1)
        })
    }

    pub(crate) fn record_and_claim(
        &self,
        run: i64,
        now: i64,
        finished: &[Finished],
        request: &ClaimRequest,
    ) -> Result<Turn> {
        // A generated output may have cost money: its record waits for the disk.
        let durability = if finished
            .iter()
            .any(|f| matches!(f, Finished::Generated(..)))
        {
            Durability::Full
        } else {
            Durability::Normal
        };
        self.write(durability, |tx| {
            let mut turn = Turn::default();
            for f in finished {
                turn.recorded.push(record(tx, run, now, f)?);
            }
            let paused: bool = tx
                .prepare_cached("SELECT value FROM flags WHERE name = 'queue_paused'")?
                .query_row([], |r| r.get(0))?;
            if !paused {
                for (phase, n) in [
                    (Phase::Generate, request.generate),
                    (Phase::Upload, request.upload),
                ] {
                    if n > 0 {
                        claim(tx, run, now, phase, n, request, &mut turn)?;
                    }
                }
            }
            Ok(turn)
        })
    }

    /// When the earliest job waiting for a retry becomes due, or the
    /// earliest cool-down ends, if any.
    pub(crate) fn next_due(&self, now: i64) -> Result<Option<i64>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    // Without INDEXED BY the planner walks every pending job
                    // through jobs_by_state (measured: most of the worker's time).
                    "SELECT min(t) FROM (
                       SELECT min(next_attempt_at) AS t FROM jobs INDEXED BY jobs_backoff
                        WHERE state = 'pending' AND next_attempt_at > 0 AND next_attempt_at > ?1
                       UNION ALL SELECT min(cool_down_until) FROM destinations WHERE cool_down_until > ?1
                       UNION ALL SELECT min(cool_down_until) FROM providers WHERE cool_down_until > ?1)",
                )?
                .query_row([now], |r| r.get(0))?)
        })
    }

    /// Of `jobs`, the ones no longer held by `run` (cancelled meanwhile, say).
    pub(crate) fn lost_claims(&self, run: i64, jobs: &[JobId]) -> Result<Vec<JobId>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(jobs).unwrap_or_else(|_| "[]".into());
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT j.id FROM jobs j JOIN json_each(?1) w ON j.id = w.value
                  WHERE j.state <> 'processing' OR j.run_id IS NOT ?2",
            )?;
            let lost = stmt.query_map(params![ids, run], |r| r.get(0))?;
            Ok(lost.collect::<rusqlite::Result<Vec<JobId>>>()?)
        })
    }
}

fn record(tx: &Transaction<'_>, run: i64, now: i64, f: &Finished) -> Result<Recorded> {
    let job = f.job();
    let mut held = tx.prepare_cached(
        "SELECT phase, source_key IS NULL, attempts, started_at FROM jobs
          WHERE id = ?1 AND state = 'processing' AND run_id = ?2",
    )?;
    let Some((phase, forced, mut attempts, started_at)) = held
        .query_row(params![job, run], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })
        .optional()?
    else {
        return Ok(Recorded::Superseded { job });
    };
    let mut phase = Phase::parse(&phase).unwrap_or(Phase::Generate);
    let attempt_phase = phase;
    let mut error = None;
    let mut retry = None;
    let mut link = None;
    let state = match f {
        Finished::Generated(_, generated) => {
            let (state, duplicate) = record_generated(tx, job, now, forced, generated)?;
            match duplicate {
                Some(message) => error = Some((ErrorClass::Permanent, message)),
                None => phase = Phase::Upload,
            }
            state
        }
        Finished::Delivered(_, remote, bytes) => {
            check_transition(job, JobState::Processing, JobState::Completed)?;
            tx.prepare_cached(
                "UPDATE jobs SET state = 'completed', run_id = NULL, finished_at = ?2,
                        outcome_unknown = 0, bytes_sent = ?3, remote_id = ?4, remote_url = ?5,
                        error_message = NULL, error_class = NULL
                  WHERE id = ?1",
            )?
            .execute(params![job, now, *bytes as i64, remote.id, remote.url])?;
            link.clone_from(&remote.url);
            JobState::Completed
        }
        // A failed upload may still have arrived (a timeout after the body
        // went out, a 5xx after the server stored it): the next attempt asks
        // the destination first.
        Finished::Failed {
            class,
            message,
            retry_at,
            cool_down_until,
            ..
        } => {
            if let Some(until) = cool_down_until {
                cool_down(tx, job, attempt_phase, *until, message)?;
            }
            let to = if retry_at.is_some() {
                JobState::Pending
            } else {
                JobState::Failed
            };
            check_transition(job, JobState::Processing, to)?;
            tx.prepare_cached(
                "UPDATE jobs SET state = ?2, run_id = NULL, error_class = ?3, error_message = ?4,
                        next_attempt_at = coalesce(?5, next_attempt_at),
                        finished_at = CASE WHEN ?2 = 'failed' THEN ?6 END,
                        outcome_unknown = outcome_unknown OR phase = 'upload'
                  WHERE id = ?1",
            )?
            .execute(params![
                job,
                to.as_str(),
                class.as_str(),
                message,
                retry_at,
                now
            ])?;
            error = Some((*class, message.clone()));
            retry = *retry_at;
            to
        }
        Finished::Waiting {
            message, retry_at, ..
        } => {
            check_transition(job, JobState::Processing, JobState::Pending)?;
            tx.prepare_cached(
                "UPDATE jobs SET state = 'pending', run_id = NULL, attempts = max(attempts - 1, 0),
                        error_class = 'transient', error_message = ?2, next_attempt_at = ?3,
                        outcome_unknown = outcome_unknown OR phase = 'upload'
                  WHERE id = ?1",
            )?
            .execute(params![job, message, retry_at])?;
            error = Some((ErrorClass::Transient, message.clone()));
            retry = Some(*retry_at);
            attempts = attempts.saturating_sub(1);
            JobState::Pending
        }
        Finished::Released {
            outcome_unknown, ..
        } => {
            check_transition(job, JobState::Processing, JobState::Pending)?;
            tx.prepare_cached(
                "UPDATE jobs SET state = 'pending', run_id = NULL, attempts = max(attempts - 1, 0),
                        outcome_unknown = outcome_unknown OR ?2
                  WHERE id = ?1",
            )?
            .execute(params![job, outcome_unknown])?;
            attempts = attempts.saturating_sub(1);
            JobState::Pending
        }
    };
    // A wait or a release was not an attempt (its count was given back).
    if !matches!(f, Finished::Waiting { .. } | Finished::Released { .. }) {
        let outcome = match (state, attempt_phase, retry) {
            (JobState::Completed, ..) => "delivered",
            (JobState::Failed, ..) => "failed",
            (JobState::Cancelled, ..) => "cancelled",
            (_, _, Some(_)) => "retrying",
            _ => "generated",
        };
        tx.prepare_cached(
            "INSERT INTO attempts (job_id, phase, started_at, ended_at, outcome, error_class, error_message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            job,
            attempt_phase.as_str(),
            started_at,
            now,
            outcome,
            error.as_ref().map(|(class, _)| class.as_str()),
            error.as_ref().map(|(_, message)| message.as_str()),
        ])?;
    }
    Ok(Recorded::Changed {
        job,
        state,
        phase,
        error,
        retry_at: retry,
        attempts,
        link,
    })
}

/// Holds the other jobs of the failed job's destination (its AI provider's,
/// when it was generating) until `until`; a later end already set stays.
fn cool_down(
    tx: &Transaction<'_>,
    job: JobId,
    phase: Phase,
    until: i64,
    reason: &str,
) -> Result<()> {
    let sql = match phase {
        Phase::Generate => {
            "UPDATE providers SET cool_down_until = ?2, cool_down_reason = ?3
              WHERE name = (SELECT ai_provider FROM jobs WHERE id = ?1) AND cool_down_until < ?2"
        }
        Phase::Upload => {
            "UPDATE destinations SET cool_down_until = ?2, cool_down_reason = ?3
              WHERE id = (SELECT destination_id FROM jobs WHERE id = ?1) AND cool_down_until < ?2"
        }
    };
    tx.prepare_cached(sql)?
        .execute(params![job, until, reason])?;
    Ok(())
}

const DUPLICATE_PREFIX: &str = "duplicate: the same image with the same recipe is already ";

/// The earlier job a job cancelled as a duplicate of the same content
/// names in its message (the local API follows it to the earlier link).
pub fn duplicate_of(message: &str) -> Option<JobId> {
    let rest = message.strip_prefix(DUPLICATE_PREFIX)?;
    let (_, after) = rest.split_once(" as job ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The generate phase is done: the output is recorded and the job waits for
/// an upload slot, unless the same content is already on its way there (then
/// it is cancelled, and the message says where the other one is).
fn record_generated(
    tx: &Transaction<'_>,
    job: JobId,
    now: i64,
    forced: bool,
    generated: &Generated,
) -> Result<(JobState, Option<String>)> {
    let (item_id, destination_id, recipe_snap): (i64, i64, i64) = tx
        .prepare_cached("SELECT item_id, destination_id, recipe_snap FROM jobs WHERE id = ?1")?
        .query_row([job], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    tx.prepare_cached("UPDATE items SET source_hash = ?2 WHERE id = ?1")?
        .execute(params![item_id, &generated.source_hash[..]])?;

    let content_key = (!forced && generated.check_content).then(|| {
        let mut h = blake3::Hasher::new();
        h.update(&generated.source_hash);
        h.update(&recipe_snap.to_le_bytes());
        h.update(&destination_id.to_le_bytes());
        *h.finalize().as_bytes()
    });
    if let Some(key) = content_key {
        let existing = tx
            .prepare_cached(
                "SELECT id, state, remote_url FROM jobs WHERE content_key = ?1 AND id <> ?2
                   AND state <> 'failed' AND state <> 'cancelled'",
            )?
            .query_row(params![&key[..], job], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .optional()?;
        if let Some((other, state, url)) = existing {
            check_transition(job, JobState::Processing, JobState::Cancelled)?;
            let place = url.map(|u| format!(" at {u}")).unwrap_or_default();
            let message = format!(
                "{DUPLICATE_PREFIX}{state} as job {other}{place}; add it with --force to send it again"
            );
            tx.prepare_cached(
                "UPDATE jobs SET state = 'cancelled', run_id = NULL, finished_at = ?2,
                        error_class = 'permanent', error_message = ?3
                  WHERE id = ?1",
            )?
            .execute(params![job, now, message])?;
            return Ok((JobState::Cancelled, Some(message)));
        }
    }

    let o = &generated.output;
    tx.prepare_cached(
        "INSERT INTO outputs (item_id, path, file_name, mime, size, width, height, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        item_id,
        o.path.to_string_lossy(),
        o.file_name,
        o.mime,
        o.size as i64,
        o.width,
        o.height,
        &o.hash[..]
    ])?;
    let output_id = tx.last_insert_rowid();
    check_transition(job, JobState::Processing, JobState::Pending)?;
    tx.prepare_cached(
        "UPDATE jobs SET state = 'pending', phase = 'upload', run_id = NULL, output_id = ?2,
                content_key = ?3, attempts = 0, next_attempt_at = 0, bytes_total = ?4,
                error_class = NULL, error_message = NULL
          WHERE id = ?1",
    )?
    .execute(params![
        job,
        output_id,
        content_key.as_ref().map(|k| &k[..]),
        o.size as i64
    ])?;
    Ok((JobState::Pending, None))
}

fn claim(
    tx: &Transaction<'_>,
    run: i64,
    now: i64,
    phase: Phase,
    n: usize,
    request: &ClaimRequest,
    turn: &mut Turn,
) -> Result<()> {
    // Room left at destinations with a limit; a claim at one of them uses it up.
    let mut room = request.destination_room.clone();
    // Money left under each capped provider; a claim of an unpaid AI job
    // commits its cost.
    let mut budgets = match phase {
        Phase::Generate => spending_budgets(tx)?,
        Phase::Upload => HashMap::new(),
    };
    // Destinations cooling down take nothing, as if full.
    let cooling: Vec<i64> = match phase {
        Phase::Upload => tx
            .prepare_cached("SELECT id FROM destinations WHERE cool_down_until > ?1")?
            .query_map([now], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
        Phase::Generate => Vec::new(),
    };
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let full: Vec<i64> = match phase {
            Phase::Upload => room
                .iter()
                .filter(|(_, r)| **r == 0)
                .map(|(d, _)| *d)
                .chain(cooling.iter().copied())
                .collect(),
            Phase::Generate => Vec::new(),
        };
        let full = serde_json::to_string(&full).unwrap_or_else(|_| "[]".into());
        let next = match claim_orphan(tx, run, now, phase, &full, request, turn)? {
            Some(job) => Some(job),
            None => claim_pending(
                tx,
                run,
                now,
                phase,
                &full,
                now - request.generate_after_ms,
                &mut budgets,
            )?,
        };
        let Some((job, destination)) = next else {
            break;
        };
        if phase == Phase::Upload {
            if let Some(r) = room.get_mut(&destination) {
                *r = r.saturating_sub(1);
            }
        }
        ids.push(job);
    }
    if phase == Phase::Generate {
        turn.capped = mark_capped(tx, &budgets)?;
    }

    let mut load = tx.prepare_cached(
        "SELECT j.id, j.destination_id, j.phase, i.source_path,
                rs.json, ds.json, j.attempts, j.max_attempts, j.outcome_unknown,
                o.path, o.file_name, o.mime, o.size, o.width, o.height, o.hash,
                i.fields, j.upload_steps, j.ai_provider IS NOT NULL
           FROM jobs j
           JOIN items i ON i.id = j.item_id
           JOIN snapshots rs ON rs.id = j.recipe_snap
           JOIN snapshots ds ON ds.id = j.dest_snap
           LEFT JOIN outputs o ON o.id = j.output_id
          WHERE j.id = ?1",
    )?;
    for id in ids {
        turn.claimed.push(load.query_row([id], row_to_claimed)?);
    }
    Ok(())
}

/// Takes over one job of a dead run (they were started before anything
/// pending). An interrupted upload is marked for reconciliation; a job whose
/// generation keeps taking the process down is quarantined instead.
fn claim_orphan(
    tx: &Transaction<'_>,
    run: i64,
    now: i64,
    phase: Phase,
    full: &str,
    request: &ClaimRequest,
    turn: &mut Turn,
) -> Result<Option<(JobId, i64)>> {
    loop {
        let orphan: Option<(JobId, i64, u32, u32)> = tx
            .prepare_cached(
                "SELECT j.id, j.destination_id, j.crashes, j.attempts FROM runs r
                   JOIN jobs j ON j.run_id = r.id AND j.state = 'processing'
                  WHERE r.dead = 1 AND j.phase = ?1
                    AND j.destination_id NOT IN (SELECT value FROM json_each(?2))
                  ORDER BY j.id LIMIT 1",
            )?
            .query_row(params![phase.as_str(), full], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((job, destination, crashes, attempts)) = orphan else {
            return Ok(None);
        };
        // Only generation counts towards quarantine: decoding an untrusted
        // image is what can take the process down.
        let crashes = crashes + u32::from(phase == Phase::Generate);
        if phase == Phase::Generate && crashes >= request.quarantine_after.max(1) {
            check_transition(job, JobState::Processing, JobState::Failed)?;
            let message = format!(
                "quarantined: Outbox stopped {crashes} times while generating this item; it may be an image that crashes the decoder"
            );
            tx.prepare_cached(
                "UPDATE jobs SET state = 'failed', run_id = NULL, crashes = ?2, finished_at = ?3,
                        error_class = 'permanent', error_message = ?4
                  WHERE id = ?1",
            )?
            .execute(params![job, crashes, now, message])?;
            turn.quarantined.push((job, message, attempts));
            continue;
        }
        tx.prepare_cached(
            "UPDATE jobs SET run_id = ?2, crashes = ?3, started_at = ?4,
                    outcome_unknown = outcome_unknown OR phase = 'upload'
              WHERE id = ?1",
        )?
        .execute(params![job, run, crashes, now])?;
        return Ok(Some((job, destination)));
    }
}

/// Claims the best ready job of a phase: highest priority, then manual
/// retries, then first in; in a sequential batch only the first unfinished.
/// Each capped provider's money left: its cap, less what was paid and what
/// running generations have committed.
fn spending_budgets(tx: &Transaction<'_>) -> Result<HashMap<String, f64>> {
    let mut stmt = tx.prepare_cached(
        "SELECT p.name, json_extract(p.settings, '$.spending_cap'),
                (SELECT coalesce(sum(j.ai_cost), 0) FROM jobs j INDEXED BY jobs_ai
                  WHERE j.ai_provider = p.name
                    AND (j.ai_paid OR (j.state = 'processing' AND j.phase = 'generate')))
           FROM providers p
          WHERE json_extract(p.settings, '$.spending_cap') IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, f64>(1)?,
            r.get::<_, f64>(2)?,
        ))
    })?;
    let mut budgets = HashMap::new();
    for row in rows {
        let (name, cap, committed) = row?;
        budgets.insert(name, cap - committed);
    }
    Ok(budgets)
}

/// The reason waiting AI jobs of a capped provider show, and its removal
/// once the cap leaves room for them (a raised cap, a cancelled job). A cap
/// lifted altogether clears the reason where it is lifted
/// (`Store::update_provider`), not on every claim.
fn mark_capped(
    tx: &Transaction<'_>,
    budgets: &HashMap<String, f64>,
) -> Result<Vec<(JobId, u32, Option<String>)>> {
    let mut changed = Vec::new();
    let mut ids = |stmt: &mut rusqlite::CachedStatement<'_>,
                   args: &[&dyn rusqlite::ToSql],
                   reason: Option<&String>|
     -> Result<()> {
        let rows = stmt.query_map(args, |r| Ok((r.get::<_, JobId>(0)?, r.get::<_, u32>(1)?)))?;
        for row in rows {
            let (id, attempts) = row?;
            changed.push((id, attempts, reason.cloned()));
        }
        Ok(())
    };
    for (provider, left) in budgets {
        let reason = format!(
            "spending cap reached: {provider} has {:.2} left of its cap; raise the cap to go on",
            left.max(0.0)
        );
        ids(
            &mut tx.prepare_cached(
                "UPDATE jobs SET error_class = 'needs_user', error_message = ?3
                  WHERE ai_provider = ?1 AND state = 'pending' AND phase = 'generate' AND NOT ai_paid
                    AND coalesce(ai_cost, 0) > ?2 + 1e-9
                    AND error_message IS NOT ?3
                  RETURNING id, attempts",
            )?,
            &[provider, left, &reason],
            Some(&reason),
        )?;
        ids(
            &mut tx.prepare_cached(
                "UPDATE jobs SET error_class = NULL, error_message = NULL
                  WHERE ai_provider = ?1 AND state = 'pending' AND phase = 'generate'
                    AND error_message LIKE 'spending cap reached:%'
                    AND (ai_paid OR coalesce(ai_cost, 0) <= ?2 + 1e-9)
                  RETURNING id, attempts",
            )?,
            &[provider, left],
            None,
        )?;
    }
    Ok(changed)
}

fn claim_pending(
    tx: &Transaction<'_>,
    run: i64,
    now: i64,
    phase: Phase,
    full: &str,
    queued_before: i64,
    budgets: &mut HashMap<String, f64>,
) -> Result<Option<(JobId, i64)>> {
    check_transition(0, JobState::Pending, JobState::Processing)?;
    let budget_json = serde_json::to_string(&*budgets).unwrap_or_else(|_| "{}".into());
    let claimed: Option<(JobId, i64, AiCharge)> = tx
        .prepare_cached(
            "UPDATE jobs SET state = 'processing', run_id = ?1, started_at = ?2,
                    attempts = attempts + 1, bytes_sent = 0
              WHERE id = (
                SELECT j.id FROM jobs j
                 WHERE j.state = 'pending' AND j.phase = ?3 AND j.next_attempt_at <= ?2
                   AND (SELECT paused FROM batches WHERE id = j.batch_id) = 0
                   AND j.destination_id NOT IN (SELECT value FROM json_each(?4))
                   AND (?3 = 'generate' OR j.review = 0)
                   AND (?3 = 'upload' OR j.created_at <= ?5)
                   AND (?3 = 'upload' OR j.ai_provider IS NULL OR j.ai_paid
                        OR (NOT EXISTS (SELECT 1 FROM json_each(?6) b
                                         WHERE b.key = j.ai_provider
                                           AND coalesce(j.ai_cost, 0) > b.value + 1e-9)
                            AND NOT EXISTS (SELECT 1 FROM providers p
                                             WHERE p.name = j.ai_provider
                                               AND p.cool_down_until > ?2)))
                   AND (?3 = 'generate'
                        OR (SELECT sequential FROM batches WHERE id = j.batch_id) = 0
                        OR NOT EXISTS (
                            SELECT 1 FROM jobs e
                             WHERE e.batch_id = j.batch_id AND e.seq < j.seq
                               AND e.state <> 'completed' AND e.state <> 'cancelled'))
                 ORDER BY j.priority DESC, j.queue_order, j.id
                 LIMIT 1)
              RETURNING id, destination_id, ai_provider, ai_cost, ai_paid",
        )?
        .query_row(
            params![run, now, phase.as_str(), full, queued_before, budget_json],
            |r| {
                let charge = AiCharge {
                    provider: r.get(2)?,
                    cost: r.get(3)?,
                    paid: r.get(4)?,
                };
                Ok((r.get(0)?, r.get(1)?, charge))
            },
        )
        .optional()?;
    Ok(claimed.map(|(job, destination, charge)| {
        if let (Some(provider), false) = (&charge.provider, charge.paid) {
            if let Some(left) = budgets.get_mut(provider) {
                *left -= charge.cost.unwrap_or(0.0);
            }
        }
        (job, destination)
    }))
}

/// What a claimed job's AI step costs its provider, if it has one.
struct AiCharge {
    provider: Option<String>,
    cost: Option<f64>,
    paid: bool,
}

fn row_to_claimed(r: &rusqlite::Row<'_>) -> rusqlite::Result<Claimed> {
    let phase: String = r.get(2)?;
    let output_path: Option<String> = r.get(9)?;
    let output = match output_path {
        Some(path) => {
            let hash: Vec<u8> = r.get(15)?;
            Some(OutputRow {
                path: PathBuf::from(path),
                file_name: r.get(10)?,
                mime: r.get(11)?,
                size: r.get::<_, i64>(12)? as u64,
                width: r.get(13)?,
                height: r.get(14)?,
                hash: hash.try_into().unwrap_or([0; 32]),
            })
        }
        None => None,
    };
    Ok(Claimed {
        job_id: r.get(0)?,
        destination_id: r.get(1)?,
        phase: Phase::parse(&phase).unwrap_or(Phase::Generate),
        source: PathBuf::from(r.get::<_, String>(3)?),
        fields: r.get(16)?,
        upload_steps: r.get(17)?,
        recipe_json: r.get(4)?,
        destination_json: r.get(5)?,
        attempts: r.get(6)?,
        max_attempts: r.get(7)?,
        outcome_unknown: r.get(8)?,
        ai: r.get(18)?,
        output,
    })
}

/// The `queue_order` of a manual retry: ahead of every job queued normally
/// (0), and manual retries among themselves first come, first served.
pub(crate) fn front_of_queue(now: i64) -> i64 {
    i64::MIN / 2 + now
}

#[cfg(test)]
mod duplicate_tests {
    use super::duplicate_of;

    #[test]
    fn the_earlier_job_is_read_back_from_a_duplicate_message() {
        let message = format!(
            "{}completed as job 42 at file:///x/a.jpg; add it with --force to send it again",
            super::DUPLICATE_PREFIX
        );
        assert_eq!(duplicate_of(&message), Some(42));
        assert_eq!(duplicate_of("cancelled by the user"), None);
    }
}
