//! When to try a failed job again: exponential backoff with jitter, the
//! server's `Retry-After` when it gave one, never for permanent errors.

use crate::model::ErrorClass;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The wait before the second attempt; each later wait doubles.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Each wait is scaled by a random factor in `1 ± jitter/2`, so jobs that
    /// failed together do not come back together.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// The wait after automatic attempt number `attempt` (1-based) failed.
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let base = self.first_delay.as_secs_f64() * f64::from(1u32 << exponent.min(20));
        let base = base.min(self.max_delay.as_secs_f64());
        let factor = 1.0 + self.jitter * (rng.f64() - 0.5);
        Duration::from_secs_f64((base * factor).max(0.0))
    }

    /// When to try again (Unix ms), or `None` when the job has failed for good.
    pub fn retry_at(
        &self,
        class: ErrorClass,
        attempts: u32,
        max_attempts: u32,
        retry_after: Option<Duration>,
        now_ms: i64,
        rng: &mut fastrand::Rng,
    ) -> Option<i64> {
        if class != ErrorClass::Transient || attempts >= max_attempts {
            return None;
        }
        let wait = retry_after.unwrap_or_else(|| self.delay(attempts, rng));
        Some(now_ms + wait.as_millis() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_two_seconds_within_the_jitter() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 1..=5u32 {
            let base = 2.0 * f64::from(1u32 << (attempt - 1));
            for _ in 0..100 {
                let d = policy.delay(attempt, &mut rng).as_secs_f64();
                assert!(
                    d >= base * 0.75 - 1e-9 && d <= base * 1.25 + 1e-9,
                    "attempt {attempt}: {d}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_jobs_that_failed_together() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let delays: std::collections::HashSet<u128> = (0..20)
            .map(|_| policy.delay(1, &mut rng).as_millis())
            .collect();
        assert!(delays.len() > 10);
    }

    #[test]
    fn permanent_errors_and_exhausted_attempts_are_not_retried() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            policy.retry_at(ErrorClass::Permanent, 1, 3, None, 0, &mut rng),
            None
        );
        assert_eq!(
            policy.retry_at(ErrorClass::NeedsUser, 1, 3, None, 0, &mut rng),
            None
        );
        assert_eq!(
            policy.retry_at(ErrorClass::Transient, 3, 3, None, 0, &mut rng),
            None
        );
        assert!(policy
            .retry_at(ErrorClass::Transient, 2, 3, None, 0, &mut rng)
            .is_some());
    }

    #[test]
    fn retry_after_from_the_server_wins_over_backoff() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let at = policy.retry_at(
            ErrorClass::Transient,
            1,
            3,
            Some(Duration::from_secs(30)),
            1_000,
            &mut rng,
        );
        assert_eq!(at, Some(31_000));
    }

    #[test]
    fn the_wait_never_exceeds_the_cap_plus_jitter() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(3);
        let d = policy.delay(40, &mut rng);
        assert!(d <= policy.max_delay.mul_f64(1.25));
    }
}
