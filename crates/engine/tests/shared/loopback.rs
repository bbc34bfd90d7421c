//! A scripted HTTP/1.1 server on 127.0.0.1 for the AI provider and import
//! tests: each request gets the next reply of its script (the last repeats),
//! or the fixed reply of its path; every request is recorded whole, with
//! how many were in progress at once and when each arrived.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[path = "http_wire.rs"]
mod http_wire;
pub use http_wire::Request;
use http_wire::{form_parts, read_head};

#[derive(Clone, Debug)]
pub enum Reply {
    /// Status, headers, body.
    With(u16, Vec<(String, String)>, Vec<u8>),
    /// Waits, then replies.
    After(Duration, Box<Reply>),
    /// Reads the request and never answers.
    Hang,
    /// Announces `length` bytes and sends them slowly, 64 KiB a time.
    Endless { length: u64 },
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::With(
            status,
            vec![("Content-Type".into(), "application/json".into())],
            body.to_string().into_bytes(),
        )
    }

    /// A JSON reply with one more header.
    pub fn json_with(status: u16, header: (&str, &str), body: serde_json::Value) -> Reply {
        Reply::With(
            status,
            vec![
                ("Content-Type".into(), "application/json".into()),
                (header.0.into(), header.1.into()),
            ],
            body.to_string().into_bytes(),
        )
    }

    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply::With(
            status,
            vec![("Content-Type".into(), content_type.into())],
            body,
        )
    }
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    /// The parts of a `multipart/form-data` body, by name: (file name, bytes).
    pub fn multipart(&self) -> HashMap<String, (Option<String>, Vec<u8>)> {
        form_parts(self)
            .into_iter()
            .map(|p| (p.name, (p.file_name, p.data)))
            .collect()
    }
}

pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    pub max_in_flight: Arc<AtomicUsize>,
}

impl Server {
    /// The port it listens on (to reach it by another name, `localhost`).
    pub fn port(&self) -> &str {
        self.url.rsplit(':').next().unwrap_or_default()
    }

    pub async fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        {
            let (requests, routes, max) = (requests.clone(), routes.clone(), max_in_flight.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (requests, routes, script) =
                        (requests.clone(), routes.clone(), script.clone());
                    let (in_flight, max) = (in_flight.clone(), max.clone());
                    tokio::spawn(async move {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(now, Ordering::SeqCst);
                        let _ = serve(stream, requests, routes, script).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            });
        }
        Server {
            url,
            requests,
            routes,
            max_in_flight,
        }
    }

    /// Answers every request for `path` with `reply`, whatever the script says.
    pub fn route(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.into(), reply);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests to paths starting with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }
}

async fn serve(
    stream: TcpStream,
    requests: Arc<Mutex<Vec<Request>>>,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request = read_head(&mut reader).await?;
    // Provider requests are sent with their length: never chunked.
    assert!(
        request.header("transfer-encoding").is_none(),
        "a chunked request"
    );
    if let Some(length) = request.header("content-length") {
        request.body = vec![0; length.parse().unwrap()];
        reader.read_exact(&mut request.body).await?;
    }
    let route = routes.lock().unwrap().get(&request.path).cloned();
    requests.lock().unwrap().push(request);
    let mut reply = route.unwrap_or_else(|| {
        let mut script = script.lock().unwrap();
        match script.len() {
            0 => Reply::json(500, serde_json::json!({"error": "no reply scripted"})),
            1 => script[0].clone(),
            _ => script.pop_front().unwrap(),
        }
    });
    let mut stream = reader.into_inner();
    loop {
        match reply {
            Reply::After(wait, next) => {
                tokio::time::sleep(wait).await;
                reply = *next;
            }
            Reply::Hang => return std::future::pending().await,
            Reply::Endless { length } => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(head.as_bytes()).await?;
                let piece = vec![0u8; 64 << 10];
                let mut sent = 0;
                while sent < length {
                    stream.write_all(&piece).await?;
                    sent += piece.len() as u64;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                return stream.shutdown().await;
            }
            Reply::With(status, headers, body) => {
                let mut head = format!("HTTP/1.1 {status} Whatever\r\n");
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                ));
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(&body).await?;
                return stream.shutdown().await;
            }
        }
    }
}
