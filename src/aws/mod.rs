//! AWS access. One narrow trait per service, shaped like the calls the operator makes
//! ([`ecs::Ecs`], [`elbv2::Elbv2`], [`route53::Route53`], [`acm::Acm`],
//! [`cloudwatch::CloudWatch`]), each with two implementations: the AWS SDK adapters and the
//! in-process simulator (`crate::sim::aws`). Controllers only see [`AwsServices`].

pub mod acm;
pub mod cloudwatch;
pub mod ecs;
pub mod elbv2;
pub mod error;
pub mod route53;
pub mod sdk;

pub use error::{AwsError, AwsErrorKind, AwsResult};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use std::sync::Arc;

/// Tag key naming the Kubernetes object that owns an AWS resource: `<namespace>/<kind>/<name>`.
pub const OWNER_TAG: &str = "cygni.io/owner";
/// Tag key holding the owning object's UID, which survives a delete and re-create of the same name.
pub const UID_TAG: &str = "cygni.io/uid";

/// An AWS resource tag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The AWS services the controllers call, behind their traits.
#[derive(Clone)]
pub struct AwsServices {
    /// Amazon ECS.
    pub ecs: Arc<dyn ecs::Ecs>,
    /// Elastic Load Balancing v2.
    pub elbv2: Arc<dyn elbv2::Elbv2>,
    /// Route53.
    pub route53: Arc<dyn route53::Route53>,
    /// AWS Certificate Manager.
    pub acm: Arc<dyn acm::Acm>,
    /// Amazon CloudWatch.
    pub cloudwatch: Arc<dyn cloudwatch::CloudWatch>,
    /// Region the services run in (used for log configuration and ARNs).
    pub region: String,
}

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
