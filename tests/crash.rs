//! The queue under abuse: workers killed with SIGKILL at random moments, and
//! two workers sharing one database. Whatever happens, every item must end up
//! delivered exactly once, whole, with a sound database.

mod common;
#[path = "common/upload_server.rs"]
mod upload_server;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use upload_server::UploadServer;

const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Items queued for a kill loop (more are added only if they all get
/// delivered before enough kills landed).
const ITEMS: usize = 500;
/// Kills wanted at the least (`OUTBOX_CRASH_KILLS` asks for more, for a
/// longer soak; `OUTBOX_CRASH_SEED` replays one run's random draws).
const MIN_KILLS: usize = 100;
/// A run that has not got as far as its kill moment by then is killed
/// anyway (a slow machine, or a stuck worker that the last run then shows).
const RUN_CAP: Duration = Duration::from_secs(10);
/// The kill loop stops after this long whatever happened (the test then
/// reports how many kills it got, and fails if too few).
const KILL_BUDGET: Duration = Duration::from_secs(100);

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// The test's random numbers, from `OUTBOX_CRASH_SEED` when it is set.
fn crash_rng() -> fastrand::Rng {
    let rng = fastrand::Rng::with_seed(
        env_number("OUTBOX_CRASH_SEED").unwrap_or_else(|| fastrand::u64(..)),
    );
    println!("seed {} (OUTBOX_CRASH_SEED replays it)", rng.get_seed());
    rng
}

fn run_command_for(ob: &Outbox, args: &[&str]) -> Command {
    let mut cmd = ob.command(args);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// Writes `n` small PNGs `dir/{prefix}{i:04}.png` whose outputs differ for
/// sure: `seed_base + i` is drawn in 8×8 blocks, black or white by bit,
/// which no JPEG encoding can make alike (the seed stamp of
/// [`pattern_image`] alone may be, and items with the same output share an
/// idempotency key).
fn write_distinct_pngs(dir: &Path, prefix: &str, n: usize, seed_base: u64) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("create folder");
    (0..n)
        .map(|i| {
            let seed = seed_base + i as u64;
            let mut img = pattern_image(32, 32, seed);
            for (x, y, px) in img.enumerate_pixels_mut() {
                let bit = (y / 8) * 4 + x / 8;
                let v = if (seed >> bit) & 1 == 1 { 255 } else { 0 };
                *px = image::Rgb([v, v, px.0[2]]);
            }
            let path = dir.join(format!("{prefix}{i:04}.png"));
            img.save(&path)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        })
        .collect()
}

/// Killing a worker three times while it generates one item is exactly what
/// a decoder crash looks like, so such an item is quarantined (failed, with
/// the reason). Checks that nothing failed for any other reason; returns how
/// many were quarantined.
fn only_quarantined_failures(ob: &Outbox) -> usize {
    let failed = ob.history_with(&["--state", "failed"]);
    for job in &failed {
        let (_, message) = error_of(job);
        assert!(
            message.starts_with("quarantined: Outbox stopped 3 times while generating"),
            "only quarantine may fail a job here: {job:#}"
        );
    }
    failed.len()
}

/// Jobs not finished yet.
fn unfinished(counts: &BTreeMap<String, u64>) -> u64 {
    counts["pending"] + counts["processing"] + counts["paused"]
}

/// The number of completed jobs, read from the counters while a worker runs.
/// Read-only: this connection never writes, checkpoints or removes the WAL.
struct Completed(rusqlite::Connection);

impl Completed {
    fn open(ob: &Outbox) -> Completed {
        let db = rusqlite::Connection::open_with_flags(
            ob.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open the database read-only");
        db.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        Completed(db)
    }

    fn now(&self) -> u64 {
        self.0
            .query_row(
                "SELECT coalesce((SELECT n FROM state_counts WHERE state = 'completed'), 0)",
                [],
                |r| r.get(0),
            )
            .expect("read the completed count")
    }
}

/// Queues [`ITEMS`] small images for `dest` and runs `outbox run
/// --until-idle` over and over, each run SIGKILLed at a random moment, until
/// enough kills landed (or the time budget ran out). Then a last run
/// finishes the work, and a manual retry delivers what was quarantined.
/// Returns the sources queued.
fn soak(ob: &Outbox, dest: &str, rng: &mut fastrand::Rng) -> Vec<PathBuf> {
    let mut sources = write_distinct_pngs(&ob.path("src0"), "b0-", ITEMS, 0);
    ob.add(&[&ob.path("src0")], dest, &[]);

    let start = Instant::now();
    let min_kills = env_number("OUTBOX_CRASH_KILLS").map_or(MIN_KILLS, |n| n as usize);
    let budget = KILL_BUDGET.max(Duration::from_millis(500 * min_kills as u64));
    let completed = Completed::open(ob);
    let (mut kills, mut runs, mut self_exits, mut batches) = (0usize, 0usize, 0usize, 1usize);
    // Kills that came after the run had completed a job.
    let mut kills_in_work = 0usize;
    let mut left = sources.len() as u64;
    loop {
        // The moment is drawn in the run's work, not its clock, so the
        // items last for the kills whatever the machine's speed: a random
        // number of jobs up to the share of what is left per kill still
        // wanted, then a random few milliseconds more (into the next jobs'
        // generation, upload or commit). With none, a random moment of its
        // first 80 ms (start-up, recovery of the dead runs, the first jobs).
        let share = left as f64 / min_kills.saturating_sub(kills).max(1) as f64;
        let jobs = rng.u64(0..=share.max(1.0) as u64);
        let before = completed.now();
        let mut child = run_command_for(ob, &["run", "--until-idle"])
            .spawn()
            .expect("spawn outbox run");
        runs += 1;
        let deadline = Instant::now() + RUN_CAP;
        while completed.now() < before + jobs
            && Instant::now() < deadline
            && child.try_wait().expect("try_wait").is_none()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let extra = if jobs == 0 { 5..=80 } else { 0..=25 };
        std::thread::sleep(Duration::from_millis(rng.u64(extra)));
        let status = match child.try_wait().expect("try_wait") {
            Some(status) => status,
            None => {
                child.kill().expect("kill");
                child.wait().expect("wait")
            }
        };
        let counts = ob.counts();
        left = unfinished(&counts);
        if status.signal() == Some(9) {
            kills += 1;
            kills_in_work += usize::from(counts["completed"] > before);
            if kills >= min_kills {
                // The last run (below) finishes what is left.
                break;
            }
        } else {
            // It got to the end by itself.
            self_exits += 1;
            let quarantined = only_quarantined_failures(ob);
            assert!(
                status.success() || (status.code() == Some(1) && quarantined > 0),
                "a run exited with {status:?}"
            );
            assert_eq!(
                left, 0,
                "a run --until-idle exited with work left: {counts:?}"
            );
            // Not enough kills yet: more work, more kills.
            let dir = ob.dir(&format!("src{batches}"));
            sources.extend(write_distinct_pngs(
                &dir,
                &format!("b{batches}-"),
                60,
                batches as u64 * 1000,
            ));
            ob.add(&[&dir], dest, &[]);
            left += 60;
            batches += 1;
        }
        if start.elapsed() > budget {
            break;
        }
    }
    println!(
        "{kills} kills ({kills_in_work} after the run completed a job) in {runs} runs ({self_exits} finished by themselves), {} items in {batches} batch(es), {left} jobs left for the last run, {:.1?}",
        sources.len(),
        start.elapsed()
    );
    assert!(kills >= min_kills, "only {kills} kills in {budget:?}");

    let last = ob.run_until_idle(&[]);
    assert!(
        matches!(last.code, Some(0 | 1)),
        "final run\nstdout:\n{}\nstderr:\n{}",
        last.stdout,
        last.stderr
    );
    let quarantined = only_quarantined_failures(ob);
    if quarantined > 0 {
        // The user's way out of a quarantine, a manual retry, delivers once.
        println!("{quarantined} item(s) quarantined; retrying them");
        ob.run(&["retry", "--failed"]).expect_code(0);
        ob.run_until_idle(&[]).expect_code(0);
    }
    sources
}

#[test]
fn killed_workers_lose_nothing_and_deliver_nothing_twice() {
    let mut rng = crash_rng();
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let sources = soak(&ob, "out", &mut rng);

    let delivered = folder_contents(&out);
    let urls = check_delivered_exactly_once(&ob, &delivered, &sources);
    let files: BTreeSet<String> = delivered
        .iter()
        .map(|(name, _)| file_url(&out.join(name)))
        .collect();
    assert_eq!(urls, files, "the jobs' URLs are the delivered files");
}

#[test]
fn killed_workers_upload_each_item_once_over_http() {
    let mut rng = crash_rng();
    let server = UploadServer::start_slow(IDEMPOTENCY_HEADER, rng.u64(..));
    let ob = Outbox::new();
    ob.run(&[
        "dest",
        "add",
        "web",
        "--kind",
        "http",
        "--url",
        &format!("{}/up/{{job}}/{{file_name}}", server.url()),
        "--method",
        "put",
        "--result-header",
        "Location",
        "--idempotency-header",
        IDEMPOTENCY_HEADER,
    ])
    .ok();
    let sources = soak(&ob, "web", &mut rng);

    server.settle();
    let stored = server.stored();
    let resends: u32 = stored.values().map(|u| u.replays).sum();
    println!(
        "server: {} stored, {} requests, {} resends of a stored key, {} cut off",
        stored.len(),
        server.requests(),
        resends,
        server.cut_off()
    );
    let refused = server.rejected();
    assert!(refused.is_empty(), "refused uploads: {refused:?}");
    // One body per idempotency key, under the name it was sent with.
    let delivered: Vec<(String, Vec<u8>)> = stored
        .values()
        .map(|u| (u.file_name.clone(), u.body.clone()))
        .collect();
    let urls = check_delivered_exactly_once(&ob, &delivered, &sources);
    assert_eq!(stored.len(), sources.len());
    let answered: BTreeSet<String> = stored
        .keys()
        .map(|key| format!("{}/files/{key}", server.url()))
        .collect();
    assert_eq!(urls, answered, "the jobs' URLs are the server's answers");
    // Kills landed between the server taking an upload and the worker
    // recording it, and the resend carried the same key.
    assert!(resends > 0, "no upload was resent");
}

#[test]
fn two_workers_on_one_database_deliver_each_item_once() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let sources = write_small_pngs(&ob.dir("src"), "two-", 100, 7);
    ob.add(&[&ob.path("src")], "out", &[]);

    let spawn = || {
        ob.command(&["run", "--until-idle", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn outbox run")
    };
    let (a, b) = (spawn(), spawn());
    let summaries: Vec<Value> = [a, b]
        .into_iter()
        .map(|child| {
            let deadline = Instant::now() + TIMEOUT;
            let mut child = child;
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "a worker did not finish");
                std::thread::sleep(Duration::from_millis(20));
            }
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "worker exited {:?}\nstdout:\n{}\nstderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).expect("run --json summary")
        })
        .collect();
    println!("summaries: {summaries:?}");
    let total = |key: &str| -> u64 { summaries.iter().map(|s| s[key].as_u64().unwrap()).sum() };
    // Each job was generated once and completed once, by one of the two.
    assert_eq!(total("generated"), 100, "{summaries:?}");
    assert_eq!(total("completed"), 100, "{summaries:?}");
    assert_eq!(total("failed"), 0, "{summaries:?}");

    check_delivered_exactly_once(&ob, &folder_contents(&out), &sources);
    for job in ob.history() {
        assert_eq!(job["attempts"].as_u64(), Some(1), "{job:#}");
        assert_eq!(job["manual_retries"].as_u64(), Some(0), "{job:#}");
    }
}
