//! What a simulated world is made of before any call: the seed and clock, the timings of its
//! dynamics, how container images behave, and the faults injected per service.

use crate::clock::{Clock, SystemClock};
use std::sync::Arc;
use std::time::Duration;

/// How a simulated world is set up.
#[derive(Clone)]
pub struct SimConfig {
    /// Seed of every random choice: IDs, ARNs and injected faults.
    pub seed: u64,
    /// Source of sim time; every call first settles the world up to `clock.now()`.
    pub clock: Arc<dyn Clock>,
    /// The clock of the caller (the operator), for a world whose `clock` runs faster than the
    /// caller's, as in the playground and the end-to-end tests (sim time 20x real time, the operator
    /// on real time). When set, GetMetricData moves each window by (sim now - caller now) before
    /// evaluating it and moves the returned timestamps back, so a window ending at the caller's
    /// now ends at the world's now and keeps its length. `None` (the default): windows are taken
    /// as sim time, unchanged.
    pub caller_clock: Option<Arc<dyn Clock>>,
    /// Delays of the dynamics.
    pub timings: Timings,
    /// Region of every resource (`eu-west-1` by default).
    pub region: String,
    /// Account ID of every resource (`123456789012` by default).
    pub account_id: String,
    /// Requests per second each listener rule receives, split between its target groups by weight;
    /// drives the CloudWatch ALB metrics.
    pub requests_per_second: f64,
    /// The client-side Route53 rate of every Route53 client of this world (requests per second
    /// of real time), 5 like the SDK adapter's default.
    pub route53_requests_per_second: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            clock: Arc::new(SystemClock),
            caller_clock: None,
            timings: Timings::default(),
            region: "eu-west-1".to_string(),
            account_id: "123456789012".to_string(),
            requests_per_second: 10.0,
            route53_requests_per_second: crate::aws::sdk::route53::DEFAULT_REQUESTS_PER_SECOND,
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("clock_now", &self.clock.now())
            .field(
                "caller_clock_now",
                &self.caller_clock.as_ref().map(|c| c.now()),
            )
            .field("timings", &self.timings)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("requests_per_second", &self.requests_per_second)
            .field(
                "route53_requests_per_second",
                &self.route53_requests_per_second,
            )
            .finish()
    }
}

impl SimConfig {
    /// A config with this clock and otherwise the defaults.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        SimConfig {
            clock,
            ..SimConfig::default()
        }
    }

    /// The playground's config: this clock (usually a [`crate::clock::ScaledClock`]), the
    /// operator on the system clock as [`SimConfig::caller_clock`], and the short
    /// [`Timings::playground`] delays.
    pub fn playground(clock: Arc<dyn Clock>) -> Self {
        SimConfig {
            clock,
            caller_clock: Some(Arc::new(SystemClock)),
            timings: Timings::playground(),
            ..SimConfig::default()
        }
    }
}

/// Delays of the simulated dynamics, in sim time.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// A new ECS task stays PROVISIONING this long (ENI attachment).
    pub task_provisioning: Duration,
    /// Then PENDING this long (image pull, container start) before RUNNING or, for a crashing image,
    /// STOPPED.
    pub task_pending: Duration,
    /// The target groups' `deregistration_delay.timeout_seconds`: a deregistered target is
    /// `draining` this long and its task stays DEACTIVATING until then (AWS default 300 s).
    pub deregistration_delay: Duration,
    /// First delay before ECS relaunches a task of a deployment whose tasks keep failing; it doubles
    /// with each consecutive failure up to `max_launch_backoff`.
    pub launch_backoff: Duration,
    /// Upper bound of the relaunch delay.
    pub max_launch_backoff: Duration,
    /// How long an INACTIVE (deleted) service is still returned by DescribeServices.
    pub inactive_service_retention: Duration,
    /// A Route53 change is PENDING this long, then INSYNC.
    pub dns_propagation: Duration,
    /// ACM fills in a certificate's DNS validation records this long after the request.
    pub acm_validation_records: Duration,
    /// ACM issues a certificate this long after every name's validation CNAME is INSYNC.
    pub acm_issuance: Duration,
    /// A certificate still pending after this long becomes VALIDATION_TIMED_OUT (ACM: 72 hours).
    pub acm_validation_timeout: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            task_provisioning: Duration::from_secs(5),
            task_pending: Duration::from_secs(10),
            deregistration_delay: Duration::from_secs(300),
            launch_backoff: Duration::from_secs(5),
            max_launch_backoff: Duration::from_secs(15 * 60),
            inactive_service_retention: Duration::from_secs(60 * 60),
            dns_propagation: Duration::from_secs(30),
            acm_validation_records: Duration::from_secs(5),
            acm_issuance: Duration::from_secs(20),
            acm_validation_timeout: Duration::from_secs(72 * 60 * 60),
        }
    }
}

impl Timings {
    /// Shorter delays for the playground: a rollout or a certificate settles in well under a
    /// minute of sim time, and deregistered targets drain for 10 s instead of 300 s.
    pub fn playground() -> Self {
        Timings {
            task_provisioning: Duration::from_secs(3),
            task_pending: Duration::from_secs(5),
            deregistration_delay: Duration::from_secs(10),
            launch_backoff: Duration::from_secs(5),
            max_launch_backoff: Duration::from_secs(5 * 60),
            inactive_service_retention: Duration::from_secs(60 * 60),
            dns_propagation: Duration::from_secs(10),
            acm_validation_records: Duration::from_secs(3),
            acm_issuance: Duration::from_secs(10),
            acm_validation_timeout: Duration::from_secs(72 * 60 * 60),
        }
    }
}

/// How the containers of an image behave once ECS starts them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ImageBehaviour {
    /// Starts, passes health checks, serves every request with a 2xx.
    Healthy,
    /// The essential container exits on start: the task stops before RUNNING, counts as a failed
    /// task and trips the deployment circuit breaker.
    Crash,
    /// Runs but fails the target group's health checks (and answers every request with a 5xx).
    Unhealthy,
    /// Healthy, but this share (0-1) of requests gets a 5xx, visible in CloudWatch.
    Errors {
        /// Share of requests answered with a 5xx.
        rate: f64,
    },
    /// Healthy, with this 99th percentile response time in seconds (the median is a quarter of it).
    Slow {
        /// 99th percentile of TargetResponseTime, in seconds.
        p99_seconds: f64,
    },
}

impl ImageBehaviour {
    /// The behaviour of an image nobody configured, from its name and tag (the last path segment,
    /// case-insensitive), the first that applies:
    ///
    /// - containing `unhealthy`: [`ImageBehaviour::Unhealthy`];
    /// - containing `bad` or `crash`: [`ImageBehaviour::Crash`];
    /// - containing `5xx` or `errors`: half its requests answered with a 5xx
    ///   ([`ImageBehaviour::Errors`] at 0.5);
    /// - containing `slow`: a 2 s 99th percentile response time ([`ImageBehaviour::Slow`]);
    /// - anything else: [`ImageBehaviour::Healthy`].
    ///
    /// The registry host and path are ignored, so `ghcr.io/acme/web:bad-1` crashes but
    /// `bad.example/web:1` does not, and `web:2-5xx` errs but `errors.example/web:2` does not.
    pub fn by_convention(image: &str) -> ImageBehaviour {
        let last = image
            .rsplit('/')
            .next()
            .unwrap_or(image)
            .to_ascii_lowercase();
        if last.contains("unhealthy") {
            ImageBehaviour::Unhealthy
        } else if last.contains("bad") || last.contains("crash") {
            ImageBehaviour::Crash
        } else if last.contains("5xx") || last.contains("errors") {
            ImageBehaviour::Errors { rate: 0.5 }
        } else if last.contains("slow") {
            ImageBehaviour::Slow { p99_seconds: 2.0 }
        } else {
            ImageBehaviour::Healthy
        }
    }

    /// Whether the target group's health checks pass.
    pub(crate) fn passes_health_checks(&self) -> bool {
        !matches!(self, ImageBehaviour::Unhealthy | ImageBehaviour::Crash)
    }

    /// Share of requests answered with a 5xx by the target itself.
    pub(crate) fn error_rate(&self) -> f64 {
        match self {
            ImageBehaviour::Healthy | ImageBehaviour::Slow { .. } => 0.0,
            ImageBehaviour::Crash | ImageBehaviour::Unhealthy => 1.0,
            ImageBehaviour::Errors { rate } => rate.clamp(0.0, 1.0),
        }
    }

    /// Median and 99th percentile of the response time, in seconds.
    pub(crate) fn latency(&self) -> (f64, f64) {
        match self {
            ImageBehaviour::Slow { p99_seconds } => {
                let p99 = p99_seconds.max(0.001);
                (p99 / 4.0, p99)
            }
            ImageBehaviour::Unhealthy | ImageBehaviour::Crash => (0.002, 0.010),
            ImageBehaviour::Healthy | ImageBehaviour::Errors { .. } => (0.015, 0.060),
        }
    }
}

/// The simulated AWS services, for faults and call counts.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum SimService {
    /// Amazon ECS.
    Ecs,
    /// Elastic Load Balancing v2.
    Elbv2,
    /// Route53.
    Route53,
    /// AWS Certificate Manager.
    Acm,
    /// Amazon CloudWatch.
    CloudWatch,
    /// AWS STS.
    Sts,
    /// Amazon EC2.
    Ec2,
    /// AWS IAM.
    Iam,
}

impl SimService {
    /// Every service, in a fixed order.
    pub const ALL: [SimService; 8] = [
        SimService::Ecs,
        SimService::Elbv2,
        SimService::Route53,
        SimService::Acm,
        SimService::CloudWatch,
        SimService::Sts,
        SimService::Ec2,
        SimService::Iam,
    ];

    /// The service name as [`crate::aws::AwsError::service`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            SimService::Ecs => "ecs",
            SimService::Elbv2 => "elbv2",
            SimService::Route53 => "route53",
            SimService::Acm => "acm",
            SimService::CloudWatch => "cloudwatch",
            SimService::Sts => "sts",
            SimService::Ec2 => "ec2",
            SimService::Iam => "iam",
        }
    }

    pub(crate) fn index(self) -> u64 {
        match self {
            SimService::Ecs => 0,
            SimService::Elbv2 => 1,
            SimService::Route53 => 2,
            SimService::Acm => 3,
            SimService::CloudWatch => 4,
            SimService::Sts => 5,
            SimService::Ec2 => 6,
            SimService::Iam => 7,
        }
    }
}

/// Faults injected into one service's calls, drawn from a generator seeded by the world's seed
/// and the service (reseeded by every [`crate::sim::aws::AwsSim::set_faults`], so the same seed,
/// faults and call sequence give the same outcomes).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Faults {
    /// Share (0-1) of calls refused with the service's throttling error.
    pub throttle_rate: f64,
    /// Share (0-1) of calls failing with a 5xx, with no effect.
    pub server_error_rate: f64,
    /// Real (not sim) time every call waits before it runs.
    pub latency: Duration,
    /// Share (0-1) of calls whose effect is applied but whose answer is lost: the caller gets a
    /// `Timeout` and must retry, which is what idempotency tokens are for.
    pub lost_response_rate: f64,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Faults::default()
    }

    /// Only throttling, at this rate.
    pub fn throttling(rate: f64) -> Self {
        Faults {
            throttle_rate: rate,
            ..Faults::default()
        }
    }

    /// Only 5xx errors, at this rate.
    pub fn server_errors(rate: f64) -> Self {
        Faults {
            server_error_rate: rate,
            ..Faults::default()
        }
    }

    /// Only lost responses, at this rate.
    pub fn lost_responses(rate: f64) -> Self {
        Faults {
            lost_response_rate: rate,
            ..Faults::default()
        }
    }
}
