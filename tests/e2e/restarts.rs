//! Status is the only memory: an operator stopped and started again at every step boundary of a
//! canary and of a blue-green rollout finishes it exactly as an operator that ran throughout,
//! with the same steps, the same final state and the same AWS writes.

use crate::harness::*;
use cygni::api::DeploymentPhase;
use cygni::api::app::SlotName;
use cygni::sim::aws::SimService;
use std::time::{Duration, Instant};

/// What a finished rollout left behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    slots: SlotSample,
    writes: Vec<(SimService, &'static str, u64)>,
    stable: Option<i64>,
    active: Option<SlotName>,
    phase: Option<DeploymentPhase>,
    steps: Vec<String>,
}

fn canary() -> serde_json::Value {
    serde_json::json!({
        "container": {"image": "nginx:1.27", "port": 80},
        "replicas": 2,
        "strategy": {"canary": {
            "steps": [
                {"setWeight": 20}, {"pause": {"duration": "2s"}},
                {"setWeight": 60}, {"pause": {"duration": "2s"}},
            ],
            "scaleDownDelaySeconds": 2,
        }},
    })
}

fn blue_green() -> serde_json::Value {
    serde_json::json!({
        "container": {"image": "nginx:1.27", "port": 80},
        "replicas": 2,
        "strategy": {"blueGreen": {"autoPromotionSeconds": 2, "scaleDownDelaySeconds": 2}},
    })
}

/// Rolls revision 2 out, restarting the operator each time the rollout enters a new step when
/// `restart` says so, and returns what it left and how many restarts there were.
async fn roll(spec: serde_json::Value, restart: bool) -> (Outcome, usize) {
    let mut env = Env::start().await;
    env.apply_app("web", spec).await;
    let app = env.wait_app("web", "Ready", stable_at(1)).await;
    let id = env.identity(&app);
    // Let revision 1 settle before counting.
    tokio::time::sleep(RESYNC * 2).await;
    env.aws.reset_calls();
    env.set_image("web", "nginx:1.28").await;

    let start = Instant::now();
    let mut last_step = None;
    let mut restarts = 0;
    loop {
        let rollout = env.deployments().get_opt("web-2").await.expect("readable");
        let status = rollout.and_then(|d| d.status);
        let step = status.as_ref().and_then(|s| s.current_step_index);
        let done = status
            .as_ref()
            .is_some_and(|s| s.phase == DeploymentPhase::Succeeded);
        if restart && !done && step.is_some() && step != last_step {
            env.restart_operator().await;
            restarts += 1;
        }
        last_step = step;
        let app = env.apps().get("web").await.expect("App");
        let settled = sample(&env.aws.snapshot(), &id);
        if done && stable_at(2)(&app) && settled.desired.0 == 0 {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE * 2,
            "the rollout never finished: {status:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Resyncs after the end change nothing.
    tokio::time::sleep(RESYNC * 2).await;
    let app = env.apps().get("web").await.expect("App");
    let status = app.status.clone().expect("status");
    let rollout = env.deployments().get("web-2").await.expect("web-2");
    let steps = env
        .events_of("web")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("StepCompleted"))
        .filter_map(|e| e.note)
        .collect();
    let outcome = Outcome {
        slots: sample(&env.aws.snapshot(), &id),
        writes: env.aws.calls().write_operations(),
        stable: status.stable_revision,
        active: status.active_slot,
        phase: rollout.status.map(|s| s.phase),
        steps,
    };
    env.stop().await;
    (outcome, restarts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_restarted_at_every_step_boundary_ends_as_an_uninterrupted_one() {
    let (straight, _) = roll(canary(), false).await;
    let (restarted, restarts) = roll(canary(), true).await;
    assert!(restarts >= 6, "restarted at each of the 6 steps: {restarts}");
    assert_eq!(restarted, straight);
    assert_eq!(straight.steps.len(), 6, "{:?}", straight.steps);
    assert_eq!(straight.stable, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_restarted_at_every_step_boundary_ends_as_an_uninterrupted_one() {
    let (straight, _) = roll(blue_green(), false).await;
    let (restarted, restarts) = roll(blue_green(), true).await;
    assert!(restarts >= 4, "restarted at each of the 4 steps: {restarts}");
    assert_eq!(restarted, straight);
    assert_eq!(straight.steps.len(), 4, "{:?}", straight.steps);
}
