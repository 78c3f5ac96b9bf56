//! Metrics of AWS calls: a layer in front of every AWS service trait that counts each call the
//! controllers make by service, operation and outcome (`cygni_aws_calls_total`) and times it
//! (`cygni_aws_call_duration_seconds`). It sits outside the client's retries (the SDK's, or
//! [`super::retry`] for the simulator), so a call counts once, with the outcome the controller
//! saw: `throttling` means AWS still throttled it after every retry.

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
use super::{AwsResult, AwsServices, Tag};
use crate::telemetry::Metrics;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// The services with every call counted in `metrics`.
pub fn with_metrics(services: AwsServices, metrics: Arc<Metrics>) -> AwsServices {
    let meter = Meter { metrics };
    AwsServices {
        ecs: Arc::new(Metered {
            inner: services.ecs,
            meter: meter.clone(),
        }),
        elbv2: Arc::new(Metered {
            inner: services.elbv2,
            meter: meter.clone(),
        }),
        route53: Arc::new(Metered {
            inner: services.route53,
            meter: meter.clone(),
        }),
        acm: Arc::new(Metered {
            inner: services.acm,
            meter: meter.clone(),
        }),
        cloudwatch: Arc::new(Metered {
            inner: services.cloudwatch,
            meter,
        }),
        region: services.region,
    }
}

/// Records calls into the operator's metrics.
#[derive(Clone)]
struct Meter {
    metrics: Arc<Metrics>,
}

impl Meter {
    /// Awaits `call` and records it as `operation` of `service`.
    async fn record<T>(
        &self,
        service: &'static str,
        operation: &'static str,
        call: impl Future<Output = AwsResult<T>>,
    ) -> AwsResult<T> {
        let start = std::time::Instant::now();
        let outcome = call.await;
        let kind = outcome.as_ref().err().map(|error| error.kind);
        self.metrics
            .aws_call(service, operation, kind, start.elapsed());
        outcome
    }
}

/// A service whose calls are counted.
struct Metered<T: ?Sized> {
    inner: Arc<T>,
    meter: Meter,
}

#[async_trait]
impl Ecs for Metered<dyn Ecs> {
    async fn register_task_definition(
        &self,
        input: &TaskDefinitionInput,
    ) -> AwsResult<TaskDefinition> {
        self.meter
            .record(
                "ecs",
                "RegisterTaskDefinition",
                self.inner.register_task_definition(input),
            )
            .await
    }
    async fn describe_task_definition(&self, arn: &str) -> AwsResult<Option<TaskDefinition>> {
        self.meter
            .record(
                "ecs",
                "DescribeTaskDefinition",
                self.inner.describe_task_definition(arn),
            )
            .await
    }
    async fn list_task_definitions(&self, family: &str) -> AwsResult<Vec<String>> {
        self.meter
            .record(
                "ecs",
                "ListTaskDefinitions",
                self.inner.list_task_definitions(family),
            )
            .await
    }
    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        self.meter
            .record(
                "ecs",
                "DeregisterTaskDefinition",
                self.inner.deregister_task_definition(arn),
            )
            .await
    }
    async fn create_service(&self, input: &ServiceInput) -> AwsResult<Service> {
        self.meter
            .record("ecs", "CreateService", self.inner.create_service(input))
            .await
    }
    async fn update_service(&self, update: &ServiceUpdate) -> AwsResult<Service> {
        self.meter
            .record("ecs", "UpdateService", self.inner.update_service(update))
            .await
    }
    async fn describe_services(&self, cluster: &str, names: &[String]) -> AwsResult<Vec<Service>> {
        self.meter
            .record(
                "ecs",
                "DescribeServices",
                self.inner.describe_services(cluster, names),
            )
            .await
    }
    async fn delete_service(&self, cluster: &str, name: &str) -> AwsResult<()> {
        self.meter
            .record(
                "ecs",
                "DeleteService",
                self.inner.delete_service(cluster, name),
            )
            .await
    }
    async fn describe_clusters(&self, clusters: &[String]) -> AwsResult<Clusters> {
        self.meter
            .record(
                "ecs",
                "DescribeClusters",
                self.inner.describe_clusters(clusters),
            )
            .await
    }
}

#[async_trait]
impl Elbv2 for Metered<dyn Elbv2> {
    async fn describe_listener(&self, arn: &str) -> AwsResult<Option<Listener>> {
        self.meter
            .record(
                "elbv2",
                "DescribeListeners",
                self.inner.describe_listener(arn),
            )
            .await
    }
    async fn describe_load_balancer(&self, arn: &str) -> AwsResult<Option<LoadBalancer>> {
        self.meter
            .record(
                "elbv2",
                "DescribeLoadBalancers",
                self.inner.describe_load_balancer(arn),
            )
            .await
    }
    async fn create_target_group(&self, input: &TargetGroupInput) -> AwsResult<TargetGroup> {
        self.meter
            .record(
                "elbv2",
                "CreateTargetGroup",
                self.inner.create_target_group(input),
            )
            .await
    }
    async fn describe_target_groups(&self, names: &[String]) -> AwsResult<Vec<TargetGroup>> {
        self.meter
            .record(
                "elbv2",
                "DescribeTargetGroups",
                self.inner.describe_target_groups(names),
            )
            .await
    }
    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &HealthCheckConfig,
    ) -> AwsResult<TargetGroup> {
        self.meter
            .record(
                "elbv2",
                "ModifyTargetGroup",
                self.inner.modify_target_group(arn, health_check),
            )
            .await
    }
    async fn delete_target_group(&self, arn: &str) -> AwsResult<()> {
        self.meter
            .record(
                "elbv2",
                "DeleteTargetGroup",
                self.inner.delete_target_group(arn),
            )
            .await
    }
    async fn describe_target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>> {
        self.meter
            .record(
                "elbv2",
                "DescribeTargetHealth",
                self.inner.describe_target_health(target_group_arn),
            )
            .await
    }
    async fn describe_rules(&self, listener_arn: &str) -> AwsResult<Vec<Rule>> {
        self.meter
            .record(
                "elbv2",
                "DescribeRules",
                self.inner.describe_rules(listener_arn),
            )
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
        self.meter
            .record(
                "elbv2",
                "CreateRule",
                self.inner
                    .create_rule(listener_arn, priority, conditions, forward, tags),
            )
            .await
    }
    async fn modify_rule(
        &self,
        rule_arn: &str,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
    ) -> AwsResult<Rule> {
        self.meter
            .record(
                "elbv2",
                "ModifyRule",
                self.inner.modify_rule(rule_arn, conditions, forward),
            )
            .await
    }
    async fn delete_rule(&self, rule_arn: &str) -> AwsResult<()> {
        self.meter
            .record("elbv2", "DeleteRule", self.inner.delete_rule(rule_arn))
            .await
    }
    async fn describe_tags(&self, arns: &[String]) -> AwsResult<BTreeMap<String, Vec<Tag>>> {
        self.meter
            .record("elbv2", "DescribeTags", self.inner.describe_tags(arns))
            .await
    }
    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        self.meter
            .record(
                "elbv2",
                "AddListenerCertificates",
                self.inner
                    .add_listener_certificate(listener_arn, certificate_arn),
            )
            .await
    }
    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        self.meter
            .record(
                "elbv2",
                "RemoveListenerCertificates",
                self.inner
                    .remove_listener_certificate(listener_arn, certificate_arn),
            )
            .await
    }
    async fn describe_listener_certificates(&self, listener_arn: &str) -> AwsResult<Vec<String>> {
        self.meter
            .record(
                "elbv2",
                "DescribeListenerCertificates",
                self.inner.describe_listener_certificates(listener_arn),
            )
            .await
    }
}

#[async_trait]
impl Route53 for Metered<dyn Route53> {
    async fn list_hosted_zones(&self) -> AwsResult<Vec<HostedZone>> {
        self.meter
            .record("route53", "ListHostedZones", self.inner.list_hosted_zones())
            .await
    }
    async fn hosted_zones_by_name(&self, dns_name: &str) -> AwsResult<Vec<HostedZone>> {
        self.meter
            .record(
                "route53",
                "ListHostedZonesByName",
                self.inner.hosted_zones_by_name(dns_name),
            )
            .await
    }
    async fn list_record_sets(&self, zone_id: &str) -> AwsResult<Vec<RecordSet>> {
        self.meter
            .record(
                "route53",
                "ListResourceRecordSets",
                self.inner.list_record_sets(zone_id),
            )
            .await
    }
    async fn change_record_sets(&self, zone_id: &str, changes: &[Change]) -> AwsResult<ChangeInfo> {
        self.meter
            .record(
                "route53",
                "ChangeResourceRecordSets",
                self.inner.change_record_sets(zone_id, changes),
            )
            .await
    }
    async fn get_change(&self, change_id: &str) -> AwsResult<ChangeInfo> {
        self.meter
            .record("route53", "GetChange", self.inner.get_change(change_id))
            .await
    }
}

#[async_trait]
impl Acm for Metered<dyn Acm> {
    async fn request_certificate(&self, request: &CertificateRequest) -> AwsResult<String> {
        self.meter
            .record(
                "acm",
                "RequestCertificate",
                self.inner.request_certificate(request),
            )
            .await
    }
    async fn describe_certificate(&self, arn: &str) -> AwsResult<Option<Certificate>> {
        self.meter
            .record(
                "acm",
                "DescribeCertificate",
                self.inner.describe_certificate(arn),
            )
            .await
    }
    async fn list_certificates(&self, domain_name: &str) -> AwsResult<Vec<CertificateSummary>> {
        self.meter
            .record(
                "acm",
                "ListCertificates",
                self.inner.list_certificates(domain_name),
            )
            .await
    }
    async fn list_tags(&self, arn: &str) -> AwsResult<Vec<Tag>> {
        self.meter
            .record("acm", "ListTagsForCertificate", self.inner.list_tags(arn))
            .await
    }
    async fn delete_certificate(&self, arn: &str) -> AwsResult<()> {
        self.meter
            .record(
                "acm",
                "DeleteCertificate",
                self.inner.delete_certificate(arn),
            )
            .await
    }
}

#[async_trait]
impl CloudWatch for Metered<dyn CloudWatch> {
    async fn get_metric_data(
        &self,
        queries: &[DataQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> AwsResult<Vec<MetricSeries>> {
        self.meter
            .record(
                "cloudwatch",
                "GetMetricData",
                self.inner.get_metric_data(queries, start, end),
            )
            .await
    }
    async fn describe_alarms(&self, names: &[String]) -> AwsResult<Vec<AlarmState>> {
        self.meter
            .record(
                "cloudwatch",
                "DescribeAlarms",
                self.inner.describe_alarms(names),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::aws::{AwsSim, Faults, SimConfig, SimService};

    #[tokio::test]
    async fn each_call_is_counted_by_service_operation_and_outcome() {
        let metrics = Arc::new(Metrics::default());
        let sim = AwsSim::new(SimConfig::default());
        let aws = with_metrics(sim.services(), metrics.clone());
        aws.route53
            .list_hosted_zones()
            .await
            .expect("an unthrottled call succeeds");
        let missing = aws
            .ecs
            .describe_services("nowhere", &["web-a".to_string()])
            .await;
        assert!(missing.is_err(), "the cluster does not exist");
        sim.set_faults(SimService::Route53, Faults::throttling(1.0));
        let throttled = aws.route53.list_hosted_zones().await;
        assert!(throttled.is_err(), "every Route53 call is throttled");

        let text = metrics.render();
        for line in [
            r#"cygni_aws_calls_total{service="route53",operation="ListHostedZones",outcome="ok"} 1"#,
            r#"cygni_aws_calls_total{service="ecs",operation="DescribeServices",outcome="not_found"} 1"#,
            r#"cygni_aws_calls_total{service="route53",operation="ListHostedZones",outcome="throttling"} 1"#,
            r#"cygni_aws_call_duration_seconds_count{service="route53"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
