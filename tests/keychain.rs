//! Secrets go to the OS keychain (a real Secret Service: the test command
//! runs under `scripts/with-keyring.sh`) and nowhere else: not the database,
//! not the data folder, not a log line, not an error message.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the Secret Service holds for a destination of this data folder,
/// read with libsecret's own tool (so the test does not trust Outbox to
/// read it back). Keys carry the database's id.
fn keychain_lookup(ob: &Outbox, destination: &str) -> Option<String> {
    let db = rusqlite::Connection::open(ob.db_path()).expect("open the database");
    let id: String = db
        .query_row(
            "SELECT value FROM meta WHERE name = 'database_id'",
            [],
            |r| r.get(0),
        )
        .expect("the database has an id");
    let out = Command::new("secret-tool")
        .args(["lookup", "service", "app.outbox.desktop", "username"])
        .arg(format!("{id}/destination:{destination}"))
        .output()
        .expect("secret-tool (libsecret-tools) is installed by with-keyring.sh");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn add_http(ob: &Outbox, name: &str, token: &str, extra_env: &[(&str, &str)]) -> Out {
    let mut cmd = ob.command(&[
        "dest",
        "add",
        name,
        "--kind",
        "http",
        "--url",
        "http://127.0.0.1:9/upload/{file_name}",
        "--auth",
        "bearer",
        "--timeout",
        "2",
    ]);
    cmd.env("OUTBOX_SECRET", token);
    for (key, value) in extra_env {
        cmd.env(key, value);
    }
    run_command(cmd, TIMEOUT)
}

#[test]
fn a_secret_lives_in_the_keychain_and_leaves_with_its_destination() {
    // Another data folder with a destination of the same name keeps its own.
    let other = Outbox::new();
    add_http(&other, "api", "tok-of-the-other-folder", &[]).ok();
    let ob = Outbox::new();
    let token = "tok-3f9a1c77-keychain-only";
    add_http(&ob, "api", token, &[]).ok();
    assert_eq!(keychain_lookup(&ob, "api").as_deref(), Some(token));
    let listed = ob.run(&["dest", "list", "--json"]).ok();
    assert!(!listed.stdout.contains(token), "{}", listed.stdout);

    let mut replace = ob.command(&["dest", "secret", "api"]);
    replace.env("OUTBOX_SECRET", "tok-replaced");
    run_command(replace, TIMEOUT).ok();
    assert_eq!(keychain_lookup(&ob, "api").as_deref(), Some("tok-replaced"));

    ob.run(&["dest", "remove", "api"]).ok();
    assert_eq!(
        keychain_lookup(&ob, "api"),
        None,
        "removed with the destination"
    );
    assert_eq!(
        keychain_lookup(&other, "api").as_deref(),
        Some("tok-of-the-other-folder")
    );
}

#[test]
fn failing_uploads_never_write_the_secret_anywhere() {
    let ob = Outbox::new();
    let token = "tok-8d2e55aa-must-not-leak";
    add_http(&ob, "api", token, &[]).ok();
    let src = ob.dir("src");
    write_image(&src.join("a.jpg"), 200, 100, 61);
    write_image(&src.join("b.png"), 100, 200, 62);
    ob.add(&[&src], "api", &["--max-attempts", "2"]);
    // Nothing listens on port 9: every upload fails, is retried, and fails.
    let mut run = ob.command(&["-vv", "run", "--until-idle", "--retry-delay", "0.1"]);
    run.env("OUTBOX_LOG", "debug");
    let out = run_command(run, TIMEOUT).expect_code(1);
    let history = ob.run(&["history", "--json"]).ok();
    let status = ob.run(&["status", "--json"]).ok();
    let test = ob.run(&["dest", "test", "api"]).expect_code(1);
    for (what, text) in [
        ("run stdout", &out.stdout),
        ("run stderr (debug log)", &out.stderr),
        ("history", &history.stdout),
        ("status", &status.stdout),
        ("dest test", &test.stderr),
    ] {
        assert!(!text.contains(token), "the token is in the {what}: {text}");
    }
    assert!(
        out.stderr.contains("could not connect"),
        "the log shows the failures: {}",
        out.stderr
    );
    for file in files_under(&ob.data) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in {}",
            file.display()
        );
    }
}

#[test]
fn without_a_keychain_a_destination_with_a_secret_is_refused_with_the_reason() {
    let ob = Outbox::new();
    let out = add_http(
        &ob,
        "api",
        "tok-unused",
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    )
    .expect_code(1);
    assert!(
        out.stderr.contains("keychain is not available"),
        "{}",
        out.stderr
    );
    let listed = ob.json(&["dest", "list", "--json"]);
    assert_eq!(listed, serde_json::json!([]), "nothing half-saved");
}

// ---------------------------------------------------------------------------
// Every kind of secret, against servers that fail and one that echoes it.
// ---------------------------------------------------------------------------

/// Runs `cmd` with `secret` on its standard input (`--secret-stdin`), through
/// a pipe: never in an argument, the environment or a file the test greps.
fn run_with_stdin(mut cmd: Command, secret: &str) -> Out {
    let (reader, mut writer) = std::io::pipe().expect("a pipe");
    writer
        .write_all(secret.as_bytes())
        .expect("write the secret");
    drop(writer);
    cmd.stdin(reader);
    run_command(cmd, TIMEOUT)
}

/// How the loopback server fails a request, by the first segment of its
/// path: an `echo…` answer quotes the credentials (and a small body) it got.
const MODES: [&str; 5] = ["401", "500", "reset", "echo401", "echo500"];

/// The start of every echoed answer: shows that the answer's text reached
/// the messages (so it is the redaction that keeps the secret out).
const ECHO_MARKER: &str = "echo-marker-4e1";

/// One request as the server read it.
struct Seen {
    path: String,
    /// `Authorization` and `x-goog-api-key`, as sent.
    credentials: Vec<String>,
    body: Vec<u8>,
}

/// A loopback HTTP/1.1 server that never succeeds; one thread per
/// connection, `Connection: close` on every answer.
struct FailingServer {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl FailingServer {
    fn start() -> FailingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let log = log.clone();
                    std::thread::spawn(move || serve(stream, &log));
                }
            }
        });
        FailingServer { port, seen, stop }
    }

    /// The root URL for one mode and one kind of client.
    fn url(&self, mode: &str, kind: &str) -> String {
        format!("http://127.0.0.1:{}/{mode}/{kind}", self.port)
    }

    /// The credentials requests under `/{mode}/{kind}/` carried.
    fn credentials(&self, mode: &str, kind: &str) -> Vec<String> {
        let prefix = format!("/{mode}/{kind}/");
        let seen = self.seen.lock().expect("requests");
        seen.iter()
            .filter(|s| s.path.starts_with(&prefix))
            .flat_map(|s| s.credentials.clone())
            .collect()
    }

    fn bodies_under(&self, mode: &str, kind: &str) -> Vec<Vec<u8>> {
        let prefix = format!("/{mode}/{kind}/");
        let seen = self.seen.lock().expect("requests");
        seen.iter()
            .filter(|s| s.path.starts_with(&prefix))
            .map(|s| s.body.clone())
            .collect()
    }
}

impl Drop for FailingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request and fails it as its path says.
fn serve(stream: TcpStream, log: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let (mut length, mut chunked, mut credentials) = (0usize, false, Vec::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "authorization" | "x-goog-api-key" => credentials.push(value.to_string()),
            _ => {}
        }
    }
    let mode = path.split('/').nth(1).unwrap_or("").to_string();
    if mode == "reset" {
        // Closing with the body unread makes the kernel answer with a reset.
        log.lock().expect("log").push(Seen {
            path,
            credentials,
            body: Vec::new(),
        });
        return;
    }
    let body = read_body(&mut reader, length, chunked);
    let wordpress_index = method == "GET" && path.ends_with("/wp/wp-json/");
    let echoed = format!(
        "{ECHO_MARKER}: you sent {} {}",
        credentials.join(" and "),
        String::from_utf8(body.clone())
            .ok()
            .filter(|b| b.len() < 4096)
            .unwrap_or_default()
            .replace(['\r', '\n'], " ")
    );
    log.lock().expect("log").push(Seen {
        path,
        credentials,
        body,
    });
    let (status, content_type, text) = match mode.as_str() {
        // WordPress's REST index is public: `dest test` goes on to sign in
        // (and, refused, to XML-RPC, with the password in the body).
        _ if wordpress_index => (
            "200 OK",
            "application/json",
            r#"{"namespaces":["wp/v2"]}"#.to_string(),
        ),
        "401" => (
            "401 Unauthorized",
            "application/json",
            r#"{"code":"invalid_auth","message":"invalid credentials"}"#.to_string(),
        ),
        "echo401" => {
            // Every field some client quotes: WordPress `message`/`code`,
            // OpenAI `error.message`/`error.code`, Gemini `error.status`.
            let error = serde_json::json!({
                "message": echoed, "code": echoed, "type": echoed, "status": echoed,
                "details": [{"reason": echoed}],
            });
            (
                "401 Unauthorized",
                "application/json",
                serde_json::json!({"code": echoed, "message": echoed, "error": error}).to_string(),
            )
        }
        // A server dumping what it got, over and over, past where a
        // message is cut short.
        "echo500" => (
            "500 Internal Server Error",
            "text/plain",
            (0..12)
                .map(|_| echoed.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
        ),
        _ => (
            "500 Internal Server Error",
            "application/json",
            r#"{"message":"internal error"}"#.to_string(),
        ),
    };
    let mut stream = reader.into_inner();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(text.as_bytes());
    }
    let _ = stream.flush();
}

fn read_body(reader: &mut BufReader<TcpStream>, length: usize, chunked: bool) -> Vec<u8> {
    let mut body = Vec::new();
    if !chunked {
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            body.clear();
        }
        return body;
    }
    // At most this many chunks: a bound, not a limit any client reaches.
    for _ in 0..100_000 {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            break;
        }
        let size =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        if size == 0 || reader.read_exact(&mut chunk).is_err() {
            break;
        }
        body.extend_from_slice(&chunk[..size]);
    }
    body
}

/// Standard base64 (WordPress's `Basic` credentials).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One secret and every form it travels in.
struct Secret {
    what: &'static str,
    /// Texts that must appear nowhere, not even in part (any 12 characters).
    forms: Vec<String>,
}

/// The first 12-character piece of a form of `secret` found in `haystack`
/// (so a secret cut short in a message still counts).
fn leaked_piece(haystack: &[u8], secret: &Secret) -> Option<String> {
    const PIECE: usize = 12;
    // The secrets are ASCII, which a lossy decoding keeps byte for byte; the
    // search is then std's (fast even in a debug build: the WAL is large).
    let text = String::from_utf8_lossy(haystack);
    secret.forms.iter().find_map(|form| {
        assert!(form.is_ascii(), "test secrets are ASCII");
        let piece = PIECE.min(form.len());
        (0..=form.len() - piece)
            .map(|at| &form[at..at + piece])
            .find(|piece| text.contains(piece))
            .map(str::to_string)
    })
}

#[track_caller]
fn assert_no_secret(where_: &str, haystack: &[u8], secrets: &[Secret]) {
    for secret in secrets {
        if let Some(piece) = leaked_piece(haystack, secret) {
            // The text around it (a database file is too long to print).
            let text = String::from_utf8_lossy(haystack);
            let at = text.find(&piece).unwrap_or(0);
            let mut start = at.saturating_sub(300);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let context: String = text[start..].chars().take(700).collect();
            panic!(
                "the {} ({piece:?}) is in {where_}:\n…{context}…",
                secret.what
            );
        }
    }
}

#[test]
fn the_leak_check_finds_a_secret_even_cut_short_or_in_binary() {
    let secret = Secret {
        what: "token",
        forms: vec!["tok-c41f07e2b9d5a3e8f610".into()],
    };
    let cut = "500: you sent Bearer tok-c41f07e2b9d5…";
    assert_eq!(
        leaked_piece(cut.as_bytes(), &secret).as_deref(),
        Some("tok-c41f07e2")
    );
    let mut page = vec![0xff, 0x00, 0xfe];
    page.extend_from_slice(b"07e2b9d5a3e8f6");
    page.push(0x80);
    assert!(leaked_piece(&page, &secret).is_some(), "in a database page");
    assert_eq!(leaked_piece(b"you sent Bearer [redacted]", &secret), None);
}

#[test]
fn no_kind_of_secret_leaks_even_when_the_server_echoes_it_back() {
    let server = FailingServer::start();
    let ob = Outbox::new();
    let out = ob.dir("out");
    ob.add_folder_destination("out", &out);
    let token = "tok-c41f07e2b9d5a3e8f610";
    let (wp_user, wp_password) = ("editor", "Xq7T mB2k Lp9W zR4c Hv6N sJ3d");
    let wp_basic = base64(format!("{wp_user}:{}", wp_password.replace(' ', "")).as_bytes());
    let openai_key = "sk-proj-9d3b61aa5c7e0f42b18e";
    let gemini_key = "AIzaSy5e8c20f4a97d31b6c0e2";
    let secrets = [
        Secret {
            what: "HTTP bearer token",
            forms: vec![token.into()],
        },
        Secret {
            what: "WordPress application password",
            forms: vec![
                wp_password.into(),
                wp_password.replace(' ', ""),
                wp_basic.clone(),
            ],
        },
        Secret {
            what: "OpenAI API key",
            forms: vec![openai_key.into()],
        },
        Secret {
            what: "Gemini API key",
            forms: vec![gemini_key.into()],
        },
    ];

    let src = ob.dir("src");
    let mut seed = 70;
    for mode in MODES {
        let http = format!("http-{mode}");
        let url = format!("{}/upload/{{file_name}}", server.url(mode, "http"));
        let add = ob.command(&[
            "dest",
            "add",
            &http,
            "--kind",
            "http",
            "--url",
            &url,
            "--auth",
            "bearer",
            "--timeout",
            "5",
            "--secret-stdin",
        ]);
        run_with_stdin(add, token).ok();
        let wp = format!("wp-{mode}");
        let add = ob.command(&[
            "dest",
            "add",
            &wp,
            "--kind",
            "wordpress",
            "--url",
            &server.url(mode, "wp"),
            "--user",
            wp_user,
            "--timeout",
            "5",
            "--secret-stdin",
        ]);
        run_with_stdin(add, wp_password).ok();
        for (kind, key, version) in [
            ("openai", openai_key, "v1"),
            ("gemini", gemini_key, "v1beta"),
        ] {
            let provider = format!("{kind}-{mode}");
            let base = format!("{}/{version}", server.url(mode, kind));
            let add = ob.command(&[
                "provider",
                "add",
                &provider,
                "--kind",
                kind,
                "--base-url",
                &base,
                "--timeout",
                "5",
                "--max-attempts",
                "2",
                "--secret-stdin",
            ]);
            run_with_stdin(add, key).ok();
            let recipe = ob.path(&format!("ai-{provider}.json"));
            let json = serde_json::json!({"name": format!("ai-{provider}"), "operations": [
                {"op": "ai_generate", "provider": provider, "prompt": "a red kite"},
                {"op": "jpeg", "quality": 80}]});
            std::fs::write(&recipe, json.to_string()).expect("write the recipe");
            ob.run(&["recipe", "save", &s(&recipe)]).ok();
            let image = src.join(format!("{provider}.png"));
            write_image(&image, 64, 48, seed);
            seed += 1;
            let recipe = format!("ai-{provider}");
            ob.add(
                &[&image],
                "out",
                &["--recipe", &recipe, "--max-attempts", "2"],
            );
        }
        for dest in [&http, &wp] {
            let image = src.join(format!("{dest}.jpg"));
            write_image(&image, 64, 48, seed);
            seed += 1;
            ob.add(&[&image], dest, &["--max-attempts", "2"]);
        }
    }
    let jobs = 4 * MODES.len() as u64;

    // The worker runs (at -vv, debug) until every job has failed; the data
    // folder is read while it holds the database open, WAL and all.
    let mut worker = ob.command(&["-vv", "run", "--retry-delay", "0.1"]);
    worker
        .env("OUTBOX_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = worker.spawn().expect("start the worker");
    let stderr = {
        let mut pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            text
        })
    };
    let stdout = {
        let mut pipe = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            text
        })
    };
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let counts = ob.counts();
        if counts["failed"] == jobs {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every job failed in time: {counts:?}"
        );
        assert!(
            child.try_wait().expect("worker status").is_none(),
            "the worker ended early"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let while_running = files_under(&ob.data);
    assert!(
        while_running
            .iter()
            .any(|f| f.to_string_lossy().ends_with("outbox.sqlite3-wal")),
        "the database's WAL is there to read: {while_running:?}"
    );
    for file in &while_running {
        let bytes = std::fs::read(file).unwrap_or_default();
        assert_no_secret(&file.display().to_string(), &bytes, &secrets);
    }
    let history = ob.run(&["history", "--json", "--limit", "1000"]).ok();
    let status = ob.run(&["status", "--json"]).ok();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("signal the worker");
    assert!(
        wait_with_timeout(&mut child, TIMEOUT).is_some(),
        "the worker stopped on SIGTERM"
    );
    let log = stderr.join().expect("stderr reader");
    let printed = stdout.join().expect("stdout reader");

    // Each secret was really sent, in every mode: the test is not passing
    // because nothing went out.
    for mode in MODES {
        for (kind, expected) in [
            ("http", format!("Bearer {token}")),
            ("wp", format!("Basic {wp_basic}")),
            ("openai", format!("Bearer {openai_key}")),
            ("gemini", gemini_key.to_string()),
        ] {
            let sent = server.credentials(mode, kind);
            assert!(
                sent.contains(&expected),
                "{kind} in mode {mode} sent {sent:?}, not its secret"
            );
        }
    }

    // `dest test` and `provider test` against the same servers (an HTTP
    // endpoint that answers 500 passes its check: the exit code is not the
    // point here, the text is).
    let mut checks = Vec::new();
    for mode in MODES {
        for dest in [format!("http-{mode}"), format!("wp-{mode}")] {
            checks.push(ob.run(&["dest", "test", &dest]));
        }
        for provider in [format!("openai-{mode}"), format!("gemini-{mode}")] {
            checks.push(ob.run(&["provider", "test", &provider]));
        }
    }
    // WordPress's check also sends the password in an XML-RPC body.
    assert!(
        server
            .bodies_under("echo401", "wp")
            .iter()
            .any(|b| String::from_utf8_lossy(b).contains(wp_password)),
        "the WordPress check sent its XML-RPC call"
    );

    for (what, text) in [
        ("the worker's log (-vv, debug)", &log),
        ("the worker's output", &printed),
        ("history --json", &history.stdout.clone().into_bytes()),
        ("status --json", &status.stdout.clone().into_bytes()),
    ] {
        assert_no_secret(what, text, &secrets);
    }
    for check in &checks {
        assert_no_secret("a dest/provider test", check.stderr.as_bytes(), &secrets);
        assert_no_secret("a dest/provider test", check.stdout.as_bytes(), &secrets);
    }
    // After the worker stopped, everything under the test's folder: the
    // data folder (database, settings, outputs) and the home.
    for file in files_under(ob.tmp.path()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert_no_secret(&file.display().to_string(), &bytes, &secrets);
    }

    // Every job failed with a message; the echoing server's text is in them
    // (so it is redaction, not silence, that keeps the secrets out).
    let history: Vec<serde_json::Value> =
        serde_json::from_str(&history.stdout).expect("history is JSON");
    assert_eq!(history.len() as u64, jobs);
    let mut echoed = 0;
    for job in &history {
        let (_, message) = error_of(job);
        assert!(!message.is_empty(), "{job}");
        echoed += usize::from(message.contains(ECHO_MARKER));
    }
    // Two echoing modes, four kinds of client.
    assert_eq!(
        echoed, 8,
        "the echoed answers reach the messages: {history:#?}"
    );
    assert!(
        String::from_utf8_lossy(&log).contains(ECHO_MARKER),
        "the log shows the failures"
    );
}
