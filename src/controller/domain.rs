//! Domain reconciler: observe -> validate -> (certificate and records, in a later release) -> report.
//!
//! Today it validates each Domain against the operator's hosted zone policy, checks that the App it
//! points at exists, reports `Ready` and `observedGeneration`, and holds the finalizer.

use super::validate;
use super::{Context, Error, report};
use crate::api::conditions::{self, ConditionUpdate, Status};
use crate::api::{App, Domain, FINALIZER};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Kind name used in metrics and logs.
pub const KIND: &str = "Domain";

/// How soon a Domain whose App is missing is looked at again.
const APP_MISSING_RETRY: Duration = Duration::from_secs(30);

/// Reconciles one Domain.
pub async fn reconcile(domain: Arc<Domain>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let namespace = domain
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<Domain> = Api::namespaced(ctx.client.clone(), &namespace);
    let apps: Api<App> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = super::runtime::object_key(domain.as_ref());
    let action = finalizer(&api, FINALIZER, domain, |event| async {
        match event {
            Finalizer::Apply(domain) => apply(&domain, &api, &apps, &ctx).await,
            Finalizer::Cleanup(_) => Ok(Action::await_change()),
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    ctx.reconciled(&key);
    Ok(action)
}

async fn apply(
    domain: &Domain,
    api: &Api<Domain>,
    apps: &Api<App>,
    ctx: &Context,
) -> Result<Action, Error> {
    let outcome = validate::domain(&domain.spec, &ctx.settings.policy);
    let now = ctx.clock.now();
    let mut status = domain.status.clone().unwrap_or_default();
    let app_name = &domain.spec.app_ref.name;
    let action = match &outcome {
        Err(problems) => {
            report::validation(&mut status, domain.metadata.generation, Err(problems), now);
            Action::await_change()
        }
        Ok(valid) => match apps.get_opt(app_name).await? {
            None => {
                let generation = domain.metadata.generation;
                conditions::set(
                    &mut status.conditions,
                    ConditionUpdate {
                        type_: conditions::READY,
                        status: Status::False,
                        reason: "AppNotFound",
                        message: format!(
                            "App {app_name} does not exist in this namespace; create it or fix spec.appRef.name"
                        ),
                    },
                    generation,
                    now,
                );
                status.observed_generation = generation;
                Action::requeue(APP_MISSING_RETRY)
            }
            Some(_) => {
                let message = format!(
                    "spec is valid ({}); this release validates Domains and does not write DNS records or certificates yet",
                    valid.hostnames.join(", ")
                );
                report::validation(&mut status, domain.metadata.generation, Ok(&message), now);
                Action::requeue(ctx.settings.resync())
            }
        },
    };
    let patched =
        report::patch_status(api, &domain.name_any(), domain.status.as_ref(), &status).await?;
    if patched && let Err(problems) = &outcome {
        ctx.invalid_spec(&domain.object_ref(&()), problems).await;
    }
    Ok(action)
}
