//! The background worker: one loop that, each turn, records what its jobs
//! came to and claims their successors in a single transaction, and tasks
//! that do the slow part (generating, uploading) off that loop.
//!
//! Generation and upload each have their own number of slots; uploads also
//! respect each destination's limit. A job is cancelled mid-flight when its
//! row says it no longer belongs to this run (a user cancelled it, from this
//! process or another).

mod ai_step;
mod background;
pub use background::lower_this_threads_priority;
mod retry;
mod tasks;

pub use retry::RetryPolicy;

use crate::destinations::{BuiltinDestinations, ResolveDestination};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::model::{ErrorClass, JobId, JobState, Phase, Remote};
use crate::pipeline::{Generate, LocalPipeline};
use crate::preview::DEFAULT_PREVIEW_SIZE;
use crate::store::{ClaimRequest, Finished, Recorded};
use crate::Shared;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Outputs generated at once (decoding is CPU-bound: one per core).
    pub generate_concurrency: usize,
    /// Jobs waiting on an AI provider at once, beyond `generate_concurrency`:
    /// they spend minutes waiting, not computing. Each provider's own
    /// `max_concurrent` and `requests_per_minute` apply within them.
    pub ai_concurrency: usize,
    /// Uploads at once, over all destinations.
    pub upload_concurrency: usize,
    /// A job whose generation was under way when the process died this many
    /// times is failed as quarantined instead of tried again.
    pub quarantine_after: u32,
    /// How long a newly queued job waits before its output is generated. The
    /// desktop app sets it so the previews of a drop get the cores first;
    /// generation is background work.
    pub generate_after: Duration,
    pub retry: RetryPolicy,
    /// How often to look for work queued by other processes and for jobs
    /// cancelled elsewhere.
    pub poll_interval: Duration,
    /// After a stop is asked, how long running jobs may take to finish.
    pub shutdown_grace: Duration,
    /// Stop when nothing is left that could run without the user.
    pub until_idle: bool,
    /// Seed of the retry jitter (tests); random when `None`.
    pub jitter_seed: Option<u64>,
    /// How often finished work past the retention rules is removed (first
    /// at the first housekeeping of a run).
    pub retention_every: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            generate_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            ai_concurrency: 8,
            upload_concurrency: 3,
            quarantine_after: 3,
            generate_after: Duration::ZERO,
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
            until_idle: false,
            jitter_seed: None,
            retention_every: Duration::from_secs(60),
        }
    }
}

/// What one run of the worker did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkerSummary {
    pub generated: u64,
    pub completed: u64,
    /// Jobs failed in this run, quarantined ones included.
    pub failed: u64,
    pub retries_scheduled: u64,
    pub cancelled: u64,
    /// Of the failed jobs, those failed because runs kept dying on them.
    pub quarantined: u64,
    /// Runs found dead at start-up, whose jobs this run recovered.
    pub dead_runs_found: usize,
}

pub struct Worker {
    shared: Arc<Shared>,
    config: WorkerConfig,
    generator: Arc<dyn Generate>,
    destinations: Arc<dyn ResolveDestination>,
}

/// A job this run is working on.
struct InFlight {
    phase: Phase,
    /// Generating through an AI provider.
    ai: bool,
    destination_id: i64,
    attempts: u32,
    max_attempts: u32,
    cancel: CancellationToken,
}

/// What a task reports; the loop turns it into a [`Finished`] record.
pub(crate) enum Outcome {
    Generated(crate::store::Generated),
    Delivered(Remote, u64),
    Failed(Failure),
    Released,
}

/// A failed phase: what went wrong and whether trying again can help.
pub(crate) struct Failure {
    pub class: ErrorClass,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// Fewer automatic attempts than the job's (an AI provider's cap: each
    /// attempt may cost money).
    pub attempt_cap: Option<u32>,
    /// A wait, not a failure ([`crate::destinations::DeliveryError::waiting`]).
    pub waiting: bool,
}

impl Worker {
    pub(crate) fn new(shared: Arc<Shared>, config: WorkerConfig) -> Self {
        Worker {
            destinations: Arc::new(BuiltinDestinations::new(
                shared.secrets.clone(),
                shared.database_id.clone(),
            )),
            shared,
            config,
            generator: Arc::new(LocalPipeline::with_preview(DEFAULT_PREVIEW_SIZE)),
        }
    }

    /// Generates outputs with `generator` instead of the local pipeline.
    pub fn with_generator(mut self, generator: Arc<dyn Generate>) -> Self {
        self.generator = generator;
        self
    }

    /// Builds destinations with `resolver` instead of the built-in kinds.
    pub fn with_destinations(mut self, resolver: Arc<dyn ResolveDestination>) -> Self {
        self.destinations = resolver;
        self
    }

    /// Works until `stop` is cancelled (then lets running jobs finish within
    /// the grace period) or, with `until_idle`, until nothing is left to do.
    pub async fn run(self, stop: CancellationToken) -> Result<WorkerSummary> {
        let shared = self.shared.clone();
        let runs_dir = shared.data.runs();
        let now = shared.clock.now_ms();
        let run = blocking(&shared, {
            let runs_dir = runs_dir.clone();
            move |s| s.store.start_run(&runs_dir, now)
        })
        .await?;
        let run_id = run.id;
        let mut summary = WorkerSummary {
            dead_runs_found: blocking(&shared, {
                let runs_dir = runs_dir.clone();
                move |s| s.store.reap_dead_runs(&runs_dir, run_id)
            })
            .await?,
            ..WorkerSummary::default()
        };
        tracing::info!(run = run_id, "worker started");

        let ctx = Arc::new(tasks::TaskContext::new(
            shared.clone(),
            run_id,
            self.generator.clone(),
            self.destinations.clone(),
        ));
        let mut limits = destination_limits(&shared).await?;
        let mut rng = self
            .config
            .jitter_seed
            .map(fastrand::Rng::with_seed)
            .unwrap_or_default();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(JobId, Outcome)>();
        let mut in_flight: HashMap<JobId, InFlight> = HashMap::new();
        let mut finished: Vec<Finished> = Vec::new();
        let mut stop_deadline: Option<Instant> = None;
        let mut last_housekeeping = Instant::now();
        let mut last_retention: Option<Instant> = None;

        loop {
            while let Ok((job, outcome)) = done_rx.try_recv() {
                self.finish(job, outcome, &mut in_flight, &mut finished, &mut rng);
            }
            let stopping = stop_deadline.is_some();
            let request = if stopping {
                ClaimRequest::default()
            } else {
                self.claim_request(&in_flight, &limits)
            };
            let mut claimed_any = false;
            // One "now" for the claim and for the next due time: a job that
            // fell due between two readings would be missed by both, and a
            // worker run until idle would stop with it still waiting.
            let now = shared.clock.now_ms();
            if !finished.is_empty() || request.generate + request.upload > 0 {
                let batch = std::mem::take(&mut finished);
                let req = request.clone();
                let turn = blocking(&shared, move |s| {
                    s.store.record_and_claim(run_id, now, &batch, &req)
                })
                .await?;
                self.publish_turn(&turn, &mut summary);
                claimed_any = !turn.claimed.is_empty();
                for claimed in turn.claimed {
                    let cancel = CancellationToken::new();
                    in_flight.insert(
                        claimed.job_id,
                        InFlight {
                            phase: claimed.phase,
                            ai: claimed.phase == Phase::Generate && claimed.ai,
                            destination_id: claimed.destination_id,
                            attempts: claimed.attempts,
                            max_attempts: claimed.max_attempts,
                            cancel: cancel.clone(),
                        },
                    );
                    tasks::spawn(ctx.clone(), claimed, cancel, done_tx.clone());
                }
            }
            if stopping && in_flight.is_empty() {
                break;
            }
            let next_due = if claimed_any {
                None
            } else {
                blocking(&shared, move |s| s.store.next_due(now)).await?
            };
            if self.config.until_idle && in_flight.is_empty() && !claimed_any && next_due.is_none()
            {
                break;
            }
            if last_housekeeping.elapsed() >= self.config.poll_interval {
                last_housekeeping = Instant::now();
                self.housekeeping(run_id, &in_flight, &mut limits).await?;
                if last_retention.is_none_or(|t| t.elapsed() >= self.config.retention_every) {
                    last_retention = Some(Instant::now());
                    self.apply_retention().await;
                }
            }
            if claimed_any {
                continue;
            }

            let grace_left = stop_deadline.map(|d| d.saturating_duration_since(Instant::now()));
            tokio::select! {
                Some((job, outcome)) = done_rx.recv() => {
                    self.finish(job, outcome, &mut in_flight, &mut finished, &mut rng);
                }
                _ = shared.notify.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shared.clock.sleep_until(next_due.unwrap_or(i64::MAX)), if next_due.is_some() => {}
                _ = stop.cancelled(), if !stopping => {
                    tracing::info!(running = in_flight.len(), "stopping: letting running jobs finish");
                    stop_deadline = Some(Instant::now() + self.config.shutdown_grace);
                }
                _ = tokio::time::sleep(grace_left.unwrap_or_default()), if grace_left.is_some() => {
                    for job in in_flight.values() {
                        job.cancel.cancel();
                    }
                }
            }
        }

        blocking(&shared, move |s| s.store.end_run(&run)).await?;
        tracing::info!(run = run_id, ?summary, "worker stopped");
        Ok(summary)
    }

    fn claim_request(
        &self,
        in_flight: &HashMap<JobId, InFlight>,
        limits: &HashMap<i64, usize>,
    ) -> ClaimRequest {
        let (mut generating, mut asking_ai) = (0, 0);
        let mut per_destination: HashMap<i64, usize> = HashMap::new();
        for job in in_flight.values() {
            match job.phase {
                Phase::Generate if job.ai => asking_ai += 1,
                Phase::Generate => generating += 1,
                Phase::Upload => *per_destination.entry(job.destination_id).or_default() += 1,
            }
        }
        // A claim cannot choose AI jobs or local ones: room for the local
        // kind, within the room for both.
        let generate_room = self
            .config
            .generate_concurrency
            .saturating_sub(generating)
            .min(
                (self.config.generate_concurrency + self.config.ai_concurrency)
                    .saturating_sub(generating + asking_ai),
            );
        let uploading: usize = per_destination.values().sum();
        let destination_room = limits
            .iter()
            .map(|(id, limit)| {
                let busy = per_destination.get(id).copied().unwrap_or(0);
                (*id, limit.saturating_sub(busy))
            })
            .collect();
        ClaimRequest {
            generate: generate_room,
            upload: self.config.upload_concurrency.saturating_sub(uploading),
            destination_room,
            quarantine_after: self.config.quarantine_after,
            generate_after_ms: self.config.generate_after.as_millis() as i64,
        }
    }

    fn finish(
        &self,
        job: JobId,
        outcome: Outcome,
        in_flight: &mut HashMap<JobId, InFlight>,
        finished: &mut Vec<Finished>,
        rng: &mut fastrand::Rng,
    ) {
        let Some(flight) = in_flight.remove(&job) else {
            return;
        };
        let record = match outcome {
            Outcome::Generated(generated) => Finished::Generated(job, generated),
            Outcome::Delivered(remote, bytes) => Finished::Delivered(job, remote, bytes),
            Outcome::Failed(Failure {
                message,
                retry_after,
                waiting: true,
                ..
            }) => Finished::Waiting {
                job,
                message: one_line(&message),
                retry_at: self.shared.clock.now_ms()
                    + retry_after.map_or(0, |d| d.as_millis() as i64),
            },
            Outcome::Failed(Failure {
                class,
                message,
                retry_after,
                attempt_cap,
                waiting: false,
            }) => {
                let now = self.shared.clock.now_ms();
                let max_attempts =
                    attempt_cap.map_or(flight.max_attempts, |cap| cap.min(flight.max_attempts));
                let retry_at = self.config.retry.retry_at(
                    class,
                    flight.attempts,
                    max_attempts,
                    retry_after,
                    now,
                    rng,
                );
                let message = one_line(&message);
                let message = if class == ErrorClass::Transient && retry_at.is_none() {
                    format!("gave up after {} attempts: {message}", flight.attempts)
                } else {
                    message
                };
                // The server's own pause holds its other jobs too, so they
                // do not each run into the same limit.
                let cool_down_until = retry_after
                    .filter(|_| class == ErrorClass::Transient)
                    .map(|d| now + d.as_millis() as i64);
                Finished::Failed {
                    job,
                    class,
                    message,
                    retry_at,
                    cool_down_until,
                }
            }
            Outcome::Released => Finished::Released {
                job,
                outcome_unknown: flight.phase == Phase::Upload,
            },
        };
        finished.push(record);
    }

    fn publish_turn(&self, turn: &crate::store::Turn, summary: &mut WorkerSummary) {
        let events = &self.shared.events;
        for recorded in &turn.recorded {
            match recorded {
                Recorded::Changed {
                    job,
                    state,
                    phase,
                    error,
                    retry_at,
                    attempts,
                    link,
                } => {
                    match (state, phase) {
                        (JobState::Pending, Phase::Upload) if error.is_none() => {
                            summary.generated += 1
                        }
                        (JobState::Pending, _) => summary.retries_scheduled += 1,
                        (JobState::Completed, _) => summary.completed += 1,
                        (JobState::Failed, _) => summary.failed += 1,
                        (JobState::Cancelled, _) => summary.cancelled += 1,
                        _ => {}
                    }
                    events.publish(Event::JobChanged {
                        job_id: *job,
                        state: *state,
                        phase: *phase,
                        error: error.clone(),
                        retry_at: *retry_at,
                        attempts: *attempts,
                        link: link.clone(),
                    });
                }
                Recorded::Superseded { job } => {
                    tracing::info!(
                        job,
                        "result dropped: the job was changed meanwhile (cancelled?)"
                    );
                }
            }
        }
        for (job, message, attempts) in &turn.quarantined {
            // Quarantined jobs are failed jobs, counted as such everywhere.
            summary.failed += 1;
            summary.quarantined += 1;
            tracing::warn!(job, "job quarantined after repeated crashes");
            events.publish(Event::JobChanged {
                job_id: *job,
                state: JobState::Failed,
                phase: Phase::Generate,
                error: Some((ErrorClass::Permanent, message.clone())),
                retry_at: None,
                attempts: *attempts,
                link: None,
            });
        }
        for (job, attempts, reason) in &turn.capped {
            events.publish(Event::JobChanged {
                job_id: *job,
                state: JobState::Pending,
                phase: Phase::Generate,
                error: reason.clone().map(|r| (ErrorClass::NeedsUser, r)),
                retry_at: None,
                attempts: *attempts,
                link: None,
            });
        }
        for claimed in &turn.claimed {
            events.publish(Event::JobChanged {
                job_id: claimed.job_id,
                state: JobState::Processing,
                phase: claimed.phase,
                error: None,
                retry_at: None,
                attempts: claimed.attempts,
                link: None,
            });
        }
        if events.has_subscribers() {
            match self.shared.store.counts() {
                Ok(counts) => events.publish(Event::CountsChanged { counts }),
                Err(e) => tracing::warn!("cannot read the counts: {e}"),
            }
        }
    }

    /// Recovers runs that died meanwhile, refreshes destination limits, and
    /// stops jobs that no longer belong to this run.
    async fn housekeeping(
        &self,
        run: i64,
        in_flight: &HashMap<JobId, InFlight>,
        limits: &mut HashMap<i64, usize>,
    ) -> Result<()> {
        let runs_dir = self.shared.data.runs();
        blocking(&self.shared, move |s| {
            s.store.reap_dead_runs(&runs_dir, run)
        })
        .await?;
        *limits = destination_limits(&self.shared).await?;
        let ids: Vec<JobId> = in_flight.keys().copied().collect();
        let lost = blocking(&self.shared, move |s| s.store.lost_claims(run, &ids)).await?;
        for job in lost {
            if let Some(flight) = in_flight.get(&job) {
                tracing::info!(job, "stopping a job that was cancelled");
                flight.cancel.cancel();
            }
        }
        Ok(())
    }
}

impl Worker {
    /// Retention is upkeep: a failure is logged, and the queue goes on.
    async fn apply_retention(&self) {
        match blocking(&self.shared, crate::retention::apply).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(jobs = n, "removed finished jobs past the retention rules");
                if let Ok(counts) = blocking(&self.shared, |s| s.store.counts()).await {
                    self.shared
                        .events
                        .publish(crate::events::Event::CountsChanged { counts });
                }
            }
            Err(e) => tracing::warn!("cannot apply the retention rules: {e}"),
        }
        let trim = |s: &Shared| s.store.trim_changes(crate::feed::KEPT_CHANGES);
        if let Err(e) = blocking(&self.shared, trim).await {
            tracing::warn!("cannot trim the change feed's log: {e}");
        }
    }
}

async fn destination_limits(shared: &Arc<Shared>) -> Result<HashMap<i64, usize>> {
    let rows = blocking(shared, |s| s.store.destinations()).await?;
    Ok(rows
        .into_iter()
        .filter_map(|d| d.view.max_concurrent.map(|n| (d.id, n.max(1) as usize)))
        .collect())
}

/// Runs store work on the blocking pool, never on the executor's threads.
pub(crate) async fn blocking<T, F>(shared: &Arc<Shared>, f: F) -> Result<T>
where
    F: FnOnce(&Shared) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || f(&shared))
        .await
        .map_err(|e| {
            Error::io(
                "run",
                "a background task",
                std::io::Error::other(e.to_string()),
            )
        })?
}

/// Error texts from decoders and servers may span lines or end in a newline;
/// the queue panel and `history` show one line per job.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
