//! Deployment reconciler: observe -> validate the snapshot -> (rollout decisions, in a later
//! release) -> report.
//!
//! Deployments own nothing in AWS (the App controller does), so they carry no finalizer: deleting
//! one, or its App, never waits on the operator.

use super::validate;
use super::{Context, Error, report};
use crate::api::Deployment;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use std::sync::Arc;

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
    let outcome = validate::deployment(&deployment.spec);
    let mut status = deployment.status.clone().unwrap_or_default();
    let accepted = format!(
        "snapshot of {} revision {} is valid; this release records rollouts and does not shift traffic yet",
        deployment.spec.app, deployment.spec.revision
    );
    report::validation(
        &mut status,
        deployment.metadata.generation,
        outcome
            .as_ref()
            .map(|_| accepted.as_str())
            .map_err(Vec::as_slice),
        ctx.clock.now(),
    );
    let patched = report::patch_status(
        &api,
        &deployment.name_any(),
        deployment.status.as_ref(),
        &status,
    )
    .await?;
    if patched && let Err(problems) = &outcome {
        ctx.invalid_spec(&deployment.object_ref(&()), problems)
            .await;
    }
    ctx.reconciled(&super::runtime::object_key(deployment.as_ref()));
    Ok(match outcome {
        Ok(_) => Action::requeue(ctx.settings.resync_period),
        Err(_) => Action::await_change(),
    })
}
