//! Domain reconciler: observe -> validate -> (certificate and records, in a later release) -> report.
//!
//! Today it validates each Domain against the operator's hosted zone policy, checks that the App it
//! points at exists, reports `Ready` and `observedGeneration`, and holds the finalizer.

use super::validate;
use super::{Context, Error, failure, report};
use crate::api::conditions::{self, ConditionUpdate, Status, reason};
use crate::api::{App, Domain, FINALIZER};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
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
    let result = finalizer(&api, FINALIZER, domain.clone(), |event| async {
        match event {
            Finalizer::Apply(domain) => apply(&domain, &api, &apps, &ctx).await,
            Finalizer::Cleanup(_) => Ok(Action::await_change()),
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    failure::conclude(&api, domain.as_ref(), result, &ctx).await
}

async fn apply(
    domain: &Domain,
    api: &Api<Domain>,
    apps: &Api<App>,
    ctx: &Context,
) -> Result<Action, Error> {
    let valid = match validate::domain(&domain.spec, &ctx.settings.policy) {
        Ok(valid) => valid,
        Err(problems) => {
            report::invalid_spec(api, domain, &problems, ctx).await?;
            return Ok(Action::await_change());
        }
    };
    let now = ctx.clock.now();
    let mut status = domain.status.clone().unwrap_or_default();
    let app_name = &domain.spec.app_ref.name;
    let generation = domain.metadata.generation;
    let action = match apps.get_opt(app_name).await? {
        None => {
            conditions::set(
                &mut status.conditions,
                ConditionUpdate {
                    type_: conditions::READY,
                    status: Status::False,
                    reason: reason::APP_NOT_FOUND,
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
            report::validation(&mut status, generation, Ok(&message), now);
            Action::requeue(ctx.settings.resync())
        }
    };
    report::patch_status(api, &domain.name_any(), domain.status.as_ref(), &status).await?;
    Ok(action)
}
