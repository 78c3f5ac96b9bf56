//! [`Elbv2`] over the AWS SDK: HTTP target groups of target type `ip`, listener rules whose one
//! action is a weighted forward (`ForwardConfig` with `TargetGroupTuples`, stickiness off), the
//! listener and its load balancer, target health, tags and certificates on the listener.
//!
//! Not found: unknown listeners and load balancers are `None`; DescribeTargetGroups fails as a
//! whole when one name is unknown, so the adapter then asks name by name and leaves the unknown
//! ones out; `TargetGroupNotFound` and `RuleNotFound` on delete, and `CertificateNotFound` or
//! `ListenerNotFound` on removing a certificate, are done.

use super::RateLimit;
use super::error::{failed, missing_field};
use crate::aws::elbv2::{
    Elbv2, HealthCheckConfig, Listener, LoadBalancer, Rule, RuleConditions, TargetGroup,
    TargetGroupInput, TargetHealth, TargetState, WeightedTarget,
};
use crate::aws::{AwsErrorKind, AwsResult, Tag};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    self as sdk, Action, ActionTypeEnum, Certificate, ForwardActionConfig,
    HostHeaderConditionConfig, IpAddressType, Matcher, PathPatternConditionConfig, ProtocolEnum,
    RuleCondition, TargetGroupStickinessConfig, TargetGroupTuple, TargetHealthStateEnum,
    TargetTypeEnum,
};
use std::collections::BTreeMap;

/// Service name in errors.
const SERVICE: &str = "elbv2";
/// Default client-side rate for Elastic Load Balancing v2.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;
/// DescribeTags takes at most this many ARNs per call.
const DESCRIBE_TAGS_BATCH: usize = 20;
/// The value of `HealthCheckPort` that means "the traffic port".
const TRAFFIC_PORT: &str = "traffic-port";

/// Elastic Load Balancing v2 through the SDK, with a client-side rate limit.
#[derive(Clone, Debug)]
pub struct SdkElbv2 {
    client: Client,
    rate: RateLimit,
}

impl SdkElbv2 {
    /// The adapter with the default rate ([`DEFAULT_REQUESTS_PER_SECOND`]).
    pub fn new(client: Client) -> Self {
        Self::with_rate_limit(client, RateLimit::per_second(DEFAULT_REQUESTS_PER_SECOND))
    }

    /// The adapter with the given rate limit.
    pub fn with_rate_limit(client: Client, rate: RateLimit) -> Self {
        SdkElbv2 { client, rate }
    }

    /// One DescribeTargetGroups by names, all pages.
    async fn target_groups_named(&self, names: &[String]) -> AwsResult<Vec<TargetGroup>> {
        const OP: &str = "DescribeTargetGroups";
        let mut groups = Vec::new();
        let mut marker = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .describe_target_groups()
                .set_names(Some(names.to_vec()))
                .set_marker(marker)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            groups.extend(output.target_groups().iter().map(target_group_from_sdk));
            marker = output.next_marker;
            if marker.is_none() {
                return Ok(groups);
            }
        }
    }

    /// One DescribeTargetGroups by ARN; `None` when unknown.
    async fn target_group(
        &self,
        arn: &str,
        operation: &'static str,
    ) -> AwsResult<Option<TargetGroup>> {
        self.rate.acquire().await;
        match self
            .client
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .map_err(failed(SERVICE, operation))
        {
            Ok(output) => Ok(output.target_groups().first().map(target_group_from_sdk)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }
}

fn sdk_tags(tags: &[Tag]) -> Option<Vec<sdk::Tag>> {
    let tags: Vec<sdk::Tag> = tags
        .iter()
        .map(|tag| sdk::Tag::builder().key(&tag.key).value(&tag.value).build())
        .collect();
    (!tags.is_empty()).then_some(tags)
}

fn health_check_from_sdk(group: &sdk::TargetGroup) -> HealthCheckConfig {
    HealthCheckConfig {
        path: group.health_check_path().unwrap_or_default().to_owned(),
        port: group
            .health_check_port()
            .filter(|port| *port != TRAFFIC_PORT)
            .and_then(|port| port.parse().ok()),
        interval_seconds: group.health_check_interval_seconds().unwrap_or_default(),
        timeout_seconds: group.health_check_timeout_seconds().unwrap_or_default(),
        healthy_threshold: group.healthy_threshold_count().unwrap_or_default(),
        unhealthy_threshold: group.unhealthy_threshold_count().unwrap_or_default(),
        matcher: group
            .matcher()
            .and_then(Matcher::http_code)
            .unwrap_or_default()
            .to_owned(),
    }
}

fn target_group_from_sdk(group: &sdk::TargetGroup) -> TargetGroup {
    TargetGroup {
        arn: group.target_group_arn().unwrap_or_default().to_owned(),
        name: group.target_group_name().unwrap_or_default().to_owned(),
        port: group.port().unwrap_or_default(),
        vpc_id: group.vpc_id().unwrap_or_default().to_owned(),
        health_check: health_check_from_sdk(group),
        load_balancer_arns: group.load_balancer_arns().to_vec(),
    }
}

fn health_check_port(health_check: &HealthCheckConfig) -> String {
    health_check
        .port
        .map_or_else(|| TRAFFIC_PORT.to_owned(), |port| port.to_string())
}

fn conditions_to_sdk(conditions: &RuleConditions) -> Vec<RuleCondition> {
    let mut sdk_conditions = Vec::new();
    if !conditions.host_headers.is_empty() {
        sdk_conditions.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .set_values(Some(conditions.host_headers.clone()))
                        .build(),
                )
                .build(),
        );
    }
    if !conditions.path_patterns.is_empty() {
        sdk_conditions.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(conditions.path_patterns.clone()))
                        .build(),
                )
                .build(),
        );
    }
    sdk_conditions
}

fn conditions_from_sdk(conditions: &[RuleCondition]) -> RuleConditions {
    let mut result = RuleConditions::default();
    for condition in conditions {
        // The typed config is the current form; `Values` is the legacy one some answers still use.
        match condition.field() {
            Some("host-header") => result.host_headers.extend(
                condition
                    .host_header_config()
                    .map(HostHeaderConditionConfig::values)
                    .filter(|values| !values.is_empty())
                    .unwrap_or(condition.values())
                    .iter()
                    .cloned(),
            ),
            Some("path-pattern") => result.path_patterns.extend(
                condition
                    .path_pattern_config()
                    .map(PathPatternConditionConfig::values)
                    .filter(|values| !values.is_empty())
                    .unwrap_or(condition.values())
                    .iter()
                    .cloned(),
            ),
            _ => {}
        }
    }
    result
}

/// The one forward action: weighted target groups, stickiness off.
fn forward_action(forward: &[WeightedTarget]) -> Action {
    let tuples = forward
        .iter()
        .map(|target| {
            TargetGroupTuple::builder()
                .target_group_arn(&target.target_group_arn)
                .weight(target.weight)
                .build()
        })
        .collect();
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .order(1)
        .forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(tuples))
                .target_group_stickiness_config(
                    TargetGroupStickinessConfig::builder()
                        .enabled(false)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn forward_from_sdk(actions: &[Action]) -> Vec<WeightedTarget> {
    let Some(action) = actions
        .iter()
        .find(|action| action.r#type() == Some(&ActionTypeEnum::Forward))
    else {
        return Vec::new();
    };
    let tuples = action
        .forward_config()
        .map(ForwardActionConfig::target_groups)
        .unwrap_or_default();
    if tuples.is_empty() {
        // The legacy single-target form: all traffic to one group.
        return action
            .target_group_arn()
            .map(|arn| {
                vec![WeightedTarget {
                    target_group_arn: arn.to_owned(),
                    weight: 1,
                }]
            })
            .unwrap_or_default();
    }
    tuples
        .iter()
        .filter_map(|tuple| {
            Some(WeightedTarget {
                target_group_arn: tuple.target_group_arn()?.to_owned(),
                // A tuple without a weight has ELB's default weight, 1.
                weight: tuple.weight().unwrap_or(1),
            })
        })
        .collect()
}

fn rule_from_sdk(rule: &sdk::Rule) -> Rule {
    Rule {
        arn: rule.rule_arn().unwrap_or_default().to_owned(),
        priority: rule.priority().and_then(|priority| priority.parse().ok()),
        conditions: conditions_from_sdk(rule.conditions()),
        forward: forward_from_sdk(rule.actions()),
    }
}

fn target_state(state: Option<&TargetHealthStateEnum>) -> TargetState {
    match state {
        Some(TargetHealthStateEnum::Initial) => TargetState::Initial,
        Some(TargetHealthStateEnum::Healthy) => TargetState::Healthy,
        // `unhealthy.draining`: failing its checks while connections drain; it is failing.
        Some(TargetHealthStateEnum::Unhealthy | TargetHealthStateEnum::UnhealthyDraining) => {
            TargetState::Unhealthy
        }
        Some(TargetHealthStateEnum::Unused) => TargetState::Unused,
        Some(TargetHealthStateEnum::Draining) => TargetState::Draining,
        _ => TargetState::Unavailable,
    }
}

fn one_rule(output_rules: &[sdk::Rule], operation: &'static str) -> AwsResult<Rule> {
    output_rules
        .first()
        .map(rule_from_sdk)
        .ok_or_else(|| missing_field(SERVICE, operation, "Rules"))
}

#[async_trait]
impl Elbv2 for SdkElbv2 {
    async fn describe_listener(&self, arn: &str) -> AwsResult<Option<Listener>> {
        const OP: &str = "DescribeListeners";
        self.rate.acquire().await;
        let output = match self
            .client
            .describe_listeners()
            .listener_arns(arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(output) => output,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        Ok(output.listeners().first().map(|listener| Listener {
            arn: listener.listener_arn().unwrap_or_default().to_owned(),
            load_balancer_arn: listener.load_balancer_arn().unwrap_or_default().to_owned(),
            port: listener.port().unwrap_or_default(),
            protocol: listener
                .protocol()
                .map(|protocol| protocol.as_str().to_owned())
                .unwrap_or_default(),
        }))
    }

    async fn describe_load_balancer(&self, arn: &str) -> AwsResult<Option<LoadBalancer>> {
        const OP: &str = "DescribeLoadBalancers";
        self.rate.acquire().await;
        let output = match self
            .client
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(output) => output,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        Ok(output
            .load_balancers()
            .first()
            .map(|balancer| LoadBalancer {
                arn: balancer.load_balancer_arn().unwrap_or_default().to_owned(),
                dns_name: balancer.dns_name().unwrap_or_default().to_owned(),
                canonical_hosted_zone_id: balancer
                    .canonical_hosted_zone_id()
                    .unwrap_or_default()
                    .to_owned(),
                vpc_id: balancer.vpc_id().unwrap_or_default().to_owned(),
                dual_stack: balancer.ip_address_type().is_some_and(|t| {
                    matches!(
                        t,
                        IpAddressType::Dualstack | IpAddressType::DualstackWithoutPublicIpv4
                    )
                }),
            }))
    }

    async fn create_target_group(&self, input: &TargetGroupInput) -> AwsResult<TargetGroup> {
        const OP: &str = "CreateTargetGroup";
        let health = &input.health_check;
        self.rate.acquire().await;
        let result = self
            .client
            .create_target_group()
            .name(&input.name)
            .protocol(ProtocolEnum::Http)
            .port(input.port)
            .vpc_id(&input.vpc_id)
            .target_type(TargetTypeEnum::Ip)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&health.path)
            .health_check_port(health_check_port(health))
            .health_check_interval_seconds(health.interval_seconds)
            .health_check_timeout_seconds(health.timeout_seconds)
            .healthy_threshold_count(health.healthy_threshold)
            .unhealthy_threshold_count(health.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&health.matcher).build())
            .set_tags(sdk_tags(&input.tags))
            .send()
            .await
            .map_err(failed(SERVICE, OP));
        match result {
            Ok(output) => output
                .target_groups()
                .first()
                .map(target_group_from_sdk)
                .ok_or_else(|| missing_field(SERVICE, OP, "TargetGroups")),
            // AWS itself returns the existing group when the settings match; an emulator may not.
            // Either way the existing group is the answer only when it matches what was asked.
            Err(err) if err.kind == AwsErrorKind::AlreadyExists => {
                let existing = self
                    .target_groups_named(std::slice::from_ref(&input.name))
                    .await?;
                match existing.into_iter().next() {
                    Some(group)
                        if group.port == input.port
                            && group.vpc_id == input.vpc_id
                            && group.health_check == input.health_check =>
                    {
                        Ok(group)
                    }
                    _ => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    async fn describe_target_groups(&self, names: &[String]) -> AwsResult<Vec<TargetGroup>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        match self.target_groups_named(names).await {
            Ok(groups) => Ok(groups),
            // One unknown name fails the whole call: ask one by one and leave the unknown out.
            Err(err) if err.is_not_found() => {
                let mut groups = Vec::new();
                for name in names {
                    match self.target_groups_named(std::slice::from_ref(name)).await {
                        Ok(found) => groups.extend(found),
                        Err(err) if err.is_not_found() => {}
                        Err(err) => return Err(err),
                    }
                }
                Ok(groups)
            }
            Err(err) => Err(err),
        }
    }

    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &HealthCheckConfig,
    ) -> AwsResult<TargetGroup> {
        const OP: &str = "ModifyTargetGroup";
        self.rate.acquire().await;
        let output = self
            .client
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&health_check.path)
            .health_check_port(health_check_port(health_check))
            .health_check_interval_seconds(health_check.interval_seconds)
            .health_check_timeout_seconds(health_check.timeout_seconds)
            .healthy_threshold_count(health_check.healthy_threshold)
            .unhealthy_threshold_count(health_check.unhealthy_threshold)
            .matcher(Matcher::builder().http_code(&health_check.matcher).build())
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        match output.target_groups().first() {
            Some(group) => Ok(target_group_from_sdk(group)),
            None => self
                .target_group(arn, OP)
                .await?
                .ok_or_else(|| missing_field(SERVICE, OP, "TargetGroups")),
        }
    }

    async fn delete_target_group(&self, arn: &str) -> AwsResult<()> {
        const OP: &str = "DeleteTargetGroup";
        self.rate.acquire().await;
        match self
            .client
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(_) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn describe_target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>> {
        const OP: &str = "DescribeTargetHealth";
        self.rate.acquire().await;
        let output = self
            .client
            .describe_target_health()
            .target_group_arn(target_group_arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(output
            .target_health_descriptions()
            .iter()
            .filter_map(|description| {
                let target = description.target()?;
                let health = description.target_health();
                Some(TargetHealth {
                    id: target.id().unwrap_or_default().to_owned(),
                    port: target.port().unwrap_or_default(),
                    state: target_state(health.and_then(sdk::TargetHealth::state)),
                    reason: health
                        .and_then(sdk::TargetHealth::reason)
                        .map(|reason| reason.as_str().to_owned()),
                })
            })
            .collect())
    }

    async fn describe_rules(&self, listener_arn: &str) -> AwsResult<Vec<Rule>> {
        const OP: &str = "DescribeRules";
        let mut rules = Vec::new();
        let mut marker = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .describe_rules()
                .listener_arn(listener_arn)
                .set_marker(marker)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            rules.extend(output.rules().iter().map(rule_from_sdk));
            marker = output.next_marker;
            if marker.is_none() {
                return Ok(rules);
            }
        }
    }

    async fn create_rule(
        &self,
        listener_arn: &str,
        priority: i32,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
        tags: &[Tag],
    ) -> AwsResult<Rule> {
        const OP: &str = "CreateRule";
        self.rate.acquire().await;
        let output = self
            .client
            .create_rule()
            .listener_arn(listener_arn)
            .priority(priority)
            .set_conditions(Some(conditions_to_sdk(conditions)))
            .actions(forward_action(forward))
            .set_tags(sdk_tags(tags))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        one_rule(output.rules(), OP)
    }

    async fn modify_rule(
        &self,
        rule_arn: &str,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
    ) -> AwsResult<Rule> {
        const OP: &str = "ModifyRule";
        self.rate.acquire().await;
        let output = self
            .client
            .modify_rule()
            .rule_arn(rule_arn)
            .set_conditions(Some(conditions_to_sdk(conditions)))
            .actions(forward_action(forward))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        one_rule(output.rules(), OP)
    }

    async fn delete_rule(&self, rule_arn: &str) -> AwsResult<()> {
        const OP: &str = "DeleteRule";
        self.rate.acquire().await;
        match self
            .client
            .delete_rule()
            .rule_arn(rule_arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(_) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn describe_tags(&self, arns: &[String]) -> AwsResult<BTreeMap<String, Vec<Tag>>> {
        const OP: &str = "DescribeTags";
        let mut tags = BTreeMap::new();
        for batch in arns.chunks(DESCRIBE_TAGS_BATCH) {
            self.rate.acquire().await;
            let output = self
                .client
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()))
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            for description in output.tag_descriptions() {
                let Some(arn) = description.resource_arn() else {
                    continue;
                };
                let resource_tags = description
                    .tags()
                    .iter()
                    .filter_map(|tag| Some(Tag::new(tag.key()?, tag.value().unwrap_or_default())))
                    .collect();
                tags.insert(arn.to_owned(), resource_tags);
            }
        }
        Ok(tags)
    }

    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        const OP: &str = "AddListenerCertificates";
        self.rate.acquire().await;
        self.client
            .add_listener_certificates()
            .listener_arn(listener_arn)
            .certificates(
                Certificate::builder()
                    .certificate_arn(certificate_arn)
                    .build(),
            )
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(())
    }

    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        const OP: &str = "RemoveListenerCertificates";
        self.rate.acquire().await;
        match self
            .client
            .remove_listener_certificates()
            .listener_arn(listener_arn)
            .certificates(
                Certificate::builder()
                    .certificate_arn(certificate_arn)
                    .build(),
            )
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(_) => Ok(()),
            // The certificate or the whole listener is gone: it is not attached.
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn describe_listener_certificates(&self, listener_arn: &str) -> AwsResult<Vec<String>> {
        const OP: &str = "DescribeListenerCertificates";
        let mut arns = Vec::new();
        let mut marker = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .describe_listener_certificates()
                .listener_arn(listener_arn)
                .set_marker(marker)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            arns.extend(
                output
                    .certificates()
                    .iter()
                    .filter_map(|certificate| certificate.certificate_arn().map(str::to_owned)),
            );
            marker = output.next_marker;
            if marker.is_none() {
                return Ok(arns);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weighted(arn: &str, weight: i32) -> WeightedTarget {
        WeightedTarget {
            target_group_arn: arn.to_owned(),
            weight,
        }
    }

    #[test]
    fn the_forward_action_carries_every_weight_and_turns_stickiness_off() {
        let action = forward_action(&[weighted("tg-a", 90), weighted("tg-b", 10)]);
        assert_eq!(action.r#type(), Some(&ActionTypeEnum::Forward));
        let config = action.forward_config().expect("forward config");
        assert_eq!(
            config
                .target_group_stickiness_config()
                .and_then(|c| c.enabled()),
            Some(false)
        );
        assert_eq!(
            forward_from_sdk(&[action]),
            [weighted("tg-a", 90), weighted("tg-b", 10)]
        );
    }

    #[test]
    fn a_legacy_single_target_forward_reads_as_one_group_with_weight_one() {
        let action = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("tg-a")
            .build();
        assert_eq!(forward_from_sdk(&[action]), [weighted("tg-a", 1)]);
    }

    #[test]
    fn a_fixed_response_rule_has_no_forward() {
        let action = Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .build();
        assert!(forward_from_sdk(&[action]).is_empty());
    }

    #[test]
    fn conditions_round_trip_and_legacy_values_are_read() {
        let conditions = RuleConditions {
            host_headers: vec!["shop.example.com".into()],
            path_patterns: vec!["/api/*".into()],
        };
        assert_eq!(
            conditions_from_sdk(&conditions_to_sdk(&conditions)),
            conditions
        );
        let legacy = RuleCondition::builder()
            .field("host-header")
            .values("old.example.com")
            .build();
        assert_eq!(
            conditions_from_sdk(&[legacy]).host_headers,
            ["old.example.com"]
        );
    }

    #[test]
    fn the_default_rule_has_no_priority() {
        let rule = sdk::Rule::builder()
            .rule_arn("r")
            .priority("default")
            .build();
        assert_eq!(rule_from_sdk(&rule).priority, None);
        let rule = sdk::Rule::builder().rule_arn("r").priority("42").build();
        assert_eq!(rule_from_sdk(&rule).priority, Some(42));
    }

    #[test]
    fn the_traffic_port_is_no_port() {
        let group = sdk::TargetGroup::builder()
            .health_check_port("traffic-port")
            .build();
        assert_eq!(health_check_from_sdk(&group).port, None);
        let group = sdk::TargetGroup::builder()
            .health_check_port("8081")
            .build();
        assert_eq!(health_check_from_sdk(&group).port, Some(8081));
    }
}
