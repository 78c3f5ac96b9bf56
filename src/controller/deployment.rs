//! Deployment reconciler: observe the App -> validate the snapshot and build its steps -> decide
//! the rollout -> report (status, Events, metrics).
//!
//! Revisions rolled out in place (the `rolling` strategy, the first revision of any App, and a
//! revision that puts the stable template back) are decided by [`crate::rollout::rolling`] from
//! what the App controller reports about ECS. Canary and blue-green rollouts walk their steps in
//! [`crate::rollout::progressive`]; when a step needs an analysis (and once traffic has shifted
//! to a revision with background metrics), [`crate::analysis::run`] takes the measurements due
//! and gives the verdicts, which the state machine takes as more inputs.
//!
//! Deployments own nothing in AWS (the App controller does), so they carry no finalizer:
//! deleting one, or its App, never waits on the operator.

use super::events::{EventType, Notice};
use super::validate::{self, ValidatedDeployment};
use super::{Context, Error, failure, report};
use crate::analysis;
use crate::api::app::SlotName;
use crate::api::conditions::{self, ConditionUpdate, Status};
use crate::api::deployment::DeploymentPhase;
use crate::api::deployment::{AnalysisPhase, MeasurementOutcome};
use crate::api::strategy::Metric;
use crate::api::strategy::StrategyKind;
use crate::api::{App, Deployment, DeploymentStatus};
use crate::rollout::progressive::{self, AppView, Decision, SlotView};
use crate::rollout::rolling;
use crate::rollout::steps;
use crate::telemetry::{RolloutLabels, StepDone};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Kind name used in metrics and logs.
pub const KIND: &str = "Deployment";

/// How often a rollout in progress is looked at (App status changes also trigger a reconcile).
const PROGRESS_POLL: Duration = Duration::from_secs(5);

/// Reconciles one Deployment.
pub async fn reconcile(deployment: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    if deployment.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = deployment
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = apply(&deployment, &api, &namespace, &ctx).await;
    failure::conclude(&api, deployment.as_ref(), result, &ctx).await
}

async fn apply(
    deployment: &Deployment,
    api: &Api<Deployment>,
    namespace: &str,
    ctx: &Context,
) -> Result<Action, Error> {
    let valid = match validate::deployment(&deployment.spec) {
        Ok(valid) => valid,
        Err(problems) => {
            report::invalid_spec(api, deployment, &problems, ctx).await?;
            return Ok(Action::await_change());
        }
    };
    let apps: Api<App> = Api::namespaced(ctx.client.clone(), namespace);
    let app = apps.get_opt(&deployment.spec.app).await?;
    let now = ctx.clock.now();
    let before = deployment.status.clone().unwrap_or_default();
    let (decision, notices) = if is_progressive(deployment, app.as_ref()) {
        progressive_decision(deployment, &valid, app.as_ref(), &before, now, ctx).await
    } else {
        (
            in_place_decision(deployment, app.as_ref(), &before, now),
            Vec::new(),
        )
    };
    let status = reported(deployment, decision.status, now);
    let requeue = match (status.phase.is_terminal(), decision.requeue_after) {
        (true, _) => ctx.settings.resync(),
        (false, Some(after)) => after.min(ctx.settings.resync()),
        (false, None) => ctx.settings.resync(),
    };
    // Announced before the status is written: an operator stopped between the two announces the
    // same transition again after its restart, and the Event, named after what it says, is
    // found instead of made twice. Announced after, it could be lost.
    if let Some(app) = &app {
        for notice in &notices {
            ctx.metrics.analysis_verdict(notice.reason);
        }
        let analysis = notices
            .into_iter()
            .map(|n| (n.warning, n.reason, "Analysis", n.message));
        let rollout = decision
            .announcements
            .into_iter()
            .map(|a| (a.warning, a.reason, "Rollout", a.message));
        for (warning, reason, action, message) in analysis.chain(rollout) {
            ctx.announce(
                &app.object_ref(&()),
                Notice {
                    type_: if warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason,
                    action,
                    note: revision_note(deployment.spec.revision, &message),
                    related: Some(deployment.object_ref(&())),
                },
            )
            .await;
        }
    }
    report::patch_status(
        api,
        &deployment.name_any(),
        deployment.status.as_ref(),
        &status,
    )
    .await?;
    record(deployment, &before, &status, &decision.completed, ctx);
    Ok(Action::requeue(requeue))
}

/// Whether the revision rolls out progressively: a canary or blue-green revision that is not the
/// App's first (that one starts in place) and does not put the stable template back.
fn is_progressive(deployment: &Deployment, app: Option<&App>) -> bool {
    let revision = deployment.spec.revision;
    let app_status = app.and_then(|a| a.status.as_ref());
    deployment.spec.strategy.kind() != StrategyKind::Rolling
        && app_status
            .is_some_and(|s| s.stable_revision.is_some() && s.stable_revision != Some(revision))
}

/// What the rollout state machine sees of the App.
fn app_view(app: &App) -> AppView {
    let status = app.status.clone().unwrap_or_default();
    let active = status.active_slot.unwrap_or(SlotName::A);
    let new_slot = status
        .slots
        .iter()
        .find(|s| s.name == active.other())
        .map(|s| SlotView {
            revision: s.revision,
            requested_revision: s.requested_revision,
            desired: s.desired,
            running: s.running,
            healthy: s.healthy,
            weight: s.weight,
            rollout_state: s.rollout_state,
            failure: s.failure.clone(),
        });
    AppView {
        replicas: app.spec.replicas,
        current_revision: status.current_revision,
        stable_revision: status.stable_revision,
        new_slot,
    }
}

/// A canary or blue-green decision, with the verdicts of the analysis the current step needs
/// and of the background metrics once traffic has shifted. Measurements due are taken first;
/// the decision is then made again with their verdicts.
async fn progressive_decision(
    deployment: &Deployment,
    valid: &ValidatedDeployment,
    app: Option<&App>,
    before: &DeploymentStatus,
    now: jiff::Timestamp,
    ctx: &Context,
) -> (Decision, Vec<analysis::Notice>) {
    let view = app.map(app_view);
    let deadline = Duration::from_secs(
        u64::try_from(deployment.spec.strategy.progress_deadline_seconds).unwrap_or(600),
    );
    let decide = |verdict, background| {
        progressive::decide(&progressive::Inputs {
            spec: &deployment.spec,
            steps: &valid.steps,
            progress_deadline: deadline,
            status: before,
            app: view.as_ref(),
            verdict,
            background,
            now,
        })
    };
    let first = decide(None, None);
    let defined: Vec<&Metric> = deployment
        .spec
        .analysis
        .as_ref()
        .map(|a| a.metrics.iter().collect())
        .unwrap_or_default();
    let named = |names: &[String]| -> Vec<&Metric> {
        names
            .iter()
            .filter_map(|n| defined.iter().find(|m| &m.name == n).copied())
            .collect()
    };
    let shifted = !first.status.phase.is_terminal()
        && first
            .status
            .current_step_index
            .and_then(|i| usize::try_from(i).ok())
            .is_some_and(|i| steps::weight_at(&valid.steps, i) > 0);
    let plan = analysis::Plan {
        step: first
            .wants_analysis
            .as_ref()
            .map(|(index, names)| (*index, named(names))),
        background: if shifted {
            defined.iter().filter(|m| m.background).copied().collect()
        } else {
            Vec::new()
        },
    };
    if plan.is_empty() {
        let mut first = first;
        settle_background(&mut first.status);
        return (first, Vec::new());
    }
    let subject = subject(deployment, app);
    let outcome = analysis::run(
        ctx.analyzer.as_ref(),
        &subject,
        &first.status.analysis,
        &plan,
        now,
    )
    .await;
    for (provider, measured) in &outcome.measured {
        ctx.metrics
            .analysis_measured(provider, measurement_label(*measured));
    }
    let step_verdict = plan
        .step
        .as_ref()
        .map(|(i, _)| *i)
        .zip(outcome.step.as_ref());
    let mut decision = decide(step_verdict, outcome.background.as_ref());
    decision.status.analysis = outcome.records;
    settle_background(&mut decision.status);
    (decision, outcome.notices)
}

/// Once a rollout succeeded, its background metrics that ran to the end without failing passed.
fn settle_background(status: &mut DeploymentStatus) {
    if status.phase != DeploymentPhase::Succeeded {
        return;
    }
    for record in &mut status.analysis {
        if record.step_index.is_none() && record.phase == AnalysisPhase::Running {
            record.phase = AnalysisPhase::Successful;
        }
    }
}

/// What the rollout's metrics measure: the slot that runs this revision and its load balancer.
fn subject(deployment: &Deployment, app: Option<&App>) -> analysis::Subject {
    let status = app.and_then(|a| a.status.as_ref());
    let revision = deployment.spec.revision;
    analysis::Subject {
        namespace: deployment.namespace().unwrap_or_default(),
        app: deployment.spec.app.clone(),
        revision,
        stable_revision: status.and_then(|s| s.stable_revision),
        target_group_arn: status.and_then(|s| {
            s.slots
                .iter()
                .find(|slot| slot.revision == Some(revision))
                .and_then(|slot| slot.target_group_arn.clone())
        }),
        load_balancer_arn: status
            .and_then(|s| s.listener_rule_arn.as_deref())
            .and_then(load_balancer_of_rule),
    }
}

/// The load balancer ARN a listener rule ARN belongs to:
/// `…:listener-rule/app/<name>/<lb-id>/<listener-id>/<rule-id>` -> `…:loadbalancer/app/<name>/<lb-id>`.
fn load_balancer_of_rule(rule: &str) -> Option<String> {
    let (prefix, path) = rule.split_once(":listener-rule/")?;
    let parts: Vec<&str> = path.split('/').collect();
    (parts.len() >= 3).then(|| format!("{prefix}:loadbalancer/{}", parts[..3].join("/")))
}

/// The `outcome` label of a measurement.
fn measurement_label(outcome: MeasurementOutcome) -> &'static str {
    match outcome {
        MeasurementOutcome::Passed => "passed",
        MeasurementOutcome::Failed => "failed",
        MeasurementOutcome::Inconclusive => "inconclusive",
        MeasurementOutcome::Error => "error",
    }
}

/// The phase of a revision rolled out in place, from what the App reports about ECS.
fn in_place_decision(
    deployment: &Deployment,
    app: Option<&App>,
    before: &DeploymentStatus,
    now: jiff::Timestamp,
) -> Decision {
    let mut status = before.clone();
    let revision = deployment.spec.revision;
    let app_status = app.and_then(|a| a.status.as_ref());
    let outcome = if status.phase.is_terminal() {
        // The phase is history; the sentence says what serves now.
        let message = match app_status.and_then(|s| s.stable_revision) {
            Some(stable) if status.phase == DeploymentPhase::Succeeded && stable != revision => {
                format!("revision {revision} rolled out; revision {stable} serves now")
            }
            _ => status.message.clone().unwrap_or_default(),
        };
        rolling::Outcome {
            phase: status.phase,
            message,
        }
    } else if app.is_none() {
        rolling::Outcome {
            phase: DeploymentPhase::Pending,
            message: format!("App {} does not exist", deployment.spec.app),
        }
    } else {
        rolling::outcome(revision, app_status)
    };
    if outcome.phase == DeploymentPhase::Progressing && status.started_at.is_none() {
        status.started_at = Some(Time(now));
    }
    if outcome.phase.is_terminal() && !status.phase.is_terminal() {
        status.finished_at = Some(Time(now));
    }
    if outcome.phase == DeploymentPhase::Succeeded {
        status.desired_weight = Some(100);
        status.verified_weight = Some(100);
    }
    status.phase = outcome.phase;
    status.message = Some(outcome.message);
    Decision {
        status,
        requeue_after: Some(PROGRESS_POLL),
        announcements: Vec::new(),
        completed: Vec::new(),
        wants_analysis: None,
    }
}

/// The status with the generation observed, the weight read back, and the Ready condition that
/// says the phase in a sentence.
fn reported(
    deployment: &Deployment,
    mut status: DeploymentStatus,
    now: jiff::Timestamp,
) -> DeploymentStatus {
    let generation = deployment.metadata.generation;
    status.observed_generation = generation;
    let (ready, reason) = match status.phase {
        DeploymentPhase::Succeeded => (Status::True, "Succeeded"),
        DeploymentPhase::Failed => (Status::False, "Failed"),
        DeploymentPhase::Superseded => (Status::False, "Superseded"),
        DeploymentPhase::Aborted => (Status::False, "Aborted"),
        DeploymentPhase::Paused => (Status::Unknown, "Paused"),
        DeploymentPhase::Pending => (Status::Unknown, "Pending"),
        DeploymentPhase::Progressing => (Status::Unknown, "Progressing"),
    };
    conditions::set(
        &mut status.conditions,
        ConditionUpdate {
            type_: conditions::READY,
            status: ready,
            reason,
            message: status.message.clone().unwrap_or_default(),
        },
        generation,
        now,
    );
    status
}

/// Metrics of the rollout: its phase, transitions, step durations and aborts.
fn record(
    deployment: &Deployment,
    before: &DeploymentStatus,
    after: &DeploymentStatus,
    completed: &[progressive::CompletedStep],
    ctx: &Context,
) {
    let strategy = strategy_label(deployment);
    let key = super::runtime::object_key(deployment);
    let steps: Vec<StepDone<'_>> = completed
        .iter()
        .map(|c| StepDone {
            index: c.index,
            kind: c.step.kind(),
            took: c.took,
        })
        .collect();
    ctx.metrics.rollout_progress(
        &key,
        strategy,
        &before.phase.to_string(),
        &after.phase.to_string(),
        &steps,
    );
}

/// The `strategy` label of a rollout's metrics.
pub fn strategy_label(deployment: &Deployment) -> &'static str {
    match deployment.spec.strategy.kind() {
        StrategyKind::Rolling => "rolling",
        StrategyKind::Canary => "canary",
        StrategyKind::BlueGreen => "blueGreen",
    }
}

/// A rollout as the `cygni_rollouts` gauge counts it: its key and its strategy and phase.
pub fn census_entry(deployment: &Deployment) -> (String, RolloutLabels) {
    (
        super::runtime::object_key(deployment),
        RolloutLabels {
            strategy: strategy_label(deployment).to_string(),
            phase: deployment
                .status
                .as_ref()
                .map(|s| s.phase)
                .unwrap_or_default()
                .to_string(),
        },
    )
}

/// An Event's note names the revision first, once.
fn revision_note(revision: i64, message: &str) -> String {
    if message.starts_with(&format!("revision {revision} ")) {
        message.to_string()
    } else {
        format!("revision {revision}: {message}")
    }
}
