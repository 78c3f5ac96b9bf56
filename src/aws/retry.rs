//! Client-side retries for AWS services that have no SDK underneath: the AWS SDK retries
//! throttling, 5xx and timeouts itself (standard mode, 5 attempts, exponential backoff with full
//! jitter), so the simulator, which sits behind the same traits, gets the same policy from this
//! layer. Tests and the playground then see the client behaviour production has.

use super::acm::{Acm, Certificate, CertificateRequest, CertificateSummary};
use super::cloudwatch::{AlarmState, CloudWatch, DataQuery, MetricSeries};
use super::ecs::{
    Clusters, Ecs, Service, ServiceInput, ServiceUpdate, TaskDefinition, TaskDefinitionInput,
};
use super::elbv2::{
    Elbv2, HealthCheckConfig, Listener, LoadBalancer, Rule, RuleConditions, TargetGroup,
    TargetGroupInput, TargetHealth, WeightedTarget,
};
use super::route53::{Change, ChangeInfo, HostedZone, RecordSet, Route53};
use super::{AwsErrorKind, AwsResult, AwsServices, Tag};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The retry policy: attempts in all, and the backoff bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts including the first.
    pub max_attempts: u32,
    /// Backoff before the second attempt, before jitter; doubles each time.
    pub base: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// The AWS SDK's standard mode as the operator configures it: 5 attempts, 1s base doubling to
    /// 20s at most, with full jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` (1-based `attempt`), given a random `jitter` in [0, 1).
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.min(self.max_backoff).mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Runs `call`, retrying the errors that a retry can fix.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> AwsResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Err(error) if attempt < self.max_attempts && retryable(error.kind) => {
                    tokio::time::sleep(self.backoff(attempt, rand::random::<f64>())).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

/// Errors the AWS SDK's standard retry mode retries.
fn retryable(kind: AwsErrorKind) -> bool {
    matches!(
        kind,
        AwsErrorKind::Throttling | AwsErrorKind::ServerError | AwsErrorKind::Timeout
    )
}

/// The services with every call retried by `policy`.
pub fn with_retries(services: AwsServices, policy: RetryPolicy) -> AwsServices {
    AwsServices {
        ecs: Arc::new(Retrying {
            inner: services.ecs,
            policy,
        }),
        elbv2: Arc::new(Retrying {
            inner: services.elbv2,
            policy,
        }),
        route53: Arc::new(Retrying {
            inner: services.route53,
            policy,
        }),
        acm: Arc::new(Retrying {
            inner: services.acm,
            policy,
        }),
        cloudwatch: Arc::new(Retrying {
            inner: services.cloudwatch,
            policy,
        }),
        region: services.region,
    }
}

/// A service whose calls are retried.
struct Retrying<T: ?Sized> {
    inner: Arc<T>,
    policy: RetryPolicy,
}

#[async_trait]
impl Ecs for Retrying<dyn Ecs> {
    async fn register_task_definition(
        &self,
        input: &TaskDefinitionInput,
    ) -> AwsResult<TaskDefinition> {
        self.policy
            .run(|| self.inner.register_task_definition(input))
            .await
    }
    async fn describe_task_definition(&self, arn: &str) -> AwsResult<Option<TaskDefinition>> {
        self.policy
            .run(|| self.inner.describe_task_definition(arn))
            .await
    }
    async fn list_task_definitions(&self, family: &str) -> AwsResult<Vec<String>> {
        self.policy
            .run(|| self.inner.list_task_definitions(family))
            .await
    }
    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        self.policy
            .run(|| self.inner.deregister_task_definition(arn))
            .await
    }
    async fn create_service(&self, input: &ServiceInput) -> AwsResult<Service> {
        self.policy.run(|| self.inner.create_service(input)).await
    }
    async fn update_service(&self, update: &ServiceUpdate) -> AwsResult<Service> {
        self.policy.run(|| self.inner.update_service(update)).await
    }
    async fn describe_services(&self, cluster: &str, names: &[String]) -> AwsResult<Vec<Service>> {
        self.policy
            .run(|| self.inner.describe_services(cluster, names))
            .await
    }
    async fn delete_service(&self, cluster: &str, name: &str) -> AwsResult<()> {
        self.policy
            .run(|| self.inner.delete_service(cluster, name))
            .await
    }
    async fn describe_clusters(&self, clusters: &[String]) -> AwsResult<Clusters> {
        self.policy
            .run(|| self.inner.describe_clusters(clusters))
            .await
    }
}

#[async_trait]
impl Elbv2 for Retrying<dyn Elbv2> {
    async fn describe_listener(&self, arn: &str) -> AwsResult<Option<Listener>> {
        self.policy.run(|| self.inner.describe_listener(arn)).await
    }
    async fn describe_load_balancer(&self, arn: &str) -> AwsResult<Option<LoadBalancer>> {
        self.policy
            .run(|| self.inner.describe_load_balancer(arn))
            .await
    }
    async fn create_target_group(&self, input: &TargetGroupInput) -> AwsResult<TargetGroup> {
        self.policy
            .run(|| self.inner.create_target_group(input))
            .await
    }
    async fn describe_target_groups(&self, names: &[String]) -> AwsResult<Vec<TargetGroup>> {
        self.policy
            .run(|| self.inner.describe_target_groups(names))
            .await
    }
    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &HealthCheckConfig,
    ) -> AwsResult<TargetGroup> {
        self.policy
            .run(|| self.inner.modify_target_group(arn, health_check))
            .await
    }
    async fn delete_target_group(&self, arn: &str) -> AwsResult<()> {
        self.policy
            .run(|| self.inner.delete_target_group(arn))
            .await
    }
    async fn describe_target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>> {
        self.policy
            .run(|| self.inner.describe_target_health(target_group_arn))
            .await
    }
    async fn describe_rules(&self, listener_arn: &str) -> AwsResult<Vec<Rule>> {
        self.policy
            .run(|| self.inner.describe_rules(listener_arn))
            .await
    }
    async fn create_rule(
        &self,
        listener_arn: &str,
        priority: i32,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
        tags: &[Tag],
    ) -> AwsResult<Rule> {
        self.policy
            .run(|| {
                self.inner
                    .create_rule(listener_arn, priority, conditions, forward, tags)
            })
            .await
    }
    async fn modify_rule(
        &self,
        rule_arn: &str,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
    ) -> AwsResult<Rule> {
        self.policy
            .run(|| self.inner.modify_rule(rule_arn, conditions, forward))
            .await
    }
    async fn delete_rule(&self, rule_arn: &str) -> AwsResult<()> {
        self.policy.run(|| self.inner.delete_rule(rule_arn)).await
    }
    async fn describe_tags(&self, arns: &[String]) -> AwsResult<BTreeMap<String, Vec<Tag>>> {
        self.policy.run(|| self.inner.describe_tags(arns)).await
    }
    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        self.policy
            .run(|| {
                self.inner
                    .add_listener_certificate(listener_arn, certificate_arn)
            })
            .await
    }
    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        self.policy
            .run(|| {
                self.inner
                    .remove_listener_certificate(listener_arn, certificate_arn)
            })
            .await
    }
    async fn describe_listener_certificates(&self, listener_arn: &str) -> AwsResult<Vec<String>> {
        self.policy
            .run(|| self.inner.describe_listener_certificates(listener_arn))
            .await
    }
}

#[async_trait]
impl Route53 for Retrying<dyn Route53> {
    async fn list_hosted_zones(&self) -> AwsResult<Vec<HostedZone>> {
        self.policy.run(|| self.inner.list_hosted_zones()).await
    }
    async fn hosted_zones_by_name(&self, dns_name: &str) -> AwsResult<Vec<HostedZone>> {
        self.policy
            .run(|| self.inner.hosted_zones_by_name(dns_name))
            .await
    }
    async fn list_record_sets(&self, zone_id: &str) -> AwsResult<Vec<RecordSet>> {
        self.policy
            .run(|| self.inner.list_record_sets(zone_id))
            .await
    }
    async fn change_record_sets(&self, zone_id: &str, changes: &[Change]) -> AwsResult<ChangeInfo> {
        self.policy
            .run(|| self.inner.change_record_sets(zone_id, changes))
            .await
    }
    async fn get_change(&self, change_id: &str) -> AwsResult<ChangeInfo> {
        self.policy.run(|| self.inner.get_change(change_id)).await
    }
}

#[async_trait]
impl Acm for Retrying<dyn Acm> {
    async fn request_certificate(&self, request: &CertificateRequest) -> AwsResult<String> {
        self.policy
            .run(|| self.inner.request_certificate(request))
            .await
    }
    async fn describe_certificate(&self, arn: &str) -> AwsResult<Option<Certificate>> {
        self.policy
            .run(|| self.inner.describe_certificate(arn))
            .await
    }
    async fn list_certificates(&self, domain_name: &str) -> AwsResult<Vec<CertificateSummary>> {
        self.policy
            .run(|| self.inner.list_certificates(domain_name))
            .await
    }
    async fn list_tags(&self, arn: &str) -> AwsResult<Vec<Tag>> {
        self.policy.run(|| self.inner.list_tags(arn)).await
    }
    async fn delete_certificate(&self, arn: &str) -> AwsResult<()> {
        self.policy.run(|| self.inner.delete_certificate(arn)).await
    }
}

#[async_trait]
impl CloudWatch for Retrying<dyn CloudWatch> {
    async fn get_metric_data(
        &self,
        queries: &[DataQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> AwsResult<Vec<MetricSeries>> {
        self.policy
            .run(|| self.inner.get_metric_data(queries, start, end))
            .await
    }
    async fn describe_alarms(&self, names: &[String]) -> AwsResult<Vec<AlarmState>> {
        self.policy.run(|| self.inner.describe_alarms(names)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsError;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    fn failing(kind: AwsErrorKind, times: u32, calls: &AtomicU32) -> AwsResult<u32> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        if n < times {
            Err(AwsError::new(
                "ecs",
                "DescribeServices",
                kind,
                "Code",
                "message",
            ))
        } else {
            Ok(n)
        }
    }

    #[tokio::test]
    async fn throttling_is_retried_until_it_passes() {
        let calls = AtomicU32::new(0);
        let outcome = fast()
            .run(|| async { failing(AwsErrorKind::Throttling, 3, &calls) })
            .await;
        assert_eq!(outcome, Ok(3));
    }

    #[tokio::test]
    async fn retries_stop_after_the_last_attempt() {
        let calls = AtomicU32::new(0);
        let outcome = fast()
            .run(|| async { failing(AwsErrorKind::ServerError, 10, &calls) })
            .await;
        assert!(outcome.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn invalid_requests_are_not_retried() {
        let calls = AtomicU32::new(0);
        let outcome = fast()
            .run(|| async { failing(AwsErrorKind::InvalidRequest, 10, &calls) })
            .await;
        assert!(outcome.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_scales_it() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_secs(4));
        assert_eq!(policy.backoff(9, 1.0), Duration::from_secs(20));
        assert_eq!(policy.backoff(3, 0.5), Duration::from_secs(2));
    }
}
