//! The custom resources of group `cygni.io`, version `v1alpha1`: `App`, `Deployment` and `Domain`,
//! and the types they share. Doc comments on fields become the CRD descriptions `kubectl explain`
//! prints, so they are written for the person editing the YAML.

pub mod app;
pub mod conditions;
pub mod crd;
pub mod deployment;
pub mod domain;
pub mod strategy;

pub use app::{App, AppSpec, AppStatus, AppTemplate};
pub use deployment::{Deployment, DeploymentPhase, DeploymentSpec, DeploymentStatus};
pub use domain::{Domain, DomainSpec, DomainStatus};
pub use strategy::{AnalysisSpec, Strategy};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every Cygni resource.
pub const GROUP: &str = "cygni.io";
/// API version of every Cygni resource.
pub const VERSION: &str = "v1alpha1";
/// Finalizer the controllers put on their objects so AWS cleanup runs before Kubernetes forgets them.
pub const FINALIZER: &str = "cygni.io/cleanup";

/// Regular expression for a DNS hostname: lowercase labels of at most 63 characters, at least two
/// labels, an optional trailing dot. Shared by App routing hosts and Domain hostnames.
pub(crate) const FQDN_PATTERN: &str =
    r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?\.?$";

/// What happens to the AWS resources an object created when the object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete what the operator created (services, target groups, rules, records, certificates).
    #[default]
    Delete,
    /// Leave everything in AWS as it is; only the Kubernetes object goes away.
    Retain,
}
