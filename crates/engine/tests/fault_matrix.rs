//! Each network fault of an HTTP destination through the whole queue: one
//! real JPEG is queued to an `http` destination on a fault-injecting server
//! on 127.0.0.1, the real worker generates and uploads it with a clock the
//! test moves (backoff takes no real time), and each row checks what the
//! job became: its state, the error's class and message, the attempts, the
//! wait before each retry, and how many copies the server kept (one per
//! idempotency key, so a retry after an ambiguous failure shows as a second
//! copy only if the key changed).
//!
//! `http_destination.rs` checks the same faults on the destination alone.

mod support;

#[path = "shared/fault_server.rs"]
mod fault_server;

use fault_server::{form_parts, json_error, respond, Behaviour, Request, Server};
use outbox_engine::destinations::{HttpAuth, HttpMethod, HttpSettings, ResultUrl};
use outbox_engine::{
    Clock, DestinationView, ErrorClass, JobId, JobState, WorkerConfig, WorkerSummary,
    DEFAULT_MAX_ATTEMPTS,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Where an accepted upload is, in the server's JSON answer.
const CDN_URL: &str = "https://cdn.example/u/shoe.jpg";

/// The source's size; the `web` recipe keeps it (it only shrinks).
const WIDTH: u32 = 48;
const HEIGHT: u32 = 32;

/// What the test points the destination at.
enum Target {
    /// The fault server, one behaviour per connection (the last repeats).
    Script(Vec<Behaviour>),
    /// An `https://` URL to a port that speaks plain HTTP.
    PlainTcpOverHttps,
}

/// One fault and what the queue must make of it.
struct Row {
    name: &'static str,
    target: Target,
    /// The stall limit: short only where silence or slowness is the fault,
    /// so a busy machine elsewhere never turns into a timeout.
    timeout_seconds: u64,
    state: JobState,
    /// Of every failure; `None`: no attempt may fail.
    class: Option<ErrorClass>,
    attempts: u32,
    /// In the message that tells the cause: the final error of a failed
    /// job, the first failure of one that recovered.
    phrases: &'static [&'static str],
    /// Copies the server kept.
    stored: usize,
    /// The server's `Retry-After`, which must be the first wait exactly;
    /// otherwise each wait is the backoff's (2 s, then 4 s, ± 25 %).
    retry_after: Option<Duration>,
}

fn row(
    name: &'static str,
    target: Target,
    state: JobState,
    class: Option<ErrorClass>,
    attempts: u32,
    stored: usize,
    phrases: &'static [&'static str],
) -> Row {
    Row {
        name,
        target,
        timeout_seconds: 30,
        state,
        class,
        attempts,
        phrases,
        stored,
        retry_after: None,
    }
}

fn script(behaviours: Vec<Behaviour>) -> Target {
    Target::Script(behaviours)
}

/// The answer of a server that took the upload.
fn ok() -> Behaviour {
    let body = serde_json::json!({ "url": CDN_URL }).to_string();
    respond(201, &[("Content-Type", "application/json")], &body)
}

/// The faults. A transient fault either passes (it fails the first attempt
/// or two, then the server takes the upload: that shows the retry and that
/// it left one copy) or lasts (every attempt fails: that shows the job
/// failing after `DEFAULT_MAX_ATTEMPTS` with the count in its message).
fn rows() -> Vec<Row> {
    use Behaviour::{Hang, RedirectLoop, ResetAfterBody, ResetBeforeBody};
    use ErrorClass::{NeedsUser, Permanent, Transient};
    use JobState::{Completed, Failed};
    let plain = |status| respond(status, &[], "try later");
    let max = DEFAULT_MAX_ATTEMPTS;
    // A table reads best one row a line.
    #[rustfmt::skip]
    let rows = vec![
        // Credentials and refusals: failed at once, nothing kept.
        row("401", script(vec![json_error(401, "bad token")]), Failed, Some(NeedsUser), 1, 0,
            &["401 Unauthorized", "bad token"]),
        row("403", script(vec![json_error(403, "no uploads")]), Failed, Some(NeedsUser), 1, 0,
            &["403 Forbidden", "no uploads"]),
        row("404", script(vec![json_error(404, "no such album")]), Failed, Some(Permanent), 1, 0,
            &["404 Not Found", "no such album"]),
        // Passes: the server's own timeout is worth one more try.
        row("408", script(vec![plain(408), ok()]), Completed, Some(Transient), 2, 1,
            &["408 Request Timeout", "try later"]),
        row("413", script(vec![json_error(413, "file too large")]), Failed, Some(Permanent), 1, 0,
            &["413 Payload Too Large", "file too large"]),
        row("415", script(vec![json_error(415, "type not allowed")]), Failed, Some(Permanent), 1, 0,
            &["415 Unsupported Media Type", "type not allowed"]),
        row("422", script(vec![json_error(422, "missing alt text")]), Failed, Some(Permanent), 1, 0,
            &["422 Unprocessable Entity", "missing alt text"]),
        // Passes after the server's wait, which replaces the backoff.
        Row {
            retry_after: Some(Duration::from_secs(7)),
            ..row("429 with Retry-After",
                  script(vec![respond(429, &[("Retry-After", "7")], "slow down"), ok()]),
                  Completed, Some(Transient), 2, 1, &["429 Too Many Requests", "slow down"])
        },
        // Passes after the backoff's own wait.
        row("429 without", script(vec![plain(429), ok()]), Completed, Some(Transient), 2, 1,
            &["429 Too Many Requests"]),
        // Lasts: every attempt fails, the job fails with the count.
        row("500", script(vec![plain(500)]), Failed, Some(Transient), max, 0,
            &["gave up after 3 attempts", "500 Internal Server Error", "try later"]),
        // Passes on the second attempt.
        row("502", script(vec![plain(502), ok()]), Completed, Some(Transient), 2, 1,
            &["502 Bad Gateway"]),
        // Passes on the third: two waits, the second one doubled.
        row("503", script(vec![plain(503), plain(503), ok()]), Completed, Some(Transient), 3, 1,
            &["503 Service Unavailable"]),
        // Lasts.
        row("504", script(vec![plain(504)]), Failed, Some(Transient), max, 0,
            &["gave up after 3 attempts", "504 Gateway Timeout"]),
        // Passes: nothing arrived, the resend is the only copy.
        row("reset before body", script(vec![ResetBeforeBody, ok()]), Completed, Some(Transient),
            2, 1, &["the connection failed"]),
        // Passes: the first body arrived and was kept, the client never
        // heard; the resend carries the same key, so still one copy.
        row("reset after body", script(vec![ResetAfterBody, ok()]), Completed, Some(Transient),
            2, 1, &["the connection failed"]),
        // Passes: the server kept the body and went silent past the 1 s
        // limit; the resend carries the same key, so still one copy.
        Row {
            timeout_seconds: 1,
            ..row("accept and hang", script(vec![Hang, ok()]), Completed, Some(Transient), 2, 1,
                  &["timed out", "nothing moved for 1 s"])
        },
        // An answer that keeps coming for longer than the 1 s limit.
        Row {
            timeout_seconds: 1,
            ..row("trickle", script(vec![Behaviour::Trickle {
                    body: format!(r#"{{"url": "{CDN_URL}", "padding": "................"}}"#),
                    pause: Duration::from_millis(150),
                }]), Completed, None, 1, 1, &[])
        },
        // The server kept it but the answer has no URL: a retry would
        // upload it again, so the job fails at once.
        row("invalid JSON", script(vec![respond(200, &[], "<html>uploaded!</html>")]), Failed,
            Some(Permanent), 1, 1, &["accepted but the answer has no URL", "not JSON"]),
        row("redirect loop", script(vec![RedirectLoop]), Failed, Some(Permanent), 1, 0,
            &["too many redirects"]),
        // Lasts: every handshake fails the same way, so the first one
        // stops the job and asks the user to fix the setting.
        row("TLS to a plain port", Target::PlainTcpOverHttps, Failed, Some(NeedsUser), 1, 0,
            &["the secure connection (TLS) failed", "scheme"]),
    ];
    rows
}

// ---------------------------------------------------------------- running a row

/// One failed attempt as the job showed it.
struct Failure {
    class: ErrorClass,
    message: String,
    /// Until the next attempt was due (ms on the test's clock); `None` for
    /// the final failure.
    wait_ms: Option<i64>,
}

/// What came of one row.
struct Seen {
    job: JobId,
    state: JobState,
    attempts: u32,
    failures: Vec<Failure>,
    /// Requests (or, for TLS, connections) that reached the server.
    uploads: usize,
    /// The idempotency key of each upload the server read.
    keys: Vec<Option<String>>,
    stored: Vec<Request>,
    remote_url: Option<String>,
    summary: WorkerSummary,
    /// Real time from the worker's start to its stop.
    elapsed: Duration,
}

/// A small real JPEG whose pixels vary, so the recipe has work to do.
fn write_jpeg(path: &std::path::Path) {
    let img = image::RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 7) as u8, ((x + y) * 3) as u8])
    });
    img.save(path).expect("write jpeg");
}

/// A plain TCP port that answers whatever arrives the way a plain HTTP
/// server answers a TLS hello: 400, then close. Counts connections.
async fn plain_tcp_port() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind plain port");
    let port = listener.local_addr().expect("local addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut hello = [0u8; 1024];
                let _ = stream.read(&mut hello).await;
                let answer =
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, connections)
}

async fn run_row(row: &Row) -> Seen {
    let name = row.name;
    let bed = TestBed::new();
    let (server, tls_connections, url) = match &row.target {
        Target::Script(behaviours) => {
            let server = Server::start(behaviours.clone()).await;
            let url = format!("{}/upload/{{file_name}}", server.url);
            (Some(server), None, url)
        }
        Target::PlainTcpOverHttps => {
            let (port, connections) = plain_tcp_port().await;
            let url = format!("https://127.0.0.1:{port}/upload/{{file_name}}");
            (None, Some(connections), url)
        }
    };
    let settings = HttpSettings {
        url,
        method: HttpMethod::Post,
        field: "file".into(),
        headers: BTreeMap::new(),
        auth: HttpAuth::None,
        result: ResultUrl::JsonPointer("/url".into()),
        idempotency_header: Some(fault_server::IDEMPOTENCY_HEADER.into()),
        timeout_seconds: row.timeout_seconds,
    };
    bed.engine
        .add_destination(
            DestinationView {
                name: "api".into(),
                kind: "http".into(),
                settings: serde_json::to_value(&settings).expect("settings as JSON"),
                max_concurrent: None,
            },
            None,
        )
        .expect("add the http destination");
    let source = bed.path("shoe.jpg");
    write_jpeg(&source);
    let job = bed.add(&[source], to("api"))[0];

    let started = Instant::now();
    let worker = tokio::spawn(
        bed.engine
            .worker(WorkerConfig {
                until_idle: true,
                ..fast_worker()
            })
            .run(CancellationToken::new()),
    );
    // Each time the job waits for a retry, note why and move the clock to
    // the moment it is due; the worker stops by itself once nothing is left.
    let mut failures = Vec::new();
    let deadline = started + Duration::from_secs(30);
    while !worker.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{name}: the worker did not finish within 30 s"
        );
        let j = bed.job(job);
        if j.state == JobState::Pending && j.attempts as usize > failures.len() {
            if let (Some(error), Some(due)) = (j.error, j.next_attempt_at) {
                let wait_ms = due - bed.clock.now_ms();
                failures.push(Failure {
                    class: error.class,
                    message: error.message,
                    wait_ms: Some(wait_ms),
                });
                bed.clock
                    .advance(Duration::from_millis(wait_ms.max(0) as u64));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let summary = worker
        .await
        .expect("the worker task")
        .unwrap_or_else(|e| panic!("{name}: the worker failed: {e}"));
    let elapsed = started.elapsed();
    let j = bed.job(job);
    if let Some(error) = &j.error {
        failures.push(Failure {
            class: error.class,
            message: error.message.clone(),
            wait_ms: None,
        });
    }
    let (uploads, keys, stored) = match (&server, &tls_connections) {
        (Some(server), _) => {
            let posts: Vec<Request> = server
                .requests()
                .into_iter()
                .filter(|r| r.method == "POST")
                .collect();
            let keys = posts
                .iter()
                .map(|r| {
                    r.header(fault_server::IDEMPOTENCY_HEADER)
                        .map(str::to_string)
                })
                .collect();
            (posts.len(), keys, server.stored())
        }
        (None, Some(connections)) => (connections.load(Ordering::SeqCst), Vec::new(), Vec::new()),
        (None, None) => unreachable!(),
    };
    Seen {
        job,
        state: j.state,
        attempts: j.attempts,
        failures,
        uploads,
        keys,
        stored,
        remote_url: j.remote.and_then(|r| r.url),
        summary,
        elapsed,
    }
}

// ---------------------------------------------------------------- checking a row

/// Everything about `seen` that differs from what `row` expects.
fn mismatches(row: &Row, seen: &Seen) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            wrong.push(what);
        }
    };
    expect(
        seen.state == row.state,
        format!("state {:?}, expected {:?}", seen.state, row.state),
    );
    expect(
        seen.attempts == row.attempts,
        format!("{} attempts, expected {}", seen.attempts, row.attempts),
    );
    // Each attempt reached the server once: the worker did not retry
    // behind the job's back, nor skip one.
    expect(
        seen.uploads == row.attempts as usize,
        format!(
            "the server saw {} uploads for {} attempts",
            seen.uploads, row.attempts
        ),
    );

    // One failure per attempt that did not deliver.
    let failed_attempts = match seen.state {
        JobState::Completed => seen.attempts.saturating_sub(1),
        _ => seen.attempts,
    } as usize;
    expect(
        seen.failures.len() == failed_attempts,
        format!(
            "{} failures recorded for {failed_attempts} failed attempts",
            seen.failures.len()
        ),
    );
    for (i, failure) in seen.failures.iter().enumerate() {
        expect(
            Some(failure.class) == row.class,
            format!(
                "attempt {} failed {:?}, expected {:?}: {}",
                i + 1,
                failure.class,
                row.class,
                failure.message
            ),
        );
    }
    // The message that tells the user what happened.
    let telling = match seen.state {
        JobState::Completed => seen.failures.first(),
        _ => seen.failures.last(),
    };
    if let Some(failure) = telling {
        for phrase in row.phrases {
            expect(
                failure.message.contains(phrase),
                format!("{:?} lacks {phrase:?}", failure.message),
            );
        }
    }

    // The waits: the server's Retry-After exactly, else the backoff.
    let waits: Vec<i64> = seen.failures.iter().filter_map(|f| f.wait_ms).collect();
    for (i, &wait) in waits.iter().enumerate() {
        match (i, row.retry_after) {
            (0, Some(after)) => expect(
                wait == after.as_millis() as i64,
                format!("the first wait was {wait} ms, Retry-After said {after:?}"),
            ),
            _ => {
                let base = 2000 << i;
                expect(
                    (base * 3 / 4..=base * 5 / 4).contains(&wait),
                    format!("wait {} was {wait} ms, not {base} ms ± 25 %", i + 1),
                );
            }
        }
    }
    if seen.state == JobState::Failed {
        expect(
            seen.failures.last().is_some_and(|f| f.wait_ms.is_none()),
            "a failed job still had a retry scheduled".into(),
        );
    }

    // No duplicates: at most one copy, exactly one once delivered.
    expect(
        seen.stored.len() == row.stored,
        format!("{} copies kept, expected {}", seen.stored.len(), row.stored),
    );
    expect(
        seen.stored.len() <= 1,
        format!("{} copies kept: a duplicate", seen.stored.len()),
    );
    if seen.state == JobState::Completed {
        expect(
            seen.stored.len() == 1,
            format!(
                "delivered, and the server kept {} copies",
                seen.stored.len()
            ),
        );
        expect(
            seen.remote_url.as_deref() == Some(CDN_URL),
            format!("the job's URL is {:?}", seen.remote_url),
        );
    }
    // Every upload of the job carried one key: the job and its output's hash.
    let first_key = seen.keys.first().cloned().flatten();
    expect(
        seen.keys.iter().all(|k| k.is_some() && *k == first_key),
        format!("the uploads carried the keys {:?}", seen.keys),
    );
    for copy in &seen.stored {
        wrong.extend(copy_mismatches(seen.job, copy));
    }

    // What the worker said it did agrees with the job.
    let s = &seen.summary;
    let (completed, failed) = match seen.state {
        JobState::Completed => (1, 0),
        JobState::Failed => (0, 1),
        _ => (0, 0),
    };
    if (s.generated, s.completed, s.failed, s.retries_scheduled)
        != (1, completed, failed, waits.len() as u64)
    {
        wrong.push(format!(
            "the worker's summary {s:?} disagrees with the job ({} retries)",
            waits.len()
        ));
    }
    if row.name == "trickle" {
        // Slower than the limit, or it proves nothing.
        if seen.elapsed <= Duration::from_secs(row.timeout_seconds) {
            wrong.push(format!(
                "the answer took {:?}, too fast to prove anything",
                seen.elapsed
            ));
        }
    }
    wrong
}

/// A kept copy is the job's output whole: the multipart file part is a
/// JPEG of the source's size, and the key is the queue's id (16 hex
/// digits), the job and the BLAKE3 of its bytes.
fn copy_mismatches(job: JobId, copy: &Request) -> Vec<String> {
    let mut wrong = Vec::new();
    let parts = form_parts(copy);
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return vec![format!("the copy has no file part: {parts:?}")];
    };
    let key = copy.header(fault_server::IDEMPOTENCY_HEADER);
    let expected = format!("-{job}-{}", blake3::hash(&file.data).to_hex());
    let queue = key.and_then(|k| k.strip_suffix(expected.as_str()));
    if !queue.is_some_and(|q| q.len() == 16 && q.bytes().all(|b| b.is_ascii_hexdigit())) {
        wrong.push(format!("the copy's key {key:?} is not QUEUE{expected}"));
    }
    if file.file_name.as_deref() != Some("shoe.jpg") {
        wrong.push(format!("the copy is named {:?}", file.file_name));
    }
    match image::load_from_memory_with_format(&file.data, image::ImageFormat::Jpeg) {
        Ok(img) if (img.width(), img.height()) == (WIDTH, HEIGHT) => {}
        Ok(img) => wrong.push(format!(
            "the copy is {}×{}, expected {WIDTH}×{HEIGHT}",
            img.width(),
            img.height()
        )),
        Err(e) => wrong.push(format!("the copy is not a JPEG: {e}")),
    }
    wrong
}

fn class_name(class: Option<ErrorClass>) -> &'static str {
    match class {
        None => "-",
        Some(ErrorClass::Transient) => "transient",
        Some(ErrorClass::Permanent) => "permanent",
        Some(ErrorClass::NeedsUser) => "needs_user",
    }
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_network_fault_ends_in_its_state_class_attempts_and_one_copy() {
    let mut table = String::new();
    writeln!(
        table,
        "{:<22} {:<9} {:<10} {:>3} {:>6} {:<13} {:>6}  message",
        "fault", "state", "class", "att", "copies", "waits (s)", "time"
    )
    .unwrap();
    let mut wrong = Vec::new();
    for row in rows() {
        let seen = run_row(&row).await;
        let telling = match seen.state {
            JobState::Completed => seen.failures.first(),
            _ => seen.failures.last(),
        };
        let waits: Vec<String> = seen
            .failures
            .iter()
            .filter_map(|f| f.wait_ms)
            .map(|w| format!("{:.1}", w as f64 / 1000.0))
            .collect();
        writeln!(
            table,
            "{:<22} {:<9} {:<10} {:>3} {:>6} {:<13} {:>5.1}s  {}",
            row.name,
            format!("{:?}", seen.state).to_lowercase(),
            class_name(telling.map(|f| f.class)),
            seen.attempts,
            seen.stored.len(),
            waits.join(", "),
            seen.elapsed.as_secs_f64(),
            telling.map_or("", |f| f.message.as_str()),
        )
        .unwrap();
        for what in mismatches(&row, &seen) {
            wrong.push(format!("{}: {what}", row.name));
        }
    }
    println!("{table}");
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}\n\n{table}",
        wrong.len(),
        wrong.join("\n")
    );
}
