//! AWS access: SDK configuration (region, endpoint override for a local emulator, retries) and the
//! service clients the controllers use.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};

/// Retry attempts per AWS call (the first try included); the SDK's standard mode adds exponential
/// backoff with jitter and a client-side retry quota so throttling cannot become a hot loop.
const MAX_ATTEMPTS: u32 = 5;

/// One SDK client per AWS service the operator calls.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// Amazon ECS: task definitions and services.
    pub ecs: aws_sdk_ecs::Client,
    /// Elastic Load Balancing v2: target groups, listener rules, certificates on listeners.
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// Route53: hosted zones and records.
    pub route53: aws_sdk_route53::Client,
    /// AWS Certificate Manager.
    pub acm: aws_sdk_acm::Client,
    /// Amazon CloudWatch: metrics for analysis.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The region in use, when one was configured or discovered.
    pub region: Option<String>,
}

impl AwsClients {
    /// Builds the clients from the SDK's credential and region chains, with an optional region and
    /// endpoint override. Makes no AWS call.
    pub async fn new(region: Option<String>, endpoint_url: Option<String>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(endpoint) = endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        AwsClients {
            ecs: aws_sdk_ecs::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            acm: aws_sdk_acm::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            region: config.region().map(ToString::to_string),
        }
    }
}
