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
        class,
        message,
        retry_after: match class {
            ErrorClass::Transient => retry_after(headers, SystemTime::now()),
            _ => None,
        },
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
    let kind = if error.is_timeout() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

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
