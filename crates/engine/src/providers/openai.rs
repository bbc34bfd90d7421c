//! The OpenAI Images API and the servers that copy it: `POST
//! {base}/images/generations` (JSON) from a prompt, `POST {base}/images/edits`
//! (multipart, the source as `image`) for an edit; the answer's `data[]`
//! holds `b64_json` or a `url`. The key goes in `Authorization: Bearer`.

use super::{
    decode_base64, exchange, fetch, key_header, malformed, sniff, Answer, ImageProvider,
    ImageRequest, ProviderError, ProviderImage, ProviderView, StageReporter,
};
use crate::destinations::{http_outcome, public_net, BoxFuture};
use crate::model::ErrorClass;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use std::time::Duration;

pub(super) struct OpenAi {
    client: reqwest::Client,
    /// For image URLs on another host than the provider's: public
    /// addresses only.
    public: reqwest::Client,
    base_url: String,
    model: String,
    size: Option<String>,
    quality: Option<String>,
    response_format: Option<String>,
    count: u32,
    timeout: Duration,
    auth: HeaderValue,
}

impl OpenAi {
    pub(super) fn new(
        view: &ProviderView,
        key: &str,
        client: reqwest::Client,
    ) -> Result<Self, ProviderError> {
        let s = &view.settings;
        Ok(OpenAi {
            client,
            public: crate::destinations::public_http_client()?,
            base_url: view.base_url(),
            model: view.model().to_string(),
            size: s.size.clone(),
            quality: s.quality.clone(),
            response_format: s.response_format.clone(),
            count: s.count,
            timeout: Duration::from_secs(s.timeout_seconds),
            auth: key_header(format!("Bearer {key}"))?,
        })
    }

    /// The parameters both endpoints take, in the documented names.
    fn parameters<'a>(&'a self, prompt: &'a str) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("model", self.model.clone()),
            ("prompt", prompt.to_string()),
            ("n", self.count.to_string()),
        ];
        for (name, value) in [
            ("size", &self.size),
            ("quality", &self.quality),
            ("response_format", &self.response_format),
        ] {
            if let Some(value) = value {
                p.push((name, value.clone()));
            }
        }
        p
    }

    async fn run(
        &self,
        request: ImageRequest<'_>,
        stage: StageReporter,
    ) -> Result<Vec<ProviderImage>, ProviderError> {
        let (what, url, content_type, body) = match request.source {
            None => {
                let mut json = serde_json::Map::new();
                for (name, value) in self.parameters(request.prompt) {
                    let value = match name {
                        "n" => serde_json::Value::from(self.count),
                        _ => serde_json::Value::from(value),
                    };
                    json.insert(name.into(), value);
                }
                let body = serde_json::Value::Object(json).to_string().into_bytes();
                let url = format!("{}/images/generations", self.base_url);
                (
                    "image generation",
                    url,
                    "application/json".to_string(),
                    body,
                )
            }
            Some(source) => {
                let boundary = format!("outbox-{:016x}", fastrand::u64(..));
                let mut body = Vec::with_capacity(source.bytes.len() + 1024);
                file_part(
                    &mut body,
                    &boundary,
                    "image",
                    source.file_name,
                    source.mime,
                    source.bytes,
                );
                for (name, value) in self.parameters(request.prompt) {
                    text_part(&mut body, &boundary, name, &value);
                }
                body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                let url = format!("{}/images/edits", self.base_url);
                let content_type = format!("multipart/form-data; boundary={boundary}");
                ("image edit", url, content_type, body)
            }
        };
        let post = self
            .client
            .post(url)
            .header(AUTHORIZATION, self.auth.clone());
        let answer = exchange(post, &content_type, body, self.timeout, stage, what).await?;
        if !answer.status.is_success() {
            return Err(failure(what, &answer));
        }
        let images: ImagesAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| malformed(what, &e))?;
        let mut out = Vec::new();
        for datum in images.data {
            if let Some(data) = datum.b64_json {
                out.push(decode_base64(&data, what)?);
            } else if let Some(url) = datum.url {
                out.push(self.download(&url, what).await?);
            }
        }
        if out.is_empty() {
            return Err(ProviderError::new(
                ErrorClass::Permanent,
                format!("{what}: the provider answered without an image"),
            ));
        }
        Ok(out)
    }

    /// An image answered by URL: a plain GET, without the key (the URL is
    /// signed, and usually on another host). On the provider's own server
    /// it is fetched as the provider is (a local server included); anywhere
    /// else only from a public address.
    async fn download(&self, url: &str, what: &str) -> Result<ProviderImage, ProviderError> {
        let what = format!("{what}: downloading the image");
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            ProviderError::new(
                ErrorClass::Permanent,
                format!("{what}: the URL {url:?} is not valid ({e})"),
            )
        })?;
        let own =
            reqwest::Url::parse(&self.base_url).is_ok_and(|base| base.origin() == parsed.origin());
        let client = if own {
            &self.client
        } else {
            public_net::check_literal(&parsed).map_err(|refusal| {
                ProviderError::new(ErrorClass::Permanent, format!("{what}: {refusal}"))
            })?;
            &self.public
        };
        let answer = fetch(client.get(parsed), self.timeout, &what).await?;
        if !answer.status.is_success() {
            return Err(http_outcome::failure(
                &what,
                answer.status,
                &answer.headers,
                &answer.body,
            ));
        }
        sniff(answer.body.to_vec(), &what)
    }
}

impl ImageProvider for OpenAi {
    fn generate<'a>(
        &'a self,
        request: ImageRequest<'a>,
        stage: StageReporter,
    ) -> BoxFuture<'a, Result<Vec<ProviderImage>, ProviderError>> {
        Box::pin(self.run(request, stage))
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            let what = "listing the models";
            let get = self
                .client
                .get(format!("{}/models", self.base_url))
                .header(AUTHORIZATION, self.auth.clone());
            let answer = fetch(get, Duration::from_secs(30), what).await?;
            if !answer.status.is_success() {
                return Err(failure(what, &answer));
            }
            Ok(format!(
                "{} answered and took the key (model {})",
                self.base_url, self.model
            ))
        })
    }
}

#[derive(Deserialize)]
struct ImagesAnswer {
    #[serde(default)]
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    b64_json: Option<String>,
    url: Option<String>,
}

/// An error answer, `{"error": {"message", "type", "param", "code"}}`: by
/// status, except a content-policy refusal (never retried: it would be
/// refused again, and may cost) and an exhausted quota (the user must act).
fn failure(what: &str, answer: &Answer) -> ProviderError {
    let mut e = http_outcome::failure(what, answer.status, &answer.headers, &answer.body);
    let error: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
    let code = error
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/code")
                .or_else(|| v.pointer("/error/type"))
        })
        .and_then(|c| c.as_str())
        .unwrap_or_default()
        .to_string();
    if !code.is_empty() {
        e.message.push_str(&format!(" ({code})"));
    }
    match code.as_str() {
        "content_policy_violation" | "moderation_blocked" => {
            e.class = ErrorClass::Permanent;
            e.retry_after = None;
            e.message = format!("refused by the provider's content policy: {}", e.message);
        }
        "insufficient_quota" | "billing_hard_limit_reached" => {
            e.class = ErrorClass::NeedsUser;
            e.retry_after = None;
        }
        _ => {}
    }
    e
}

fn text_part(body: &mut Vec<u8>, boundary: &str, name: &str, value: &str) {
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .as_bytes(),
    );
}

fn file_part(
    body: &mut Vec<u8>,
    boundary: &str,
    name: &str,
    file_name: &str,
    mime: &str,
    bytes: &[u8],
) {
    // Quotes and line breaks cannot appear in a quoted header parameter.
    let file_name: String = file_name
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n");
}
