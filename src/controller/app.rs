//! App reconciler: observe -> validate -> (converge AWS, in a later release) -> report.
//!
//! Today it validates each App against the operator's defaults and policy, reports `Ready` and
//! `observedGeneration`, emits an Event when the spec is invalid, and holds the finalizer so that
//! deleting an App always passes through the operator first.

use super::validate;
use super::{Context, Error, report};
use crate::api::{App, DeletionPolicy, FINALIZER};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use std::sync::Arc;

/// Kind name used in metrics and logs.
pub const KIND: &str = "App";

/// Reconciles one App.
pub async fn reconcile(app: Arc<App>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let namespace = app.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<App> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = super::runtime::object_key(app.as_ref());
    let action = finalizer(&api, FINALIZER, app, |event| async {
        match event {
            Finalizer::Apply(app) => apply(&app, &api, &ctx).await,
            Finalizer::Cleanup(app) => cleanup(&app, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    ctx.reconciled(&key);
    Ok(action)
}

async fn apply(app: &App, api: &Api<App>, ctx: &Context) -> Result<Action, Error> {
    let outcome = validate::app(&app.spec, &ctx.settings.defaults, &ctx.settings.policy);
    let accepted = outcome.as_ref().map(|v| {
        format!(
            "spec is valid (cluster {}, listener {}); this release validates Apps and does not create AWS resources yet",
            v.cluster, v.listener_arn
        )
    });
    let mut status = app.status.clone().unwrap_or_default();
    report::validation(
        &mut status,
        app.metadata.generation,
        accepted.as_deref().map_err(|p| p.as_slice()),
        ctx.clock.now(),
    );
    let patched = report::patch_status(api, &app.name_any(), app.status.as_ref(), &status).await?;
    if patched && let Err(problems) = &outcome {
        ctx.invalid_spec(&app.object_ref(&()), problems).await;
    }
    Ok(match outcome {
        Ok(_) => Action::requeue(ctx.settings.resync_period),
        // A terminal problem: nothing to do until the spec changes, which triggers a reconcile.
        Err(_) => Action::await_change(),
    })
}

async fn cleanup(app: &App, ctx: &Context) -> Result<Action, Error> {
    let policy = app.spec.deletion_policy;
    tracing::info!(app = %app.name_any(), ?policy, "App deleted; no AWS resources were created for it");
    if policy == DeletionPolicy::Retain {
        ctx.publish(
            &app.object_ref(&()),
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy is Retain: AWS resources are left in place".to_string(),
        )
        .await;
    }
    Ok(Action::await_change())
}
