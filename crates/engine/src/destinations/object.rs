//! The object-storage destination: Amazon S3 and S3-compatible servers
//! (path-style requests to a custom endpoint), Google Cloud Storage and
//! Azure Blob Storage, through the `object_store` crate.
//!
//! Duplicates: the object key comes from a template and the content hash,
//! so it is the same on every attempt; a PUT overwrites, so a retry after
//! an unknown outcome replaces the same object instead of adding a copy.
//! [`Destination::reconcile`] is a HEAD of that key.

use super::{BoxFuture, Delivery, DeliveryError, Destination, Steps};
use crate::model::{ErrorClass, Remote};
use crate::template::{self, field_text};
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, HeaderValue, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
    WriteMultipart,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The settings saved for an object-storage destination (never the secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSettings {
    pub provider: ObjectProvider,
    /// The bucket (the container, for Azure).
    pub bucket: String,
    /// S3 only; `us-east-1` when not set.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: an S3-compatible server (MinIO, R2, moto…), spoken to with
    /// path-style requests. Azure: the account's blob endpoint, account
    /// included when it is in the path (Azurite:
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Azure: the storage account name.
    #[serde(default)]
    pub account: Option<String>,
    /// S3: the access key id (not secret; the secret key is in the keychain).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// `{file_name}`, `{stem}`, `{ext}`, `{hash}` (16 hex digits of the
    /// content hash), `{job}`, and any item field (`{sku}`).
    #[serde(default = "default_key_template")]
    pub key_template: String,
    /// When set, the URL recorded is this + `/` + the key (a CDN, a custom
    /// domain); otherwise the provider's own URL of the object.
    #[serde(default)]
    pub public_url_base: Option<String>,
    /// Objects this size (MiB) or larger go up in parts.
    #[serde(default = "default_multipart_threshold")]
    pub multipart_threshold_mb: u64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectProvider {
    S3,
    Gcs,
    Azure,
}

fn default_key_template() -> String {
    "{hash}/{file_name}".into()
}

fn default_multipart_threshold() -> u64 {
    16
}

fn default_timeout() -> u64 {
    300
}

const MIB: u64 = 1024 * 1024;
/// The smallest part S3 accepts (but for the last).
const MIN_PART: u64 = 5 * MIB;
/// S3 allows 10,000 parts; a margin keeps the last one in range.
const MAX_PARTS: u64 = 9_000;
/// Parts uploading at once: bounds the memory to a few parts.
const PARTS_IN_FLIGHT: usize = 2;
/// How much of an output file is read at a time.
const READ_CHUNK: usize = 1 << 20;
/// The longest key S3 and GCS accept, in bytes.
const MAX_KEY_BYTES: usize = 1024;
const DEFAULT_REGION: &str = "us-east-1";

impl ObjectSettings {
    /// Checks the settings alone (no secret, no network): what
    /// `destination add` runs before saving them.
    pub fn validate(&self) -> Result<(), DeliveryError> {
        let bad = |m: String| Err(DeliveryError::new(ErrorClass::Permanent, m));
        let noun = self.noun();
        if self.bucket.trim().is_empty() || self.bucket.contains(['/', '\\']) {
            return bad(format!("the {noun} name {:?} is not valid", self.bucket));
        }
        template::check(&self.key_template)
            .map_err(|e| DeliveryError::new(ErrorClass::Permanent, format!("key template: {e}")))?;
        for (name, value) in [
            ("endpoint", &self.endpoint),
            ("public_url_base", &self.public_url_base),
        ] {
            if let Some(url) = value {
                check_http_url(name, url)?;
            }
        }
        self.check_provider_fields()?;
        // Below the threshold the object is sent in one request, read whole
        // into memory: keep that small.
        if self.multipart_threshold_mb < MIN_PART / MIB || self.multipart_threshold_mb > 64 {
            return bad(format!(
                "multipart_threshold_mb must be between 5 and 64, not {}",
                self.multipart_threshold_mb
            ));
        }
        if self.timeout_seconds == 0 {
            return bad("timeout_seconds must be at least 1".into());
        }
        Ok(())
    }

    /// Each provider's own settings, and none of another's.
    fn check_provider_fields(&self) -> Result<(), DeliveryError> {
        let (required, unused): (&[&str], &[&str]) = match self.provider {
            ObjectProvider::S3 => (&["access_key_id"], &["account"]),
            ObjectProvider::Gcs => (&[], &["region", "endpoint", "account", "access_key_id"]),
            ObjectProvider::Azure => (&["account"], &["region", "access_key_id"]),
        };
        let provider = self.provider.name();
        if let Some(name) = required.iter().find(|n| !is_set(self.optional(n))) {
            return Err(DeliveryError::new(
                ErrorClass::Permanent,
                format!("{provider} needs {name}"),
            ));
        }
        if let Some(name) = unused.iter().find(|n| self.optional(n).is_some()) {
            return Err(DeliveryError::new(
                ErrorClass::Permanent,
                format!("{name} is not used with {provider}; remove it"),
            ));
        }
        Ok(())
    }

    /// An optional setting by its name.
    fn optional(&self, name: &str) -> Option<&str> {
        match name {
            "region" => self.region.as_deref(),
            "endpoint" => self.endpoint.as_deref(),
            "account" => self.account.as_deref(),
            "access_key_id" => self.access_key_id.as_deref(),
            _ => None,
        }
    }

    /// "bucket" or, for Azure, "container".
    fn noun(&self) -> &'static str {
        match self.provider {
            ObjectProvider::Azure => "container",
            _ => "bucket",
        }
    }

    /// `bucket "photos"`, for messages.
    fn place(&self) -> String {
        format!("{} {:?}", self.noun(), self.bucket)
    }

    fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_REGION)
    }

    fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref().map(|e| e.trim_end_matches('/'))
    }

    /// The object key of one delivery: the template filled in, made safe.
    pub fn key_for(&self, d: &Delivery) -> Result<String, DeliveryError> {
        let (stem, ext) = split_name(&d.file_name);
        let hash = d.short_hash();
        let filled = template::fill(&self.key_template, |name| match name {
            "file_name" => Some(d.file_name.clone()),
            "stem" => Some(stem.to_string()),
            "ext" => Some(ext.to_string()),
            "hash" => Some(hash.clone()),
            "job" => Some(d.job_id.to_string()),
            field => d.fields.as_ref().and_then(|f| field_text(f, field)),
        })
        .map_err(|e| {
            DeliveryError::new(
                ErrorClass::Permanent,
                format!(
                    "cannot name the object with the key template {:?}: {e}",
                    self.key_template
                ),
            )
        })?;
        safe_key(&filled).map_err(|e| DeliveryError::new(ErrorClass::Permanent, e))
    }

    /// Where the object at `key` can be fetched.
    pub fn object_url(&self, key: &str) -> String {
        let key = encode_key(key);
        if let Some(base) = &self.public_url_base {
            return format!("{}/{key}", base.trim_end_matches('/'));
        }
        let bucket = encode_segment(&self.bucket);
        match (self.provider, self.endpoint()) {
            (ObjectProvider::S3 | ObjectProvider::Azure, Some(endpoint)) => {
                format!("{endpoint}/{bucket}/{key}")
            }
            (ObjectProvider::S3, None) => {
                format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region())
            }
            (ObjectProvider::Gcs, _) => format!("https://storage.googleapis.com/{bucket}/{key}"),
            (ObjectProvider::Azure, None) => format!(
                "https://{}.blob.core.windows.net/{bucket}/{key}",
                self.account.as_deref().unwrap_or_default()
            ),
        }
    }

    /// The fixed start of every key (up to the last `/` before the first
    /// placeholder): what `check` lists.
    fn fixed_prefix(&self) -> Option<Path> {
        let fixed = self.key_template.split('{').next().unwrap_or_default();
        let dir = fixed.rsplit_once('/').map(|(dir, _)| dir)?;
        Path::parse(safe_key(dir).ok()?).ok()
    }

    fn client_options(&self) -> ClientOptions {
        let http = self
            .endpoint
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().starts_with("http://"));
        // Set here, not with the builders' `with_allow_http`: their
        // `with_client_options` replaces it.
        ClientOptions::new()
            .with_allow_http(http)
            .with_connect_timeout(Duration::from_secs(20))
            .with_timeout(Duration::from_secs(self.timeout_seconds.max(1)))
            .with_user_agent(HeaderValue::from_static(concat!(
                "Outbox/",
                env!("CARGO_PKG_VERSION")
            )))
    }
}

impl ObjectProvider {
    /// The destination kind (`s3`, `gcs`, `azure`), as in the settings.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectProvider::S3 => "s3",
            ObjectProvider::Gcs => "gcs",
            ObjectProvider::Azure => "azure",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ObjectProvider::S3 => "S3",
            ObjectProvider::Gcs => "Google Cloud Storage",
            ObjectProvider::Azure => "Azure Blob Storage",
        }
    }

    /// What the keychain holds for this provider.
    fn secret_name(self) -> &'static str {
        match self {
            ObjectProvider::S3 => "the S3 secret access key",
            ObjectProvider::Gcs => "the Google Cloud service-account key (JSON)",
            ObjectProvider::Azure => "the Azure storage account key",
        }
    }
}

/// Few, quick retries: the worker has its own retry with backoff, and a
/// destination that is down should be reported, not waited for.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
    }
}

pub struct ObjectDestination {
    settings: ObjectSettings,
    /// Holds the credentials: never printed (see the `Debug` below).
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for ObjectDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectDestination")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ObjectDestination {
    /// Checks the settings and builds the client; `secret` is the
    /// keychain's S3 secret key, GCS service-account JSON or Azure key.
    pub fn new(settings: ObjectSettings, secret: Option<&str>) -> Result<Self, DeliveryError> {
        settings.validate()?;
        let secret = secret.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
            DeliveryError::new(
                ErrorClass::NeedsUser,
                format!(
                    "{} is not in the keychain; set it again",
                    settings.provider.secret_name()
                ),
            )
            .about(super::SECRET_FIELD)
        })?;
        let store = build_store(&settings, secret)?;
        Ok(ObjectDestination { settings, store })
    }

    async fn upload(&self, d: &Delivery, steps: &Arc<dyn Steps>) -> Result<Remote, DeliveryError> {
        let key = self.settings.key_for(d)?;
        let path = object_path(&key)?;
        let what = format!("uploading {key} to {}", self.settings.place());
        tracing::debug!(job = d.job_id, %key, size = d.size, "object upload");
        steps.sent(0);
        if d.size >= self.settings.multipart_threshold_mb.saturating_mul(MIB) {
            self.put_in_parts(d, &path, steps, &what).await?;
        } else {
            self.put_whole(d, &path, &what).await?;
        }
        steps.sent(d.size);
        Ok(self.remote(key))
    }

    /// One PUT: the output is small enough to hold in memory.
    async fn put_whole(&self, d: &Delivery, path: &Path, what: &str) -> Result<(), DeliveryError> {
        let payload = match &d.bytes {
            Some(bytes) => PutPayload::from(Bytes::from_owner(bytes.clone())),
            None => PutPayload::from(
                tokio::fs::read(&d.path)
                    .await
                    .map_err(|e| unreadable(d, e))?,
            ),
        };
        let options = PutOptions {
            mode: PutMode::Overwrite,
            attributes: content_type(&d.mime),
            ..Default::default()
        };
        self.store
            .put_opts(path, payload, options)
            .await
            .map(|_| ())
            .map_err(|e| self.failure(what, &e))
    }

    /// A multipart upload, streamed from memory or from the file a chunk at
    /// a time; aborted (its parts deleted) when it fails.
    async fn put_in_parts(
        &self,
        d: &Delivery,
        path: &Path,
        steps: &Arc<dyn Steps>,
        what: &str,
    ) -> Result<(), DeliveryError> {
        let options = PutMultipartOptions {
            attributes: content_type(&d.mime),
            ..Default::default()
        };
        let upload = self
            .store
            .put_multipart_opts(path, options)
            .await
            .map_err(|e| self.failure(what, &e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size(d.size));
        if let Err(e) = self.feed(d, &mut writer, steps, what).await {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(
                    job = d.job_id,
                    "aborting the multipart upload failed: {abort}"
                );
            }
            return Err(e);
        }
        writer
            .finish()
            .await
            .map(|_| ())
            .map_err(|e| self.failure(what, &e))
    }

    async fn feed(
        &self,
        d: &Delivery,
        writer: &mut WriteMultipart,
        steps: &Arc<dyn Steps>,
        what: &str,
    ) -> Result<(), DeliveryError> {
        let mut sent = 0u64;
        if let Some(bytes) = &d.bytes {
            let all = Bytes::from_owner(bytes.clone());
            for at in (0..all.len()).step_by(READ_CHUNK) {
                self.wait_for_room(writer, what).await?;
                let chunk = all.slice(at..(at + READ_CHUNK).min(all.len()));
                sent += chunk.len() as u64;
                writer.put(chunk);
                steps.sent(sent);
            }
            return Ok(());
        }
        let mut file = tokio::fs::File::open(&d.path)
            .await
            .map_err(|e| unreadable(d, e))?;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = file.read(&mut buf).await.map_err(|e| unreadable(d, e))?;
            if n == 0 {
                return Ok(());
            }
            self.wait_for_room(writer, what).await?;
            writer.write(&buf[..n]);
            sent += n as u64;
            steps.sent(sent);
        }
    }

    async fn wait_for_room(
        &self,
        writer: &mut WriteMultipart,
        what: &str,
    ) -> Result<(), DeliveryError> {
        writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|e| self.failure(what, &e))
    }

    fn remote(&self, key: String) -> Remote {
        Remote {
            url: Some(self.settings.object_url(&key)),
            id: Some(key),
        }
    }

    async fn find(&self, d: &Delivery) -> Result<Option<Remote>, DeliveryError> {
        let key = self.settings.key_for(d)?;
        let path = object_path(&key)?;
        // Without the hash in the key, an object of the same size could be
        // another output: sending again is the safe answer (it overwrites).
        if !self.settings.key_template.contains("{hash}") {
            return Ok(None);
        }
        match self.store.head(&path).await {
            Ok(meta) if meta.size == d.size => Ok(Some(self.remote(key))),
            // Another output under the same key: delivering overwrites it.
            Ok(_) => Ok(None),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failure(&format!("looking for {key}"), &e)),
        }
    }

    /// Lists the keys' fixed prefix: cheap, proves the bucket exists and
    /// the credentials are accepted, and writes nothing.
    async fn probe(&self) -> Result<String, DeliveryError> {
        let prefix = self.settings.fixed_prefix();
        let place = self.settings.place();
        self.store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(|e| self.failure(&format!("listing {place}"), &e))?;
        Ok(format!("{place} is reachable with these credentials"))
    }

    /// One sentence: `what` failed, why, and what to do; and the setting
    /// to look at, when one is to blame.
    fn failure(&self, what: &str, e: &object_store::Error) -> DeliveryError {
        let cause = Cause::of(e);
        let place = self.settings.place();
        let class_and_why = match e {
            // Codes that say more than their status: S3 answers 409 or 400
            // for these passing conditions, and 400 for a wrong region.
            _ if cause.code_is(&["OperationAborted", "RequestTimeout", "SlowDown"]) => Some((
                ErrorClass::Transient,
                "the storage service asked to try again".to_string(),
                None,
            )),
            _ if cause.code_is(&["AuthorizationHeaderMalformed", "PermanentRedirect"]) => {
                Some(wrong_region(&self.settings))
            }
            object_store::Error::NotFound { .. } => Some(missing(&place)),
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                Some(refused(self.settings.provider, &cause))
            }
            object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::NotModified { .. } => Some((
                ErrorClass::Permanent,
                "the server refused it".to_string(),
                None,
            )),
            object_store::Error::Generic { .. } => cause.class_and_why(&self.settings),
            _ => None,
        };
        tracing::debug!("object storage: {e}");
        match class_and_why {
            Some((class, why, field)) => DeliveryError {
                field,
                ..DeliveryError::new(class, format!("{what}: {why} ({})", cause.reason))
            },
            None => DeliveryError::new(
                ErrorClass::Permanent,
                format!("{what}: {}", one_line(&e.to_string())),
            ),
        }
    }
}

impl Destination for ObjectDestination {
    fn deliver<'a>(
        &'a self,
        delivery: &'a Delivery,
        steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move { self.upload(delivery, &steps).await })
    }

    fn reconcile<'a>(
        &'a self,
        delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async move { self.find(delivery).await })
    }

    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(async move { self.probe().await })
    }
}

fn build_store(s: &ObjectSettings, secret: &str) -> Result<Arc<dyn ObjectStore>, DeliveryError> {
    // The builders' errors may quote what they were given, the secret
    // included: the message names only what to fix.
    let invalid = || {
        DeliveryError::new(
            ErrorClass::NeedsUser,
            format!(
                "{} in the keychain is not valid for {}; set it again",
                s.provider.secret_name(),
                s.provider.name()
            ),
        )
        .about(super::SECRET_FIELD)
    };
    let store: Arc<dyn ObjectStore> = match s.provider {
        ObjectProvider::S3 => {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&s.bucket)
                .with_region(s.region())
                .with_access_key_id(s.access_key_id.as_deref().unwrap_or_default())
                .with_secret_access_key(secret)
                .with_retry(retry_config())
                .with_client_options(s.client_options());
            if let Some(endpoint) = s.endpoint() {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            Arc::new(builder.build().map_err(|_| invalid())?)
        }
        ObjectProvider::Gcs => Arc::new(
            GoogleCloudStorageBuilder::new()
                .with_bucket_name(&s.bucket)
                .with_service_account_key(secret)
                .with_retry(retry_config())
                .with_client_options(s.client_options())
                .build()
                .map_err(|_| invalid())?,
        ),
        ObjectProvider::Azure => {
            let mut builder = MicrosoftAzureBuilder::new()
                .with_account(s.account.as_deref().unwrap_or_default())
                .with_access_key(secret)
                .with_container_name(&s.bucket)
                .with_retry(retry_config())
                .with_client_options(s.client_options());
            if let Some(endpoint) = s.endpoint() {
                builder = builder.with_endpoint(endpoint.to_string());
            }
            Arc::new(builder.build().map_err(|_| invalid())?)
        }
    };
    Ok(store)
}

/// What an `object_store` error chain says: the HTTP status, a transport
/// failure, and the server's own reason (S3's and Azure's `<Code>`).
struct Cause {
    status: Option<u16>,
    transport: Option<HttpErrorKind>,
    /// The service's own error code (`NoSuchBucket`, `SlowDown`…).
    code: Option<String>,
    reason: String,
}

impl Cause {
    fn of(e: &object_store::Error) -> Cause {
        let mut status = None;
        let mut transport = None;
        let mut code = None;
        let mut innermost = e.to_string();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = next {
            if let Some(http) = err.downcast_ref::<HttpError>() {
                transport.get_or_insert(http.kind());
            }
            let text = err.to_string();
            status = status.or_else(|| status_in(&text));
            code = code.or_else(|| server_code(&text));
            innermost = text;
            next = err.source();
        }
        let reason = match (&code, status) {
            (Some(code), _) => code.clone(),
            (None, Some(status)) if transport.is_none() => format!("HTTP {status}"),
            _ => one_line(&innermost),
        };
        Cause {
            status,
            transport,
            code,
            reason,
        }
    }

    fn code_is(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    /// The class, the plain reason and the setting to blame of a `Generic`
    /// error, when known.
    fn class_and_why(&self, settings: &ObjectSettings) -> Option<Why> {
        let place = settings.place();
        if let Some(kind) = self.transport {
            let passing = matches!(
                kind,
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            );
            if passing {
                // A server of the user's choosing is the address to check;
                // the cloud's own is not a setting.
                let field = settings.endpoint().map(|_| "endpoint");
                return Some((
                    ErrorClass::Transient,
                    "the storage service could not be reached".into(),
                    field,
                ));
            }
        }
        match self.status? {
            401 | 403 => Some(refused(settings.provider, self)),
            404 => Some(missing(&place)),
            301 | 307 => Some(wrong_region(settings)),
            408 | 429 | 500..=599 => Some((
                ErrorClass::Transient,
                "the storage service is busy or failing".into(),
                None,
            )),
            _ => None,
        }
    }
}

/// A failure's class, its plain reason, and the setting to blame.
type Why = (ErrorClass, String, Option<&'static str>);

/// Refused credentials: an access key id the service does not know is that
/// field's fault; otherwise the secret's.
fn refused(provider: ObjectProvider, cause: &Cause) -> Why {
    let check = match provider {
        ObjectProvider::S3 => "the access key id and the secret access key",
        ObjectProvider::Gcs => "the service-account key and its access to the bucket",
        ObjectProvider::Azure => "the account name and its key",
    };
    let field = match provider {
        ObjectProvider::S3 if cause.code_is(&["InvalidAccessKeyId"]) => "access_key_id",
        _ => super::SECRET_FIELD,
    };
    (
        ErrorClass::NeedsUser,
        format!("the credentials were refused; check {check}"),
        Some(field),
    )
}

fn missing(place: &str) -> Why {
    (
        ErrorClass::NeedsUser,
        format!("there is no {place}, or these credentials cannot see it"),
        Some("bucket"),
    )
}

/// Only S3 has a region to set; elsewhere no one field is to blame.
fn wrong_region(settings: &ObjectSettings) -> Why {
    (
        ErrorClass::NeedsUser,
        format!(
            "{} is in another region; check the region",
            settings.place()
        ),
        (settings.provider == ObjectProvider::S3).then_some("region"),
    )
}

/// The status in object_store's "… status code: 403 Forbidden …".
fn status_in(text: &str) -> Option<u16> {
    let (_, after) = text.split_once("status code: ")?;
    after
        .get(..3)?
        .parse()
        .ok()
        .filter(|s| (100..600).contains(s))
}

/// `<Code>NoSuchBucket</Code>` in an S3 or Azure error body.
fn server_code(text: &str) -> Option<String> {
    let (_, after) = text.split_once("<Code>")?;
    let (code, _) = after.split_once("</Code>")?;
    let code = code.trim();
    (!code.is_empty() && code.len() <= 100).then(|| code.to_string())
}

/// Whitespace collapsed, and short.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn unreadable(d: &Delivery, e: std::io::Error) -> DeliveryError {
    DeliveryError::new(
        ErrorClass::Permanent,
        format!("cannot read the output {}: {e}", d.path.display()),
    )
}

fn content_type(mime: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(
        Attribute::ContentType,
        AttributeValue::from(mime.to_string()),
    );
    attributes
}

fn object_path(key: &str) -> Result<Path, DeliveryError> {
    Path::parse(key).map_err(|e| {
        DeliveryError::new(
            ErrorClass::Permanent,
            format!("the object key {key:?} is not valid: {e}"),
        )
    })
}

/// Parts of at least 5 MiB, larger when needed to stay under S3's count.
fn part_size(size: u64) -> usize {
    let part = MIN_PART.max(size.div_ceil(MAX_PARTS));
    usize::try_from(part).unwrap_or(usize::MAX)
}

/// `photo.final.jpg` → (`photo.final`, `jpg`); no extension → (name, "").
fn split_name(name: &str) -> (&str, &str) {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, ext),
        _ => (name, ""),
    }
}

/// A key without empty, `.` or `..` segments or control characters
/// (`\` counts as `/`), at most 1024 bytes.
fn safe_key(raw: &str) -> Result<String, String> {
    let segments: Vec<String> = raw
        .split(['/', '\\'])
        .map(|s| {
            s.trim()
                .chars()
                .map(|c| if c.is_control() { '_' } else { c })
                .collect::<String>()
        })
        .filter(|s| !s.is_empty() && s != "." && s != "..")
        .collect();
    if segments.is_empty() {
        return Err(format!("the object key {raw:?} is empty once made safe"));
    }
    let key = segments.join("/");
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "the object key is {} bytes long; the most is {MAX_KEY_BYTES}",
            key.len()
        ));
    }
    Ok(key)
}

/// Each segment percent-encoded, the `/` between them kept.
fn encode_key(key: &str) -> String {
    key.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn is_set(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

fn check_http_url(name: &str, url: &str) -> Result<(), DeliveryError> {
    let bad = |why: String| {
        Err(DeliveryError::new(
            ErrorClass::Permanent,
            format!("{name} {url:?} {why}"),
        ))
    };
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
            if parsed.query().is_some() {
                return bad("must not have a query".into());
            }
            Ok(())
        }
        Ok(_) => bad("is not http(s)".into()),
        Err(e) => bad(format!("is not a valid URL: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: serde_json::Value) -> ObjectSettings {
        serde_json::from_value(value).unwrap()
    }

    fn s3() -> ObjectSettings {
        settings(json!({"provider": "s3", "bucket": "photos", "access_key_id": "AKIA1"}))
    }

    fn delivery(file_name: &str, fields: serde_json::Value) -> Delivery {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
        Delivery {
            queue_id: "0123456789abcdef".into(),
            job_id: 42,
            file_name: file_name.into(),
            mime: "image/jpeg".into(),
            size: 3,
            hash,
            path: "/nonexistent".into(),
            bytes: None,
            fields: fields.as_object().cloned(),
        }
    }

    #[test]
    fn defaults_fill_in() {
        let s = s3();
        assert_eq!(s.key_template, "{hash}/{file_name}");
        assert_eq!((s.multipart_threshold_mb, s.timeout_seconds), (16, 300));
        assert!(s.validate().is_ok());
        let unknown = serde_json::from_value::<ObjectSettings>(
            json!({"provider": "s3", "bucket": "b", "secret": "x"}),
        );
        assert!(unknown.is_err(), "unknown fields are refused");
        let provider =
            serde_json::from_value::<ObjectSettings>(json!({"provider": "dropbox", "bucket": "b"}));
        assert!(provider.is_err());
    }

    #[test]
    fn keys_come_from_the_template_and_the_fields() {
        let d = delivery("shoe red.final.jpg", json!({"sku": "A-17", "size": 42}));
        let key = |template: &str| {
            let mut s = s3();
            s.key_template = template.into();
            s.key_for(&d)
        };
        assert_eq!(
            key("{hash}/{file_name}").unwrap(),
            "deadbeef00010203/shoe red.final.jpg"
        );
        assert_eq!(
            key("{sku}/{size}/{stem}-{job}.{ext}").unwrap(),
            "A-17/42/shoe red.final-42.jpg"
        );
        let missing = key("{colour}/{file_name}").unwrap_err();
        assert_eq!(missing.class, ErrorClass::Permanent);
        assert!(missing.message.contains("{colour}"), "{}", missing.message);
    }

    #[test]
    fn keys_are_made_safe() {
        let d = delivery(
            "a.jpg",
            json!({"dir": "../../etc", "odd": "x\ty", "blank": "  "}),
        );
        let key = |template: &str| {
            let mut s = s3();
            s.key_template = template.into();
            s.key_for(&d)
        };
        assert_eq!(key("/{dir}//./{file_name}").unwrap(), "etc/a.jpg");
        assert_eq!(key("{odd}\\{file_name}").unwrap(), "x_y/a.jpg");
        assert_eq!(key("x/ {file_name} /").unwrap(), "x/a.jpg");
        assert!(key("{blank}").is_err(), "a blank field is missing");
        assert!(key("../..").is_err(), "nothing left");
        assert!(key(&"a".repeat(1025)).is_err());
        for ok in ["etc/a.jpg", "x_y/a.jpg"] {
            assert!(Path::parse(ok).is_ok());
        }
    }

    #[test]
    fn names_split_into_stem_and_extension() {
        assert_eq!(split_name("a.b.jpg"), ("a.b", "jpg"));
        assert_eq!(split_name("README"), ("README", ""));
        assert_eq!(split_name(".hidden"), (".hidden", ""));
    }

    #[test]
    fn urls_follow_each_provider() {
        let key = "ab/été 1.jpg";
        let mut s = s3();
        assert_eq!(
            s.object_url(key),
            "https://photos.s3.us-east-1.amazonaws.com/ab/%C3%A9t%C3%A9%201.jpg"
        );
        s.region = Some("eu-west-3".into());
        assert_eq!(
            s.object_url("k.jpg"),
            "https://photos.s3.eu-west-3.amazonaws.com/k.jpg"
        );
        s.endpoint = Some("http://127.0.0.1:9000/".into());
        assert_eq!(s.object_url("k.jpg"), "http://127.0.0.1:9000/photos/k.jpg");
        s.public_url_base = Some("https://cdn.example.com/img/".into());
        assert_eq!(
            s.object_url("a/k.jpg"),
            "https://cdn.example.com/img/a/k.jpg"
        );

        let gcs = settings(json!({"provider": "gcs", "bucket": "g"}));
        assert_eq!(
            gcs.object_url("k.jpg"),
            "https://storage.googleapis.com/g/k.jpg"
        );

        let mut azure = settings(json!({"provider": "azure", "bucket": "c", "account": "acct"}));
        assert_eq!(
            azure.object_url("k.jpg"),
            "https://acct.blob.core.windows.net/c/k.jpg"
        );
        azure.endpoint = Some("http://127.0.0.1:10000/devstoreaccount1".into());
        assert_eq!(
            azure.object_url("k.jpg"),
            "http://127.0.0.1:10000/devstoreaccount1/c/k.jpg"
        );
    }

    #[test]
    fn settings_are_checked() {
        let err = |value: serde_json::Value| settings(value).validate().unwrap_err().message;
        assert!(err(json!({"provider": "s3", "bucket": "b"})).contains("access_key_id"));
        assert!(err(json!({"provider": "azure", "bucket": "c"})).contains("account"));
        assert!(err(json!({"provider": "gcs", "bucket": "g", "region": "x"})).contains("region"));
        assert!(
            err(json!({"provider": "s3", "bucket": "a/b", "access_key_id": "k"}))
                .contains("bucket")
        );
        assert!(
            err(json!({"provider": "gcs", "bucket": "g", "key_template": "{oops"}))
                .contains("key template")
        );
        assert!(
            err(json!({"provider": "gcs", "bucket": "g", "public_url_base": "ftp://x"}))
                .contains("http")
        );
        assert!(err(
            json!({"provider": "s3", "bucket": "b", "access_key_id": "k", "endpoint": "nope"})
        )
        .contains("endpoint"));
        assert!(
            err(json!({"provider": "gcs", "bucket": "g", "multipart_threshold_mb": 1}))
                .contains("multipart")
        );
        assert!(settings(json!({"provider": "gcs", "bucket": "g"}))
            .validate()
            .is_ok());
    }

    #[test]
    fn a_missing_secret_needs_the_user_and_secrets_never_show() {
        let missing = ObjectDestination::new(s3(), None).unwrap_err();
        assert_eq!(missing.class, ErrorClass::NeedsUser);
        assert!(missing.message.contains("keychain"), "{}", missing.message);

        let secret = "\"-----BEGIN PRIVATE KEY----- sekrit\"";
        let gcs = settings(json!({"provider": "gcs", "bucket": "g"}));
        let bad_key = ObjectDestination::new(gcs, Some(secret)).unwrap_err();
        assert_eq!(bad_key.class, ErrorClass::NeedsUser);
        assert!(!bad_key.message.contains("sekrit"), "{}", bad_key.message);

        let dest = ObjectDestination::new(s3(), Some("sekrit-s3")).unwrap();
        assert!(!format!("{dest:?}").contains("sekrit"));
    }

    #[test]
    fn check_lists_the_fixed_prefix() {
        let mut s = s3();
        assert_eq!(s.fixed_prefix(), None);
        s.key_template = "shop/items/{sku}/{file_name}".into();
        assert_eq!(s.fixed_prefix(), Some(Path::from("shop/items")));
        s.key_template = "shop/x-{sku}.jpg".into();
        assert_eq!(s.fixed_prefix(), Some(Path::from("shop")));
    }

    #[test]
    fn parts_stay_within_the_limits() {
        assert_eq!(part_size(20 * MIB), 5 * MIB as usize);
        let huge = 100 * 1024 * MIB;
        assert!(part_size(huge) as u64 * 10_000 >= huge);
    }

    #[test]
    fn error_texts_give_status_and_code() {
        let text = "Server returned non-2xx status code: 404 Not Found: \
                    <Error><Code>NoSuchBucket</Code></Error>";
        assert_eq!(status_in(text), Some(404));
        assert_eq!(server_code(text).as_deref(), Some("NoSuchBucket"));
        assert_eq!(status_in("no status here"), None);
    }

    #[test]
    fn service_codes_decide_over_their_status() {
        let destination = ObjectDestination::new(s3(), Some("secret")).unwrap();
        let answer = |code: &str| object_store::Error::Generic {
            store: "S3",
            source: format!(
                "Client error with status 409 Conflict: <Error><Code>{code}</Code></Error>"
            )
            .into(),
        };
        for (code, class) in [
            ("OperationAborted", ErrorClass::Transient),
            ("SlowDown", ErrorClass::Transient),
            ("RequestTimeout", ErrorClass::Transient),
            ("AuthorizationHeaderMalformed", ErrorClass::NeedsUser),
        ] {
            let e = destination.failure("uploading a.jpg", &answer(code));
            assert_eq!(e.class, class, "{code}: {}", e.message);
            assert!(e.message.contains(code), "{}", e.message);
        }
    }
}
