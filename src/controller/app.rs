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

use super::validate::{self, ValidatedApp};
use super::{Context, Error, report};
use crate::api::app::{RevisionTaskDefinition, SlotName};
use crate::api::conditions::{self, ConditionUpdate, Status};
use crate::api::deployment::DeploymentSpec;
use crate::api::{App, AppStatus, DeletionPolicy, Deployment, Domain, FINALIZER};
use crate::aws::ecs::{Service, TaskDefinitionInput};
use crate::aws::elbv2::Rule;
use crate::aws::{AwsError, AwsErrorKind};
use crate::plan::app::{self as planner, Change, Observed, ObservedSlot, Revision, SLOTS};
use crate::plan::naming::{AppIdentity, template_hash};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
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

/// How soon to look again when AWS is still settling (a draining service, a target group in use).
const SETTLING: Duration = Duration::from_secs(10);

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
            let mut status = app.status.clone().unwrap_or_default();
            report::validation(
                &mut status,
                app.metadata.generation,
                Err(&problems),
                ctx.clock.now(),
            );
            if report::patch_status(api, &app.name_any(), app.status.as_ref(), &status).await? {
                ctx.invalid_spec(&app.object_ref(&()), &problems).await;
            }
            return Ok(Action::await_change());
        }
    };
    let id = identity(app)?;
    let status = app.status.clone().unwrap_or_default();

    // Observe.
    let Some(observed) = observe_aws(&id, &valid, &status, ctx).await? else {
        let mut status = status;
        let problem = validate::InvalidSpec {
            field: "spec.routing.listenerArn".to_string(),
            message: format!(
                "listener {} does not exist; fix the ARN or the operator's --listener-arn",
                valid.listener_arn
            ),
        };
        report::validation(
            &mut status,
            app.metadata.generation,
            Err(std::slice::from_ref(&problem)),
            ctx.clock.now(),
        );
        if report::patch_status(api, &app.name_any(), app.status.as_ref(), &status).await? {
            ctx.invalid_spec(&app.object_ref(&()), std::slice::from_ref(&problem))
                .await;
        }
        return Ok(Action::requeue(ctx.settings.resync()));
    };
    let revisions = observe_revisions(app, ctx).await?;
    let domain_hosts = observe_domains(app, ctx).await?;

    // Plan.
    let hash = template_hash(&app.spec.template());
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

    // Act.
    let drift = is_drift(app, &plan.changes);
    let mut new_status = plan.status.clone();
    let acted = act(
        app,
        &id,
        &valid,
        &observed,
        &plan.changes,
        &mut new_status,
        ctx,
    )
    .await;

    // Report, also when acting failed part way: what was done is recorded.
    if let Err(error) = &acted {
        conditions::set(
            &mut new_status.conditions,
            ConditionUpdate {
                type_: conditions::READY,
                status: Status::False,
                reason: "AwsError",
                message: error.to_string(),
            },
            app.metadata.generation,
            ctx.clock.now(),
        );
    }
    let before = app.status.clone();
    report::patch_status(api, &app.name_any(), before.as_ref(), &new_status).await?;
    announce(app, ctx, before.as_ref(), &new_status, drift.as_deref()).await;
    acted?;
    Ok(Action::requeue(
        plan.requeue_after.unwrap_or_else(|| ctx.settings.resync()),
    ))
}

/// A reconcile that has to change AWS although the App was Ready for this generation: something
/// outside changed it.
fn is_drift(app: &App, changes: &[Change]) -> Option<String> {
    let status = app.status.as_ref()?;
    let ready = conditions::find(&status.conditions, conditions::READY)?;
    let aws: Vec<String> = changes
        .iter()
        .filter(|c| c.is_aws())
        .map(Change::describe)
        .collect();
    (ready.status == "True"
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
        ctx.publish(
            &object,
            EventType::Warning,
            "RolloutFailed",
            "Rollout",
            format!("revision {failed} failed: {message}"),
        )
        .await;
    }
    let was_stable = before.and_then(|s| s.stable_revision);
    if let Some(stable) = after.stable_revision
        && was_stable != Some(stable)
    {
        ctx.publish(
            &object,
            EventType::Normal,
            "RevisionStable",
            "Rollout",
            format!("revision {stable} is stable and serves 100%"),
        )
        .await;
    }
}

/// Reads what exists in AWS for the App; `None` when its listener does not exist.
async fn observe_aws(
    id: &AppIdentity,
    valid: &ValidatedApp,
    status: &AppStatus,
    ctx: &Context,
) -> Result<Option<Observed>, Error> {
    let Some((listener, load_balancer)) = ctx.listener(&valid.listener_arn).await.map_err(aws)?
    else {
        return Ok(None);
    };
    let names: Vec<String> = SLOTS.iter().map(|s| id.service_name(*s)).collect();
    let services = ctx
        .aws
        .ecs
        .describe_services(&valid.cluster, &names)
        .await
        .map_err(aws)?;
    let tg_names: Vec<String> = SLOTS.iter().map(|s| id.target_group_name(*s)).collect();
    let target_groups = ctx
        .aws
        .elbv2
        .describe_target_groups(&tg_names)
        .await
        .map_err(aws)?;
    let rules = ctx
        .aws
        .elbv2
        .describe_rules(&listener.arn)
        .await
        .map_err(aws)?;
    let own_target_groups: Vec<String> = target_groups.iter().map(|t| t.arn.clone()).collect();
    let rule = find_rule(id, status, &rules, &own_target_groups, ctx).await?;
    let used_priorities = rules
        .iter()
        .filter(|r| rule.as_ref().is_none_or(|mine| mine.arn != r.arn))
        .filter_map(|r| r.priority)
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
            (Some(tg), true) => Some(
                ctx.aws
                    .elbv2
                    .describe_target_health(&tg.arn)
                    .await
                    .map_err(aws)?
                    .iter()
                    .filter(|t| t.state == crate::aws::elbv2::TargetState::Healthy)
                    .count() as i32,
            ),
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
    Ok(Some(Observed {
        listener,
        load_balancer,
        a,
        b,
        rule,
        used_priorities,
    }))
}

fn settled(service: &Service) -> bool {
    service.deployments.len() == 1
        && service.deployments[0].rollout_state == Some(crate::aws::ecs::RolloutState::Completed)
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
    let selector = format!("{APP_LABEL}={}", app.name_any());
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
            }
        })
        .collect())
}

/// Hostnames of the Ready Domains that point at the App.
async fn observe_domains(app: &App, ctx: &Context) -> Result<Vec<String>, Error> {
    let namespace = app.namespace().unwrap_or_default();
    let api: Api<Domain> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = app.name_any();
    let mut hosts = Vec::new();
    for domain in api.list(&ListParams::default()).await?.items {
        let ready = domain
            .status
            .as_ref()
            .and_then(|s| conditions::find(&s.conditions, conditions::READY))
            .is_some_and(|c| c.status == "True");
        if domain.spec.app_ref.name == name && ready {
            hosts.push(domain.spec.hostname.clone());
            hosts.extend(domain.spec.aliases.iter().cloned());
        }
    }
    hosts.sort();
    Ok(hosts)
}

fn aws(error: AwsError) -> Error {
    Error::Aws(error)
}

/// Executes the changes in order. `status` is updated as changes land, so a failure part way
/// still records what exists (the slot's task definition, the rule ARN).
async fn act(
    app: &App,
    id: &AppIdentity,
    valid: &ValidatedApp,
    observed: &Observed,
    changes: &[Change],
    status: &mut AppStatus,
    ctx: &Context,
) -> Result<(), Error> {
    let mut task_definitions: BTreeMap<i64, String> = BTreeMap::new();
    let mut target_groups: BTreeMap<SlotName, String> = SLOTS
        .iter()
        .filter_map(|s| {
            observed
                .slot(*s)
                .target_group
                .as_ref()
                .map(|t| (*s, t.arn.clone()))
        })
        .collect();
    for change in changes {
        tracing::info!(app = %id.owner(), change = %change.describe(), "converging");
        match change {
            Change::CreateDeployment { revision } => create_deployment(app, *revision, ctx).await?,
            Change::PruneDeployments { revisions } => {
                let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &id.namespace);
                for revision in revisions {
                    match api
                        .delete(
                            &format!("{}-{revision}", id.name),
                            &DeleteParams::background(),
                        )
                        .await
                    {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Change::RegisterTaskDefinition { revision, input } => {
                let arn = register_once(input, ctx).await?;
                status.task_definitions.retain(|t| t.revision != *revision);
                status.task_definitions.push(RevisionTaskDefinition {
                    revision: *revision,
                    arn: arn.clone(),
                });
                task_definitions.insert(*revision, arn);
            }
            Change::CreateTargetGroup { slot, input } => {
                let tg = ctx
                    .aws
                    .elbv2
                    .create_target_group(input)
                    .await
                    .map_err(aws)?;
                target_groups.insert(*slot, tg.arn);
            }
            Change::ModifyTargetGroup {
                arn, health_check, ..
            } => {
                ctx.aws
                    .elbv2
                    .modify_target_group(arn, health_check)
                    .await
                    .map_err(aws)?;
            }
            Change::CreateService {
                slot,
                revision,
                input,
            } => {
                let mut input = (**input).clone();
                if input.task_definition_arn.is_empty() {
                    input.task_definition_arn = task_definitions
                        .get(revision)
                        .cloned()
                        .ok_or(Error::Missing("task definition"))?;
                }
                input.target_group_arn = target_groups
                    .get(slot)
                    .cloned()
                    .ok_or(Error::Missing("target group"))?;
                input.client_token = id.client_token(*slot, &input.task_definition_arn);
                ctx.aws.ecs.create_service(&input).await.map_err(aws)?;
                requested(status, *slot, *revision);
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
                    update.task_definition_arn = Some(
                        task_definitions
                            .get(revision)
                            .cloned()
                            .ok_or(Error::Missing("task definition"))?,
                    );
                }
                ctx.aws.ecs.update_service(&update).await.map_err(aws)?;
                if let Some(revision) = revision {
                    requested(status, *slot, *revision);
                }
            }
            Change::CreateRule {
                priority,
                conditions,
                weights,
            } => {
                let forward = planner::forward(weights, &target_groups);
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
                status.listener_rule_arn = Some(rule.arn);
            }
            Change::ModifyRule {
                arn,
                conditions,
                weights,
            } => {
                let forward = planner::forward(weights, &target_groups);
                ctx.aws
                    .elbv2
                    .modify_rule(arn, conditions, &forward)
                    .await
                    .map_err(aws)?;
            }
        }
    }
    Ok(())
}

/// Remembers which revision a slot was asked to run.
fn requested(status: &mut AppStatus, slot: SlotName, revision: i64) {
    if let Some(state) = status.slots.iter_mut().find(|s| s.name == slot) {
        state.requested_revision = Some(revision);
    }
}

/// Registers a task definition unless the family's newest revision already has this content (a
/// crash between registering and recording it must not leave a trail of identical revisions).
async fn register_once(input: &TaskDefinitionInput, ctx: &Context) -> Result<String, Error> {
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
            return Ok(found.arn);
        }
    }
    Ok(ctx
        .aws
        .ecs
        .register_task_definition(input)
        .await
        .map_err(aws)?
        .arn)
}

async fn create_deployment(app: &App, revision: i64, ctx: &Context) -> Result<(), Error> {
    let namespace = app.namespace().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let template = app.spec.template();
    let deployment = Deployment {
        metadata: ObjectMeta {
            name: Some(format!("{}-{revision}", app.name_any())),
            namespace: Some(namespace),
            labels: Some(BTreeMap::from([
                (APP_LABEL.to_string(), app.name_any()),
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
            rollback_of: None,
            paused: false,
            abort: false,
            promote_full: false,
            promote_step: None,
            retry_attempt: 0,
        },
        status: None,
    };
    match api.create(&PostParams::default(), &deployment).await {
        Ok(_) => {
            ctx.publish(
                &app.object_ref(&()),
                EventType::Normal,
                "RevisionCreated",
                "Rollout",
                format!("revision {revision}: image {}", app.spec.container.image),
            )
            .await;
            Ok(())
        }
        // Created by an earlier attempt whose status write did not land.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
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
    if let Some((listener, _)) = ctx.listener(&valid.listener_arn).await.map_err(aws)? {
        let rules = ctx
            .aws
            .elbv2
            .describe_rules(&listener.arn)
            .await
            .map_err(aws)?;
        if let Some(rule) = find_rule(&id, &status, &rules, &own, ctx).await? {
            ctx.aws.elbv2.delete_rule(&rule.arn).await.map_err(aws)?;
        }
    }
    for slot in SLOTS {
        ctx.aws
            .ecs
            .delete_service(&valid.cluster, &id.service_name(slot))
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
    Ok(Action::await_change())
}
