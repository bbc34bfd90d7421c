//! Shared pieces of the engine tests: real images on disk, destinations whose
//! behaviour a test scripts, and waiting for the worker without sleeping blind.
#![allow(dead_code)]

use outbox_engine::destinations::{
    BoxFuture, Delivery, DeliveryError, Destination, DestinationSnapshot, ResolveDestination, Steps,
};
use outbox_engine::{
    AddOptions, Clock, DestinationView, Engine, EngineOptions, JobId, JobView, ManualClock, Remote,
    WorkerConfig, WorkerSummary,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const START_MS: i64 = 1_700_000_000_000;

pub struct TestBed {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub clock: ManualClock,
}

impl TestBed {
    pub fn new() -> Self {
        Self::with_options(|_| {})
    }

    /// A test bed whose engine options `adjust` changes first.
    pub fn with_options(adjust: impl FnOnce(&mut EngineOptions)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(START_MS);
        let mut options = EngineOptions {
            data_dir: Some(dir.path().join("data")),
            clock: Arc::new(clock.clone()) as Arc<dyn Clock>,
            ..EngineOptions::default()
        };
        adjust(&mut options);
        let engine = Engine::open(options).expect("open engine");
        std::fs::create_dir_all(dir.path().join("out")).expect("out dir");
        engine
            .add_destination(
                DestinationView {
                    name: "out".into(),
                    kind: "folder".into(),
                    settings: serde_json::json!({ "path": dir.path().join("out") }),
                    max_concurrent: None,
                },
                None,
            )
            .expect("add destination");
        TestBed { dir, engine, clock }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `n` distinct small PNGs named `{prefix}{i}.png`.
    pub fn images(&self, prefix: &str, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let path = self.path(&format!("{prefix}{i}.png"));
                let seed = prefix.bytes().fold(i as u32, |h, b| {
                    h.wrapping_mul(131).wrapping_add(u32::from(b))
                });
                write_png(&path, 16, 12, seed);
                path
            })
            .collect()
    }

    pub fn add(&self, paths: &[PathBuf], options: AddOptions) -> Vec<JobId> {
        let report = self.engine.add(paths, &options).expect("add");
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        report.added
    }

    /// Runs a worker with `config` until it stops, delivering to `dest`.
    pub async fn run_with(&self, config: WorkerConfig, dest: &Arc<Scripted>) -> WorkerSummary {
        self.engine
            .worker(config)
            .with_destinations(Arc::new(AllTo(dest.clone())))
            .run(CancellationToken::new())
            .await
            .expect("worker run")
    }

    /// Runs a worker with the real destinations until nothing is left to do.
    pub async fn run_until_idle(&self) -> WorkerSummary {
        self.engine
            .worker(WorkerConfig {
                until_idle: true,
                ..fast_worker()
            })
            .run(CancellationToken::new())
            .await
            .expect("worker run")
    }

    /// Starts a worker in the background; aborting it is a crash (its run
    /// lock is released as when a process dies).
    pub fn spawn_worker(
        &self,
        dest: &Arc<Scripted>,
    ) -> tokio::task::JoinHandle<outbox_engine::Result<WorkerSummary>> {
        tokio::spawn(
            self.engine
                .worker(fast_worker())
                .with_destinations(Arc::new(AllTo(dest.clone())))
                .run(CancellationToken::new()),
        )
    }

    pub fn job(&self, id: JobId) -> JobView {
        self.engine.job(id).expect("read job").expect("job exists")
    }
}

pub fn to(dest: &str) -> AddOptions {
    AddOptions {
        destination: Some(dest.into()),
        ..AddOptions::default()
    }
}

/// A PNG whose pixels depend on `seed` everywhere (distinct seeds, distinct content).
pub fn write_png(path: &Path, w: u32, h: u32, seed: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = seed
            .wrapping_mul(2_654_435_761)
            .wrapping_add(x * 7 + y * 13);
        image::Rgb([v as u8, (v >> 8) as u8, (v >> 16) as u8])
    });
    img.save(path).expect("write png");
}

pub fn fast_worker() -> WorkerConfig {
    WorkerConfig {
        poll_interval: Duration::from_millis(20),
        jitter_seed: Some(42),
        until_idle: false,
        ..WorkerConfig::default()
    }
}

/// Polls `check` every 10 ms (real time) for up to 10 s.
pub async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..1000 {
        if let Some(v) = check() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// What a scripted destination does on one delivery.
#[derive(Clone, Debug)]
pub enum Step {
    Deliver,
    Fail(DeliveryError),
    /// Never answers (until the task is dropped).
    Hang,
}

/// A destination whose answers a test scripts per file name, and which
/// records what it was asked.
#[derive(Default)]
pub struct Scripted {
    pub script: Mutex<HashMap<String, Vec<Step>>>,
    pub delivered: Mutex<Vec<String>>,
    pub attempts: AtomicUsize,
    pub reconciles: AtomicUsize,
    pub reconcile_answer: Mutex<Option<Remote>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub dropped_while_hanging: AtomicUsize,
    pub delay: Mutex<Duration>,
}

impl Scripted {
    pub fn new() -> Arc<Self> {
        Arc::new(Scripted::default())
    }

    /// The next answers for `file_name`; after them, deliver.
    pub fn script(&self, file_name: &str, steps: Vec<Step>) {
        self.script
            .lock()
            .unwrap()
            .insert(file_name.to_string(), steps);
    }

    pub fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }
}

struct HangGuard<'a>(&'a Scripted);
impl Drop for HangGuard<'_> {
    fn drop(&mut self) {
        self.0.dropped_while_hanging.fetch_add(1, Ordering::SeqCst);
    }
}

struct InFlightGuard<'a>(&'a Scripted);
impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Destination for Scripted {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
        _steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let _guard = InFlightGuard(self);
            let delay = *self.delay.lock().unwrap();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let step = {
                let mut script = self.script.lock().unwrap();
                match script.get_mut(&d.file_name) {
                    Some(steps) if !steps.is_empty() => steps.remove(0),
                    _ => Step::Deliver,
                }
            };
            match step {
                Step::Deliver => {
                    self.delivered.lock().unwrap().push(d.file_name.clone());
                    Ok(Remote {
                        id: Some(format!("id-{}", d.job_id)),
                        url: Some(format!("test://{}", d.file_name)),
                    })
                }
                Step::Fail(e) => Err(e),
                Step::Hang => {
                    let _hang = HangGuard(self);
                    std::future::pending().await
                }
            }
        })
    }

    fn reconcile<'a>(
        &'a self,
        _d: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async move {
            self.reconciles.fetch_add(1, Ordering::SeqCst);
            Ok(self.reconcile_answer.lock().unwrap().clone())
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(async { Ok("scripted".into()) })
    }
}

/// Resolves every destination to the same scripted one.
pub struct AllTo(pub Arc<Scripted>);

impl ResolveDestination for AllTo {
    fn resolve(
        &self,
        _snapshot: &DestinationSnapshot,
    ) -> Result<Arc<dyn Destination>, DeliveryError> {
        Ok(self.0.clone())
    }
}
