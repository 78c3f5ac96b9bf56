//! [`Sts`] over the AWS SDK.

use super::RateLimit;
use super::error::{failed, missing_field};
use crate::aws::AwsResult;
use crate::aws::sts::{CallerIdentity, Sts};
use async_trait::async_trait;
use aws_sdk_sts::Client;

/// Service name in errors.
const SERVICE: &str = "sts";
/// Default client-side rate.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 10;

/// AWS STS through the SDK.
#[derive(Clone, Debug)]
pub struct SdkSts {
    client: Client,
    rate: RateLimit,
}

impl SdkSts {
    /// The adapter with the default rate.
    pub fn new(client: Client) -> Self {
        SdkSts {
            client,
            rate: RateLimit::per_second(DEFAULT_REQUESTS_PER_SECOND),
        }
    }
}

#[async_trait]
impl Sts for SdkSts {
    async fn get_caller_identity(&self) -> AwsResult<CallerIdentity> {
        const OP: &str = "GetCallerIdentity";
        self.rate.acquire().await;
        let output = self
            .client
            .get_caller_identity()
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(CallerIdentity {
            account: output
                .account()
                .ok_or_else(|| missing_field(SERVICE, OP, "Account"))?
                .to_owned(),
            arn: output
                .arn()
                .ok_or_else(|| missing_field(SERVICE, OP, "Arn"))?
                .to_owned(),
            user_id: output.user_id().unwrap_or_default().to_owned(),
        })
    }
}
