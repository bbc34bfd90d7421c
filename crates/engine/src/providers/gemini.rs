//! Gemini image models: `POST {base}/models/{model}:generateContent` with the
//! prompt as a text part and, for an edit, the source as an `inline_data`
//! part; the image comes back as `inlineData` in `candidates[0].content.parts`.
//! The key goes in `x-goog-api-key`, never in the URL.

use super::{
    decode_base64, encode_base64, exchange, fetch, key_header, malformed, Answer, ImageProvider,
    ImageRequest, ProviderError, ProviderImage, ProviderView, StageReporter,
};
use crate::destinations::{http_outcome, BoxFuture};
use crate::model::ErrorClass;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

const KEY_HEADER: &str = "x-goog-api-key";

pub(super) struct Gemini {
    client: reqwest::Client,
    base_url: String,
    model: String,
    /// `imageConfig.aspectRatio` (`1:1`, `16:9`…), from the `size` setting.
    aspect_ratio: Option<String>,
    timeout: Duration,
    key: HeaderValue,
}

impl Gemini {
    pub(super) fn new(
        view: &ProviderView,
        key: &str,
        client: reqwest::Client,
    ) -> Result<Self, ProviderError> {
        Ok(Gemini {
            client,
            base_url: view.base_url(),
            model: view.model().to_string(),
            aspect_ratio: view.settings.size.clone(),
            timeout: Duration::from_secs(view.settings.timeout_seconds),
            key: key_header(key.to_string())?,
        })
    }

    async fn run(
        &self,
        request: ImageRequest<'_>,
        stage: StageReporter,
    ) -> Result<Vec<ProviderImage>, ProviderError> {
        let what = "image generation";
        let mut parts = vec![json!({ "text": request.prompt })];
        if let Some(source) = request.source {
            parts.push(json!({ "inline_data": {
                "mime_type": source.mime,
                "data": encode_base64(source.bytes),
            }}));
        }
        let mut config = json!({ "responseModalities": ["TEXT", "IMAGE"] });
        if let Some(ratio) = &self.aspect_ratio {
            config["imageConfig"] = json!({ "aspectRatio": ratio });
        }
        let body = json!({ "contents": [{ "parts": parts }], "generationConfig": config });
        let post = self
            .client
            .post(format!(
                "{}/models/{}:generateContent",
                self.base_url, self.model
            ))
            .header(KEY_HEADER, self.key.clone());
        let answer = exchange(
            post,
            "application/json",
            body.to_string().into_bytes(),
            self.timeout,
            stage,
            what,
        )
        .await?;
        if !answer.status.is_success() {
            return Err(failure(what, &answer));
        }
        let parsed: GenerateAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| malformed(what, &e))?;
        images(parsed, what)
    }
}

impl ImageProvider for Gemini {
    fn generate<'a>(
        &'a self,
        request: ImageRequest<'a>,
        stage: StageReporter,
    ) -> BoxFuture<'a, Result<Vec<ProviderImage>, ProviderError>> {
        Box::pin(self.run(request, stage))
    }

    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            let what = "looking up the model";
            let get = self
                .client
                .get(format!("{}/models/{}", self.base_url, self.model))
                .header(KEY_HEADER, self.key.clone());
            let answer = fetch(get, Duration::from_secs(30), what).await?;
            if !answer.status.is_success() {
                return Err(failure(what, &answer));
            }
            Ok(format!(
                "{} answered, took the key and knows model {}",
                self.base_url, self.model
            ))
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateAnswer {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
    finish_message: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    #[serde(alias = "inline_data")]
    inline_data: Option<InlineData>,
}

#[derive(Deserialize)]
struct InlineData {
    data: String,
}

/// The images of a successful answer. A blocked prompt, a safety stop or a
/// finish without an image fail for good, with the provider's reason and
/// whatever text the model said instead.
fn images(answer: GenerateAnswer, what: &str) -> Result<Vec<ProviderImage>, ProviderError> {
    if let Some(reason) = answer.prompt_feedback.and_then(|f| f.block_reason) {
        return Err(ProviderError::new(
            ErrorClass::Permanent,
            format!("{what}: the provider blocked the prompt ({reason})"),
        ));
    }
    let Some(candidate) = answer.candidates.into_iter().next() else {
        return Err(ProviderError::new(
            ErrorClass::Permanent,
            format!("{what}: the provider answered without an image (no candidate)"),
        ));
    };
    let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
    let mut out = Vec::new();
    let mut said = Vec::new();
    for part in parts {
        if let Some(inline) = part.inline_data {
            out.push(decode_base64(&inline.data, what)?);
        } else if let Some(text) = part.text {
            said.push(text);
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    let reason = candidate
        .finish_reason
        .unwrap_or_else(|| "none given".into());
    let mut message =
        format!("{what}: the provider answered without an image (finish reason {reason})");
    for text in candidate.finish_message.into_iter().chain(said) {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            message.push_str(": ");
            message.push_str(&text.chars().take(300).collect::<String>());
            break;
        }
    }
    Err(ProviderError::new(ErrorClass::Permanent, message))
}

/// An error answer, `{"error": {"code", "message", "status", "details"}}`:
/// by status, with the wait of a `RetryInfo` detail when there is no
/// `Retry-After`, and a rejected key (400 `API_KEY_INVALID`) for the user.
fn failure(what: &str, answer: &Answer) -> ProviderError {
    let mut e = http_outcome::failure(what, answer.status, &answer.headers, &answer.body);
    let error: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if let Some(status) = error.pointer("/error/status").and_then(Value::as_str) {
        e.message.push_str(&format!(" ({status})"));
    }
    let details = error
        .pointer("/error/details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if details
        .iter()
        .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
    {
        e.class = ErrorClass::NeedsUser;
        e.retry_after = None;
    }
    if e.class == ErrorClass::Transient && e.retry_after.is_none() {
        e.retry_after = details
            .iter()
            .filter_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .find_map(parse_delay);
    }
    e
}

/// A protobuf Duration in JSON: `"30s"`, `"1.5s"`.
fn parse_delay(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds.min(24.0 * 3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_read_as_protobuf_durations() {
        assert_eq!(parse_delay("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_delay("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_delay("soon"), None);
        assert_eq!(parse_delay("-3s"), None);
    }
}
