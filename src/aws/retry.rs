//! Client-side retries for AWS services that have no SDK underneath: the AWS SDK retries
//! throttling, 5xx and timeouts itself (standard mode, 5 attempts, exponential backoff with full
//! jitter), so the simulator, which sits behind the same traits, gets the same policy from this
//! layer. Tests and the playground then see the client behaviour production has.

use super::{AwsErrorKind, AwsResult, AwsServices};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The retry policy: attempts in all, and the backoff bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts including the first.
    pub max_attempts: u32,
    /// Backoff before the second attempt, before jitter; doubles each time.
    pub base: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// The AWS SDK's standard mode as the operator configures it: 5 attempts, 1s base doubling to
    /// 20s at most, with full jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` (1-based `attempt`), given a random `jitter` in [0, 1).
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.min(self.max_backoff).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Runs `call`, retrying the errors that a retry can fix.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> AwsResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(error) if attempt < self.max_attempts && retryable(error.kind) => {
                    tokio::time::sleep(self.backoff(attempt, rand::random::<f64>())).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

/// Errors the AWS SDK's standard retry mode retries.
fn retryable(kind: AwsErrorKind) -> bool {
    matches!(
        kind,
        AwsErrorKind::Throttling | AwsErrorKind::ServerError | AwsErrorKind::Timeout
    )
}

/// The services with every call retried by `policy`.
pub fn with_retries(services: AwsServices, policy: RetryPolicy) -> AwsServices {
    AwsServices {
        ecs: Arc::new(Retrying {
            inner: services.ecs,
            policy,
        }),
        elbv2: Arc::new(Retrying {
            inner: services.elbv2,
            policy,
        }),
        route53: Arc::new(Retrying {
            inner: services.route53,
            policy,
        }),
        acm: Arc::new(Retrying {
            inner: services.acm,
            policy,
        }),
        cloudwatch: Arc::new(Retrying {
            inner: services.cloudwatch,
            policy,
        }),
        region: services.region,
    }
}

/// A service whose calls are retried.
struct Retrying<T: ?Sized> {
    inner: Arc<T>,
    policy: RetryPolicy,
}

/// Implements `$trait` for `Retrying<dyn $trait>`: each call goes to the inner service through
/// [`RetryPolicy::run`].
macro_rules! retrying {
    (
        $trait:ident, $service:literal;
        $(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $operation:literal;)*
    ) => {
        #[async_trait::async_trait]
        impl $trait for Retrying<dyn $trait> {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret {
                self.policy.run(|| self.inner.$name($($arg),*)).await
            })*
        }
    };
}

super::calls::for_each_service!(retrying);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    fn failing(kind: AwsErrorKind, times: u32, calls: &AtomicU32) -> AwsResult<u32> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        if n < times {
            Err(AwsError::new(
                "ecs",
                "DescribeServices",
                kind,
                "Code",
                "message",
            ))
        } else {
            Ok(n)
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_until_it_passes() {
        let calls = AtomicU32::new(0);
        let outcome = fast()
            .run(|| async { failing(AwsErrorKind::Throttling, 3, &calls) })
            .await;
        assert_eq!(outcome, Ok(3));
    }

    #[tokio::test]
    async fn retries_stop_after_the_last_attempt() {
        let calls = AtomicU32::new(0);
        let outcome = fast()
            .run(|| async { failing(AwsErrorKind::ServerError, 10, &calls) })
            .await;
        assert!(outcome.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn invalid_requests_are_not_retried() {
        let calls = AtomicU32::new(0);
        let outcome = fast()
            .run(|| async { failing(AwsErrorKind::InvalidRequest, 10, &calls) })
            .await;
        assert!(outcome.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_scales_it() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_secs(4));
        assert_eq!(policy.backoff(9, 1.0), Duration::from_secs(20));
        assert_eq!(policy.backoff(3, 0.5), Duration::from_secs(2));
    }
}
