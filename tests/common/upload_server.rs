//! A loopback HTTP/1.1 upload server for the end-to-end tests: it keeps each
//! accepted body once per idempotency key and fails a share of the requests
//! at random — 500, 503, 429 with `Retry-After: 0` or `1`, and connection
//! resets (before the body is read, or after it was stored so the answer is
//! lost) — drawn from a seed, so a run's sequence of faults can be replayed.
//!
//! Requests are `METHOD /up/{job}/{file name}` with the body raw (a PUT) and
//! the key in the header the server is told; a stored body is answered
//! `201 Created` with `Location: /files/{key}`, a body whose key is already
//! stored `200 OK` with the same `Location` (counted as a replay), and one
//! whose key is stored for other bytes or another name `409 Conflict`
//! (counted as rejected). A slow server ([`UploadServer::start_slow`])
//! waits at random before storing or before answering, so a client killed
//! meanwhile leaves uploads in flight or stored but unanswered.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The most a request head or body may take (a test's uploads are small).
const MAX_HEAD: usize = 64 << 10;
const MAX_BODY: usize = 64 << 20;

/// How many [`Fault::Status429Later`] ask for a one-second pause.
pub const LONG_PAUSES: u64 = 3;

/// What the server does to one request instead of serving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `500 Internal Server Error` with a JSON reason.
    Status500,
    /// `503 Service Unavailable`, no `Retry-After`.
    Status503,
    /// `429 Too Many Requests` with `Retry-After: 0`.
    Status429Now,
    /// `429 Too Many Requests` with `Retry-After: 1` the first
    /// [`LONG_PAUSES`] times, then `0`: a pause holds the whole destination
    /// (its other jobs wait too), so hundreds of them would make a soak
    /// mostly wait.
    Status429Later,
    /// The connection is reset once the head is read; the body never counts.
    ResetBeforeBody,
    /// The body is stored, then the connection is reset: the client cannot
    /// know it arrived, and must resend with the same key.
    ResetAfterStore,
}

pub const FAULTS: [Fault; 6] = [
    Fault::Status500,
    Fault::Status503,
    Fault::Status429Now,
    Fault::Status429Later,
    Fault::ResetBeforeBody,
    Fault::ResetAfterStore,
];

/// One stored body and what happened to its key.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The `{job}` of the request that stored it.
    pub job: String,
    pub file_name: String,
    pub body: Vec<u8>,
    /// Answers lost after it was stored ([`Fault::ResetAfterStore`]).
    pub lost_answers: u32,
    /// Requests with this key after it was stored that were answered 200.
    pub replays: u32,
}

#[derive(Default)]
struct State {
    rng: Option<fastrand::Rng>,
    stored: HashMap<String, Stored>,
    faults: HashMap<Fault, u64>,
    /// Requests refused as malformed (no key, bad path): the test fails on any.
    rejected: Vec<String>,
}

struct Shared {
    idempotency_header: String,
    /// Faults per thousand requests.
    fault_per_mille: u32,
    /// Slow at random, before storing or before answering.
    slow: bool,
    state: Mutex<State>,
    requests: AtomicU64,
    /// One-second pauses asked for so far.
    long_pauses: AtomicU64,
    stored: AtomicU64,
    stored_bytes: AtomicU64,
    /// Requests whose sender went away before the body was whole.
    cut_off: AtomicU64,
    /// Connections being served.
    open: AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault for the next request, if it gets one.
    fn roll(&self) -> Option<Fault> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let rng = state.rng.as_mut().expect("the server has its rng");
        if rng.u32(0..1000) >= self.fault_per_mille {
            return None;
        }
        let fault = FAULTS[rng.usize(..FAULTS.len())];
        *state.faults.entry(fault).or_default() += 1;
        Some(fault)
    }

    /// How long a slow server waits before storing and before answering
    /// this request (one of the two at most, or neither).
    fn pace(&self) -> (Duration, Duration) {
        if !self.slow {
            return (Duration::ZERO, Duration::ZERO);
        }
        let mut state = self.lock();
        let rng = state.rng.as_mut().expect("the server has its rng");
        let (pace, delay) = (rng.u8(0..4), Duration::from_millis(rng.u64(20..=250)));
        match pace {
            2 => (delay, Duration::ZERO),
            3 => (Duration::ZERO, delay),
            _ => (Duration::ZERO, Duration::ZERO),
        }
    }
}

/// A running server; stopped when dropped.
pub struct UploadServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UploadServer {
    /// Starts on 127.0.0.1 (a free port) on a thread of its own; about
    /// `fault_percent` % of the requests get one of [`FAULTS`], drawn
    /// from `seed`.
    pub fn start(idempotency_header: &str, fault_percent: u32, seed: u64) -> UploadServer {
        Self::launch(idempotency_header, fault_percent, false, seed)
    }

    /// Starts a server that fails nothing but is slow at random (`seed`).
    pub fn start_slow(idempotency_header: &str, seed: u64) -> UploadServer {
        Self::launch(idempotency_header, 0, true, seed)
    }

    fn launch(idempotency_header: &str, fault_percent: u32, slow: bool, seed: u64) -> UploadServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            idempotency_header: idempotency_header.to_ascii_lowercase(),
            fault_per_mille: fault_percent.min(100) * 10,
            slow,
            state: Mutex::new(State {
                rng: Some(fastrand::Rng::with_seed(seed)),
                ..State::default()
            }),
            requests: AtomicU64::new(0),
            long_pauses: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            stored_bytes: AtomicU64::new(0),
            cut_off: AtomicU64::new(0),
            open: AtomicU64::new(0),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("upload-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    tokio::select! {
                        _ = accept_loop(listener, serving) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime ends every connection still open.
            })
            .expect("spawn the server thread");
        UploadServer {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far (each head read counts one).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Distinct keys stored so far.
    pub fn stored_count(&self) -> u64 {
        self.shared.stored.load(Ordering::Relaxed)
    }

    /// The bytes of the distinct bodies stored so far.
    pub fn stored_bytes(&self) -> u64 {
        self.shared.stored_bytes.load(Ordering::Relaxed)
    }

    /// Every stored body by key.
    pub fn stored(&self) -> HashMap<String, Stored> {
        self.shared.lock().stored.clone()
    }

    /// How many requests got each fault.
    pub fn faults(&self) -> HashMap<Fault, u64> {
        self.shared.lock().faults.clone()
    }

    /// Requests refused as malformed or conflicting, with why.
    pub fn rejected(&self) -> Vec<String> {
        self.shared.lock().rejected.clone()
    }

    /// Requests whose sender went away before the body was whole.
    pub fn cut_off(&self) -> u64 {
        self.shared.cut_off.load(Ordering::Relaxed)
    }

    /// Waits until no connection is being served (a killed client's upload
    /// may still be waiting out a slow server's delay).
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.shared.open.load(Ordering::SeqCst) > 0 {
            assert!(Instant::now() < deadline, "connections stay open");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for UploadServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let shared = shared.clone();
                shared.open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = serve(stream, shared.clone()).await;
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            // Out of descriptors and the like: try again shortly.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Serves the requests of one (kept-alive) connection until it closes.
async fn serve(stream: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut reader).await? else {
            return Ok(());
        };
        let fault = shared.roll();
        if fault == Some(Fault::ResetBeforeBody) {
            return reset(reader.into_inner());
        }
        let Ok(body) = read_body(&mut reader, &head).await else {
            shared.cut_off.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let (before_storing, before_answering) = shared.pace();
        tokio::time::sleep(before_storing).await;
        let close = head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = match fault {
            Some(Fault::Status500) => error(500, "Internal Server Error", &[]),
            Some(Fault::Status503) => error(503, "Service Unavailable", &[]),
            Some(Fault::Status429Now) => error(429, "Too Many Requests", &[("Retry-After", "0")]),
            Some(Fault::Status429Later) => {
                let wait = if shared.long_pauses.fetch_add(1, Ordering::Relaxed) < LONG_PAUSES {
                    "1"
                } else {
                    "0"
                };
                error(429, "Too Many Requests", &[("Retry-After", wait)])
            }
            Some(Fault::ResetAfterStore) => {
                store(&shared, &head, body, true);
                return reset(reader.into_inner());
            }
            Some(Fault::ResetBeforeBody) | None => store(&shared, &head, body, false),
        };
        tokio::time::sleep(before_answering).await;
        reader.get_mut().write_all(&reply).await?;
        if close {
            return Ok(());
        }
    }
}

/// Closes with a TCP reset (RST) instead of an orderly FIN.
fn reset(stream: TcpStream) -> io::Result<()> {
    stream.set_zero_linger()?;
    drop(stream);
    Ok(())
}

/// Keeps the body once per key; the reply to send.
fn store(shared: &Shared, head: &Head, body: Vec<u8>, answer_lost: bool) -> Vec<u8> {
    let mut state = shared.lock();
    let Some(key) = head
        .header(&shared.idempotency_header)
        .filter(|k| !k.is_empty())
    else {
        state.rejected.push(format!(
            "{} {}: no {} header",
            head.method, head.path, shared.idempotency_header
        ));
        return error(400, "Bad Request", &[]);
    };
    let mut parts = head.path.trim_start_matches('/').splitn(3, '/');
    let (Some("up"), Some(job), Some(file_name)) = (parts.next(), parts.next(), parts.next())
    else {
        state
            .rejected
            .push(format!("{} {}: not /up/JOB/NAME", head.method, head.path));
        return error(404, "Not Found", &[]);
    };
    let location = format!("/files/{key}");
    let status = match state.stored.get_mut(key) {
        Some(stored) if stored.body != body || stored.file_name != file_name => {
            let why = format!(
                "{key}: sent for {file_name}, but first for {}, bytes alike: {}",
                stored.file_name,
                stored.body == body
            );
            state.rejected.push(why);
            return error(409, "Conflict", &[]);
        }
        Some(stored) => {
            if answer_lost {
                stored.lost_answers += 1;
            } else {
                stored.replays += 1;
            }
            (200, "OK")
        }
        None => {
            shared
                .stored_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            state.stored.insert(
                key.to_string(),
                Stored {
                    job: job.to_string(),
                    file_name: file_name.to_string(),
                    body,
                    lost_answers: u32::from(answer_lost),
                    replays: 0,
                },
            );
            shared.stored.fetch_add(1, Ordering::Relaxed);
            (201, "Created")
        }
    };
    response(status.0, status.1, &[("Location", &location)], b"")
}

/// An error answer with a JSON reason (what Outbox shows as the job's reason).
fn error(code: u16, reason: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let body = format!(r#"{{"message":"upload server: {code} {reason}"}}"#);
    let mut with_type = vec![("Content-Type", "application/json")];
    with_type.extend_from_slice(headers);
    response(code, reason, &with_type, body.as_bytes())
}

fn response(code: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The next request's head, or `None` when the client closed the connection.
async fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Head>> {
    let mut line = String::new();
    let mut total = 0;
    let mut lines = Vec::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await?;
        if n == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        total += n;
        if total > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                continue; // a stray CRLF between requests
            }
            break;
        }
        lines.push(text.to_string());
    }
    let mut request_line = lines[0].split_whitespace();
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Some(Head {
        method,
        path,
        headers,
    }))
}

/// The body by `Content-Length` or chunked transfer coding.
async fn read_body(reader: &mut BufReader<TcpStream>, head: &Head) -> io::Result<Vec<u8>> {
    let too_big = || io::Error::new(io::ErrorKind::InvalidData, "body too big");
    if head
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if body.len() + size > MAX_BODY {
                return Err(too_big());
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).await?;
            line.clear();
            reader.read_line(&mut line).await?; // the CRLF after the chunk (or the trailer end)
            if size == 0 {
                return Ok(body);
            }
        }
    }
    let length = head
        .header("content-length")
        .map(|v| v.parse::<usize>())
        .transpose()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?
        .unwrap_or(0);
    if length > MAX_BODY {
        return Err(too_big());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(body)
}
