//! A soak of the real `outbox` binary: 20,000 jobs (`OUTBOX_SOAK_JOBS`)
//! queued with one `outbox add` and delivered by one `outbox run
//! --until-idle` to an HTTP destination on a loopback server that fails a
//! fifth of the requests (500, 503, 429 with `Retry-After`, connection
//! resets; `OUTBOX_SOAK_SEED` replays a run's faults). Every job must end
//! completed, or failed with its reason; the server must hold exactly one
//! body per delivered job; the counts must match the rows; and the worker's
//! memory must stay flat while it works through the queue. The memory
//! series goes to `target/soak/rss.csv`.

mod common;
#[path = "common/upload_server.rs"]
mod upload_server;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use upload_server::UploadServer;

const DEFAULT_JOBS: usize = 20_000;
/// Requests the server fails, in percent.
const FAULT_PERCENT: u32 = 20;
/// With a fifth of the attempts failing, twelve in a row fail about once in
/// 2·10⁸ jobs: in practice every job completes, and a failure is a finding.
const MAX_ATTEMPTS: &str = "12";
/// The worker is killed (and the test fails) after this long.
const RUN_LIMIT: Duration = Duration::from_secs(600);
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// The sources' size: 5×5 blocks of 8×8 pixels, one bit each.
const SIDE: u32 = 40;
/// Files created or deleted at once. The disk is ext4 mounted with
/// `discard`: each create or unlink waits on a journal commit, and
/// concurrent ones share a commit (3,000 unlinks: 10.5 s one at a time,
/// 1.3 s eight at a time).
const FILE_THREADS: usize = 16;

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// A small JPEG whose 25 blocks spell `n` in black and white (8×8 blocks
/// survive JPEG's quantisation, where a one-pixel stamp may not), over a
/// gradient: distinct pixels, so no two are de-duplicated.
fn write_numbered_jpeg(path: &Path, n: u32) {
    assert!(n < 1 << 25, "25 bits of blocks");
    let img = image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let bit = (y / 8) * (SIDE / 8) + x / 8;
        let on = (n >> bit) & 1 == 1;
        let base = if on { 200u8 } else { 40u8 };
        image::Rgb([
            base + (x as u8 & 7) * 4,
            base + (y as u8 & 7) * 4,
            base + ((x + y) as u8 & 7) * 2,
        ])
    });
    img.save(path)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes `n` numbered JPEGs into `dir`.
fn write_sources(dir: &Path, n: usize) {
    std::thread::scope(|scope| {
        for t in 0..FILE_THREADS {
            scope.spawn(move || {
                for i in (t..n).step_by(FILE_THREADS) {
                    write_numbered_jpeg(&dir.join(format!("s{i:06}.jpg")), i as u32);
                }
            });
        }
    });
}

/// Deletes the files directly in `dir`, many at once (see [`FILE_THREADS`]);
/// what is left goes with the test's temporary folder.
fn remove_files(dir: &Path) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let chunk = files.len().div_ceil(FILE_THREADS).max(1);
    std::thread::scope(|scope| {
        for part in files.chunks(chunk) {
            scope.spawn(move || {
                for file in part {
                    let _ = std::fs::remove_file(file);
                }
            });
        }
    });
}

/// What `/proc` says of a process: its resident memory in bytes, all of it
/// (`VmRSS`) and the anonymous part (`RssAnon`: heap, stacks), and the CPU
/// time it used. `None` once it is gone, or before the exec loaded the binary.
fn proc_of(pid: u32) -> Option<(u64, u64, Duration)> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() != "outbox" {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    // utime and stime, fields 14 and 15, in clock ticks (100 a second on Linux).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 =
        after_comm.get(11)?.parse::<u64>().ok()? + after_comm.get(12)?.parse::<u64>().ok()?;
    Some((
        field("VmRSS:")?,
        field("RssAnon:")?,
        Duration::from_millis(ticks * 10),
    ))
}

/// Kills the worker if the test gives up while it runs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

struct Sample {
    at: Duration,
    /// Jobs delivered (distinct bodies the server holds).
    done: u64,
    rss: u64,
    anon: u64,
    /// What the engine's caches may hold by then ([`cache_allowance`]).
    cached: u64,
}

impl Sample {
    /// The memory that is not the caches' budgeted content.
    fn net(&self) -> u64 {
        self.rss.saturating_sub(self.cached)
    }
}

/// The most the engine's output cache may hold once `delivered` bytes of
/// outputs went out. By design (the product keeps an output's bytes in
/// memory for its preview and upload) every output stays in the cache until
/// its budget (256 MiB) is full; with outputs of about 900 bytes that takes
/// the whole run, so RSS rises by some 1 KB a job however sound the worker
/// is. The command line keeps no previews (src/commands/mod.rs).
fn cache_allowance(delivered: u64) -> u64 {
    let budgets = outbox_engine::EngineOptions::default();
    delivered.min(budgets.output_cache_bytes as u64)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Where the figures go: `$CARGO_TARGET_DIR/soak`, else the workspace's `target/soak`.
fn soak_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("soak")
}

fn write_rss_csv(samples: &[Sample]) -> PathBuf {
    let dir = soak_dir();
    std::fs::create_dir_all(&dir).expect("create the soak folder");
    let path = dir.join("rss.csv");
    let mut csv = String::from("seconds,jobs_done,rss_mb,anon_mb,caches_mb,net_mb\n");
    for s in samples {
        csv.push_str(&format!(
            "{:.1},{},{:.1},{:.1},{:.1},{:.1}\n",
            s.at.as_secs_f64(),
            s.done,
            mb(s.rss),
            mb(s.anon),
            mb(s.cached),
            mb(s.net())
        ));
    }
    std::fs::write(&path, csv).expect("write rss.csv");
    path
}

/// The largest `value` among the samples taken between `from` and `to`
/// (shares of the run's length).
fn max_between(
    samples: &[Sample],
    total: Duration,
    from: f64,
    to: f64,
    value: fn(&Sample) -> u64,
) -> Option<u64> {
    samples
        .iter()
        .filter(|s| {
            let share = s.at.as_secs_f64() / total.as_secs_f64();
            share >= from && share <= to
        })
        .map(value)
        .max()
}

/// Whether the last half's maximum is within 1.5 × the first quarter's plus 20 MB.
fn flat(early: u64, late: u64) -> bool {
    late as f64 <= early as f64 * 1.5 + 20.0 * 1024.0 * 1024.0
}

/// The key a delivered job's recorded URL names (`…/files/{key}`).
fn key_of(job: &Value) -> String {
    let url = job["remote"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a delivered job has its URL: {job:#}"));
    url.rsplit_once("/files/")
        .map(|(_, key)| key.to_string())
        .unwrap_or_else(|| panic!("{url} is not a /files/ URL of the server"))
}

#[test]
fn twenty_thousand_jobs_through_a_flaky_server_all_finish_once_in_flat_memory() {
    let jobs = env_number("OUTBOX_SOAK_JOBS").map_or(DEFAULT_JOBS, |n| n as usize);
    let seed = env_number("OUTBOX_SOAK_SEED").unwrap_or_else(|| fastrand::u64(..));
    println!("soak: {jobs} jobs, seed {seed} (OUTBOX_SOAK_SEED={seed} replays the faults)");
    let start = Instant::now();

    let ob = Outbox::new();
    // The sources on tmpfs when there is one: where they lie is not under
    // test (the data folder, outputs and database, stays on the disk), and
    // 20,000 creates and unlinks on this disk cost up to a minute.
    let shm = tempfile::Builder::new()
        .prefix("outbox-soak-")
        .tempdir_in("/dev/shm")
        .ok();
    let src = match &shm {
        Some(dir) => dir.path().join("src"),
        None => ob.path("src"),
    };
    std::fs::create_dir_all(&src).expect("create the sources' folder");
    write_sources(&src, jobs);
    println!("soak: wrote {jobs} sources in {:.1?}", start.elapsed());

    let server = UploadServer::start(IDEMPOTENCY_HEADER, FAULT_PERCENT, seed);
    let url = format!("{}/up/{{job}}/{{file_name}}", server.url());
    ob.run(&[
        "dest",
        "add",
        "flaky",
        "--kind",
        "http",
        "--url",
        &url,
        "--method",
        "put",
        "--idempotency-header",
        IDEMPOTENCY_HEADER,
        "--result-header",
        "Location",
        "--timeout",
        "20",
    ])
    .ok();

    let added_at = Instant::now();
    let report = ob.add(&[&src], "flaky", &["--max-attempts", MAX_ATTEMPTS]);
    let added = Outbox::added_ids(&report);
    assert_eq!(added.len(), jobs, "every source queued once");
    assert_eq!(report["duplicates"], serde_json::json!([]));
    assert_eq!(report["skipped"], serde_json::json!([]));
    println!(
        "soak: outbox add: {jobs} jobs in {:.1?}",
        added_at.elapsed()
    );

    // The worker's output goes to files: a pipe nobody reads could stall it.
    let stdout_path = ob.path("run.stdout");
    let stderr_path = ob.path("run.stderr");
    let mut run = ob.command(&["run", "--until-idle", "--json", "--retry-delay", "0.05"]);
    run.stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .stdin(Stdio::null());
    let run_start = Instant::now();
    let mut worker = KillOnDrop(run.spawn().expect("spawn outbox run"));
    let pid = worker.0.id();

    let mut samples: Vec<Sample> = Vec::new();
    println!(
        "{:>8} {:>10} {:>8} {:>8} {:>9} {:>8}",
        "seconds", "jobs done", "RSS MB", "anon MB", "caches MB", "net MB"
    );
    let mut ticks = 0u32;
    let mut cpu = Duration::ZERO;
    let status = loop {
        if let Some(status) = worker.0.try_wait().expect("wait for the worker") {
            break status;
        }
        // A few kB while the exec is under way.
        if let Some((rss, anon, used)) = proc_of(pid).filter(|&(rss, ..)| rss >= 1 << 20) {
            cpu = used;
            let sample = Sample {
                at: run_start.elapsed(),
                done: server.stored_count(),
                rss,
                anon,
                cached: cache_allowance(server.stored_bytes()),
            };
            println!(
                "{:>8.1} {:>10} {:>8.1} {:>8.1} {:>9.1} {:>8.1}",
                sample.at.as_secs_f64(),
                sample.done,
                mb(sample.rss),
                mb(sample.anon),
                mb(sample.cached),
                mb(sample.net())
            );
            samples.push(sample);
        }
        assert!(
            run_start.elapsed() < RUN_LIMIT,
            "the worker did not finish in {RUN_LIMIT:?}; {} of {jobs} delivered",
            server.stored_count()
        );
        // Sleeps between samples; the exit is noticed within one period.
        ticks += 1;
        let next = run_start + SAMPLE_EVERY * ticks;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    };
    let run_time = run_start.elapsed();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let csv = write_rss_csv(&samples);

    // ------------------------------------------------ every job finished
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "run --json summary ({e}), exit {status:?}\nstdout:\n{stdout}\nstderr (end):\n{}",
            tail(&stderr)
        )
    });
    let counts = ob.counts();
    let history = ob.history();
    assert_eq!(history.len(), jobs, "one history row per job");
    let completed: Vec<&Value> = history
        .iter()
        .filter(|j| j["state"] == "completed")
        .collect();
    let failed: Vec<&Value> = history.iter().filter(|j| j["state"] == "failed").collect();
    assert_eq!(
        completed.len() + failed.len(),
        jobs,
        "every job completed or failed: {counts:?}"
    );
    for job in &failed {
        let (_, message) = error_of(job);
        assert!(
            !message.trim().is_empty(),
            "a failure without a reason: {job:#}"
        );
    }
    // A failed run exits 1 (`--until-idle` with failures), a clean one 0.
    let expected_code = if failed.is_empty() { 0 } else { 1 };
    assert_eq!(
        status.code(),
        Some(expected_code),
        "worker exit\nstderr (end):\n{}",
        tail(&stderr)
    );
    assert_eq!(
        summary["completed"].as_u64(),
        Some(completed.len() as u64),
        "{summary}"
    );
    assert_eq!(
        summary["generated"].as_u64(),
        Some(jobs as u64),
        "{summary}"
    );
    assert_eq!(
        summary["failed"].as_u64(),
        Some(failed.len() as u64),
        "{summary}"
    );

    // ------------------------------------------------ counts equal the rows
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    for job in &history {
        *by_state
            .entry(str_of(job, "state").to_string())
            .or_default() += 1;
    }
    let db = rusqlite::Connection::open(ob.db_path()).expect("open the database");
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    let mut query = db
        .prepare("SELECT state, count(*) FROM jobs GROUP BY state")
        .expect("count the rows");
    for row in query
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("count the rows")
    {
        let (state, n) = row.expect("a state's count");
        rows.insert(state, n as u64);
    }
    for key in COUNT_KEYS.iter().filter(|k| **k != "total") {
        let rows_n = rows.get(*key).copied().unwrap_or(0);
        assert_eq!(
            counts[*key], rows_n,
            "status --json {key} vs the jobs table"
        );
        assert_eq!(
            by_state.get(*key).copied().unwrap_or(0),
            rows_n,
            "history {key} vs the jobs table"
        );
    }
    assert_eq!(counts["total"], jobs as u64, "{counts:?}");

    // ------------------------------------------------ one body per delivered job
    let stored = server.stored();
    assert_eq!(server.rejected(), Vec::<String>::new(), "malformed uploads");
    let mut keys_seen = HashSet::new();
    for job in &completed {
        let key = key_of(job);
        assert!(keys_seen.insert(key.clone()), "two jobs delivered as {key}");
        let body = stored
            .get(&key)
            .unwrap_or_else(|| panic!("the server holds no body for {job:#}"));
        let id = job["id"].as_i64().expect("job id");
        assert_eq!(body.job, id.to_string(), "{key} was stored by another job");
        // The whole output arrived: the same bytes as the generated file.
        let output = ob.outputs_dir().join(format!("{id}.jpg"));
        let on_disk =
            std::fs::read(&output).unwrap_or_else(|e| panic!("read {}: {e}", output.display()));
        assert!(
            body.body == on_disk,
            "job {id}: the stored body is not its output"
        );
        // Answered once: a body whose answer was lost (the reset after
        // storing) comes again with its key until one answer gets through,
        // the 200 for the key already stored; any other got its 201. One
        // more would be a job sent again after it was answered.
        assert_eq!(
            body.replays,
            u32::from(body.lost_answers > 0),
            "job {id}: answered {} times: {body:?}",
            body.replays + u32::from(body.lost_answers == 0)
        );
    }
    let failed_ids: HashSet<String> = failed
        .iter()
        .map(|j| j["id"].as_i64().unwrap().to_string())
        .collect();
    for (key, body) in &stored {
        // A body whose job did not complete may only be one whose answer
        // was lost and whose later attempts all failed.
        if !keys_seen.contains(key) {
            assert!(
                failed_ids.contains(&body.job) && body.lost_answers > 0,
                "the server holds {key} of job {}, which is not delivered",
                body.job
            );
        }
    }

    // ------------------------------------------------ memory stays flat
    let body_bytes: usize = stored.values().map(|s| s.body.len()).sum();
    let lost: u32 = stored.values().map(|s| s.lost_answers).sum();
    let replays: u32 = stored.values().map(|s| s.replays).sum();
    let faults = server.faults();
    let fault_total: u64 = faults.values().sum();
    let mut fault_list: Vec<String> = faults.iter().map(|(f, n)| format!("{f:?} {n}")).collect();
    fault_list.sort();
    println!(
        "soak: {} completed, {} failed, {} requests, {fault_total} faults ({}), {} retries scheduled; {lost} answers lost after storing, {replays} keys sent again and answered 200; outputs {:.1} MB, {} bytes each on average",
        completed.len(),
        failed.len(),
        server.requests(),
        fault_list.join(", "),
        summary["retries_scheduled"],
        mb(body_bytes as u64),
        body_bytes / stored.len().max(1)
    );
    println!(
        "soak: run {:.1?}, {:.0} jobs/s; the worker used {:.1?} of CPU ({:.2} ms a job) by its last sample",
        run_time,
        jobs as f64 / run_time.as_secs_f64(),
        cpu,
        cpu.as_secs_f64() * 1000.0 / jobs as f64
    );
    let window = |from, to, value| max_between(&samples, run_time, from, to, value);
    let (early_rss, late_rss) = (window(0.0, 0.25, |s| s.rss), window(0.5, 1.0, |s| s.rss));
    let (early, late) = (
        window(0.0, 0.25, Sample::net),
        window(0.5, 1.0, Sample::net),
    );
    println!(
        "soak: RSS {:.1}–{:.1} MB; max over the first quarter {:.1} MB, over the last half {:.1} MB; less the caches' content {:.1} MB and {:.1} MB; {} samples in {}",
        mb(samples.iter().map(|s| s.rss).min().unwrap_or(0)),
        mb(samples.iter().map(|s| s.rss).max().unwrap_or(0)),
        mb(early_rss.unwrap_or(0)),
        mb(late_rss.unwrap_or(0)),
        mb(early.unwrap_or(0)),
        mb(late.unwrap_or(0)),
        samples.len(),
        csv.display()
    );
    let half: Vec<&Sample> = samples.iter().filter(|s| s.at >= run_time / 2).collect();
    if let (Some(first), Some(last)) = (half.first(), half.last()) {
        let jobs_between = last.done.saturating_sub(first.done).max(1);
        println!(
            "soak: over the last half RSS grew {:.0} bytes a job, {:.0} less the caches' content",
            (last.rss as f64 - first.rss as f64) / jobs_between as f64,
            (last.net() as f64 - first.net() as f64) / jobs_between as f64
        );
    }
    match (early, late) {
        (Some(early), Some(late)) if samples.len() >= 8 => {
            // Memory that grows with the jobs done is a leak; what the run
            // needs from the start (the runtime, SQLite's page cache, the
            // connections) is there in the first quarter already. The
            // caches' budgeted content is taken out first (see
            // `cache_allowance`): it is meant to grow, and alone it would
            // take raw RSS past the limit from about 23,000 such jobs on.
            assert!(
                flat(early, late),
                "memory grew: the last half's max {:.1} MB > 1.5 × the first quarter's {:.1} MB + 20 MB (RSS less the caches' content; series in {})",
                mb(late),
                mb(early),
                csv.display()
            );
            if let (Some(early_rss), Some(late_rss)) = (early_rss, late_rss) {
                if !flat(early_rss, late_rss) {
                    println!("soak: raw RSS alone is not within 1.5 × + 20 MB: the caches filling");
                }
            }
        }
        _ => println!("soak: the run was too short to judge its memory"),
    }

    drop((stored, history));
    let cleanup = Instant::now();
    remove_files(&src);
    remove_files(&ob.outputs_dir());
    drop((ob, shm));
    println!(
        "soak: cleanup {:.1?}; whole test {:.1?}",
        cleanup.elapsed(),
        start.elapsed()
    );
}

/// The last lines of a long output.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
