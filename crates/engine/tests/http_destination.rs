//! The generic HTTP destination against a real HTTP/1.1 server that each
//! test starts on 127.0.0.1. The server records every request it reads, so
//! each test checks what was sent (multipart or raw bytes, headers,
//! credentials, idempotency key) as well as what the destination made of
//! the answer, including the faults a real server throws: error statuses,
//! resets, silence, slow answers, bad JSON and redirect loops.

/// The job of every delivery here.
const JOB: i64 = 7;

#[path = "shared/delivery.rs"]
mod delivery;
use delivery::{in_memory, on_disk, QUEUE};
#[path = "shared/fault_server.rs"]
mod fault_server;
use fault_server::{form_parts, json_error, respond, Behaviour, Server};
#[path = "shared/progress.rs"]
mod progress;
use outbox_engine::destinations::{
    Delivery, DeliveryError, Destination, HttpAuth, HttpDestination, HttpMethod, HttpSettings,
    NoSteps, ResultUrl, SECRET_FIELD,
};
use outbox_engine::ErrorClass;
use progress::Progress;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bearer token of most tests: no error message may ever show it.
const TOKEN: &str = "s3cret-token-8f2a91";

// ---------------------------------------------------------------- helpers

/// Bytes that differ from one position to the next, so a lost or reordered
/// chunk shows.
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(7) ^ (i >> 11) ^ (i >> 19)) as u8)
        .collect()
}

/// Plain settings: a multipart POST to `url`, no auth, no result URL.
fn settings(url: String) -> HttpSettings {
    HttpSettings {
        url,
        method: HttpMethod::Post,
        field: "file".into(),
        headers: BTreeMap::new(),
        auth: HttpAuth::None,
        result: ResultUrl::None,
        idempotency_header: None,
        timeout_seconds: 30,
    }
}

fn with_bearer(settings: HttpSettings) -> HttpDestination {
    let settings = HttpSettings {
        auth: HttpAuth::Bearer,
        ..settings
    };
    HttpDestination::new(settings, Some(TOKEN)).unwrap()
}

/// Progress that climbs to `size` and never goes back.
fn assert_progress(progress: &Progress, size: u64) {
    let reports = progress.reports();
    assert_eq!(reports.last(), Some(&size), "{reports:?}");
    assert!(reports.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
}

fn expect_error<T: std::fmt::Debug>(result: Result<T, DeliveryError>) -> DeliveryError {
    match result {
        Err(e) => e,
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_post_sends_the_file_headers_and_credentials() {
    let answer = r#"{"data": {"url": "https://cdn.example/a/red-shoe.jpg"}}"#;
    let server = Server::start(vec![respond(201, &[], answer)]).await;
    let url = format!("{}/upload", server.url);
    let destination = with_bearer(HttpSettings {
        field: "image".into(),
        headers: BTreeMap::from([("X-Tenant".into(), "shop-7".into())]),
        result: ResultUrl::JsonPointer("/data/url".into()),
        ..settings(url.clone())
    });
    // Over one 256 KiB chunk, so progress comes in steps.
    let bytes = content(600_000);
    let d = in_memory(JOB, "red shoe.jpg", bytes.clone());
    let progress = Arc::new(Progress::default());

    let remote = destination.deliver(&d, progress.clone()).await.unwrap();

    assert_eq!(
        remote.url.as_deref(),
        Some("https://cdn.example/a/red-shoe.jpg")
    );
    assert_eq!(remote.id, None);
    assert_progress(&progress, bytes.len() as u64);
    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/upload")
    );
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(request.header("Authorization"), Some(bearer.as_str()));
    assert_eq!(request.header("X-Tenant"), Some("shop-7"));
    let parts = form_parts(&request);
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["image"]);
    assert_eq!(parts[0].file_name.as_deref(), Some("red shoe.jpg"));
    assert_eq!(parts[0].content_type.as_deref(), Some("image/jpeg"));
    assert!(parts[0].data == bytes, "the file's bytes differ");

    // An API key goes in its own header, with no Authorization beside it;
    // the field defaults to `file`.
    let keyed = HttpSettings {
        auth: HttpAuth::Header("X-Api-Key".into()),
        ..settings(url)
    };
    let keyed = HttpDestination::new(keyed, Some("key-123")).unwrap();
    keyed.deliver(&d, Arc::new(NoSteps)).await.unwrap();

    let request = server.requests().pop().unwrap();
    assert_eq!(request.header("X-Api-Key"), Some("key-123"));
    assert_eq!(request.header("Authorization"), None);
    let parts = form_parts(&request);
    assert_eq!(parts[0].name, "file");
    assert!(parts[0].data == bytes, "the file's bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_put_fills_the_url_and_repeats_its_idempotency_key_per_job() {
    let location = "https://cdn.example/p/1.webp";
    let server = Server::start(vec![respond(201, &[("Location", location)], "")]).await;
    let destination = HttpDestination::new(
        HttpSettings {
            method: HttpMethod::Put,
            result: ResultUrl::Header("Location".into()),
            idempotency_header: Some("Idempotency-Key".into()),
            ..settings(format!(
                "{}/photos/{{job}}/{{hash}}/{{file_name}}",
                server.url
            ))
        },
        None,
    )
    .unwrap();
    let bytes = content(70_000);
    let d = Delivery {
        job_id: 42,
        mime: "image/webp".into(),
        ..in_memory(JOB, "été photo.webp", bytes.clone())
    };
    let dir = tempfile::tempdir().unwrap();
    let again = Delivery {
        job_id: 42,
        mime: "image/webp".into(),
        ..on_disk(dir.path(), JOB, "été photo.webp", bytes.clone())
    };

    // Another job whose output is byte for byte the same.
    let twin = Delivery {
        job_id: 43,
        mime: "image/webp".into(),
        ..in_memory(JOB, "été photo.webp", bytes.clone())
    };

    let first = destination.deliver(&d, Arc::new(NoSteps)).await.unwrap();
    // The same output again (from its file, as after a restart).
    let second = destination
        .deliver(&again, Arc::new(NoSteps))
        .await
        .unwrap();
    destination.deliver(&twin, Arc::new(NoSteps)).await.unwrap();

    assert_eq!(first.url.as_deref(), Some(location));
    assert_eq!(second, first);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let request = &requests[0];
    let path = format!("/photos/42/{}/%C3%A9t%C3%A9%20photo.webp", d.short_hash());
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("PUT", path.as_str())
    );
    assert_eq!(request.header("Content-Type"), Some("image/webp"));
    assert_eq!(request.header("Content-Length"), Some("70000"));
    assert_eq!(request.header("Authorization"), None);
    assert!(request.body == bytes, "the body differs");
    let key = request.header("Idempotency-Key").unwrap();
    assert_eq!(key, format!("{QUEUE}-42-{}", blake3::hash(&bytes).to_hex()));
    assert_eq!(requests[1].header("Idempotency-Key"), Some(key));
    assert!(requests[1].body == bytes, "the second body differs");
    let twin_key = format!("{QUEUE}-43-{}", blake3::hash(&bytes).to_hex());
    assert_eq!(
        requests[2].header("Idempotency-Key"),
        Some(twin_key.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_megabytes_stream_the_same_from_disk_and_from_memory() {
    let server = Server::start(vec![respond(200, &[], "")]).await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(5 << 20);
    let memory = in_memory(JOB, "big.jpg", bytes.clone());
    let disk = on_disk(dir.path(), JOB, "big.jpg", bytes.clone());

    for method in [HttpMethod::Post, HttpMethod::Put] {
        let settings = HttpSettings {
            method,
            ..settings(format!("{}/up", server.url))
        };
        let destination = HttpDestination::new(settings, None).unwrap();
        for d in [&memory, &disk] {
            let progress = Arc::new(Progress::default());
            destination.deliver(d, progress.clone()).await.unwrap();
            assert_progress(&progress, bytes.len() as u64);
        }
    }

    let requests = server.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "POST", "PUT", "PUT"]);
    for request in &requests {
        let sent = match request.method.as_str() {
            "POST" => form_parts(request).remove(0).data,
            _ => request.body.clone(),
        };
        // Not assert_eq: a failure must not print 5 MB.
        assert!(
            sent == bytes,
            "{} sent {} bytes that differ",
            request.method,
            sent.len()
        );
    }
}

/// One fault and what the delivery must make of it.
struct Row {
    name: &'static str,
    behaviour: Behaviour,
    class: ErrorClass,
    retry_after: Option<Duration>,
    /// Part of the message.
    phrase: &'static str,
}

fn row(name: &'static str, behaviour: Behaviour, class: ErrorClass, phrase: &'static str) -> Row {
    Row {
        name,
        behaviour,
        class,
        retry_after: None,
        phrase,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_has_its_class_wait_and_reason() {
    use Behaviour::{Hang, RedirectLoop, ResetAfterBody, ResetBeforeBody};
    use ErrorClass::{NeedsUser, Permanent, Transient};
    let plain = |status| respond(status, &[], "try later");
    // A table reads best one row a line.
    #[rustfmt::skip]
    let rows = [
        row("401", json_error(401, "bad token"), NeedsUser, "401 Unauthorized"),
        row("403", json_error(403, "no uploads"), NeedsUser, "403 Forbidden"),
        row("404", json_error(404, "no such album"), Permanent, "Not Found: no such album"),
        row("413", json_error(413, "file too large"), Permanent, "file too large"),
        row("415", json_error(415, "type not allowed"), Permanent, "type not allowed"),
        row("422", json_error(422, "missing alt text"), Permanent, "missing alt text"),
        row("408", plain(408), Transient, "408 Request Timeout: try later"),
        row("500", plain(500), Transient, "500 Internal Server Error"),
        row("502", plain(502), Transient, "502 Bad Gateway"),
        row("503", plain(503), Transient, "503 Service Unavailable"),
        row("504", plain(504), Transient, "504 Gateway Timeout"),
        Row {
            retry_after: Some(Duration::from_secs(7)),
            ..row("429 with Retry-After", respond(429, &[("Retry-After", "7")], "slow down"),
                  Transient, "429 Too Many Requests: slow down")
        },
        row("429 without", plain(429), Transient, "429 Too Many Requests"),
        row("reset before body", ResetBeforeBody, Transient, "the connection failed"),
        row("reset after body", ResetAfterBody, Transient, "the connection failed"),
        row("invalid JSON", respond(200, &[], "<html>uploaded!</html>"), Permanent,
            "accepted but the answer has no URL: the answer is not JSON"),
        row("redirect loop", RedirectLoop, Permanent, "too many redirects"),
        row("hang", Hang, Transient, "timed out"),
    ];
    let bytes = content(20_000);
    let d = in_memory(JOB, "a.jpg", bytes.clone());

    for Row {
        name,
        behaviour,
        class,
        retry_after,
        phrase,
    } in rows
    {
        let hang = matches!(behaviour, Behaviour::Hang);
        let server = Server::start(vec![behaviour]).await;
        let destination = with_bearer(HttpSettings {
            result: ResultUrl::JsonPointer("/url".into()),
            // Short only where silence is the fault: elsewhere a busy
            // machine must not turn into a timeout.
            timeout_seconds: if hang { 1 } else { 30 },
            ..settings(format!("{}/upload", server.url))
        });
        let started = Instant::now();

        let error = expect_error(destination.deliver(&d, Arc::new(NoSteps)).await);

        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(10),
            "{name}: took {elapsed:?}"
        );
        assert_eq!(error.class, class, "{name}: {}", error.message);
        assert_eq!(error.retry_after, retry_after, "{name}: {}", error.message);
        assert!(
            error.message.contains(phrase),
            "{name}: {:?} lacks {phrase:?}",
            error.message
        );
        assert!(
            !error.message.contains(TOKEN),
            "{name}: the token shows in {:?}",
            error.message
        );
        // What reached the server: the upload itself, with its token.
        let first = server.requests().into_iter().next();
        let first = first.unwrap_or_else(|| panic!("{name}: the server got nothing"));
        assert_eq!(
            (first.method.as_str(), first.path.as_str()),
            ("POST", "/upload"),
            "{name}"
        );
        assert_eq!(
            first.header("Authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{name}"
        );
        if name != "reset before body" {
            assert!(
                form_parts(&first)[0].data == bytes,
                "{name}: the bytes differ"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_that_keeps_coming_is_not_a_timeout() {
    // The head at once, then the body over about 1.4 s in 150 ms gaps,
    // against a 1 s timeout: the limit is on silence, not on the answer.
    let body = r#"{"url": "https://cdn.example/slow.jpg", "padding": "........"}"#;
    let server = Server::start(vec![Behaviour::Trickle {
        body: body.into(),
        pause: Duration::from_millis(150),
    }])
    .await;
    let destination = HttpDestination::new(
        HttpSettings {
            result: ResultUrl::JsonPointer("/url".into()),
            timeout_seconds: 1,
            ..settings(format!("{}/upload", server.url))
        },
        None,
    )
    .unwrap();
    let started = Instant::now();

    let remote = destination
        .deliver(&in_memory(JOB, "a.jpg", content(1000)), Arc::new(NoSteps))
        .await
        .unwrap();

    assert_eq!(remote.url.as_deref(), Some("https://cdn.example/slow.jpg"));
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "the answer came too fast to prove anything"
    );
    assert_eq!(server.only_request().method, "POST");
}

// `timeout_seconds` limits how long an upload may go without moving, not the
// whole upload: reqwest's `read_timeout` ran from `send()` to the answer's
// head and failed this after 2 s while the server was still reading; the
// upload is now watched for stalls instead (`send_watched`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_that_keeps_moving_is_not_a_timeout() {
    // 24 MB at about 6 MB/s against a 2 s timeout: about 4 s in all,
    // far more than the socket buffers hold, and the client writes again
    // every 0.3 s or so.
    let server = Server::start(vec![Behaviour::ReadSlowly {
        pause: Duration::from_millis(10),
    }])
    .await;
    let destination = HttpDestination::new(
        HttpSettings {
            method: HttpMethod::Put,
            timeout_seconds: 2,
            ..settings(format!("{}/upload", server.url))
        },
        None,
    )
    .unwrap();
    let bytes = content(24 << 20);
    let progress = Arc::new(Progress::default());
    let started = Instant::now();

    let result = destination
        .deliver(&in_memory(JOB, "a.jpg", bytes.clone()), progress.clone())
        .await;

    let elapsed = started.elapsed();
    result.unwrap();
    assert_progress(&progress, bytes.len() as u64);
    assert!(
        elapsed > Duration::from_secs(2),
        "too fast to prove anything"
    );
    assert!(server.only_request().body == bytes, "the body differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_tells_reachable_refused_and_unreachable() {
    // Most upload endpoints do not do HEAD: 405 still means "there".
    let there = Server::start(vec![respond(405, &[("Allow", "POST")], "")]).await;
    let destination = with_bearer(settings(format!("{}/up/{{file_name}}", there.url)));

    let said = destination.check().await.unwrap();

    assert!(said.contains("405"), "{said}");
    assert!(!said.contains(TOKEN), "{said}");
    let request = there.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("HEAD", "/up/outbox-check.jpg")
    );
    assert_eq!(
        request.header("Authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    let refusing = Server::start(vec![json_error(401, "bad token")]).await;
    let destination = with_bearer(settings(format!("{}/up", refusing.url)));
    let error = expect_error(destination.check().await);
    assert_eq!(error.class, ErrorClass::NeedsUser, "{}", error.message);
    assert!(
        error.message.contains("refused the credentials"),
        "{}",
        error.message
    );
    assert!(!error.message.contains(TOKEN), "{}", error.message);
    assert_eq!(error.field, Some(SECRET_FIELD), "the token is to fix");

    let nobody = format!("http://127.0.0.1:{}/up", closed_port());
    let error = expect_error(with_bearer(settings(nobody)).check().await);
    assert_eq!(error.class, ErrorClass::Transient, "{}", error.message);
    assert!(
        error.message.contains("could not connect"),
        "{}",
        error.message
    );
    assert!(!error.message.contains(TOKEN), "{}", error.message);
    assert_eq!(error.field, Some("url"), "the address is to check");

    // Without credentials, sending some is the setting to change.
    let wanting = Server::start(vec![json_error(401, "who are you")]).await;
    let error = expect_error(
        HttpDestination::new(settings(format!("{}/up", wanting.url)), None)
            .unwrap()
            .check()
            .await,
    );
    assert!(error.message.contains("sends none"), "{}", error.message);
    assert_eq!(error.field, Some("auth"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_cannot_ask_a_generic_endpoint() {
    let server = Server::start(vec![respond(200, &[], "{}")]).await;
    let destination = HttpDestination::new(
        HttpSettings {
            idempotency_header: Some("Idempotency-Key".into()),
            ..settings(format!("{}/up", server.url))
        },
        None,
    )
    .unwrap();

    let found = destination
        .reconcile(&in_memory(JOB, "a.jpg", content(100)))
        .await;

    // Documented: the resend carries the same idempotency key instead.
    assert_eq!(found, Ok(None));
    assert!(server.requests().is_empty(), "reconcile sent a request");
}

// Uploads stream their body, which reqwest never replays on a redirect; a
// request without a body (`check`'s HEAD) is where a redirect would be
// followed, headers and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_is_not_followed_with_the_key() {
    let elsewhere = Server::start(vec![respond(200, &[], "")]).await;
    let target = format!("{}/stolen", elsewhere.url);
    let server = Server::start(vec![respond(302, &[("Location", &target)], "")]).await;
    let destination = HttpDestination::new(
        HttpSettings {
            auth: HttpAuth::Header("X-Api-Key".into()),
            ..settings(format!("{}/upload/{{file_name}}", server.url))
        },
        Some(TOKEN),
    )
    .unwrap();
    let checked = destination.check().await;
    assert!(
        elsewhere.requests().is_empty(),
        "the key went to another host"
    );
    assert_eq!(server.only_request().method, "HEAD");
    assert!(checked.unwrap().contains("302"));
}
