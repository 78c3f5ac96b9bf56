//! [`Ec2`] over the AWS SDK: DescribeSubnets and DescribeSecurityGroups by ID (one page: EC2
//! answers explicit IDs without paging).

use super::RateLimit;
use super::error::failed;
use crate::aws::AwsResult;
use crate::aws::ec2::{Ec2, SecurityGroup, Subnet};
use async_trait::async_trait;
use aws_sdk_ec2::Client;

/// Service name in errors.
const SERVICE: &str = "ec2";
/// Default client-side rate (EC2's describe calls allow far more).
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;

/// Amazon EC2 through the SDK.
#[derive(Clone, Debug)]
pub struct SdkEc2 {
    client: Client,
    rate: RateLimit,
}

impl SdkEc2 {
    /// The adapter with the default rate.
    pub fn new(client: Client) -> Self {
        SdkEc2 {
            client,
            rate: RateLimit::per_second(DEFAULT_REQUESTS_PER_SECOND),
        }
    }
}

#[async_trait]
impl Ec2 for SdkEc2 {
    async fn describe_subnets(&self, ids: &[String]) -> AwsResult<Vec<Subnet>> {
        const OP: &str = "DescribeSubnets";
        self.rate.acquire().await;
        let output = self
            .client
            .describe_subnets()
            .set_subnet_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(output
            .subnets()
            .iter()
            .map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_owned(),
                vpc_id: s.vpc_id().unwrap_or_default().to_owned(),
                availability_zone: s.availability_zone().unwrap_or_default().to_owned(),
                available_ips: s.available_ip_address_count().unwrap_or_default(),
            })
            .collect())
    }

    async fn describe_security_groups(&self, ids: &[String]) -> AwsResult<Vec<SecurityGroup>> {
        const OP: &str = "DescribeSecurityGroups";
        self.rate.acquire().await;
        let output = self
            .client
            .describe_security_groups()
            .set_group_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(output
            .security_groups()
            .iter()
            .map(|g| SecurityGroup {
                id: g.group_id().unwrap_or_default().to_owned(),
                name: g.group_name().unwrap_or_default().to_owned(),
                vpc_id: g.vpc_id().unwrap_or_default().to_owned(),
            })
            .collect())
    }
}
