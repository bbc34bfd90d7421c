//! The queue under abuse: workers killed with SIGKILL at random moments, and
//! two workers sharing one database. Whatever happens, every item must end up
//! delivered exactly once, whole, with a sound database.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills wanted at the least (`OUTBOX_CRASH_KILLS` asks for more, for a
/// longer soak; `OUTBOX_CRASH_SEED` replays one run's kill timings).
const MIN_KILLS: usize = 40;
/// The kill loop stops after this long whatever happened (the test then
/// reports how many kills it got, and fails if too few).
const KILL_BUDGET: Duration = Duration::from_secs(45);

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn run_command_for(ob: &Outbox, args: &[&str]) -> Command {
    let mut cmd = ob.command(args);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// The delivered names expected for these sources: `stem.jpg`.
fn expected_names(sources: &[PathBuf]) -> BTreeSet<String> {
    sources
        .iter()
        .map(|p| format!("{}.jpg", p.file_stem().unwrap().to_string_lossy()))
        .collect()
}

/// Everything that must hold once every item has been delivered.
fn check_delivered_exactly_once(ob: &Outbox, out: &Path, sources: &[PathBuf]) {
    let n = sources.len() as u64;
    let names: BTreeSet<String> = file_names(out).into_iter().collect();
    let partial: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(".outbox-") || n.ends_with(".part"))
        .collect();
    assert!(
        partial.is_empty(),
        "partial files in the destination: {partial:?}"
    );
    let expected = expected_names(sources);
    let extra: Vec<&String> = names.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&names).collect();
    if !(extra.is_empty() && missing.is_empty()) {
        // Say what became of the jobs of the missing items.
        let jobs: Vec<Value> = ob
            .history()
            .into_iter()
            .filter(|j| {
                let stem = Path::new(j["source"].as_str().unwrap_or(""))
                    .file_stem()
                    .map(|s| format!("{}.jpg", s.to_string_lossy()))
                    .unwrap_or_default();
                missing.contains(&&stem)
            })
            .collect();
        panic!(
            "destination holds {} files for {n} items; extra (duplicates?) {extra:?}; missing {missing:?}\njobs of the missing items: {jobs:#?}\ncounts: {:?}",
            names.len(),
            ob.counts()
        );
    }
    for name in &names {
        let (format, w, h) = decode(&out.join(name));
        assert_eq!(format, image::ImageFormat::Jpeg, "{name}");
        assert_eq!((w, h), (32, 32), "{name}");
    }
    let leftovers = part_files(&ob.outputs_dir());
    assert!(leftovers.is_empty(), "partial outputs: {leftovers:?}");

    let counts = ob.counts();
    assert_eq!(counts["completed"], n, "{counts:?}");
    assert_eq!(counts["failed"], 0, "{counts:?}");
    assert_eq!(counts["total"], n, "{counts:?}");

    let jobs = ob.history();
    assert_eq!(jobs.len() as u64, n);
    let mut urls = BTreeSet::new();
    for job in &jobs {
        assert_eq!(job["state"], "completed", "{job:#}");
        let attempts = job["attempts"].as_u64().unwrap();
        let max = job["max_attempts"].as_u64().unwrap();
        assert!(
            (1..=max).contains(&attempts),
            "attempts {attempts}/{max}: {job:#}"
        );
        let url = job["remote"]["url"]
            .as_str()
            .expect("a delivered job has a url");
        assert!(urls.insert(url.to_string()), "two jobs delivered to {url}");
    }

    let db = rusqlite::Connection::open(ob.db_path()).unwrap();
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    // The counters kept by triggers agree with the rows.
    let (rows, counted): (i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM jobs WHERE state = 'completed'),
                    (SELECT n FROM state_counts WHERE state = 'completed')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(rows, counted, "state_counts drifted from the jobs table");
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

fn queue_done(ob: &Outbox) -> bool {
    let c = ob.counts();
    c["pending"] + c["processing"] + c["paused"] == 0
}

#[test]
fn killed_workers_lose_nothing_and_deliver_nothing_twice() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let mut sources = write_small_pngs(&ob.dir("src0"), "b0-", 300, 0);
    ob.add(&[&ob.path("src0")], "out", &[]);

    let start = Instant::now();
    let min_kills = env_number("OUTBOX_CRASH_KILLS").map_or(MIN_KILLS, |n| n as usize);
    let budget = KILL_BUDGET.max(Duration::from_millis(150 * min_kills as u64));
    let mut rng = fastrand::Rng::with_seed(
        env_number("OUTBOX_CRASH_SEED").unwrap_or_else(|| fastrand::u64(..)),
    );
    println!("seed {} (OUTBOX_CRASH_SEED replays it)", rng.get_seed());
    let (mut kills, mut runs, mut self_exits, mut batches) = (0usize, 0usize, 0usize, 1usize);
    loop {
        let mut child = run_command_for(&ob, &["run", "--until-idle"])
            .spawn()
            .expect("spawn outbox run");
        runs += 1;
        std::thread::sleep(Duration::from_millis(rng.u64(5..=120)));
        let status = match child.try_wait().expect("try_wait") {
            Some(status) => status,
            None => {
                child.kill().expect("kill");
                child.wait().expect("wait")
            }
        };
        if status.signal() == Some(9) {
            kills += 1;
        } else {
            // It got to the end by itself.
            self_exits += 1;
            let quarantined = only_quarantined_failures(&ob);
            assert!(
                status.success() || (status.code() == Some(1) && quarantined > 0),
                "a run exited with {status:?}"
            );
            assert!(queue_done(&ob), "a run --until-idle exited with work left");
            if kills >= min_kills {
                break;
            }
            // Not enough kills yet: more work, more kills.
            let dir = ob.dir(&format!("src{batches}"));
            sources.extend(write_small_pngs(
                &dir,
                &format!("b{batches}-"),
                60,
                batches as u64 * 1000,
            ));
            ob.add(&[&dir], "out", &[]);
            batches += 1;
        }
        if start.elapsed() > budget {
            break;
        }
    }
    println!(
        "{kills} kills in {runs} runs ({self_exits} finished by themselves), {} items in {batches} batch(es), {:.1?}",
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
    let quarantined = only_quarantined_failures(&ob);
    if quarantined > 0 {
        // The user's way out of a quarantine, a manual retry, delivers once.
        println!("{quarantined} item(s) quarantined; retrying them");
        ob.run(&["retry", "--failed"]).expect_code(0);
        ob.run_until_idle(&[]).expect_code(0);
    }
    check_delivered_exactly_once(&ob, &out, &sources);
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

    check_delivered_exactly_once(&ob, &out, &sources);
    for job in ob.history() {
        assert_eq!(job["attempts"].as_u64(), Some(1), "{job:#}");
        assert_eq!(job["manual_retries"].as_u64(), Some(0), "{job:#}");
    }
}
