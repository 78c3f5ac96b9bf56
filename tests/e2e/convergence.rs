//! Convergence of rolling Apps: creation, updates, the circuit breaker, deletion, drift, steady
//! state, and many Apps under faults.

use crate::harness::*;
use cygni::api::DeploymentPhase;
use cygni::api::app::SlotName;
use cygni::api::conditions;
use cygni::sim::aws::{Faults, SimService};
use kube::api::{Api, ListParams};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimal_app_gets_a_service_a_target_group_and_a_rule_and_becomes_ready() {
    let env = Env::start().await;
    env.apply_app("hello", minimal("nginx:1.27")).await;
    let app = env.wait_app("hello", "Ready", ready).await;
    let id = env.identity(&app);
    assert_eq!(app_in_aws(&env.aws.snapshot(), &id).counts(), (1, 1, 1, 1));
    assert_eq!(rule_weights(&env.aws.snapshot(), &id), vec![100]);
    let status = app.status.expect("status");
    assert_eq!(status.stable_revision, Some(1));
    assert!(status.load_balancer.is_some());
    env.wait_phase("hello-1", DeploymentPhase::Succeeded).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_image_rolls_the_active_slot_with_one_new_task_definition_and_a_new_deployment() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", stable_at(1)).await;
    env.set_image("web", "nginx:1.28").await;
    let app = env
        .wait_app("web", "Ready on revision 2", stable_at(2))
        .await;
    let id = env.identity(&app);
    let snapshot = env.aws.snapshot();
    let family: Vec<_> = snapshot
        .task_definitions
        .iter()
        .filter(|t| t.input.family == id.family())
        .collect();
    assert_eq!(family.len(), 2, "exactly one new task definition revision");
    let service = snapshot
        .services
        .iter()
        .find(|s| s.service.name == id.service_name(SlotName::A))
        .expect("slot a service");
    assert_eq!(
        service.service.task_definition_arn, family[1].arn,
        "the active slot runs the new revision"
    );
    assert_eq!(
        app_in_aws(&snapshot, &id).active_services,
        1,
        "rolled in place, no second service"
    );
    let revision = env
        .deployments()
        .get("web-2")
        .await
        .expect("Deployment web-2 recorded");
    assert_eq!(revision.spec.template.container.image, "nginx:1.28");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_image_trips_the_circuit_breaker_and_the_previous_revision_keeps_serving() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", stable_at(1)).await;
    env.set_image("web", "nginx:bad").await;
    let app = env
        .wait_app("web", "Degraded", |a| {
            condition(a, conditions::DEGRADED).is_some_and(|(s, _)| s == "True")
        })
        .await;
    let (_, reason) = condition(&app, conditions::READY).expect("Ready");
    assert_eq!(reason, "RolloutFailed");
    let status = app.status.clone().expect("status");
    assert_eq!(status.stable_revision, Some(1));
    assert!(
        status
            .failure_message
            .unwrap_or_default()
            .contains("circuit breaker")
    );
    env.wait_phase("web-2", DeploymentPhase::Failed).await;
    // ECS rolls back; the first revision's tasks keep serving all traffic.
    let app = env
        .wait_app("web", "back on revision 1", |a| {
            a.status.as_ref().is_some_and(|s| {
                s.slots
                    .iter()
                    .any(|slot| slot.revision == Some(1) && slot.running >= 2)
            })
        })
        .await;
    assert_eq!(
        rule_weights(&env.aws.snapshot(), &env.identity(&app)),
        vec![100]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_removes_everything_it_had_in_aws() {
    let env = Env::start().await;
    let left = delete_when_ready(&env, "gone", minimal("nginx:1.27")).await;
    assert_eq!(left.counts(), (0, 0, 0, 0));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_with_retain_leaves_aws_as_it_was() {
    let env = Env::start().await;
    let mut spec = minimal("nginx:1.27");
    spec["deletionPolicy"] = serde_json::json!("Retain");
    let left = delete_when_ready(&env, "kept", spec).await;
    assert_eq!(left.counts(), (1, 1, 1, 1));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_app_makes_no_aws_writes_on_resync() {
    let env = Env::start().await;
    env.apply_app("calm", minimal("nginx:1.27")).await;
    env.wait_app("calm", "Ready", ready).await;
    // Let the last status write and any settling finish, then count.
    tokio::time::sleep(RESYNC * 2).await;
    env.aws.reset_calls();
    tokio::time::sleep(RESYNC * 3).await;
    let calls = env.aws.calls();
    assert_eq!(calls.writes(), 0, "writes on resync: {calls:?}");
    assert!(calls.reads() > 0, "resyncs did observe AWS");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desired_count_changed_outside_the_operator_is_restored() {
    let env = Env::start().await;
    env.apply_app("drift", minimal("nginx:1.27")).await;
    let app = env.wait_app("drift", "Ready", ready).await;
    let id = env.identity(&app);
    let update = cygni::aws::ecs::ServiceUpdate {
        cluster: "playground".into(),
        name: id.service_name(SlotName::A),
        desired_count: Some(0),
        ..Default::default()
    };
    env.aws
        .services()
        .ecs
        .update_service(&update)
        .await
        .expect("outside change");
    let start = Instant::now();
    loop {
        let snapshot = env.aws.snapshot();
        let service = snapshot
            .services
            .iter()
            .find(|s| s.service.name == id.service_name(SlotName::A))
            .expect("service");
        if service.service.desired_count == 2 {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "desired count was never restored"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), &env.namespace);
    let start = Instant::now();
    loop {
        let list = events.list(&ListParams::default()).await.expect("events");
        if list
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("DriftCorrected"))
        {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "no DriftCorrected Event");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_a_listener_that_does_not_exist_is_invalid_and_changes_nothing_in_aws() {
    let env = Env::start().await;
    env.aws.reset_calls();
    let mut spec = minimal("nginx:1.27");
    spec["routing"] = serde_json::json!({
        "listenerArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/missing/0123456789abcdef/0123456789abcdef"
    });
    env.apply_app("lost", spec).await;
    let app = env
        .wait_app("lost", "InvalidSpec", |a| {
            condition(a, conditions::READY).is_some_and(|(_, r)| r == "InvalidSpec")
        })
        .await;
    let message = app.status.expect("status").conditions[0].message.clone();
    assert!(message.contains("spec.routing.listenerArn"), "{message}");
    assert_eq!(env.aws.calls().writes(), 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_apps_converge_under_throttling_and_server_errors_without_duplicates() {
    let env = Env::start().await;
    for service in [SimService::Ecs, SimService::Elbv2] {
        env.aws.set_faults(
            service,
            Faults {
                throttle_rate: 0.3,
                server_error_rate: 0.1,
                ..Faults::default()
            },
        );
    }
    for i in 0..50 {
        // One path each: Apps with the same routes on one listener are a conflict.
        let mut spec = minimal("nginx:1.27");
        spec["routing"] = serde_json::json!({"paths": [format!("/app-{i:02}/*")]});
        env.apply_app(&format!("app-{i:02}"), spec).await;
    }
    let mut ids = Vec::new();
    for i in 0..50 {
        let app = env
            .wait_app_within(&format!("app-{i:02}"), "Ready", ready, PATIENCE * 2)
            .await;
        ids.push(env.identity(&app));
    }
    let snapshot = env.aws.snapshot();
    for id in &ids {
        assert_eq!(
            app_in_aws(&snapshot, id).counts(),
            (1, 1, 1, 1),
            "{} has duplicates or gaps",
            id.name
        );
    }
    let calls = env.aws.calls();
    let per_app = calls.total() / 50;
    assert!(
        per_app < 400,
        "{per_app} AWS calls per App to converge: {calls:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_share_their_steady_state_reads_and_drift_is_corrected_within_a_resync() {
    const APPS: usize = 12;
    let env = Env::start().await;
    for i in 0..APPS {
        // One path each: Apps with the same routes on one listener are a conflict.
        let mut spec = minimal("nginx:1.27");
        spec["routing"] = serde_json::json!({"paths": [format!("/shared-{i:02}/*")]});
        env.apply_app(&format!("shared-{i:02}"), spec).await;
    }
    let mut ids = Vec::new();
    for i in 0..APPS {
        let app = env
            .wait_app(&format!("shared-{i:02}"), "Ready", ready)
            .await;
        ids.push(env.identity(&app));
    }
    // Steady state: each resync pass reads the 12 services in 2 DescribeServices, the 12 target
    // groups in 1 DescribeTargetGroups and the listener's rules once, for all Apps together
    // (read one App at a time, that would be 12 of each per pass).
    tokio::time::sleep(RESYNC * 2).await;
    env.aws.reset_calls();
    let window = RESYNC * 3;
    tokio::time::sleep(window).await;
    let calls = env.aws.calls();
    // Three passes in the window, or four when it starts just before one.
    let passes = 4;
    assert_eq!(calls.writes(), 0, "writes in steady state: {calls:?}");
    assert!(
        calls.get(SimService::Ecs, "DescribeServices") <= passes * 2,
        "{calls:?}"
    );
    assert!(
        calls.get(SimService::Elbv2, "DescribeTargetGroups") <= passes,
        "{calls:?}"
    );
    assert!(
        calls.get(SimService::Elbv2, "DescribeRules") <= passes,
        "{calls:?}"
    );
    assert!(
        calls.get(SimService::Ecs, "DescribeServices") >= 2,
        "the services were read at least once: {calls:?}"
    );

    // Drift: three services scaled to zero outside the operator, at once.
    let drifted = &ids[..3];
    let changed = Instant::now();
    for id in drifted {
        let update = cygni::aws::ecs::ServiceUpdate {
            cluster: "playground".into(),
            name: id.service_name(SlotName::A),
            desired_count: Some(0),
            ..Default::default()
        };
        env.aws
            .services()
            .ecs
            .update_service(&update)
            .await
            .expect("outside change");
    }
    let restored = loop {
        let snapshot = env.aws.snapshot();
        let all = drifted.iter().all(|id| {
            snapshot
                .services
                .iter()
                .find(|s| s.service.name == id.service_name(SlotName::A))
                .is_some_and(|s| s.service.desired_count == 2)
        });
        if all {
            break changed.elapsed();
        }
        assert!(
            changed.elapsed() < PATIENCE,
            "the desired counts were never restored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The next pass (at most one resync period away) sees the change; the bound leaves one more
    // period for a machine busy with other tests.
    assert!(
        restored < RESYNC * 2 + Duration::from_secs(1),
        "restored after {restored:?}, more than one resync pass"
    );
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), &env.namespace);
    let start = Instant::now();
    loop {
        let list = events.list(&ListParams::default()).await.expect("events");
        let corrected: std::collections::BTreeSet<String> = list
            .items
            .iter()
            .filter(|e| e.reason.as_deref() == Some("DriftCorrected"))
            .filter_map(|e| e.regarding.as_ref()?.name.clone())
            .collect();
        if drifted.iter().all(|id| corrected.contains(&id.name)) {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no DriftCorrected Event for each: {corrected:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.stop().await;
}
