//! The calls of each AWS service trait, listed once. A layer that wraps every call of every
//! service (metrics, retries) is a macro written for one trait and applied to all of them with
//! [`for_each_service!`], so a call added to a trait and to this list reaches every layer, and a
//! call added to a trait alone fails the build.

/// Invokes `$layer!` once per AWS service trait, with the trait, the service's name in metrics,
/// and each call as `fn name(args) -> result = "AwsOperation";`. The impls the layer writes sit in
/// an anonymous const block that imports the traits and their types.
macro_rules! for_each_service {
    ($layer:ident) => {
        const _: () = {
            use std::collections::BTreeMap;
            use $crate::aws::acm::{Acm, Certificate, CertificateRequest, CertificateSummary};
            use $crate::aws::cloudwatch::{AlarmState, CloudWatch, DataQuery, MetricSeries};
            use $crate::aws::ecs::{
                Clusters, Ecs, Service, ServiceInput, ServiceUpdate, TaskDefinition,
                TaskDefinitionInput,
            };
            use $crate::aws::elbv2::{
                Elbv2, HealthCheckConfig, Listener, LoadBalancer, Rule, RuleConditions,
                TargetGroup, TargetGroupInput, TargetHealth, WeightedTarget,
            };
            use $crate::aws::route53::{Change, ChangeInfo, HostedZone, RecordSet, Route53};
            use $crate::aws::{AwsResult, Tag};

            $layer! {
                Ecs, "ecs";
                fn register_task_definition(input: &TaskDefinitionInput)
                    -> AwsResult<TaskDefinition> = "RegisterTaskDefinition";
                fn describe_task_definition(arn: &str)
                    -> AwsResult<Option<TaskDefinition>> = "DescribeTaskDefinition";
                fn list_task_definitions(family: &str)
                    -> AwsResult<Vec<String>> = "ListTaskDefinitions";
                fn deregister_task_definition(arn: &str)
                    -> AwsResult<()> = "DeregisterTaskDefinition";
                fn create_service(input: &ServiceInput) -> AwsResult<Service> = "CreateService";
                fn update_service(update: &ServiceUpdate) -> AwsResult<Service> = "UpdateService";
                fn describe_services(cluster: &str, names: &[String])
                    -> AwsResult<Vec<Service>> = "DescribeServices";
                fn delete_service(cluster: &str, name: &str) -> AwsResult<()> = "DeleteService";
                fn describe_clusters(clusters: &[String])
                    -> AwsResult<Clusters> = "DescribeClusters";
            }
            $layer! {
                Elbv2, "elbv2";
                fn describe_listener(arn: &str)
                    -> AwsResult<Option<Listener>> = "DescribeListeners";
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
                fn modify_rule(
                    rule_arn: &str,
                    conditions: &RuleConditions,
                    forward: &[WeightedTarget],
                ) -> AwsResult<Rule> = "ModifyRule";
                fn delete_rule(rule_arn: &str) -> AwsResult<()> = "DeleteRule";
                fn describe_tags(arns: &[String])
                    -> AwsResult<BTreeMap<String, Vec<Tag>>> = "DescribeTags";
                fn add_listener_certificate(listener_arn: &str, certificate_arn: &str)
                    -> AwsResult<()> = "AddListenerCertificates";
                fn remove_listener_certificate(listener_arn: &str, certificate_arn: &str)
                    -> AwsResult<()> = "RemoveListenerCertificates";
                fn describe_listener_certificates(listener_arn: &str)
                    -> AwsResult<Vec<String>> = "DescribeListenerCertificates";
            }
            $layer! {
                Route53, "route53";
                fn list_hosted_zones() -> AwsResult<Vec<HostedZone>> = "ListHostedZones";
                fn hosted_zones_by_name(dns_name: &str)
                    -> AwsResult<Vec<HostedZone>> = "ListHostedZonesByName";
                fn list_record_sets(zone_id: &str)
                    -> AwsResult<Vec<RecordSet>> = "ListResourceRecordSets";
                fn change_record_sets(zone_id: &str, changes: &[Change])
                    -> AwsResult<ChangeInfo> = "ChangeResourceRecordSets";
                fn get_change(change_id: &str) -> AwsResult<ChangeInfo> = "GetChange";
            }
            $layer! {
                Acm, "acm";
                fn request_certificate(request: &CertificateRequest)
                    -> AwsResult<String> = "RequestCertificate";
                fn describe_certificate(arn: &str)
                    -> AwsResult<Option<Certificate>> = "DescribeCertificate";
                fn list_certificates(domain_name: &str)
                    -> AwsResult<Vec<CertificateSummary>> = "ListCertificates";
                fn list_tags(arn: &str) -> AwsResult<Vec<Tag>> = "ListTagsForCertificate";
                fn delete_certificate(arn: &str) -> AwsResult<()> = "DeleteCertificate";
            }
            $layer! {
                CloudWatch, "cloudwatch";
                fn get_metric_data(
                    queries: &[DataQuery],
                    start: jiff::Timestamp,
                    end: jiff::Timestamp,
                ) -> AwsResult<Vec<MetricSeries>> = "GetMetricData";
                fn describe_alarms(names: &[String])
                    -> AwsResult<Vec<AlarmState>> = "DescribeAlarms";
            }
        };
    };
}

pub(crate) use for_each_service;
