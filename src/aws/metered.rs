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

/// Implements `$trait` for `Metered<dyn $trait>`: each method forwards to the inner service
/// through [`Meter::record`] under the AWS operation name given after `=`.
macro_rules! metered {
    (
        $trait:ident, $service:literal;
        $(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $operation:literal;)*
    ) => {
        #[async_trait]
        impl $trait for Metered<dyn $trait> {
            $(async fn $name(&self, $($arg: $ty),*) -> $ret {
                self.meter
                    .record($service, $operation, self.inner.$name($($arg),*))
                    .await
            })*
        }
    };
}

metered! {
    Ecs, "ecs";
    fn register_task_definition(input: &TaskDefinitionInput)
        -> AwsResult<TaskDefinition> = "RegisterTaskDefinition";
    fn describe_task_definition(arn: &str)
        -> AwsResult<Option<TaskDefinition>> = "DescribeTaskDefinition";
    fn list_task_definitions(family: &str) -> AwsResult<Vec<String>> = "ListTaskDefinitions";
    fn deregister_task_definition(arn: &str) -> AwsResult<()> = "DeregisterTaskDefinition";
    fn create_service(input: &ServiceInput) -> AwsResult<Service> = "CreateService";
    fn update_service(update: &ServiceUpdate) -> AwsResult<Service> = "UpdateService";
    fn describe_services(cluster: &str, names: &[String])
        -> AwsResult<Vec<Service>> = "DescribeServices";
    fn delete_service(cluster: &str, name: &str) -> AwsResult<()> = "DeleteService";
    fn describe_clusters(clusters: &[String]) -> AwsResult<Clusters> = "DescribeClusters";
}

metered! {
    Elbv2, "elbv2";
    fn describe_listener(arn: &str) -> AwsResult<Option<Listener>> = "DescribeListeners";
    fn describe_load_balancer(arn: &str)
        -> AwsResult<Option<LoadBalancer>> = "DescribeLoadBalancers";
    fn create_target_group(input: &TargetGroupInput)
        -> AwsResult<TargetGroup> = "CreateTargetGroup";
    fn describe_target_groups(names: &[String])
        -> AwsResult<Vec<TargetGroup>> = "DescribeTargetGroups";
    fn modify_target_group(arn: &str, health_check: &HealthCheckConfig)
        -> AwsResult<TargetGroup> = "ModifyTargetGroup";
    fn delete_target_group(arn: &str) -> AwsResult<()> = "DeleteTargetGroup";
    fn describe_target_health(target_group_arn: &str)
        -> AwsResult<Vec<TargetHealth>> = "DescribeTargetHealth";
    fn describe_rules(listener_arn: &str) -> AwsResult<Vec<Rule>> = "DescribeRules";
    fn create_rule(
        listener_arn: &str,
        priority: i32,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
        tags: &[Tag],
    ) -> AwsResult<Rule> = "CreateRule";
    fn modify_rule(rule_arn: &str, conditions: &RuleConditions, forward: &[WeightedTarget])
        -> AwsResult<Rule> = "ModifyRule";
    fn delete_rule(rule_arn: &str) -> AwsResult<()> = "DeleteRule";
    fn describe_tags(arns: &[String]) -> AwsResult<BTreeMap<String, Vec<Tag>>> = "DescribeTags";
    fn add_listener_certificate(listener_arn: &str, certificate_arn: &str)
        -> AwsResult<()> = "AddListenerCertificates";
    fn remove_listener_certificate(listener_arn: &str, certificate_arn: &str)
        -> AwsResult<()> = "RemoveListenerCertificates";
    fn describe_listener_certificates(listener_arn: &str)
        -> AwsResult<Vec<String>> = "DescribeListenerCertificates";
}

metered! {
    Route53, "route53";
    fn list_hosted_zones() -> AwsResult<Vec<HostedZone>> = "ListHostedZones";
    fn hosted_zones_by_name(dns_name: &str) -> AwsResult<Vec<HostedZone>> = "ListHostedZonesByName";
    fn list_record_sets(zone_id: &str) -> AwsResult<Vec<RecordSet>> = "ListResourceRecordSets";
    fn change_record_sets(zone_id: &str, changes: &[Change])
        -> AwsResult<ChangeInfo> = "ChangeResourceRecordSets";
    fn get_change(change_id: &str) -> AwsResult<ChangeInfo> = "GetChange";
}

metered! {
    Acm, "acm";
    fn request_certificate(request: &CertificateRequest)
        -> AwsResult<String> = "RequestCertificate";
    fn describe_certificate(arn: &str) -> AwsResult<Option<Certificate>> = "DescribeCertificate";
    fn list_certificates(domain_name: &str)
        -> AwsResult<Vec<CertificateSummary>> = "ListCertificates";
    fn list_tags(arn: &str) -> AwsResult<Vec<Tag>> = "ListTagsForCertificate";
    fn delete_certificate(arn: &str) -> AwsResult<()> = "DeleteCertificate";
}

metered! {
    CloudWatch, "cloudwatch";
    fn get_metric_data(queries: &[DataQuery], start: jiff::Timestamp, end: jiff::Timestamp)
        -> AwsResult<Vec<MetricSeries>> = "GetMetricData";
    fn describe_alarms(names: &[String]) -> AwsResult<Vec<AlarmState>> = "DescribeAlarms";
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
