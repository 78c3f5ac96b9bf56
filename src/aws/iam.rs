//! The narrow AWS IAM interface `cygni doctor` uses: SimulatePrincipalPolicy, which evaluates a
//! principal's policies for actions on resources in a request context, without calling them.

use super::AwsResult;
use async_trait::async_trait;

/// A value of the simulated request context, e.g. `aws:RequestTag/cygni.io/owner`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContextEntry {
    /// Condition key.
    pub key: String,
    /// Values; more than one makes it a string list (`aws:TagKeys`).
    pub values: Vec<String>,
    /// Whether the key is a list (`stringList`) rather than one string.
    pub list: bool,
}

/// One SimulatePrincipalPolicy request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Simulation {
    /// The user or role whose policies are evaluated (`PolicySourceArn`).
    pub principal_arn: String,
    /// Actions, e.g. `ecs:CreateService`.
    pub actions: Vec<String>,
    /// Resource ARNs; empty means `*`.
    pub resource_arns: Vec<String>,
    /// The request context.
    pub context: Vec<ContextEntry>,
}

/// The verdict of one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decision {
    /// A statement allows it.
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A statement denies it.
    ExplicitDeny,
}

/// One evaluated action.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// The action.
    pub action: String,
    /// The verdict.
    pub decision: Decision,
}

/// AWS IAM, as far as `cygni doctor` uses it.
#[async_trait]
pub trait Iam: Send + Sync {
    /// SimulatePrincipalPolicy (all pages): one verdict per action.
    async fn simulate_principal_policy(
        &self,
        simulation: &Simulation,
    ) -> AwsResult<Vec<Evaluation>>;
}
