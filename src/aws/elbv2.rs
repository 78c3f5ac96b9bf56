//! The narrow Elastic Load Balancing v2 interface: target groups, the App's listener rule with its
//! weighted forward action, target health, the listener's load balancer, and certificates on the
//! listener.

use super::{AwsResult, Tag};
use async_trait::async_trait;
use std::collections::BTreeMap;

/// Target group health check settings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthCheckConfig {
    /// HTTP path.
    pub path: String,
    /// Port; `None` means the traffic port.
    pub port: Option<i32>,
    /// Seconds between checks (5-300).
    pub interval_seconds: i32,
    /// Seconds before a check fails (2-120, less than the interval).
    pub timeout_seconds: i32,
    /// Successes before healthy (2-10).
    pub healthy_threshold: i32,
    /// Failures before unhealthy (2-10).
    pub unhealthy_threshold: i32,
    /// HTTP codes counted as healthy, e.g. `200-399`.
    pub matcher: String,
}

/// Input of CreateTargetGroup (HTTP, target type `ip`, as Fargate needs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetGroupInput {
    /// Name: at most 32 characters, alphanumerics and hyphens, not starting or ending with one.
    pub name: String,
    /// Traffic port.
    pub port: i32,
    /// VPC of the load balancer.
    pub vpc_id: String,
    /// Health check.
    pub health_check: HealthCheckConfig,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A target group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetGroup {
    /// ARN.
    pub arn: String,
    /// Name.
    pub name: String,
    /// Traffic port.
    pub port: i32,
    /// VPC.
    pub vpc_id: String,
    /// Health check.
    pub health_check: HealthCheckConfig,
    /// Load balancers that route to it (through a listener rule).
    pub load_balancer_arns: Vec<String>,
}

/// A listener.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Listener {
    /// ARN.
    pub arn: String,
    /// Load balancer ARN.
    pub load_balancer_arn: String,
    /// Port.
    pub port: i32,
    /// `HTTP` or `HTTPS`.
    pub protocol: String,
}

/// A load balancer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadBalancer {
    /// ARN.
    pub arn: String,
    /// Public DNS name.
    pub dns_name: String,
    /// Route53 hosted zone ID for alias records.
    pub canonical_hosted_zone_id: String,
    /// VPC.
    pub vpc_id: String,
    /// Whether it answers on IPv6 too (`IpAddressType` `dualstack` or
    /// `dualstack-without-public-ipv4`), so that alias AAAA records make sense.
    pub dual_stack: bool,
}

/// Conditions of a rule (all must match).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleConditions {
    /// `host-header` values (any matches).
    pub host_headers: Vec<String>,
    /// `path-pattern` values (any matches).
    pub path_patterns: Vec<String>,
}

/// One target group of a weighted forward action.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WeightedTarget {
    /// Target group ARN.
    pub target_group_arn: String,
    /// Weight, 0-999.
    pub weight: i32,
}

/// A listener rule whose action forwards to weighted target groups.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    /// ARN.
    pub arn: String,
    /// Priority (1-50000); `None` for the listener's default rule.
    pub priority: Option<i32>,
    /// Conditions.
    pub conditions: RuleConditions,
    /// The forward action's target groups and weights (at most 5), empty when the action is not a
    /// forward.
    pub forward: Vec<WeightedTarget>,
}

/// Health state of one registered target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TargetState {
    /// Registered, first checks running.
    Initial,
    /// Passing.
    Healthy,
    /// Failing.
    Unhealthy,
    /// Not used by any rule, or the target group is not attached.
    Unused,
    /// Deregistering; in-flight requests finish.
    Draining,
    /// Health checks are disabled or cannot run.
    Unavailable,
}

/// One target of a target group.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetHealth {
    /// Target ID (the task's IP).
    pub id: String,
    /// Port.
    pub port: i32,
    /// State.
    pub state: TargetState,
    /// Reason code, e.g. `Target.ResponseCodeMismatch`.
    pub reason: Option<String>,
}

/// Elastic Load Balancing v2, as far as the operator uses it.
#[async_trait]
pub trait Elbv2: Send + Sync {
    /// DescribeListeners for one ARN; `None` when unknown.
    async fn describe_listener(&self, arn: &str) -> AwsResult<Option<Listener>>;
    /// DescribeLoadBalancers for one ARN; `None` when unknown.
    async fn describe_load_balancer(&self, arn: &str) -> AwsResult<Option<LoadBalancer>>;
    /// CreateTargetGroup. Creating a name that exists with the same settings returns it (as AWS
    /// does); with other settings it is `AlreadyExists`.
    async fn create_target_group(&self, input: &TargetGroupInput) -> AwsResult<TargetGroup>;
    /// DescribeTargetGroups by name; unknown names are absent from the answer.
    async fn describe_target_groups(&self, names: &[String]) -> AwsResult<Vec<TargetGroup>>;
    /// ModifyTargetGroup's health check settings.
    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &HealthCheckConfig,
    ) -> AwsResult<TargetGroup>;
    /// DeleteTargetGroup; not found counts as done; `InUse` while a rule still forwards to it.
    async fn delete_target_group(&self, arn: &str) -> AwsResult<()>;
    /// DescribeTargetHealth.
    async fn describe_target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>>;
    /// DescribeRules of a listener (all pages).
    async fn describe_rules(&self, listener_arn: &str) -> AwsResult<Vec<Rule>>;
    /// CreateRule with a weighted forward action.
    async fn create_rule(
        &self,
        listener_arn: &str,
        priority: i32,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
        tags: &[Tag],
    ) -> AwsResult<Rule>;
    /// ModifyRule: replaces conditions and the forward action.
    async fn modify_rule(
        &self,
        rule_arn: &str,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
    ) -> AwsResult<Rule>;
    /// DeleteRule; not found counts as done.
    async fn delete_rule(&self, rule_arn: &str) -> AwsResult<()>;
    /// DescribeTags for at most 20 ARNs (rules, target groups, load balancers).
    async fn describe_tags(&self, arns: &[String]) -> AwsResult<BTreeMap<String, Vec<Tag>>>;
    /// AddListenerCertificates for one certificate.
    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()>;
    /// RemoveListenerCertificates for one certificate; not attached counts as done.
    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()>;
    /// DescribeListenerCertificates: the ARNs of the certificates on the listener.
    async fn describe_listener_certificates(&self, listener_arn: &str) -> AwsResult<Vec<String>>;
}
