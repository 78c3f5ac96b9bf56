//! The narrow Amazon EC2 interface `cygni doctor` uses: the subnets and security groups Apps'
//! tasks are placed in (DescribeSubnets, DescribeSecurityGroups by ID).

use super::AwsResult;
use async_trait::async_trait;

/// A subnet as DescribeSubnets returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    /// Subnet ID.
    pub id: String,
    /// VPC ID.
    pub vpc_id: String,
    /// Availability zone, e.g. `eu-west-1a`.
    pub availability_zone: String,
    /// Free IPv4 addresses (each Fargate task takes one).
    pub available_ips: i32,
}

/// A security group as DescribeSecurityGroups returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecurityGroup {
    /// Group ID.
    pub id: String,
    /// Group name.
    pub name: String,
    /// VPC ID.
    pub vpc_id: String,
}

/// Amazon EC2, as far as `cygni doctor` uses it.
#[async_trait]
pub trait Ec2: Send + Sync {
    /// DescribeSubnets of these IDs. As EC2 does, one unknown ID fails the whole call
    /// (`InvalidSubnetID.NotFound`, the message names the IDs).
    async fn describe_subnets(&self, ids: &[String]) -> AwsResult<Vec<Subnet>>;
    /// DescribeSecurityGroups of these IDs; one unknown ID fails the whole call
    /// (`InvalidGroup.NotFound`).
    async fn describe_security_groups(&self, ids: &[String]) -> AwsResult<Vec<SecurityGroup>>;
}
