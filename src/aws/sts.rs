//! The narrow AWS STS interface: who the credentials belong to (GetCallerIdentity), which needs
//! no permission and so proves only that the credentials are valid.

use super::AwsResult;
use async_trait::async_trait;

/// What GetCallerIdentity answers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallerIdentity {
    /// Account ID.
    pub account: String,
    /// ARN of the caller: a user, or `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub arn: String,
    /// Unique ID of the caller.
    pub user_id: String,
}

/// AWS STS, as far as `cygni doctor` uses it.
#[async_trait]
pub trait Sts: Send + Sync {
    /// GetCallerIdentity.
    async fn get_caller_identity(&self) -> AwsResult<CallerIdentity>;
}
