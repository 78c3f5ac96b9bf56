//! The AWS SDK adapters: one per service trait of [`crate::aws`], each holding its SDK client and a
//! client-side token bucket, all built from one `SdkConfig` by [`services`].
//!
//! Layers of protection against throttling, outermost first: the per-service [`RateLimit`] that
//! every request (every page of a paginated call) waits on, then the SDK's standard retry mode
//! (at most [`MAX_ATTEMPTS`] attempts with exponential backoff, jitter and a retry quota). What
//! still fails is classified by [`error::from_sdk`] so the controllers back off.
//!
//! The endpoint can be overridden for a local emulator (moto); `tests/aws_contract.rs` runs every
//! adapter against one.

pub mod acm;
pub mod cloudwatch;
pub mod ec2;
pub mod ecs;
pub mod elbv2;
pub mod error;
pub mod iam;
pub mod rate;
pub mod route53;
pub mod sts;

pub use acm::SdkAcm;
pub use cloudwatch::SdkCloudWatch;
pub use ec2::SdkEc2;
pub use ecs::SdkEcs;
pub use elbv2::SdkElbv2;
pub use iam::SdkIam;
pub use rate::RateLimit;
pub use route53::SdkRoute53;
pub use sts::SdkSts;

use super::AwsServices;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::sync::Arc;

/// Attempts per AWS call, the first one included (the SDK's standard retry mode).
pub const MAX_ATTEMPTS: u32 = 5;

/// Loads the one `SdkConfig` every client shares: the SDK's credential and region chains, with an
/// optional region and endpoint override (for a local emulator), and standard retries with
/// [`MAX_ATTEMPTS`]. Makes no AWS call.
pub async fn sdk_config(region: Option<String>, endpoint_url: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(endpoint) = endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// The AWS services behind their traits, backed by the SDK: one shared config (see
/// [`sdk_config`]) and one adapter per service with its default client-side rate. `region` and
/// `endpoint_url` override the SDK's chains (the endpoint points every service at a local
/// emulator). `AwsServices::region` is empty when no region was given or found. Makes no AWS call.
pub async fn services(region: Option<String>, endpoint_url: Option<String>) -> AwsServices {
    let config = sdk_config(region, endpoint_url).await;
    services_from_config(&config)
}

/// [`services`] over an already loaded config.
pub fn services_from_config(config: &SdkConfig) -> AwsServices {
    AwsServices {
        ecs: Arc::new(SdkEcs::new(aws_sdk_ecs::Client::new(config))),
        elbv2: Arc::new(SdkElbv2::new(aws_sdk_elasticloadbalancingv2::Client::new(
            config,
        ))),
        route53: Arc::new(SdkRoute53::new(aws_sdk_route53::Client::new(config))),
        acm: Arc::new(SdkAcm::new(aws_sdk_acm::Client::new(config))),
        cloudwatch: Arc::new(SdkCloudWatch::new(aws_sdk_cloudwatch::Client::new(config))),
        region: config.region().map(ToString::to_string).unwrap_or_default(),
    }
}
