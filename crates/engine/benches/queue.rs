//! Queue benchmark: `cargo bench -p outbox-engine --bench queue`.
//!
//! Prints figures; asserts nothing about timing. Each figure is measured
//! beside a bare-SQLite reference in the same run, on the same schema (every
//! reference database is made by the engine itself), and the ratio is
//! outbox cost / reference cost.
//!
//! Where the time goes, and the last run's figures: docs/PERFORMANCE.md.

mod report;

use outbox_engine::destinations::{
    BoxFuture, Delivery, DeliveryError, Destination, DestinationSnapshot, ResolveDestination, Steps,
};
use outbox_engine::pipeline::{Generate, GenerateError, GeneratedImage, SourceItem};
use outbox_engine::recipe::{self, Recipe};
use outbox_engine::{
    source_key, AddOptions, Clock, DestinationView, Engine, EngineOptions, ManualClock, NewItem,
    Remote, SystemClock, WorkerConfig,
};
use report::{machine_line, median, ms, print_table, progress, Figure};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A fixed "now" for databases whose content is compared row by row.
const START_MS: i64 = 1_700_000_000_000;
const DEST: &str = "bench";
const DB_FILE: &str = "outbox.sqlite3";

const ENQUEUE_ITEMS: usize = 10_000;
const ENQUEUE_REPS: usize = 7;
const WORKER_JOBS: usize = 20_000;
const BIG_JOBS: usize = 1_000_000;
const BIG_CHUNK: usize = 10_000;
/// The worker's default upload concurrency, and a wide one for comparison.
const DEFAULT_UPLOADS: usize = 3;
const WIDE_UPLOADS: usize = 32;
const RECOVERY_JOBS: usize = 100_000;
const RECOVERY_REPS: usize = 5;
const RECOVERY_REF_REPS: usize = 3;

fn main() {
    let scratch = tempfile::Builder::new()
        .prefix("outbox-bench-")
        .tempdir()
        .expect("create a scratch folder");
    header(scratch.path());

    // OUTBOX_BENCH_ONLY=enqueue,worker,status,recovery runs a subset (for profiling).
    let only = std::env::var("OUTBOX_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|s| s.trim() == name);
    let mut figures = Vec::new();
    let mut notes = Vec::new();
    if wanted("enqueue") {
        figures.push(bench_enqueue(scratch.path(), &mut notes));
    }
    if wanted("worker") {
        figures.extend(bench_worker(scratch.path(), &mut notes));
    }
    if wanted("status") {
        figures.extend(bench_status(scratch.path(), &mut notes));
    }
    if wanted("recovery") {
        figures.push(bench_recovery(scratch.path(), &mut notes));
    }

    println!();
    print_table(&figures);
    println!();
    println!(
        "ratio = outbox cost / reference cost (1.0 = as fast as bare SQLite; above 1 = slower)"
    );
    for note in &notes {
        println!("  * {note}");
    }
}

// ---------------------------------------------------------------------------
// Reporting

fn header(scratch: &Path) {
    println!("Outbox queue benchmark");
    println!("{}", machine_line());
    println!("  SQLite {} (rusqlite, bundled)", rusqlite::version());
    println!(
        "  scratch folder (databases, outputs): {}",
        scratch.display()
    );
    println!();
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

// ---------------------------------------------------------------------------
// Set-up helpers

fn open_engine(data: &Path, clock: Arc<dyn Clock>) -> Engine {
    Engine::open(EngineOptions {
        data_dir: Some(data.to_path_buf()),
        clock,
        ..EngineOptions::default()
    })
    .expect("open the engine")
}

/// An engine with the bench's folder destination, on a fresh data folder.
fn fresh_engine(data: &Path, out: &Path, clock: Arc<dyn Clock>) -> Engine {
    let engine = open_engine(data, clock);
    engine
        .add_destination(
            DestinationView {
                name: DEST.into(),
                kind: "folder".into(),
                settings: serde_json::json!({ "path": out }),
                max_concurrent: None,
            },
            None,
        )
        .expect("add the bench destination");
    engine
}

fn to_bench() -> AddOptions {
    AddOptions {
        destination: Some(DEST.into()),
        ..AddOptions::default()
    }
}

/// `n` items that need not exist: enqueue does not read files.
fn make_items(prefix: &str, n: usize) -> Vec<NewItem> {
    (0..n)
        .map(|i| NewItem {
            path: PathBuf::from(format!("/bench/{prefix}/IMG_{i:07}.jpg")),
            size: 2_000_000 + i as u64,
            mtime_ms: START_MS - i as i64,
            fields: None,
        })
        .collect()
}

/// Queues `n` jobs in adds of `chunk` items.
fn enqueue_many(engine: &Engine, prefix: &str, n: usize, chunk: usize) {
    let mut done = 0;
    while done < n {
        let take = chunk.min(n - done);
        let items = make_items(&format!("{prefix}/{done}"), take);
        let report = engine.enqueue(items, &to_bench()).expect("enqueue");
        assert_eq!(report.added.len(), take, "every item should be queued");
        done += take;
    }
}

fn raw_connection(db: &Path, synchronous: &str) -> Connection {
    let conn = Connection::open(db).expect("open the database with rusqlite");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("set the busy timeout");
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .expect("set WAL mode");
    assert!(mode.eq_ignore_ascii_case("wal"), "WAL refused: {mode}");
    conn.pragma_update(None, "synchronous", synchronous)
        .expect("set synchronous");
    conn
}

// ---------------------------------------------------------------------------
// 1. Enqueue of 10,000 items in one add

/// What the engine writes per item, computed before the reference's clock starts.
struct RefItem {
    path: String,
    size: i64,
    mtime: i64,
    key: [u8; 32],
}

fn bench_enqueue(scratch: &Path, notes: &mut Vec<String>) -> Figure {
    progress("1/4 enqueue of 10,000 items in one add (7 repetitions, fresh databases)");
    let root = scratch.join("enqueue");
    let out = root.join("out");
    std::fs::create_dir_all(&out).expect("create the delivery folder");

    let recipe_json =
        serde_json::to_string(&recipe::find_recipe(recipe::DEFAULT_RECIPE).expect("web recipe"))
            .expect("recipe as JSON");
    let dest_json = serde_json::json!({
        "name": DEST,
        "kind": "folder",
        "settings": { "path": out },
    })
    .to_string();
    let batch_name = format!("{ENQUEUE_ITEMS} item(s)");
    let template = make_items("enqueue", ENQUEUE_ITEMS);
    // In a fresh database the first snapshot interned (the recipe) is row 1
    // and the bench destination is row 1; checked below by comparing tables.
    let (recipe_snap, dest_snap, destination_id) = (1_i64, 2_i64, 1_i64);
    let ref_items: Vec<RefItem> = template
        .iter()
        .map(|item| RefItem {
            path: item.path.to_string_lossy().into_owned(),
            size: item.size as i64,
            mtime: item.mtime_ms,
            key: source_key(item, recipe_snap, destination_id),
        })
        .collect();
    let defaults = AddOptions::default();

    let mut engine_times = Vec::new();
    let mut ref_times = Vec::new();
    for rep in 0..ENQUEUE_REPS {
        let clock = || Arc::new(ManualClock::new(START_MS)) as Arc<dyn Clock>;
        let engine_data = root.join(format!("engine-{rep}"));
        let ref_data = root.join(format!("reference-{rep}"));
        let engine = fresh_engine(&engine_data, &out, clock());
        // The reference database is made by the engine too (same schema and
        // indexes), and the engine stays open meanwhile so that both write to
        // an existing WAL file.
        let ref_engine = fresh_engine(&ref_data, &out, clock());

        let run_engine = |times: &mut Vec<Duration>| {
            let items = template.clone();
            let start = Instant::now();
            let report = engine.enqueue(items, &to_bench()).expect("enqueue");
            times.push(start.elapsed());
            assert_eq!(
                report.added.len(),
                ENQUEUE_ITEMS,
                "every item should be queued"
            );
        };
        let run_reference = |times: &mut Vec<Duration>| {
            let mut conn = raw_connection(&ref_data.join(DB_FILE), "FULL");
            let start = Instant::now();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin");
            {
                let mut snap = tx
                    .prepare("INSERT INTO snapshots (kind, json) VALUES (?1, ?2)")
                    .expect("prepare");
                snap.execute(params!["recipe", recipe_json])
                    .expect("snapshot");
                assert_eq!(tx.last_insert_rowid(), recipe_snap);
                snap.execute(params!["destination", dest_json])
                    .expect("snapshot");
                assert_eq!(tx.last_insert_rowid(), dest_snap);
                tx.prepare(
                    "INSERT INTO batches (name, sequential, total, created_at) VALUES (?1, 0, ?2, ?3)",
                )
                .expect("prepare")
                .execute(params![batch_name, ENQUEUE_ITEMS as i64, START_MS])
                .expect("batch");
                let batch_id = tx.last_insert_rowid();
                let mut item_stmt = tx
                    .prepare(
                        "INSERT INTO items (batch_id, source_path, fields, source_size, source_mtime)
                         VALUES (?1, ?2, NULL, ?3, ?4)",
                    )
                    .expect("prepare");
                let mut job_stmt = tx
                    .prepare(
                        "INSERT INTO jobs (batch_id, item_id, destination_id, recipe_snap, dest_snap,
                                           seq, priority, queue_order, state, phase, max_attempts,
                                           created_at, source_key)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 'pending', 'generate', ?8, ?9, ?10)",
                    )
                    .expect("prepare");
                for (seq, item) in ref_items.iter().enumerate() {
                    item_stmt
                        .execute(params![batch_id, item.path, item.size, item.mtime])
                        .expect("item");
                    let item_id = tx.last_insert_rowid();
                    job_stmt
                        .execute(params![
                            batch_id,
                            item_id,
                            destination_id,
                            recipe_snap,
                            dest_snap,
                            seq as i64,
                            defaults.priority,
                            defaults.max_attempts,
                            START_MS,
                            &item.key[..]
                        ])
                        .expect("job");
                }
                tx.execute(
                    "UPDATE state_counts SET n = n + ?1 WHERE state = 'pending'",
                    [ENQUEUE_ITEMS as i64],
                )
                .expect("state counts");
                tx.execute(
                    "INSERT INTO batch_counts (batch_id, state, n) VALUES (?1, 'pending', ?2)",
                    params![batch_id, ENQUEUE_ITEMS as i64],
                )
                .expect("batch counts");
            }
            tx.commit().expect("commit");
            times.push(start.elapsed());
        };
        // Alternate the order so that neither side always runs second.
        if rep % 2 == 0 {
            run_engine(&mut engine_times);
            run_reference(&mut ref_times);
        } else {
            run_reference(&mut ref_times);
            run_engine(&mut engine_times);
        }
        if rep == 0 {
            let differing = compare_databases(&engine_data.join(DB_FILE), &ref_data.join(DB_FILE));
            assert_eq!(
                differing, 0,
                "the reference must write exactly the rows the engine writes"
            );
        }
        drop(engine);
        drop(ref_engine);
        let _ = std::fs::remove_dir_all(&engine_data);
        let _ = std::fs::remove_dir_all(&ref_data);
    }
    notes.push(format!(
        "enqueue: engine {:?} ms, reference {:?} ms (all repetitions); the reference's database \
         was checked to hold exactly the engine's rows (batches, items, jobs, snapshots, counters)",
        engine_times
            .iter()
            .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
            .collect::<Vec<_>>(),
        ref_times
            .iter()
            .map(|d| (d.as_secs_f64() * 1e4).round() / 10.0)
            .collect::<Vec<_>>(),
    ));
    let (engine, reference) = (median(engine_times), median(ref_times));
    let ratio = engine.as_secs_f64() / reference.as_secs_f64();
    Figure {
        name: "enqueue 10,000 items, one add (median of 7)".into(),
        outbox: ms(engine),
        reference: ms(reference),
        ratio: Some(ratio),
        target: "<= 30 ms and <= 1.5x",
        met: Some(engine <= Duration::from_millis(30) && ratio <= 1.5),
    }
}

/// Rows in one database's queue tables that the other does not hold.
fn compare_databases(a: &Path, b: &Path) -> i64 {
    let conn = Connection::open(a).expect("open the engine's database");
    conn.execute("ATTACH DATABASE ?1 AS other", [b.to_string_lossy()])
        .expect("attach the reference database");
    let mut differing = 0;
    for table in [
        "destinations",
        "snapshots",
        "batches",
        "items",
        "jobs",
        "state_counts",
        "batch_counts",
    ] {
        let sql = format!(
            "SELECT (SELECT count(*) FROM (SELECT * FROM main.{table} EXCEPT SELECT * FROM other.{table}))
                  + (SELECT count(*) FROM (SELECT * FROM other.{table} EXCEPT SELECT * FROM main.{table}))"
        );
        let n: i64 = conn
            .query_row(&sql, [], |r| r.get(0))
            .expect("compare a table");
        if n != 0 {
            eprintln!("[bench] table {table}: {n} row(s) differ between engine and reference");
        }
        differing += n;
    }
    differing
}

// ---------------------------------------------------------------------------
// 2. Claim-and-complete through the worker

/// A generator that does no image work: the output is the source path's
/// bytes, so every output (and its content hash) differs.
struct NoopGenerator;

fn tiny_image(source: &Path) -> GeneratedImage {
    let bytes = source.as_os_str().as_encoded_bytes().to_vec();
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    GeneratedImage {
        source_hash: *blake3::hash(&bytes).as_bytes(),
        bytes,
        mime: "image/jpeg",
        file_name: format!("{stem}.jpg"),
        width: 1,
        height: 1,
        preview: None,
    }
}

impl Generate for NoopGenerator {
    fn generate(
        &self,
        item: SourceItem<'_>,
        _recipe: &Recipe,
    ) -> Result<GeneratedImage, GenerateError> {
        Ok(tiny_image(item.path))
    }
}

/// Destinations that accept everything at once.
struct NoopResolver;
struct NoopDestination;

impl ResolveDestination for NoopResolver {
    fn resolve(
        &self,
        _snapshot: &DestinationSnapshot,
    ) -> Result<Arc<dyn Destination>, DeliveryError> {
        Ok(Arc::new(NoopDestination))
    }
}

impl Destination for NoopDestination {
    fn deliver<'a>(
        &'a self,
        delivery: &'a Delivery,
        _steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move {
            Ok(Remote {
                id: Some(delivery.job_id.to_string()),
                url: None,
            })
        })
    }

    fn reconcile<'a>(
        &'a self,
        _delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async { Ok(None) })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(async { Ok("accepts everything".into()) })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start a tokio runtime")
}

fn worker_config(generate_concurrency: usize, upload_concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        until_idle: true,
        generate_concurrency,
        upload_concurrency,
        ..WorkerConfig::default()
    }
}

/// The two phases of one worker benchmark, timed apart.
struct PhaseTimes {
    /// Claim, no-op generate, durable output file, record (synchronous=FULL).
    generate: Duration,
    /// Claim, no-op upload, record as completed (synchronous=NORMAL).
    upload: Duration,
}

/// Runs the worker over `n` freshly queued jobs in `root`: first with
/// uploads off (every job generated), then with generation off (every job
/// delivered), so the queue's own transitions are timed apart from the
/// fsync that makes each generated output durable.
fn worker_run(root: &Path, n: usize, upload_concurrency: usize) -> PhaseTimes {
    let data = root.join("data");
    let out = root.join("out");
    std::fs::create_dir_all(&out).expect("create the delivery folder");
    let engine = fresh_engine(&data, &out, Arc::new(SystemClock));
    enqueue_many(&engine, "worker", n, ENQUEUE_ITEMS);
    let rt = runtime();
    let timed = |generate: usize, upload: usize| {
        let worker = engine
            .worker(worker_config(generate, upload))
            .with_generator(Arc::new(NoopGenerator))
            .with_destinations(Arc::new(NoopResolver));
        let start = Instant::now();
        let summary = rt
            .block_on(worker.run(CancellationToken::new()))
            .expect("the worker runs");
        (start.elapsed(), summary)
    };
    let (generate, summary) = timed(2, 0);
    assert_eq!(
        summary.generated, n as u64,
        "every job is generated: {summary:?}"
    );
    let (upload, summary) = timed(0, upload_concurrency);
    assert_eq!(
        summary.completed, n as u64,
        "every job is delivered: {summary:?}"
    );
    PhaseTimes { generate, upload }
}

fn bench_worker(scratch: &Path, notes: &mut Vec<String>) -> Vec<Figure> {
    progress(
        "2/4 claim-and-complete through the worker (20,000 jobs, no-op generator and destination)",
    );
    let root = scratch.join("worker");
    let disk = worker_run(&root.join("disk"), WORKER_JOBS, DEFAULT_UPLOADS);
    let per_second = |d: Duration| WORKER_JOBS as f64 / d.as_secs_f64();
    let (upload_rate, generate_rate) = (per_second(disk.upload), per_second(disk.generate));

    // The same runs with the data folder on tmpfs, where fsync costs nothing:
    // how much of the time is waiting for the disk.
    match tempfile::Builder::new()
        .prefix("outbox-bench-")
        .tempdir_in("/dev/shm")
    {
        Ok(shm) => {
            progress("2/4 the same worker runs on tmpfs (/dev/shm), where fsync is free");
            let tmpfs = worker_run(&shm.path().join("default"), WORKER_JOBS, DEFAULT_UPLOADS);
            let wide = worker_run(&shm.path().join("wide"), WORKER_JOBS, WIDE_UPLOADS);
            notes.push(format!(
                "worker: on tmpfs (fsync free) the upload phase does {:.0} jobs/s ({:.0} jobs/s with \
                 {WIDE_UPLOADS} uploads at once instead of {DEFAULT_UPLOADS}: more jobs per \
                 transaction) and the generate phase {:.0} jobs/s",
                per_second(tmpfs.upload),
                per_second(wide.upload),
                per_second(tmpfs.generate),
            ));
        }
        Err(e) => notes.push(format!("worker: no tmpfs comparison ({e})")),
    }
    notes.push(fsync_floor(&root.join("fsync-probe")));

    // Reference: per job one claim transaction (UPDATE … RETURNING) and one
    // completion transaction, synchronous=NORMAL, same schema and triggers.
    progress("2/4 reference: bare claim + complete loop");
    let ref_root = root.join("reference");
    let ref_out = ref_root.join("out");
    std::fs::create_dir_all(&ref_out).expect("create the delivery folder");
    let engine = fresh_engine(&ref_root.join("data"), &ref_out, Arc::new(SystemClock));
    enqueue_many(&engine, "worker", WORKER_JOBS, ENQUEUE_ITEMS);
    let db = engine.database_path().to_path_buf();
    drop(engine);
    let mut conn = raw_connection(&db, "NORMAL");
    let start = Instant::now();
    let mut done = 0_usize;
    loop {
        let now = START_MS + done as i64;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin");
        let claimed: Option<i64> = tx
            .prepare_cached(
                "UPDATE jobs SET state = 'processing', run_id = ?1, started_at = ?2,
                        attempts = attempts + 1
                  WHERE id = (SELECT id FROM jobs
                               WHERE state = 'pending' AND phase = 'generate'
                               ORDER BY priority DESC, queue_order, id LIMIT 1)
                  RETURNING id",
            )
            .expect("prepare the claim")
            .query_row(params![1, now], |r| r.get(0))
            .optional()
            .expect("claim");
        tx.commit().expect("commit the claim");
        let Some(job) = claimed else { break };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .expect("begin");
        tx.prepare_cached(
            "UPDATE jobs SET state = 'completed', run_id = NULL, finished_at = ?2 WHERE id = ?1",
        )
        .expect("prepare the completion")
        .execute(params![job, now])
        .expect("complete");
        tx.commit().expect("commit the completion");
        done += 1;
    }
    let ref_elapsed = start.elapsed();
    assert_eq!(done, WORKER_JOBS, "the reference completes every job");
    let ref_rate = per_second(ref_elapsed);
    vec![
        Figure {
            name: "worker claim+complete (upload phase), no-op destination".into(),
            outbox: format!("{upload_rate:.0} jobs/s"),
            reference: format!("{ref_rate:.0} jobs/s"),
            ratio: Some(ref_rate / upload_rate),
            target: ">= 10,000 jobs/s",
            met: Some(upload_rate >= 10_000.0),
        },
        Figure {
            name: "worker generate phase, no-op generator".into(),
            outbox: format!("{generate_rate:.0} jobs/s"),
            reference: format!("{ref_rate:.0} jobs/s"),
            ratio: Some(ref_rate / generate_rate),
            target: "(none: an fsync per output)",
            met: None,
        },
    ]
}

/// What the worker's per-output durability costs on this disk, measured the
/// way it writes an output (worker/tasks.rs `write_output`).
fn fsync_floor(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("create the probe folder");
    let mut samples = Vec::new();
    for i in 0..300 {
        let temp = dir.join(format!(".{i}.part"));
        let path = dir.join(format!("{i}.jpg"));
        let start = Instant::now();
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(b"/bench/worker/IMG_0000000.jpg")?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().expect("write a probe output");
        samples.push(start.elapsed());
    }
    let per_output = median(samples);
    format!(
        "worker: writing one output as the worker does (write, fsync, rename, fsync folder) takes {} \
         (median of 300) on this disk; with generate_concurrency=2 that alone caps the worker near \
         {:.0} jobs/s, before the synchronous=FULL commit that records each output",
        ms(per_output),
        2.0 / per_output.as_secs_f64()
    )
}

// ---------------------------------------------------------------------------
// 3. Status on a database of 1,000,000 jobs

fn bench_status(scratch: &Path, notes: &mut Vec<String>) -> Vec<Figure> {
    progress("3/4 building a database of 1,000,000 jobs (Engine::enqueue, 100 adds of 10,000)");
    let root = scratch.join("status");
    let out = root.join("out");
    std::fs::create_dir_all(&out).expect("create the delivery folder");
    let engine = fresh_engine(&root.join("data"), &out, Arc::new(SystemClock));
    let start = Instant::now();
    enqueue_many(&engine, "big", BIG_JOBS, BIG_CHUNK);
    let built = start.elapsed();
    let counts = engine.counts().expect("counts");
    assert_eq!(counts.total, BIG_JOBS as u64);
    notes.push(format!(
        "status: the 1,000,000-job database was built with 100 Engine::enqueue calls in {:.1} s \
         ({} per 10,000)",
        built.as_secs_f64(),
        ms(built / (BIG_JOBS / BIG_CHUNK) as u32)
    ));

    progress("3/4 timing counts, status and the GROUP BY reference");
    let time_calls = |calls: usize, f: &mut dyn FnMut()| {
        for _ in 0..calls.min(20) {
            f();
        }
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let start = Instant::now();
            f();
            samples.push(start.elapsed());
        }
        median(samples)
    };
    let counts_time = time_calls(2000, &mut || {
        black_box(engine.counts().expect("counts"));
    });
    let status_time = time_calls(500, &mut || {
        black_box(engine.status().expect("status"));
    });
    let conn = raw_connection(engine.database_path(), "NORMAL");
    let mut group_by = conn
        .prepare("SELECT state, count(*) FROM jobs GROUP BY state")
        .expect("prepare the reference");
    let mut reference_total = 0_i64;
    let reference = time_calls(15, &mut || {
        let rows = group_by
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .expect("group by");
        reference_total = rows.map(|r| r.expect("row").1).sum();
    });
    assert_eq!(reference_total, BIG_JOBS as i64);
    let status = engine.status().expect("status");
    notes.push(format!(
        "status: lists {} active batch(es) and {} in-flight job(s) besides the counts",
        status.batches.len(),
        status.in_flight.len()
    ));
    vec![
        Figure {
            name: "counts() on 1,000,000 jobs (median of 2,000)".into(),
            outbox: us(counts_time),
            reference: us(reference),
            ratio: Some(counts_time.as_secs_f64() / reference.as_secs_f64()),
            target: "<= 1 ms",
            met: Some(counts_time <= Duration::from_millis(1)),
        },
        Figure {
            name: "status() on 1,000,000 jobs (median of 500)".into(),
            outbox: us(status_time),
            reference: us(reference),
            ratio: Some(status_time.as_secs_f64() / reference.as_secs_f64()),
            target: "(none; counts <= 1 ms)",
            met: None,
        },
    ]
}

// ---------------------------------------------------------------------------
// 4. Start-up recovery with 100,000 jobs left in flight

/// Records when the worker first generates, then asks it to stop.
struct FirstCall {
    first: Mutex<Option<Instant>>,
    stop: CancellationToken,
}

impl Generate for FirstCall {
    fn generate(
        &self,
        item: SourceItem<'_>,
        _recipe: &Recipe,
    ) -> Result<GeneratedImage, GenerateError> {
        let source = item.path;
        let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(Instant::now());
        }
        self.stop.cancel();
        Ok(tiny_image(source))
    }
}

fn bench_recovery(scratch: &Path, notes: &mut Vec<String>) -> Figure {
    progress("4/4 start-up recovery: building 100,000 jobs in flight for a dead run");
    let root = scratch.join("recovery");
    let out = root.join("out");
    std::fs::create_dir_all(&out).expect("create the delivery folder");
    let pristine = root.join("pristine.sqlite3");
    {
        let build = root.join("build");
        let engine = fresh_engine(&build, &out, Arc::new(SystemClock));
        enqueue_many(&engine, "recovery", RECOVERY_JOBS, ENQUEUE_ITEMS);
        let db = engine.database_path().to_path_buf();
        drop(engine);
        let conn = raw_connection(&db, "NORMAL");
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO runs (id, pid, started_at, dead) VALUES (999, 1, 0, 0);
             UPDATE jobs SET state = 'processing', run_id = 999, started_at = 0;
             COMMIT;
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .expect("leave every job in flight for run 999");
        let processing: i64 = conn
            .query_row(
                "SELECT n FROM state_counts WHERE state = 'processing'",
                [],
                |r| r.get(0),
            )
            .expect("read the counts");
        assert_eq!(
            processing, RECOVERY_JOBS as i64,
            "the triggers keep the counts"
        );
        drop(conn);
        // No lock file exists for run 999: it counts as dead.
        std::fs::copy(&db, &pristine).expect("keep a pristine copy");
        let _ = std::fs::remove_dir_all(&build);
    }

    let fresh_copy = |name: String| {
        let data = root.join(name);
        std::fs::create_dir_all(&data).expect("create a data folder");
        std::fs::copy(&pristine, data.join(DB_FILE)).expect("copy the database");
        data
    };

    progress("4/4 timing Engine::open until the first recovered job is claimed");
    let mut to_first = Vec::new();
    let mut opens = Vec::new();
    for rep in 0..RECOVERY_REPS {
        let data = fresh_copy(format!("outbox-{rep}"));
        let rt = runtime();
        let stop = CancellationToken::new();
        let generator = Arc::new(FirstCall {
            first: Mutex::new(None),
            stop: stop.clone(),
        });
        let start = Instant::now();
        let engine = open_engine(&data, Arc::new(SystemClock));
        opens.push(start.elapsed());
        let worker = engine
            .worker(WorkerConfig {
                until_idle: false,
                ..worker_config(2, 3)
            })
            .with_generator(generator.clone())
            .with_destinations(Arc::new(NoopResolver));
        let summary = rt.block_on(worker.run(stop)).expect("the worker runs");
        assert_eq!(
            summary.dead_runs_found, 1,
            "run 999 is found dead: {summary:?}"
        );
        let first = generator
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .expect("the worker claimed a recovered job");
        to_first.push(first - start);
        let counts = engine.counts().expect("counts");
        assert_eq!(counts.total, RECOVERY_JOBS as u64);
        drop(engine);
        let _ = std::fs::remove_dir_all(&data);
    }

    progress("4/4 reference: UPDATE jobs SET state='pending' WHERE state='processing'");
    let mut ref_times = Vec::new();
    for rep in 0..RECOVERY_REF_REPS {
        let data = fresh_copy(format!("reference-{rep}"));
        let start = Instant::now();
        let conn = raw_connection(&data.join(DB_FILE), "NORMAL");
        let n = conn
            .execute(
                "UPDATE jobs SET state = 'pending' WHERE state = 'processing'",
                [],
            )
            .expect("naive recovery");
        ref_times.push(start.elapsed());
        assert_eq!(n, RECOVERY_JOBS);
        drop(conn);
        let _ = std::fs::remove_dir_all(&data);
    }
    notes.push(format!(
        "recovery: Engine::open alone takes {} (median); the rest is start_run, reap_dead_runs and \
         the first claim. The reference times opening a connection plus the naive UPDATE \
         ({} jobs back to pending, count triggers firing)",
        ms(median(opens)),
        RECOVERY_JOBS
    ));
    let (outbox, reference) = (median(to_first), median(ref_times));
    Figure {
        name: "recovery, 100,000 in flight: open -> first claim".into(),
        outbox: ms(outbox),
        reference: ms(reference),
        ratio: Some(outbox.as_secs_f64() / reference.as_secs_f64()),
        target: "<= 200 ms",
        met: Some(outbox <= Duration::from_millis(200)),
    }
}
