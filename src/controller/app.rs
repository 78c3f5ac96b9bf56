//! App reconciler: observe -> plan -> act -> report.
//!
//! - **observe** reads the App's Deployments and Ready Domains from Kubernetes, and its listener,
//!   services, target groups and rule from AWS (a bounded number of batched reads);
//! - **plan** is [`crate::plan::app::plan`], a pure function;
//! - **act** executes the planned changes in order, resolving the ARNs earlier changes produced;
//! - **report** writes the status (only when it changed) and Events (`DriftCorrected`,
//!   `InvalidSpec`, `RolloutFailed`).
//!
//! Deleting an App passes through the finalizer: with `deletionPolicy: Delete` its rule, services,
//! target groups and task definitions are removed ("not found" counts as done); with `Retain`
//! AWS is left as it is.

use super::events::{EventType, Notice};
use super::validate::{self, ValidatedApp};
use super::view::{Ask, Touched};
use super::{Context, Error, failure, memo, report, view};
use crate::api::app::{RevisionTaskDefinition, SlotName};
use crate::api::conditions::{self, reason};
use crate::api::deployment::DeploymentSpec;
use crate::api::{App, AppStatus, DeletionPolicy, Deployment, Domain, FINALIZER};
use crate::aws::ecs::{Service, ServiceUpdate, TaskDefinitionInput};
use crate::aws::elbv2::{Rule, RuleConditions};
use crate::aws::{AwsError, AwsErrorKind, OWNER_TAG};
use crate::plan::app::{
    self as planner, Change, Observed, ObservedSlot, PreviewObserved, Revision, SLOTS,
};
use crate::plan::naming::{self, AppIdentity, template_hash};
use crate::plan::routing;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Kind name used in metrics and logs.
pub const KIND: &str = "App";
/// Label on Deployments naming their App.
pub const APP_LABEL: &str = "cygni.io/app";
/// Label on Deployments holding their revision number.
pub const REVISION_LABEL: &str = "cygni.io/revision";

/// The ECS error of a call naming a cluster that does not exist.
const CLUSTER_NOT_FOUND: &str = "ClusterNotFoundException";

/// How soon to look again when AWS is still settling (a draining service, a target group in use).
const SETTLING: Duration = Duration::from_secs(10);

/// Reconciles one App.
pub async fn reconcile(app: Arc<App>, ctx: Arc<Context>) -> Result<Action, Error> {
    // The App's own status writes, and wakes for other Apps, reach here too: unless the App
    // changed, something it depends on marked it, or it is due, nothing is read.
    if let Some(left) = ctx.memo.skip(&app) {
        ctx.metrics.reconcile_skipped(KIND);
        return Ok(Action::requeue(left));
    }
    ctx.memo.begin(&app);
    let _timer = ctx.metrics.reconcile_started(KIND);
    let namespace = app.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api: Api<App> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, app.clone(), |event| async {
        match event {
            Finalizer::Apply(app) => apply(&app, &api, &ctx).await,
            Finalizer::Cleanup(app) => cleanup(&app, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    failure::conclude(&api, app.as_ref(), result, &ctx).await
}

fn identity(app: &App) -> Result<AppIdentity, Error> {
    Ok(AppIdentity {
        namespace: app.namespace().ok_or(Error::MissingMetadata("namespace"))?,
        name: app.name_any(),
        uid: app.uid().ok_or(Error::MissingMetadata("uid"))?,
    })
}

async fn apply(cached: &App, api: &Api<App>, ctx: &Context) -> Result<Action, Error> {
    // Status is the planner's memory. The controller's cache can lag behind the status this
    // reconciler wrote a moment ago (a reconcile triggered by a Deployment it created runs before
    // the status write reaches the cache), so the App is read fresh: planning from a stale memory
    // would redo work that is already done.
    let Some(fresh) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let app = &fresh;
    let valid = match validate::app(&app.spec, &ctx.settings.defaults, &ctx.settings.policy) {
        Ok(valid) => valid,
        Err(problems) => {
            report::invalid_spec(api, app, &problems, ctx).await?;
            return Ok(Action::await_change());
        }
    };
    let id = identity(app)?;
    let status = app.status.clone().unwrap_or_default();

    // Observe. Ready Domains add their hostnames to the rule, so the ALB's limits are checked
    // with them, before anything is read from or written to AWS.
    let domain_hosts = observe_domains(app, ctx).await?;
    let conditions = routing::rule_conditions(&app.spec, &domain_hosts);
    if let Some(why) = routing::exceeds_limits(&conditions, &domain_hosts) {
        let problem = validate::InvalidSpec {
            field: "spec.routing".to_string(),
            message: why,
        };
        report::invalid_spec(api, app, std::slice::from_ref(&problem), ctx).await?;
        return Ok(Action::requeue(ctx.settings.resync()));
    }
    // A preview rule exists only during a blue-green rollout; its listener is read only then, or
    // while a rule is left to remove.
    let hash = template_hash(&app.spec.template());
    let rolling_out = status.stable_revision.is_none()
        || status.stable_revision != status.current_revision
        || status.template_hash.as_deref() != Some(hash.as_str());
    let preview_listener = match (&valid.preview_listener_arn, &status.preview_rule_arn) {
        (Some(listener), _) if rolling_out => Some(listener.clone()),
        (_, Some(rule)) => Some(listener_of_rule(rule)),
        _ => None,
    };
    let observed = match observe_aws(&id, &valid, &status, preview_listener.as_deref(), ctx).await?
    {
        Observation::Found(observed) => *observed,
        // Something the spec names does not exist: nothing can be created for it, and a resync
        // notices when it appears.
        Observation::Missing(problem) => {
            report::invalid_spec(api, app, std::slice::from_ref(&problem), ctx).await?;
            return Ok(settle(app, ctx.settings.resync(), ctx));
        }
    };
    if let Some(other) =
        routing::conflicting(observed.rule.as_ref(), &observed.other_rules, &conditions)
    {
        let message = route_conflict(other, &conditions, ctx).await?;
        report::refusal(api, app, reason::ROUTE_CONFLICT, message, ctx).await?;
        return Ok(settle(app, ctx.settings.resync(), ctx));
    }
    let revisions = observe_revisions(app, ctx).await?;

    // Plan.
    let region = ctx.aws.region.clone();
    let plan = planner::plan(&planner::Inputs {
        identity: &id,
        spec: &app.spec,
        valid: &valid,
        region: &region,
        status: &status,
        observed: &observed,
        revisions: &revisions,
        template_hash: &hash,
        domain_hosts: &domain_hosts,
        generation: app.metadata.generation,
        now: ctx.clock.now(),
    });

    // Act, then report what was done, also when acting failed part way (a failure that persists
    // reaches the conditions through the reconcile's error path).
    let drift = is_drift(app, &plan.changes);
    let (new_status, acted, wrote) = act(app, &id, &valid, &observed, &plan, ctx).await;
    // Announced before the status is written, so a restart in between announces the same
    // Events again (found by name) rather than losing them.
    let before = app.status.clone();
    announce(app, ctx, before.as_ref(), &new_status, drift.as_deref()).await;
    report::patch_status(api, &app.name_any(), before.as_ref(), &new_status).await?;
    acted?;
    // What an App waits for wakes it: its part of the AWS view (read again every resync period,
    // and every few seconds while a service changes), its Deployments and its Domains. So the
    // planner's short poll of a changing App is only a backstop, and so is the resync of a
    // converged one, whose AWS drift the view's pass finds.
    let after = match plan.requeue_after {
        // Every change found AWS as it should be (a status that lost a record after a crash)
        // and only the status changed: it says converging, and the next plan, with the records
        // back, says what is true. Nothing in AWS changed to wake the App, so look again at once.
        Some(_) if !plan.changes.is_empty() && !wrote && before.as_ref() != Some(&new_status) => {
            Duration::ZERO
        }
        Some(poll) => poll.max(PROGRESS_BACKSTOP.min(ctx.settings.resync_period)),
        None => ctx.settings.resync() * CONVERGED_RESYNCS,
    };
    Ok(settle(app, after, ctx))
}

/// How soon a changing App is looked at again if nothing wakes it first.
const PROGRESS_BACKSTOP: Duration = Duration::from_secs(30);

/// Resync periods after which a converged App is reconciled again if nothing woke it first.
const CONVERGED_RESYNCS: u32 = 10;

/// Ends a full reconcile of `app` (as it was read): skipped until `after`, unless it changes or
/// is marked.
fn settle(app: &App, after: Duration, ctx: &Context) -> Action {
    ctx.memo.settle(app, after);
    Action::requeue(after)
}

/// The sentence a second claimant of the same requests reports: who has them, and what to change.
async fn route_conflict(
    other: &Rule,
    conditions: &RuleConditions,
    ctx: &Context,
) -> Result<String, Error> {
    let tags = ctx
        .aws
        .elbv2
        .describe_tags(std::slice::from_ref(&other.arn))
        .await
        .map_err(aws)?;
    let owner = tags
        .get(&other.arn)
        .and_then(|tags| tags.iter().find(|t| t.key == OWNER_TAG))
        .map(|t| t.value.clone());
    let claimant = match owner {
        Some(owner) => match owner.split_once("/App/") {
            Some((namespace, name)) => format!("App {name} in namespace {namespace}"),
            None => owner,
        },
        None => format!(
            "a listener rule the operator does not manage ({})",
            other.arn
        ),
    };
    let hosts = if conditions.host_headers.is_empty() {
        "any host".to_string()
    } else {
        format!("hosts {}", conditions.host_headers.join(", "))
    };
    Ok(format!(
        "{claimant} already routes {hosts} and paths {} on this listener (rule priority {}); give this App other spec.routing.hosts or spec.routing.paths",
        conditions.path_patterns.join(", "),
        other.priority.unwrap_or_default()
    ))
}

/// A reconcile that has to change AWS although the App was Ready for this generation: something
/// outside changed it.
fn is_drift(app: &App, changes: &[Change]) -> Option<String> {
    let status = app.status.as_ref()?;
    let aws: Vec<String> = changes
        .iter()
        .filter(|c| c.is_aws())
        .map(ToString::to_string)
        .collect();
    (conditions::is_true(&status.conditions, conditions::READY)
        && status.observed_generation == app.metadata.generation
        && !aws.is_empty())
    .then(|| aws.join("; "))
}

async fn announce(
    app: &App,
    ctx: &Context,
    before: Option<&AppStatus>,
    after: &AppStatus,
    drift: Option<&str>,
) {
    let object = app.object_ref(&());
    if let Some(drift) = drift {
        ctx.publish(
            &object,
            EventType::Warning,
            "DriftCorrected",
            "Converge",
            format!("restored what changed outside the operator: {drift}"),
        )
        .await;
    }
    let was_failed = before.and_then(|s| s.failed_revision);
    if let Some(failed) = after.failed_revision
        && was_failed != Some(failed)
    {
        let message = after.failure_message.clone().unwrap_or_default();
        ctx.announce(
            &object,
            Notice {
                type_: EventType::Warning,
                reason: reason::ROLLOUT_FAILED,
                action: "Rollout",
                note: format!("revision {failed} failed: {message}"),
                related: Some(deployment_ref(app, failed)),
            },
        )
        .await;
    }
    let was_stable = before.and_then(|s| s.stable_revision);
    if let Some(stable) = after.stable_revision
        && was_stable != Some(stable)
    {
        ctx.announce(
            &object,
            Notice {
                type_: EventType::Normal,
                reason: "RevisionStable",
                action: "Rollout",
                note: format!("revision {stable} is stable and serves 100%"),
                related: Some(deployment_ref(app, stable)),
            },
        )
        .await;
    }
}

/// A reference to the Deployment of one of the App's revisions, for Events about it.
fn deployment_ref(app: &App, revision: i64) -> ObjectReference {
    ObjectReference {
        api_version: Some(Deployment::api_version(&()).to_string()),
        kind: Some(Deployment::kind(&()).to_string()),
        namespace: app.namespace(),
        name: Some(naming::deployment_name(&app.name_any(), revision)),
        ..ObjectReference::default()
    }
}

/// What observing AWS found.
enum Observation {
    /// Everything the App refers to exists.
    Found(Box<Observed>),
    /// Something the spec names does not exist in AWS.
    Missing(validate::InvalidSpec),
}

/// Reads what exists in AWS for the App.
async fn observe_aws(
    id: &AppIdentity,
    valid: &ValidatedApp,
    status: &AppStatus,
    preview_listener: Option<&str>,
    ctx: &Context,
) -> Result<Observation, Error> {
    let Some((listener, load_balancer)) = ctx.listener(&valid.listener_arn).await.map_err(aws)?
    else {
        return Ok(Observation::Missing(validate::InvalidSpec {
            field: "spec.routing.listenerArn".to_string(),
            message: format!(
                "listener {} does not exist; fix the ARN or the operator's --listener-arn",
                valid.listener_arn
            ),
        }));
    };
    // The App's part of the shared view: its services, its target groups and the rules of its
    // listeners, read for many Apps at once (or not read at all, when the view holds them).
    let mut listeners = vec![listener.arn.clone()];
    listeners.extend(preview_listener.map(str::to_string));
    let ask = Ask {
        owner: memo::key_of(&id.namespace, &id.name),
        cluster: valid.cluster.clone(),
        services: SLOTS.iter().map(|s| id.service_name(*s)).collect(),
        target_groups: SLOTS.iter().map(|s| id.target_group_name(*s)).collect(),
        listeners,
    };
    let part = match ctx.view.part(&ask).await {
        Ok(part) => part,
        Err(e) if e.code == CLUSTER_NOT_FOUND => {
            return Ok(Observation::Missing(validate::InvalidSpec {
                field: "spec.cluster".to_string(),
                message: format!(
                    "ECS cluster {} does not exist; fix spec.cluster or the operator's --ecs-cluster, or create the cluster",
                    valid.cluster
                ),
            }));
        }
        Err(e) => return Err(aws(e)),
    };
    let services: Vec<Service> = part.services.values().cloned().collect();
    let target_groups: Vec<crate::aws::elbv2::TargetGroup> =
        part.target_groups.values().cloned().collect();
    let rules: Vec<Rule> = part
        .rules
        .get(&listener.arn)
        .map(|r| r.as_ref().clone())
        .unwrap_or_default();
    let own_target_groups: Vec<String> = target_groups.iter().map(|t| t.arn.clone()).collect();
    let rule = find_rule(id, status, &rules, &own_target_groups, ctx).await?;
    let other_rules = rules
        .into_iter()
        .filter(|r| rule.as_ref().is_none_or(|mine| mine.arn != r.arn))
        .collect();

    let mut slots = Vec::new();
    for slot in SLOTS {
        let service = services
            .iter()
            .find(|s| s.name == id.service_name(slot) && s.status == "ACTIVE")
            .cloned();
        let target_group = target_groups
            .iter()
            .find(|t| t.name == id.target_group_name(slot))
            .cloned();
        // Target health is read only while the slot is changing; a settled ECS deployment has
        // already passed the load balancer's health checks.
        let settling = service.as_ref().is_some_and(|s| !settled(s));
        let healthy_targets = match (&target_group, settling) {
            (Some(tg), true) => Some(ctx.view.healthy_targets(&tg.arn).await.map_err(aws)?),
            _ => None,
        };
        slots.push(ObservedSlot {
            service,
            target_group,
            healthy_targets,
        });
    }
    let b = slots.pop().unwrap_or_default();
    let a = slots.pop().unwrap_or_default();
    let preview = match preview_listener {
        None => None,
        Some(arn) => {
            let rules = part.rules.get(arn).map(|r| r.as_ref().clone());
            match observe_preview(
                id,
                status,
                arn,
                rules,
                &load_balancer,
                &own_target_groups,
                ctx,
            )
            .await?
            {
                Ok(preview) => preview,
                Err(problem) => return Ok(Observation::Missing(problem)),
            }
        }
    };
    Ok(Observation::Found(Box::new(Observed {
        listener,
        load_balancer,
        a,
        b,
        rule,
        other_rules,
        preview,
    })))
}

/// The tag that marks the App's rule on the preview listener.
const PREVIEW_ROLE: (&str, &str) = ("cygni.io/role", "preview");

/// The listener a rule belongs to, from the rule's ARN
/// (`...:listener-rule/app/<lb>/<lb id>/<listener id>/<rule id>`).
fn listener_of_rule(rule_arn: &str) -> String {
    let listener = rule_arn.replacen(":listener-rule/", ":listener/", 1);
    listener
        .rsplit_once('/')
        .map_or(listener.clone(), |(l, _)| l.to_string())
}

/// The preview listener and the App's rule on it. A listener that does not exist, or that is on
/// another load balancer (a target group belongs to one load balancer), is a problem of the spec.
async fn observe_preview(
    id: &AppIdentity,
    status: &AppStatus,
    arn: &str,
    rules: Option<Vec<Rule>>,
    load_balancer: &crate::aws::elbv2::LoadBalancer,
    own_target_groups: &[String],
    ctx: &Context,
) -> Result<Result<Option<PreviewObserved>, validate::InvalidSpec>, Error> {
    let field = "spec.strategy.blueGreen.previewListenerArn".to_string();
    let Some((listener, lb)) = ctx.listener(arn).await.map_err(aws)? else {
        return Ok(Err(validate::InvalidSpec {
            field,
            message: format!(
                "preview listener {arn} does not exist; fix the ARN or the operator's --preview-listener-arn"
            ),
        }));
    };
    if lb.arn != load_balancer.arn {
        return Ok(Err(validate::InvalidSpec {
            field,
            message: format!(
                "preview listener {arn} is on another load balancer than the App's listener; use a listener of {}",
                load_balancer.dns_name
            ),
        }));
    }
    let rules = match rules {
        Some(rules) => rules,
        None => ctx
            .aws
            .elbv2
            .describe_rules(&listener.arn)
            .await
            .map_err(aws)?,
    };
    let known = status
        .preview_rule_arn
        .as_deref()
        .and_then(|known| rules.iter().find(|r| r.arn == known).cloned());
    let rule = match known {
        Some(rule) => Some(rule),
        None => {
            let candidates: Vec<String> = rules
                .iter()
                .filter(|r| r.priority.is_some())
                .filter(|r| {
                    r.forward
                        .iter()
                        .any(|w| own_target_groups.contains(&w.target_group_arn))
                })
                .map(|r| r.arn.clone())
                .collect();
            let mut found = None;
            for chunk in candidates.chunks(20) {
                let tags = ctx.aws.elbv2.describe_tags(chunk).await.map_err(aws)?;
                if let Some((arn, _)) = tags.iter().find(|(_, tags)| {
                    id.owns(tags)
                        && tags
                            .iter()
                            .any(|t| t.key == PREVIEW_ROLE.0 && t.value == PREVIEW_ROLE.1)
                }) {
                    found = rules.iter().find(|r| &r.arn == arn).cloned();
                    break;
                }
            }
            found
        }
    };
    let used_priorities = rules
        .iter()
        .filter(|r| rule.as_ref().is_none_or(|mine| mine.arn != r.arn))
        .filter_map(|r| r.priority)
        .collect();
    Ok(Ok(Some(PreviewObserved {
        listener,
        rule,
        used_priorities,
    })))
}

fn settled(service: &Service) -> bool {
    view::settled(service)
}

/// The App's rule: the one status remembers, else the one tagged with the App's UID (after a lost
/// status or a crash between CreateRule and the status write).
async fn find_rule(
    id: &AppIdentity,
    status: &AppStatus,
    rules: &[Rule],
    own_target_groups: &[String],
    ctx: &Context,
) -> Result<Option<Rule>, Error> {
    if let Some(known) = status.listener_rule_arn.as_deref()
        && let Some(rule) = rules.iter().find(|r| r.arn == known)
    {
        return Ok(Some(rule.clone()));
    }
    // The App's rule always forwards to one of its own target groups: only those rules are worth
    // a look at their tags.
    let candidates: Vec<String> = rules
        .iter()
        .filter(|r| r.priority.is_some())
        .filter(|r| {
            r.forward
                .iter()
                .any(|w| own_target_groups.contains(&w.target_group_arn))
        })
        .map(|r| r.arn.clone())
        .collect();
    for chunk in candidates.chunks(20) {
        let tags = ctx.aws.elbv2.describe_tags(chunk).await.map_err(aws)?;
        if let Some((arn, _)) = tags.iter().find(|(_, tags)| id.owns(tags)) {
            return Ok(rules.iter().find(|r| &r.arn == arn).cloned());
        }
    }
    Ok(None)
}

/// The App's Deployments as revisions.
async fn observe_revisions(app: &App, ctx: &Context) -> Result<Vec<Revision>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!("{APP_LABEL}={}", naming::app_label(&app.name_any()));
    let uid = app.uid();
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|d| {
            d.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .map(|d| {
            let status = d.status.clone().unwrap_or_default();
            Revision {
                number: d.spec.revision,
                template_hash: d.spec.template_hash.clone(),
                template: d.spec.template.clone(),
                strategy: d.spec.strategy.clone(),
                phase: status.phase,
                desired_weight: status.desired_weight,
                desired_replicas: status.desired_replicas,
                message: status.message,
            }
        })
        .collect())
}

/// Hostnames of the Ready Domains that point at the App.
async fn observe_domains(app: &App, ctx: &Context) -> Result<Vec<String>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let name = app.name_any();
    let api: Api<Domain> = Api::namespaced(ctx.client.clone(), &namespace);
    let domains: Vec<Domain> = match ctx.cached_domains(&namespace).await {
        // The cache says which Domains point at the App; each is read fresh, because the cache
        // may not have seen the status change that triggered this reconcile yet.
        Some(cached) => {
            let mut fresh = Vec::new();
            for domain in cached.iter().filter(|d| d.spec.app_ref.name == name) {
                fresh.extend(api.get_opt(&domain.name_any()).await?);
            }
            fresh
        }
        None => api.list(&ListParams::default()).await?.items,
    };
    Ok(routable_hostnames(&name, &domains))
}

/// The hostnames the rule of App `app` matches for its Domains, sorted: those each Domain that
/// points at it last had Ready. A Domain being deleted leaves the rule first: its records and
/// certificate go after. Otherwise the rule holds the hostnames the Domain last had Ready, so
/// that one being changed (an alias added) keeps serving the names it served.
pub fn routable_hostnames(app: &str, domains: &[Domain]) -> Vec<String> {
    let mut hosts: Vec<String> = domains
        .iter()
        .filter(|d| d.spec.app_ref.name == app && d.metadata.deletion_timestamp.is_none())
        .flat_map(|d| {
            d.status
                .iter()
                .flat_map(|s| s.routable_hostnames.iter().cloned())
        })
        .collect();
    hosts.sort();
    hosts
}

fn aws(error: AwsError) -> Error {
    Error::Aws(error)
}

/// Executes the plan's changes in order. Returns the status to report, which records what landed
/// even when a change failed part way (a registered task definition, the rule ARN), and the
/// outcome.
async fn act(
    app: &App,
    id: &AppIdentity,
    valid: &ValidatedApp,
    observed: &Observed,
    plan: &planner::Plan,
    ctx: &Context,
) -> (AppStatus, Result<(), Error>, bool) {
    let mut progress = Progress {
        status: plan.status.clone(),
        load_balancer: observed.load_balancer.arn.clone(),
        task_definitions: BTreeMap::new(),
        target_groups: SLOTS
            .iter()
            .filter_map(|s| {
                observed
                    .slot(*s)
                    .target_group
                    .as_ref()
                    .map(|t| (*s, t.arn.clone()))
            })
            .collect(),
        wrote: false,
        services: SLOTS
            .iter()
            .filter_map(|s| {
                observed
                    .slot(*s)
                    .service
                    .clone()
                    .map(|service| (*s, service))
            })
            .collect(),
    };
    for change in &plan.changes {
        tracing::info!(app = %id.owner(), change = %change, "converging");
        if let Err(error) = progress.make(change, app, id, valid, ctx).await {
            // What a failed write did is unknown (a lost answer may hide a success): its part of
            // the view is read again before the next plan.
            for touched in touches(change, id, valid) {
                ctx.view.invalidate(touched);
            }
            return (progress.status, Err(error), true);
        }
    }
    let wrote = progress.wrote;
    (progress.status, Ok(()), wrote)
}

/// What of the AWS view a change writes.
fn touches(change: &Change, id: &AppIdentity, valid: &ValidatedApp) -> Vec<Touched> {
    match change {
        Change::CreateTargetGroup { input, .. } => vec![Touched::TargetGroup(input.name.clone())],
        Change::ModifyTargetGroup { slot, .. } => {
            vec![Touched::TargetGroup(id.target_group_name(*slot))]
        }
        Change::CreateService { input, .. } => {
            vec![Touched::Service(input.cluster.clone(), input.name.clone())]
        }
        Change::UpdateService { update, .. } => {
            vec![Touched::Service(
                update.cluster.clone(),
                update.name.clone(),
            )]
        }
        Change::CreateRule { .. } | Change::ModifyRule { .. } => {
            vec![Touched::Rules(valid.listener_arn.clone())]
        }
        Change::CreatePreviewRule { listener_arn, .. } => {
            vec![Touched::Rules(listener_arn.clone())]
        }
        Change::ModifyPreviewRule { arn, .. } | Change::DeletePreviewRule { arn } => {
            vec![Touched::Rules(listener_of_rule(arn))]
        }
        _ => Vec::new(),
    }
}

/// What the changes made so far produced, for the changes after them and for the status.
struct Progress {
    status: AppStatus,
    /// The App's load balancer, which ELB attaches its target groups to once a rule forwards.
    load_balancer: String,
    task_definitions: BTreeMap<i64, String>,
    target_groups: BTreeMap<SlotName, String>,
    /// The slots' services as observed before the changes.
    services: BTreeMap<SlotName, Service>,
    /// Whether a change wrote to AWS (a registration that found its task definition, or an
    /// update the service already has, writes nothing).
    wrote: bool,
}

impl Progress {
    /// Makes one change, and notes whether it wrote to AWS.
    async fn make(
        &mut self,
        change: &Change,
        app: &App,
        id: &AppIdentity,
        valid: &ValidatedApp,
        ctx: &Context,
    ) -> Result<(), Error> {
        let wrote_before = self.wrote;
        self.wrote = true;
        match change {
            Change::CreateDeployment {
                revision,
                rollback_of,
            } => create_deployment(app, *revision, *rollback_of, ctx).await,
            Change::PruneDeployments { revisions } => {
                let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &id.namespace);
                for revision in revisions {
                    let name = naming::deployment_name(&id.name, *revision);
                    match api.delete(&name, &DeleteParams::background()).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(())
            }
            Change::RegisterTaskDefinition { revision, input } => {
                let (arn, registered) = register_once(input, ctx).await?;
                self.wrote = wrote_before || registered;
                self.status
                    .task_definitions
                    .retain(|t| t.revision != *revision);
                self.status.task_definitions.push(RevisionTaskDefinition {
                    revision: *revision,
                    arn: arn.clone(),
                });
                self.task_definitions.insert(*revision, arn);
                Ok(())
            }
            Change::CreateTargetGroup { slot, input } => {
                let tg = ctx
                    .aws
                    .elbv2
                    .create_target_group(input)
                    .await
                    .map_err(aws)?;
                ctx.view.target_group_written(&tg);
                self.target_groups.insert(*slot, tg.arn);
                Ok(())
            }
            Change::ModifyTargetGroup {
                arn, health_check, ..
            } => {
                let tg = ctx
                    .aws
                    .elbv2
                    .modify_target_group(arn, health_check)
                    .await
                    .map_err(aws)?;
                ctx.view.target_group_written(&tg);
                Ok(())
            }
            Change::CreateService {
                slot,
                revision,
                input,
            } => {
                let mut input = (**input).clone();
                if input.task_definition_arn.is_empty() {
                    input.task_definition_arn = self.registered(*revision)?;
                }
                input.target_group_arn = self
                    .target_groups
                    .get(slot)
                    .cloned()
                    .ok_or(Error::Missing("target group"))?;
                input.client_token = id.client_token(*slot, &input.task_definition_arn);
                let service = ctx.aws.ecs.create_service(&input).await.map_err(aws)?;
                ctx.view.service_written(&input.cluster, &service);
                self.requested(*slot, *revision, &service);
                Ok(())
            }
            Change::UpdateService {
                slot,
                revision,
                update,
            } => {
                let mut update = (**update).clone();
                if let Some(revision) = revision
                    && update.task_definition_arn.is_none()
                {
                    let arn = self.registered(*revision)?;
                    // A crash between creating a service and recording its revision's task
                    // definition leaves a status without it and a service that already runs it:
                    // the registration finds the same ARN, and there is nothing to update.
                    let runs_it = self
                        .services
                        .get(slot)
                        .filter(|s| s.task_definition_arn == arn);
                    if let Some(service) = runs_it {
                        let unchanged = ServiceUpdate {
                            cluster: update.cluster.clone(),
                            name: update.name.clone(),
                            ..ServiceUpdate::default()
                        };
                        if update == unchanged {
                            let service = service.clone();
                            self.requested(*slot, *revision, &service);
                            self.wrote = wrote_before;
                            return Ok(());
                        }
                    } else {
                        update.task_definition_arn = Some(arn);
                    }
                }
                let service = ctx.aws.ecs.update_service(&update).await.map_err(aws)?;
                ctx.view.service_written(&update.cluster, &service);
                let asked = revision.or_else(|| {
                    self.status
                        .slots
                        .iter()
                        .find(|s| s.name == *slot)
                        .and_then(|s| s.requested_revision)
                });
                if let Some(revision) = asked {
                    self.requested(*slot, revision, &service);
                }
                Ok(())
            }
            Change::CreateRule {
                priority,
                conditions,
                weights,
            } => {
                let forward = planner::forward(weights, &self.target_groups);
                let rule = ctx
                    .aws
                    .elbv2
                    .create_rule(
                        &valid.listener_arn,
                        *priority,
                        conditions,
                        &forward,
                        &id.tags(),
                    )
                    .await
                    .map_err(aws)?;
                ctx.view
                    .rule_written(&valid.listener_arn, &self.load_balancer, &rule);
                self.rule_written(&rule);
                self.status.listener_rule_arn = Some(rule.arn);
                Ok(())
            }
            Change::ModifyRule {
                arn,
                conditions,
                weights,
            } => {
                let forward = planner::forward(weights, &self.target_groups);
                let rule = ctx
                    .aws
                    .elbv2
                    .modify_rule(arn, conditions, &forward)
                    .await
                    .map_err(aws)?;
                ctx.view
                    .rule_written(&valid.listener_arn, &self.load_balancer, &rule);
                self.rule_written(&rule);
                Ok(())
            }
            Change::CreatePreviewRule {
                listener_arn,
                priority,
                conditions,
                slot,
            } => {
                let forward = planner::forward(&[(*slot, 100)], &self.target_groups);
                let mut tags = id.tags();
                tags.push(crate::aws::Tag::new(PREVIEW_ROLE.0, PREVIEW_ROLE.1));
                let rule = ctx
                    .aws
                    .elbv2
                    .create_rule(listener_arn, *priority, conditions, &forward, &tags)
                    .await
                    .map_err(aws)?;
                ctx.view
                    .rule_written(listener_arn, &self.load_balancer, &rule);
                self.status.preview_rule_arn = Some(rule.arn);
                Ok(())
            }
            Change::ModifyPreviewRule {
                arn,
                conditions,
                slot,
            } => {
                let forward = planner::forward(&[(*slot, 100)], &self.target_groups);
                let rule = ctx
                    .aws
                    .elbv2
                    .modify_rule(arn, conditions, &forward)
                    .await
                    .map_err(aws)?;
                ctx.view
                    .rule_written(&listener_of_rule(arn), &self.load_balancer, &rule);
                Ok(())
            }
            Change::DeletePreviewRule { arn } => {
                ctx.aws.elbv2.delete_rule(arn).await.map_err(aws)?;
                ctx.view.rule_deleted(&listener_of_rule(arn), arn);
                self.status.preview_rule_arn = None;
                Ok(())
            }
        }
    }

    /// Records the slots' weights as the rule AWS answered with has them, so the status never
    /// shows weights from before the write.
    fn rule_written(&mut self, rule: &Rule) {
        let active = self.status.active_slot.unwrap_or(SlotName::A);
        for slot in &mut self.status.slots {
            if let Some(tg) = self.target_groups.get(&slot.name) {
                slot.weight = rule
                    .forward
                    .iter()
                    .find(|w| &w.target_group_arn == tg)
                    .map_or(0, |w| w.weight);
            }
        }
        self.status.canary_weight = self
            .status
            .slots
            .iter()
            .find(|s| s.name == active.other())
            .map(|s| s.weight);
    }

    /// The task definition registered earlier in this plan for a revision.
    fn registered(&self, revision: i64) -> Result<String, Error> {
        self.task_definitions
            .get(&revision)
            .cloned()
            .ok_or(Error::Missing("task definition"))
    }

    /// Remembers which revision a slot was asked to run, and what ECS answered about it: the
    /// status then says the slot is being updated, not what it ran before the write.
    fn requested(&mut self, slot: SlotName, revision: i64, service: &crate::aws::ecs::Service) {
        let registry = self.status.task_definitions.clone();
        if let Some(state) = self.status.slots.iter_mut().find(|s| s.name == slot) {
            state.requested_revision = Some(revision);
            planner::read_service(state, service, None, &registry);
        }
    }
}

/// Registers a task definition unless the family's newest revision already has this content (a
/// crash between registering and recording it must not leave a trail of identical revisions).
/// Returns its ARN and whether it was registered now.
async fn register_once(
    input: &TaskDefinitionInput,
    ctx: &Context,
) -> Result<(String, bool), Error> {
    let existing = ctx
        .aws
        .ecs
        .list_task_definitions(&input.family)
        .await
        .map_err(aws)?;
    if let Some(newest) = existing.last()
        && let Some(found) = ctx
            .aws
            .ecs
            .describe_task_definition(newest)
            .await
            .map_err(aws)?
    {
        let mut same = found.input.clone();
        same.tags.clone_from(&input.tags);
        if same == *input {
            return Ok((found.arn, false));
        }
    }
    let registered = ctx
        .aws
        .ecs
        .register_task_definition(input)
        .await
        .map_err(aws)?;
    Ok((registered.arn, true))
}

async fn create_deployment(
    app: &App,
    revision: i64,
    rollback_of: Option<i64>,
    ctx: &Context,
) -> Result<(), Error> {
    let namespace = app.namespace().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let template = app.spec.template();
    let deployment = Deployment {
        metadata: ObjectMeta {
            name: Some(naming::deployment_name(&app.name_any(), revision)),
            namespace: Some(namespace),
            labels: Some(BTreeMap::from([
                (APP_LABEL.to_string(), naming::app_label(&app.name_any())),
                (REVISION_LABEL.to_string(), revision.to_string()),
            ])),
            owner_references: app.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: DeploymentSpec {
            app: app.name_any(),
            revision,
            template_hash: template_hash(&template),
            template,
            strategy: app.spec.strategy.clone(),
            analysis: app.spec.analysis.clone(),
            rollback_of,
            paused: false,
            abort: false,
            promote_full: false,
            promote_step: None,
            retry_attempt: 0,
        },
        status: None,
    };
    let created = match api.create(&super::post_params(), &deployment).await {
        Ok(_) => Ok(()),
        // Created by an earlier attempt whose status write did not land.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    };
    match created {
        // Its Event may not have been published by the earlier attempt either; published twice,
        // it is found by name.
        Ok(()) => {
            ctx.announce(
                &app.object_ref(&()),
                Notice {
                    type_: EventType::Normal,
                    reason: "RevisionCreated",
                    action: "Rollout",
                    note: match rollback_of {
                        Some(earlier) => format!(
                            "revision {revision}: image {} (a rollback to revision {earlier})",
                            app.spec.container.image
                        ),
                        None => format!("revision {revision}: image {}", app.spec.container.image),
                    },
                    related: Some(deployment_ref(app, revision)),
                },
            )
            .await;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn cleanup(app: &App, ctx: &Context) -> Result<Action, Error> {
    if app.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.publish(
            &app.object_ref(&()),
            EventType::Normal,
            "Retained",
            "Delete",
            "deletionPolicy is Retain: the App's AWS resources are left in place".to_string(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let id = identity(app)?;
    // Without a valid spec the operator cannot know the cluster or listener: use what defaults it
    // has; if even those are missing nothing could have been created.
    let Ok(valid) = validate::app(&app.spec, &ctx.settings.defaults, &ctx.settings.policy) else {
        return Ok(Action::await_change());
    };
    let status = app.status.clone().unwrap_or_default();

    let names: Vec<String> = SLOTS.iter().map(|s| id.target_group_name(*s)).collect();
    let target_groups = ctx
        .aws
        .elbv2
        .describe_target_groups(&names)
        .await
        .map_err(aws)?;
    let own: Vec<String> = target_groups.iter().map(|t| t.arn.clone()).collect();
    // Rule first: target groups cannot be deleted while a rule forwards to them.
    if let Some((listener, load_balancer)) = ctx.listener(&valid.listener_arn).await.map_err(aws)? {
        let rules = ctx
            .aws
            .elbv2
            .describe_rules(&listener.arn)
            .await
            .map_err(aws)?;
        if let Some(rule) = find_rule(&id, &status, &rules, &own, ctx).await? {
            ctx.aws.elbv2.delete_rule(&rule.arn).await.map_err(aws)?;
            ctx.view.rule_deleted(&listener.arn, &rule.arn);
        }
        // The preview rule too: the one status remembers, else the one tagged on the preview
        // listener.
        let preview_listener = status
            .preview_rule_arn
            .as_deref()
            .map(listener_of_rule)
            .or_else(|| valid.preview_listener_arn.clone());
        if let Some(preview_listener) = preview_listener
            && let Ok(Some(preview)) = observe_preview(
                &id,
                &status,
                &preview_listener,
                None,
                &load_balancer,
                &own,
                ctx,
            )
            .await?
            && let Some(rule) = preview.rule
        {
            ctx.aws.elbv2.delete_rule(&rule.arn).await.map_err(aws)?;
            ctx.view.rule_deleted(&preview_listener, &rule.arn);
        }
    }
    // Only services that exist are deleted; a cluster that does not exist holds none.
    let names: Vec<String> = SLOTS.iter().map(|s| id.service_name(*s)).collect();
    let services = match ctx.aws.ecs.describe_services(&valid.cluster, &names).await {
        Ok(services) => services,
        Err(e) if e.code == CLUSTER_NOT_FOUND => Vec::new(),
        Err(e) => return Err(aws(e)),
    };
    for service in services.iter().filter(|s| s.status == "ACTIVE") {
        ctx.aws
            .ecs
            .delete_service(&valid.cluster, &service.name)
            .await
            .map_err(aws)?;
    }
    for tg in target_groups {
        match ctx.aws.elbv2.delete_target_group(&tg.arn).await {
            Ok(()) => {}
            // The rule deletion or the services' deregistration has not settled yet.
            Err(e) if e.kind == AwsErrorKind::InUse => return Ok(Action::requeue(SETTLING)),
            Err(e) => return Err(aws(e)),
        }
    }
    for arn in ctx
        .aws
        .ecs
        .list_task_definitions(&id.family())
        .await
        .map_err(aws)?
    {
        ctx.aws
            .ecs
            .deregister_task_definition(&arn)
            .await
            .map_err(aws)?;
    }
    tracing::info!(app = %id.owner(), "deleted the App's AWS resources");
    let key = memo::key_of(&id.namespace, &id.name);
    ctx.view.forget(&key);
    ctx.memo.forget(&key);
    Ok(Action::await_change())
}
