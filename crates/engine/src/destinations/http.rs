//! The generic HTTP destination: a multipart POST or a raw PUT to a URL
//! template, with configurable headers and a secret (bearer token or API
//! key header) from the keychain; the result URL comes from the answer's JSON
//! (a JSON pointer) or a header. An idempotency key header, when configured,
//! carries the queue, the job and its output's content hash, so a resend after an
//! unknown outcome is recognised by a server that honours it.

use super::http_outcome::{failure, transport_failure};
use super::{
    read_body, send_watched, upload_body, BoxFuture, Delivery, DeliveryError, Destination, Steps,
};
use crate::model::{ErrorClass, Remote};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The settings saved for an HTTP destination (never the secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// `{file_name}`, `{hash}` (16 hex digits of the content hash) and
    /// `{job}` are filled in, percent-encoded.
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    /// The form field of the file (multipart POST).
    #[serde(default = "default_field")]
    pub field: String,
    /// Sent with every request (not secret: they are saved in the settings).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How the secret from the keychain is sent, if there is one.
    #[serde(default)]
    pub auth: HttpAuth,
    /// Where the uploaded file's URL is in the answer.
    #[serde(default)]
    pub result: ResultUrl,
    /// A header to carry an idempotency key (the queue, the job and its content hash,
    /// see [`idempotency_key`]), e.g. `Idempotency-Key`.
    #[serde(default)]
    pub idempotency_header: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpMethod {
    /// `multipart/form-data` with the file in one field.
    #[default]
    Post,
    /// The raw bytes as the body, with the output's content type.
    Put,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpAuth {
    #[default]
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `<header>: <secret>` (an API key).
    Header(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultUrl {
    /// No URL is recorded.
    #[default]
    None,
    /// A JSON pointer into the answer, e.g. `/data/url`.
    JsonPointer(String),
    /// A header of the answer, e.g. `Location`.
    Header(String),
}

fn default_field() -> String {
    "file".into()
}

fn default_timeout() -> u64 {
    120
}

impl HttpSettings {
    /// Checks everything but the secret (before the settings are saved).
    pub fn validate(&self) -> Result<(), DeliveryError> {
        self.checked_headers().map(|_| ())
    }

    /// The configured headers, once the whole of the settings checked out.
    fn checked_headers(&self) -> Result<HeaderMap, DeliveryError> {
        let bad = |m: String| DeliveryError::new(ErrorClass::Permanent, m);
        let probe = fill_url(&self.url, "probe.jpg", "0", 0);
        let url = reqwest::Url::parse(&probe)
            .map_err(|e| bad(format!("the URL template is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!("the URL {} is not http(s)", redact(&probe))));
        }
        if let Some(name) = &self.idempotency_header {
            header_name(name)?;
        }
        if let HttpAuth::Header(name) = &self.auth {
            header_name(name)?;
        }
        if let ResultUrl::JsonPointer(pointer) = &self.result {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(bad(format!(
                    "the JSON pointer {pointer:?} must start with /"
                )));
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            headers.insert(header_name(name)?, header_value(name, value)?);
        }
        Ok(headers)
    }
}

pub struct HttpDestination {
    settings: HttpSettings,
    /// The longest an upload may go without moving.
    timeout: Duration,
    client: reqwest::Client,
    headers: HeaderMap,
}

impl HttpDestination {
    /// Checks the settings and builds the client; `secret` is the keychain's
    /// token or key when `auth` asks for one.
    pub fn new(settings: HttpSettings, secret: Option<&str>) -> Result<Self, DeliveryError> {
        let mut headers = settings.checked_headers()?;
        match (&settings.auth, secret) {
            (HttpAuth::None, _) => {}
            (_, None) => {
                return Err(DeliveryError::new(
                    ErrorClass::NeedsUser,
                    "the token for this destination is not in the keychain; set it again",
                )
                .about(super::SECRET_FIELD))
            }
            (HttpAuth::Bearer, Some(token)) => {
                let mut value = header_value("Authorization", &format!("Bearer {token}"))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            (HttpAuth::Header(name), Some(key)) => {
                let mut value = header_value(name, key)?;
                value.set_sensitive(true);
                headers.insert(header_name(name)?, value);
            }
        }
        let client = super::http_client()?;
        Ok(HttpDestination {
            timeout: Duration::from_secs(settings.timeout_seconds.max(1)),
            settings,
            client,
            headers,
        })
    }

    async fn send(&self, d: &Delivery, steps: &Arc<dyn Steps>) -> Result<Remote, DeliveryError> {
        let url = fill_url(&self.settings.url, &d.file_name, &d.short_hash(), d.job_id);
        let (body, activity) = upload_body(d, steps.clone()).await?;
        let request = match self.settings.method {
            HttpMethod::Put => self
                .client
                .put(&url)
                .header(CONTENT_TYPE, &d.mime)
                .header(CONTENT_LENGTH, d.size)
                .body(body),
            HttpMethod::Post => {
                let part = reqwest::multipart::Part::stream_with_length(body, d.size)
                    .file_name(d.file_name.clone())
                    .mime_str(&d.mime)
                    .map_err(|e| {
                        DeliveryError::new(ErrorClass::Permanent, format!("content type: {e}"))
                    })?;
                let form = reqwest::multipart::Form::new().part(self.settings.field.clone(), part);
                self.client.post(&url).multipart(form)
            }
        };
        let mut headers = self.headers.clone();
        if let Some(name) = &self.settings.idempotency_header {
            // Replaces a configured header of the same name: one key only.
            headers.insert(header_name(name)?, header_value(name, &idempotency_key(d))?);
        }
        let what = format!("uploading to {}", redact(&url));
        let response =
            send_watched(request.headers(headers), &activity, self.timeout, &what).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let answered_at = response.url().clone();
        let body = read_body(response, self.timeout, &what).await?;
        if !status.is_success() {
            return Err(failure(&what, status, &headers, &body));
        }
        let url = match &self.settings.result {
            ResultUrl::None => None,
            ResultUrl::Header(name) => {
                let value = headers
                    .get(name.as_str())
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| no_url(&what, &format!("no {name} header")))?;
                // A relative `Location` is relative to the request's URL.
                Some(
                    answered_at
                        .join(value)
                        .map_or_else(|_| value.to_string(), String::from),
                )
            }
            ResultUrl::JsonPointer(pointer) => {
                let json: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| no_url(&what, &format!("the answer is not JSON ({e})")))?;
                Some(
                    json.pointer(pointer)
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                        .ok_or_else(|| no_url(&what, &format!("nothing at {pointer}")))?,
                )
            }
        };
        Ok(Remote { id: None, url })
    }
}

impl Destination for HttpDestination {
    fn deliver<'a>(
        &'a self,
        delivery: &'a Delivery,
        steps: Arc<dyn Steps>,
    ) -> BoxFuture<'a, Result<Remote, DeliveryError>> {
        Box::pin(async move { self.send(delivery, &steps).await })
    }

    /// A HEAD with the credentials: refused credentials show as 401/403;
    /// any other answer means the server is there (uploading is the only
    /// full proof, and a test must not leave files behind).
    fn check(&self) -> BoxFuture<'_, Result<String, DeliveryError>> {
        Box::pin(async move {
            let url = fill_url(&self.settings.url, "outbox-check.jpg", "0", 0);
            let what = format!("reaching {}", redact(&url));
            let response = self
                .client
                .head(&url)
                .headers(self.headers.clone())
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| transport_failure(&what, &e).about("url"))?;
            let status = response.status();
            if matches!(status.as_u16(), 401 | 403) {
                // Without credentials, the choice to send some is to fix;
                // with them, the token or key itself.
                let (refused, field) = match self.settings.auth {
                    HttpAuth::None => {
                        ("wants credentials, and this destination sends none", "auth")
                    }
                    _ => ("refused the credentials", super::SECRET_FIELD),
                };
                return Err(DeliveryError::new(
                    ErrorClass::NeedsUser,
                    format!("{what}: the server {refused} ({status})"),
                )
                .about(field));
            }
            Ok(format!(
                "{} answers ({status}); the credentials were not refused",
                redact(&url)
            ))
        })
    }

    /// A generic endpoint cannot be asked; a resend carries the same
    /// idempotency key (when configured), so the server can drop it.
    fn reconcile<'a>(
        &'a self,
        _delivery: &'a Delivery,
    ) -> BoxFuture<'a, Result<Option<Remote>, DeliveryError>> {
        Box::pin(async { Ok(None) })
    }
}

/// `QUEUE-JOB-HASH`: the same for every resend of one job, and different
/// for two jobs whose outputs happen to be byte-identical, in this queue or
/// another one (the hash alone would have an honest server keep one upload
/// for both).
fn idempotency_key(d: &Delivery) -> String {
    format!("{}-{}-{}", d.queue_id, d.job_id, hex(&d.hash))
}

/// The file was uploaded, but the answer does not say where: permanent,
/// since a retry would upload it again.
fn no_url(what: &str, why: &str) -> DeliveryError {
    DeliveryError::new(
        ErrorClass::Permanent,
        format!("{what}: the upload was accepted but the answer has no URL: {why}"),
    )
}

fn fill_url(template: &str, file_name: &str, hash: &str, job: i64) -> String {
    let encoded: String = file_name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    template
        .replace("{file_name}", &encoded)
        .replace("{hash}", hash)
        .replace("{job}", &job.to_string())
}

/// The URL without what may carry a secret: its query and any `user:pass@`.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => "the URL".to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header_name(name: &str) -> Result<HeaderName, DeliveryError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        DeliveryError::new(
            ErrorClass::Permanent,
            format!("{name:?} is not a valid header name"),
        )
    })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, DeliveryError> {
    // The message names the header, never the value (it may be a secret).
    HeaderValue::from_str(value).map_err(|_| {
        DeliveryError::new(
            ErrorClass::Permanent,
            format!("the value of the header {name:?} has characters a header cannot carry"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_templates_encode_the_file_name() {
        assert_eq!(
            fill_url(
                "http://h/up/{job}/{hash}/{file_name}",
                "été 1/2.jpg",
                "ab12",
                7
            ),
            "http://h/up/7/ab12/%C3%A9t%C3%A9%201%2F2.jpg"
        );
    }

    #[test]
    fn settings_are_checked() {
        let settings = |json: serde_json::Value| serde_json::from_value::<HttpSettings>(json);
        let ok = settings(serde_json::json!({"url": "http://127.0.0.1:1/{file_name}"})).unwrap();
        assert_eq!((ok.method, ok.field.as_str()), (HttpMethod::Post, "file"));
        assert!(HttpDestination::new(ok.clone(), None).is_ok());
        let needs_token = HttpSettings {
            auth: HttpAuth::Bearer,
            ..ok.clone()
        };
        let err = HttpDestination::new(needs_token, None).err().unwrap();
        assert_eq!(err.class, ErrorClass::NeedsUser);
        let ftp = HttpSettings {
            url: "ftp://x/y".into(),
            ..ok.clone()
        };
        assert!(HttpDestination::new(ftp, None).is_err());
        let bad_header = HttpSettings {
            headers: BTreeMap::from([("X-Key".into(), "a\nb".into())]),
            ..ok
        };
        let err = HttpDestination::new(bad_header, None).err().unwrap();
        assert!(err.message.contains("X-Key") && !err.message.contains("a\nb"));
        assert!(settings(serde_json::json!({"url": "x", "colour": 1})).is_err());
    }
}
