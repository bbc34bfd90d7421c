//! The queue under abuse: workers killed with SIGKILL at random moments, and
//! two workers sharing one database. Whatever happens, every item must end up
//! delivered exactly once, whole, with a sound database.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let server = upload_server::UploadServer::start(rng.u64(..));
    let ob = Outbox::new();
    ob.run(&[
        "dest",
        "add",
        "web",
        "--kind",
        "http",
        "--url",
        &format!("{}/upload/{{file_name}}", server.url),
        "--result-json-pointer",
        "/url",
        "--idempotency-header",
        "Idempotency-Key",
    ])
    .ok();
    let sources = soak(&ob, "web", &mut rng);

    let log = server.settled();
    println!(
        "server: {} stored, {} whole uploads, {} resends of a stored key, {} cut off",
        log.stored.len(),
        log.received,
        log.resends,
        log.cut_off
    );
    assert!(log.refused.is_empty(), "refused uploads: {:?}", log.refused);
    // One body per idempotency key, under the name it was sent with.
    let delivered: Vec<(String, Vec<u8>)> = log
        .stored
        .values()
        .map(|u| (u.file_name.clone(), u.body.clone()))
        .collect();
    let urls = check_delivered_exactly_once(&ob, &delivered, &sources);
    assert_eq!(log.stored.len(), sources.len());
    let answered: BTreeSet<String> = log.stored.values().map(|u| u.url.clone()).collect();
    assert_eq!(urls, answered, "the jobs' URLs are the server's answers");
    // Kills landed between the server taking an upload and the worker
    // recording it, and the resend carried the same key.
    assert!(log.resends > 0, "no upload was resent");
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

/// An HTTP/1.1 upload endpoint on 127.0.0.1 that honours idempotency keys:
/// the first whole multipart upload of a key is stored, a later one with the
/// same key is answered with the same URL and stores nothing. It is slow at
/// random, before or after storing, so kills land while an upload is in
/// flight or unanswered.
mod upload_server {
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    /// The first whole upload of one idempotency key.
    #[derive(Clone, Debug)]
    pub struct Upload {
        pub file_name: String,
        pub body: Vec<u8>,
        pub url: String,
    }

    #[derive(Clone, Debug, Default)]
    pub struct Log {
        /// By idempotency key.
        pub stored: BTreeMap<String, Upload>,
        /// Whole uploads received, resends included.
        pub received: usize,
        /// Whole uploads whose key was stored already.
        pub resends: usize,
        /// Requests whose sender went away before the body was whole.
        pub cut_off: usize,
        /// Uploads answered with an error, and why (none is expected).
        pub refused: Vec<String>,
    }

    struct Shared {
        base: String,
        log: Mutex<Log>,
        rng: Mutex<fastrand::Rng>,
        /// Connections being served.
        open: AtomicUsize,
        stop: AtomicBool,
    }

    pub struct UploadServer {
        pub url: String,
        addr: SocketAddr,
        shared: Arc<Shared>,
        accept: Option<JoinHandle<()>>,
    }

    impl UploadServer {
        /// Listens on a free port of 127.0.0.1; `seed` drives the slowness.
        pub fn start(seed: u64) -> UploadServer {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
            let addr = listener.local_addr().expect("local address");
            let url = format!("http://{addr}");
            let shared = Arc::new(Shared {
                base: url.clone(),
                log: Mutex::default(),
                rng: Mutex::new(fastrand::Rng::with_seed(seed)),
                open: AtomicUsize::new(0),
                stop: AtomicBool::new(false),
            });
            let accept = {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        if shared.stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let shared = shared.clone();
                        shared.open.fetch_add(1, Ordering::SeqCst);
                        std::thread::spawn(move || {
                            let _ = serve(stream, &shared);
                            shared.open.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                })
            };
            UploadServer {
                url,
                addr,
                shared,
                accept: Some(accept),
            }
        }

        /// The log once every connection is closed (a killed worker's
        /// upload may still be waiting out its delay).
        pub fn settled(&self) -> Log {
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.shared.open.load(Ordering::SeqCst) > 0 {
                assert!(Instant::now() < deadline, "connections stay open");
                std::thread::sleep(Duration::from_millis(20));
            }
            self.shared.log.lock().unwrap().clone()
        }
    }

    impl Drop for UploadServer {
        fn drop(&mut self) {
            self.shared.stop.store(true, Ordering::SeqCst);
            // Wakes the accept loop so it sees the flag.
            let _ = TcpStream::connect(self.addr);
            if let Some(accept) = self.accept.take() {
                let _ = accept.join();
            }
        }
    }

    fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
        // A request never takes this long here: gives up on a stuck client.
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let method = line.split_whitespace().next().unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                shared.log.lock().unwrap().cut_off += 1;
                return Ok(());
            }
            let text = line.trim_end();
            if text.is_empty() {
                break;
            }
            let (name, value) = text.split_once(':').unwrap_or((text, ""));
            headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
        }
        let mut stream = stream;
        if method == "HEAD" {
            return answer(&mut stream, 200, "");
        }
        let Some(length) = headers
            .get("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        else {
            return refuse(&mut stream, shared, 411, "no Content-Length".into());
        };
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            shared.log.lock().unwrap().cut_off += 1;
            return Ok(());
        }
        let Some(key) = headers.get("idempotency-key").cloned() else {
            return refuse(&mut stream, shared, 400, "no Idempotency-Key".into());
        };
        let content_type = headers.get("content-type").cloned().unwrap_or_default();
        let Some((file_name, bytes)) = file_part(&content_type, &body) else {
            return refuse(&mut stream, shared, 400, format!("{key}: no file part"));
        };
        // Fast, slow to take the upload, or slow to answer once stored.
        let (pace, delay) = {
            let mut rng = shared.rng.lock().unwrap();
            (rng.u8(0..4), Duration::from_millis(rng.u64(20..=250)))
        };
        if pace == 2 {
            std::thread::sleep(delay);
        }
        let url = {
            let mut log = shared.log.lock().unwrap();
            log.received += 1;
            match log.stored.get(&key) {
                Some(first) if first.body != bytes || first.file_name != file_name => {
                    let why = format!(
                        "{key}: sent for {file_name}, but first for {}, bytes alike: {}",
                        first.file_name,
                        first.body == bytes
                    );
                    drop(log);
                    return refuse(&mut stream, shared, 409, why);
                }
                Some(first) => {
                    let url = first.url.clone();
                    log.resends += 1;
                    url
                }
                None => {
                    let url = format!("{}/files/{key}/{file_name}", shared.base);
                    let upload = Upload {
                        file_name,
                        body: bytes,
                        url: url.clone(),
                    };
                    log.stored.insert(key, upload);
                    url
                }
            }
        };
        if pace == 3 {
            std::thread::sleep(delay);
        }
        answer(
            &mut stream,
            200,
            &serde_json::json!({ "url": url }).to_string(),
        )
    }

    fn refuse(
        stream: &mut TcpStream,
        shared: &Shared,
        status: u16,
        why: String,
    ) -> std::io::Result<()> {
        shared.log.lock().unwrap().refused.push(why.clone());
        answer(
            stream,
            status,
            &serde_json::json!({ "error": why }).to_string(),
        )
    }

    fn answer(stream: &mut TcpStream, status: u16, json: &str) -> std::io::Result<()> {
        write!(
            stream,
            "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        )?;
        stream.flush()
    }

    /// The one part of a `multipart/form-data` body, if it is the field
    /// `file` and the form ends properly: (file name, bytes).
    fn file_part(content_type: &str, body: &[u8]) -> Option<(String, Vec<u8>)> {
        let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
        let open = format!("--{boundary}\r\n");
        let close = format!("\r\n--{boundary}--\r\n");
        let inner = body
            .strip_prefix(open.as_bytes())?
            .strip_suffix(close.as_bytes())?;
        let head_end = find(inner, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&inner[..head_end]).ok()?;
        let data = &inner[head_end + 4..];
        // Exactly one part: no second delimiter inside.
        if find(data, format!("\r\n--{boundary}").as_bytes()).is_some() {
            return None;
        }
        let param = |key: &str| {
            head.split(['\r', '\n', ';'])
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
        };
        if param("name")? != "file" {
            return None;
        }
        Some((param("filename")?, data.to_vec()))
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }
}
