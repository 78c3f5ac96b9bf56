//! The App planner: a pure function from (spec, operator settings, App status, observed AWS state,
//! the App's Deployments, now) to the changes that converge AWS and the status to report. No I/O;
//! the App controller observes, calls [`plan`], executes the changes in order and writes the
//! status.
//!
//! Slots: two ECS services and two target groups. The active slot serves the stable revision.
//! `rolling` updates the active slot in place (ECS's circuit breaker rolls back a failing revision);
//! `canary` and `blueGreen` start the new revision in the idle slot and apply the weights and scale
//! its Deployment's status asks for; when that Deployment succeeds with 100% verified on the new
//! slot, the slots swap roles and the old one scales to zero after the strategy's delay.

use super::naming::{AppIdentity, free_priority};
use super::routing::rule_conditions;
use crate::api::app::{
    EcsRolloutState, LoadBalancerStatus, RevisionTaskDefinition, SlotName, SlotStatus,
};
use crate::api::conditions::{self, ConditionUpdate, Status, reason};
use crate::api::deployment::DeploymentPhase;
use crate::api::strategy::StrategyKind;
use crate::api::{AppSpec, AppStatus, AppTemplate, Strategy};
use crate::aws::ecs::{
    ContainerDefinition, LogConfiguration, NetworkConfiguration, RolloutState, Service,
    ServiceInput, ServiceUpdate, TaskDefinitionInput,
};
use crate::aws::elbv2::{
    HealthCheckConfig, Listener, LoadBalancer, Rule, RuleConditions, TargetGroup, TargetGroupInput,
    WeightedTarget,
};
use crate::controller::validate::ValidatedApp;
use std::collections::BTreeMap;
use std::time::Duration;

/// Both slots, in a fixed order.
pub const SLOTS: [SlotName; 2] = [SlotName::A, SlotName::B];

/// One revision of the App, as its Deployment records it.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    /// Revision number.
    pub number: i64,
    /// Hash of the template.
    pub template_hash: String,
    /// The frozen template.
    pub template: AppTemplate,
    /// The frozen strategy.
    pub strategy: Strategy,
    /// Rollout phase (decided by the Deployment controller).
    pub phase: DeploymentPhase,
    /// Weight (percent) the Deployment wants on the new revision.
    pub desired_weight: Option<i32>,
    /// Tasks the Deployment wants in the new revision's slot.
    pub desired_replicas: Option<i32>,
    /// What the Deployment says of its rollout (the step it is at, or why it ended).
    pub message: Option<String>,
}

/// What exists in AWS for one slot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedSlot {
    /// The slot's ECS service, when it exists and is ACTIVE.
    pub service: Option<Service>,
    /// The slot's target group.
    pub target_group: Option<TargetGroup>,
    /// Targets passing health checks, when they were read.
    pub healthy_targets: Option<i32>,
}

/// What exists in AWS for the App.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The listener the App is routed from.
    pub listener: Listener,
    /// Its load balancer.
    pub load_balancer: LoadBalancer,
    /// Slot a.
    pub a: ObservedSlot,
    /// Slot b.
    pub b: ObservedSlot,
    /// The App's listener rule.
    pub rule: Option<Rule>,
    /// The listener's other rules (their priorities are taken; their conditions may clash).
    pub other_rules: Vec<Rule>,
    /// The preview listener and the App's rule on it, when a blue-green rollout may need one or
    /// the App still has one.
    pub preview: Option<PreviewObserved>,
}

/// The preview listener of a blue-green App, as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewObserved {
    /// The listener.
    pub listener: Listener,
    /// The App's rule on it.
    pub rule: Option<Rule>,
    /// Priorities of its other rules.
    pub used_priorities: Vec<i32>,
}

impl Observed {
    /// The observed state of a slot.
    pub fn slot(&self, slot: SlotName) -> &ObservedSlot {
        match slot {
            SlotName::A => &self.a,
            SlotName::B => &self.b,
        }
    }
}

/// Everything the planner looks at.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// Names and tags.
    pub identity: &'a AppIdentity,
    /// The App's spec.
    pub spec: &'a AppSpec,
    /// The spec with operator defaults filled in.
    pub valid: &'a ValidatedApp,
    /// AWS region (for the log configuration).
    pub region: &'a str,
    /// The App's current status: the planner's memory.
    pub status: &'a AppStatus,
    /// AWS as observed now.
    pub observed: &'a Observed,
    /// The App's Deployments, any order.
    pub revisions: &'a [Revision],
    /// Hash of the App's current template.
    pub template_hash: &'a str,
    /// Hostnames of Ready Domains that point at the App.
    pub domain_hosts: &'a [String],
    /// The App's `metadata.generation`.
    pub generation: Option<i64>,
    /// The current time.
    pub now: jiff::Timestamp,
}

/// One change to make, in the order the plan lists them.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Create the Deployment object of a new revision.
    CreateDeployment {
        /// Revision number.
        revision: i64,
        /// The newest earlier revision with the same template, when it puts one back.
        rollback_of: Option<i64>,
    },
    /// Delete Deployments beyond the revision history limit.
    PruneDeployments {
        /// Revision numbers to delete.
        revisions: Vec<i64>,
    },
    /// Register a task definition for a template; later changes refer to it by hash.
    RegisterTaskDefinition {
        /// Revision the task definition is for.
        revision: i64,
        /// The input.
        input: Box<TaskDefinitionInput>,
    },
    /// Create a slot's target group.
    CreateTargetGroup {
        /// Slot.
        slot: SlotName,
        /// The input.
        input: TargetGroupInput,
    },
    /// Fix a slot's target group health check.
    ModifyTargetGroup {
        /// Slot.
        slot: SlotName,
        /// Target group ARN.
        arn: String,
        /// The health check.
        health_check: HealthCheckConfig,
    },
    /// Create a slot's service (its target group and task definition are resolved at act time).
    CreateService {
        /// Slot.
        slot: SlotName,
        /// Revision the slot will run; its task definition is the input's, or the one registered
        /// earlier in the plan when the input's is empty.
        revision: i64,
        /// The input, with the target group ARN (and maybe the task definition) to fill in.
        input: Box<ServiceInput>,
    },
    /// Update a slot's service.
    UpdateService {
        /// Slot.
        slot: SlotName,
        /// Revision the slot switches to, when it changes; its task definition is the update's, or
        /// the one registered earlier in the plan when the update has none.
        revision: Option<i64>,
        /// The update.
        update: Box<ServiceUpdate>,
    },
    /// Create the listener rule.
    CreateRule {
        /// Priority.
        priority: i32,
        /// Conditions.
        conditions: RuleConditions,
        /// Weight per slot.
        weights: Vec<(SlotName, i32)>,
    },
    /// Replace the rule's conditions and weights.
    ModifyRule {
        /// Rule ARN.
        arn: String,
        /// Conditions.
        conditions: RuleConditions,
        /// Weight per slot.
        weights: Vec<(SlotName, i32)>,
    },
    /// Create the rule on the preview listener that sends all its requests to one slot.
    CreatePreviewRule {
        /// The preview listener.
        listener_arn: String,
        /// Priority.
        priority: i32,
        /// Conditions (the App's).
        conditions: RuleConditions,
        /// The slot previewed.
        slot: SlotName,
    },
    /// Point the preview rule at a slot again, with the App's conditions.
    ModifyPreviewRule {
        /// Rule ARN.
        arn: String,
        /// Conditions.
        conditions: RuleConditions,
        /// The slot previewed.
        slot: SlotName,
    },
    /// Remove the preview rule: the switch happened or the rollout ended.
    DeletePreviewRule {
        /// Rule ARN.
        arn: String,
    },
}

impl Change {
    /// Position of the change's kind in a plan.
    fn order(&self) -> u8 {
        match self {
            Change::CreateDeployment { .. } | Change::PruneDeployments { .. } => 0,
            Change::RegisterTaskDefinition { .. } => 1,
            Change::CreateTargetGroup { .. } | Change::ModifyTargetGroup { .. } => 2,
            Change::CreateRule { .. }
            | Change::ModifyRule { .. }
            | Change::CreatePreviewRule { .. }
            | Change::ModifyPreviewRule { .. }
            | Change::DeletePreviewRule { .. } => 3,
            Change::CreateService { .. } | Change::UpdateService { .. } => 4,
        }
    }

    /// Whether the change writes to AWS (as opposed to Kubernetes).
    pub fn is_aws(&self) -> bool {
        !matches!(
            self,
            Change::CreateDeployment { .. } | Change::PruneDeployments { .. }
        )
    }
}

/// A few words for Events and logs, e.g. `update service shop-web-1a2b3c4d-a (desired count 4)`.
impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::CreateDeployment {
                revision,
                rollback_of,
            } => match rollback_of {
                Some(earlier) => write!(
                    f,
                    "create Deployment for revision {revision} (a rollback to {earlier})"
                ),
                None => write!(f, "create Deployment for revision {revision}"),
            },
            Change::PruneDeployments { revisions } => {
                let list: Vec<String> = revisions.iter().map(ToString::to_string).collect();
                write!(f, "prune revisions {}", list.join(", "))
            }
            Change::RegisterTaskDefinition { input, .. } => {
                write!(f, "register task definition {}", input.family)
            }
            Change::CreateTargetGroup { input, .. } => {
                write!(f, "create target group {}", input.name)
            }
            Change::ModifyTargetGroup { slot, .. } => {
                write!(f, "restore the health check of slot {slot}")
            }
            Change::CreateService { input, .. } => write!(f, "create service {}", input.name),
            Change::UpdateService { update, .. } => {
                let mut what = Vec::new();
                if update.task_definition_arn.is_some() || update.network.is_some() {
                    what.push("new revision".to_string());
                }
                if let Some(count) = update.desired_count {
                    what.push(format!("desired count {count}"));
                }
                if update.deployment_bounds.is_some() {
                    what.push("deployment bounds".to_string());
                }
                if update.health_check_grace_period_seconds.is_some() {
                    what.push("grace period".to_string());
                }
                write!(f, "update service {} ({})", update.name, what.join(", "))
            }
            Change::CreateRule { priority, .. } => {
                write!(f, "create listener rule at priority {priority}")
            }
            Change::ModifyRule { weights, .. } => {
                let list: Vec<String> = weights
                    .iter()
                    .map(|(slot, weight)| format!("{slot} {weight}%"))
                    .collect();
                write!(f, "set listener rule weights to {}", list.join(", "))
            }
            Change::CreatePreviewRule { slot, priority, .. } => {
                write!(
                    f,
                    "create the preview rule for slot {slot} at priority {priority}"
                )
            }
            Change::ModifyPreviewRule { slot, .. } => {
                write!(f, "point the preview rule at slot {slot}")
            }
            Change::DeletePreviewRule { .. } => write!(f, "delete the preview rule"),
        }
    }
}

/// What the planner decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Changes to make, in order.
    pub changes: Vec<Change>,
    /// The status to report once the changes are made.
    pub status: AppStatus,
    /// When to look again (a timer or a rollout in progress).
    pub requeue_after: Option<Duration>,
}

/// How often an App whose rollout or convergence is in progress is observed.
const PROGRESS_POLL: Duration = Duration::from_secs(5);

/// What a slot should be doing.
#[derive(Clone, Copy, Debug, PartialEq)]
struct SlotIntent {
    /// Revision whose template the slot runs; `None` leaves the slot's task definition alone.
    revision: Option<i64>,
    /// Tasks.
    desired: i32,
    /// Traffic weight (percent).
    weight: i32,
}

/// Plans one reconcile of an App.
pub fn plan(inputs: &Inputs<'_>) -> Plan {
    let mut changes = Vec::new();
    let mut status = inputs.status.clone();
    status.observed_generation = inputs.generation;
    status.template_hash = Some(inputs.template_hash.to_string());

    // 1. Revisions: a template hash not seen as the newest revision becomes a new Deployment.
    let mut revisions: Vec<Revision> = inputs.revisions.to_vec();
    revisions.sort_by_key(|r| r.number);
    let newest_hash = revisions.last().map(|r| r.template_hash.clone());
    if newest_hash.as_deref() != Some(inputs.template_hash) {
        let number = revisions.last().map_or(1, |r| r.number + 1);
        let rollback_of = revisions
            .iter()
            .rev()
            .find(|r| r.template_hash == inputs.template_hash)
            .map(|r| r.number);
        changes.push(Change::CreateDeployment {
            revision: number,
            rollback_of,
        });
        revisions.push(Revision {
            number,
            template_hash: inputs.template_hash.to_string(),
            template: inputs.spec.template(),
            strategy: inputs.spec.strategy.clone(),
            phase: DeploymentPhase::Pending,
            desired_weight: None,
            desired_replicas: None,
            message: None,
        });
    }
    let Some(current) = revisions.last().cloned() else {
        return Plan {
            changes,
            status,
            requeue_after: Some(PROGRESS_POLL),
        };
    };
    status.current_revision = Some(current.number);
    status.task_definitions = adopt_task_definitions(&status.task_definitions, &revisions);

    // 2. Decide what each slot runs, how many tasks and how much traffic.
    let (intents, active) = decide(inputs, &current, &mut status);
    status.active_slot = Some(active);
    for slot in SLOTS {
        if let Some(revision) = already_running(inputs.observed, &status, slot, &intents) {
            slot_status_mut(&mut status, slot).requested_revision = Some(revision);
        }
    }

    // 3. Prune history (never the current or stable revision, nor one a slot runs).
    let keep = usize::try_from(inputs.spec.revision_history_limit.max(1)).unwrap_or(10);
    let protected: Vec<i64> = [Some(current.number), status.stable_revision]
        .into_iter()
        .flatten()
        .chain(status.slots.iter().filter_map(|s| s.revision))
        .collect();
    let prunable: Vec<i64> = revisions
        .iter()
        .rev()
        .skip(keep)
        .map(|r| r.number)
        .filter(|n| !protected.contains(n))
        .collect();
    if !prunable.is_empty() {
        changes.push(Change::PruneDeployments {
            revisions: prunable,
        });
    }

    // 4. Converge each slot: task definition, target group, service.
    let mut registered: Vec<i64> = Vec::new();
    for slot in SLOTS {
        let intent = &intents[slot_index(slot)];
        converge_slot(
            inputs,
            slot,
            intent,
            &revisions,
            &status,
            &mut registered,
            &mut changes,
        );
    }

    // 5. The listener rule: conditions and weights; and the preview rule of a blue-green
    // revision before its switch.
    // The task definition each slot should run, for the rule to move traffic only to a slot
    // that settled on it.
    let arns = SLOTS.map(|slot| {
        let recorded = slot_status(&status, slot).and_then(|s| s.revision);
        intents[slot_index(slot)]
            .revision
            .or(recorded)
            .and_then(|r| task_definition_of(&status, r))
    });
    converge_rule(inputs, &intents, &arns, &mut changes);
    let preview = preview_wanted(inputs, &current, &status, active);
    changes.extend(converge_preview(inputs, preview));
    status.preview_url = preview.and_then(|_| preview_url(inputs));

    // ECS attaches a service only to a target group a listener rule already forwards to, and a
    // rule can only forward to target groups that exist: so target groups, then the rule, then
    // services. The sort is stable, so each group keeps its slot order.
    changes.sort_by_key(Change::order);

    // 6. Report what was observed.
    report(inputs, active, &current, &revisions, &mut status, &changes);
    let requeue_after = (!changes.iter().all(|c| !c.is_aws()) || status_in_progress(&status))
        .then_some(PROGRESS_POLL);
    Plan {
        changes,
        status,
        requeue_after,
    }
}

fn slot_index(slot: SlotName) -> usize {
    match slot {
        SlotName::A => 0,
        SlotName::B => 1,
    }
}

fn slot_status(status: &AppStatus, slot: SlotName) -> Option<&SlotStatus> {
    status.slots.iter().find(|s| s.name == slot)
}

fn slot_status_mut(status: &mut AppStatus, slot: SlotName) -> &mut SlotStatus {
    if let Some(i) = status.slots.iter().position(|s| s.name == slot) {
        return &mut status.slots[i];
    }
    status.slots.push(SlotStatus {
        name: slot,
        revision: None,
        service_arn: None,
        target_group_arn: None,
        task_definition_arn: None,
        desired: 0,
        running: 0,
        healthy: 0,
        weight: 0,
        rollout_state: None,
        requested_revision: None,
        failure: None,
    });
    status.slots.sort_by_key(|s| slot_index(s.name));
    let i = status
        .slots
        .iter()
        .position(|s| s.name == slot)
        .unwrap_or(0);
    &mut status.slots[i]
}

/// The task definition registered for a revision.
fn task_definition_of(status: &AppStatus, revision: i64) -> Option<String> {
    status
        .task_definitions
        .iter()
        .find(|t| t.revision == revision)
        .map(|t| t.arn.clone())
}

/// The registry with an entry for every revision that repeats the template of a registered one:
/// a revision that puts an earlier template back (a rollback) runs that revision's task
/// definition instead of registering an identical one.
fn adopt_task_definitions(
    registry: &[RevisionTaskDefinition],
    revisions: &[Revision],
) -> Vec<RevisionTaskDefinition> {
    let mut adopted = registry.to_vec();
    for revision in revisions {
        if adopted.iter().any(|t| t.revision == revision.number) {
            continue;
        }
        let twin = adopted.iter().find(|t| {
            revisions
                .iter()
                .any(|r| r.number == t.revision && r.template_hash == revision.template_hash)
        });
        if let Some(twin) = twin.cloned() {
            adopted.push(RevisionTaskDefinition {
                revision: revision.number,
                arn: twin.arn,
            });
        }
    }
    adopted.sort_by_key(|t| t.revision);
    adopted
}

/// The revision a slot should run when its service already runs that revision's task
/// definition: nothing needs asking of ECS, and the slot's request is that revision from now on.
fn already_running(
    observed: &Observed,
    status: &AppStatus,
    slot: SlotName,
    intents: &[SlotIntent; 2],
) -> Option<i64> {
    let revision = intents[slot_index(slot)].revision?;
    let service = observed.slot(slot).service.as_ref()?;
    let arn = task_definition_of(status, revision)?;
    (service.task_definition_arn == arn).then_some(revision)
}

/// The revision a service running task definition `arn` runs: the one the operator asked for
/// when it has that task definition (revisions that repeat a template share one), else the newest
/// revision registered with it.
fn revision_running(
    registry: &[RevisionTaskDefinition],
    arn: &str,
    requested: Option<i64>,
) -> Option<i64> {
    match requested {
        Some(r) if registry.iter().any(|t| t.revision == r && t.arn == arn) => Some(r),
        _ => registry
            .iter()
            .filter(|t| t.arn == arn)
            .map(|t| t.revision)
            .max(),
    }
}

/// The primary ECS deployment of a slot's service.
fn primary(service: &Service) -> Option<&crate::aws::ecs::EcsDeployment> {
    service.deployments.iter().find(|d| d.status == "PRIMARY")
}

/// Whether the slot's service completed a rollout of the task definition `arn`.
fn completed_with(observed: &ObservedSlot, arn: Option<&str>) -> bool {
    let (Some(service), Some(arn)) = (&observed.service, arn) else {
        return false;
    };
    primary(service).is_some_and(|d| {
        d.task_definition_arn == arn && d.rollout_state == Some(RolloutState::Completed)
    }) && service.deployments.len() == 1
}

/// Whether the slot's service settled on a task definition other than `arn`.
fn rolled_back_from(observed: &ObservedSlot, arn: Option<&str>) -> bool {
    let (Some(service), Some(arn)) = (&observed.service, arn) else {
        return false;
    };
    service.deployments.len() == 1
        && primary(service).is_some_and(|d| {
            d.task_definition_arn != arn && d.rollout_state == Some(RolloutState::Completed)
        })
}

/// Whether ECS's circuit breaker failed a deployment of the task definition `arn`.
fn failed_with(observed: &ObservedSlot, arn: Option<&str>) -> Option<String> {
    let (Some(service), Some(arn)) = (&observed.service, arn) else {
        return None;
    };
    service
        .deployments
        .iter()
        .find(|d| d.task_definition_arn == arn && d.rollout_state == Some(RolloutState::Failed))
        .map(|d| {
            d.rollout_state_reason.clone().unwrap_or_else(|| {
                "ECS deployment circuit breaker: tasks failed to start".to_string()
            })
        })
}

/// Decides the three intents; updates the memory in `status` (active slot, stable and failed
/// revisions, scale-down timers).
fn decide(
    inputs: &Inputs<'_>,
    current: &Revision,
    status: &mut AppStatus,
) -> ([SlotIntent; 2], SlotName) {
    let replicas = inputs.spec.replicas;
    let active = status.active_slot.unwrap_or(SlotName::A);
    let idle = active.other();
    let mut intents = [IDLE, IDLE];
    let current_arn = task_definition_of(status, current.number);
    let active_rev = slot_status(status, active).and_then(|s| s.revision);

    let in_place =
        current.strategy.kind() == StrategyKind::Rolling || status.stable_revision.is_none();
    if in_place {
        let observed = inputs.observed.slot(active);
        let requested = slot_status(status, active).and_then(|s| s.requested_revision);
        if completed_with(observed, current_arn.as_deref()) {
            status.stable_revision = Some(current.number);
            status.failed_revision = None;
            status.failure_message = None;
        } else if let Some(reason) = failed_with(observed, current_arn.as_deref()) {
            status.failed_revision = Some(current.number);
            status.failure_message = Some(reason);
        } else if requested == Some(current.number)
            && rolled_back_from(observed, current_arn.as_deref())
        {
            // The FAILED deployment is already gone (the rollback finished between two looks),
            // but ECS settled on another task definition than the one it was asked to run.
            status.failed_revision = Some(current.number);
            status.failure_message = Some(
                "ECS deployment circuit breaker rolled the service back to the previous revision"
                    .to_string(),
            );
        }
        // The active slot runs the current revision, unless ECS rejected it: then ECS already
        // rolled back to the stable one and fighting it would loop.
        let target = if status.failed_revision == Some(current.number) {
            status.stable_revision.or(active_rev)
        } else {
            Some(current.number)
        };
        intents[slot_index(active)] = SlotIntent {
            revision: target,
            desired: replicas,
            weight: 100,
        };
        intents[slot_index(idle)] = IDLE;
        return (intents, active);
    }

    let mut stable = status.stable_revision.unwrap_or(current.number);
    let repeats_stable = inputs
        .revisions
        .iter()
        .any(|r| r.number == stable && r.template_hash == current.template_hash);
    if repeats_stable && current.number != stable {
        // The template that serves was put back (a rollback during a rollout): nothing moves,
        // the new revision is what already serves.
        status.stable_revision = Some(current.number);
        status.failed_revision = None;
        status.failure_message = None;
        stable = current.number;
    }
    if current.number == stable {
        intents[slot_index(active)] = SlotIntent {
            revision: Some(stable),
            desired: replicas,
            weight: 100,
        };
        intents[slot_index(idle)] = IDLE;
        return (intents, active);
    }

    // A progressive rollout of `current` into the idle slot.
    match current.phase {
        DeploymentPhase::Succeeded => {
            let verified = slot_status(status, idle).map_or(0, |s| s.weight);
            if verified == 100 {
                // Swap roles: the new slot is stable. The rollout kept the old one at full size
                // for its scale-down delay before it succeeded, so it goes at once.
                status.active_slot = Some(idle);
                status.stable_revision = Some(current.number);
                status.failed_revision = None;
                intents[slot_index(idle)] = SlotIntent {
                    revision: Some(current.number),
                    desired: replicas,
                    weight: 100,
                };
                intents[slot_index(active)] = IDLE;
                return (intents, idle);
            }
            intents[slot_index(idle)] = SlotIntent {
                revision: Some(current.number),
                desired: replicas,
                weight: 100,
            };
            intents[slot_index(active)] = SlotIntent {
                revision: Some(stable),
                desired: replicas,
                weight: 0,
            };
        }
        DeploymentPhase::Failed | DeploymentPhase::Aborted | DeploymentPhase::Superseded => {
            intents[slot_index(active)] = SlotIntent {
                revision: Some(stable),
                desired: replicas,
                weight: 100,
            };
            intents[slot_index(idle)] = SlotIntent {
                revision: Some(current.number),
                desired: 0,
                weight: 0,
            };
        }
        DeploymentPhase::Pending | DeploymentPhase::Progressing | DeploymentPhase::Paused => {
            let weight = current.desired_weight.unwrap_or(0).clamp(0, 100);
            let default_scale = match current.strategy.kind() {
                StrategyKind::BlueGreen => replicas,
                _ => canary_scale(replicas, weight),
            };
            let scale = current.desired_replicas.unwrap_or(default_scale).max(0);
            intents[slot_index(idle)] = SlotIntent {
                revision: Some(current.number),
                desired: scale,
                weight,
            };
            intents[slot_index(active)] = SlotIntent {
                revision: Some(stable),
                desired: replicas,
                weight: 100 - weight,
            };
        }
    }
    (intents, active)
}

/// Tasks for a canary slot carrying `weight` percent: proportional, rounded up, at least one so
/// health can be verified before any traffic moves.
pub fn canary_scale(replicas: i32, weight: i32) -> i32 {
    let scaled = (i64::from(replicas) * i64::from(weight)).div_euclid(100)
        + i64::from((i64::from(replicas) * i64::from(weight)) % 100 != 0);
    i32::try_from(scaled).unwrap_or(replicas).max(1)
}

/// A slot that serves nothing: it keeps its revision and runs no task.
const IDLE: SlotIntent = SlotIntent {
    revision: None,
    desired: 0,
    weight: 0,
};

/// The task definition a template needs.
pub fn task_definition_input(
    identity: &AppIdentity,
    template: &AppTemplate,
    valid: &ValidatedApp,
    region: &str,
) -> TaskDefinitionInput {
    let container = &template.container;
    TaskDefinitionInput {
        family: identity.family(),
        cpu: container.cpu.to_string(),
        memory: container.memory.to_string(),
        execution_role_arn: template
            .iam
            .execution_role_arn
            .clone()
            .or_else(|| Some(valid.execution_role_arn.clone())),
        task_role_arn: template.iam.task_role_arn.clone(),
        container: ContainerDefinition {
            name: identity.container_name(),
            image: container.image.clone(),
            entry_point: container.command.clone(),
            command: container.args.clone(),
            port: container.port,
            environment: container
                .env
                .iter()
                .map(|e| (e.name.clone(), e.value.clone()))
                .collect(),
            secrets: container
                .secrets
                .iter()
                .map(|s| (s.name.clone(), s.value_from.clone()))
                .collect(),
            logs: Some(LogConfiguration {
                group: template
                    .logs
                    .group
                    .clone()
                    .unwrap_or_else(|| identity.log_group()),
                region: region.to_string(),
                stream_prefix: template
                    .logs
                    .stream_prefix
                    .clone()
                    .unwrap_or_else(|| identity.name.clone()),
            }),
        },
        tags: identity.tags(),
    }
}

/// The target group health check a template asks for.
pub fn health_check(template: &AppTemplate) -> HealthCheckConfig {
    let hc = &template.health_check;
    HealthCheckConfig {
        path: hc.path.clone(),
        port: hc.port,
        interval_seconds: hc.interval_seconds,
        timeout_seconds: hc.timeout_seconds,
        healthy_threshold: hc.healthy_threshold,
        unhealthy_threshold: hc.unhealthy_threshold,
        matcher: hc.matcher.clone(),
    }
}

/// The network configuration of a template's tasks, operator defaults filled in.
pub fn network(template: &AppTemplate, valid: &ValidatedApp) -> NetworkConfiguration {
    NetworkConfiguration {
        subnets: if template.network.subnets.is_empty() {
            valid.subnets.clone()
        } else {
            template.network.subnets.clone()
        },
        security_groups: if template.network.security_groups.is_empty() {
            valid.security_groups.clone()
        } else {
            template.network.security_groups.clone()
        },
        assign_public_ip: template.network.assign_public_ip,
    }
}

/// The ECS deployment bounds (minimumHealthyPercent, maximumPercent) of a slot's service.
pub fn deployment_bounds(strategy: &Strategy) -> (i32, i32) {
    match &strategy.rolling {
        Some(rolling) if strategy.kind() == StrategyKind::Rolling => {
            (rolling.min_healthy_percent, rolling.max_percent)
        }
        // Progressive strategies never update a serving slot in place; ECS's defaults apply.
        _ => (100, 200),
    }
}

fn converge_slot(
    inputs: &Inputs<'_>,
    slot: SlotName,
    intent: &SlotIntent,
    revisions: &[Revision],
    status: &AppStatus,
    registered: &mut Vec<i64>,
    changes: &mut Vec<Change>,
) {
    let observed = inputs.observed.slot(slot);
    let recorded = slot_status(status, slot);
    // The revision the slot should run: the intent's, else what it runs now.
    let revision_number = intent.revision.or(recorded.and_then(|s| s.revision));
    let revision = revision_number.and_then(|n| revisions.iter().find(|r| r.number == n));
    let needed = intent.desired > 0 || intent.weight > 0 || intent.revision.is_some();
    if !needed && observed.service.is_none() && observed.target_group.is_none() {
        return;
    }
    let Some(revision) = revision else {
        // Nothing known to run here (history pruned, status lost): scale what exists to zero.
        if let Some(service) = &observed.service
            && service.desired_count != 0
        {
            changes.push(update(
                inputs,
                slot,
                None,
                ServiceUpdate {
                    desired_count: Some(0),
                    ..ServiceUpdate::default()
                },
            ));
        }
        return;
    };

    // Task definition: the revision's (adopted from an identical template on a rollback).
    let known_arn = task_definition_of(status, revision.number);
    if known_arn.is_none() && !registered.contains(&revision.number) {
        registered.push(revision.number);
        changes.push(Change::RegisterTaskDefinition {
            revision: revision.number,
            input: Box::new(task_definition_input(
                inputs.identity,
                &revision.template,
                inputs.valid,
                inputs.region,
            )),
        });
    }

    // Target group.
    let wanted_hc = health_check(&revision.template);
    match &observed.target_group {
        None => changes.push(Change::CreateTargetGroup {
            slot,
            input: TargetGroupInput {
                name: inputs.identity.target_group_name(slot),
                port: revision.template.container.port,
                vpc_id: inputs.observed.load_balancer.vpc_id.clone(),
                health_check: wanted_hc,
                tags: inputs.identity.tags(),
            },
        }),
        Some(tg) if tg.health_check != wanted_hc => changes.push(Change::ModifyTargetGroup {
            slot,
            arn: tg.arn.clone(),
            health_check: wanted_hc,
        }),
        Some(_) => {}
    }

    // Service.
    let net = network(&revision.template, inputs.valid);
    let bounds = deployment_bounds(&revision.strategy);
    match &observed.service {
        None => changes.push(Change::CreateService {
            slot,
            revision: revision.number,
            input: Box::new(ServiceInput {
                cluster: inputs.valid.cluster.clone(),
                name: inputs.identity.service_name(slot),
                task_definition_arn: known_arn.clone().unwrap_or_default(),
                desired_count: intent.desired,
                network: net,
                target_group_arn: String::new(),
                container_name: inputs.identity.container_name(),
                container_port: revision.template.container.port,
                health_check_grace_period_seconds: revision
                    .template
                    .health_check
                    .grace_period_seconds,
                minimum_healthy_percent: bounds.0,
                maximum_percent: bounds.1,
                client_token: String::new(),
                tags: inputs.identity.tags(),
            }),
        }),
        Some(service) => {
            let runs_revision = known_arn.as_deref() == Some(service.task_definition_arn.as_str());
            let mut change = ServiceUpdate::default();
            let mut hash = None;
            if !runs_revision {
                hash = Some(revision.number);
                change.task_definition_arn.clone_from(&known_arn);
            }
            if service.desired_count != intent.desired {
                change.desired_count = Some(intent.desired);
            }
            if service.network != net {
                change.network = Some(net);
            }
            if service.deployment_bounds != bounds {
                change.deployment_bounds = Some(bounds);
            }
            if hash.is_some() || change != ServiceUpdate::default() {
                changes.push(update(inputs, slot, hash, change));
            }
        }
    }
}

fn update(
    inputs: &Inputs<'_>,
    slot: SlotName,
    revision: Option<i64>,
    mut change: ServiceUpdate,
) -> Change {
    change.cluster = inputs.valid.cluster.clone();
    change.name = inputs.identity.service_name(slot);
    Change::UpdateService {
        slot,
        revision,
        update: Box::new(change),
    }
}

fn converge_rule(
    inputs: &Inputs<'_>,
    intents: &[SlotIntent; 2],
    arns: &[Option<String>; 2],
    changes: &mut Vec<Change>,
) {
    let conditions = rule_conditions(inputs.spec, inputs.domain_hosts);
    // A slot is in the forward action when it has (or is getting) a target group.
    let has_tg = |slot: SlotName| {
        inputs.observed.slot(slot).target_group.is_some()
            || changes
                .iter()
                .any(|c| matches!(c, Change::CreateTargetGroup { slot: s, .. } if *s == slot))
    };
    let mut weights: Vec<(SlotName, i32)> = SLOTS
        .iter()
        .filter(|s| has_tg(**s))
        .map(|s| (*s, intents[slot_index(*s)].weight))
        .collect();
    // Traffic never moves to a slot whose tasks are not all up and healthy while another slot
    // serves: the weights stay as they are and the App is looked at again shortly.
    if let Some(rule) = &inputs.observed.rule {
        let current = weights_of(inputs.observed, rule);
        let serving_elsewhere = |slot: SlotName| current.iter().any(|(s, w)| *s != slot && *w > 0);
        let premature = weights.iter().any(|(slot, wanted)| {
            let now = current
                .iter()
                .find(|(s, _)| s == slot)
                .map_or(0, |(_, w)| *w);
            *wanted > now
                && serving_elsewhere(*slot)
                && !slot_ready(
                    inputs.observed.slot(*slot),
                    intents[slot_index(*slot)].desired,
                    arns[slot_index(*slot)].as_deref(),
                )
        });
        if premature {
            weights = SLOTS
                .iter()
                .filter(|s| has_tg(**s))
                .map(|s| {
                    (
                        *s,
                        current.iter().find(|(c, _)| c == s).map_or(0, |(_, w)| *w),
                    )
                })
                .collect();
        }
    }
    match &inputs.observed.rule {
        None => {
            let priority = inputs
                .spec
                .routing
                .priority
                .or_else(|| {
                    let used: Vec<i32> = inputs
                        .observed
                        .other_rules
                        .iter()
                        .filter_map(|r| r.priority)
                        .collect();
                    free_priority(inputs.identity.preferred_priority(), &used)
                })
                .unwrap_or(1);
            changes.push(Change::CreateRule {
                priority,
                conditions,
                weights,
            });
        }
        Some(rule) => {
            let observed: Vec<(SlotName, i32)> = weights_of(inputs.observed, rule);
            let same_conditions = rule.conditions == conditions;
            if !same_conditions || observed != weights {
                changes.push(Change::ModifyRule {
                    arn: rule.arn.clone(),
                    conditions,
                    weights,
                });
            }
        }
    }
}

/// The slot a blue-green revision is previewed from, while it waits for its switch: the idle one,
/// when it has (or is getting) a target group and the App has a preview listener.
fn preview_wanted(
    inputs: &Inputs<'_>,
    current: &Revision,
    status: &AppStatus,
    active: SlotName,
) -> Option<SlotName> {
    let idle = active.other();
    let before_switch = current.strategy.kind() == StrategyKind::BlueGreen
        && matches!(
            current.phase,
            DeploymentPhase::Pending | DeploymentPhase::Progressing | DeploymentPhase::Paused
        )
        && status.stable_revision.is_some_and(|s| s != current.number)
        && current.desired_weight.unwrap_or(0) == 0;
    let has_target_group = inputs.observed.slot(idle).target_group.is_some();
    (before_switch && has_target_group && inputs.observed.preview.is_some()).then_some(idle)
}

/// The preview rule's changes: made for the previewed slot, removed otherwise.
fn converge_preview(inputs: &Inputs<'_>, slot: Option<SlotName>) -> Option<Change> {
    let preview = inputs.observed.preview.as_ref()?;
    let conditions = rule_conditions(inputs.spec, inputs.domain_hosts);
    match (slot, &preview.rule) {
        (Some(slot), None) => Some(Change::CreatePreviewRule {
            listener_arn: preview.listener.arn.clone(),
            priority: free_priority(
                inputs.identity.preferred_priority(),
                &preview.used_priorities,
            )
            .unwrap_or(1),
            conditions,
            slot,
        }),
        (Some(slot), Some(rule)) => {
            let tg = inputs.observed.slot(slot).target_group.as_ref()?;
            let points_at_slot = rule.forward.len() == 1
                && rule.forward[0].target_group_arn == tg.arn
                && rule.forward[0].weight > 0;
            (!points_at_slot || rule.conditions != conditions).then(|| Change::ModifyPreviewRule {
                arn: rule.arn.clone(),
                conditions,
                slot,
            })
        }
        (None, Some(rule)) => Some(Change::DeletePreviewRule {
            arn: rule.arn.clone(),
        }),
        (None, None) => None,
    }
}

/// Where the previewed revision answers: the App's first host (or the load balancer's name) on
/// the preview listener's port, at its first path.
fn preview_url(inputs: &Inputs<'_>) -> Option<String> {
    let listener = &inputs.observed.preview.as_ref()?.listener;
    let scheme = if listener.protocol == "HTTPS" {
        "https"
    } else {
        "http"
    };
    let hosts = rule_conditions(inputs.spec, inputs.domain_hosts).host_headers;
    let host = hosts
        .first()
        .cloned()
        .unwrap_or_else(|| inputs.observed.load_balancer.dns_name.clone());
    Some(format!(
        "{scheme}://{host}:{}{}",
        listener.port,
        first_path(inputs.spec)
    ))
}

/// The App's first path, without its trailing wildcard (`/*` is `/`).
fn first_path(spec: &AppSpec) -> String {
    spec.routing
        .paths
        .first()
        .map(|p| p.trim_end_matches('*').to_string())
        .unwrap_or_else(|| "/".to_string())
}

/// Whether a slot can take traffic: ECS settled on the task definition `arn` (one deployment,
/// completed, so no task of what ran there before is left) with `desired` tasks that pass the
/// health checks.
fn slot_ready(observed: &ObservedSlot, desired: i32, arn: Option<&str>) -> bool {
    let Some(service) = &observed.service else {
        return false;
    };
    let healthy = observed.healthy_targets.unwrap_or(service.running_count);
    desired > 0
        && completed_with(observed, arn)
        && service.running_count >= desired
        && healthy >= desired
}

/// The weights of the App's slots in the rule, in slot order; target groups that are not the
/// App's are left out.
pub fn weights_of(observed: &Observed, rule: &Rule) -> Vec<(SlotName, i32)> {
    SLOTS
        .iter()
        .filter_map(|slot| {
            let tg = observed.slot(*slot).target_group.as_ref()?;
            rule.forward
                .iter()
                .find(|w| w.target_group_arn == tg.arn)
                .map(|w| (*slot, w.weight))
        })
        .collect()
}

/// The forward action for planned weights, given each slot's target group ARN.
pub fn forward(
    weights: &[(SlotName, i32)],
    target_groups: &BTreeMap<SlotName, String>,
) -> Vec<WeightedTarget> {
    weights
        .iter()
        .filter_map(|(slot, weight)| {
            target_groups.get(slot).map(|arn| WeightedTarget {
                target_group_arn: arn.clone(),
                weight: *weight,
            })
        })
        .collect()
}

fn status_in_progress(status: &AppStatus) -> bool {
    conditions::find(&status.conditions, conditions::PROGRESSING)
        .is_some_and(|c| Status::True.is(&c.status))
}

/// Fills the observed part of the status and the conditions.
fn report(
    inputs: &Inputs<'_>,
    active: SlotName,
    current: &Revision,
    revisions: &[Revision],
    status: &mut AppStatus,
    changes: &[Change],
) {
    // Forget task definitions of revisions that left the history and that no slot runs.
    let running: Vec<String> = [&inputs.observed.a, &inputs.observed.b]
        .iter()
        .filter_map(|s| {
            s.service
                .as_ref()
                .map(|svc| svc.task_definition_arn.clone())
        })
        .collect();
    status
        .task_definitions
        .retain(|t| revisions.iter().any(|r| r.number == t.revision) || running.contains(&t.arn));
    let observed = inputs.observed;
    let rule_weights = observed
        .rule
        .as_ref()
        .map(|r| weights_of(observed, r))
        .unwrap_or_default();
    for slot in SLOTS {
        let seen = observed.slot(slot);
        let registry = status.task_definitions.clone();
        let slot_state = slot_status_mut(status, slot);
        slot_state.target_group_arn = seen.target_group.as_ref().map(|t| t.arn.clone());
        match &seen.service {
            Some(service) => read_service(slot_state, service, seen.healthy_targets, &registry),
            None => {
                slot_state.revision = None;
                slot_state.service_arn = None;
                slot_state.desired = 0;
                slot_state.running = 0;
                slot_state.healthy = 0;
                slot_state.rollout_state = None;
                slot_state.failure = None;
            }
        }
        slot_state.weight = rule_weights
            .iter()
            .find(|(s, _)| *s == slot)
            .map_or(0, |(_, w)| *w);
    }
    status.listener_rule_arn = observed.rule.as_ref().map(|r| r.arn.clone());
    status.preview_rule_arn = observed
        .preview
        .as_ref()
        .and_then(|p| p.rule.as_ref())
        .map(|r| r.arn.clone());
    status.canary_weight = Some(slot_status(status, active.other()).map_or(0, |s| s.weight));
    status.load_balancer = Some(LoadBalancerStatus {
        dns_name: observed.load_balancer.dns_name.clone(),
        canonical_hosted_zone_id: observed.load_balancer.canonical_hosted_zone_id.clone(),
    });
    status.urls = urls(inputs);

    let converged = changes.iter().all(|c| !c.is_aws());
    for update in condition_updates(status, active, current, converged) {
        conditions::set(
            &mut status.conditions,
            update,
            inputs.generation,
            inputs.now,
        );
    }
}

/// Records in a slot's status what ECS says of its service: the revision it runs (read through
/// the task definition registry), its task counts, its deployment's state and why it failed.
/// Used on what was observed and on what a write to the service answered, so the status never
/// pairs a new request with an old observation.
pub fn read_service(
    slot_state: &mut SlotStatus,
    service: &Service,
    healthy_targets: Option<i32>,
    registry: &[RevisionTaskDefinition],
) {
    slot_state.revision = revision_running(
        registry,
        &service.task_definition_arn,
        slot_state.requested_revision,
    );
    slot_state.service_arn = Some(service.arn.clone());
    slot_state.task_definition_arn = Some(service.task_definition_arn.clone());
    slot_state.desired = service.desired_count;
    slot_state.running = service.running_count;
    slot_state.rollout_state = primary(service)
        .and_then(|d| d.rollout_state)
        .map(|s| match s {
            RolloutState::InProgress => EcsRolloutState::InProgress,
            RolloutState::Completed => EcsRolloutState::Completed,
            RolloutState::Failed => EcsRolloutState::Failed,
        });
    slot_state.healthy = healthy_targets.unwrap_or(
        if slot_state.rollout_state == Some(EcsRolloutState::Completed) {
            service.running_count
        } else {
            0
        },
    );
    slot_state.failure = service
        .deployments
        .iter()
        .find(|d| d.rollout_state == Some(RolloutState::Failed))
        .map(|d| {
            d.rollout_state_reason
                .clone()
                .unwrap_or_else(|| "ECS deployment circuit breaker".to_string())
        });
}

/// Ready, Progressing and Degraded, from what was observed and where the current revision's
/// rollout is: each says in a sentence what serves and what happens.
fn condition_updates(
    status: &AppStatus,
    active: SlotName,
    current: &Revision,
    converged: bool,
) -> [ConditionUpdate<'static>; 3] {
    let n = current.number;
    let stable = status
        .stable_revision
        .map_or("no revision".to_string(), |r| format!("revision {r}"));
    let active_state = slot_status(status, active);
    let serving = active_state
        .is_some_and(|s| s.rollout_state == Some(EcsRolloutState::Completed) && s.weight == 100);
    let rolled_out = status.stable_revision == Some(n);
    let rollout_says = current
        .message
        .as_deref()
        .map(|m| m.trim_end_matches('.').to_string());
    let failed = status.failed_revision == Some(n) || current.phase == DeploymentPhase::Failed;
    let aborted = current.phase == DeploymentPhase::Aborted;
    let paused = current.phase == DeploymentPhase::Paused && !rolled_out;
    // The new revision's slot crashes while its rollout still runs.
    let crashing = slot_status(status, active.other())
        .filter(|s| !rolled_out && s.revision == Some(n))
        .and_then(|s| s.failure.clone());

    let (ready, ready_reason, ready_message) = if failed {
        let why = status
            .failure_message
            .as_deref()
            .map(|m| m.trim_end_matches('.').to_string())
            .or(rollout_says.clone())
            .unwrap_or_else(|| current.phase.to_string());
        // A failed analysis is named as such: the sentence then says which metric measured
        // what, and the bound it broke.
        let analysis = current.phase == DeploymentPhase::Failed
            && rollout_says
                .as_deref()
                .is_some_and(|m| m.starts_with("analysis failed"));
        (
            Status::False,
            if analysis {
                reason::ANALYSIS_FAILED
            } else {
                reason::ROLLOUT_FAILED
            },
            format!("revision {n} failed ({why}); {stable} keeps serving"),
        )
    } else if aborted {
        (
            Status::False,
            "RolloutAborted",
            format!("revision {n} was aborted; {stable} serves all traffic"),
        )
    } else if serving && converged && rolled_out {
        (
            Status::True,
            reason::AVAILABLE,
            format!(
                "revision {n} serves 100% with {} tasks",
                active_state.map_or(0, |s| s.running)
            ),
        )
    } else if paused {
        (
            Status::False,
            "Paused",
            format!(
                "revision {n} is paused ({}); {stable} keeps serving",
                rollout_says.clone().unwrap_or_default()
            ),
        )
    } else {
        (
            Status::False,
            reason::PROGRESSING,
            match &rollout_says {
                Some(step) if !rolled_out && current.strategy.kind() != StrategyKind::Rolling => {
                    format!("rolling out revision {n}: {step}")
                }
                _ => format!("rolling out revision {n}"),
            },
        )
    };
    let in_progress = !converged || !rolled_out && !failed && !aborted;
    let progressing = if paused {
        ConditionUpdate {
            type_: conditions::PROGRESSING,
            status: Status::Unknown,
            reason: "Paused",
            message: ready_message.clone(),
        }
    } else if in_progress {
        ConditionUpdate {
            type_: conditions::PROGRESSING,
            status: Status::True,
            reason: reason::ROLLING_OUT,
            message: match &rollout_says {
                Some(step) if !rolled_out && current.strategy.kind() != StrategyKind::Rolling => {
                    format!("revision {n}: {step}")
                }
                _ => format!("converging revision {n}"),
            },
        }
    } else {
        ConditionUpdate {
            type_: conditions::PROGRESSING,
            status: Status::False,
            reason: reason::IDLE,
            message: "nothing to roll out".to_string(),
        }
    };
    let degraded = if failed || aborted {
        ConditionUpdate {
            type_: conditions::DEGRADED,
            status: Status::True,
            reason: ready_reason,
            message: ready_message.clone(),
        }
    } else if let Some(why) = crashing {
        ConditionUpdate {
            type_: conditions::DEGRADED,
            status: Status::True,
            reason: "NewRevisionFailing",
            message: format!(
                "the tasks of revision {n} in slot {} fail ({}); {stable} keeps serving",
                active.other(),
                why.trim_end_matches('.')
            ),
        }
    } else {
        ConditionUpdate {
            type_: conditions::DEGRADED,
            status: Status::False,
            reason: reason::AS_EXPECTED,
            message: "no failure".to_string(),
        }
    };
    [
        ConditionUpdate {
            type_: conditions::READY,
            status: ready,
            reason: ready_reason,
            message: ready_message,
        },
        progressing,
        degraded,
    ]
}

fn urls(inputs: &Inputs<'_>) -> Vec<String> {
    let scheme = if inputs.observed.listener.protocol == "HTTPS" {
        "https"
    } else {
        "http"
    };
    let hosts = rule_conditions(inputs.spec, inputs.domain_hosts).host_headers;
    let path = first_path(inputs.spec);
    if hosts.is_empty() {
        vec![format!(
            "{scheme}://{}{path}",
            inputs.observed.load_balancer.dns_name
        )]
    } else {
        hosts
            .iter()
            .map(|h| format!("{scheme}://{h}{path}"))
            .collect()
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
