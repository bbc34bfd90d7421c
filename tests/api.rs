//! The local API end to end: the real `outbox serve` (worker and API) on a
//! real SQLite data folder and folder destinations, driven by a real HTTP
//! client over loopback.

mod common;

use common::*;
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running `outbox serve`; killed when dropped.
struct Server {
    child: Child,
    api: String,
    port: u16,
    picgo: Option<String>,
    token: String,
    http: Client,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(ob: &Outbox, extra: &[&str]) -> Server {
    let mut args = vec!["serve", "--port", "0"];
    args.extend_from_slice(extra);
    let log = std::fs::File::create(ob.path("serve.log")).expect("log file");
    let mut child = ob
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn outbox serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let wants_picgo = extra.contains(&"--picgo-port");
    let (mut api, mut picgo) = (None, None);
    while api.is_none() || (wants_picgo && picgo.is_none()) {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).expect("read serve's stdout");
        assert!(
            n > 0,
            "outbox serve ended before listening: {}",
            std::fs::read_to_string(ob.path("serve.log")).unwrap_or_default()
        );
        if let Some(url) = line.trim().strip_prefix("api: ") {
            api = Some(url.trim_end_matches("/v1").to_string());
        } else if let Some(url) = line.trim().strip_prefix("picgo: ") {
            picgo = Some(url.to_string());
        }
    }
    let api = api.expect("api line");
    let port = api
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let token = std::fs::read_to_string(ob.data.join("api-token"))
        .expect("the token file")
        .trim()
        .to_string();
    Server {
        child,
        api,
        port,
        picgo,
        token,
        http: Client::new(),
        _stdout: stdout,
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.token)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.token)
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON")
    }

    /// POST /v1/items with a JSON body; the status and the answer.
    async fn add_json(&self, body: Value) -> (StatusCode, Option<String>, Value) {
        let response = self
            .post("/v1/items")
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().expect("ASCII").to_string());
        (status, location, response.json().await.expect("JSON"))
    }

    /// Polls an item until it is finished (or panics after a minute).
    async fn poll_finished(&self, location: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let item = self.json(location).await;
            if item["finished"] == json!(true) {
                return item;
            }
            assert!(Instant::now() < deadline, "never finished: {item:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn p(path: &Path) -> String {
    s(path)
}

/// The file a `file://` link names.
fn linked_file(link: &Value) -> PathBuf {
    PathBuf::from(
        link.as_str()
            .and_then(|l| l.strip_prefix("file://"))
            .unwrap_or_else(|| panic!("not a file link: {link}")),
    )
}

// ------------------------------------------------------------------ add

#[tokio::test]
async fn add_by_path_and_by_multipart_then_poll_and_wait_until_delivered() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("a.png"), 640, 480, 1);
    write_image(&src.join("b.png"), 800, 600, 2);
    let server = start(&ob, &[]);

    // By path: 202, Location the batch, the item's own location.
    let (status, location, added) = server
        .add_json(
            json!({ "paths": [p(&src.join("a.png"))], "destination": "out",
                          "fields": { "title": "A" } }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{added:#}");
    let batch = added["batch_id"].as_i64().expect("a batch");
    assert_eq!(
        location.as_deref(),
        Some(format!("/v1/batches/{batch}").as_str())
    );
    let item = added["items"][0]["location"]
        .as_str()
        .expect("item location");
    let done = server.poll_finished(item).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["progress"]["percent"], json!(100.0));
    assert_eq!(done["fields"], json!({ "title": "A" }));
    let outcomes: Vec<&str> = done["attempt_log"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(outcomes, ["generated", "delivered"]);
    let delivered = linked_file(&done["link"]);
    assert_eq!(delivered, out.join("a.jpg"));
    assert_eq!(decode(&delivered), (image::ImageFormat::Jpeg, 640, 480));

    // The same path again is a duplicate, named with its job: nothing new.
    let (status, location, again) = server
        .add_json(
            json!({ "paths": [p(&src.join("a.png"))], "destination": "out",
                          "fields": { "title": "A" } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again:#}");
    assert_eq!(location, None);
    assert_eq!(again["duplicates"][0]["existing_job"], done["id"]);
    assert_eq!(again["duplicates"][0]["state"], "completed");

    // By multipart, with options as text parts; the batch read with ?wait.
    let bytes = std::fs::read(src.join("b.png")).expect("read b.png");
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("b.png")
                .mime_str("image/png")
                .expect("mime"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"plain words".to_vec()).file_name("notes.png"),
        )
        .text("destination", "out")
        .text("recipe", "original");
    let response = server
        .post("/v1/items")
        .multipart(form)
        .send()
        .await
        .expect("POST multipart");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string();
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(
        answer["refused"],
        json!([{ "input": "notes.png", "reason": "not an image Outbox reads" }]),
        "a file that is no image is refused by its content, the image still queued"
    );
    let started = Instant::now();
    let batch = server.json(&format!("{location}?wait=30")).await;
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "wait answered late"
    );
    assert_eq!(batch["finished"], json!(true), "{batch:#}");
    assert_eq!(batch["counts"]["completed"], json!(1));
    let delivered = linked_file(&batch["items"][0]["link"]);
    assert_eq!(
        delivered,
        out.join("b.png"),
        "the original recipe keeps PNG"
    );
    assert_eq!(
        std::fs::read(&delivered).expect("delivered"),
        std::fs::read(src.join("b.png")).expect("source"),
        "the bytes sent are the bytes delivered"
    );
}

#[tokio::test]
async fn a_non_image_a_relative_path_and_a_loopback_url_are_refused_the_rest_queued() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("good.png"), 64, 64, 3);
    std::fs::write(src.join("notes.txt"), "not an image").expect("write");
    let server = start(&ob, &[]);
    // The server's own address: the SSRF guard refuses it before connecting.
    let own = format!("http://127.0.0.1:{}/v1/openapi.json", server.port);

    let (status, _, added) = server
        .add_json(json!({
            "paths": [p(&src.join("good.png")), p(&src.join("notes.txt")), "relative.png"],
            "urls": [own],
            "destination": "out"
        }))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{added:#}");
    assert_eq!(added["items"].as_array().map(Vec::len), Some(1));
    let reasons: Vec<(String, String)> = added["refused"]
        .as_array()
        .expect("refused")
        .iter()
        .map(|r| {
            (
                str_of(r, "input").to_string(),
                str_of(r, "reason").to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:#?}");
    assert!(reasons.contains(&(
        p(&src.join("notes.txt")),
        "not an image Outbox reads (.txt)".to_string()
    )));
    assert!(reasons.contains(&("relative.png".into(), "a path must be absolute".into())));
    let (_, url_reason) = reasons
        .iter()
        .find(|(input, _)| input == &own)
        .expect("the URL is refused");
    assert!(
        url_reason
            .contains("127.0.0.1 is 127.0.0.1, an address on this computer or a private network"),
        "{url_reason}"
    );
    let item = added["items"][0]["location"].as_str().expect("location");
    assert_eq!(server.poll_finished(item).await["state"], "completed");

    // Nothing usable at all: 422 with the reasons.
    let (status, _, none) = server
        .add_json(json!({ "paths": [p(&src.join("notes.txt"))] }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        none["refused"][0]["reason"],
        "not an image Outbox reads (.txt)"
    );
    // An unknown destination is the client's mistake, said as such.
    let (status, _, unknown) = server
        .add_json(
            json!({ "paths": [p(&src.join("good.png"))], "destination": "nope", "force": true }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(str_of(&unknown, "error").contains("no destination named \"nope\""));
}

// ------------------------------------------------------------------ control

#[tokio::test]
async fn cancel_retry_pause_resume_and_wait_that_times_out() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("c.png"), 320, 240, 4);
    let server = start(&ob, &[]);

    let paused = server.post("/v1/pause").send().await.expect("pause");
    assert_eq!(paused.status(), StatusCode::OK);
    let (_, _, added) = server
        .add_json(json!({ "paths": [p(&src.join("c.png"))], "destination": "out" }))
        .await;
    let id = added["items"][0]["id"].as_i64().expect("an id");
    let item = format!("/v1/items/{id}");

    // Paused: a wait ends at its time, unfinished.
    let started = Instant::now();
    let waited = server.json(&format!("{item}?wait=0.5")).await;
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert_eq!(
        (waited["state"].as_str(), waited["finished"].as_bool()),
        (Some("pending"), Some(false))
    );
    assert_eq!(server.json("/v1/status").await["queue_paused"], json!(true));

    let cancelled = server
        .post(&format!("{item}/cancel"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), StatusCode::OK);
    let cancelled: Value = cancelled.json().await.expect("JSON");
    assert_eq!(cancelled["state"], "cancelled");
    // Cancelled twice: the state machine refuses, the answer says so.
    let twice = server
        .post(&format!("{item}/cancel"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(twice.status(), StatusCode::CONFLICT);

    let retried = server
        .post(&format!("{item}/retry"))
        .send()
        .await
        .expect("retry");
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(
        retried.json::<Value>().await.expect("JSON")["state"],
        "pending"
    );
    let resumed = server.post("/v1/resume").send().await.expect("resume");
    assert_eq!(resumed.status(), StatusCode::OK);

    let done = server.json(&format!("{item}?wait=30")).await;
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["manual_retries"], json!(1));
    assert!(linked_file(&done["link"]).is_file());
    // A delivered item cannot be retried; an unknown one is 404.
    let again = server
        .post(&format!("{item}/retry"))
        .send()
        .await
        .expect("retry");
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let missing = server.get("/v1/items/999999").send().await.expect("GET");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------------ events

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    id: Option<String>,
    event: String,
    data: Value,
}

/// Reads events from a response body until `stop` says so (or a deadline).
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(server: &Server, last_event_id: Option<&str>) -> SseReader {
        let mut request = server.get("/v1/events");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("GET /v1/events");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Sse { id, event, data };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("an event within 30 s")
                .expect("the stream")
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until `job` is reported completed; all of them.
    async fn until_completed(&mut self, job: i64) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let e = self.next().await;
            let done = e.event == "job_changed"
                && e.data["job_id"] == json!(job)
                && e.data["state"] == "completed";
            seen.push(e);
            if done {
                return seen;
            }
        }
    }
}

fn number_of(id: &Option<String>) -> u64 {
    id.as_deref()
        .and_then(|i| i.rsplit('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an event id: {id:?}"))
}

#[tokio::test]
async fn work_queued_by_another_process_reaches_the_event_stream_within_a_second() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("from-a-terminal.png"), 200, 100, 7);
    let server = start(&ob, &[]);
    let mut stream = SseReader::open(&server, None).await;

    // `outbox add` in a terminal: its batch is news only the change feed brings.
    let path = p(&src.join("from-a-terminal.png"));
    let added = ob.json(&["add", &path, "--to", "out", "--json"]);
    let returned = Instant::now();
    let batch = added["batch_id"].clone();
    loop {
        let e = stream.next().await;
        if e.event == "jobs_queued" && e.data["batch_id"] == batch {
            break;
        }
    }
    let seen = returned.elapsed();
    eprintln!("another process's add seen on the event stream after {seen:?}");
    assert!(seen < Duration::from_secs(1), "{seen:?}");
}

#[tokio::test]
async fn the_event_stream_resumes_after_a_reconnect_with_last_event_id() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("e1.png"), 200, 100, 5);
    write_image(&src.join("e2.png"), 200, 100, 6);
    let server = start(&ob, &[]);

    let mut stream = SseReader::open(&server, None).await;
    let (_, _, first) = server
        .add_json(json!({ "paths": [p(&src.join("e1.png"))], "destination": "out" }))
        .await;
    let first_id = first["items"][0]["id"].as_i64().expect("id");
    let seen = stream.until_completed(first_id).await;
    assert!(seen.iter().any(|e| e.event == "jobs_queued"), "{seen:#?}");
    let done = seen.last().expect("an event");
    assert_eq!(
        done.data["link"],
        json!(format!("file://{}", p(&out.join("e1.jpg"))))
    );
    let last_id = done.id.clone().expect("events carry ids");
    drop(stream);

    // While disconnected, a second item is delivered.
    let (_, _, second) = server
        .add_json(json!({ "paths": [p(&src.join("e2.png"))], "destination": "out" }))
        .await;
    let second_id = second["items"][0]["id"].as_i64().expect("id");
    let item = format!("/v1/items/{second_id}?wait=30");
    assert_eq!(server.json(&item).await["state"], "completed");
    // The event bus delivers every 100 ms: let the completion reach the ring.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Reconnected: what was missed comes first, in order, nothing older.
    let mut resumed = SseReader::open(&server, Some(&last_id)).await;
    let missed = resumed.until_completed(second_id).await;
    let numbers: Vec<u64> = missed.iter().map(|e| number_of(&e.id)).collect();
    assert!(
        numbers[0] == number_of(&Some(last_id.clone())) + 1,
        "{numbers:?} after {last_id}"
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert!(missed.iter().any(|e| e.event == "jobs_queued"));

    // An id from another server run cannot be resumed: a resync says so.
    let mut stale = SseReader::open(&server, Some("1-1")).await;
    let first = stale.next().await;
    assert_eq!(first.event, "resync", "{first:?}");
    assert!(str_of(&first.data, "reason").contains("/v1/status"));

    // SIGTERM with a stream open: the stream ends, the server exits cleanly.
    let mut server = server;
    let pid = server.child.id().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(term.is_ok_and(|s| s.success()));
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stale.response.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream stayed open after SIGTERM");
    let status = wait_with_timeout(&mut server.child, Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "serve's exit");
}

// ------------------------------------------------------------------ guards

#[tokio::test]
async fn token_host_origin_and_body_size_are_enforced() {
    let ob = Outbox::new();
    let server = start(&ob, &["--max-body-mb", "1"]);
    let status = server.url("/v1/status");

    let missing = server.http.get(&status).send().await.expect("GET");
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let wrong = server
        .http
        .get(&status)
        .bearer_auth(format!("{}x", server.token))
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // DNS rebinding: the right token, but the page's own host name.
    let rebound = server
        .get("/v1/status")
        .header(header::HOST, format!("attacker.example:{}", server.port))
        .send()
        .await
        .expect("GET");
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    // Cross-site: a page elsewhere; a loopback page is let through.
    let cross = server
        .get("/v1/status")
        .header(header::ORIGIN, "https://attacker.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let local = server
        .get("/v1/status")
        .header(header::ORIGIN, "http://localhost:5173")
        .send()
        .await
        .expect("GET");
    assert_eq!(local.status(), StatusCode::OK);
    let status_json: Value = local.json().await.expect("JSON");
    let mut keys: Vec<&str> = status_json["counts"]
        .as_object()
        .expect("counts")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = COUNT_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "the counts of `status --json`");

    // Over the limit (1 MiB): refused by its declared length before a byte
    // of the body is read (the client has sent none), nothing saved.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let head = format!(
        "POST /v1/items HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {}\r\n\r\n",
        server.port,
        server.token,
        2 << 20
    );
    std::io::Write::write_all(&mut raw, head.as_bytes()).expect("send the head");
    raw.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = BufReader::new(raw).read_line(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(file_names(&ob.data.join("uploads")).is_empty());

    // The description needs no token, and is the one in docs/.
    let doc: Value = server
        .http
        .get(server.url("/v1/openapi.json"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"))
            .expect("docs/openapi.json"),
    )
    .expect("JSON");
    assert_eq!(doc, kept);
}

// ------------------------------------------------------------------ PicGo

#[tokio::test]
async fn picgo_upload_answers_the_links_editors_expect() {
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let src = ob.dir("src");
    write_image(&src.join("one.png"), 300, 200, 7);
    write_image(&src.join("two.jpg"), 200, 300, 8);
    std::fs::write(src.join("fake.png"), "text in disguise").expect("write");
    let server = start(&ob, &["--picgo-port", "0", "--picgo-to", "out"]);
    let upload = server.picgo.clone().expect("a PicGo address");

    // Exactly what Typora and Obsidian's image plugins send: no token.
    let body = format!(
        r#"{{"list":["{}","{}"]}}"#,
        p(&src.join("one.png")),
        p(&src.join("two.jpg"))
    );
    let answer: Value = server
        .http
        .post(&upload)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("POST /upload")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        answer,
        json!({ "success": true, "result": [
            format!("file://{}", p(&out.join("one.jpg"))),
            format!("file://{}", p(&out.join("two.jpg"))),
        ] })
    );
    assert!(out.join("one.jpg").is_file() && out.join("two.jpg").is_file());

    // The same image again under another name (an editor's copy in another
    // note's folder): the link already delivered, no second upload.
    std::fs::copy(src.join("one.png"), src.join("copy-of-one.png")).expect("copy");
    let again: Value = server
        .http
        .post(&upload)
        .json(&json!({ "list": [p(&src.join("copy-of-one.png"))] }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        again,
        json!({ "success": true, "result": [format!("file://{}", p(&out.join("one.jpg")))] })
    );
    assert_eq!(file_names(&out), ["one.jpg", "two.jpg"]);

    // A path that is no image fails the request, saying which.
    let refused: Value = server
        .http
        .post(&upload)
        .json(&json!({ "list": [p(&src.join("fake.png"))] }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(refused["success"], json!(false));
    assert!(
        str_of(&refused, "message").contains("fake.png: not an image"),
        "{refused}"
    );
    // No body: PicGo's clipboard upload, which a headless server cannot do.
    let clipboard: Value = server
        .http
        .post(&upload)
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(clipboard["success"], json!(false));
    assert!(str_of(&clipboard, "message").contains("no clipboard"));
    // A web page cannot use it.
    let cross = server
        .http
        .post(&upload)
        .header(header::ORIGIN, "https://attacker.example")
        .json(&json!({ "list": [p(&src.join("one.png"))] }))
        .send()
        .await
        .expect("POST");
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let heartbeat: Value = server
        .http
        .post(upload.replace("/upload", "/heartbeat"))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(heartbeat, json!({ "success": true, "result": "alive" }));
}
