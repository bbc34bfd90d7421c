//! AI image providers through the whole queue: a recipe that starts with
//! `ai_generate`, a real worker, and a loopback server that speaks each
//! provider's documented wire format (OpenAI Images API: JSON generations,
//! multipart edits, `data[].b64_json` / `url`, `{"error": {…, "code"}}`;
//! Gemini `generateContent`: `inline_data` in, `inlineData` out,
//! `finishReason`, `promptFeedback`, `RESOURCE_EXHAUSTED` with `RetryInfo`).
//! Each test checks what was sent (prompt, image, parameters, key header)
//! and what became of the job.

#[path = "shared/loopback.rs"]
mod loopback;
mod support;

use base64::Engine as _;
use loopback::{Reply, Server};
use outbox_engine::providers::{ProviderKind, ProviderSettings, ProviderView, Stage};
use outbox_engine::recipe::Recipe;
use outbox_engine::secrets::{SecretError, Secrets};
use outbox_engine::{
    AddOptions, Clock, Error, ErrorClass, Event, JobId, JobState, JobView, WorkerConfig,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-test-5d1f0c9e";
const PROMPT: &str = "Catalogue photo of {title}, {unit}, white background";
const FILLED: &str = "Catalogue photo of Red shoe, pair, white background";

/// Secrets kept in memory: the engine tests never touch the real keychain.
#[derive(Default)]
struct MemorySecrets(Mutex<HashMap<String, String>>);

impl Secrets for MemorySecrets {
    fn get(&self, key: &str) -> Result<Option<String>, SecretError> {
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    fn set(&self, key: &str, secret: &str) -> Result<(), SecretError> {
        self.0.lock().unwrap().insert(key.into(), secret.into());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), SecretError> {
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
}

fn bed() -> TestBed {
    TestBed::with_options(|o| o.secrets = Arc::new(MemorySecrets::default()))
}

/// A PNG the "provider" made: 40×30.
fn provider_png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 90]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn openai_ok() -> Reply {
    Reply::json(
        200,
        json!({"created": 1_713_833_628, "data": [{"b64_json": b64(&provider_png())}],
               "usage": {"total_tokens": 100, "input_tokens": 50, "output_tokens": 50}}),
    )
}

fn gemini_ok() -> Reply {
    Reply::json(
        200,
        json!({"candidates": [{"content": {"role": "model", "parts": [
                    {"text": "Here is your shoe."},
                    {"inlineData": {"mimeType": "image/png", "data": b64(&provider_png())}}]},
                "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 1300}}),
    )
}

fn add_provider(bed: &TestBed, kind: ProviderKind, base_url: String, settings: ProviderSettings) {
    bed.engine
        .add_provider(
            &ProviderView {
                name: "studio".into(),
                kind,
                settings: ProviderSettings {
                    base_url: Some(base_url),
                    ..settings
                },
            },
            KEY,
        )
        .unwrap();
}

fn openai(bed: &TestBed, server: &Server, settings: ProviderSettings) {
    add_provider(
        bed,
        ProviderKind::Openai,
        format!("{}/v1", server.url),
        settings,
    );
}

fn gemini(bed: &TestBed, server: &Server, settings: ProviderSettings) {
    add_provider(
        bed,
        ProviderKind::Gemini,
        format!("{}/v1beta", server.url),
        settings,
    );
}

fn settings() -> ProviderSettings {
    ProviderSettings {
        model: Some("gpt-image-1".into()),
        size: Some("1024x1024".into()),
        quality: Some("high".into()),
        timeout_seconds: 10,
        cost_per_image: Some(0.25),
        ..ProviderSettings::default()
    }
}

/// Saves the recipe `ai`: the AI step, then shrink to 20 px and JPEG.
fn save_recipe(bed: &TestBed, mode: &str, extra: Vec<serde_json::Value>) {
    let mut operations = vec![
        json!({"op": "ai_generate", "provider": "studio", "prompt": PROMPT, "mode": mode}),
        json!({"op": "fit_within", "longest_edge": 20}),
    ];
    operations.extend(extra);
    operations.push(json!({"op": "jpeg", "quality": 90}));
    let recipe: Recipe =
        serde_json::from_value(json!({"name": "ai", "operations": operations})).unwrap();
    bed.engine.save_recipe(&recipe).unwrap();
}

/// Queues `shoe.png` with a title and unit, with the `ai` recipe, to `out`.
fn add_item(bed: &TestBed) -> JobId {
    let path = bed.path("shoe.png");
    write_png(&path, 16, 12, 3);
    add_ai_items(bed, &[path])[0]
}

/// Queues `paths`, each with a title and unit, with the `ai` recipe, to `out`.
fn add_ai_items(bed: &TestBed, paths: &[std::path::PathBuf]) -> Vec<JobId> {
    let mut items = outbox_engine::scan(paths).items;
    for item in &mut items {
        item.fields = Some(json!({"title": "Red shoe", "unit": "pair"}));
    }
    bed.engine
        .enqueue(
            items,
            &AddOptions {
                destination: Some("out".into()),
                recipe: Some("ai".into()),
                ..AddOptions::default()
            },
        )
        .unwrap()
        .added
}

async fn run_until_idle(bed: &TestBed) {
    bed.engine
        .worker(WorkerConfig {
            until_idle: true,
            ..fast_worker()
        })
        .run(CancellationToken::new())
        .await
        .unwrap();
}

fn error_of(job: &JobView) -> (ErrorClass, String) {
    let e = job.error.clone().expect("an error");
    (e.class, e.message)
}

fn ai_images(bed: &TestBed, job: JobId) -> Vec<std::path::PathBuf> {
    let dir = bed
        .engine
        .data_dir()
        .join("outputs/ai")
        .join(job.to_string());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn delivered(bed: &TestBed, name: &str) -> image::DynamicImage {
    let path = bed.path("out").join(name);
    assert!(path.is_file(), "{} was not delivered", path.display());
    image::open(path).unwrap()
}

// ------------------------------------------------------------------ OpenAI

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_generation_sends_the_filled_prompt_and_parameters_then_post_processes() {
    let bed = bed();
    let server = Server::start(vec![openai_ok()]).await;
    openai(&bed, &server, settings());
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);
    assert_eq!(bed.engine.status().unwrap().cost.to_spend, 0.25);

    run_until_idle(&bed).await;

    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/images/generations");
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        request.json(),
        json!({"model": "gpt-image-1", "prompt": FILLED, "n": 1,
               "size": "1024x1024", "quality": "high"})
    );
    assert_eq!(bed.job(job).state, JobState::Completed);
    // The provider's 40×30 image, shrunk to 20 px by the recipe, as JPEG.
    let output = delivered(&bed, "shoe.jpg");
    assert_eq!((output.width(), output.height()), (20, 15));
    // The paid image itself is kept, byte for byte.
    let saved = ai_images(&bed, job);
    assert_eq!(saved.len(), 1);
    assert_eq!(std::fs::read(&saved[0]).unwrap(), provider_png());
    let cost = bed.engine.status().unwrap().cost;
    assert_eq!((cost.spent, cost.to_spend), (0.25, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_edit_sends_the_source_image_in_a_multipart_body() {
    let bed = bed();
    let server = Server::start(vec![openai_ok()]).await;
    openai(
        &bed,
        &server,
        ProviderSettings {
            count: 2,
            ..settings()
        },
    );
    save_recipe(&bed, "edit", vec![]);
    let job = add_item(&bed);

    run_until_idle(&bed).await;

    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/images/edits");
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    let parts = request.multipart();
    let (file_name, image) = &parts["image"];
    assert_eq!(image, &std::fs::read(bed.path("shoe.png")).unwrap());
    assert_eq!(file_name.as_deref(), Some("shoe.png"));
    let text = |name: &str| String::from_utf8(parts[name].1.clone()).unwrap();
    assert_eq!(text("prompt"), FILLED);
    assert_eq!(text("model"), "gpt-image-1");
    assert_eq!(text("n"), "2");
    assert_eq!(text("size"), "1024x1024");
    assert_eq!(text("quality"), "high");
    assert!(!parts.contains_key("response_format"));
    assert_eq!(bed.job(job).state, JobState::Completed);
    // Two images asked for: the cost of both.
    assert_eq!(bed.engine.status().unwrap().cost.spent, 0.5);
}

/// A provider at `server` asked to answer with URLs, and an item queued
/// with a recipe that uses it.
fn queue_with_url_answers(bed: &TestBed, server: &Server) -> JobId {
    openai(
        bed,
        server,
        ProviderSettings {
            response_format: Some("url".into()),
            ..settings()
        },
    );
    save_recipe(bed, "generate", vec![]);
    add_item(bed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_answered_by_url_is_downloaded_without_the_key() {
    let bed = bed();
    let server = Server::start(vec![]).await;
    server.route(
        "/v1/images/generations",
        Reply::json(
            200,
            json!({"created": 1, "data": [{"url": format!("{}/files/img-1.png", server.url)}]}),
        ),
    );
    server.route(
        "/files/img-1.png",
        Reply::bytes(200, "image/png", provider_png()),
    );
    let job = queue_with_url_answers(&bed, &server);

    run_until_idle(&bed).await;

    assert_eq!(
        bed.job(job).state,
        JobState::Completed,
        "{:?}",
        bed.job(job).error
    );
    assert_eq!(server.requests()[0].json()["response_format"], "url");
    let download = &server.requests_to("/files/")[0];
    assert_eq!(download.method, "GET");
    assert_eq!(download.header("authorization"), None);
    assert_eq!(
        std::fs::read(&ai_images(&bed, job)[0]).unwrap(),
        provider_png()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_url_elsewhere_on_this_computer_or_a_private_network_is_never_fetched() {
    let bed = bed();
    let server = Server::start(vec![]).await;
    let port = server.port();
    // The provider's own server is trusted (the user chose it); the same
    // computer by another name, or a cloud's metadata service, is not.
    server.route(
        "/v1/images/generations",
        Reply::json(
            200,
            json!({"created": 1, "data": [
                {"url": format!("http://localhost:{port}/files/secret.png")},
                {"url": "http://169.254.169.254/latest/meta-data/iam.png"},
            ]}),
        ),
    );
    server.route(
        "/files/secret.png",
        Reply::bytes(200, "image/png", provider_png()),
    );
    let job = queue_with_url_answers(&bed, &server);

    run_until_idle(&bed).await;

    let job = bed.job(job);
    assert_eq!(job.state, JobState::Failed, "{:?}", job.error);
    let message = job.error.map(|e| e.message).unwrap_or_default();
    assert!(
        message.contains("localhost is") && message.contains("private network"),
        "{message}"
    );
    assert!(server.requests_to("/files/").is_empty(), "nothing fetched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_policy_refusal_fails_at_once_with_the_providers_message() {
    let bed = bed();
    let server = Server::start(vec![Reply::json(
        400,
        json!({"error": {"message": "Your request was rejected by our safety system.",
                         "type": "image_generation_user_error", "param": null,
                         "code": "moderation_blocked"}}),
    )])
    .await;
    openai(&bed, &server, settings());
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);

    run_until_idle(&bed).await;

    let job = bed.job(job);
    assert_eq!(job.state, JobState::Failed);
    let (class, message) = error_of(&job);
    assert_eq!(class, ErrorClass::Permanent);
    assert!(message.contains("content policy"), "{message}");
    assert!(
        message.contains("rejected by our safety system"),
        "{message}"
    );
    assert_eq!(server.requests().len(), 1, "a refusal is never asked again");
    assert_eq!(bed.engine.status().unwrap().cost.spent, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_waits_for_the_user_and_is_never_shown() {
    let bed = bed();
    let server = Server::start(vec![Reply::json(
        401,
        json!({"error": {"message": "Incorrect API key provided: sk-test-****9e.",
                         "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    )])
    .await;
    openai(&bed, &server, settings());
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);

    run_until_idle(&bed).await;

    let job = bed.job(job);
    assert_eq!(job.state, JobState::Failed);
    let (class, message) = error_of(&job);
    assert_eq!(class, ErrorClass::NeedsUser);
    assert!(
        message.contains("401") && message.contains("Incorrect API key"),
        "{message}"
    );
    assert!(!message.contains(KEY));
    assert_eq!(server.requests().len(), 1);
}

/// A 429 with `Retry-After` delays the job that got it, and holds the
/// provider's other jobs until then: they do not each hit the limit again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_every_job_of_the_provider_until_the_servers_retry_after() {
    let bed = bed();
    let server = Server::start(vec![
        Reply::json_with(
            429,
            ("Retry-After", "7"),
            json!({"error": {"message": "Rate limit reached for images per minute.",
                             "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        ),
        openai_ok(),
        openai_ok(),
    ])
    .await;
    // One request at a time: the second job is claimed, and waits for the
    // first one's answer before it asks.
    openai(
        &bed,
        &server,
        ProviderSettings {
            max_concurrent: 1,
            ..settings()
        },
    );
    save_recipe(&bed, "generate", vec![]);
    let paths: Vec<_> = (0..2)
        .map(|i| {
            let path = bed.path(&format!("shoe{i}.png"));
            write_png(&path, 16, 12, i);
            path
        })
        .collect();
    let jobs = add_ai_items(&bed, &paths);
    let stop = CancellationToken::new();
    let worker = tokio::spawn(bed.engine.worker(fast_worker()).run(stop.clone()));

    let waiting = wait_for("the retry to be scheduled", || {
        jobs.iter().map(|&j| bed.job(j)).find(|j| {
            j.state == JobState::Pending && j.attempts == 1 && j.next_attempt_at.is_some()
        })
    })
    .await;
    assert_eq!(waiting.next_attempt_at, Some(bed.clock.now_ms() + 7_000));
    let (class, message) = error_of(&waiting);
    assert_eq!(class, ErrorClass::Transient);
    assert!(message.contains("Rate limit reached"), "{message}");
    let pauses = bed.engine.status().unwrap().cool_downs;
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!(
        (pauses[0].of, pauses[0].name.as_str()),
        ("provider", "studio")
    );

    bed.clock.advance(Duration::from_secs(6));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.requests().len(), 1, "the other job waits too");
    bed.clock.advance(Duration::from_secs(1));
    wait_for("both jobs to complete", || {
        jobs.iter()
            .all(|&j| bed.job(j).state == JobState::Completed)
            .then_some(())
    })
    .await;
    assert_eq!(server.requests().len(), 3);
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_only_as_often_as_the_provider_allows() {
    let bed = bed();
    let server = Server::start(vec![Reply::json(
        500,
        json!({"error": {"message": "The server had an error while processing your request.",
                         "type": "server_error", "param": null, "code": null}}),
    )])
    .await;
    // The job may try 3 times; the provider's cap is 2 (each may cost).
    openai(
        &bed,
        &server,
        ProviderSettings {
            max_attempts: 2,
            ..settings()
        },
    );
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);
    let stop = CancellationToken::new();
    let worker = tokio::spawn(bed.engine.worker(fast_worker()).run(stop.clone()));

    wait_for("the retry", || {
        (bed.job(job).attempts == 1 && bed.job(job).next_attempt_at.is_some()).then_some(())
    })
    .await;
    bed.clock.advance(Duration::from_secs(60));
    let failed = wait_for("the job to fail", || {
        let j = bed.job(job);
        (j.state == JobState::Failed).then_some(j)
    })
    .await;
    let (class, message) = error_of(&failed);
    assert_eq!(class, ErrorClass::Transient);
    assert!(message.starts_with("gave up after 2 attempts"), "{message}");
    assert!(message.contains("500"), "{message}");
    assert_eq!(server.requests().len(), 2);
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_answers_times_out_after_its_own_timeout() {
    let bed = bed();
    let server = Server::start(vec![Reply::Hang]).await;
    openai(
        &bed,
        &server,
        ProviderSettings {
            timeout_seconds: 1,
            max_attempts: 1,
            ..settings()
        },
    );
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);

    let started = std::time::Instant::now();
    run_until_idle(&bed).await;

    let job = bed.job(job);
    assert_eq!(job.state, JobState::Failed);
    let (class, message) = error_of(&job);
    assert_eq!(class, ErrorClass::Transient);
    assert!(message.contains("timed out after 1 s"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_imageless_answers_fail_with_a_clear_message() {
    for (reply, class, expected) in [
        (
            Reply::bytes(
                200,
                "application/json",
                b"{\"created\": 17, \"data\": [".to_vec(),
            ),
            ErrorClass::Transient,
            "not the JSON it documents",
        ),
        (
            Reply::json(200, json!({"created": 17, "data": []})),
            ErrorClass::Permanent,
            "answered without an image",
        ),
        (
            Reply::json(
                200,
                json!({"created": 17, "data": [{"b64_json": b64(b"not an image at all")}]}),
            ),
            ErrorClass::Permanent,
            "not an image",
        ),
    ] {
        let bed = bed();
        let server = Server::start(vec![reply]).await;
        openai(
            &bed,
            &server,
            ProviderSettings {
                max_attempts: 1,
                ..settings()
            },
        );
        save_recipe(&bed, "generate", vec![]);
        let job = add_item(&bed);
        run_until_idle(&bed).await;
        let job = bed.job(job);
        assert_eq!(job.state, JobState::Failed);
        let (got_class, message) = error_of(&job);
        assert_eq!(got_class, class, "{message}");
        assert!(message.contains(expected), "{message}");
    }
}

// ------------------------------------------------------------------ Gemini

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_sends_the_prompt_and_inline_image_with_the_key_header() {
    let bed = bed();
    let server = Server::start(vec![gemini_ok()]).await;
    gemini(
        &bed,
        &server,
        ProviderSettings {
            model: Some("gemini-2.5-flash-image".into()),
            size: Some("4:3".into()),
            timeout_seconds: 10,
            ..ProviderSettings::default()
        },
    );
    save_recipe(&bed, "edit", vec![]);
    let job = add_item(&bed);

    run_until_idle(&bed).await;

    let request = &server.requests()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-2.5-flash-image:generateContent"
    );
    assert_eq!(request.header("x-goog-api-key"), Some(KEY));
    assert_eq!(request.header("authorization"), None);
    assert!(!request.path.contains(KEY));
    let source = std::fs::read(bed.path("shoe.png")).unwrap();
    assert_eq!(
        request.json(),
        json!({"contents": [{"parts": [
                   {"text": FILLED},
                   {"inline_data": {"mime_type": "image/png", "data": b64(&source)}}]}],
               "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                                    "imageConfig": {"aspectRatio": "4:3"}}})
    );
    assert_eq!(bed.job(job).state, JobState::Completed);
    let output = delivered(&bed, "shoe.jpg");
    assert_eq!((output.width(), output.height()), (20, 15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_generation_from_the_prompt_alone_sends_no_image() {
    let bed = bed();
    let server = Server::start(vec![gemini_ok()]).await;
    gemini(&bed, &server, ProviderSettings::default());
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);
    run_until_idle(&bed).await;
    assert_eq!(bed.job(job).state, JobState::Completed);
    let body = server.requests()[0].json();
    assert_eq!(body["contents"][0]["parts"], json!([{"text": FILLED}]));
    assert_eq!(
        server.requests()[0].path,
        "/v1beta/models/gemini-2.5-flash-image:generateContent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_answers_without_an_image_fail_for_good_with_the_reason() {
    for (answer, expected) in [
        (
            json!({"candidates": [{"content": {"role": "model", "parts": [
                       {"text": "I can only describe the shoe."}]}, "finishReason": "NO_IMAGE"}]}),
            vec![
                "without an image",
                "NO_IMAGE",
                "I can only describe the shoe.",
            ],
        ),
        (
            json!({"candidates": [{"finishReason": "IMAGE_SAFETY"}]}),
            vec!["without an image", "IMAGE_SAFETY"],
        ),
        (
            json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}),
            vec!["blocked the prompt", "PROHIBITED_CONTENT"],
        ),
    ] {
        let bed = bed();
        let server = Server::start(vec![Reply::json(200, answer)]).await;
        gemini(&bed, &server, ProviderSettings::default());
        save_recipe(&bed, "generate", vec![]);
        let job = add_item(&bed);
        run_until_idle(&bed).await;
        let job = bed.job(job);
        assert_eq!(job.state, JobState::Failed);
        let (class, message) = error_of(&job);
        assert_eq!(class, ErrorClass::Permanent, "{message}");
        for part in expected {
            assert!(message.contains(part), "{message} lacks {part}");
        }
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_quota_errors_wait_as_long_as_their_retry_info_says() {
    let bed = bed();
    let server = Server::start(vec![
        Reply::json(
            429,
            json!({"error": {"code": 429,
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                     "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}}),
        ),
        gemini_ok(),
    ])
    .await;
    gemini(&bed, &server, ProviderSettings::default());
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);
    let stop = CancellationToken::new();
    let worker = tokio::spawn(bed.engine.worker(fast_worker()).run(stop.clone()));

    let waiting = wait_for("the retry", || {
        let j = bed.job(job);
        (j.state == JobState::Pending && j.attempts == 1).then_some(j)
    })
    .await;
    assert_eq!(waiting.next_attempt_at, Some(bed.clock.now_ms() + 30_000));
    assert!(error_of(&waiting).1.contains("RESOURCE_EXHAUSTED"));
    bed.clock.advance(Duration::from_secs(30));
    wait_for("completion", || {
        (bed.job(job).state == JobState::Completed).then_some(())
    })
    .await;
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_rejects_a_bad_key_with_400_and_the_user_is_asked() {
    let bed = bed();
    let server = Server::start(vec![Reply::json(
        400,
        json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                         "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
    )])
    .await;
    gemini(&bed, &server, ProviderSettings::default());
    save_recipe(&bed, "generate", vec![]);
    let job = add_item(&bed);
    run_until_idle(&bed).await;
    let (class, message) = error_of(&bed.job(job));
    assert_eq!(class, ErrorClass::NeedsUser);
    assert!(message.contains("API key not valid"), "{message}");
}

// ------------------------------------------------------- queue behaviour

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_post_processing_failed_reuses_the_paid_image() {
    let bed = bed();
    let server = Server::start(vec![openai_ok()]).await;
    openai(&bed, &server, settings());
    // The watermark file does not exist yet: post-processing fails.
    let mark = bed.path("mark.png");
    save_recipe(
        &bed,
        "generate",
        vec![
            json!({"op": "watermark", "image": mark, "corner": "bottom_right",
                    "width": 0.2, "opacity": 0.5, "margin": 1}),
        ],
    );
    let job = add_item(&bed);
    run_until_idle(&bed).await;
    assert_eq!(bed.job(job).state, JobState::Failed);
    assert_eq!(ai_images(&bed, job).len(), 1, "the paid image is kept");

    write_png(&mark, 8, 8, 9);
    bed.engine
        .retry(&outbox_engine::RetryTarget::Jobs(vec![job]))
        .unwrap();
    run_until_idle(&bed).await;

    assert_eq!(
        bed.job(job).state,
        JobState::Completed,
        "{:?}",
        bed.job(job).error
    );
    assert_eq!(server.requests().len(), 1, "the provider was paid once");
    assert_eq!(bed.engine.status().unwrap().cost.spent, 0.25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_respect_the_providers_concurrency_and_rate() {
    let bed = bed();
    let server = Server::start(vec![Reply::After(
        Duration::from_millis(150),
        Box::new(openai_ok()),
    )])
    .await;
    // One at a time, 600 a minute: 100 ms between starts.
    openai(
        &bed,
        &server,
        ProviderSettings {
            max_concurrent: 1,
            requests_per_minute: Some(600),
            ..settings()
        },
    );
    save_recipe(&bed, "generate", vec![]);
    let paths = bed.images("item", 4);
    let items = outbox_engine::scan(&paths)
        .items
        .into_iter()
        .map(|mut item| {
            item.fields = Some(json!({"title": "Red shoe", "unit": "pair"}));
            item
        })
        .collect();
    bed.engine
        .enqueue(
            items,
            &AddOptions {
                destination: Some("out".into()),
                recipe: Some("ai".into()),
                ..AddOptions::default()
            },
        )
        .unwrap();
    bed.engine
        .worker(WorkerConfig {
            until_idle: true,
            generate_concurrency: 4,
            ..fast_worker()
        })
        .run(CancellationToken::new())
        .await
        .unwrap();

    let sent = server.requests();
    assert_eq!(sent.len(), 4);
    assert_eq!(
        server
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    for pair in sent.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(100));
    }
    assert_eq!(bed.engine.counts().unwrap().completed, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_are_reported_and_a_cancel_stops_a_slow_generation() {
    let bed = bed();
    let server = Server::start(vec![Reply::Hang]).await;
    openai(&bed, &server, settings());
    save_recipe(&bed, "generate", vec![]);
    let mut events = bed.engine.subscribe();
    let job = add_item(&bed);
    let stop = CancellationToken::new();
    let worker = tokio::spawn(bed.engine.worker(fast_worker()).run(stop.clone()));

    let waiting = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Event::GenerationStage {
                job_id,
                stage,
                elapsed_ms,
            }) = events.recv().await
            {
                if job_id == job && stage == Stage::Waiting {
                    return elapsed_ms;
                }
            }
        }
    })
    .await
    .expect("a waiting stage");
    assert!(waiting < 10_000);
    bed.engine.cancel(&[job]).unwrap();
    wait_for("the worker to let go", || {
        bed.engine
            .status()
            .unwrap()
            .in_flight
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(bed.job(job).state, JobState::Cancelled);
    assert_eq!(bed.engine.status().unwrap().cost.to_spend, 0.0);
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_are_previewed_and_missing_fields_named_before_anything_is_paid() {
    let bed = bed();
    let server = Server::start(vec![openai_ok()]).await;
    openai(&bed, &server, settings());
    save_recipe(&bed, "generate", vec![]);
    let fields = json!({"title": "Red shoe", "unit": "pair"})
        .as_object()
        .cloned()
        .unwrap();
    assert_eq!(
        bed.engine.prompt_for("ai", &fields).unwrap().as_deref(),
        Some(FILLED)
    );
    assert_eq!(bed.engine.prompt_for("web", &fields).unwrap(), None);
    let partial = json!({"title": "Red shoe"}).as_object().cloned().unwrap();
    let e = bed
        .engine
        .prompt_for("ai", &partial)
        .unwrap_err()
        .to_string();
    assert!(e.contains("{unit}"), "{e}");

    // An item without the field fails alone, and nothing is sent.
    let path = bed.path("plain.png");
    write_png(&path, 8, 8, 1);
    let report = bed
        .engine
        .add(
            &[path],
            &AddOptions {
                destination: Some("out".into()),
                recipe: Some("ai".into()),
                ..AddOptions::default()
            },
        )
        .unwrap();
    run_until_idle(&bed).await;
    let (class, message) = error_of(&bed.job(report.added[0]));
    assert_eq!(class, ErrorClass::Permanent);
    assert!(message.contains("{title}"), "{message}");
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_checked_listed_and_guarded() {
    let bed = bed();
    let server = Server::start(vec![]).await;
    server.route(
        "/v1/models",
        Reply::json(
            200,
            json!({"object": "list", "data": [{"id": "gpt-image-1", "object": "model"}]}),
        ),
    );
    openai(&bed, &server, settings());
    let said = bed.engine.test_provider("studio").await.unwrap();
    assert!(said.contains("took the key"), "{said}");
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );

    // Unknown providers and bad settings are refused before anything is saved.
    save_recipe(&bed, "generate", vec![]);
    let bad = ProviderView {
        name: "bad".into(),
        kind: ProviderKind::Gemini,
        settings: ProviderSettings {
            count: 3,
            ..ProviderSettings::default()
        },
    };
    assert!(bed.engine.add_provider(&bad, KEY).is_err());
    assert_eq!(bed.engine.providers().unwrap().len(), 1);
    let json = serde_json::to_value(bed.engine.providers().unwrap()).unwrap();
    assert!(!json.to_string().contains(KEY));

    // In use by a pending job: not removed.
    add_item(&bed);
    assert!(bed.engine.remove_provider("studio").is_err());
    let recipe_for_missing: Recipe =
        serde_json::from_value(json!({"name": "ghost", "operations": [
        {"op": "ai_generate", "provider": "nobody", "prompt": "x"}]}))
        .unwrap();
    bed.engine.save_recipe(&recipe_for_missing).unwrap();
    let path = bed.path("g.png");
    write_png(&path, 8, 8, 2);
    let e = bed
        .engine
        .add(
            &[path],
            &AddOptions {
                recipe: Some("ghost".into()),
                destination: Some("out".into()),
                ..AddOptions::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("nobody"), "{e}");
}

#[test]
fn a_provider_is_edited_in_place_and_a_bad_edit_changes_nothing() {
    let bed = bed();
    add_provider(
        &bed,
        ProviderKind::Openai,
        "http://127.0.0.1:9/v1".into(),
        ProviderSettings::default(),
    );
    let mut view = bed.engine.providers().unwrap().remove(0);
    view.settings.model = Some("gpt-image-1-mini".into());
    view.settings.cost_per_image = Some(0.01);
    bed.engine.update_provider(&view, Some("new-key")).unwrap();
    let saved = bed.engine.providers().unwrap().remove(0);
    assert_eq!(saved.settings.model.as_deref(), Some("gpt-image-1-mini"));
    assert_eq!(saved.settings.cost_per_image, Some(0.01));

    let mut bad = saved.clone();
    bad.settings.count = 50;
    assert!(matches!(
        bed.engine.update_provider(&bad, None),
        Err(Error::InvalidSetting(_))
    ));
    let mut unknown = saved.clone();
    unknown.name = "nobody".into();
    assert!(matches!(
        bed.engine.update_provider(&unknown, None),
        Err(Error::UnknownProvider(_))
    ));
    assert_eq!(bed.engine.providers().unwrap(), vec![saved]);
}

#[tokio::test]
async fn jobs_past_the_spending_cap_wait_with_the_reason_until_it_is_raised() {
    let bed = bed();
    let server = Server::start(vec![openai_ok()]).await;
    // 0.25 an image: room for two under a cap of 0.60.
    openai(
        &bed,
        &server,
        ProviderSettings {
            spending_cap: Some(0.6),
            ..settings()
        },
    );
    save_recipe(&bed, "generate", vec![]);
    let paths: Vec<_> = (0..3)
        .map(|i| {
            let path = bed.path(&format!("item-{i}.png"));
            write_png(&path, 16, 12, 10 + i);
            path
        })
        .collect();
    let jobs = add_ai_items(&bed, &paths);
    assert_eq!(jobs.len(), 3);

    run_until_idle(&bed).await;
    let states: Vec<JobState> = jobs.iter().map(|j| bed.job(*j).state).collect();
    assert_eq!(
        states.iter().filter(|s| **s == JobState::Completed).count(),
        2,
        "{states:?}"
    );
    let waiting = jobs
        .iter()
        .map(|j| bed.job(*j))
        .find(|j| j.state == JobState::Pending)
        .expect("one job waits");
    let (class, reason) = error_of(&waiting);
    assert_eq!(class, ErrorClass::NeedsUser);
    assert!(
        reason.starts_with("spending cap reached: studio has 0.10 left"),
        "{reason}"
    );
    assert_eq!(
        server.requests_to("/v1/images").len(),
        2,
        "never asked past the cap"
    );
    let cost = bed.engine.status().unwrap().cost;
    assert_eq!((cost.spent, cost.to_spend), (0.5, 0.25));

    // A bad cap is refused; a raised one lets the job go on.
    let mut provider = bed.engine.providers().unwrap().remove(0);
    provider.settings.spending_cap = Some(-1.0);
    assert!(bed.engine.update_provider(&provider, None).is_err());
    // Below the 0.50 paid already: refused with both sums, nothing changed.
    provider.settings.spending_cap = Some(0.4);
    let below = bed
        .engine
        .update_provider(&provider, None)
        .unwrap_err()
        .to_string();
    assert!(
        below.contains("0.40 is below the 0.50 studio has spent already"),
        "{below}"
    );
    let kept = bed.engine.providers().unwrap().remove(0);
    assert_eq!(kept.settings.spending_cap, Some(0.6));
    provider.settings.spending_cap = Some(0.75);
    bed.engine.update_provider(&provider, None).unwrap();
    run_until_idle(&bed).await;
    let done = bed.job(waiting.id);
    assert_eq!(done.state, JobState::Completed);
    assert!(done.error.is_none(), "{:?}", done.error);
    assert_eq!(server.requests_to("/v1/images").len(), 3);
}
