//! Where outputs go. A destination delivers one output and, after a run died
//! mid-upload, tells whether that output already arrived ([`Destination::reconcile`]),
//! so an interrupted upload is never blindly sent twice.

mod folder;
mod http;
pub(crate) mod http_outcome;
mod object;
pub(crate) mod public_net;
mod wordpress;

pub use folder::FolderDestination;
pub use http::{HttpAuth, HttpDestination, HttpMethod, HttpSettings, ResultUrl};
pub use object::{ObjectDestination, ObjectProvider, ObjectSettings};
pub use wordpress::{WordPressDestination, WordPressSettings};

use crate::model::{ErrorClass, JobId, Remote};
use crate::secrets::{destination_key, Secrets};
use crate::template::Fields;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One output on its way to one destination.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The sending queue's random id (its database's). Job ids start at 1
    /// in every data folder, so a mark that must tell one delivery from
    /// another's on a shared site (two people, or one reinstall, sending
    /// the same image) names the queue as well as the job.
    pub queue_id: String,
    pub job_id: JobId,
    /// The name to deliver it under.
    pub file_name: String,
    pub mime: String,
    pub size: u64,
    /// BLAKE3 of the bytes: lets a destination recognise its own earlier copy.
    pub hash: [u8; 32],
    /// The output file in the data folder (fsynced).
    pub path: PathBuf,
    /// The same bytes, when they are still in memory.
    pub bytes: Option<Arc<[u8]>>,
    /// The item's fields (title, alt text, a post to attach to…).
    pub fields: Option<Fields>,
}

impl Delivery {
    /// The first 16 hex digits of the content hash.
    pub fn short_hash(&self) -> String {
        self.hash[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A failed delivery: what went wrong, and whether trying again can help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub class: ErrorClass,
    pub message: String,
    /// The server's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
    /// Not a failure but a wait for the destination to settle: asked again
    /// after `retry_after`, and the attempt does not count.
    pub waiting: bool,
    /// The setting the user should look at, named as in the kind's form
    /// ([`crate::forms`]), or [`SECRET_FIELD`] for its password, token or
    /// key; `None` when no one setting is to blame.
    pub field: Option<&'static str>,
}

/// The name a failure gives the destination's secret (password, token or
/// key) as the field to fix; the forms keep it apart from their fields.
pub const SECRET_FIELD: &str = "secret";

impl DeliveryError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        DeliveryError {
            class,
            message: message.into(),
            retry_after: None,
            waiting: false,
            field: None,
        }
    }

    /// The same failure, blamed on the setting `field` (a form's field name,
    /// or [`SECRET_FIELD`]).
    pub fn about(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// Blamed on `field` unless a more precise setting was named already.
    pub fn about_unless_named(self, field: &'static str) -> Self {
        match self.field {
            Some(_) => self,
            None => self.about(field),
        }
    }

    /// Ask again in `wait`, without spending an attempt; `message` says why.
    pub fn waiting(message: impl Into<String>, wait: Duration) -> Self {
        DeliveryError {
            retry_after: Some(wait),
            waiting: true,
            ..DeliveryError::new(ErrorClass::Transient, message)
        }
    }
}

/// A delivery's link to its job: the steps an earlier attempt finished, and
/// the bytes sent so far.
pub trait Steps: Send + Sync {
    /// What an earlier attempt of this job saved, if anything.
    fn saved(&self) -> Option<serde_json::Value>;
    /// Whether an earlier attempt ended without knowing if the upload
    /// arrived (a crash, a timeout): look for it before sending again.
    fn may_have_arrived(&self) -> bool;
    /// Saves what is done, durably, so a retry resumes after it.
    fn save(&self, state: serde_json::Value) -> BoxFuture<'_, Result<(), DeliveryError>>;
    /// Reports upload progress.
    fn sent(&self, bytes: u64);
}

/// Steps that are neither kept nor reported (`dest test`, tests).
pub struct NoSteps;

impl Steps for NoSteps {
    fn saved(&self) -> Option<serde_json::Value> {
        None
    }
    fn may_have_arrived(&self) -> bool {
        false
    }
    fn save(&self, _: serde_json::Value) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async { Ok(()) })
    }
    fn sent(&self, _: u64) {}
}

pub trait Destination: Send + Sync + 'static {
    /// Delivers the output; returns where it is now. Destinations with
    /// several remote steps save each through `steps` and skip those done.
    fn deliver<'a>(
        &'a self,
        delivery: &'a Delivery,
        steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>>;

    /// After an interrupted upload: is this output there already?
    fn reconcile<'a>(
        &'a self,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>>;

    /// `outbox dest test`: is it reachable, are the credentials right? Says
    /// what was checked in one sentence, or what is wrong in one sentence.
    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>>;
}

/// A destination's settings as frozen into a job when it was queued.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DestinationSnapshot {
    pub name: String,
    pub kind: String,
    pub settings: serde_json::Value,
}

/// Builds the destination a frozen snapshot describes.
pub trait ResolveDestination: Send + Sync + 'static {
    fn resolve(
        &self,
        snapshot: &DestinationSnapshot,
    ) -> Result<Arc<dyn Destination>, DeliveryError>;
}

/// The destination kinds Outbox ships, with their secrets from `secrets`.
#[derive(Clone)]
pub struct BuiltinDestinations {
    secrets: Arc<dyn Secrets>,
    /// The database's id, part of every keychain key.
    database_id: String,
}

impl BuiltinDestinations {
    pub fn new(secrets: Arc<dyn Secrets>, database_id: String) -> Self {
        BuiltinDestinations {
            secrets,
            database_id,
        }
    }

    fn secret(&self, name: &str) -> Result<Option<String>, DeliveryError> {
        let key = destination_key(&self.database_id, name);
        self.secrets.get(&key).map_err(|e| {
            DeliveryError::new(
                ErrorClass::NeedsUser,
                format!("cannot read the secret of destination {name:?}: {e}"),
            )
        })
    }
}

impl ResolveDestination for BuiltinDestinations {
    fn resolve(
        &self,
        snapshot: &DestinationSnapshot,
    ) -> Result<Arc<dyn Destination>, DeliveryError> {
        match snapshot.kind.as_str() {
            "folder" => Ok(Arc::new(FolderDestination::from_settings(
                &snapshot.settings,
            )?)),
            "http" => {
                let parsed: HttpSettings = serde_json::from_value(snapshot.settings.clone())
                    .map_err(|e| invalid_settings("HTTP", e))?;
                let secret = match parsed.auth {
                    HttpAuth::None => None,
                    _ => self.secret(&snapshot.name)?,
                };
                let destination = HttpDestination::new(parsed, secret.as_deref())?;
                Ok(redacted(destination, secret.into_iter().collect()))
            }
            "wordpress" => {
                let parsed: WordPressSettings = serde_json::from_value(snapshot.settings.clone())
                    .map_err(|e| invalid_settings("WordPress", e))?;
                let secret = self.secret(&snapshot.name)?;
                let forms = secret
                    .as_deref()
                    .map(|p| wordpress::secret_forms(&parsed.user, p))
                    .unwrap_or_default();
                let destination = WordPressDestination::new(parsed, secret.as_deref())?;
                Ok(redacted(destination, forms))
            }
            "s3" | "gcs" | "azure" => {
                let parsed = object_settings(&snapshot.kind, &snapshot.settings)
                    .map_err(|m| DeliveryError::new(ErrorClass::Permanent, m))?;
                let secret = self.secret(&snapshot.name)?;
                let destination = ObjectDestination::new(parsed, secret.as_deref())?;
                Ok(redacted(destination, secret.into_iter().collect()))
            }
            other => Err(DeliveryError::new(
                ErrorClass::Permanent,
                format!(
                    "destination {:?} has an unknown kind {other:?}",
                    snapshot.name
                ),
            )),
        }
    }
}

/// A destination whose messages never carry its secret, in any of the
/// `forms` it is sent in, even when a server echoes it back.
fn redacted(destination: impl Destination, forms: Vec<String>) -> Arc<dyn Destination> {
    Arc::new(Redacted {
        inner: destination,
        redactor: http_outcome::Redactor::new(forms),
    })
}

struct Redacted<D> {
    inner: D,
    redactor: http_outcome::Redactor,
}

impl<D: Destination> Destination for Redacted<D> {
    fn deliver<'a>(
        &'a self,
        delivery: &'a Delivery,
        steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move {
            self.inner
                .deliver(delivery, steps)
                .await
                .map_err(|e| self.redactor.error(e))
        })
    }

    fn reconcile<'a>(
        &'a self,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async move {
            self.inner
                .reconcile(delivery)
                .await
                .map_err(|e| self.redactor.error(e))
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(async move { self.redactor.check(self.inner.check().await) })
    }
}

/// Object storage settings whose provider is the destination's kind.
fn object_settings(kind: &str, settings: &serde_json::Value) -> Result<ObjectSettings, String> {
    let parsed: ObjectSettings = serde_json::from_value(settings.clone())
        .map_err(|e| format!("invalid {kind} settings: {e}"))?;
    if parsed.provider.as_str() != kind {
        return Err(format!(
            "a {kind} destination has {} settings",
            parsed.provider.as_str()
        ));
    }
    Ok(parsed)
}

fn invalid_settings(kind: &str, e: serde_json::Error) -> DeliveryError {
    DeliveryError::new(
        ErrorClass::Permanent,
        format!("the {kind} settings are invalid: {e}"),
    )
}

/// The kinds `validate_settings` knows.
pub const KINDS: &[&str] = &["folder", "http", "wordpress", "s3", "gcs", "azure"];

/// Checks a new destination's settings before they are saved.
pub fn validate_settings(kind: &str, settings: &serde_json::Value) -> Result<(), String> {
    let parse = |e: serde_json::Error| format!("invalid {kind} settings: {e}");
    match kind {
        "folder" => FolderDestination::from_settings(settings)
            .map(|_| ())
            .map_err(|e| e.message),
        "http" => serde_json::from_value::<HttpSettings>(settings.clone())
            .map_err(parse)?
            .validate()
            .map_err(|e| e.message),
        "wordpress" => serde_json::from_value::<WordPressSettings>(settings.clone())
            .map_err(parse)?
            .validate()
            .map_err(|e| e.message),
        "s3" | "gcs" | "azure" => object_settings(kind, settings)?
            .validate()
            .map_err(|e| e.message),
        other => Err(format!(
            "unknown destination kind {other:?}; the kinds are: {}",
            KINDS.join(", ")
        )),
    }
}

/// The HTTP client of one destination. There is no timeout on the whole
/// request: an upload over a slow line may take long and still be moving.
/// Stalls are caught instead ([`send_watched`], [`read_body`]), and short
/// calls set their own limit.
pub(crate) fn http_client() -> Result<reqwest::Client, DeliveryError> {
    built(client_builder())
}

/// A client for URLs a file or a server named: public addresses only
/// ([`public_net`]).
pub(crate) fn public_http_client() -> Result<reqwest::Client, DeliveryError> {
    built(client_builder().dns_resolver(public_net::PublicOnly))
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .redirect(same_origin_redirects())
        .user_agent(concat!("Outbox/", env!("CARGO_PKG_VERSION")))
}

fn built(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, DeliveryError> {
    builder.build().map_err(|e| {
        DeliveryError::new(
            ErrorClass::Permanent,
            format!("cannot make an HTTP client: {e}"),
        )
    })
}

/// Redirects are followed only within the same scheme, host and port, at
/// most 5: reqwest drops `Authorization` when a redirect leaves the host, but
/// not an API key in a header of the user's choosing. A redirect elsewhere is
/// answered as a failure (the 3xx) instead.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = |url: &reqwest::Url| {
            (
                url.scheme().to_string(),
                url.host_str().map(str::to_string),
                url.port_or_known_default(),
            )
        };
        let first = attempt.previous().first().map(origin);
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if first.is_some_and(|first| first != origin(attempt.url())) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// When an upload last moved: each chunk handed to the connection.
#[derive(Clone)]
pub(crate) struct Activity {
    start: std::time::Instant,
    last_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: std::time::Instant::now(),
            last_ms: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(std::sync::atomic::Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Sends an upload, giving up only when nothing moved for `limit` (the body
/// stopped going out, or the server sat on its answer that long).
pub(crate) async fn send_watched(
    request: reqwest::RequestBuilder,
    activity: &Activity,
    limit: Duration,
    what: &str,
) -> Result<reqwest::Response, DeliveryError> {
    let send = request.send();
    tokio::pin!(send);
    loop {
        let wait = limit.saturating_sub(activity.idle());
        if wait.is_zero() {
            return Err(stalled(what, limit));
        }
        tokio::select! {
            sent = &mut send => return sent.map_err(|e| http_outcome::transport_failure(what, &e)),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The most of an answer's body kept: answers to uploads are small JSON.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// An answer's body, as long as each piece comes within `limit`; an answer
/// longer than [`MAX_ANSWER_BYTES`] is cut there (enough for any reason or
/// URL in it).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: Duration,
    what: &str,
) -> Result<bytes::Bytes, DeliveryError> {
    let mut body = bytes::BytesMut::new();
    while body.len() < MAX_ANSWER_BYTES {
        match tokio::time::timeout(limit, response.chunk()).await {
            Err(_) => return Err(stalled(what, limit)),
            Ok(Err(e)) => return Err(http_outcome::transport_failure(what, &e)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
        }
    }
    body.truncate(MAX_ANSWER_BYTES);
    Ok(body.freeze())
}

/// A whole answer of at most `max` bytes; a longer one is an error (an
/// image cut short is no image). The caller bounds the time.
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
    what: &str,
) -> Result<bytes::Bytes, DeliveryError> {
    let too_large = || {
        DeliveryError::new(
            ErrorClass::Permanent,
            format!("{what}: the answer is larger than {} MB", max >> 20),
        )
    };
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| http_outcome::transport_failure(what, &e))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn stalled(what: &str, limit: Duration) -> DeliveryError {
    DeliveryError::new(
        ErrorClass::Transient,
        format!(
            "{what}: timed out (nothing moved for {} s)",
            limit.as_secs()
        ),
    )
}

/// The output as a request body, streamed from memory or from its file,
/// reporting the bytes as they go; the [`Activity`] shows it moving.
pub(crate) async fn upload_body(
    d: &Delivery,
    steps: Arc<dyn Steps>,
) -> Result<(reqwest::Body, Activity), DeliveryError> {
    use futures_util::StreamExt;
    const CHUNK: usize = 256 << 10;
    let stream: futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>> =
        match &d.bytes {
            Some(bytes) => {
                let bytes = bytes::Bytes::from_owner(bytes.clone());
                let chunks: Vec<std::io::Result<bytes::Bytes>> = (0..bytes.len())
                    .step_by(CHUNK)
                    .map(|at| Ok(bytes.slice(at..(at + CHUNK).min(bytes.len()))))
                    .collect();
                futures_util::stream::iter(chunks).boxed()
            }
            None => {
                let file = tokio::fs::File::open(&d.path).await.map_err(|e| {
                    DeliveryError::new(
                        ErrorClass::Permanent,
                        format!("cannot read the output {}: {e}", d.path.display()),
                    )
                })?;
                tokio_util::io::ReaderStream::with_capacity(file, CHUNK).boxed()
            }
        };
    steps.sent(0);
    let activity = Activity::new();
    let moved = activity.clone();
    let mut total = 0u64;
    let counted = stream.inspect(move |chunk| {
        moved.touch();
        if let Ok(chunk) = chunk {
            total += chunk.len() as u64;
            steps.sent(total);
        }
    });
    Ok((reqwest::Body::wrap_stream(counted), activity))
}
