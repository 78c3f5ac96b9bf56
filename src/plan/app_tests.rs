//! Behaviour of the App planner, driven with plain structs.

use super::*;
use crate::api::deployment::DeploymentPhase;
use crate::aws::ecs::EcsDeployment;

const TD1: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-web-1:1";
const TD2: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-web-1:2";
const LISTENER: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/pub/1/2";

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).expect("valid")
}

fn identity() -> AppIdentity {
    AppIdentity {
        namespace: "shop".into(),
        name: "web".into(),
        uid: "6f1c2b1e-8f7e-4a43-9a4e-0d2c3b4a5f60".into(),
    }
}

fn spec(image: &str, strategy: serde_json::Value) -> AppSpec {
    serde_json::from_value(serde_json::json!({
        "container": {"image": image},
        "replicas": 4,
        "strategy": strategy,
        "revisionHistoryLimit": 2,
    }))
    .expect("spec")
}

fn rolling(image: &str) -> AppSpec {
    spec(image, serde_json::json!({"rolling": {}}))
}

fn canary(image: &str) -> AppSpec {
    spec(
        image,
        serde_json::json!({"canary": {"steps": [{"setWeight": 10}], "scaleDownDelaySeconds": 30}}),
    )
}

fn valid() -> ValidatedApp {
    ValidatedApp {
        cluster: "prod".into(),
        subnets: vec!["subnet-0123456789abcdef0".into()],
        security_groups: vec!["sg-0123456789abcdef0".into()],
        listener_arn: LISTENER.into(),
        preview_listener_arn: None,
        execution_role_arn: "arn:aws:iam::123456789012:role/exec".into(),
    }
}

fn revision(number: i64, spec: &AppSpec, phase: DeploymentPhase) -> Revision {
    let template = spec.template();
    Revision {
        number,
        template_hash: crate::plan::naming::template_hash(&template),
        template,
        strategy: spec.strategy.clone(),
        phase,
        desired_weight: None,
        desired_replicas: None,
        message: None,
    }
}

fn empty_aws() -> Observed {
    Observed {
        listener: Listener {
            arn: LISTENER.into(),
            load_balancer_arn: "lb".into(),
            port: 443,
            protocol: "HTTPS".into(),
        },
        load_balancer: LoadBalancer {
            arn: "lb".into(),
            dns_name: "pub-1.eu-west-1.elb.amazonaws.com".into(),
            canonical_hosted_zone_id: "Z32O12XQLNTSW2".into(),
            vpc_id: "vpc-1".into(),
            dual_stack: false,
        },
        a: ObservedSlot::default(),
        b: ObservedSlot::default(),
        rule: None,
        other_rules: vec![],
        preview: None,
    }
}

fn target_group(slot: SlotName, spec: &AppSpec) -> TargetGroup {
    TargetGroup {
        arn: format!("tg-{slot:?}"),
        name: identity().target_group_name(slot),
        port: 8080,
        vpc_id: "vpc-1".into(),
        health_check: health_check(&spec.template()),
        load_balancer_arns: vec![],
    }
}

fn service(slot: SlotName, task: &str, desired: i32, state: RolloutState) -> Service {
    let network = NetworkConfiguration {
        subnets: valid().subnets,
        security_groups: valid().security_groups,
        assign_public_ip: false,
    };
    Service {
        arn: format!("svc-{slot:?}"),
        name: identity().service_name(slot),
        cluster_arn: "prod".into(),
        status: "ACTIVE".into(),
        desired_count: desired,
        running_count: desired,
        pending_count: 0,
        task_definition_arn: task.into(),
        deployments: vec![EcsDeployment {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            task_definition_arn: task.into(),
            desired_count: desired,
            running_count: desired,
            pending_count: 0,
            failed_tasks: 0,
            rollout_state: Some(state),
            rollout_state_reason: None,
        }],
        network,
        target_group_arn: Some(format!("tg-{slot:?}")),
        deployment_bounds: (100, 200),
        tags: identity().tags(),
    }
}

fn rule(weights: &[(SlotName, i32)], spec: &AppSpec) -> Rule {
    Rule {
        arn: "rule-1".into(),
        priority: Some(1234),
        conditions: rule_conditions(spec, &[]),
        forward: weights
            .iter()
            .map(|(s, w)| WeightedTarget {
                target_group_arn: format!("tg-{s:?}"),
                weight: *w,
            })
            .collect(),
    }
}

fn registered(revision: i64, arn: &str) -> crate::api::app::RevisionTaskDefinition {
    crate::api::app::RevisionTaskDefinition {
        revision,
        arn: arn.into(),
    }
}

fn slot_state(slot: SlotName, revision: i64, task: &str, weight: i32) -> SlotStatus {
    SlotStatus {
        name: slot,
        revision: Some(revision),
        service_arn: Some(format!("svc-{slot:?}")),
        target_group_arn: Some(format!("tg-{slot:?}")),
        task_definition_arn: Some(task.into()),
        desired: 4,
        running: 4,
        healthy: 4,
        weight,
        rollout_state: Some(crate::api::app::EcsRolloutState::Completed),
        requested_revision: Some(revision),
        failure: None,
    }
}

/// Revision 1 of `spec` serving from slot a, fully converged.
fn converged(spec: &AppSpec) -> (AppStatus, Observed, Vec<Revision>) {
    let status = AppStatus {
        active_slot: Some(SlotName::A),
        stable_revision: Some(1),
        current_revision: Some(1),
        slots: vec![slot_state(SlotName::A, 1, TD1, 100)],
        task_definitions: vec![registered(1, TD1)],
        ..AppStatus::default()
    };
    let mut aws = empty_aws();
    aws.a.service = Some(service(SlotName::A, TD1, 4, RolloutState::Completed));
    aws.a.target_group = Some(target_group(SlotName::A, spec));
    aws.rule = Some(rule(&[(SlotName::A, 100)], spec));
    (
        status,
        aws,
        vec![revision(1, spec, DeploymentPhase::Succeeded)],
    )
}

fn run(spec: &AppSpec, status: &AppStatus, aws: &Observed, revisions: &[Revision]) -> Plan {
    let hash = crate::plan::naming::template_hash(&spec.template());
    plan(&Inputs {
        identity: &identity(),
        spec,
        valid: &valid(),
        region: "eu-west-1",
        status,
        observed: aws,
        revisions,
        template_hash: &hash,
        domain_hosts: &[],
        generation: Some(1),
        now: now(),
    })
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.changes
        .iter()
        .map(|c| match c {
            Change::CreateDeployment { .. } => "CreateDeployment",
            Change::PruneDeployments { .. } => "PruneDeployments",
            Change::RegisterTaskDefinition { .. } => "RegisterTaskDefinition",
            Change::CreateTargetGroup { .. } => "CreateTargetGroup",
            Change::ModifyTargetGroup { .. } => "ModifyTargetGroup",
            Change::CreateService { .. } => "CreateService",
            Change::UpdateService { .. } => "UpdateService",
            Change::CreateRule { .. } => "CreateRule",
            Change::ModifyRule { .. } => "ModifyRule",
            Change::CreatePreviewRule { .. } => "CreatePreviewRule",
            Change::ModifyPreviewRule { .. } => "ModifyPreviewRule",
            Change::DeletePreviewRule { .. } => "DeletePreviewRule",
        })
        .collect()
}

fn ready(plan: &Plan) -> (String, String) {
    let c = conditions::find(&plan.status.conditions, conditions::READY).expect("Ready");
    (c.status.clone(), c.reason.clone())
}

#[test]
fn a_new_app_gets_revision_one_in_slot_a_with_all_traffic() {
    let spec = rolling("web:1");
    let plan = run(&spec, &AppStatus::default(), &empty_aws(), &[]);
    assert_eq!(
        kinds(&plan),
        [
            "CreateDeployment",
            "RegisterTaskDefinition",
            "CreateTargetGroup",
            "CreateRule",
            "CreateService"
        ]
    );
    assert!(matches!(
        plan.changes[0],
        Change::CreateDeployment {
            revision: 1,
            rollback_of: None
        }
    ));
    match &plan.changes[4] {
        Change::CreateService { slot, input, .. } => {
            assert_eq!(*slot, SlotName::A);
            assert_eq!(input.desired_count, 4);
            assert_eq!(input.cluster, "prod");
        }
        other => panic!("{other:?}"),
    }
    match &plan.changes[3] {
        Change::CreateRule { weights, .. } => assert_eq!(weights, &vec![(SlotName::A, 100)]),
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.status.active_slot, Some(SlotName::A));
    assert_eq!(ready(&plan).0, "False");
    assert_eq!(plan.requeue_after, Some(PROGRESS_POLL));
}

#[test]
fn a_converged_app_plans_no_change_and_reports_ready() {
    let spec = rolling("web:1");
    let (status, aws, revisions) = converged(&spec);
    let plan = run(&spec, &status, &aws, &revisions);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(ready(&plan), ("True".to_string(), "Available".to_string()));
    assert_eq!(plan.requeue_after, None);
}

#[test]
fn a_new_image_is_a_new_revision_rolled_into_the_active_slot() {
    let old = rolling("web:1");
    let (status, aws, revisions) = converged(&old);
    let new = rolling("web:2");
    let plan = run(&new, &status, &aws, &revisions);
    assert_eq!(
        kinds(&plan),
        [
            "CreateDeployment",
            "RegisterTaskDefinition",
            "UpdateService"
        ]
    );
    match &plan.changes[2] {
        Change::UpdateService {
            slot,
            revision,
            update,
        } => {
            assert_eq!(*slot, SlotName::A);
            assert_eq!(*revision, Some(2));
            assert_eq!(update.desired_count, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.status.current_revision, Some(2));
    assert_eq!(plan.status.stable_revision, Some(1));
}

#[test]
fn a_completed_ecs_deployment_makes_the_revision_stable() {
    let new = rolling("web:2");
    let (mut status, mut aws, mut revisions) = converged(&rolling("web:1"));
    revisions.push(revision(2, &new, DeploymentPhase::Progressing));
    status.current_revision = Some(2);
    status.slots[0].revision = Some(2);
    status.slots[0].task_definition_arn = Some(TD2.into());
    status.task_definitions.push(registered(2, TD2));
    aws.a.service = Some(service(SlotName::A, TD2, 4, RolloutState::Completed));
    let plan = run(&new, &status, &aws, &revisions);
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(plan.status.stable_revision, Some(2));
    assert_eq!(ready(&plan).0, "True");
}

#[test]
fn a_tripped_circuit_breaker_keeps_the_stable_revision_and_reports_degraded() {
    let new = rolling("web:bad");
    let (mut status, mut aws, mut revisions) = converged(&rolling("web:1"));
    revisions.push(revision(2, &new, DeploymentPhase::Progressing));
    status.slots[0].revision = Some(2);
    status.slots[0].task_definition_arn = Some(TD2.into());
    status.task_definitions.push(registered(2, TD2));
    let mut svc = service(SlotName::A, TD1, 4, RolloutState::InProgress);
    svc.deployments.push(EcsDeployment {
        id: "ecs-svc/2".into(),
        status: "ACTIVE".into(),
        task_definition_arn: TD2.into(),
        desired_count: 0,
        running_count: 0,
        pending_count: 0,
        failed_tasks: 3,
        rollout_state: Some(RolloutState::Failed),
        rollout_state_reason: Some("ECS deployment circuit breaker: tasks failed to start.".into()),
    });
    aws.a.service = Some(svc);
    let plan = run(&new, &status, &aws, &revisions);
    assert_eq!(plan.status.failed_revision, Some(2));
    assert_eq!(plan.status.stable_revision, Some(1));
    assert_eq!(
        ready(&plan),
        ("False".to_string(), "RolloutFailed".to_string())
    );
    let degraded =
        conditions::find(&plan.status.conditions, conditions::DEGRADED).expect("Degraded");
    assert_eq!(degraded.status, "True");
    assert!(
        degraded.message.contains("circuit breaker"),
        "{}",
        degraded.message
    );

    // Next pass: the failed revision is not pushed again over ECS's rollback.
    let mut after = plan.status.clone();
    after.slots[0].task_definition_arn = Some(TD1.into());
    after.slots[0].revision = Some(1);
    aws.a.service = Some(service(SlotName::A, TD1, 4, RolloutState::Completed));
    let again = run(&new, &after, &aws, &revisions);
    assert!(
        !again.changes.iter().any(|c| matches!(
            c,
            Change::UpdateService {
                revision: Some(_),
                ..
            }
        )),
        "{:?}",
        again.changes
    );
}

#[test]
fn a_desired_count_changed_outside_is_restored() {
    let spec = rolling("web:1");
    let (status, mut aws, revisions) = converged(&spec);
    aws.a.service = Some(service(SlotName::A, TD1, 1, RolloutState::Completed));
    let plan = run(&spec, &status, &aws, &revisions);
    assert_eq!(kinds(&plan), ["UpdateService"]);
    match &plan.changes[0] {
        Change::UpdateService {
            update, revision, ..
        } => {
            assert_eq!(update.desired_count, Some(4));
            assert!(revision.is_none());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rule_weights_changed_outside_are_restored() {
    let spec = rolling("web:1");
    let (status, mut aws, revisions) = converged(&spec);
    aws.b.target_group = Some(target_group(SlotName::B, &spec));
    aws.rule = Some(rule(&[(SlotName::A, 50), (SlotName::B, 50)], &spec));
    let plan = run(&spec, &status, &aws, &revisions);
    match plan
        .changes
        .iter()
        .find(|c| matches!(c, Change::ModifyRule { .. }))
    {
        Some(Change::ModifyRule { weights, .. }) => {
            assert_eq!(weights, &vec![(SlotName::A, 100), (SlotName::B, 0)])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deleted_service_is_recreated() {
    let spec = rolling("web:1");
    let (status, mut aws, revisions) = converged(&spec);
    aws.a.service = None;
    let plan = run(&spec, &status, &aws, &revisions);
    assert_eq!(kinds(&plan), ["CreateService"]);
}

#[test]
fn a_canary_starts_in_the_idle_slot_with_the_weight_its_deployment_asks_for() {
    let new = canary("web:2");
    let (status, aws, mut revisions) = converged(&canary("web:1"));
    let mut rev2 = revision(2, &new, DeploymentPhase::Progressing);
    rev2.desired_weight = Some(10);
    revisions.push(rev2);
    let plan = run(&new, &status, &aws, &revisions);
    assert_eq!(
        kinds(&plan),
        [
            "RegisterTaskDefinition",
            "CreateTargetGroup",
            "ModifyRule",
            "CreateService"
        ]
    );
    match &plan.changes[3] {
        Change::CreateService { slot, input, .. } => {
            assert_eq!(*slot, SlotName::B);
            assert_eq!(
                input.desired_count, 1,
                "10% of 4 replicas rounds up to one task"
            );
        }
        other => panic!("{other:?}"),
    }
    match &plan.changes[2] {
        Change::ModifyRule { weights, .. } => assert_eq!(
            weights,
            &vec![(SlotName::A, 100), (SlotName::B, 0)],
            "the new target group joins the rule at 0% until its tasks are healthy"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.status.active_slot, Some(SlotName::A));
}

#[test]
fn traffic_moves_to_the_canary_only_once_its_tasks_are_healthy() {
    let new = canary("web:2");
    let (mut status, mut aws, mut revisions) = converged(&canary("web:1"));
    let mut rev2 = revision(2, &new, DeploymentPhase::Progressing);
    rev2.desired_weight = Some(10);
    revisions.push(rev2);
    status.task_definitions.push(registered(2, TD2));
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    aws.rule = Some(rule(&[(SlotName::A, 100), (SlotName::B, 0)], &new));
    aws.b.service = Some(service(SlotName::B, TD2, 1, RolloutState::InProgress));
    aws.b.healthy_targets = Some(0);
    let starting = run(&new, &status, &aws, &revisions);
    assert!(
        !starting
            .changes
            .iter()
            .any(|c| matches!(c, Change::ModifyRule { .. })),
        "{:?}",
        starting.changes
    );
    // A healthy target while ECS still rolls the deployment is not enough.
    aws.b.healthy_targets = Some(1);
    let rolling = run(&new, &status, &aws, &revisions);
    assert!(
        !rolling
            .changes
            .iter()
            .any(|c| matches!(c, Change::ModifyRule { .. })),
        "{:?}",
        rolling.changes
    );
    aws.b.service = Some(service(SlotName::B, TD2, 1, RolloutState::Completed));
    let healthy = run(&new, &status, &aws, &revisions);
    let weights = healthy.changes.iter().find_map(|c| match c {
        Change::ModifyRule { weights, .. } => Some(weights.clone()),
        _ => None,
    });
    assert_eq!(weights, Some(vec![(SlotName::A, 90), (SlotName::B, 10)]));
}

#[test]
fn traffic_never_moves_to_a_slot_still_running_the_revision_before() {
    let new = canary("web:3");
    let (mut status, mut aws, mut revisions) = converged(&canary("web:1"));
    let mut rev3 = revision(3, &new, DeploymentPhase::Progressing);
    rev3.desired_weight = Some(30);
    rev3.desired_replicas = Some(2);
    revisions.push(rev3);
    status.task_definitions.push(registered(3, TD2));
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    aws.rule = Some(rule(&[(SlotName::A, 100), (SlotName::B, 0)], &new));
    // Slot b is being updated from an older revision: its old tasks are healthy targets.
    let mut updating = service(SlotName::B, TD2, 2, RolloutState::InProgress);
    updating.deployments.push(EcsDeployment {
        id: "ecs-svc/old".into(),
        status: "ACTIVE".into(),
        task_definition_arn: TD1.into(),
        desired_count: 2,
        running_count: 2,
        pending_count: 0,
        failed_tasks: 0,
        rollout_state: Some(RolloutState::Completed),
        rollout_state_reason: None,
    });
    aws.b.service = Some(updating);
    aws.b.healthy_targets = Some(2);
    let plan = run(&new, &status, &aws, &revisions);
    assert!(
        !plan
            .changes
            .iter()
            .any(|c| matches!(c, Change::ModifyRule { .. })),
        "{:?}",
        plan.changes
    );
}

#[test]
fn a_succeeded_canary_with_verified_weight_swaps_slots_and_scales_the_old_one_down_at_once() {
    let new = canary("web:2");
    let (mut status, mut aws, mut revisions) = converged(&canary("web:1"));
    revisions.push(revision(2, &new, DeploymentPhase::Succeeded));
    status.slots[0].weight = 0;
    status.slots.push(slot_state(SlotName::B, 2, TD2, 100));
    status.task_definitions.push(registered(2, TD2));
    aws.b.service = Some(service(SlotName::B, TD2, 4, RolloutState::Completed));
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    aws.rule = Some(rule(&[(SlotName::A, 0), (SlotName::B, 100)], &new));
    let plan = run(&new, &status, &aws, &revisions);
    assert_eq!(plan.status.active_slot, Some(SlotName::B));
    assert_eq!(plan.status.stable_revision, Some(2));
    // The rollout kept the old slot for its scale-down delay before it succeeded.
    assert_eq!(kinds(&plan), ["UpdateService"]);
    match &plan.changes[0] {
        Change::UpdateService { slot, update, .. } => {
            assert_eq!(*slot, SlotName::A);
            assert_eq!(update.desired_count, Some(0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_old_slot_is_never_scaled_down_before_the_switch_is_verified() {
    let new = canary("web:2");
    let (mut status, mut aws, mut revisions) = converged(&canary("web:1"));
    revisions.push(revision(2, &new, DeploymentPhase::Succeeded));
    status.slots[0].weight = 50;
    status.slots.push(slot_state(SlotName::B, 2, TD2, 50));
    status.task_definitions.push(registered(2, TD2));
    aws.b.service = Some(service(SlotName::B, TD2, 4, RolloutState::Completed));
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    // The listener still sends half the traffic to the old slot.
    aws.rule = Some(rule(&[(SlotName::A, 50), (SlotName::B, 50)], &new));
    let plan = run(&new, &status, &aws, &revisions);
    assert_eq!(plan.status.active_slot, Some(SlotName::A), "no swap yet");
    assert!(
        !plan.changes.iter().any(|c| matches!(
            c,
            Change::UpdateService { slot: SlotName::A, update, .. } if update.desired_count == Some(0)
        )),
        "{:?}",
        plan.changes
    );
}

#[test]
fn the_old_slot_keeps_its_tasks_and_no_traffic_while_the_rollout_waits_out_its_delay() {
    let new = canary("web:2");
    let (mut status, mut aws, mut revisions) = converged(&canary("web:1"));
    let mut rev2 = revision(2, &new, DeploymentPhase::Progressing);
    rev2.desired_weight = Some(100);
    rev2.desired_replicas = Some(4);
    revisions.push(rev2);
    status.slots[0].weight = 0;
    status.slots.push(slot_state(SlotName::B, 2, TD2, 100));
    status.task_definitions.push(registered(2, TD2));
    aws.b.service = Some(service(SlotName::B, TD2, 4, RolloutState::Completed));
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    aws.rule = Some(rule(&[(SlotName::A, 0), (SlotName::B, 100)], &new));
    let plan = run(&new, &status, &aws, &revisions);
    assert!(
        plan.changes.iter().all(|c| !c.is_aws()),
        "{:?}",
        plan.changes
    );
    assert_eq!(plan.status.stable_revision, Some(1));
}

#[test]
fn a_crashing_new_revision_makes_the_app_degraded_while_the_stable_one_serves() {
    let new = canary("web:bad");
    let (mut status, mut aws, mut revisions) = converged(&canary("web:1"));
    let mut rev2 = revision(2, &new, DeploymentPhase::Progressing);
    rev2.desired_weight = Some(10);
    rev2.desired_replicas = Some(1);
    rev2.message = Some("1/3 setWeight 10: 0 of 1 tasks healthy before traffic moves".into());
    revisions.push(rev2);
    status.task_definitions.push(registered(2, TD2));
    status.slots.push(slot_state(SlotName::B, 2, TD2, 0));
    let mut crashing = service(SlotName::B, TD2, 1, RolloutState::Failed);
    crashing.running_count = 0;
    crashing.deployments[0].rollout_state_reason =
        Some("ECS deployment circuit breaker: tasks failed to start.".into());
    aws.b.service = Some(crashing);
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    aws.rule = Some(rule(&[(SlotName::A, 100), (SlotName::B, 0)], &new));
    let plan = run(&new, &status, &aws, &revisions);
    let degraded =
        conditions::find(&plan.status.conditions, conditions::DEGRADED).expect("Degraded");
    assert_eq!(degraded.status, "True");
    assert!(
        degraded.message.contains("tasks failed to start"),
        "{}",
        degraded.message
    );
    assert!(
        degraded.message.contains("revision 1 keeps serving"),
        "{}",
        degraded.message
    );
    let progressing =
        conditions::find(&plan.status.conditions, conditions::PROGRESSING).expect("Progressing");
    assert!(
        progressing.message.contains("1/3 setWeight 10"),
        "{}",
        progressing.message
    );
}

#[test]
fn an_aborted_canary_returns_all_traffic_to_stable_and_scales_the_new_slot_down() {
    let new = canary("web:2");
    let (mut status, mut aws, mut revisions) = converged(&canary("web:1"));
    revisions.push(revision(2, &new, DeploymentPhase::Aborted));
    status.slots.push(slot_state(SlotName::B, 2, TD2, 10));
    status.task_definitions.push(registered(2, TD2));
    aws.b.service = Some(service(SlotName::B, TD2, 1, RolloutState::Completed));
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    aws.rule = Some(rule(&[(SlotName::A, 90), (SlotName::B, 10)], &new));
    let plan = run(&new, &status, &aws, &revisions);
    let weights = plan.changes.iter().find_map(|c| match c {
        Change::ModifyRule { weights, .. } => Some(weights.clone()),
        _ => None,
    });
    assert_eq!(weights, Some(vec![(SlotName::A, 100), (SlotName::B, 0)]));
    assert!(plan.changes.iter().any(|c| matches!(c, Change::UpdateService { slot: SlotName::B, update, .. } if update.desired_count == Some(0))));
}

#[test]
fn history_beyond_the_limit_is_pruned_but_never_the_stable_revision() {
    let spec = rolling("web:4");
    let (mut status, mut aws, _) = converged(&spec);
    let revisions: Vec<Revision> = (1..=4)
        .map(|n| revision(n, &rolling(&format!("web:{n}")), DeploymentPhase::Succeeded))
        .collect();
    status.stable_revision = Some(4);
    status.current_revision = Some(4);
    status.slots[0].revision = Some(4);
    status.task_definitions = vec![registered(4, TD1)];
    aws.rule = Some(rule(&[(SlotName::A, 100)], &spec));
    let plan = run(&spec, &status, &aws, &revisions);
    assert!(
        plan.changes.contains(&Change::PruneDeployments {
            revisions: vec![2, 1]
        }),
        "{:?}",
        plan.changes
    );
}

#[test]
fn canary_scale_is_proportional_and_at_least_one() {
    assert_eq!(canary_scale(4, 10), 1);
    assert_eq!(canary_scale(10, 50), 5);
    assert_eq!(canary_scale(3, 50), 2);
    assert_eq!(canary_scale(4, 0), 1);
    assert_eq!(canary_scale(4, 100), 4);
}

#[test]
fn a_rollback_that_finished_between_two_looks_is_still_a_failed_revision() {
    let new = rolling("web:bad");
    let (mut status, aws, mut revisions) = converged(&rolling("web:1"));
    revisions.push(revision(2, &new, DeploymentPhase::Progressing));
    status.current_revision = Some(2);
    status.task_definitions.push(registered(2, TD2));
    // The operator asked for revision 2; ECS now runs revision 1 again, settled.
    status.slots[0].requested_revision = Some(2);
    let plan = run(&new, &status, &aws, &revisions);
    assert_eq!(plan.status.failed_revision, Some(2));
    assert!(
        !plan.changes.iter().any(|c| matches!(
            c,
            Change::UpdateService {
                revision: Some(_),
                ..
            }
        )),
        "{:?}",
        plan.changes
    );
}

/// Revision 1 stable on slot a, revision 2 failed by the circuit breaker (ECS rolled back to
/// revision 1), and revision 3 putting revision 1's template back.
fn back_to_revision_one_after_a_failure() -> (AppSpec, AppStatus, Observed, Vec<Revision>) {
    let good = rolling("web:1");
    let bad = rolling("web:bad");
    let (mut status, aws, mut revisions) = converged(&good);
    revisions.push(revision(2, &bad, DeploymentPhase::Failed));
    status.current_revision = Some(2);
    status.failed_revision = Some(2);
    status.failure_message = Some("ECS deployment circuit breaker: tasks failed to start.".into());
    status.task_definitions.push(registered(2, TD2));
    status.slots[0].requested_revision = Some(2);
    (good, status, aws, revisions)
}

#[test]
fn a_revision_that_repeats_an_earlier_template_registers_no_task_definition() {
    let (good, status, aws, revisions) = back_to_revision_one_after_a_failure();
    let plan = run(&good, &status, &aws, &revisions);
    assert_eq!(kinds(&plan), ["CreateDeployment"]);
    assert_eq!(
        plan.changes[0],
        Change::CreateDeployment {
            revision: 3,
            rollback_of: Some(1)
        }
    );
    assert!(
        plan.status.task_definitions.contains(&registered(3, TD1)),
        "{:?}",
        plan.status.task_definitions
    );
}

#[test]
fn putting_back_what_ecs_already_runs_makes_it_stable_at_once() {
    let (good, status, aws, mut revisions) = back_to_revision_one_after_a_failure();
    let created = run(&good, &status, &aws, &revisions);
    revisions.push(revision(3, &good, DeploymentPhase::Pending));
    let plan = run(&good, &created.status, &aws, &revisions);
    assert!(
        plan.changes.iter().all(|c| !c.is_aws()),
        "{:?}",
        plan.changes
    );
    assert_eq!(plan.status.stable_revision, Some(3));
    assert_eq!(plan.status.failed_revision, None);
    let slot = slot_status(&plan.status, SlotName::A).expect("slot a");
    assert_eq!(slot.revision, Some(3));
    assert_eq!(slot.requested_revision, Some(3));
    assert_eq!(ready(&plan), ("True".to_string(), "Available".to_string()));
}

#[test]
fn going_back_to_an_older_template_updates_the_service_to_its_task_definition() {
    let one = rolling("web:1");
    let two = rolling("web:2");
    let (mut status, mut aws, mut revisions) = converged(&one);
    revisions.push(revision(2, &two, DeploymentPhase::Succeeded));
    status.stable_revision = Some(2);
    status.current_revision = Some(2);
    status.task_definitions.push(registered(2, TD2));
    status.slots[0] = slot_state(SlotName::A, 2, TD2, 100);
    aws.a.service = Some(service(SlotName::A, TD2, 4, RolloutState::Completed));
    revisions.push(revision(3, &one, DeploymentPhase::Pending));
    let plan = run(&one, &status, &aws, &revisions);
    assert_eq!(kinds(&plan), ["PruneDeployments", "UpdateService"]);
    match &plan.changes[1] {
        Change::UpdateService {
            revision, update, ..
        } => {
            assert_eq!(*revision, Some(3));
            assert_eq!(update.task_definition_arn.as_deref(), Some(TD1));
        }
        other => panic!("{other:?}"),
    }
    // Once ECS settled on it, revision 3 is stable and the slot says so.
    let mut after = plan.status.clone();
    after.slots[0].requested_revision = Some(3);
    aws.a.service = Some(service(SlotName::A, TD1, 4, RolloutState::Completed));
    let settled = run(&one, &after, &aws, &revisions);
    assert_eq!(settled.status.stable_revision, Some(3));
    assert_eq!(
        slot_status(&settled.status, SlotName::A).and_then(|s| s.revision),
        Some(3)
    );
}

#[test]
fn a_canary_that_puts_back_the_stable_template_is_stable_without_a_rollout() {
    let stable = canary("web:1");
    let (status, aws, mut revisions) = converged(&stable);
    let mut rev2 = revision(2, &canary("web:2"), DeploymentPhase::Progressing);
    rev2.desired_weight = Some(10);
    revisions.push(rev2);
    revisions.push(revision(3, &stable, DeploymentPhase::Pending));
    let plan = run(&stable, &status, &aws, &revisions);
    assert_eq!(plan.status.stable_revision, Some(3));
    assert!(
        !plan
            .changes
            .iter()
            .any(|c| matches!(c, Change::CreateService { .. })),
        "no idle slot is started: {:?}",
        plan.changes
    );
}

fn blue_green(image: &str) -> AppSpec {
    spec(image, serde_json::json!({"blueGreen": {}}))
}

const PREVIEW: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/pub/1/3";

fn preview_listener(rule: Option<Rule>) -> PreviewObserved {
    PreviewObserved {
        listener: Listener {
            arn: PREVIEW.into(),
            load_balancer_arn: "lb".into(),
            port: 8443,
            protocol: "HTTPS".into(),
        },
        rule,
        used_priorities: vec![],
    }
}

/// A blue-green revision 2 waiting for promotion in slot b, with the preview listener observed.
fn previewing() -> (AppSpec, AppStatus, Observed, Vec<Revision>) {
    let new = blue_green("web:2");
    let (mut status, mut aws, mut revisions) = converged(&blue_green("web:1"));
    let mut rev2 = revision(2, &new, DeploymentPhase::Paused);
    rev2.desired_weight = Some(0);
    rev2.desired_replicas = Some(4);
    revisions.push(rev2);
    status.task_definitions.push(registered(2, TD2));
    status.slots.push(slot_state(SlotName::B, 2, TD2, 0));
    aws.b.service = Some(service(SlotName::B, TD2, 4, RolloutState::Completed));
    aws.b.target_group = Some(target_group(SlotName::B, &new));
    aws.rule = Some(rule(&[(SlotName::A, 100), (SlotName::B, 0)], &new));
    aws.preview = Some(preview_listener(None));
    (new, status, aws, revisions)
}

#[test]
fn a_blue_green_revision_is_previewed_on_the_preview_listener_before_the_switch() {
    let (new, status, aws, revisions) = previewing();
    let plan = run(&new, &status, &aws, &revisions);
    match plan
        .changes
        .iter()
        .find(|c| matches!(c, Change::CreatePreviewRule { .. }))
    {
        Some(Change::CreatePreviewRule {
            listener_arn,
            slot,
            conditions,
            ..
        }) => {
            assert_eq!(listener_arn, PREVIEW);
            assert_eq!(*slot, SlotName::B);
            assert_eq!(conditions, &rule_conditions(&new, &[]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        plan.status.preview_url.as_deref(),
        Some("https://pub-1.eu-west-1.elb.amazonaws.com:8443/")
    );
}

#[test]
fn the_preview_rule_goes_once_traffic_switches() {
    let (new, status, mut aws, mut revisions) = previewing();
    aws.preview = Some(preview_listener(Some(Rule {
        arn: "preview-rule".into(),
        priority: Some(1234),
        conditions: rule_conditions(&new, &[]),
        forward: vec![WeightedTarget {
            target_group_arn: "tg-B".into(),
            weight: 100,
        }],
    })));
    let quiet = run(&new, &status, &aws, &revisions);
    assert!(
        !quiet.changes.iter().any(|c| matches!(
            c,
            Change::CreatePreviewRule { .. }
                | Change::ModifyPreviewRule { .. }
                | Change::DeletePreviewRule { .. }
        )),
        "an existing preview rule is left as it is: {:?}",
        quiet.changes
    );
    if let Some(rev2) = revisions.last_mut() {
        rev2.phase = DeploymentPhase::Progressing;
        rev2.desired_weight = Some(100);
    }
    let switched = run(&new, &status, &aws, &revisions);
    assert!(
        switched.changes.contains(&Change::DeletePreviewRule {
            arn: "preview-rule".into()
        }),
        "{:?}",
        switched.changes
    );
    assert_eq!(switched.status.preview_url, None);
}
