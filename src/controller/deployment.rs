//! Deployment reconciler: observe the App -> validate the snapshot -> decide the rollout's phase
//! -> report.
//!
//! Revisions rolled out in place (the `rolling` strategy, and the first revision of any App) are
//! decided by [`crate::rollout::rolling`] from what the App controller reports about ECS.
//! Traffic-shifting decisions for `canary` and `blueGreen` are not part of this release: such a
//! Deployment stays `Pending` with a message saying so.
//!
//! Deployments own nothing in AWS (the App controller does), so they carry no finalizer: deleting
//! one, or its App, never waits on the operator.

use super::validate;
use super::{Context, Error, failure, report};
use crate::api::conditions::{self, ConditionUpdate, Status};
use crate::api::deployment::DeploymentPhase;
use crate::api::strategy::StrategyKind;
use crate::api::{App, Deployment, DeploymentStatus};
use crate::rollout::rolling;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Kind name used in metrics and logs.
pub const KIND: &str = "Deployment";

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
    if let Err(problems) = validate::deployment(&deployment.spec) {
        report::invalid_spec(api, deployment, &problems, ctx).await?;
        return Ok(Action::await_change());
    }
    let mut status = deployment.status.clone().unwrap_or_default();
    let now = ctx.clock.now();
    let apps: Api<App> = Api::namespaced(ctx.client.clone(), namespace);
    let app = apps.get_opt(&deployment.spec.app).await?;
    decide(deployment, app.as_ref(), &mut status, now);
    let requeue = if status.phase.is_terminal() {
        ctx.settings.resync()
    } else {
        ctx.settings.resync().min(PROGRESS_POLL)
    };
    report::patch_status(
        api,
        &deployment.name_any(),
        deployment.status.as_ref(),
        &status,
    )
    .await?;
    Ok(Action::requeue(requeue))
}

/// How often a rollout in progress is looked at (App status changes also trigger a reconcile).
const PROGRESS_POLL: Duration = Duration::from_secs(5);

/// Moves the Deployment's phase from what its App reports. Terminal phases stay as they are.
fn decide(
    deployment: &Deployment,
    app: Option<&App>,
    status: &mut DeploymentStatus,
    now: jiff::Timestamp,
) {
    let generation = deployment.metadata.generation;
    status.observed_generation = generation;
    let revision = deployment.spec.revision;
    let app_status = app.and_then(|a| a.status.as_ref());
    if status.phase.is_terminal() {
        // The phase is history; the sentence says what serves now.
        if status.phase == DeploymentPhase::Succeeded
            && let Some(stable) = app_status.and_then(|s| s.stable_revision)
            && stable != revision
        {
            let message = format!("revision {revision} rolled out; revision {stable} serves now");
            conditions::set(
                &mut status.conditions,
                ConditionUpdate {
                    type_: conditions::READY,
                    status: Status::True,
                    reason: "Succeeded",
                    message: message.clone(),
                },
                generation,
                now,
            );
            status.message = Some(message);
        }
        return;
    }
    let in_place = deployment.spec.strategy.kind() == StrategyKind::Rolling
        || app_status
            .is_none_or(|s| s.stable_revision.is_none() || s.stable_revision == Some(revision));
    let outcome = if app.is_none() {
        rolling::Outcome {
            phase: DeploymentPhase::Pending,
            message: format!("App {} does not exist", deployment.spec.app),
        }
    } else if in_place {
        rolling::outcome(revision, app_status)
    } else {
        let superseded = app_status
            .and_then(|s| s.current_revision)
            .is_some_and(|c| c > revision);
        if superseded {
            rolling::Outcome {
                phase: DeploymentPhase::Superseded,
                message: "a newer revision replaced this one".to_string(),
            }
        } else {
            rolling::Outcome {
                phase: DeploymentPhase::Pending,
                message: "canary and blue-green traffic shifting are not part of this release; the stable revision keeps serving".to_string(),
            }
        }
    };
    if outcome.phase == DeploymentPhase::Progressing && status.started_at.is_none() {
        status.started_at = Some(Time(now));
    }
    if outcome.phase.is_terminal() {
        status.finished_at = Some(Time(now));
    }
    if outcome.phase == DeploymentPhase::Succeeded {
        status.desired_weight = Some(100);
        status.verified_weight = Some(100);
    }
    let (ready, reason) = match outcome.phase {
        DeploymentPhase::Succeeded => (Status::True, "Succeeded"),
        DeploymentPhase::Failed => (Status::False, "Failed"),
        DeploymentPhase::Superseded => (Status::False, "Superseded"),
        DeploymentPhase::Aborted => (Status::False, "Aborted"),
        _ => (Status::Unknown, "Progressing"),
    };
    conditions::set(
        &mut status.conditions,
        ConditionUpdate {
            type_: conditions::READY,
            status: ready,
            reason,
            message: outcome.message.clone(),
        },
        generation,
        now,
    );
    status.phase = outcome.phase;
    status.message = Some(outcome.message);
}
