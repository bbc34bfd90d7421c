//! The queue's invariants under random sequences of operations, on a real
//! engine over a real SQLite file: adds (some batches sequential, various
//! priorities and attempt budgets), worker runs against a scripted
//! destination that fails transiently or permanently (before or after the
//! bytes arrived), workers killed mid-work, restarts, retries, cancels,
//! pauses, priority changes and clean-ups. After every step the database is
//! read directly and checked; the worker's claims are checked as they happen.
//!
//! A failing case is shrunk to a minimal sequence; proptest keeps its seed in
//! `crates/engine/proptest-regressions/queue_invariants.txt` (commit it).

mod support;

use outbox_engine::destinations::{
    BoxFuture, Delivery, DeliveryError, Destination, DestinationSnapshot, ResolveDestination, Steps,
};
use outbox_engine::pipeline::{Generate, GenerateError, GeneratedImage, LocalPipeline, SourceItem};
use outbox_engine::recipe::Recipe;
use outbox_engine::{
    AddOptions, BatchId, Clock, Engine, EngineOptions, Error, ErrorClass, JobId, JobState, Phase,
    Remote, RetryPolicy, RetryTarget, StateCounts, WorkerConfig,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use tokio_util::sync::CancellationToken;

/// One scripted refusal by the destination; once a job's script is used up,
/// its deliveries succeed.
#[derive(Clone, Debug)]
struct Refusal {
    class: ErrorClass,
    /// The bytes were stored before the error (a 5xx after the body arrived).
    arrived: bool,
    retry_after_s: Option<u64>,
}

#[derive(Clone, Debug)]
enum Op {
    /// New files, one script per item.
    Add {
        scripts: Vec<Vec<Refusal>>,
        priority: i64,
        sequential: bool,
        max_attempts: u32,
    },
    /// The files of an earlier add again (duplicates unless forced or the
    /// earlier jobs failed or were cancelled).
    AddAgain {
        add: Index,
        force: bool,
    },
    /// A copy of an earlier file under a new name: the same content.
    AddCopy {
        add: Index,
    },
    /// Moves the clock, then runs a worker until it can do nothing more.
    Work {
        advance_s: u64,
    },
    /// Runs a worker until it is stuck in the destination or in generation,
    /// kills it there (the bytes of the upload arrived or not), and opens
    /// the engine again.
    Crash {
        arrived: bool,
    },
    /// Closes the engine and opens it again from the same data folder.
    Restart,
    Retry(Index),
    RetryAllFailed,
    RetryBatch(Index),
    Cancel(Index),
    SetPriority(Index, i64),
    PauseQueue,
    ResumeQueue,
    PauseBatch(Index),
    ResumeBatch(Index),
    Clean {
        older_than_s: u64,
    },
}

fn refusal() -> impl Strategy<Value = Refusal> {
    (
        prop_oneof![
            3 => Just(ErrorClass::Transient),
            1 => Just(ErrorClass::Permanent),
            1 => Just(ErrorClass::NeedsUser),
        ],
        prop::bool::weighted(0.3),
        prop::option::weighted(0.3, 1..=20u64),
    )
        .prop_map(|(class, arrived, retry_after_s)| Refusal {
            class,
            arrived,
            retry_after_s,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (
            vec(vec(refusal(), 0..=2), 1..=3),
            0..=2i64,
            prop::bool::weighted(0.4),
            1..=3u32,
        )
            .prop_map(|(scripts, priority, sequential, max_attempts)| Op::Add {
                scripts,
                priority,
                sequential,
                max_attempts,
            }),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(add, force)| Op::AddAgain { add, force }),
        1 => any::<Index>().prop_map(|add| Op::AddCopy { add }),
        5 => prop_oneof![2 => Just(0u64), 1 => 1..=30u64].prop_map(|advance_s| Op::Work { advance_s }),
        1 => any::<bool>().prop_map(|arrived| Op::Crash { arrived }),
        1 => Just(Op::Restart),
        2 => any::<Index>().prop_map(Op::Retry),
        1 => Just(Op::RetryAllFailed),
        1 => any::<Index>().prop_map(Op::RetryBatch),
        2 => any::<Index>().prop_map(Op::Cancel),
        1 => (any::<Index>(), 0..=2i64).prop_map(|(job, p)| Op::SetPriority(job, p)),
        1 => Just(Op::PauseQueue),
        1 => Just(Op::ResumeQueue),
        1 => any::<Index>().prop_map(Op::PauseBatch),
        1 => any::<Index>().prop_map(Op::ResumeBatch),
        1 => prop_oneof![Just(0u64), Just(10), Just(86_400)]
            .prop_map(|older_than_s| Op::Clean { older_than_s }),
    ]
}

/// The claim order: higher priority first, then queue order (manual retries
/// ahead), then first in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rank {
    priority: i64,
    queue_order: i64,
    id: JobId,
}

impl Rank {
    fn key(&self) -> (Reverse<i64>, i64, JobId) {
        (Reverse(self.priority), self.queue_order, self.id)
    }
}

/// Jobs the worker may claim now, per the product's rules: pending, due, not
/// in a paused batch or a paused queue, and for an upload in a sequential
/// batch only once every earlier item is completed or cancelled.
const READY: &str = "SELECT j.id, j.priority, j.queue_order FROM jobs j
     JOIN batches b ON b.id = j.batch_id
    WHERE j.state = 'pending' AND j.phase = ?1 AND j.next_attempt_at <= ?2 AND b.paused = 0
      AND (SELECT value FROM flags WHERE name = 'queue_paused') = 0
      AND (?1 = 'generate' OR NOT EXISTS (
           SELECT 1 FROM destinations d WHERE d.id = j.destination_id AND d.cool_down_until > ?2))
      AND (?1 = 'generate' OR b.sequential = 0 OR NOT EXISTS (
           SELECT 1 FROM jobs e WHERE e.batch_id = j.batch_id AND e.seq < j.seq
              AND e.state NOT IN ('completed', 'cancelled')))
    ORDER BY j.priority DESC, j.queue_order, j.id LIMIT 1";

fn best_ready(conn: &Connection, phase: Phase, now: i64) -> Option<Rank> {
    conn.query_row(READY, params![phase.as_str(), now], |r| {
        Ok(Rank {
            id: r.get(0)?,
            priority: r.get(1)?,
            queue_order: r.get(2)?,
        })
    })
    .optional()
    .expect("read the ready jobs")
}

fn read_only(path: &Path) -> Connection {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the database read-only");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

fn remote(job: JobId) -> Remote {
    Remote {
        id: Some(format!("id-{job}")),
        url: Some(format!("test://{job}")),
    }
}

/// What the test knows beyond the database: the scripts, what arrived at the
/// destination, and what the worker was seen to claim.
struct World {
    db: PathBuf,
    clock: outbox_engine::ManualClock,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    scripts: HashMap<JobId, VecDeque<Refusal>>,
    /// Copies of each job at the destination.
    arrived: HashMap<JobId, u32>,
    /// Automatic claims of each job in each phase since its last manual retry.
    claims: HashMap<(JobId, Phase), u32>,
    /// Jobs held by dead runs when this run started: claimed again first,
    /// without counting an attempt.
    orphans: HashSet<JobId>,
    /// The best job ready in each phase when the last claim of that phase
    /// ended (or the run started): the next claim may not rank below it.
    best: HashMap<Phase, Rank>,
    /// Reconciling found nothing: the delivery that follows is the same claim.
    reconciled: Option<JobId>,
    violations: Vec<String>,
}

impl World {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The worker has just claimed `job` for `phase`.
    fn claimed(&self, seen: &mut Seen, conn: &Connection, phase: Phase, job: JobId) {
        let now = self.clock.now_ms();
        let row = conn
            .query_row(
                "SELECT j.state, j.phase, j.priority, j.queue_order, j.next_attempt_at, b.paused,
                        (SELECT value FROM flags WHERE name = 'queue_paused')
                   FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE j.id = ?1",
                [job],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, bool>(6)?,
                    ))
                },
            )
            .optional()
            .expect("read the claimed job");
        let Some((state, row_phase, priority, queue_order, next_attempt_at, batch_paused, paused)) =
            row
        else {
            seen.violations.push(format!(
                "job {job} was worked on but is not in the database"
            ));
            return;
        };
        if state != "processing" || row_phase != phase.as_str() {
            seen.violations.push(format!(
                "job {job} worked on in phase {phase:?} while it is {state} in phase {row_phase}"
            ));
        }
        if seen.orphans.remove(&job) {
            return;
        }
        *seen.claims.entry((job, phase)).or_default() += 1;
        if next_attempt_at > now {
            seen.violations.push(format!(
                "job {job} claimed for {phase:?} at {now}, before its next attempt at {next_attempt_at}"
            ));
        }
        if batch_paused || paused {
            seen.violations.push(format!(
                "job {job} claimed for {phase:?} with its batch paused ({batch_paused}) or the queue paused ({paused})"
            ));
        }
        let rank = Rank {
            priority,
            queue_order,
            id: job,
        };
        if let Some(best) = seen.best.get(&phase) {
            if best.key() < rank.key() {
                seen.violations.push(format!(
                    "job {job} ({rank:?}) claimed for {phase:?} while job {} ({best:?}) was ready ahead of it",
                    best.id
                ));
            }
        }
    }

    /// A claim of `phase` has ended: what is ready now must go first next.
    fn claim_ended(&self, seen: &mut Seen, conn: &Connection, phase: Phase) {
        match best_ready(conn, phase, self.clock.now_ms()) {
            Some(best) => seen.best.insert(phase, best),
            None => seen.best.remove(&phase),
        };
    }

    /// The destination stores `job`'s bytes.
    fn arrive(&self, seen: &mut Seen, conn: &Connection, job: JobId) {
        let copies = seen.arrived.entry(job).or_default();
        *copies += 1;
        if *copies > 1 {
            seen.violations
                .push(format!("job {job} was delivered {copies} times"));
        }
        let mut stmt = conn
            .prepare(
                "SELECT e.seq, e.id, e.state FROM jobs j
                   JOIN batches b ON b.id = j.batch_id
                   JOIN jobs e ON e.batch_id = j.batch_id AND e.seq < j.seq
                  WHERE j.id = ?1 AND b.sequential = 1
                    AND e.state NOT IN ('completed', 'cancelled')",
            )
            .expect("prepare");
        let waiting: Vec<(i64, JobId, String)> = stmt
            .query_map([job], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("read earlier items")
            .collect::<rusqlite::Result<_>>()
            .expect("read earlier items");
        if !waiting.is_empty() {
            seen.violations.push(format!(
                "job {job} of a sequential batch delivered before earlier items (seq, job, state) {waiting:?}"
            ));
        }
    }
}

/// The generator and the destination of one worker run.
struct RunHooks {
    world: Arc<World>,
    /// The newest run before this one: jobs of runs up to it are orphans.
    before_run: i64,
    /// Crash mode: generations wait and deliveries never answer, until the
    /// run is killed; `true` when the bytes arrive before the silence.
    crash: Option<bool>,
    killed: AtomicBool,
    blocked_generations: AtomicUsize,
    hung_uploads: AtomicUsize,
}

impl RunHooks {
    fn blocked(&self) -> usize {
        self.blocked_generations.load(Ordering::SeqCst) + self.hung_uploads.load(Ordering::SeqCst)
    }

    /// What a delivery of `job` does; `None` is never answering.
    fn on_deliver(&self, job: JobId) -> Option<Result<Remote, DeliveryError>> {
        if self.killed.load(Ordering::SeqCst) {
            return None;
        }
        let world = &self.world;
        let conn = read_only(&world.db);
        let mut seen = world.seen();
        if seen.reconciled.take() != Some(job) {
            world.claimed(&mut seen, &conn, Phase::Upload, job);
        }
        if let Some(arrived) = self.crash {
            if arrived {
                world.arrive(&mut seen, &conn, job);
            }
            self.hung_uploads.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        let refusal = seen.scripts.get_mut(&job).and_then(|s| s.pop_front());
        let answer = match refusal {
            None => {
                world.arrive(&mut seen, &conn, job);
                Ok(remote(job))
            }
            Some(r) => {
                if r.arrived {
                    world.arrive(&mut seen, &conn, job);
                }
                Err(DeliveryError {
                    retry_after: r.retry_after_s.map(Duration::from_secs),
                    ..DeliveryError::new(r.class, format!("scripted {:?} refusal", r.class))
                })
            }
        };
        world.claim_ended(&mut seen, &conn, Phase::Upload);
        Some(answer)
    }

    fn on_reconcile(&self, job: JobId) -> Option<Option<Remote>> {
        if self.killed.load(Ordering::SeqCst) {
            return None;
        }
        let world = &self.world;
        let conn = read_only(&world.db);
        let mut seen = world.seen();
        world.claimed(&mut seen, &conn, Phase::Upload, job);
        if seen.arrived.get(&job).copied().unwrap_or(0) > 0 {
            world.claim_ended(&mut seen, &conn, Phase::Upload);
            Some(Some(remote(job)))
        } else {
            seen.reconciled = Some(job);
            Some(None)
        }
    }
}

impl Generate for RunHooks {
    fn generate(
        &self,
        item: SourceItem<'_>,
        recipe: &Recipe,
    ) -> Result<GeneratedImage, GenerateError> {
        let world = &self.world;
        let conn = read_only(&world.db);
        // Only one generation runs at a time: the job of this run generating
        // this file is the one.
        let job: Option<JobId> = conn
            .query_row(
                "SELECT j.id FROM jobs j JOIN items i ON i.id = j.item_id
                  WHERE j.state = 'processing' AND j.phase = 'generate' AND j.run_id > ?1
                    AND i.source_path = ?2",
                params![self.before_run, item.path.to_string_lossy()],
                |r| r.get(0),
            )
            .optional()
            .expect("find the generating job");
        match job {
            Some(job) => world.claimed(&mut world.seen(), &conn, Phase::Generate, job),
            None => world.seen().violations.push(format!(
                "{} generated for no job of this run",
                item.path.display()
            )),
        }
        if self.crash.is_some() {
            self.blocked_generations.fetch_add(1, Ordering::SeqCst);
            // Bounded: the run is killed as soon as it is stuck.
            for _ in 0..30_000 {
                if self.killed.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            self.blocked_generations.fetch_sub(1, Ordering::SeqCst);
            return Err(GenerateError {
                class: ErrorClass::Transient,
                message: "the run was killed".into(),
            });
        }
        let generated = LocalPipeline::default().generate(item, recipe);
        world.claim_ended(&mut world.seen(), &conn, Phase::Generate);
        generated
    }
}

impl Destination for RunHooks {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
        _steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move {
            match self.on_deliver(d.job_id) {
                Some(answer) => answer,
                None => std::future::pending().await,
            }
        })
    }

    fn reconcile<'a>(
        &'a self,
        d: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async move {
            match self.on_reconcile(d.job_id) {
                Some(answer) => Ok(answer),
                None => std::future::pending().await,
            }
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(async { Ok("scripted".into()) })
    }
}

struct ToHooks(Arc<RunHooks>);

impl ResolveDestination for ToHooks {
    fn resolve(&self, _: &DestinationSnapshot) -> Result<Arc<dyn Destination>, DeliveryError> {
        Ok(self.0.clone())
    }
}

/// Lets blocked generations return however the run ends (a failed
/// assertion included), so the runtime can shut down.
struct KillOnDrop(Arc<RunHooks>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.killed.store(true, Ordering::SeqCst);
    }
}

/// Whether the worker can do nothing more: everything it holds is stuck in
/// the hooks, and each phase is either busy or has nothing ready (orphans
/// included).
fn settled(conn: &Connection, hooks: &RunHooks, now: i64) -> bool {
    // The hooks first: a job they count is already processing in the database.
    let busy = [
        (
            Phase::Generate,
            hooks.blocked_generations.load(Ordering::SeqCst),
        ),
        (Phase::Upload, hooks.hung_uploads.load(Ordering::SeqCst)),
    ];
    let blocked: usize = busy.iter().map(|(_, n)| n).sum();
    conn.execute_batch("BEGIN").expect("begin");
    let result = (|| {
        let paused: bool = conn
            .query_row(
                "SELECT value FROM flags WHERE name = 'queue_paused'",
                [],
                |r| r.get(0),
            )
            .expect("read the queue flag");
        if paused {
            return true;
        }
        let live: usize = conn
            .query_row(
                "SELECT count(*) FROM jobs WHERE state = 'processing' AND run_id > ?1",
                [hooks.before_run],
                |r| r.get(0),
            )
            .expect("count live claims");
        if live != blocked {
            return false;
        }
        busy.iter().all(|&(phase, n)| {
            let orphans: usize = conn
                .query_row(
                    "SELECT count(*) FROM jobs WHERE state = 'processing' AND phase = ?1
                       AND run_id <= ?2",
                    params![phase.as_str(), hooks.before_run],
                    |r| r.get(0),
                )
                .expect("count orphans");
            n > 0 || (orphans == 0 && best_ready(conn, phase, now).is_none())
        })
    })();
    conn.execute_batch("COMMIT").expect("commit");
    result
}

/// What the test expects of the database, beyond the rules checked on it.
#[derive(Default)]
struct Model {
    /// The jobs that must be in the database.
    jobs: BTreeSet<JobId>,
    /// Every job and batch ever made, as targets of actions.
    ever_jobs: Vec<JobId>,
    batches: Vec<BatchId>,
    /// The files of each add.
    adds: Vec<Vec<PathBuf>>,
    queue_paused: bool,
    /// Worker runs that died since the last worker started.
    dead_runs: usize,
}

struct Case {
    bed: TestBed,
    world: Arc<World>,
    model: Model,
}

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        // One at a time per phase, so the order of claims is defined.
        generate_concurrency: 1,
        upload_concurrency: 1,
        retry: RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            jitter: 0.5,
        },
        ..fast_worker()
    }
}

impl Case {
    fn new() -> Case {
        let bed = TestBed::new();
        let world = Arc::new(World {
            db: bed.engine.database_path().to_path_buf(),
            clock: bed.clock.clone(),
            seen: Mutex::new(Seen::default()),
        });
        Case {
            bed,
            world,
            model: Model::default(),
        }
    }

    fn conn(&self) -> Connection {
        read_only(&self.world.db)
    }

    fn state_of(&self, job: JobId) -> Option<JobState> {
        self.conn()
            .query_row("SELECT state FROM jobs WHERE id = ?1", [job], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .expect("read a job's state")
            .map(|s| JobState::parse(&s).expect("a valid state"))
    }

    fn batch_exists(&self, batch: BatchId) -> bool {
        self.conn()
            .query_row("SELECT 1 FROM batches WHERE id = ?1", [batch], |_| Ok(()))
            .optional()
            .expect("read a batch")
            .is_some()
    }

    /// Another active job with the same source or content key, which a
    /// retry of `job` would duplicate.
    fn duplicate_of(&self, job: JobId) -> Option<JobId> {
        self.conn()
            .query_row(
                "SELECT o.id FROM jobs j JOIN jobs o
                     ON o.id <> j.id AND o.state NOT IN ('failed', 'cancelled')
                    AND (o.source_key = j.source_key OR o.content_key = j.content_key)
                  WHERE j.id = ?1 LIMIT 1",
                [job],
                |r| r.get(0),
            )
            .optional()
            .expect("look for duplicates")
    }

    fn ids_where(&self, sql: &str, p: impl rusqlite::Params) -> BTreeSet<JobId> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).expect("prepare");
        let ids = stmt
            .query_map(p, |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("read ids");
        ids
    }

    fn reopen(&mut self) {
        let options = EngineOptions {
            data_dir: Some(self.bed.engine.data_dir().to_path_buf()),
            clock: Arc::new(self.bed.clock.clone()),
            ..EngineOptions::default()
        };
        self.bed.engine = Engine::open(options).expect("reopen the engine");
    }

    fn forget_attempts(&self, jobs: &[JobId]) {
        let mut seen = self.world.seen();
        for &job in jobs {
            seen.claims.remove(&(job, Phase::Generate));
            seen.claims.remove(&(job, Phase::Upload));
        }
    }

    fn add(&mut self, paths: Vec<PathBuf>, options: AddOptions) -> Vec<JobId> {
        let report = self.bed.engine.add(&paths, &options).expect("add");
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!(report.batch_id.is_some(), !report.added.is_empty());
        // Ids are never given again, not even those of cleaned jobs: caches,
        // saved AI images and windows know jobs by id.
        for &job in &report.added {
            assert!(
                !self.model.ever_jobs.contains(&job),
                "job id {job} given again"
            );
            self.model.jobs.insert(job);
            self.model.ever_jobs.push(job);
        }
        if let Some(batch) = report.batch_id {
            assert!(
                !self.model.batches.contains(&batch),
                "batch id {batch} given again"
            );
            self.model.batches.push(batch);
        }
        if !options.force {
            // A file is a duplicate exactly when an active job has its key.
            let conn = self.conn();
            for d in &report.duplicates {
                let (path, state): (String, String) = conn
                    .query_row(
                        "SELECT i.source_path, j.state FROM jobs j JOIN items i ON i.id = j.item_id
                          WHERE j.id = ?1",
                        [d.existing_job],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .expect("the job a duplicate names exists");
                assert_eq!(Path::new(&path), d.path);
                assert!(
                    state != "failed" && state != "cancelled",
                    "{d:?} is {state}"
                );
            }
        } else {
            assert!(report.duplicates.is_empty());
        }
        assert_eq!(report.added.len() + report.duplicates.len(), paths.len());
        report.added
    }

    /// Runs a worker until it can do nothing more; in crash mode, until it
    /// is stuck, then kills it there. Returns whether it was killed.
    async fn run_worker(&mut self, crash: Option<bool>) -> bool {
        let conn = self.conn();
        let now = self.bed.clock.now_ms();
        let before_run: i64 = conn
            .query_row("SELECT coalesce(max(id), 0) FROM runs", [], |r| r.get(0))
            .expect("read runs");
        let orphans = self.ids_where("SELECT id FROM jobs WHERE state = 'processing'", []);
        {
            let mut seen = self.world.seen();
            seen.orphans = orphans.into_iter().collect();
            seen.reconciled = None;
            seen.best.clear();
            for phase in [Phase::Generate, Phase::Upload] {
                if let Some(best) = best_ready(&conn, phase, now) {
                    seen.best.insert(phase, best);
                }
            }
        }
        let hooks = Arc::new(RunHooks {
            world: self.world.clone(),
            before_run,
            crash,
            killed: AtomicBool::new(false),
            blocked_generations: AtomicUsize::new(0),
            hung_uploads: AtomicUsize::new(0),
        });
        let _kill = KillOnDrop(hooks.clone());
        let stop = CancellationToken::new();
        let running = tokio::spawn(
            self.bed
                .engine
                .worker(worker_config())
                .with_generator(hooks.clone())
                .with_destinations(Arc::new(ToHooks(hooks.clone())))
                .run(stop.clone()),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !settled(&conn, &hooks, now) {
            assert!(
                Instant::now() < deadline,
                "the worker never settled: {:?}",
                self.dump()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if hooks.blocked() > 0 {
            running.abort();
            let _ = running.await;
            hooks.killed.store(true, Ordering::SeqCst);
            for _ in 0..5000 {
                if hooks.blocked_generations.load(Ordering::SeqCst) == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // It found the runs that died before it, then died itself.
            self.model.dead_runs = 1;
            true
        } else {
            stop.cancel();
            let summary = running
                .await
                .expect("the worker task")
                .expect("the worker run");
            assert_eq!(
                summary.dead_runs_found, self.model.dead_runs,
                "recovery finds the runs that died"
            );
            self.model.dead_runs = 0;
            false
        }
    }

    fn dump(&self) -> Vec<(JobId, String, String, Option<i64>, i64)> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, state, phase, run_id, next_attempt_at FROM jobs ORDER BY id")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("read jobs");
        rows
    }

    async fn apply(&mut self, op: &Op) {
        let engine = self.bed.engine.clone();
        match op {
            Op::Add {
                scripts,
                priority,
                sequential,
                max_attempts,
            } => {
                let prefix = format!("a{}_", self.model.adds.len());
                let paths = self.bed.images(&prefix, scripts.len());
                let jobs = self.add(
                    paths.clone(),
                    AddOptions {
                        priority: *priority,
                        sequential: *sequential,
                        max_attempts: *max_attempts,
                        ..to("out")
                    },
                );
                assert_eq!(jobs.len(), paths.len(), "new files are never duplicates");
                let mut seen = self.world.seen();
                for (job, script) in jobs.iter().zip(scripts) {
                    seen.scripts.insert(*job, script.iter().cloned().collect());
                }
                drop(seen);
                self.model.adds.push(paths);
            }
            Op::AddAgain { add, force } => {
                if self.model.adds.is_empty() {
                    return;
                }
                let paths = add.get(&self.model.adds).clone();
                self.add(
                    paths,
                    AddOptions {
                        force: *force,
                        ..to("out")
                    },
                );
            }
            Op::AddCopy { add } => {
                if self.model.adds.is_empty() {
                    return;
                }
                let original = add.get(&self.model.adds)[0].clone();
                let copy = self.bed.path(&format!("copy{}.png", self.model.adds.len()));
                std::fs::copy(&original, &copy).expect("copy an image");
                let jobs = self.add(vec![copy.clone()], to("out"));
                assert_eq!(jobs.len(), 1, "another name is another source");
                self.model.adds.push(vec![copy]);
            }
            Op::Work { advance_s } => {
                self.bed.clock.advance(Duration::from_secs(*advance_s));
                self.run_worker(None).await;
            }
            Op::Crash { arrived } => {
                self.run_worker(Some(*arrived)).await;
                self.reopen();
            }
            Op::Restart => self.reopen(),
            Op::Retry(job) => {
                let Some(&job) = pick(job, &self.model.ever_jobs) else {
                    return;
                };
                let before = self.state_of(job);
                let duplicate = self.duplicate_of(job);
                let result = engine.retry(&RetryTarget::Jobs(vec![job]));
                match (before, result) {
                    (None, Err(Error::NoSuchJob(j))) => assert_eq!(j, job),
                    (Some(from), Err(Error::InvalidTransition { from: f, to, .. }))
                        if !is_retryable(from) =>
                    {
                        assert_eq!((f, to), (from, JobState::Pending))
                    }
                    (Some(from), Err(Error::RetryWouldDuplicate { existing, .. }))
                        if is_retryable(from) && duplicate.is_some() =>
                    {
                        assert!(self
                            .state_of(existing)
                            .is_some_and(|s| s != JobState::Failed && s != JobState::Cancelled));
                    }
                    (Some(from), Ok(report)) if is_retryable(from) && duplicate.is_none() => {
                        assert_eq!(report.retried, [job]);
                        self.forget_attempts(&[job]);
                        assert_eq!(self.state_of(job), Some(JobState::Pending));
                    }
                    (before, result) => panic!(
                        "retry of job {job} ({before:?}, duplicate of {duplicate:?}) gave {result:?}"
                    ),
                }
            }
            Op::RetryAllFailed => {
                let failed = self.ids_where("SELECT id FROM jobs WHERE state = 'failed'", []);
                let report = engine
                    .retry(&RetryTarget::AllFailed)
                    .expect("retry all failed");
                self.check_retry(failed, report);
            }
            Op::RetryBatch(batch) => {
                let Some(&batch) = pick(batch, &self.model.batches) else {
                    return;
                };
                let exists = self.batch_exists(batch);
                let failed = self.ids_where(
                    "SELECT id FROM jobs WHERE state = 'failed' AND batch_id = ?1",
                    [batch],
                );
                match engine.retry(&RetryTarget::Batch(batch)) {
                    Ok(report) if exists => self.check_retry(failed, report),
                    Err(Error::NoSuchBatch(b)) if !exists => assert_eq!(b, batch),
                    other => panic!("retry of batch {batch} (exists: {exists}) gave {other:?}"),
                }
            }
            Op::Cancel(job) => {
                let Some(&job) = pick(job, &self.model.ever_jobs) else {
                    return;
                };
                let before = self.state_of(job);
                match (before, engine.cancel(&[job])) {
                    (None, Err(Error::NoSuchJob(j))) => assert_eq!(j, job),
                    (Some(from), Ok(())) if from.can_become(JobState::Cancelled) => {
                        assert_eq!(self.state_of(job), Some(JobState::Cancelled))
                    }
                    (Some(from), Err(Error::InvalidTransition { from: f, to, .. }))
                        if !from.can_become(JobState::Cancelled) =>
                    {
                        assert_eq!((f, to), (from, JobState::Cancelled))
                    }
                    (before, result) => panic!("cancel of job {job} ({before:?}) gave {result:?}"),
                }
            }
            Op::SetPriority(job, priority) => {
                let Some(&job) = pick(job, &self.model.ever_jobs) else {
                    return;
                };
                let before = self.state_of(job);
                match (before, engine.set_priority(&[job], *priority)) {
                    (None, Err(Error::NoSuchJob(j))) => assert_eq!(j, job),
                    (Some(s), Err(Error::InvalidSetting(_))) if s.is_finished() => {}
                    (Some(s), Ok(())) if !s.is_finished() => {
                        assert_eq!(
                            engine
                                .job(job)
                                .expect("read the job")
                                .expect("the job")
                                .priority,
                            *priority
                        )
                    }
                    (before, result) => {
                        panic!("priority of job {job} ({before:?}) gave {result:?}")
                    }
                }
            }
            Op::PauseQueue | Op::ResumeQueue => {
                let pause = matches!(op, Op::PauseQueue);
                let n = if pause {
                    engine.pause(None)
                } else {
                    engine.resume(None)
                };
                assert_eq!(n.expect("pause or resume the queue"), 0);
                self.model.queue_paused = pause;
            }
            Op::PauseBatch(batch) | Op::ResumeBatch(batch) => {
                let Some(&batch) = pick(batch, &self.model.batches) else {
                    return;
                };
                let pause = matches!(op, Op::PauseBatch(_));
                let (from, to) = if pause {
                    (JobState::Pending, JobState::Paused)
                } else {
                    (JobState::Paused, JobState::Pending)
                };
                let exists = self.batch_exists(batch);
                let moving = self.ids_where(
                    "SELECT id FROM jobs WHERE batch_id = ?1 AND state = ?2",
                    params![batch, from.as_str()],
                );
                let result = if pause {
                    engine.pause(Some(batch))
                } else {
                    engine.resume(Some(batch))
                };
                match result {
                    Ok(n) if exists => {
                        assert_eq!(n, moving.len() as u64, "jobs moved by {op:?}");
                        for job in moving {
                            assert_eq!(self.state_of(job), Some(to));
                        }
                        let view = engine.batch(batch).unwrap().expect("the batch");
                        assert_eq!(view.paused, pause);
                    }
                    Err(Error::NoSuchBatch(b)) if !exists => assert_eq!(b, batch),
                    other => panic!("{op:?} on batch {batch} (exists: {exists}) gave {other:?}"),
                }
            }
            Op::Clean { older_than_s } => {
                let cutoff = self.bed.clock.now_ms() - *older_than_s as i64 * 1000;
                let doomed = self.ids_where(
                    "SELECT id FROM jobs WHERE finished_at < ?1
                        AND state IN ('completed', 'failed', 'cancelled')",
                    [cutoff],
                );
                let removed = engine
                    .clean(Duration::from_secs(*older_than_s))
                    .expect("clean");
                assert_eq!(removed, doomed.len() as u64, "jobs cleaned");
                for job in doomed {
                    self.model.jobs.remove(&job);
                }
            }
        }
    }

    /// A retry of many jobs puts back each failed one, or names the job it
    /// would now duplicate.
    fn check_retry(&self, failed: BTreeSet<JobId>, report: outbox_engine::RetryReport) {
        self.forget_attempts(&report.retried);
        let mut answered: BTreeSet<JobId> = report.retried.iter().copied().collect();
        for job in &report.retried {
            assert_eq!(self.state_of(*job), Some(JobState::Pending));
        }
        for refusal in &report.refused {
            let Error::RetryWouldDuplicate { job, existing } = refusal else {
                panic!("unexpected refusal {refusal:?}");
            };
            assert_eq!(self.state_of(*job), Some(JobState::Failed));
            assert!(self
                .state_of(*existing)
                .is_some_and(|s| s != JobState::Failed && s != JobState::Cancelled));
            assert!(answered.insert(*job), "job {job} answered twice");
        }
        assert_eq!(answered, failed, "every failed job is retried or refused");
    }

    /// Every invariant, read from the database itself.
    fn check(&self, after: &Op) {
        let conn = self.conn();
        let violations = std::mem::take(&mut self.world.seen().violations);
        assert!(violations.is_empty(), "after {after:?}: {violations:#?}");
        let seen = self.world.seen();

        type Row = (
            JobId,
            BatchId,
            String,
            String,
            Option<i64>,
            u32,
            u32,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
            Option<bool>,
        );
        let mut stmt = conn
            .prepare(
                "SELECT j.id, j.batch_id, j.state, j.phase, j.run_id, j.attempts, j.max_attempts,
                        j.finished_at, o.path, j.error_class, j.error_message, j.next_attempt_at,
                        j.remote_id, b.paused
                   FROM jobs j
                   LEFT JOIN batches b ON b.id = j.batch_id
                   LEFT JOIN outputs o ON o.id = j.output_id
                  ORDER BY j.id",
            )
            .expect("prepare");
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                ))
            })
            .expect("query jobs")
            .collect::<rusqlite::Result<_>>()
            .expect("read jobs");

        let mut counts: HashMap<JobState, u64> = HashMap::new();
        let mut by_batch: BTreeMap<BatchId, HashMap<JobState, u64>> = BTreeMap::new();
        let mut processing = Vec::new();
        for (
            id,
            batch,
            state,
            phase,
            run_id,
            attempts,
            max_attempts,
            finished_at,
            output,
            error_class,
            error_message,
            next_attempt_at,
            remote_id,
            batch_paused,
        ) in &rows
        {
            let what = format!("after {after:?}: job {id} ({state}, {phase})");
            let state = JobState::parse(state).unwrap_or_else(|| panic!("{what}: unknown state"));
            let phase = match phase.as_str() {
                "generate" => Phase::Generate,
                "upload" => Phase::Upload,
                _ => panic!("{what}: unknown phase"),
            };
            *counts.entry(state).or_default() += 1;
            *by_batch
                .entry(*batch)
                .or_default()
                .entry(state)
                .or_default() += 1;
            let batch_paused = batch_paused.unwrap_or_else(|| panic!("{what}: its batch is gone"));
            assert_eq!(
                state == JobState::Processing,
                run_id.is_some(),
                "{what}: held by run {run_id:?}"
            );
            if state == JobState::Processing {
                processing.push(*id);
            }
            assert_eq!(
                state.is_finished(),
                finished_at.is_some(),
                "{what}: finished at {finished_at:?}"
            );
            if state == JobState::Paused {
                assert!(batch_paused, "{what}: paused in a batch that is not");
            }
            assert!(
                attempts <= max_attempts,
                "{what}: {attempts} attempts of {max_attempts}"
            );
            assert_eq!(
                *attempts,
                seen.claims.get(&(*id, phase)).copied().unwrap_or(0),
                "{what}: attempts against claims seen since the last manual retry"
            );
            if error_class.as_deref() == Some("transient") {
                match state {
                    JobState::Pending => assert!(
                        attempts < max_attempts && *next_attempt_at > 0,
                        "{what}: waiting to retry after {attempts} of {max_attempts}"
                    ),
                    JobState::Failed => {
                        assert_eq!(attempts, max_attempts, "{what}: gave up early");
                        assert!(
                            error_message
                                .as_deref()
                                .is_some_and(|m| m.starts_with("gave up after")),
                            "{what}: {error_message:?}"
                        );
                    }
                    _ => {}
                }
            }
            if phase == Phase::Upload {
                let output = output
                    .as_ref()
                    .unwrap_or_else(|| panic!("{what}: uploads without an output"));
                if !state.is_finished() {
                    assert!(Path::new(output).is_file(), "{what}: output file missing");
                }
            }
            let copies = seen.arrived.get(id).copied().unwrap_or(0);
            assert!(copies <= 1, "{what}: delivered {copies} times");
            if state == JobState::Completed {
                assert_eq!(phase, Phase::Upload, "{what}");
                assert_eq!(copies, 1, "{what}: completed but never delivered");
                assert_eq!(remote_id.as_deref(), Some(&*format!("id-{id}")), "{what}");
            }
        }

        // No job lost: ids leave only by a clean-up of finished jobs.
        let ids: BTreeSet<JobId> = rows.iter().map(|r| r.0).collect();
        assert_eq!(
            ids, self.model.jobs,
            "after {after:?}: the jobs in the database"
        );

        let expected = state_counts(|s| counts.get(&s).copied().unwrap_or(0));
        let kept: HashMap<String, i64> = query_pairs(&conn, "SELECT state, n FROM state_counts");
        for state in JobState::ALL {
            assert_eq!(
                kept.get(state.as_str()).copied(),
                Some(expected.get(state) as i64),
                "after {after:?}: kept count of {state}"
            );
        }
        let engine = &self.bed.engine;
        let status = engine.status().expect("status");
        assert_eq!(status.counts, expected, "after {after:?}: status counts");
        assert_eq!(engine.counts().expect("counts"), expected);
        assert_eq!(
            status.queue_paused, self.model.queue_paused,
            "after {after:?}"
        );
        let in_flight: Vec<JobId> = status.in_flight.iter().map(|j| j.id).collect();
        assert_eq!(in_flight, processing, "after {after:?}: jobs in flight");

        // Per batch: the kept rows, the batch views, and no empty batch.
        let mut kept_batches: BTreeMap<BatchId, HashMap<JobState, u64>> = BTreeMap::new();
        let mut stmt = conn
            .prepare("SELECT batch_id, state, n FROM batch_counts")
            .expect("prepare");
        let kept_rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, BatchId>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .expect("query batch counts");
        for row in kept_rows {
            let (batch, state, n) = row.expect("a batch count");
            assert!(n >= 0, "after {after:?}: batch {batch} counts {n} {state}");
            if n > 0 {
                let state = JobState::parse(&state).expect("a valid state");
                kept_batches
                    .entry(batch)
                    .or_default()
                    .insert(state, n as u64);
            }
        }
        assert_eq!(kept_batches, by_batch, "after {after:?}: kept batch counts");
        let batch_rows: BTreeSet<BatchId> = self.ids_where("SELECT id FROM batches", []);
        let with_jobs: BTreeSet<BatchId> = by_batch.keys().copied().collect();
        assert_eq!(
            batch_rows, with_jobs,
            "after {after:?}: batches without jobs"
        );
        for (batch, states) in &by_batch {
            let view = engine.batch(*batch).expect("batch").expect("the batch");
            let expected = state_counts(|s| states.get(&s).copied().unwrap_or(0));
            assert_eq!(view.counts, expected, "after {after:?}: batch {batch}");
        }
        for view in &status.batches {
            let states = &by_batch[&view.id];
            let expected = state_counts(|s| states.get(&s).copied().unwrap_or(0));
            assert_eq!(
                view.counts, expected,
                "after {after:?}: status of batch {}",
                view.id
            );
        }

        // One item per job, no item or output left without one.
        let items: i64 = conn
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .expect("count items");
        let loose: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM jobs j WHERE NOT EXISTS
                           (SELECT 1 FROM items i WHERE i.id = j.item_id))
                      + (SELECT count(*) FROM outputs o WHERE NOT EXISTS
                           (SELECT 1 FROM items i WHERE i.id = o.item_id))",
                [],
                |r| r.get(0),
            )
            .expect("count loose rows");
        assert_eq!((items, loose), (rows.len() as i64, 0), "after {after:?}");
    }

    /// Lets everything run that can: what is left waits on a failed item
    /// of its sequential batch.
    async fn drain(&mut self) {
        let engine = self.bed.engine.clone();
        engine.resume(None).expect("resume the queue");
        self.model.queue_paused = false;
        let batches = self.ids_where("SELECT id FROM batches WHERE paused = 1", []);
        for batch in batches {
            engine.resume(Some(batch)).expect("resume a batch");
        }
        let drain = Op::Work { advance_s: 60 };
        // Each server pause holds the destination until the clock moves, so
        // a run of 429s takes a round each.
        for _ in 0..100 {
            self.bed.clock.advance(Duration::from_secs(60));
            self.run_worker(None).await;
            self.check(&drain);
            // Jobs waiting for their retry, or held by a destination's pause
            // (which a job that then failed for good may have asked for).
            let waiting = self.ids_where(
                "SELECT id FROM jobs WHERE state = 'pending' AND next_attempt_at > ?1
                 UNION ALL SELECT id FROM destinations WHERE cool_down_until > ?1",
                [self.bed.clock.now_ms()],
            );
            if waiting.is_empty() {
                break;
            }
        }
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT j.id, j.state, j.phase, b.sequential,
                        (SELECT e.state FROM jobs e WHERE e.batch_id = j.batch_id AND e.seq < j.seq
                            AND e.state NOT IN ('completed', 'cancelled') ORDER BY e.seq LIMIT 1)
                   FROM jobs j JOIN batches b ON b.id = j.batch_id
                  WHERE j.state NOT IN ('completed', 'failed', 'cancelled')",
            )
            .expect("prepare");
        let left = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, JobId>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .expect("query");
        for row in left {
            let (job, state, phase, sequential, first_earlier) = row.expect("a job");
            assert!(
                state == "pending"
                    && phase == "upload"
                    && sequential
                    && first_earlier.as_deref() == Some("failed"),
                "job {job} ({state}, {phase}, sequential {sequential}, first unfinished earlier item {first_earlier:?}) never ran"
            );
        }
    }
}

fn pick<'a, T>(index: &Index, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| index.get(items))
}

/// A user's retry takes failed and cancelled jobs only.
fn is_retryable(state: JobState) -> bool {
    matches!(state, JobState::Failed | JobState::Cancelled)
}

fn state_counts(n: impl Fn(JobState) -> u64) -> StateCounts {
    StateCounts {
        pending: n(JobState::Pending),
        processing: n(JobState::Processing),
        completed: n(JobState::Completed),
        failed: n(JobState::Failed),
        paused: n(JobState::Paused),
        cancelled: n(JobState::Cancelled),
        total: JobState::ALL.into_iter().map(&n).sum(),
    }
}

fn query_pairs(conn: &Connection, sql: &str) -> HashMap<String, i64> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let pairs = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("read pairs");
    pairs
}

async fn run_case(ops: Vec<Op>) {
    let mut case = Case::new();
    case.check(&Op::Restart);
    for op in &ops {
        case.apply(op).await;
        case.check(op);
    }
    case.drain().await;
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Relative to the package (cargo runs tests there).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/queue_invariants.txt",
        ))),
        // A failing case is shrunk for at most two minutes.
        max_shrink_time: 120_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_queue_keeps_its_invariants_through_any_sequence_of_operations(
        ops in vec(op(), 1..=30)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(run_case(ops));
    }
}
