//! What applying a new App spec would change in AWS, without AWS: the resources the operator
//! converges to for the live spec and for the new one (built with the planner's own task
//! definition, health check, network, deployment bounds and rule conditions), compared field by
//! field; the revision and rollout a template change starts; and the monthly Fargate cost before
//! and after, with the rollout's peak apart. Pure: `cygni diff` reads the App, its Domains and the
//! file, calls [`diff`], and renders the result.
//!
//! Secret values never appear: plain environment variables and secrets are shown by name, with
//! only whether they were added, changed or removed.

use super::app::{deployment_bounds, health_check, network, task_definition_input};
use super::naming::{AppIdentity, template_hash};
use super::routing::rule_conditions;
use crate::api::app::SlotName;
use crate::api::strategy::StrategyKind;
use crate::api::{AppSpec, AppStatus};
use crate::controller::validate::ValidatedApp;
use crate::cost::peak::{Peak, RolloutShape, peak};
use crate::cost::{Architecture, NoPrice, Rates, TaskSize, table};
use crate::rollout::steps;
use sha2::{Digest, Sha256};
use std::fmt;

/// The value of one field, as the diff shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// What is compared.
    key: String,
    /// What is shown; `None` for a value never printed (environment values, secret sources).
    shown: Option<String>,
}

impl Value {
    /// A value shown as it is.
    pub fn shown(text: impl Into<String>) -> Value {
        let text = text.into();
        Value {
            key: text.clone(),
            shown: Some(text),
        }
    }

    /// A value compared by its hash and never shown.
    fn hidden(text: &str) -> Value {
        let digest = Sha256::digest(text.as_bytes());
        Value {
            key: digest.iter().map(|b| format!("{b:02x}")).collect(),
            shown: None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown.as_deref().unwrap_or("(value not shown)"))
    }
}

/// How one field changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldChange {
    /// Only in the new spec's resources.
    Added(Value),
    /// Only in the live spec's resources.
    Removed(Value),
    /// In both, different.
    Changed {
        /// Live.
        from: Value,
        /// New.
        to: Value,
    },
    /// In both, equal.
    Same(Value),
}

/// One field of one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Its name, e.g. `image` or `env LOG_LEVEL`.
    pub name: String,
    /// How it changes.
    pub change: FieldChange,
}

impl Field {
    /// Whether applying the spec changes it.
    pub fn differs(&self) -> bool {
        !matches!(self.change, FieldChange::Same(_))
    }
}

/// One resource the operator manages for the App.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// What it is, e.g. `task definition shop-web-1a2b3c4d`.
    pub title: String,
    /// Its fields.
    pub fields: Vec<Field>,
}

impl Resource {
    /// Whether any field changes.
    pub fn differs(&self) -> bool {
        self.fields.iter().any(Field::differs)
    }
}

/// A template change: a new revision, its task definition, and the rollout it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRevision {
    /// Its number.
    pub number: i64,
    /// How it reaches users, in a sentence.
    pub rollout: String,
    /// The rollout's steps, as `cygni status` names them.
    pub steps: Vec<String>,
}

/// The monthly cost before and after, at the table's prices.
#[derive(Clone, Debug, PartialEq)]
pub struct CostChange {
    /// Region priced.
    pub region: String,
    /// Architecture priced.
    pub architecture: Architecture,
    /// The rates, or why there are none.
    pub rates: Result<Rates, NoPrice>,
    /// The table's date.
    pub date: String,
    /// Steady tasks and their size for the live spec; `None` for an App not in the cluster.
    pub before: Option<(i32, TaskSize)>,
    /// Steady tasks and their size for the new spec.
    pub after: (i32, TaskSize),
    /// The busiest moment of the rollout the change starts, if it starts one.
    pub peak: Option<Peak>,
}

/// What applying one App would change.
#[derive(Clone, Debug, PartialEq)]
pub struct AppDiff {
    /// `namespace/name`.
    pub app: String,
    /// Not in the cluster yet: everything is created.
    pub created: bool,
    /// The resources, in the order the operator converges them.
    pub resources: Vec<Resource>,
    /// The revision a template change starts.
    pub revision: Option<NewRevision>,
    /// The cost.
    pub cost: CostChange,
}

impl AppDiff {
    /// Whether applying the spec changes anything in AWS.
    pub fn differs(&self) -> bool {
        self.created || self.revision.is_some() || self.resources.iter().any(Resource::differs)
    }
}

/// A Domain that points at the App, as its status says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointingDomain {
    /// The Domain's name.
    pub name: String,
    /// Its hostname and aliases.
    pub hostnames: Vec<String>,
}

/// One side of the comparison: a spec that passed validation.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    /// The spec, with the API's defaults.
    pub spec: &'a AppSpec,
    /// The spec with the operator's defaults filled in.
    pub valid: &'a ValidatedApp,
}

/// Everything [`diff`] looks at.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// Names and tags of the App.
    pub identity: &'a AppIdentity,
    /// The App's region (log configuration and prices).
    pub region: &'a str,
    /// The live App, when it is in the cluster.
    pub live: Option<Side<'a>>,
    /// Its status, when it has one.
    pub status: Option<&'a AppStatus>,
    /// The spec to apply.
    pub new: Side<'a>,
    /// Domains that point at the App.
    pub domains: &'a [PointingDomain],
    /// The hostnames of those Domains the listener rule matches (see
    /// [`crate::controller::app::routable_hostnames`]).
    pub domain_hosts: &'a [String],
}

/// The architecture of an App's tasks: the task definitions the operator registers name no
/// runtime platform, and ECS runs those on x86_64.
pub const ARCHITECTURE: Architecture = Architecture::X86_64;

/// What applying `inputs.new` would change.
pub fn diff(inputs: &Inputs<'_>) -> AppDiff {
    let status = inputs.status.cloned().unwrap_or_default();
    let active = status.active_slot.unwrap_or(SlotName::A);
    let before = inputs
        .live
        .map(|side| converged(inputs, side, active, inputs.domain_hosts));
    let after = converged(inputs, inputs.new, active, inputs.domain_hosts);

    // 1. The template: a new hash is a new revision, with its own task definition.
    let live_hash = inputs.live.map(|s| template_hash(&s.spec.template()));
    let new_hash = template_hash(&inputs.new.spec.template());
    let first = status.stable_revision.is_none();
    let revision = (live_hash.as_deref() != Some(new_hash.as_str())).then(|| {
        let number = status.current_revision.map_or(1, |r| r + 1);
        new_revision(inputs, number, first, active)
    });

    // 2. Each resource, field by field.
    let resources = match &before {
        Some(before) => before
            .iter()
            .zip(after.iter())
            .map(|(b, a)| compare(b, a))
            .collect(),
        None => after
            .iter()
            .map(|a| compare(&Shape::empty(&a.title), a))
            .collect(),
    };

    // 3. The cost.
    let size = |spec: &AppSpec| TaskSize::new(spec.container.cpu, spec.container.memory);
    let new_size = size(inputs.new.spec);
    let old_size = inputs.live.map_or(new_size, |s| size(s.spec));
    let serving = inputs.live.map_or(0, |s| s.spec.replicas);
    let peak = revision.as_ref().and_then(|_| {
        peak(
            &RolloutShape {
                strategy: &inputs.new.spec.strategy,
                replicas: inputs.new.spec.replicas,
                serving,
                old_size,
                new_size,
            },
            first || inputs.live.is_none(),
        )
    });
    let prices = table();
    let cost = CostChange {
        region: inputs.region.to_string(),
        architecture: ARCHITECTURE,
        rates: prices.rates(inputs.region, ARCHITECTURE),
        date: prices.date.clone(),
        before: inputs.live.map(|s| (s.spec.replicas, size(s.spec))),
        after: (inputs.new.spec.replicas, new_size),
        peak,
    };

    let mut diff = AppDiff {
        app: format!("{}/{}", inputs.identity.namespace, inputs.identity.name),
        created: inputs.live.is_none(),
        resources,
        revision,
        cost,
    };
    if diff.created {
        // AWS names end in a hash of the App's UID, which the API server assigns on creation.
        let family = inputs.identity.family();
        if let Some(uid8) = family.rsplit('-').next() {
            for resource in &mut diff.resources {
                resource.title = resource.title.replace(uid8, UID_PLACEHOLDER);
            }
            if let Some(revision) = &mut diff.revision {
                revision.rollout = revision.rollout.replace(uid8, UID_PLACEHOLDER);
            }
        }
    }
    diff
}

/// Stands for the hash of the UID in the names of an App not created yet.
pub const UID_PLACEHOLDER: &str = "<uid>";

/// The rollout a new revision starts, as the App controller will run it.
fn new_revision(inputs: &Inputs<'_>, number: i64, first: bool, active: SlotName) -> NewRevision {
    let strategy = &inputs.new.spec.strategy;
    let idle = inputs.identity.service_name(active.other());
    let serving = inputs.identity.service_name(active);
    let (rollout, steps) = if first || inputs.live.is_none() {
        (
            format!("first revision: ECS starts it in place in service {serving}"),
            Vec::new(),
        )
    } else {
        match strategy.kind() {
            StrategyKind::Rolling => (
                format!(
                    "rolling: ECS replaces the tasks of service {serving} in place, its circuit breaker rolls back a revision that does not start"
                ),
                Vec::new(),
            ),
            kind => {
                let rollout = steps::of(strategy).unwrap_or_default();
                let total = rollout.len();
                let name = if kind == StrategyKind::Canary {
                    "canary"
                } else {
                    "blueGreen"
                };
                (
                    format!(
                        "{name}: the new revision starts in service {idle}, then traffic moves from {serving} in {total} steps"
                    ),
                    rollout
                        .iter()
                        .enumerate()
                        .map(|(i, s)| format!("{}/{total} {s}", i + 1))
                        .collect(),
                )
            }
        }
    };
    NewRevision {
        number,
        rollout,
        steps,
    }
}

/// A resource as the operator converges it: its title and fields, in order.
#[derive(Clone, Debug)]
struct Shape {
    title: String,
    fields: Vec<(String, Value)>,
}

impl Shape {
    fn empty(title: &str) -> Shape {
        Shape {
            title: title.to_string(),
            fields: Vec::new(),
        }
    }

    fn new(title: impl Into<String>) -> Shape {
        Shape {
            title: title.into(),
            fields: Vec::new(),
        }
    }

    fn field(mut self, name: impl Into<String>, value: Value) -> Shape {
        self.fields.push((name.into(), value));
        self
    }

    fn text(self, name: impl Into<String>, text: impl Into<String>) -> Shape {
        self.field(name, Value::shown(text))
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

/// The resources the operator converges to for one spec, in the order it converges them.
fn converged(
    inputs: &Inputs<'_>,
    side: Side<'_>,
    active: SlotName,
    domain_hosts: &[String],
) -> Vec<Shape> {
    let template = side.spec.template();
    let identity = inputs.identity;
    let td = task_definition_input(identity, &template, side.valid, inputs.region);
    let container = &td.container;
    let mut task = Shape::new(format!("task definition {}", td.family))
        .text("image", &container.image)
        .text("cpu", &td.cpu)
        .text("memory", &td.memory)
        .text("port", container.port.to_string())
        .text(
            "entryPoint",
            container
                .entry_point
                .as_ref()
                .map_or("(image's)".to_string(), |c| c.join(" ")),
        )
        .text(
            "command",
            container
                .command
                .as_ref()
                .map_or("(image's)".to_string(), |c| c.join(" ")),
        );
    for (name, value) in &container.environment {
        task = task.field(format!("env {name}"), Value::hidden(value));
    }
    for (name, value_from) in &container.secrets {
        task = task.field(format!("secret {name}"), Value::hidden(value_from));
    }
    let logs = container.logs.as_ref();
    task = task
        .text(
            "executionRoleArn",
            td.execution_role_arn.as_deref().unwrap_or("(none)"),
        )
        .text(
            "taskRoleArn",
            td.task_role_arn.as_deref().unwrap_or("(none)"),
        )
        .text("log group", logs.map_or("(none)", |l| l.group.as_str()))
        .text(
            "log stream prefix",
            logs.map_or("(none)", |l| l.stream_prefix.as_str()),
        );

    let hc = health_check(&template);
    let target_groups = Shape::new(format!(
        "target groups {}, {}",
        identity.target_group_name(SlotName::A),
        identity.target_group_name(SlotName::B)
    ))
    .text("health check path", &hc.path)
    .text(
        "health check port",
        hc.port
            .map_or("(container port)".to_string(), |p| p.to_string()),
    )
    .text("interval", format!("{}s", hc.interval_seconds))
    .text("timeout", format!("{}s", hc.timeout_seconds))
    .text("healthy threshold", hc.healthy_threshold.to_string())
    .text("unhealthy threshold", hc.unhealthy_threshold.to_string())
    .text("matcher", &hc.matcher);

    let net = network(&template, side.valid);
    let (min_healthy, max_percent) = deployment_bounds(&side.spec.strategy);
    let services = Shape::new(format!(
        "services {}, {}",
        identity.service_name(SlotName::A),
        identity.service_name(SlotName::B)
    ))
    .text("cluster", &side.valid.cluster)
    .text(
        format!("desired count (serving, slot {active})"),
        side.spec.replicas.to_string(),
    )
    .text("desired count (idle)", "0")
    .text("minimumHealthyPercent", min_healthy.to_string())
    .text("maximumPercent", max_percent.to_string())
    .text(
        "health check grace period",
        format!("{}s", template.health_check.grace_period_seconds),
    )
    .text("subnets", list(&net.subnets))
    .text("security groups", list(&net.security_groups))
    .text("public IP", if net.assign_public_ip { "yes" } else { "no" });

    let conditions = rule_conditions(side.spec, domain_hosts);
    let rule = Shape::new("listener rule")
        .text("listener", &side.valid.listener_arn)
        .text("hosts", list(&conditions.host_headers))
        .text("paths", list(&conditions.path_patterns))
        .text(
            "priority",
            side.spec.routing.priority.map_or_else(
                || "picked by the operator (kept once assigned)".to_string(),
                |p| p.to_string(),
            ),
        )
        .text(
            "preview listener",
            side.valid
                .preview_listener_arn
                .as_deref()
                .unwrap_or("(none)"),
        );

    // Domains point alias records at the load balancer of the App's listener; the records follow
    // the listener.
    let mut records = Shape::new("DNS records (written by the Domains that point at the App)");
    for domain in inputs.domains {
        for host in &domain.hostnames {
            records = records.text(
                format!("A alias {host} (Domain {})", domain.name),
                format!("load balancer of {}", side.valid.listener_arn),
            );
        }
    }
    let mut shapes = vec![task, target_groups, services, rule];
    if !inputs.domains.is_empty() {
        shapes.push(records);
    }
    shapes
}

/// Field by field, in the new resource's order, then what only the live one had.
fn compare(before: &Shape, after: &Shape) -> Resource {
    let mut fields: Vec<Field> = after
        .fields
        .iter()
        .map(|(name, value)| {
            let change = match before.fields.iter().find(|(n, _)| n == name) {
                None => FieldChange::Added(value.clone()),
                Some((_, old)) if old.key == value.key => FieldChange::Same(value.clone()),
                Some((_, old)) => FieldChange::Changed {
                    from: old.clone(),
                    to: value.clone(),
                },
            };
            Field {
                name: name.clone(),
                change,
            }
        })
        .collect();
    for (name, value) in &before.fields {
        if !after.fields.iter().any(|(n, _)| n == name) {
            fields.push(Field {
                name: name.clone(),
                change: FieldChange::Removed(value.clone()),
            });
        }
    }
    Resource {
        title: after.title.clone(),
        fields,
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
