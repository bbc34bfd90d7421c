//! Who may use the API: a program on this computer that knows the token.
//!
//! - `Host` must name a loopback address with this server's port, so a page
//!   whose own name was re-pointed at 127.0.0.1 (DNS rebinding) is refused.
//! - `Origin`, when present, must be a loopback origin: a page on any other
//!   site (a cross-site request) is refused. Programs send no `Origin`.
//! - The bearer token, compared in constant time.

use crate::error::ApiError;
use axum::http::{header, HeaderMap};

/// The checks one listener applies; `token: None` for the PicGo protocol,
/// which has none.
#[derive(Clone, Debug)]
pub struct Guard {
    pub port: u16,
    pub token: Option<String>,
}

impl Guard {
    /// Host, then Origin, then the token.
    pub fn check(&self, headers: &HeaderMap, needs_token: bool) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !host_allowed(host, self.port) {
            return Err(ApiError::Forbidden(format!(
                "Host {host:?} is not this server: use http://127.0.0.1:{0}, http://localhost:{0} or http://[::1]:{0}",
                self.port
            )));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !origin_allowed(origin) {
                return Err(ApiError::Forbidden(format!(
                    "requests from web pages are refused (Origin {origin:?})"
                )));
            }
        }
        match (&self.token, needs_token) {
            (Some(token), true) if !bearer_matches(headers, token) => Err(ApiError::Unauthorized),
            _ => Ok(()),
        }
    }
}

/// The host names of this computer's loopback interface.
fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]"
}

/// `Host`: a loopback name and this port (the port may be left out only
/// when it is 80, as HTTP allows).
pub fn host_allowed(host: &str, port: u16) -> bool {
    let (name, given) = split_port(host);
    if !is_loopback_name(name) {
        return false;
    }
    match given {
        Some(p) => p.parse::<u16>().ok() == Some(port),
        None => port == 80,
    }
}

/// `Origin`: `http(s)://` and a loopback name, any port. `null` (sandboxed
/// frames, `file:` pages) and every other origin are refused.
pub fn origin_allowed(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let Some(authority) = rest else {
        return false;
    };
    if authority.contains(['/', '@', '?', '#']) {
        return false;
    }
    let (name, port) = split_port(authority);
    is_loopback_name(name) && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

/// `name:port` → (name, port); `[v6]:port` keeps its brackets.
fn split_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => {
                let (name, rest) = host.split_at(end + 1);
                (name, rest.strip_prefix(':'))
            }
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// `Authorization: Bearer <token>` with exactly this token.
pub fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(given.trim(), token)
}

/// Equal strings, in a time that does not depend on where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn host_must_be_loopback_with_this_port() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LocalHost:8080",
            "[::1]:8080",
        ] {
            assert!(host_allowed(ok, 8080), "{ok}");
        }
        for bad in [
            "127.0.0.1:8081",
            "127.0.0.1",
            "evil.example:8080",
            "localhost.evil.example:8080",
            "127.0.0.2:8080",
            "[::2]:8080",
            "[::1]",
            "",
            "127.0.0.1:80x",
            "0.0.0.0:8080",
        ] {
            assert!(!host_allowed(bad, 8080), "{bad}");
        }
        assert!(host_allowed("localhost", 80));
    }

    #[test]
    fn origin_must_be_absent_or_a_loopback_page() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://localhost",
            "https://localhost:8443",
            "http://[::1]:5173",
        ] {
            assert!(origin_allowed(ok), "{ok}");
        }
        for bad in [
            "null",
            "https://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://localhost@evil.example",
            "app://obsidian.md",
            "file://",
            "",
        ] {
            assert!(!origin_allowed(bad), "{bad}");
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                name.clone(),
                HeaderValue::from_str(value).expect("a header value"),
            );
        }
        map
    }

    #[test]
    fn the_token_is_checked_after_host_and_origin() {
        let guard = Guard {
            port: 9000,
            token: Some("s3cret-token-0123456789".into()),
        };
        let good = headers(&[
            (header::HOST, "127.0.0.1:9000"),
            (header::AUTHORIZATION, "Bearer s3cret-token-0123456789"),
        ]);
        assert!(guard.check(&good, true).is_ok());

        let wrong = headers(&[
            (header::HOST, "127.0.0.1:9000"),
            (header::AUTHORIZATION, "Bearer s3cret-token-0123456780"),
        ]);
        assert!(matches!(
            guard.check(&wrong, true),
            Err(ApiError::Unauthorized)
        ));
        let missing = headers(&[(header::HOST, "127.0.0.1:9000")]);
        assert!(matches!(
            guard.check(&missing, true),
            Err(ApiError::Unauthorized)
        ));
        // A route that needs none (the description) passes without.
        assert!(guard.check(&missing, false).is_ok());

        // A foreign Host is refused even with the right token.
        let rebound = headers(&[
            (header::HOST, "attacker.example:9000"),
            (header::AUTHORIZATION, "Bearer s3cret-token-0123456789"),
        ]);
        assert!(matches!(
            guard.check(&rebound, true),
            Err(ApiError::Forbidden(_))
        ));
        let cross_site = headers(&[
            (header::HOST, "127.0.0.1:9000"),
            (header::ORIGIN, "https://attacker.example"),
            (header::AUTHORIZATION, "Bearer s3cret-token-0123456789"),
        ]);
        assert!(matches!(
            guard.check(&cross_site, true),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn bearer_scheme_any_case_and_no_empty_token() {
        let h = headers(&[(header::AUTHORIZATION, "bearer abc")]);
        assert!(bearer_matches(&h, "abc"));
        let h = headers(&[(header::AUTHORIZATION, "Basic abc")]);
        assert!(!bearer_matches(&h, "abc"));
        let h = headers(&[(header::AUTHORIZATION, "Bearer ")]);
        assert!(!bearer_matches(&h, ""));
    }
}
