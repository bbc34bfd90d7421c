//! The checks every request passes before its handler: who it is from
//! ([`crate::auth`]), how often (a token bucket for the whole server: every
//! client is on this computer, so one bucket is the simple fair share), and
//! how large its body may be.

use crate::auth::Guard;
use crate::error::ApiError;
use crate::Shared;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Mutex;
use std::time::Instant;

/// Routes that need no token: the API's description.
const PUBLIC_PATHS: &[&str] = &["/v1/openapi.json"];

/// A token bucket: `rate` requests a second on average, `burst` at once.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> RateLimiter {
        let burst = burst.max(1.0);
        RateLimiter {
            rate: rate.max(0.0),
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one token if there is one.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = *bucket;
        let refilled = (tokens + now.saturating_duration_since(last).as_secs_f64() * self.rate)
            .min(self.burst);
        if refilled >= 1.0 {
            *bucket = (refilled - 1.0, now);
            true
        } else {
            *bucket = (refilled, now);
            false
        }
    }
}

/// `routes` behind the guard, the rate limit and the body limit.
pub(crate) fn wrap(routes: Router, state: &Shared, guard: Guard) -> Router {
    let max_body = state.config.max_body_bytes;
    let state = state.clone();
    routes
        .layer(DefaultBodyLimit::max(
            usize::try_from(max_body).unwrap_or(usize::MAX),
        ))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let guard = guard.clone();
                let state = state.clone();
                async move { admit(&guard, &state, max_body, req, next).await }
            },
        ))
}

async fn admit(guard: &Guard, state: &Shared, max_body: u64, req: Request, next: Next) -> Response {
    let needs_token = !PUBLIC_PATHS.contains(&req.uri().path());
    if let Err(e) = guard.check(req.headers(), needs_token) {
        return e.into_response();
    }
    if !state.limiter.allow() {
        return ApiError::TooManyRequests.into_response();
    }
    // A declared length over the limit is refused before a byte is read;
    // a chunked body is cut at the limit by `DefaultBodyLimit`.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body) {
        return ApiError::TooLarge { limit: max_body }.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(10.0, 3.0);
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.allow_at(start)));
        assert!(!limiter.allow_at(start), "the burst is spent");
        // A tenth of a second later, one more.
        let later = start + Duration::from_millis(100);
        assert!(limiter.allow_at(later));
        assert!(!limiter.allow_at(later));
        // A long pause refills to the burst, no more.
        let much_later = later + Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.allow_at(much_later)));
        assert!(!limiter.allow_at(much_later));
    }
}
