//! AI image providers: an OpenAI-style Images API (`openai.rs`) and Gemini
//! (`gemini.rs`), each an [`ImageProvider`] beside the local pipeline. A
//! recipe that starts with an `ai_generate` step asks one of them for an
//! image, then runs its local operations on that image.
//!
//! Generation is slow and costs money, so: long per-provider timeouts, limits
//! on concurrency and requests per minute (`limits.rs`), errors classed as
//! for deliveries (content-policy refusals, bad keys and answers without an
//! image fail at once; 429 and 5xx are retried, honouring the server's wait),
//! and a cap on automatic attempts in the provider's settings.

mod gemini;
mod limits;
mod openai;

pub(crate) use limits::ProviderLimits;

use crate::destinations::{http_outcome, BoxFuture};
use crate::model::ErrorClass;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A provider's failure has the shape of a delivery's: a class, the
/// provider's own reason, and its `Retry-After` when it gave one.
pub use crate::destinations::DeliveryError as ProviderError;

/// The most of a provider's answer read: base64 images are large, but not
/// this large.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// `POST {base_url}/images/generations` and `/images/edits`.
    Openai,
    /// `POST {base_url}/models/{model}:generateContent`.
    Gemini,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Gemini => "gemini",
        }
    }

    pub(crate) fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Openai => "https://api.openai.com/v1",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
        }
    }

    pub(crate) fn default_model(self) -> &'static str {
        match self {
            ProviderKind::Openai => "gpt-image-1",
            ProviderKind::Gemini => "gemini-2.5-flash-image",
        }
    }
}

/// A provider's settings: everything but its API key, which is in the keychain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// The API's root, version included (`https://api.openai.com/v1`, a
    /// compatible or self-hosted server's); the kind's own when `None`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The kind's default model when `None`.
    #[serde(default)]
    pub model: Option<String>,
    /// OpenAI: `1024x1024`, `1536x1024`, `auto`… (not sent when `None`).
    #[serde(default)]
    pub size: Option<String>,
    /// OpenAI: `low`, `medium`, `high`, `auto`, `hd`… (not sent when `None`).
    #[serde(default)]
    pub quality: Option<String>,
    /// OpenAI: `b64_json` or `url`, for models that take it (GPT image
    /// models answer base64 and refuse the parameter: not sent when `None`).
    #[serde(default)]
    pub response_format: Option<String>,
    /// Images asked for per item (OpenAI's `n`); each is saved and paid for,
    /// the first is the item's output.
    #[serde(default = "one")]
    pub count: u32,
    /// How long one request may take: image models take 60–300 s.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Requests to this provider at once.
    #[serde(default = "default_concurrent")]
    pub max_concurrent: u32,
    /// Requests started per minute, spread evenly; unlimited when `None`.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// What one image costs, for the money spent and to be spent.
    #[serde(default)]
    pub cost_per_image: Option<f64>,
    /// The most this provider may cost in all: what was spent plus what
    /// running jobs will cost. Jobs that would pass it wait, with that
    /// reason, until it is raised. No cap when `None`.
    #[serde(default)]
    pub spending_cap: Option<f64>,
    /// Automatic attempts of a generation at most (each may cost money);
    /// a job's own `max_attempts` may be lower.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn one() -> u32 {
    1
}
fn default_timeout() -> u64 {
    300
}
fn default_concurrent() -> u32 {
    2
}
fn default_attempts() -> u32 {
    2
}

impl Default for ProviderSettings {
    fn default() -> Self {
        ProviderSettings {
            base_url: None,
            model: None,
            size: None,
            quality: None,
            response_format: None,
            count: one(),
            timeout_seconds: default_timeout(),
            max_concurrent: default_concurrent(),
            requests_per_minute: None,
            cost_per_image: None,
            spending_cap: None,
            max_attempts: default_attempts(),
        }
    }
}

/// A provider as saved and listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProviderView {
    pub name: String,
    pub kind: ProviderKind,
    pub settings: ProviderSettings,
}

impl ProviderView {
    /// Checks the settings before they are saved; says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a provider needs a name".into());
        }
        let s = &self.settings;
        let url = self.base_url();
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("base_url {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("base_url {url:?} is not an http(s) address"));
        }
        if s.spending_cap
            .is_some_and(|cap| !cap.is_finite() || cap < 0.0)
        {
            return Err("the spending cap must be an amount, 0 or more".into());
        }
        if self.kind == ProviderKind::Gemini && s.count != 1 {
            return Err("a gemini provider makes one image per request (count 1)".into());
        }
        if !(1..=10).contains(&s.count) {
            return Err(format!("count must be 1 to 10, not {}", s.count));
        }
        if !(1..=3600).contains(&s.timeout_seconds) {
            return Err(format!(
                "timeout_seconds must be 1 to 3600, not {}",
                s.timeout_seconds
            ));
        }
        if s.max_concurrent == 0 {
            return Err("max_concurrent must be at least 1".into());
        }
        if s.requests_per_minute == Some(0) {
            return Err("requests_per_minute must be at least 1".into());
        }
        if s.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if let Some(cost) = s.cost_per_image {
            if !cost.is_finite() || cost < 0.0 {
                return Err(format!("cost_per_image must be 0 or more, not {cost}"));
            }
        }
        if let Some(format) = &s.response_format {
            if !matches!(format.as_str(), "b64_json" | "url") {
                return Err(format!(
                    "response_format must be b64_json or url, not {format:?}"
                ));
            }
        }
        Ok(())
    }

    /// The base URL in force, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.settings
            .base_url
            .as_deref()
            .unwrap_or(self.kind.default_base_url())
            .trim_end_matches('/')
            .to_string()
    }

    /// The model in force.
    pub fn model(&self) -> &str {
        self.settings
            .model
            .as_deref()
            .unwrap_or(self.kind.default_model())
    }

    /// The money one item's generation costs (every image asked for).
    pub fn cost_per_item(&self) -> f64 {
        self.settings.cost_per_image.unwrap_or(0.0) * f64::from(self.settings.count)
    }
}

/// Where a generation is, for the queue panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The request is being sent.
    RequestSent,
    /// Sent; the provider is generating.
    Waiting,
    /// The answer is arriving.
    Receiving,
    /// The provider's image is saved; the recipe's local operations run.
    PostProcessing,
}

/// The source image sent with an edit.
#[derive(Clone, Copy, Debug)]
pub struct SourceImage<'a> {
    pub bytes: &'a [u8],
    pub mime: &'a str,
    pub file_name: &'a str,
}

/// One generation: the filled prompt, and the source image when editing.
#[derive(Clone, Copy, Debug)]
pub struct ImageRequest<'a> {
    pub prompt: &'a str,
    pub source: Option<SourceImage<'a>>,
}

/// An image as the provider answered it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderImage {
    pub bytes: Vec<u8>,
    /// The format the bytes are in (`png`, `jpg`, `webp`…).
    pub extension: &'static str,
}

/// Reports stages as a generation goes.
pub type StageReporter = Arc<dyn Fn(Stage) + Send + Sync>;

/// A generator of images from a prompt (and a source image, for an edit).
pub trait ImageProvider: Send + Sync {
    /// Asks for the images; at least one on success.
    fn generate<'a>(
        &'a self,
        request: ImageRequest<'a>,
        stage: StageReporter,
    ) -> BoxFuture<'a, Result<Vec<ProviderImage>, ProviderError>>;

    /// `outbox provider test`: is it reachable, is the key right? Costs nothing.
    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>>;
}

/// Builds the provider a saved view describes, with its key.
pub fn build(view: &ProviderView, key: &str) -> Result<Arc<dyn ImageProvider>, ProviderError> {
    view.validate().map_err(|e| {
        ProviderError::new(
            ErrorClass::Permanent,
            format!("provider {:?}: {e}", view.name),
        )
    })?;
    let client = crate::destinations::http_client()?;
    let inner: Box<dyn ImageProvider> = match view.kind {
        ProviderKind::Openai => Box::new(openai::OpenAi::new(view, key, client)?),
        ProviderKind::Gemini => Box::new(gemini::Gemini::new(view, key, client)?),
    };
    Ok(Arc::new(Redacted {
        inner,
        redactor: http_outcome::Redactor::new([key.to_string()]),
    }))
}

/// A provider whose messages never carry its key, even when a server
/// echoes it back.
struct Redacted {
    inner: Box<dyn ImageProvider>,
    redactor: http_outcome::Redactor,
}

impl ImageProvider for Redacted {
    fn generate<'a>(
        &'a self,
        request: ImageRequest<'a>,
        stage: StageReporter,
    ) -> BoxFuture<'a, Result<Vec<ProviderImage>, ProviderError>> {
        Box::pin(async move {
            self.inner
                .generate(request, stage)
                .await
                .map_err(|e| self.redactor.error(e))
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move { self.redactor.check(self.inner.check().await) })
    }
}

/// A header value from a key; a key with characters no header may carry is
/// the user's to fix.
fn key_header(value: String) -> Result<reqwest::header::HeaderValue, ProviderError> {
    let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
        ProviderError::new(
            ErrorClass::NeedsUser,
            "the API key holds characters an HTTP header cannot carry; set it again",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// An answer: status, headers, body.
pub(crate) struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// Sends `body` and reads the answer within `timeout`, reporting stages:
/// `waiting` once the last piece of the body is handed to the connection,
/// `receiving` when the answer's head arrives.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    content_type: &str,
    body: Vec<u8>,
    timeout: Duration,
    stage: StageReporter,
    what: &str,
) -> Result<Answer, ProviderError> {
    use futures_util::StreamExt;
    const PIECE: usize = 64 << 10;
    let length = body.len();
    let body = bytes::Bytes::from(body);
    let pieces: Vec<bytes::Bytes> = (0..length)
        .step_by(PIECE)
        .map(|at| body.slice(at..(at + PIECE).min(length)))
        .collect();
    let last = pieces.len();
    let sent = stage.clone();
    let chunks =
        futures_util::stream::iter(pieces.into_iter().enumerate()).map(move |(i, piece)| {
            if i + 1 == last {
                sent(Stage::Waiting);
            }
            Ok::<_, std::io::Error>(piece)
        });
    let request = request
        .header(CONTENT_TYPE, content_type)
        .header(CONTENT_LENGTH, length)
        .body(reqwest::Body::wrap_stream(chunks));
    let exchange = async {
        stage(Stage::RequestSent);
        let response = request
            .send()
            .await
            .map_err(|e| http_outcome::transport_failure(what, &e))?;
        stage(Stage::Receiving);
        read_answer(response, what).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(timed_out(what, timeout)))
}

/// A GET within `timeout` (checks, images answered by URL).
pub(crate) async fn fetch(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    what: &str,
) -> Result<Answer, ProviderError> {
    let exchange = async {
        let response = request
            .send()
            .await
            .map_err(|e| http_outcome::transport_failure(what, &e))?;
        read_answer(response, what).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(timed_out(what, timeout)))
}

async fn read_answer(response: reqwest::Response, what: &str) -> Result<Answer, ProviderError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = crate::destinations::read_capped(response, MAX_ANSWER_BYTES, what).await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn timed_out(what: &str, timeout: Duration) -> ProviderError {
    ProviderError::new(
        ErrorClass::Transient,
        format!(
            "{what}: timed out after {} s (the provider's timeout_seconds)",
            timeout.as_secs()
        ),
    )
}

/// An image's format from its bytes; an answer whose "image" is not one is
/// an answer without an image.
fn sniff(bytes: Vec<u8>, what: &str) -> Result<ProviderImage, ProviderError> {
    let format = image::guess_format(&bytes).map_err(|_| {
        ProviderError::new(
            ErrorClass::Permanent,
            format!("{what}: the provider's answer holds data that is not an image"),
        )
    })?;
    Ok(ProviderImage {
        bytes,
        extension: format.extensions_str().first().copied().unwrap_or("img"),
    })
}

fn decode_base64(data: &str, what: &str) -> Result<ProviderImage, ProviderError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| {
            ProviderError::new(
                ErrorClass::Permanent,
                format!("{what}: the provider's image is not valid base64 ({e})"),
            )
        })?;
    sniff(bytes, what)
}

fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A 2xx answer that is not JSON: cut short by a proxy, most likely; trying
/// again may help (attempts are capped).
fn malformed(what: &str, e: &serde_json::Error) -> ProviderError {
    ProviderError::new(
        ErrorClass::Transient,
        format!("{what}: the provider's answer is not the JSON it documents ({e})"),
    )
}
