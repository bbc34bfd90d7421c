//! Storage faults against the real `outbox` binary: a full or read-only data
//! folder (real tmpfs mounts), a database another process holds, a damaged
//! database file, and the order of syncs that makes a queue survive power
//! loss (watched, and cut short, with strace).
//!
//! The destination-side faults (missing, read-only, full destination folder),
//! a locked `add` and a corrupt file being left untouched are in `cli.rs`.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs on `dir` (made if missing). These tests are about a real file
/// system's limits, so without one they fail and say why: mounting needs
/// root, which CI has.
#[track_caller]
fn tmpfs(dir: &Path, options: &str) -> Mount {
    std::fs::create_dir_all(dir).expect("create the mount point");
    assert!(
        is_root(),
        "this test mounts a tmpfs ({options}) and must run as root, as CI does"
    );
    Mount::tmpfs(dir, options)
        .unwrap_or_else(|e| panic!("cannot mount a tmpfs on {}: {e}", dir.display()))
}

/// Fills the file system holding `dir` with one file, then gives back `free`
/// bytes of it: what is left for Outbox. Returns the file, to delete when
/// the user "frees space".
fn fill_leaving(dir: &Path, free: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = File::create(&path).expect("create the filler");
    let chunk = vec![0xA5u8; 64 << 10];
    // Bounded: the file systems filled here are a few MiB.
    for _ in 0..100_000 {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::StorageFull => break,
            Err(e) => panic!("fill {}: {e}", path.display()),
        }
    }
    let len = file.metadata().expect("filler size").len();
    file.set_len(len.saturating_sub(free))
        .expect("give space back");
    path
}

fn db(ob: &Outbox) -> rusqlite::Connection {
    rusqlite::Connection::open(ob.db_path()).expect("open the database")
}

#[track_caller]
fn count(ob: &Outbox, table: &str) -> i64 {
    db(ob)
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count rows")
}

/// The single line a failed command printed on stderr.
#[track_caller]
fn one_line(out: &Out) -> String {
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one line on stderr: {:?}", out.stderr);
    assert!(lines[0].starts_with("outbox: "), "{lines:?}");
    lines[0].to_string()
}

// ------------------------------------------------------------ full data folder

#[test]
fn a_full_data_folder_fails_the_output_that_does_not_fit_and_retry_delivers_it() {
    let ob = Outbox::new();
    let disk = tmpfs(&ob.data, "size=4m");
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    // Noise does not compress: its output is far bigger than the space left.
    write_noise_image(&src.join("a-big.png"), 900, 900, 7);
    write_image(&src.join("b-tiny.png"), 16, 16, 8);
    // Two adds: the big one is generated first, alone, so the moment the disk
    // is full is while its output is written, not while the queue commits.
    let big = Outbox::added_ids(&ob.add(&[&src.join("a-big.png")], "out", &[]))[0];
    let tiny = Outbox::added_ids(&ob.add(&[&src.join("b-tiny.png")], "out", &[]))[0];

    let filler = fill_leaving(&ob.data, 384 << 10);
    let run = ob
        .run_until_idle(&["--generate-concurrency", "1", "--concurrency", "1"])
        .expect_code(1);
    assert!(
        run.stdout.contains("1 delivered, 1 failed"),
        "{}",
        run.stdout
    );

    let job = ob.job(big);
    assert_eq!(str_of(&job, "state"), "failed", "{job:#}");
    let (class, message) = error_of(&job);
    assert_eq!(class, "needs_user", "{message}");
    assert!(
        message.to_lowercase().contains("no space left"),
        "{message}"
    );
    assert!(message.contains(&s(&ob.outputs_dir())), "{message}");
    assert!(!message.contains('\n'), "{message:?}");
    // Nothing else was lost, and nothing partial stayed.
    assert_eq!(str_of(&ob.job(tiny), "state"), "completed");
    assert_eq!(file_names(&out), ["b-tiny.jpg"]);
    decode(&out.join("b-tiny.jpg"));
    assert_eq!(part_files(&ob.data), Vec::<PathBuf>::new());
    assert_eq!(file_names(&ob.outputs_dir()), [format!("{tiny}.jpg")]);
    assert_sound(&ob);

    // The user frees space and retries.
    std::fs::remove_file(&filler).expect("free the space");
    ob.run(&["retry", "--failed"]).ok();
    ob.run_until_idle(&[]).ok();
    assert_eq!(file_names(&out), ["a-big.jpg", "b-tiny.jpg"]);
    assert_eq!(decode(&out.join("a-big.jpg")).1, 900);
    let counts = ob.counts();
    assert_eq!((counts["completed"], counts["total"]), (2, 2), "{counts:?}");
    let big_output = std::fs::metadata(out.join("a-big.jpg")).unwrap().len();
    assert!(
        big_output > 384 << 10,
        "it could have fitted: {big_output} bytes"
    );
    drop(disk);
}

#[test]
fn an_enqueue_the_full_disk_cannot_commit_is_refused_whole_and_the_database_stays_sound() {
    let ob = Outbox::new();
    let disk = tmpfs(&ob.data, "size=2m");
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let before = ob.dir("before");
    write_small_pngs(&before, "keep-", 1, 1);
    let kept = Outbox::added_ids(&ob.add(&[&before], "out", &[]))[0];

    // Many items: one transaction far bigger than the space left, which is
    // still enough to open the database (its -shm and the -wal's header).
    let src = ob.dir("src");
    let sources = write_small_pngs(&src, "many-", 400, 100);
    let filler = fill_leaving(&ob.data, 64 << 10);
    let add = ob.run(&["add", &s(&src), "--to", "out"]).expect_code(1);
    let line = one_line(&add);
    assert!(line.contains("disk is full"), "{line}");
    assert!(line.contains(&s(&ob.db_path())), "{line}");

    std::fs::remove_file(&filler).expect("free the space");
    assert_sound(&ob);
    // Nothing half-queued: no batch, item or job of the refused add.
    assert_eq!(
        (
            count(&ob, "batches"),
            count(&ob, "items"),
            count(&ob, "jobs")
        ),
        (1, 1, 1)
    );
    let counts = ob.counts();
    assert_eq!((counts["pending"], counts["total"]), (1, 1), "{counts:?}");
    assert_eq!(str_of(&ob.job(kept), "state"), "pending");

    // With space, the same add queues every item.
    let report = ob.add(&[&src], "out", &[]);
    assert_eq!(
        Outbox::added_ids(&report).len(),
        sources.len(),
        "{report:#}"
    );
    drop(disk);
}

// ------------------------------------------------------------- locked database

#[test]
fn status_reads_beside_a_writer_and_is_refused_in_bounded_time_while_the_file_is_held() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "s", 2, 1);
    ob.add(&[&src], "out", &[]);

    // Another process in a write transaction: WAL readers do not wait for it.
    let writer = db(&ob);
    writer.execute_batch("BEGIN EXCLUSIVE").expect("write lock");
    let started = Instant::now();
    assert_eq!(ob.counts()["pending"], 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "status waited for a writer: {:?}",
        started.elapsed()
    );
    writer.execute_batch("ROLLBACK").expect("release");
    drop(writer);

    // Another process holding the whole file (SQLite's exclusive locking
    // mode, as a backup tool or `sqlite3` shell may): even a read must wait,
    // for the busy timeout (5 s) and not for ever.
    let holder = db(&ob);
    holder
        .execute_batch("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
        .expect("hold the file");
    for args in [vec!["status"], vec!["add", &s(&src), "--to", "out"]] {
        let refused = ob.run(&args).expect_code(1);
        let line = one_line(&refused);
        assert!(line.contains("locked"), "{args:?}: {line}");
        assert!(line.contains(&s(&ob.db_path())), "{args:?}: {line}");
        assert!(
            refused.elapsed >= Duration::from_secs(3) && refused.elapsed < Duration::from_secs(30),
            "{args:?} took {:?}",
            refused.elapsed
        );
    }
    drop(holder);
    let counts = ob.counts();
    assert_eq!((counts["pending"], counts["total"]), (2, 2), "{counts:?}");
}

/// Jobs completed, read beside the worker (WAL: never blocked by it).
fn completed(reader: &rusqlite::Connection) -> i64 {
    reader
        .query_row(
            "SELECT n FROM state_counts WHERE state = 'completed'",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0)
}

/// Starts `outbox run --until-idle` (one job at a time) over the queue and,
/// once it has delivered two jobs, takes the write lock as another process
/// would: returns the worker and the connection holding the lock.
fn lock_a_running_worker(
    ob: &Outbox,
    stderr: std::process::Stdio,
) -> (std::process::Child, rusqlite::Connection) {
    let mut worker = ob
        .command(&[
            "run",
            "--until-idle",
            "--generate-concurrency",
            "1",
            "--concurrency",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn the worker");
    let reader = db(ob);
    let deadline = Instant::now() + TIMEOUT;
    while completed(&reader) < 2 {
        assert!(Instant::now() < deadline, "the worker delivered nothing");
        assert!(worker.try_wait().expect("poll").is_none(), "finished early");
        std::thread::sleep(Duration::from_millis(5));
    }
    let holder = db(ob);
    // It may have to wait for one of the worker's short transactions.
    holder
        .busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    holder.execute_batch("BEGIN EXCLUSIVE").expect("write lock");
    (worker, holder)
}

#[test]
fn a_worker_that_meets_a_lock_mid_run_keeps_its_jobs_and_finishes_after_release() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    let sources = write_small_pngs(&src, "w", 24, 1);
    ob.add(&[&src], "out", &[]);

    let (mut worker, holder) = lock_a_running_worker(&ob, std::process::Stdio::null());
    let reader = db(&ob);
    let held_at = completed(&reader);
    assert!(held_at < 24, "the worker was done before the lock");
    // Held for most of the worker's busy timeout (5 s): it waits, it does
    // not give up, and it commits nothing meanwhile.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        worker.try_wait().expect("poll").is_none(),
        "the worker stopped"
    );
    assert_eq!(completed(&reader), held_at, "committed under a lock");
    holder.execute_batch("ROLLBACK").expect("release");
    drop(holder);

    let status = wait_with_timeout(&mut worker, TIMEOUT).expect("the worker finished");
    assert!(status.success(), "the worker exited with {status:?}");
    check_delivered_exactly_once(&ob, &folder_contents(&out), &sources);
}

#[test]
fn a_worker_locked_out_past_its_busy_timeout_stops_cleanly_and_the_next_run_finishes() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    let sources = write_small_pngs(&src, "x", 24, 1);
    ob.add(&[&src], "out", &[]);

    // Its few progress lines fit the pipe, read once it has exited.
    let (mut worker, holder) = lock_a_running_worker(&ob, std::process::Stdio::piped());
    let status = wait_with_timeout(&mut worker, Duration::from_secs(30))
        .expect("the worker gave up within its busy timeout, not never");
    holder.execute_batch("ROLLBACK").expect("release");
    drop(holder);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut worker.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Beside the progress lines, one error, saying why.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("outbox: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("locked"), "{stderr}");
    assert!(errors[0].contains(&s(&ob.db_path())), "{stderr}");

    // What it held is recovered by the next run; nothing twice.
    ob.run_until_idle(&[]).ok();
    check_delivered_exactly_once(&ob, &folder_contents(&out), &sources);
}

// --------------------------------------------------------- read-only data folder

#[test]
fn a_read_only_data_folder_is_refused_with_the_reason_and_loses_nothing() {
    let ob = Outbox::new();
    let disk = tmpfs(&ob.data, "size=8m");
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    let queued = write_small_pngs(&src, "q", 2, 1);
    ob.add(&[&src], "out", &[]);
    let later = ob.dir("later");
    write_small_pngs(&later, "l", 1, 10);

    // A write-protected card, a drive mounted read-only: root cannot write
    // there either.
    disk.remount("ro");
    for args in [
        vec!["add", &s(&later), "--to", "out"],
        vec!["run", "--until-idle"],
        vec!["retry", "--failed"],
    ] {
        let refused = ob.run(&args).expect_code(1);
        let line = one_line(&refused);
        assert!(
            line.to_lowercase().contains("read-only file system"),
            "{args:?}: {line}"
        );
        assert!(line.contains(&s(&ob.data)), "{args:?}: {line}");
    }
    assert_eq!(file_names(&out), Vec::<String>::new());

    disk.remount("rw");
    let counts = ob.counts();
    assert_eq!((counts["pending"], counts["total"]), (2, 2), "{counts:?}");
    ob.add(&[&later], "out", &[]);
    ob.run_until_idle(&[]).ok();
    let mut all = queued;
    all.push(later.join("l0000.png"));
    check_delivered_exactly_once(&ob, &folder_contents(&out), &all);
    assert_sound(&ob);
    drop(disk);
}

// -------------------------------------------------------------- damaged database

/// The data folder's entries named like a kept damaged database.
fn damaged_copies(ob: &Outbox) -> Vec<String> {
    file_names(&ob.data)
        .into_iter()
        .filter(|n| n.starts_with("outbox.sqlite3.damaged-"))
        .collect()
}

#[test]
fn a_damaged_database_is_kept_and_replaced_only_when_the_user_asks() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "d", 3, 1);
    ob.add(&[&src], "out", &[]);

    // A sound database is never replaced.
    let sound = ob.run(&["repair", "--fresh-database"]).expect_code(1);
    assert!(one_line(&sound).contains("is sound; nothing was changed"));
    assert_eq!(damaged_copies(&ob), Vec::<String>::new());
    assert_eq!(ob.counts()["total"], 3);
    // The flag is the user's agreement: without it, nothing to do.
    ob.run(&["repair"]).expect_code(2);

    // The header overwritten, and a write-ahead log beside it.
    let mut damaged = std::fs::read(ob.db_path()).expect("read the database");
    damaged[..100].copy_from_slice(&[0x5A; 100]);
    std::fs::write(ob.db_path(), &damaged).expect("damage the database");
    let wal = PathBuf::from(format!("{}-wal", s(&ob.db_path())));
    let wal_bytes = b"a write-ahead log the crash left".repeat(64);
    std::fs::write(&wal, &wal_bytes).expect("write a -wal");

    for args in [vec!["status"], vec!["run", "--until-idle"]] {
        let refused = ob.run(&args).expect_code(1);
        let line = one_line(&refused);
        assert!(line.contains("damaged"), "{args:?}: {line}");
        assert!(line.contains(&s(&ob.db_path())), "{args:?}: {line}");
        assert!(
            line.contains("outbox repair --fresh-database"),
            "names the way out: {line}"
        );
    }
    assert_eq!(std::fs::read(ob.db_path()).unwrap(), damaged, "untouched");
    assert_eq!(std::fs::read(&wal).unwrap(), wal_bytes, "untouched");

    let repair = ob.run(&["repair", "--fresh-database"]).ok();
    let copies = damaged_copies(&ob);
    assert_eq!(copies.len(), 2, "the database and its -wal: {copies:?}");
    let kept = ob.data.join(&copies[0]);
    let stamp = copies[0].trim_start_matches("outbox.sqlite3.damaged-");
    assert!(
        stamp.len() >= 13 && stamp.bytes().all(|b| b.is_ascii_digit()),
        "named by the time in ms: {copies:?}"
    );
    assert_eq!(copies[1], format!("{}-wal", copies[0]));
    assert!(repair.stdout.contains(&s(&kept)), "{}", repair.stdout);
    assert_eq!(std::fs::read(&kept).unwrap(), damaged, "kept as it was");
    assert_eq!(
        std::fs::read(ob.data.join(&copies[1])).unwrap(),
        wal_bytes,
        "its -wal kept beside it"
    );

    // A fresh, empty, sound queue that works.
    assert_sound(&ob);
    assert_eq!(ob.counts()["total"], 0);
    assert_eq!(ob.json(&["dest", "list", "--json"]), serde_json::json!([]));
    ob.add_folder_destination("out2", &ob.dir("out2"));
    ob.add(&[&src], "out2", &[]);
    ob.run_until_idle(&[]).ok();
    assert_eq!(file_names(&ob.path("out2")).len(), 3);
}

#[test]
fn damage_past_the_header_is_found_by_repair_and_set_aside() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_small_pngs(&src, "p", 40, 1);
    ob.add(&[&src], "out", &[]);

    // One index page overwritten.
    let root: i64 = db(&ob)
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'items_by_batch'",
            [],
            |r| r.get(0),
        )
        .expect("the items_by_batch index");
    let mut bytes = std::fs::read(ob.db_path()).expect("read the database");
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    let at = (root as usize - 1) * page;
    bytes[at..at + page].fill(0x33);
    std::fs::write(ob.db_path(), &bytes).expect("damage a page");
    // The queue still opens and counts: only reading every page finds it.
    assert_eq!(ob.counts()["total"], 40);

    let repair = ob.run(&["repair", "--fresh-database"]).ok();
    let copies = damaged_copies(&ob);
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(repair.stdout.lines().count(), 1, "{}", repair.stdout);
    assert!(
        repair.stdout.contains("items_by_batch"),
        "{}",
        repair.stdout
    );
    assert!(repair.stdout.contains(&copies[0]), "{}", repair.stdout);
    assert_eq!(std::fs::read(ob.data.join(&copies[0])).unwrap(), bytes);
    assert_sound(&ob);
    assert_eq!(ob.counts()["total"], 0);
}

// ------------------------------------------------------------ power-loss order

/// Whether strace can run here; the tests that need it say so when not.
/// These tests watch and cut real system calls: without strace they fail
/// and say why (the README's test command installs it).
fn require_strace() {
    let found = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "this test needs strace: apt-get install strace");
}

/// `cmd` (the binary, its arguments and environment) run under strace.
fn under_strace(cmd: &Command, strace: &[&str]) -> Command {
    let mut traced = Command::new("strace");
    traced.args(strace).arg("--").arg(cmd.get_program());
    traced.args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => traced.env(key, v),
            None => traced.env_remove(key),
        };
    }
    traced.stdin(std::process::Stdio::null());
    traced
}

/// The syscall a strace line (`PID name(args…`) starts, and its arguments.
fn syscall(line: &str) -> Option<(&str, &str)> {
    let rest = line.split_once(' ')?.1.trim_start();
    let (name, args) = rest.split_once('(')?;
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        .then_some((name, args))
}

#[test]
fn an_enqueue_is_in_wal_mode_and_synced_before_add_reports_it() {
    require_strace();
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let mode: String = db(&ob)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");

    let src = ob.dir("src");
    write_small_pngs(&src, "e", 3, 1);
    let log = ob.path("add.strace");
    let cmd = ob.command(&["add", &s(&src), "--to", "out"]);
    let traced = under_strace(
        &cmd,
        &[
            "-f",
            "-y",
            "-qq",
            "-s",
            "64",
            "-o",
            &s(&log),
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2,pwrite64,write",
        ],
    );
    let add = run_command(traced, TIMEOUT).ok();
    assert!(add.stdout.contains("queued 3"), "{}", add.stdout);

    let trace = std::fs::read_to_string(&log).expect("read the trace");
    let wal = format!("{}-wal>", s(&ob.db_path()));
    let calls: Vec<(&str, &str)> = trace.lines().filter_map(syscall).collect();
    let report = calls
        .iter()
        .position(|(name, args)| *name == "write" && args.starts_with("1<"))
        .unwrap_or_else(|| panic!("no report on stdout in the trace:\n{trace}"));
    let last_frame = calls[..report]
        .iter()
        .rposition(|(name, args)| *name == "pwrite64" && args.contains(&wal))
        .unwrap_or_else(|| {
            panic!("the enqueue wrote nothing to the WAL before its report:\n{trace}")
        });
    let synced = calls[last_frame..report]
        .iter()
        .any(|(name, args)| matches!(*name, "fsync" | "fdatasync") && args.contains(&wal));
    assert!(
        synced,
        "the WAL was not synced between the commit's last frame and the report:\n{trace}"
    );
    assert_eq!(ob.counts()["pending"], 3);
}

/// The invariant a crash at any moment must keep: every job that has an
/// output recorded (every job of the upload phase has one) finds it whole on
/// disk. Returns how many jobs had one.
#[track_caller]
fn check_recorded_outputs(ob: &Outbox) -> usize {
    struct Row {
        id: i64,
        state: String,
        phase: String,
        output: Option<(String, i64)>,
    }
    let conn = db(ob);
    let mut query = conn
        .prepare(
            "SELECT j.id, j.state, j.phase, o.path, o.size
             FROM jobs j LEFT JOIN outputs o ON o.id = j.output_id",
        )
        .expect("prepare");
    let jobs: Vec<Row> = query
        .query_map([], |r| {
            let path: Option<String> = r.get(3)?;
            let size: Option<i64> = r.get(4)?;
            Ok(Row {
                id: r.get(0)?,
                state: r.get(1)?,
                phase: r.get(2)?,
                output: path.zip(size),
            })
        })
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let mut with_output = 0;
    for Row {
        id,
        state,
        phase,
        output,
    } in jobs
    {
        if phase == "upload" || state == "completed" {
            assert!(
                output.is_some(),
                "job {id} ({state}, {phase}) has no output"
            );
        }
        let Some((path, size)) = output else {
            continue;
        };
        let path = Path::new(&path);
        let len = std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("job {id} points to {}: {e}", path.display()))
            .len();
        assert_eq!(len, size as u64, "job {id}: {} is partial", path.display());
        assert_eq!(decode(path).1, 32, "job {id}");
        with_output += 1;
    }
    with_output
}

/// Runs `outbox run --until-idle` under strace, SIGKILLed at the `when`th
/// fsync/fdatasync of any one thread (strace counts per syscall and per
/// thread) among those on `path` (`-P`: its descriptors). Whether it was
/// killed.
fn run_killed_at_sync(ob: &Outbox, path: &Path, when: u32) -> bool {
    let run = ob.command(&["run", "--until-idle", "--generate-concurrency", "1"]);
    let inject = format!("inject=fsync,fdatasync:signal=SIGKILL:when={when}");
    let mut traced = under_strace(
        &run,
        &[
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-P",
            &s(path),
            "-e",
            "trace=fsync,fdatasync",
            "-e",
            &inject,
        ],
    );
    traced
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = traced.spawn().expect("spawn strace");
    let status = wait_with_timeout(&mut child, TIMEOUT).expect("the traced run ended");
    // strace ends itself with the signal that ended the worker.
    match status.signal() {
        Some(9) => true,
        _ => {
            assert!(status.success(), "a run exited with {status:?}");
            false
        }
    }
}

/// Outputs on disk that no job records (left by a kill before the commit).
fn unrecorded_outputs(ob: &Outbox) -> Vec<String> {
    let recorded: BTreeSet<String> = db(ob)
        .prepare("SELECT path FROM outputs")
        .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
        .expect("output paths");
    files_under(&ob.outputs_dir())
        .into_iter()
        .map(|p| s(&p))
        .filter(|p| !recorded.contains(p))
        .collect()
}

#[test]
fn a_worker_killed_at_its_syncs_never_records_an_output_it_has_not_written() {
    require_strace();
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    let sources = write_small_pngs(&src, "k", 16, 1);
    ob.add(&[&src], "out", &[]);
    let wal = PathBuf::from(format!("{}-wal", s(&ob.db_path())));

    // Between an output's rename into place and its job's commit: killed at
    // the sync of the outputs folder, the file is there and no job has it.
    assert!(run_killed_at_sync(&ob, &ob.outputs_dir(), 1), "not killed");
    assert_eq!(check_recorded_outputs(&ob), 0);
    let orphan = unrecorded_outputs(&ob);
    assert_eq!(
        orphan.len(),
        1,
        "the kill landed after the rename: {orphan:?}"
    );
    decode(Path::new(&orphan[0]));

    // Then at the commits' syncs (the queue's WAL), ever later; again after
    // a rename; and between a delivery into the destination folder and its
    // record.
    let outputs = ob.outputs_dir();
    let mut kills = vec![("outputs", 1, 0)];
    for (label, path, when) in [
        ("wal", &wal, 1),
        ("destination", &out, 1),
        ("wal", &wal, 2),
        ("outputs", &outputs, 1),
        ("wal", &wal, 3),
        ("destination", &out, 1),
        ("wal", &wal, 4),
    ] {
        if run_killed_at_sync(&ob, path, when) {
            kills.push((label, when, check_recorded_outputs(&ob)));
        } else {
            check_recorded_outputs(&ob);
        }
    }
    println!("killed at (sync, n, outputs recorded after): {kills:?}");
    assert!(kills.len() >= 6, "too few kills: {kills:?}");
    for label in ["wal", "destination", "outputs"] {
        assert!(
            kills.iter().filter(|k| k.0 == label).count() >= 2,
            "{kills:?}"
        );
    }

    // Three kills while one job generated quarantine it (what a decoder that
    // takes the process down looks like): the user's retry delivers it.
    ob.run_until_idle(&[]);
    for job in ob.history_with(&["--state", "failed"]) {
        let (_, message) = error_of(&job);
        assert!(message.starts_with("quarantined:"), "{job:#}");
    }
    ob.run(&["retry", "--failed"]).ok();
    ob.run_until_idle(&[]).ok();
    check_recorded_outputs(&ob);
    check_delivered_exactly_once(&ob, &folder_contents(&out), &sources);
}
