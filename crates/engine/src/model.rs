//! The public vocabulary of the engine: job states, phases, error classes and
//! the views the command line and the desktop app render.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

pub type JobId = i64;
pub type BatchId = i64;

/// Where a job is in its life. Only [`JobState::can_become`] decides which
/// changes are allowed; the store refuses every other one with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Processing,
    Completed,
    Failed,
    Paused,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Pending,
        JobState::Processing,
        JobState::Completed,
        JobState::Failed,
        JobState::Paused,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Processing => "processing",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Paused => "paused",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Finished jobs are history: they leave only by a user's retry or clean-up.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        )
    }

    /// The job state machine, in one place.
    ///
    /// `processing → pending` is a scheduled retry or the move from the
    /// generate phase to the upload phase; `failed|cancelled → pending` is a
    /// user's retry; `failed → cancelled` is a user giving up on a job (which
    /// also lets a sequential batch move past it). A completed job never
    /// changes: sending it again is a new job (`add --force`).
    pub fn can_become(self, to: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, to),
            (Pending, Processing | Paused | Cancelled)
                | (Processing, Completed | Failed | Pending | Cancelled)
                | (Failed | Cancelled, Pending)
                | (Failed, Cancelled)
                | (Paused, Pending | Cancelled)
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two persisted phases of a job: generating its output, then uploading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Generate,
    Upload,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Generate => "generate",
            Phase::Upload => "upload",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "generate" => Some(Phase::Generate),
            "upload" => Some(Phase::Upload),
            _ => None,
        }
    }
}

/// What a failure means for the job's future.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// May succeed later: retried automatically with backoff.
    Transient,
    /// Will never succeed as queued: failed at once.
    Permanent,
    /// Cannot succeed until the user acts (credentials, a missing folder, a
    /// full disk): failed at once, and the message says what to do.
    NeedsUser,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::NeedsUser => "needs_user",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorClass> {
        match s {
            "transient" => Some(ErrorClass::Transient),
            "permanent" => Some(ErrorClass::Permanent),
            "needs_user" => Some(ErrorClass::NeedsUser),
            _ => None,
        }
    }
}

/// Jobs per state. Serialised with the stable keys the `--json` output documents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    pub pending: u64,
    pub processing: u64,
    pub completed: u64,
    pub failed: u64,
    pub paused: u64,
    pub cancelled: u64,
    pub total: u64,
}

impl StateCounts {
    pub(crate) fn set(&mut self, state: JobState, n: u64) {
        match state {
            JobState::Pending => self.pending = n,
            JobState::Processing => self.processing = n,
            JobState::Completed => self.completed = n,
            JobState::Failed => self.failed = n,
            JobState::Paused => self.paused = n,
            JobState::Cancelled => self.cancelled = n,
        }
        self.total = self.pending
            + self.processing
            + self.completed
            + self.failed
            + self.paused
            + self.cancelled;
    }

    pub fn get(&self, state: JobState) -> u64 {
        match state {
            JobState::Pending => self.pending,
            JobState::Processing => self.processing,
            JobState::Completed => self.completed,
            JobState::Failed => self.failed,
            JobState::Paused => self.paused,
            JobState::Cancelled => self.cancelled,
        }
    }

    /// Jobs that will not change again unless the user acts.
    pub fn finished(&self) -> u64 {
        self.completed + self.failed + self.cancelled
    }
}

/// One job as the queue panel and `history` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobView {
    pub id: JobId,
    pub batch_id: BatchId,
    pub source: PathBuf,
    pub destination: String,
    pub recipe: String,
    pub state: JobState,
    pub phase: Phase,
    /// Generated, waiting for the user to accept (or discard) the output.
    pub awaiting_review: bool,
    pub priority: i64,
    pub attempts: u32,
    pub manual_retries: u32,
    pub max_attempts: u32,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub next_attempt_at: Option<i64>,
    pub bytes_sent: u64,
    pub bytes_total: Option<u64>,
    pub error: Option<JobError>,
    pub remote: Option<Remote>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub class: ErrorClass,
    pub message: String,
}

/// Where a delivered output ended up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remote {
    pub id: Option<String>,
    pub url: Option<String>,
}

/// A batch with its progress.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchView {
    pub id: BatchId,
    pub name: String,
    pub sequential: bool,
    pub paused: bool,
    pub created_at: i64,
    pub counts: StateCounts,
    /// Milliseconds left at the pace this batch has kept so far, when known.
    pub eta_ms: Option<u64>,
}

/// A job being worked on now, and for how long.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InFlightJob {
    pub id: JobId,
    pub source: PathBuf,
    pub destination: String,
    pub phase: Phase,
    pub started_at: i64,
    pub elapsed_ms: u64,
    pub bytes_sent: u64,
    pub bytes_total: Option<u64>,
}

/// The whole queue at a glance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    pub counts: StateCounts,
    pub queue_paused: bool,
    pub in_flight: Vec<InFlightJob>,
    pub batches: Vec<BatchView>,
    pub cost: Cost,
    /// Destinations and AI providers holding their jobs until a time their
    /// server asked for.
    pub cool_downs: Vec<CoolDown>,
}

/// A destination or AI provider whose server asked for a pause
/// (`Retry-After`): none of its jobs start before `until`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoolDown {
    /// `destination` or `provider`.
    pub of: &'static str,
    pub name: String,
    /// Ms since the epoch.
    pub until: i64,
    /// The answer that asked for it.
    pub reason: String,
}

/// The money AI generation costs, in the unit of the providers'
/// `cost_per_image`: spent on the jobs in the queue and its history, and to
/// be spent on those still waiting for their image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    pub spent: f64,
    pub to_spend: f64,
}

/// How much finished work the queue keeps; the worker removes the rest as it
/// goes (jobs, their outputs, and pasted or downloaded images no job needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Completed jobs finished more than this many days ago go.
    pub completed_days: u32,
    /// Only the newest this many completed jobs stay.
    pub completed_keep: u32,
    /// Only the newest this many failed or cancelled jobs stay.
    pub failed_keep: u32,
}

impl Default for Retention {
    /// A month, and far more than a busy week, of history.
    fn default() -> Self {
        Retention {
            completed_days: 30,
            completed_keep: 50_000,
            failed_keep: 5_000,
        }
    }
}

impl Retention {
    /// Every rule keeps something: zero would wipe history as it is made.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (name, value) in [
            ("completed days", self.completed_days),
            ("completed jobs kept", self.completed_keep),
            ("failed jobs kept", self.failed_keep),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// A filter and page of history.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    pub state: Option<JobState>,
    pub batch: Option<BatchId>,
    /// Part of the source's path or name, any case (ASCII).
    pub search: Option<String>,
    pub destination: Option<String>,
    /// Added at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Added before this time (ms since the epoch).
    pub until: Option<i64>,
    pub limit: u32,
    pub offset: u32,
}

/// One attempt of a job: its phase, when it ran, how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttemptView {
    pub phase: Phase,
    pub started_at: Option<i64>,
    pub ended_at: i64,
    /// `generated`, `delivered`, `retrying`, `failed` or `cancelled`.
    pub outcome: String,
    pub error: Option<JobError>,
}

/// The output a job generated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutputView {
    pub file_name: String,
    pub mime: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

/// Everything the detail view of one job shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobDetail {
    pub job: JobView,
    pub output: Option<OutputView>,
    /// The item's fields (title, alt text…), as given.
    pub fields: Option<serde_json::Value>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationView {
    pub name: String,
    pub kind: String,
    pub settings: serde_json::Value,
    pub max_concurrent: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::JobState::{self, *};

    #[test]
    fn the_state_machine_allows_exactly_the_documented_changes() {
        let allowed = [
            (Pending, Processing),
            (Pending, Paused),
            (Pending, Cancelled),
            (Processing, Completed),
            (Processing, Failed),
            (Processing, Pending),
            (Processing, Cancelled),
            (Failed, Pending),
            (Failed, Cancelled),
            (Cancelled, Pending),
            (Paused, Pending),
            (Paused, Cancelled),
        ];
        for from in JobState::ALL {
            for to in JobState::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} → {to}"
                );
            }
        }
    }

    #[test]
    fn completed_is_final() {
        assert!(JobState::ALL.iter().all(|&to| !Completed.can_become(to)));
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
        }
        assert_eq!(JobState::parse("done"), None);
    }
}
