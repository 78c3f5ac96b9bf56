//! Client-side rate limiting: a token bucket per AWS service that every request waits on, so a
//! controller that loops (or many reconciles at once) cannot exceed the service's API rate and
//! throttling never becomes a hot loop.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

/// A token bucket: `per_second` tokens refill every second, up to a burst of the same size. Clones
/// share the bucket.
#[derive(Clone)]
pub struct RateLimit {
    bucket: Arc<DefaultDirectRateLimiter>,
    per_second: NonZeroU32,
}

impl RateLimit {
    /// A bucket of `per_second` requests per second (at least one), bursting to the same number.
    pub fn per_second(per_second: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        RateLimit {
            bucket: Arc::new(RateLimiter::direct(Quota::per_second(per_second))),
            per_second,
        }
    }

    /// A bucket of `per_second` requests per second (at least one) that never bursts: requests
    /// are spaced by `1 / per_second`, so that no window of one second holds more than
    /// `per_second` of them. For APIs whose limit is a plain count per second (Route53's five).
    pub fn spaced(per_second: u32) -> Self {
        let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let period = std::time::Duration::from_secs(1) / per_second.get();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(per_second))
            .allow_burst(NonZeroU32::MIN);
        RateLimit {
            bucket: Arc::new(RateLimiter::direct(quota)),
            per_second,
        }
    }

    /// The sustained rate, in requests per second.
    pub fn requests_per_second(&self) -> u32 {
        self.per_second.get()
    }

    /// Waits until a request may be sent, then takes its token.
    pub async fn acquire(&self) {
        self.bucket.until_ready().await;
    }

    /// Takes a token if one is there now; `false` when the caller would have to wait.
    pub fn try_acquire(&self) -> bool {
        self.bucket.check().is_ok()
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_second", &self.per_second)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_one_second_of_requests_at_once_then_makes_the_next_wait() {
        let rate = RateLimit::per_second(3);
        assert!((0..3).all(|_| rate.try_acquire()));
        assert!(!rate.try_acquire());
    }

    #[test]
    fn a_spaced_bucket_lets_one_request_through_at_a_time() {
        let rate = RateLimit::spaced(5);
        assert!(rate.try_acquire());
        assert!(!rate.try_acquire());
        assert_eq!(rate.requests_per_second(), 5);
    }

    #[tokio::test]
    async fn a_spaced_bucket_never_lets_more_than_its_rate_into_one_second() {
        let rate = RateLimit::spaced(5);
        let start = std::time::Instant::now();
        let mut times = Vec::new();
        for _ in 0..11 {
            rate.acquire().await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate().skip(5) {
            assert!(
                *t - times[i - 5] >= std::time::Duration::from_millis(990),
                "six requests within a second: {times:?}"
            );
        }
    }

    #[test]
    fn clones_share_one_bucket() {
        let rate = RateLimit::per_second(1);
        let clone = rate.clone();
        assert!(rate.try_acquire());
        assert!(!clone.try_acquire());
    }

    #[test]
    fn a_zero_rate_is_raised_to_one_request_per_second() {
        assert_eq!(RateLimit::per_second(0).requests_per_second(), 1);
    }

    #[tokio::test]
    async fn acquire_returns_at_once_while_tokens_are_left() {
        let rate = RateLimit::per_second(2);
        rate.acquire().await;
        rate.acquire().await;
        assert!(!rate.try_acquire());
    }
}
