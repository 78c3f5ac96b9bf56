//! Simulated Elastic Load Balancing v2 (Application Load Balancers): load balancers with HTTPS
//! listeners, target groups with target health that follows the health check settings, listener
//! rules with weighted forward actions, listener certificates checked against ACM, and tags.

use super::AwsSim;
use super::config::{ImageBehaviour, SimService};
use super::world::{Fail, SimResult, World, after, after_secs};
use crate::aws::acm::CertificateStatus;
use crate::aws::elbv2::{
    Elbv2, HealthCheckConfig, Listener, LoadBalancer, Rule, RuleConditions, TargetGroup,
    TargetGroupInput, TargetHealth, TargetState, WeightedTarget,
};
use crate::aws::{AwsErrorKind, AwsResult, Tag};
use async_trait::async_trait;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// Quotas for your Application Load Balancers: rules per load balancer (not counting defaults).
const MAX_RULES_PER_LOAD_BALANCER: usize = 100;
/// Quotas: certificates per load balancer (not counting the default).
const MAX_CERTIFICATES_PER_LISTENER: usize = 25;
/// Quotas: target groups per action.
const MAX_TARGET_GROUPS_PER_ACTION: usize = 5;
/// Quotas: condition values per rule.
const MAX_CONDITION_VALUES_PER_RULE: usize = 5;

/// Health of a registered target as the health checks see it (before `unused` and `draining`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Health {
    Initial,
    Healthy,
    Unhealthy,
}

/// A load balancer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct LoadBalancerRecord {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    pub zone_id: String,
    pub vpc_id: String,
    pub tags: Vec<Tag>,
    /// `IpAddressType` `dualstack`: it answers on IPv6 too.
    #[serde(default)]
    pub dual_stack: bool,
}

impl LoadBalancerRecord {
    /// The CloudWatch `LoadBalancer` dimension value: `app/<name>/<id>`.
    pub fn dimension(&self) -> String {
        self.arn
            .split_once(":loadbalancer/")
            .map_or(String::new(), |(_, d)| d.to_string())
    }
}

/// A listener.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ListenerRecord {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: i32,
    pub protocol: String,
    pub default_certificate: Option<String>,
    pub certificates: Vec<String>,
}

/// A listener rule (the default rule has no priority and a fixed-response action).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct RuleRecord {
    pub arn: String,
    pub listener_arn: String,
    pub priority: Option<i32>,
    pub conditions: RuleConditions,
    pub forward: Vec<WeightedTarget>,
    pub tags: Vec<Tag>,
}

/// A registered target.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TargetRecord {
    pub ip: String,
    pub port: i32,
    pub registered_at: Timestamp,
    /// Whether the health checks pass.
    pub passes: bool,
    pub behaviour: ImageBehaviour,
    /// Set once deregistered: the target is `draining` until then.
    pub drain_until: Option<Timestamp>,
}

impl TargetRecord {
    /// When the health checks settle: healthy after `healthy_threshold` passing checks, unhealthy
    /// after `unhealthy_threshold` failing ones (Target groups, "Health checks").
    fn settles_at(&self, hc: &HealthCheckConfig) -> Timestamp {
        let checks = if self.passes {
            hc.healthy_threshold
        } else {
            hc.unhealthy_threshold
        };
        after_secs(
            self.registered_at,
            (checks.max(1) * hc.interval_seconds.max(1)) as f64,
        )
    }

    pub fn health(&self, hc: &HealthCheckConfig, now: Timestamp) -> Health {
        if now < self.settles_at(hc) {
            Health::Initial
        } else if self.passes {
            Health::Healthy
        } else {
            Health::Unhealthy
        }
    }
}

/// A target group.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TargetGroupRecord {
    pub arn: String,
    pub name: String,
    pub port: i32,
    pub vpc_id: String,
    pub health_check: HealthCheckConfig,
    pub tags: Vec<Tag>,
    pub targets: Vec<TargetRecord>,
}

impl TargetGroupRecord {
    /// The CloudWatch `TargetGroup` dimension value: `targetgroup/<name>/<id>`.
    pub fn dimension(&self) -> String {
        self.arn
            .rsplit_once(':')
            .map_or(String::new(), |(_, d)| d.to_string())
    }
}

/// ELBv2 state.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ElbState {
    pub load_balancers: Vec<LoadBalancerRecord>,
    pub listeners: Vec<ListenerRecord>,
    pub rules: Vec<RuleRecord>,
    /// Keyed by ARN: the world looks target groups up by ARN for every task on every step.
    pub target_groups: BTreeMap<String, TargetGroupRecord>,
}

impl ElbState {
    pub fn target_group(&self, arn: &str) -> Option<&TargetGroupRecord> {
        self.target_groups.get(arn)
    }

    pub fn listener(&self, arn: &str) -> Option<&ListenerRecord> {
        self.listeners.iter().find(|l| l.arn == arn)
    }

    pub fn load_balancer(&self, arn: &str) -> Option<&LoadBalancerRecord> {
        self.load_balancers.iter().find(|l| l.arn == arn)
    }

    pub fn target_group_exists(&self, arn: &str) -> bool {
        self.target_group(arn).is_some()
    }

    /// Load balancers whose listener rules forward to the target group.
    pub fn load_balancers_of(&self, tg_arn: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for rule in self
            .rules
            .iter()
            .filter(|r| r.forward.iter().any(|f| f.target_group_arn == tg_arn))
        {
            if let Some(listener) = self.listener(&rule.listener_arn)
                && !out.contains(&listener.load_balancer_arn)
            {
                out.push(listener.load_balancer_arn.clone());
            }
        }
        out
    }

    pub fn target_group_has_load_balancer(&self, arn: &str) -> bool {
        !self.load_balancers_of(arn).is_empty()
    }

    /// Registers a task's IP; false when the target group does not exist.
    pub fn register_target(
        &mut self,
        tg_arn: &str,
        ip: &str,
        port: i32,
        now: Timestamp,
        passes: bool,
        behaviour: ImageBehaviour,
    ) -> bool {
        let Some(tg) = self.target_groups.get_mut(tg_arn) else {
            return false;
        };
        tg.targets.retain(|t| !(t.ip == ip && t.port == port));
        tg.targets.push(TargetRecord {
            ip: ip.to_string(),
            port,
            registered_at: now,
            passes,
            behaviour,
            drain_until: None,
        });
        true
    }

    /// Deregisters a target: it drains for the delay. Returns when draining ends, `None` when
    /// there was nothing to deregister.
    pub fn deregister_target(
        &mut self,
        tg_arn: &str,
        ip: &str,
        now: Timestamp,
        delay: Duration,
    ) -> Option<Timestamp> {
        let tg = self.target_groups.get_mut(tg_arn)?;
        let target = tg
            .targets
            .iter_mut()
            .find(|t| t.ip == ip && t.drain_until.is_none())?;
        let end = after(now, delay);
        target.drain_until = Some(end);
        Some(end)
    }

    /// Health of a registered (not draining) target.
    pub fn target_health(&self, tg_arn: &str, ip: &str, now: Timestamp) -> Option<Health> {
        let tg = self.target_group(tg_arn)?;
        let target = tg
            .targets
            .iter()
            .find(|t| t.ip == ip && t.drain_until.is_none())?;
        Some(target.health(&tg.health_check, now))
    }

    /// When a failing target turns unhealthy.
    pub fn unhealthy_at(&self, tg_arn: &str, ip: &str) -> Option<Timestamp> {
        let tg = self.target_group(tg_arn)?;
        let target = tg
            .targets
            .iter()
            .find(|t| t.ip == ip && t.drain_until.is_none() && !t.passes)?;
        Some(target.settles_at(&tg.health_check))
    }

    fn in_use(&self, tg_arn: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.forward.iter().any(|f| f.target_group_arn == tg_arn))
    }

    /// Target health as DescribeTargetHealth reports it.
    pub fn describe_targets(&self, tg: &TargetGroupRecord, now: Timestamp) -> Vec<TargetHealth> {
        let in_use = self.in_use(&tg.arn);
        tg.targets
            .iter()
            .map(|t| {
                // TargetHealth reason codes (ELBv2 API Reference, TargetHealth).
                let (state, reason) = if t.drain_until.is_some() {
                    (
                        TargetState::Draining,
                        Some("Target.DeregistrationInProgress"),
                    )
                } else if !in_use {
                    (TargetState::Unused, Some("Target.NotInUse"))
                } else {
                    match t.health(&tg.health_check, now) {
                        Health::Initial => {
                            (TargetState::Initial, Some("Elb.InitialHealthChecking"))
                        }
                        Health::Healthy => (TargetState::Healthy, None),
                        Health::Unhealthy => {
                            (TargetState::Unhealthy, Some("Target.ResponseCodeMismatch"))
                        }
                    }
                };
                TargetHealth {
                    id: t.ip.clone(),
                    port: t.port,
                    state,
                    reason: reason.map(str::to_string),
                }
            })
            .collect()
    }

    pub fn describe_target_group(&self, tg: &TargetGroupRecord) -> TargetGroup {
        TargetGroup {
            arn: tg.arn.clone(),
            name: tg.name.clone(),
            port: tg.port,
            vpc_id: tg.vpc_id.clone(),
            health_check: tg.health_check.clone(),
            load_balancer_arns: self.load_balancers_of(&tg.arn),
        }
    }

    pub fn describe_rule(rule: &RuleRecord) -> Rule {
        Rule {
            arn: rule.arn.clone(),
            priority: rule.priority,
            conditions: rule.conditions.clone(),
            forward: rule.forward.clone(),
        }
    }

    /// Rules of a listener: by priority, the default rule last (as DescribeRules lists them).
    pub fn rules_of(&self, listener_arn: &str) -> Vec<&RuleRecord> {
        let mut rules: Vec<&RuleRecord> = self
            .rules
            .iter()
            .filter(|r| r.listener_arn == listener_arn)
            .collect();
        rules.sort_by_key(|r| r.priority.unwrap_or(i32::MAX));
        rules
    }

    /// Certificates of a listener, the default first (DescribeListenerCertificates lists it with
    /// IsDefault=true).
    pub fn certificates_of(listener: &ListenerRecord) -> Vec<String> {
        listener
            .default_certificate
            .iter()
            .chain(listener.certificates.iter())
            .cloned()
            .collect()
    }

    /// Load balancers whose listeners use the certificate (ACM's InUseBy).
    pub fn certificate_users(&self, certificate_arn: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.listeners {
            let uses = l.default_certificate.as_deref() == Some(certificate_arn)
                || l.certificates.iter().any(|c| c == certificate_arn);
            if uses && !out.contains(&l.load_balancer_arn) {
                out.push(l.load_balancer_arn.clone());
            }
        }
        out
    }
}

fn validation(message: impl Into<String>) -> Fail {
    // ELBv2 API Reference, Common Errors: ValidationError (HTTP 400).
    Fail::invalid("ValidationError", message)
}

fn range_error(value: i64, field: &str, bound: &str, limit: i64) -> Fail {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must have value {bound} {limit}"
    ))
}

fn check_range(value: i32, field: &str, min: i32, max: i32) -> SimResult<()> {
    if value < min {
        return Err(range_error(
            value.into(),
            field,
            "greater than or equal to",
            min.into(),
        ));
    }
    if value > max {
        return Err(range_error(
            value.into(),
            field,
            "less than or equal to",
            max.into(),
        ));
    }
    Ok(())
}

fn target_group_not_found() -> Fail {
    Fail::not_found("TargetGroupNotFound", "One or more target groups not found")
}

fn listener_not_found() -> Fail {
    Fail::not_found("ListenerNotFound", "One or more listeners not found")
}

fn validate_target_group_name(name: &str) -> SimResult<()> {
    // CreateTargetGroup, Name: at most 32 characters, alphanumerics or hyphens, must not begin or
    // end with a hyphen.
    if name.is_empty() {
        return Err(validation("Target group name cannot be empty"));
    }
    if name.len() > 32 {
        return Err(validation(format!(
            "Target group name '{name}' cannot be longer than '32' characters"
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(validation(format!(
            "Target group name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(validation(format!(
            "Target group name '{name}' cannot begin or end with '-'"
        )));
    }
    if name.to_ascii_lowercase().starts_with("internal-") {
        return Err(validation(format!(
            "Target group name '{name}' cannot begin with 'internal-'"
        )));
    }
    Ok(())
}

fn validate_health_check(hc: &HealthCheckConfig) -> SimResult<()> {
    // CreateTargetGroup: HealthCheckIntervalSeconds 5-300, HealthCheckTimeoutSeconds 2-120,
    // HealthyThresholdCount 2-10, UnhealthyThresholdCount 2-10, Matcher HttpCode 200-499.
    check_range(hc.interval_seconds, "healthCheckIntervalSeconds", 5, 300)?;
    check_range(hc.timeout_seconds, "healthCheckTimeoutSeconds", 2, 120)?;
    check_range(hc.healthy_threshold, "healthyThresholdCount", 2, 10)?;
    check_range(hc.unhealthy_threshold, "unhealthyThresholdCount", 2, 10)?;
    if let Some(port) = hc.port {
        check_range(port, "healthCheckPort", 1, 65535)?;
    }
    if hc.timeout_seconds >= hc.interval_seconds {
        return Err(validation(
            "Health check interval must be greater than the timeout.",
        ));
    }
    if !hc.path.starts_with('/') || hc.path.len() > 1024 {
        return Err(validation(format!(
            "Health check path '{}' must begin with a '/' and be at most 1024 characters",
            hc.path
        )));
    }
    let code_ok = |c: &str| {
        c.trim()
            .parse::<u16>()
            .is_ok_and(|c| (200..=499).contains(&c))
    };
    let matcher_ok = !hc.matcher.is_empty()
        && hc
            .matcher
            .split(',')
            .all(|part| match part.split_once('-') {
                Some((lo, hi)) => {
                    code_ok(lo)
                        && code_ok(hi)
                        && lo.trim().parse::<u16>().ok() <= hi.trim().parse::<u16>().ok()
                }
                None => code_ok(part),
            });
    if !matcher_ok {
        return Err(validation(format!(
            "Health check matcher HTTP code '{}' must be within '200-499' inclusive",
            hc.matcher
        )));
    }
    Ok(())
}

fn validate_tags(tags: &[Tag]) -> SimResult<()> {
    // AddTags: at most 50 tags per resource; keys 1-128, values 0-256 characters.
    if tags.len() > 50 {
        return Err(Fail::new(
            AwsErrorKind::LimitExceeded,
            "TooManyTags",
            "You've reached the limit on the number of tags for this resource.",
        ));
    }
    for tag in tags {
        if tag.key.is_empty() || tag.key.len() > 128 || tag.value.len() > 256 {
            return Err(validation(format!(
                "Tag key '{}' or its value is too long",
                tag.key
            )));
        }
    }
    Ok(())
}

/// ALB condition matching: `*` matches any characters (none included), `?` exactly one.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

fn validate_conditions(conditions: &RuleConditions) -> SimResult<()> {
    // RuleCondition: host-header and path-pattern values; Quotas: 5 condition values per rule;
    // HostHeaderConditionConfig / PathPatternConditionConfig: each value up to 128 characters.
    let values = conditions.host_headers.len() + conditions.path_patterns.len();
    if values == 0 {
        return Err(validation("A rule must have at least one condition"));
    }
    if values > MAX_CONDITION_VALUES_PER_RULE {
        return Err(Fail::new(
            AwsErrorKind::LimitExceeded,
            "TooManyConditionValues",
            format!("A rule can only have '{MAX_CONDITION_VALUES_PER_RULE}' condition values"),
        ));
    }
    for host in &conditions.host_headers {
        let ok_chars = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.*?".contains(c));
        if host.is_empty() || host.len() > 128 || !ok_chars {
            return Err(validation(format!(
                "The 'host-header' value '{host}' is not valid: up to 128 characters among A-Z, a-z, 0-9, - . * ?"
            )));
        }
    }
    for path in &conditions.path_patterns {
        let ok_chars = path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(c));
        if path.is_empty() || path.len() > 128 || !ok_chars {
            return Err(validation(format!(
                "The 'path-pattern' value '{path}' is not valid: up to 128 characters among A-Z, a-z, 0-9, _ - . $ / ~ \" ' @ : + & * ?"
            )));
        }
    }
    Ok(())
}

impl World {
    fn elb_prefix(&self) -> String {
        self.arn_prefix("elasticloadbalancing")
    }

    /// Canonical hosted zone of Application Load Balancers in the region (Elastic Load Balancing
    /// endpoints and quotas).
    fn elb_zone_id(&self) -> &'static str {
        match self.region.as_str() {
            "us-east-1" => "Z35SXDOTRQ7X7K",
            "us-east-2" => "Z3AADJGX6KTTL2",
            "us-west-1" => "Z368ELLRRE2KJ0",
            "us-west-2" => "Z1H1FL5HABSF5",
            "eu-central-1" => "Z215JYRZR1TBD5",
            "eu-west-2" => "ZHURV8PSTC4K8",
            "eu-west-3" => "Z3Q77PNBQS71R4",
            "eu-north-1" => "Z23TAZ7KFP5S4K",
            "ap-southeast-1" => "Z1LMS91P8CMLE5",
            "ap-southeast-2" => "Z1GM3OXH4ZPM65",
            "ap-northeast-1" => "Z14GRHDCWA56QT",
            _ => "Z32O12XQLNTSW2",
        }
    }

    /// Every canonical hosted zone ID an ALB alias may point at.
    pub fn elb_zone_ids() -> &'static [&'static str] {
        &[
            "Z35SXDOTRQ7X7K",
            "Z3AADJGX6KTTL2",
            "Z368ELLRRE2KJ0",
            "Z1H1FL5HABSF5",
            "Z215JYRZR1TBD5",
            "ZHURV8PSTC4K8",
            "Z3Q77PNBQS71R4",
            "Z23TAZ7KFP5S4K",
            "Z1LMS91P8CMLE5",
            "Z1GM3OXH4ZPM65",
            "Z14GRHDCWA56QT",
            "Z32O12XQLNTSW2",
        ]
    }

    /// Adds an internet-facing ALB in the default VPC with an HTTPS:443 listener whose default
    /// certificate is an imported, issued ACM certificate; returns (load balancer, listener) ARNs.
    pub fn elb_add_load_balancer(&mut self, name: &str) -> (String, String) {
        if let Some(lb) = self.elb.load_balancers.iter().find(|l| l.name == name) {
            let listener = self
                .elb
                .listeners
                .iter()
                .find(|l| l.load_balancer_arn == lb.arn)
                .map(|l| l.arn.clone())
                .unwrap_or_default();
            return (lb.arn.clone(), listener);
        }
        let prefix = self.elb_prefix();
        let lb_id = self.ids.hex(16);
        let lb_arn = format!("{prefix}:loadbalancer/app/{name}/{lb_id}");
        let dns_name = format!(
            "{name}-{}.{}.elb.amazonaws.com",
            self.ids.digits(10),
            self.region
        );
        self.elb.load_balancers.push(LoadBalancerRecord {
            arn: lb_arn.clone(),
            name: name.to_string(),
            dns_name,
            zone_id: self.elb_zone_id().to_string(),
            vpc_id: self.default_vpc().id.clone(),
            tags: Vec::new(),
            dual_stack: false,
        });
        let listener_arn = self.elb_add_listener(&lb_arn, 443).unwrap_or_default();
        (lb_arn, listener_arn)
    }

    /// Adds an HTTPS listener on `port` to a load balancer (its default certificate an imported
    /// ACM certificate, its default rule a fixed 404) and returns its ARN; a listener on that port
    /// is returned as it is. `None` when the load balancer does not exist.
    pub fn elb_add_listener(&mut self, lb_arn: &str, port: i32) -> Option<String> {
        self.elb_add_listener_with(lb_arn, port, "HTTPS")
    }

    /// Makes a load balancer answer on IPv6 too (`SetIpAddressType` `dualstack`); `false` when it
    /// does not exist.
    pub fn elb_set_dual_stack(&mut self, lb_arn: &str, dual_stack: bool) -> bool {
        match self.elb.load_balancers.iter_mut().find(|l| l.arn == lb_arn) {
            Some(lb) => {
                lb.dual_stack = dual_stack;
                true
            }
            None => false,
        }
    }

    /// [`World::elb_add_listener`] with another protocol: an `HTTP` listener has no certificate.
    pub fn elb_add_listener_with(
        &mut self,
        lb_arn: &str,
        port: i32,
        protocol: &str,
    ) -> Option<String> {
        let lb = self.elb.load_balancer(lb_arn)?.clone();
        if let Some(existing) = self
            .elb
            .listeners
            .iter()
            .find(|l| l.load_balancer_arn == lb_arn && l.port == port)
        {
            return Some(existing.arn.clone());
        }
        // ...:loadbalancer/app/<name>/<id> -> ...:listener/app/<name>/<id>/<listener id>
        let listener_arn = format!(
            "{}/{}",
            lb.arn.replacen(":loadbalancer/", ":listener/", 1),
            self.ids.hex(16)
        );
        let rule_arn = format!(
            "{}/{}",
            listener_arn.replacen(":listener/", ":listener-rule/", 1),
            self.ids.hex(16)
        );
        let certificate = (protocol == "HTTPS")
            .then(|| self.acm_import_certificate(&format!("{}.default.internal", lb.name)));
        self.elb.listeners.push(ListenerRecord {
            arn: listener_arn.clone(),
            load_balancer_arn: lb.arn.clone(),
            port,
            protocol: protocol.to_string(),
            default_certificate: certificate,
            certificates: Vec::new(),
        });
        // Every listener has a default rule; here a fixed-response 404 (no forward).
        self.elb.rules.push(RuleRecord {
            arn: rule_arn,
            listener_arn: listener_arn.clone(),
            priority: None,
            conditions: RuleConditions::default(),
            forward: Vec::new(),
            tags: Vec::new(),
        });
        Some(listener_arn)
    }

    /// Where the listener sends a request for `host` and `path`: the first rule (by priority,
    /// the default rule last) whose conditions match, and its forward action's target groups
    /// with a weight above zero. Empty when the default rule answers.
    pub fn elb_route(&self, listener_arn: &str, host: &str, path: &str) -> Vec<WeightedTarget> {
        let mut rules: Vec<&RuleRecord> = self
            .elb
            .rules
            .iter()
            .filter(|r| r.listener_arn == listener_arn)
            .collect();
        rules.sort_by_key(|r| r.priority.unwrap_or(i32::MAX));
        let host = host.to_ascii_lowercase();
        rules
            .into_iter()
            .find(|r| {
                let hosts = &r.conditions.host_headers;
                let paths = &r.conditions.path_patterns;
                (hosts.is_empty()
                    || hosts
                        .iter()
                        .any(|h| wildcard_match(&h.to_ascii_lowercase(), &host)))
                    && (paths.is_empty() || paths.iter().any(|p| wildcard_match(p, path)))
            })
            .map(|r| r.forward.iter().filter(|w| w.weight > 0).cloned().collect())
            .unwrap_or_default()
    }

    pub fn elb_describe_listener(&self, arn: &str) -> SimResult<Option<Listener>> {
        Ok(self.elb.listener(arn).map(|l| Listener {
            arn: l.arn.clone(),
            load_balancer_arn: l.load_balancer_arn.clone(),
            port: l.port,
            protocol: l.protocol.clone(),
        }))
    }

    pub fn elb_describe_load_balancer(&self, arn: &str) -> SimResult<Option<LoadBalancer>> {
        Ok(self.elb.load_balancer(arn).map(|l| LoadBalancer {
            arn: l.arn.clone(),
            dns_name: l.dns_name.clone(),
            canonical_hosted_zone_id: l.zone_id.clone(),
            vpc_id: l.vpc_id.clone(),
            dual_stack: l.dual_stack,
        }))
    }

    pub fn elb_create_target_group(&mut self, input: &TargetGroupInput) -> SimResult<TargetGroup> {
        validate_target_group_name(&input.name)?;
        check_range(input.port, "port", 1, 65535)?;
        validate_health_check(&input.health_check)?;
        validate_tags(&input.tags)?;
        // CreateTargetGroup: "If a target group with the same name exists with the same settings,
        // it returns its ARN; with different settings, DuplicateTargetGroupName".
        if let Some(existing) = self
            .elb
            .target_groups
            .values()
            .find(|t| t.name == input.name)
        {
            let same = existing.port == input.port
                && existing.vpc_id == input.vpc_id
                && existing.health_check == input.health_check;
            if same {
                return Ok(self.elb.describe_target_group(existing));
            }
            return Err(Fail::new(
                AwsErrorKind::AlreadyExists,
                "DuplicateTargetGroupName",
                format!(
                    "A target group with the same name '{}' exists, but with different settings",
                    input.name
                ),
            ));
        }
        if !self.vpc_exists(&input.vpc_id) {
            return Err(Fail::invalid(
                "InvalidConfigurationRequest",
                format!("The VPC ID '{}' is not found", input.vpc_id),
            ));
        }
        // Quotas: 3000 target groups per region.
        if self.elb.target_groups.len() >= 3000 {
            return Err(Fail::new(
                AwsErrorKind::LimitExceeded,
                "TooManyTargetGroups",
                "You've reached the limit on the number of target groups for your AWS account.",
            ));
        }
        let arn = format!(
            "{}:targetgroup/{}/{}",
            self.elb_prefix(),
            input.name,
            self.ids.hex(16)
        );
        let record = TargetGroupRecord {
            arn,
            name: input.name.clone(),
            port: input.port,
            vpc_id: input.vpc_id.clone(),
            health_check: input.health_check.clone(),
            tags: input.tags.clone(),
            targets: Vec::new(),
        };
        let described = self.elb.describe_target_group(&record);
        self.elb.target_groups.insert(record.arn.clone(), record);
        Ok(described)
    }

    pub fn elb_describe_target_groups(&self, names: &[String]) -> SimResult<Vec<TargetGroup>> {
        Ok(names
            .iter()
            .filter_map(|n| self.elb.target_groups.values().find(|t| &t.name == n))
            .map(|t| self.elb.describe_target_group(t))
            .collect())
    }

    pub fn elb_modify_target_group(
        &mut self,
        arn: &str,
        hc: &HealthCheckConfig,
    ) -> SimResult<TargetGroup> {
        validate_health_check(hc)?;
        let tg = self
            .elb
            .target_groups
            .get_mut(arn)
            .ok_or_else(target_group_not_found)?;
        tg.health_check = hc.clone();
        let tg = self
            .elb
            .target_group(arn)
            .ok_or_else(target_group_not_found)?;
        Ok(self.elb.describe_target_group(tg))
    }

    pub fn elb_delete_target_group(&mut self, arn: &str) -> SimResult<()> {
        if !self.elb.target_group_exists(arn) {
            return Ok(());
        }
        // DeleteTargetGroup: "You can't delete a target group if it is used by any actions."
        if self.elb.in_use(arn) {
            return Err(Fail::new(
                AwsErrorKind::InUse,
                "ResourceInUse",
                format!("Target group '{arn}' is currently in use by a listener or a rule"),
            ));
        }
        self.elb.target_groups.remove(arn);
        Ok(())
    }

    pub fn elb_describe_target_health(&self, arn: &str) -> SimResult<Vec<TargetHealth>> {
        let tg = self
            .elb
            .target_group(arn)
            .ok_or_else(target_group_not_found)?;
        Ok(self.elb.describe_targets(tg, self.now))
    }

    pub fn elb_describe_rules(&self, listener_arn: &str) -> SimResult<Vec<Rule>> {
        self.elb
            .listener(listener_arn)
            .ok_or_else(listener_not_found)?;
        Ok(self
            .elb
            .rules_of(listener_arn)
            .into_iter()
            .map(ElbState::describe_rule)
            .collect())
    }

    /// Checks a forward action for a rule on `listener_arn` (`rule_arn` is the rule being
    /// modified, if any).
    fn validate_forward(&self, listener_arn: &str, forward: &[WeightedTarget]) -> SimResult<()> {
        // ForwardActionConfig: 1-5 target groups, each weight 0-999, each once.
        if forward.is_empty() {
            return Err(validation(
                "A forward action must specify at least one target group",
            ));
        }
        if forward.len() > MAX_TARGET_GROUPS_PER_ACTION {
            return Err(validation(format!(
                "A forward action can have at most '{MAX_TARGET_GROUPS_PER_ACTION}' target groups"
            )));
        }
        for (i, target) in forward.iter().enumerate() {
            check_range(
                target.weight,
                &format!(
                    "actions.1.member.forwardConfig.targetGroups.{}.member.weight",
                    i + 1
                ),
                0,
                999,
            )?;
            if forward[..i]
                .iter()
                .any(|t| t.target_group_arn == target.target_group_arn)
            {
                return Err(validation(format!(
                    "Target group '{}' cannot be specified more than once in a forward action",
                    target.target_group_arn
                )));
            }
        }
        let listener = self
            .elb
            .listener(listener_arn)
            .ok_or_else(listener_not_found)?;
        let lb = self
            .elb
            .load_balancer(&listener.load_balancer_arn)
            .ok_or_else(listener_not_found)?;
        for target in forward {
            let tg = self
                .elb
                .target_group(&target.target_group_arn)
                .ok_or_else(|| {
                    Fail::not_found(
                        "TargetGroupNotFound",
                        format!("Target groups '{}' not found", target.target_group_arn),
                    )
                })?;
            if tg.vpc_id != lb.vpc_id {
                return Err(Fail::invalid(
                    "InvalidConfigurationRequest",
                    format!(
                        "The target group '{}' is in VPC '{}', not in the load balancer's VPC '{}'",
                        tg.arn, tg.vpc_id, lb.vpc_id
                    ),
                ));
            }
            // An Application Load Balancer target group can be associated with one load balancer.
            if self
                .elb
                .load_balancers_of(&tg.arn)
                .iter()
                .any(|l| *l != lb.arn)
            {
                return Err(Fail::new(
                    AwsErrorKind::LimitExceeded,
                    "TargetGroupAssociationLimit",
                    format!(
                        "The following target groups cannot be associated with more than one load balancer: {}",
                        tg.arn
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn elb_create_rule(
        &mut self,
        listener_arn: &str,
        priority: i32,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
        tags: &[Tag],
    ) -> SimResult<Rule> {
        let listener = self
            .elb
            .listener(listener_arn)
            .cloned()
            .ok_or_else(listener_not_found)?;
        // CreateRule: Priority 1-50000, unique per listener.
        check_range(priority, "priority", 1, 50000)?;
        validate_conditions(conditions)?;
        self.validate_forward(listener_arn, forward)?;
        validate_tags(tags)?;
        if self
            .elb
            .rules
            .iter()
            .any(|r| r.listener_arn == listener_arn && r.priority == Some(priority))
        {
            return Err(Fail::new(
                AwsErrorKind::AlreadyExists,
                "PriorityInUse",
                format!("Priority '{priority}' is currently in use"),
            ));
        }
        let lb_rules = self
            .elb
            .rules
            .iter()
            .filter(|r| r.priority.is_some())
            .filter(|r| {
                self.elb
                    .listener(&r.listener_arn)
                    .is_some_and(|l| l.load_balancer_arn == listener.load_balancer_arn)
            })
            .count();
        if lb_rules >= MAX_RULES_PER_LOAD_BALANCER {
            return Err(Fail::new(
                AwsErrorKind::LimitExceeded,
                "TooManyRules",
                "You've reached the limit on the number of rules per load balancer.",
            ));
        }
        // listener ARN ...:listener/app/<lb>/<lb id>/<listener id> -> rule ARN
        // ...:listener-rule/app/<lb>/<lb id>/<listener id>/<rule id>.
        let arn = format!(
            "{}/{}",
            listener_arn.replacen(":listener/", ":listener-rule/", 1),
            self.ids.hex(16)
        );
        let rule = RuleRecord {
            arn,
            listener_arn: listener_arn.to_string(),
            priority: Some(priority),
            conditions: conditions.clone(),
            forward: forward.to_vec(),
            tags: tags.to_vec(),
        };
        let described = ElbState::describe_rule(&rule);
        self.elb.rules.push(rule);
        Ok(described)
    }

    pub fn elb_modify_rule(
        &mut self,
        rule_arn: &str,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
    ) -> SimResult<Rule> {
        let rule = self
            .elb
            .rules
            .iter()
            .find(|r| r.arn == rule_arn)
            .cloned()
            .ok_or_else(|| Fail::not_found("RuleNotFound", "One or more rules not found"))?;
        if rule.priority.is_none() {
            // The default rule has no conditions; ModifyRule may only change its actions.
            if *conditions != RuleConditions::default() {
                return Err(Fail::invalid(
                    "OperationNotPermitted",
                    "Conditions cannot be specified for the default rule",
                ));
            }
        } else {
            validate_conditions(conditions)?;
        }
        self.validate_forward(&rule.listener_arn, forward)?;
        let stored = self
            .elb
            .rules
            .iter_mut()
            .find(|r| r.arn == rule_arn)
            .ok_or_else(|| Fail::not_found("RuleNotFound", "One or more rules not found"))?;
        stored.conditions = conditions.clone();
        stored.forward = forward.to_vec();
        Ok(ElbState::describe_rule(stored))
    }

    pub fn elb_delete_rule(&mut self, rule_arn: &str) -> SimResult<()> {
        let Some(rule) = self.elb.rules.iter().find(|r| r.arn == rule_arn) else {
            return Ok(());
        };
        if rule.priority.is_none() {
            // DeleteRule: "You can't delete the default rule."
            return Err(Fail::invalid(
                "OperationNotPermitted",
                "Default rule cannot be deleted",
            ));
        }
        self.elb.rules.retain(|r| r.arn != rule_arn);
        Ok(())
    }

    pub fn elb_describe_tags(&self, arns: &[String]) -> SimResult<BTreeMap<String, Vec<Tag>>> {
        // DescribeTags: ResourceArns, at most 20.
        if arns.len() > 20 {
            return Err(validation(format!(
                "1 validation error detected: Value '[{}]' at 'resourceArns' failed to satisfy constraint: Member must have length less than or equal to 20",
                arns.join(", ")
            )));
        }
        let mut out = BTreeMap::new();
        for arn in arns {
            let tags = if arn.contains(":targetgroup/") {
                self.elb
                    .target_group(arn)
                    .map(|t| t.tags.clone())
                    .ok_or_else(target_group_not_found)?
            } else if arn.contains(":listener-rule/") {
                self.elb
                    .rules
                    .iter()
                    .find(|r| &r.arn == arn)
                    .map(|r| r.tags.clone())
                    .ok_or_else(|| Fail::not_found("RuleNotFound", "One or more rules not found"))?
            } else if arn.contains(":listener/") {
                self.elb
                    .listener(arn)
                    .map(|_| Vec::new())
                    .ok_or_else(listener_not_found)?
            } else {
                self.elb
                    .load_balancer(arn)
                    .map(|l| l.tags.clone())
                    .ok_or_else(|| {
                        Fail::not_found(
                            "LoadBalancerNotFound",
                            "One or more load balancers not found",
                        )
                    })?
            };
            out.insert(arn.clone(), tags);
        }
        Ok(out)
    }

    pub fn elb_add_listener_certificate(
        &mut self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> SimResult<()> {
        let listener = self
            .elb
            .listener(listener_arn)
            .ok_or_else(listener_not_found)?;
        if listener.protocol != "HTTPS" {
            return Err(Fail::invalid(
                "InvalidConfigurationRequest",
                format!(
                    "Certificates can only be added to HTTPS listeners, not to '{}'",
                    listener.protocol
                ),
            ));
        }
        if ElbState::certificates_of(listener)
            .iter()
            .any(|c| c == certificate_arn)
        {
            return Ok(());
        }
        // AddListenerCertificates: the certificate must be an issued ACM certificate of the
        // account and region; ELB answers CertificateNotFound for unknown and not-yet-issued ones.
        if self.acm_status(certificate_arn) != Some(CertificateStatus::Issued) {
            return Err(Fail::not_found(
                "CertificateNotFound",
                format!("Certificate '{certificate_arn}' not found"),
            ));
        }
        if listener.certificates.len() >= MAX_CERTIFICATES_PER_LISTENER {
            return Err(Fail::new(
                AwsErrorKind::LimitExceeded,
                "TooManyCertificates",
                "You've reached the limit on the number of certificates per load balancer.",
            ));
        }
        if let Some(listener) = self
            .elb
            .listeners
            .iter_mut()
            .find(|l| l.arn == listener_arn)
        {
            listener.certificates.push(certificate_arn.to_string());
        }
        Ok(())
    }

    pub fn elb_remove_listener_certificate(
        &mut self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> SimResult<()> {
        let listener = self
            .elb
            .listeners
            .iter_mut()
            .find(|l| l.arn == listener_arn)
            .ok_or_else(listener_not_found)?;
        if listener.default_certificate.as_deref() == Some(certificate_arn) {
            // RemoveListenerCertificates: "You can't remove the default certificate."
            return Err(Fail::invalid(
                "OperationNotPermitted",
                "The default certificate cannot be removed from a listener",
            ));
        }
        listener.certificates.retain(|c| c != certificate_arn);
        Ok(())
    }

    pub fn elb_describe_listener_certificates(&self, listener_arn: &str) -> SimResult<Vec<String>> {
        let listener = self
            .elb
            .listener(listener_arn)
            .ok_or_else(listener_not_found)?;
        Ok(ElbState::certificates_of(listener))
    }

    // ---- dynamics ----

    /// Removes targets whose deregistration delay has passed.
    pub fn elb_expire_draining(&mut self) -> bool {
        let now = self.now;
        let mut changed = false;
        for tg in self.elb.target_groups.values_mut() {
            let before = tg.targets.len();
            tg.targets
                .retain(|t| t.drain_until.is_none_or(|end| end > now));
            changed |= tg.targets.len() != before;
        }
        changed
    }

    /// Times at which a target's health or draining changes.
    pub fn elb_events(&self, out: &mut Vec<Timestamp>) {
        let now = self.now;
        for tg in self.elb.target_groups.values() {
            for t in &tg.targets {
                let at = match t.drain_until {
                    Some(end) => end,
                    None => t.settles_at(&tg.health_check),
                };
                if at > now {
                    out.push(at);
                }
            }
        }
    }
}

/// The [`Elbv2`] trait over the shared world.
pub(crate) struct SimElbv2 {
    pub sim: AwsSim,
}

const ELB: SimService = SimService::Elbv2;

#[async_trait]
impl Elbv2 for SimElbv2 {
    async fn describe_listener(&self, arn: &str) -> AwsResult<Option<Listener>> {
        self.sim
            .call(ELB, "DescribeListeners", false, |w| {
                w.elb_describe_listener(arn)
            })
            .await
    }

    async fn describe_load_balancer(&self, arn: &str) -> AwsResult<Option<LoadBalancer>> {
        self.sim
            .call(ELB, "DescribeLoadBalancers", false, |w| {
                w.elb_describe_load_balancer(arn)
            })
            .await
    }

    async fn create_target_group(&self, input: &TargetGroupInput) -> AwsResult<TargetGroup> {
        self.sim
            .call(ELB, "CreateTargetGroup", true, |w| {
                w.elb_create_target_group(input)
            })
            .await
    }

    async fn describe_target_groups(&self, names: &[String]) -> AwsResult<Vec<TargetGroup>> {
        self.sim
            .call(ELB, "DescribeTargetGroups", false, |w| {
                w.elb_describe_target_groups(names)
            })
            .await
    }

    async fn modify_target_group(
        &self,
        arn: &str,
        health_check: &HealthCheckConfig,
    ) -> AwsResult<TargetGroup> {
        self.sim
            .call(ELB, "ModifyTargetGroup", true, |w| {
                w.elb_modify_target_group(arn, health_check)
            })
            .await
    }

    async fn delete_target_group(&self, arn: &str) -> AwsResult<()> {
        self.sim
            .call(ELB, "DeleteTargetGroup", true, |w| {
                w.elb_delete_target_group(arn)
            })
            .await
    }

    async fn describe_target_health(&self, target_group_arn: &str) -> AwsResult<Vec<TargetHealth>> {
        self.sim
            .call(ELB, "DescribeTargetHealth", false, |w| {
                w.elb_describe_target_health(target_group_arn)
            })
            .await
    }

    async fn describe_rules(&self, listener_arn: &str) -> AwsResult<Vec<Rule>> {
        self.sim
            .call(ELB, "DescribeRules", false, |w| {
                w.elb_describe_rules(listener_arn)
            })
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
        self.sim
            .call(ELB, "CreateRule", true, |w| {
                w.elb_create_rule(listener_arn, priority, conditions, forward, tags)
            })
            .await
    }

    async fn modify_rule(
        &self,
        rule_arn: &str,
        conditions: &RuleConditions,
        forward: &[WeightedTarget],
    ) -> AwsResult<Rule> {
        self.sim
            .call(ELB, "ModifyRule", true, |w| {
                w.elb_modify_rule(rule_arn, conditions, forward)
            })
            .await
    }

    async fn delete_rule(&self, rule_arn: &str) -> AwsResult<()> {
        self.sim
            .call(ELB, "DeleteRule", true, |w| w.elb_delete_rule(rule_arn))
            .await
    }

    async fn describe_tags(&self, arns: &[String]) -> AwsResult<BTreeMap<String, Vec<Tag>>> {
        self.sim
            .call(ELB, "DescribeTags", false, |w| w.elb_describe_tags(arns))
            .await
    }

    async fn add_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        self.sim
            .call(ELB, "AddListenerCertificates", true, |w| {
                w.elb_add_listener_certificate(listener_arn, certificate_arn)
            })
            .await
    }

    async fn remove_listener_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> AwsResult<()> {
        self.sim
            .call(ELB, "RemoveListenerCertificates", true, |w| {
                w.elb_remove_listener_certificate(listener_arn, certificate_arn)
            })
            .await
    }

    async fn describe_listener_certificates(&self, listener_arn: &str) -> AwsResult<Vec<String>> {
        self.sim
            .call(ELB, "DescribeListenerCertificates", false, |w| {
                w.elb_describe_listener_certificates(listener_arn)
            })
            .await
    }
}
