//! A fault-injecting HTTP/1.1 server on 127.0.0.1 for the HTTP destination
//! tests: each connection gets the next behaviour of a script (an answer, a
//! reset before or after the body, silence, a slow answer, a redirect loop).
//! It records every request it reads, and keeps the uploads it accepted the
//! way a server that honours `Idempotency-Key` does: one copy per key.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[path = "http_wire.rs"]
mod http_wire;
use http_wire::read_head;
pub use http_wire::{form_parts, Request};

/// The header whose value the server keeps one copy per.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// What the server does with one connection.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Reads the request, then answers.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Reads the request head only, then resets the connection.
    ResetBeforeBody,
    /// Reads the whole request (and keeps it), then resets instead of
    /// answering: the upload arrived, the client never hears so.
    ResetAfterBody,
    /// Reads the whole request (and keeps it) and never answers.
    Hang,
    /// Answers 200 at once, then `body` a few bytes every `pause`.
    Trickle { body: String, pause: Duration },
    /// Reads the body 64 KiB every `pause` (a slow uplink), then answers 201.
    ReadSlowly { pause: Duration },
    /// Answers 302 to the very path it was asked for.
    RedirectLoop,
}

/// A server for one test; it stops with the test's runtime.
pub struct Server {
    pub url: String,
    log: Arc<Log>,
}

/// What the server read, and what it kept.
#[derive(Default)]
struct Log {
    requests: Mutex<Vec<Request>>,
    stored: Mutex<Vec<Request>>,
}

impl Log {
    /// Keeps an accepted upload unless one with its idempotency key is
    /// kept already; without a key, every upload is a copy of its own.
    fn store(&self, request: &Request) {
        if !matches!(request.method.as_str(), "POST" | "PUT") {
            return;
        }
        let mut stored = self.stored.lock().unwrap();
        let key = request.header(IDEMPOTENCY_HEADER);
        if key.is_none() || stored.iter().all(|s| s.header(IDEMPOTENCY_HEADER) != key) {
            stored.push(request.clone());
        }
    }
}

impl Server {
    /// Serves each connection with the next behaviour of `script`; the last
    /// one repeats (a redirect loop needs that).
    pub async fn start(script: Vec<Behaviour>) -> Server {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Log::default());
        let shared = Arc::clone(&log);
        tokio::spawn(async move {
            let mut script = VecDeque::from(script);
            while let Ok((stream, _)) = listener.accept().await {
                let behaviour = match script.len() {
                    1 => script[0].clone(),
                    _ => script.pop_front().unwrap(),
                };
                tokio::spawn(serve(stream, behaviour, Arc::clone(&shared)));
            }
        });
        Server { url, log }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.requests.lock().unwrap().clone()
    }

    /// The uploads the server accepted, one per idempotency key.
    pub fn stored(&self) -> Vec<Request> {
        self.log.stored.lock().unwrap().clone()
    }

    /// The one request the server got.
    pub fn only_request(&self) -> Request {
        let requests = self.requests();
        let seen: Vec<_> = requests.iter().map(|r| (&r.method, &r.path)).collect();
        assert_eq!(requests.len(), 1, "{seen:?}");
        requests.into_iter().next().unwrap()
    }
}

/// One connection, one request: every answer says `Connection: close`, so
/// no test depends on the client's connection pool.
async fn serve(stream: TcpStream, behaviour: Behaviour, log: Arc<Log>) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request = read_head(&mut reader).await?;
    if let Behaviour::ResetBeforeBody = behaviour {
        log.requests.lock().unwrap().push(request);
        return reset(reader.into_inner());
    }
    request.body = match behaviour {
        Behaviour::ReadSlowly { pause } => read_slowly(&mut reader, &request, pause).await?,
        _ => read_body(&mut reader, &request).await?,
    };
    log.requests.lock().unwrap().push(request.clone());
    // Kept before the answer goes out: once the client has heard, the copy
    // is there to count.
    let accepted = match &behaviour {
        Behaviour::Respond { status, .. } => (200..300).contains(status),
        Behaviour::RedirectLoop | Behaviour::ResetBeforeBody => false,
        _ => true,
    };
    if accepted {
        log.store(&request);
    }
    let mut stream = reader.into_inner();
    let head_only = request.method == "HEAD";
    let answer = match behaviour {
        Behaviour::ResetBeforeBody => unreachable!(),
        Behaviour::ResetAfterBody => return reset(stream),
        // `stream` stays open as long as this future is pending.
        Behaviour::Hang => return std::future::pending().await,
        Behaviour::Respond {
            status,
            headers,
            body,
        } => response(status, &headers, &body, head_only),
        Behaviour::RedirectLoop => {
            let location = [("Location".to_string(), request.path.clone())];
            response(302, &location, "", head_only)
        }
        Behaviour::ReadSlowly { .. } => response(201, &[], "{}", head_only),
        Behaviour::Trickle { body, pause } => {
            let answer = response(200, &[], &body, false);
            let (head, body) = answer.split_at(answer.len() - body.len());
            stream.write_all(head).await?;
            for piece in body.chunks(8) {
                stream.write_all(piece).await?;
                stream.flush().await?;
                tokio::time::sleep(pause).await;
            }
            return stream.shutdown().await;
        }
    };
    stream.write_all(&answer).await?;
    stream.shutdown().await
}

/// A reset (RST), not a polite close: what a crashed proxy looks like.
fn reset(stream: TcpStream) -> io::Result<()> {
    stream.set_zero_linger()?;
    drop(stream);
    Ok(())
}

/// The body by `Content-Length`, or chunk by chunk.
async fn read_body(reader: &mut BufReader<TcpStream>, request: &Request) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size, 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                break;
            }
            let at = body.len();
            body.resize(at + size, 0);
            reader.read_exact(&mut body[at..]).await?;
            reader.read_line(&mut line).await?; // the CRLF after the data
        }
        // Trailers, up to the blank line.
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            if line.trim().is_empty() {
                break;
            }
        }
    } else if let Some(length) = request.header("content-length") {
        body.resize(length.parse().unwrap(), 0);
        reader.read_exact(&mut body).await?;
    }
    Ok(body)
}

/// A `Content-Length` body, read in small pieces with pauses between.
async fn read_slowly(
    reader: &mut BufReader<TcpStream>,
    request: &Request,
    pause: Duration,
) -> io::Result<Vec<u8>> {
    let length: usize = request.header("content-length").unwrap().parse().unwrap();
    let mut body = vec![0; length];
    for piece in body.chunks_mut(64 << 10) {
        tokio::time::sleep(pause).await;
        reader.read_exact(piece).await?;
    }
    Ok(body)
}

fn response(status: u16, headers: &[(String, String)], body: &str, head_only: bool) -> Vec<u8> {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Whatever");
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    if !head_only {
        out.push_str(body);
    }
    out.into_bytes()
}

pub fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> Behaviour {
    Behaviour::Respond {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_string(),
    }
}

/// An error answer the way JSON APIs give one.
pub fn json_error(status: u16, message: &str) -> Behaviour {
    let body = serde_json::json!({"code": "nope", "message": message}).to_string();
    respond(status, &[("Content-Type", "application/json")], &body)
}
