//! What an HTTP answer (or its absence) means for a delivery: success,
//! permanent failure with the server's reason, or transient with backoff.
//! Shared by every destination that speaks HTTP.

use super::DeliveryError;
use crate::model::ErrorClass;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use std::time::{Duration, SystemTime};

/// The most of a server's error body kept in a message.
const MAX_REASON_CHARS: usize = 300;

/// The class of a non-success status.
pub(crate) fn class_of(status: StatusCode) -> ErrorClass {
    match status.as_u16() {
        // Timeouts, rate limits and server trouble pass.
        408 | 425 | 429 | 500..=599 => ErrorClass::Transient,
        // Credentials: the user must fix them; retrying cannot help.
        401 | 403 => ErrorClass::NeedsUser,
        _ => ErrorClass::Permanent,
    }
}

/// A failure built from a non-success answer: `what` failed with the status
/// and the server's own reason (its JSON `message`, else the start of the
/// body), and its `Retry-After` when transient.
pub(crate) fn failure(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> DeliveryError {
    let class = class_of(status);
    let reason = server_reason(body);
    let mut message = format!("{what}: the server answered {status}");
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(&reason);
    }
    DeliveryError {
        retry_after: match class {
            ErrorClass::Transient => retry_after(headers, SystemTime::now()),
            _ => None,
        },
        ..DeliveryError::new(class, message)
    }
}

/// The server's explanation: `message` (WordPress, most JSON APIs) or
/// `error.message`, else the body's first line, in one line and short.
pub(crate) fn server_reason(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            let code = v.get("code").and_then(|c| c.as_str()).map(str::to_string);
            let message = v
                .get("message")
                .or_else(|| v.pointer("/error/message"))
                .and_then(|m| m.as_str())
                .or_else(|| v.get("error").and_then(|e| e.as_str()))
                .map(str::to_string);
            match (message, code) {
                (Some(m), Some(c)) => Some(format!("{m} ({c})")),
                (Some(m), None) => Some(m),
                (None, Some(c)) => Some(c),
                (None, None) => None,
            }
        });
    let reason = from_json.unwrap_or_else(|| text.lines().next().unwrap_or("").to_string());
    let one_line: String = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_REASON_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// `Retry-After` as seconds or an HTTP date, capped at a day.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .unwrap_or(Duration::ZERO),
    };
    Some(wait.min(Duration::from_secs(24 * 3600)))
}

/// A request that got no usable answer. The body may have reached the
/// server: the caller's duplicate protection covers that.
pub(crate) fn transport_failure(what: &str, error: &reqwest::Error) -> DeliveryError {
    if let Some(refusal) = super::public_net::refused(error) {
        return DeliveryError::new(ErrorClass::Permanent, format!("{what}: {refusal}"));
    }
    let tls = error.is_connect() && is_tls_failure(error);
    let kind = if tls {
        "the secure connection (TLS) failed: check the URL's scheme and the server's certificate"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "too many redirects"
    } else if error.is_body() || error.is_decode() {
        "the connection broke mid-transfer"
    } else {
        "the connection failed"
    };
    let class = if error.is_redirect() || error.is_builder() {
        ErrorClass::Permanent
    } else if tls {
        // The same handshake fails the same way until a setting or the
        // server's certificate changes: trying again only delays saying so.
        ErrorClass::NeedsUser
    } else {
        ErrorClass::Transient
    };
    // The innermost cause (an io or TLS error). reqwest's own message names
    // the URL, which may carry a key: it is never used.
    let detail = std::iter::successors(std::error::Error::source(error), |e| e.source())
        .last()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let message = if detail.is_empty() || detail.contains(kind) {
        format!("{what}: {kind}")
    } else {
        format!("{what}: {kind} ({detail})")
    };
    DeliveryError::new(class, message)
}

/// A TLS handshake that failed (an untrusted certificate, `https://` to a
/// plain-HTTP port): rustls reports it as an I/O error of kind `InvalidData`,
/// which the connector wraps in another I/O error (whose `source` skips it).
fn is_tls_failure(error: &reqwest::Error) -> bool {
    std::iter::successors(std::error::Error::source(error), |e| e.source()).any(|e| {
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(inner) = io {
            if inner.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
            io = inner
                .get_ref()
                .and_then(|e| e.downcast_ref::<std::io::Error>());
        }
        false
    })
}

/// What stands for a secret in a message.
const REDACTED: &str = "[redacted]";

/// The shortest start of a secret taken out where a message was cut short.
const MIN_CUT_SECRET_CHARS: usize = 4;

/// Takes a destination's or provider's secrets out of its messages. They
/// quote what the server answered, and a misbehaving server may echo the
/// credentials it was sent.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    /// Every form the secret travels in, longest first.
    secrets: Vec<String>,
}

impl Redactor {
    pub(crate) fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_CUT_SECRET_CHARS)
            // As a server's JSON may quote it: PHP's json_encode (WordPress)
            // writes `/` as `\/`, and base64 credentials hold slashes.
            .flat_map(|s| [s.replace('/', "\\/"), s])
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` without the secrets, nor the start of one where the text was
    /// cut short (`…`, see [`server_reason`]).
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        let mut pieces: Vec<String> = out.split('…').map(str::to_string).collect();
        let last = pieces.len() - 1;
        for piece in &mut pieces[..last] {
            let cut = self.secrets.iter().find_map(|secret| {
                (1..secret.len())
                    .rev()
                    .filter(|&n| secret.is_char_boundary(n))
                    .take_while(|&n| secret[..n].chars().count() >= MIN_CUT_SECRET_CHARS)
                    .find(|&n| piece.ends_with(&secret[..n]))
            });
            if let Some(n) = cut {
                piece.truncate(piece.len() - n);
                piece.push_str(REDACTED);
            }
        }
        pieces.join("…")
    }

    pub(crate) fn error(&self, mut error: DeliveryError) -> DeliveryError {
        error.message = self.text(&error.message);
        error
    }

    /// A `check`'s answer or error without the secrets.
    pub(crate) fn check(
        &self,
        answer: Result<String, DeliveryError>,
    ) -> Result<String, DeliveryError> {
        answer
            .map(|text| self.text(&text))
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn secrets_and_their_cut_short_starts_are_taken_out() {
        let redactor = Redactor::new(["s3cr3t-token-42".to_string(), "abc".to_string()]);
        assert_eq!(
            redactor.text("401: you sent Bearer s3cr3t-token-42 (s3cr3t-token-42)"),
            "401: you sent Bearer [redacted] ([redacted])"
        );
        assert_eq!(
            redactor.text("500: dump Bearer s3cr3t-to… (code)"),
            "500: dump Bearer [redacted]… (code)"
        );
        let slashed = Redactor::new(["dXNlcjpw/YXNz".to_string()]);
        assert_eq!(
            slashed.text(r#"{"echo":"Basic dXNlcjpw\/YXNz"}"#),
            r#"{"echo":"Basic [redacted]"}"#
        );
        // Too short to be told from text: left alone.
        assert_eq!(redactor.text("abc s3c…"), "abc s3c…");
    }

    #[test]
    fn statuses_fall_into_classes() {
        for (code, class) in [
            (401, ErrorClass::NeedsUser),
            (403, ErrorClass::NeedsUser),
            (404, ErrorClass::Permanent),
            (413, ErrorClass::Permanent),
            (415, ErrorClass::Permanent),
            (422, ErrorClass::Permanent),
            (408, ErrorClass::Transient),
            (429, ErrorClass::Transient),
            (500, ErrorClass::Transient),
            (503, ErrorClass::Transient),
        ] {
            assert_eq!(
                class_of(StatusCode::from_u16(code).unwrap()),
                class,
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn the_servers_reason_is_one_short_line() {
        let wp = br#"{"code":"rest_upload_sideload_error","message":"Sorry, you are not allowed to upload this file type.","data":{"status":500}}"#;
        assert_eq!(
            server_reason(wp),
            "Sorry, you are not allowed to upload this file type. (rest_upload_sideload_error)"
        );
        assert_eq!(server_reason(b"<html>\n<h1>Bad</h1>"), "<html>");
        assert_eq!(
            server_reason(&[b'x'; 1000]).chars().count(),
            MAX_REASON_CHARS + 1
        );
    }
}
