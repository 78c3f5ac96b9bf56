//! AWS access. One narrow trait per service, shaped like the calls the operator makes
//! ([`ecs::Ecs`], [`elbv2::Elbv2`], [`route53::Route53`], [`acm::Acm`],
//! [`cloudwatch::CloudWatch`]; and for `cygni doctor` [`sts::Sts`], [`ec2::Ec2`], [`iam::Iam`]),
//! each with two implementations: the AWS SDK adapters and the
//! in-process simulator (`crate::sim::aws`). Controllers only see [`AwsServices`].

pub mod acm;
mod calls;
pub mod cloudwatch;
pub mod ec2;
pub mod ecs;
pub mod elbv2;
pub mod error;
pub mod iam;
pub mod metered;
pub mod retry;
pub mod route53;
pub mod sdk;
pub mod sts;

pub use error::{AwsError, AwsErrorKind, AwsResult};

use std::sync::Arc;

/// Tag key naming the Kubernetes object that owns an AWS resource: `<namespace>/<kind>/<name>`.
pub const OWNER_TAG: &str = "cygni.io/owner";
/// Tag key holding the owning object's UID, which survives a delete and re-create of the same name.
pub const UID_TAG: &str = "cygni.io/uid";

/// An AWS resource tag.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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
