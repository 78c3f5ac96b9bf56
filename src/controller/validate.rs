//! Validation that the CRD schema cannot express: operator defaults and policy, and checks across
//! fields. Pure functions (no client); the validated types they return are the only inputs the
//! later reconcile steps accept, so an invalid spec cannot reach AWS.

use crate::api::{AppSpec, DeploymentSpec, DomainSpec};
use crate::config::{OperatorDefaults, Policy};
use crate::rollout::steps::RolloutStep;
use std::fmt;

/// One problem with a spec: the field, what is wrong, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSpec {
    /// Path of the field, e.g. `spec.network.subnets`.
    pub field: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl InvalidSpec {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidSpec {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// All problems of a spec in one sentence, for a condition message or an Event.
pub fn describe(problems: &[InvalidSpec]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// An App whose spec passed validation, with operator defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedApp {
    /// ECS cluster the App runs in.
    pub cluster: String,
    /// Subnets of its tasks.
    pub subnets: Vec<String>,
    /// Security groups of its tasks.
    pub security_groups: Vec<String>,
    /// Listener its rule is attached to.
    pub listener_arn: String,
    /// Listener where a blue-green revision answers before the switch, when there is one.
    pub preview_listener_arn: Option<String>,
    /// Task execution role.
    pub execution_role_arn: String,
}

/// Checks an App against the operator's defaults and policy.
pub fn app(
    spec: &AppSpec,
    defaults: &OperatorDefaults,
    policy: &Policy,
) -> Result<ValidatedApp, Vec<InvalidSpec>> {
    let mut problems = Vec::new();

    let cluster = spec
        .cluster
        .clone()
        .or_else(|| defaults.ecs_cluster.clone());
    match &cluster {
        None => problems.push(InvalidSpec::new(
            "spec.cluster",
            "no ECS cluster: set spec.cluster, or install the operator with --ecs-cluster",
        )),
        Some(c) if !allowed(&policy.allowed_clusters, c, cluster_matches) => {
            problems.push(InvalidSpec::new(
                "spec.cluster",
                format!(
                    "cluster {c} is not allowed by the operator; use one of: {}",
                    policy.allowed_clusters.join(", ")
                ),
            ))
        }
        Some(_) => {}
    }

    let subnets = or_default(&spec.network.subnets, &defaults.subnets);
    if subnets.is_empty() {
        problems.push(InvalidSpec::new(
            "spec.network.subnets",
            "no subnets: set spec.network.subnets, or install the operator with --subnets",
        ));
    }
    let security_groups = or_default(&spec.network.security_groups, &defaults.security_groups);

    let listener_arn = spec
        .routing
        .listener_arn
        .clone()
        .or_else(|| defaults.listener_arn.clone());
    match &listener_arn {
        None => problems.push(InvalidSpec::new(
            "spec.routing.listenerArn",
            "no ALB listener: set spec.routing.listenerArn, or install the operator with --listener-arn",
        )),
        Some(l) if !allowed(&policy.allowed_listeners, l, |a, b| a == b) => {
            problems.push(InvalidSpec::new(
                "spec.routing.listenerArn",
                "this listener is not allowed by the operator; use the default listener or one listed in --allowed-listeners",
            ))
        }
        Some(_) => {}
    }

    let preview_listener_arn = spec.strategy.blue_green.as_ref().and_then(|bg| {
        bg.preview_listener_arn
            .clone()
            .or_else(|| defaults.preview_listener_arn.clone())
    });
    if let Some(preview) = &preview_listener_arn {
        if !allowed(&policy.allowed_listeners, preview, |a, b| a == b) {
            problems.push(InvalidSpec::new(
                "spec.strategy.blueGreen.previewListenerArn",
                "this listener is not allowed by the operator; use the default preview listener or one listed in --allowed-listeners",
            ));
        }
        if Some(preview) == listener_arn.as_ref() {
            problems.push(InvalidSpec::new(
                "spec.strategy.blueGreen.previewListenerArn",
                "the preview listener must not be the listener that serves the App: use a test port of the same load balancer",
            ));
        }
    }

    let execution_role_arn = spec
        .iam
        .execution_role_arn
        .clone()
        .or_else(|| defaults.execution_role_arn.clone());
    if execution_role_arn.is_none() {
        problems.push(InvalidSpec::new(
            "spec.iam.executionRoleArn",
            "Fargate needs a task execution role to pull images, send logs and read secrets: set spec.iam.executionRoleArn, or install the operator with --execution-role-arn",
        ));
    }

    for (i, secret) in spec.container.secrets.iter().enumerate() {
        if spec.container.env.iter().any(|e| e.name == secret.name) {
            problems.push(InvalidSpec::new(
                format!("spec.container.secrets[{i}].name"),
                format!(
                    "{} is also set in spec.container.env; keep it in one of the two lists",
                    secret.name
                ),
            ));
        }
    }

    if let Some(canary) = &spec.strategy.canary {
        // The setCanaryScale step in force that leaves the canary without tasks, if any.
        let mut empty_since: Option<usize> = None;
        for (i, step) in canary.steps.iter().enumerate() {
            if let Some(scale) = &step.set_canary_scale {
                let empty = scale.replicas == Some(0) || scale.weight == Some(0);
                empty_since = empty.then_some(i);
            }
            if let (Some(weight @ 1..=99), Some(j)) = (step.set_weight, empty_since) {
                problems.push(InvalidSpec::new(
                    format!("spec.strategy.canary.steps[{i}].setWeight"),
                    format!(
                        "sends {weight}% of traffic to a canary that steps[{j}].setCanaryScale scales to zero tasks; give the canary at least one task (replicas: 1) or set matchTrafficWeight: true before this step"
                    ),
                ));
            }
            if let Some(duration) = step.pause.as_ref().and_then(|p| p.duration.as_deref())
                && let Err(e) = crate::config::parse_duration(duration)
            {
                problems.push(InvalidSpec::new(
                    format!("spec.strategy.canary.steps[{i}].pause.duration"),
                    e,
                ));
            }
        }
    }

    match (cluster, listener_arn, execution_role_arn) {
        (Some(cluster), Some(listener_arn), Some(execution_role_arn)) if problems.is_empty() => {
            Ok(ValidatedApp {
                cluster,
                subnets,
                security_groups,
                listener_arn,
                preview_listener_arn,
                execution_role_arn,
            })
        }
        _ => Err(problems),
    }
}

/// A Deployment whose snapshot is internally consistent: its rollout steps, built once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedDeployment {
    /// The steps of a canary or blue-green rollout; empty for `rolling`.
    pub steps: Vec<RolloutStep>,
}

/// Checks what the schema cannot in a Deployment snapshot, and builds its rollout steps.
pub fn deployment(spec: &DeploymentSpec) -> Result<ValidatedDeployment, Vec<InvalidSpec>> {
    let mut problems = Vec::new();
    let steps = match crate::rollout::steps::of(&spec.strategy) {
        Ok(steps) => steps,
        Err(errors) => {
            problems.extend(errors.into_iter().map(|e| {
                InvalidSpec::new(
                    format!("spec.strategy.canary.steps[{}].pause.duration", e.index),
                    e.message,
                )
            }));
            Vec::new()
        }
    };
    if let Some(step) = spec.promote_step
        && problems.is_empty()
        && usize::try_from(step).map_or(true, |s| s >= steps.len().max(1))
    {
        problems.push(InvalidSpec::new(
            "spec.promoteStep",
            format!(
                "there is no step {step}; promote the current step (see status.currentStepIndex)"
            ),
        ));
    }
    if problems.is_empty() {
        Ok(ValidatedDeployment { steps })
    } else {
        Err(problems)
    }
}

/// A Domain whose names fit the operator's hosted zone policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedDomain {
    /// Every hostname the Domain serves: the hostname first, then the aliases.
    pub hostnames: Vec<String>,
}

/// Checks a Domain against the operator's hosted zone policy.
pub fn domain(spec: &DomainSpec, policy: &Policy) -> Result<ValidatedDomain, Vec<InvalidSpec>> {
    let mut problems = Vec::new();
    let hostnames: Vec<String> = std::iter::once(&spec.hostname)
        .chain(&spec.aliases)
        .map(|h| normalize(h))
        .collect();

    if let Some(zone_name) = spec.hosted_zone.as_ref().and_then(|z| z.name.as_deref()) {
        let zone = normalize(zone_name);
        for (i, host) in hostnames.iter().enumerate() {
            if !in_zone(host, &zone) {
                let field = if i == 0 {
                    "spec.hostname".to_string()
                } else {
                    format!("spec.aliases[{}]", i - 1)
                };
                problems.push(InvalidSpec::new(
                    field,
                    format!("{host} is not inside hosted zone {zone}; pick a name under {zone} or another zone"),
                ));
            }
        }
    }

    if !policy.allowed_hosted_zones.is_empty() {
        let allowed_by_id = spec
            .hosted_zone
            .as_ref()
            .and_then(|z| z.id.as_deref())
            .is_some_and(|id| policy.allowed_hosted_zones.iter().any(|a| a == id));
        let zone_names: Vec<String> = policy
            .allowed_hosted_zones
            .iter()
            .filter(|z| !is_zone_id(z))
            .map(|z| normalize(z))
            .collect();
        if !allowed_by_id {
            for (i, host) in hostnames.iter().enumerate() {
                if !zone_names.iter().any(|z| in_zone(host, z)) {
                    let field = if i == 0 {
                        "spec.hostname".to_string()
                    } else {
                        format!("spec.aliases[{}]", i - 1)
                    };
                    problems.push(InvalidSpec::new(
                        field,
                        format!(
                            "{host} is in no hosted zone the operator may write to ({}); ask the platform team to allow its zone",
                            policy.allowed_hosted_zones.join(", ")
                        ),
                    ));
                }
            }
        }
    }

    if problems.is_empty() {
        Ok(ValidatedDomain { hostnames })
    } else {
        Err(problems)
    }
}

fn or_default(value: &[String], default: &[String]) -> Vec<String> {
    if value.is_empty() {
        default.to_vec()
    } else {
        value.to_vec()
    }
}

fn allowed(list: &[String], value: &str, matches: impl Fn(&str, &str) -> bool) -> bool {
    list.is_empty() || list.iter().any(|a| matches(a, value))
}

/// A cluster can be named by name or ARN (`arn:...:cluster/<name>`); both refer to the same one.
fn cluster_matches(a: &str, b: &str) -> bool {
    fn name(c: &str) -> &str {
        c.rsplit_once(":cluster/").map_or(c, |(_, n)| n)
    }
    name(a) == name(b)
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn in_zone(host: &str, zone: &str) -> bool {
    host == zone || host.ends_with(&format!(".{zone}"))
}

fn is_zone_id(text: &str) -> bool {
    text.starts_with('Z')
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::domain::{AppRef, HostedZoneRef};
    use crate::api::{DeletionPolicy, Strategy};

    fn app_spec() -> AppSpec {
        serde_json::from_value(serde_json::json!({
            "container": {"image": "web:1"},
        }))
        .expect("minimal App spec")
    }

    fn defaults() -> OperatorDefaults {
        OperatorDefaults {
            ecs_cluster: Some("prod".into()),
            subnets: vec!["subnet-0123456789abcdef0".into()],
            security_groups: vec![],
            listener_arn: Some(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/1/2".into(),
            ),
            preview_listener_arn: None,
            execution_role_arn: Some("arn:aws:iam::123456789012:role/exec".into()),
        }
    }

    fn domain_spec(host: &str) -> DomainSpec {
        DomainSpec {
            hostname: host.into(),
            aliases: vec![],
            app_ref: AppRef { name: "web".into() },
            hosted_zone: None,
            certificate: None,
            ttl: 300,
            deletion_policy: DeletionPolicy::Delete,
        }
    }

    #[test]
    fn operator_defaults_fill_what_the_app_leaves_empty() {
        let v = app(&app_spec(), &defaults(), &Policy::default()).expect("valid");
        assert_eq!(v.cluster, "prod");
        assert_eq!(v.subnets, vec!["subnet-0123456789abcdef0".to_string()]);
    }

    #[test]
    fn app_without_cluster_anywhere_names_the_field_and_the_flag() {
        let mut d = defaults();
        d.ecs_cluster = None;
        let errs = app(&app_spec(), &d, &Policy::default()).unwrap_err();
        assert_eq!(errs[0].field, "spec.cluster");
        assert!(errs[0].message.contains("--ecs-cluster"));
    }

    #[test]
    fn cluster_outside_the_allowed_list_is_refused() {
        let mut spec = app_spec();
        spec.cluster = Some("staging".into());
        let policy = Policy {
            allowed_clusters: vec!["arn:aws:ecs:eu-west-1:123456789012:cluster/prod".into()],
            ..Policy::default()
        };
        let errs = app(&spec, &defaults(), &policy).unwrap_err();
        assert_eq!(errs[0].field, "spec.cluster");
        spec.cluster = Some("prod".into());
        assert!(
            app(&spec, &defaults(), &policy).is_ok(),
            "name matches the allowed ARN"
        );
    }

    #[test]
    fn traffic_to_a_canary_scaled_to_zero_tasks_is_refused() {
        let mut spec = app_spec();
        spec.strategy = serde_json::from_value(serde_json::json!({"canary": {"steps": [
            {"setCanaryScale": {"replicas": 0}},
            {"setWeight": 0},
            {"setWeight": 20},
            {"setCanaryScale": {"matchTrafficWeight": true}},
            {"setWeight": 50},
        ]}}))
        .expect("strategy");
        let errs = app(&spec, &defaults(), &Policy::default()).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "spec.strategy.canary.steps[2].setWeight");
        assert!(
            errs[0].message.contains("steps[0].setCanaryScale"),
            "{errs:?}"
        );
    }

    #[test]
    fn secret_and_env_with_the_same_name_are_refused() {
        let mut spec = app_spec();
        spec.container.env = vec![crate::api::app::EnvVar {
            name: "TOKEN".into(),
            value: "x".into(),
        }];
        spec.container.secrets = vec![crate::api::app::SecretEnvVar {
            name: "TOKEN".into(),
            value_from: "arn:aws:ssm:eu-west-1:123456789012:parameter/token".into(),
        }];
        let errs = app(&spec, &defaults(), &Policy::default()).unwrap_err();
        assert_eq!(errs[0].field, "spec.container.secrets[0].name");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errs = app(
            &app_spec(),
            &OperatorDefaults::default(),
            &Policy::default(),
        )
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.cluster",
                "spec.network.subnets",
                "spec.routing.listenerArn",
                "spec.iam.executionRoleArn"
            ]
        );
    }

    #[test]
    fn promote_step_beyond_the_last_step_is_refused() {
        let strategy: Strategy = serde_json::from_value(serde_json::json!({
            "canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}]}
        }))
        .expect("canary");
        let spec = DeploymentSpec {
            app: "web".into(),
            revision: 1,
            template_hash: "abc".into(),
            template: app_spec().template(),
            strategy,
            analysis: None,
            rollback_of: None,
            paused: false,
            abort: false,
            promote_full: false,
            promote_step: Some(4),
            retry_attempt: 0,
        };
        assert_eq!(deployment(&spec).unwrap_err()[0].field, "spec.promoteStep");
        let ok = DeploymentSpec {
            promote_step: Some(1),
            ..spec
        };
        assert_eq!(
            deployment(&ok).expect("valid").steps,
            vec![
                RolloutStep::SetWeight(10),
                RolloutStep::Pause(Some(std::time::Duration::from_secs(300))),
                RolloutStep::SetWeight(100),
                RolloutStep::ScaleDownDelay(std::time::Duration::from_secs(30)),
            ]
        );
    }

    #[test]
    fn hostname_outside_the_named_zone_is_refused() {
        let mut spec = domain_spec("shop.example.org");
        spec.hosted_zone = Some(HostedZoneRef {
            id: None,
            name: Some("example.com".into()),
        });
        let errs = domain(&spec, &Policy::default()).unwrap_err();
        assert_eq!(errs[0].field, "spec.hostname");
    }

    #[test]
    fn domain_in_an_allowed_zone_passes_and_others_are_refused() {
        let policy = Policy {
            allowed_hosted_zones: vec!["example.com".into()],
            ..Policy::default()
        };
        assert!(domain(&domain_spec("shop.example.com"), &policy).is_ok());
        let mut spec = domain_spec("shop.example.com");
        spec.aliases = vec!["www.other.net".into()];
        let errs = domain(&spec, &policy).unwrap_err();
        assert_eq!(errs[0].field, "spec.aliases[0]");
    }

    #[test]
    fn zone_allowed_by_id_accepts_the_domain() {
        let policy = Policy {
            allowed_hosted_zones: vec!["Z0123456789ABC".into()],
            ..Policy::default()
        };
        let mut spec = domain_spec("shop.example.com");
        assert!(domain(&spec, &policy).is_err());
        spec.hosted_zone = Some(HostedZoneRef {
            id: Some("Z0123456789ABC".into()),
            name: None,
        });
        assert!(domain(&spec, &policy).is_ok());
    }
}
