//! Canary rollouts end to end: steps with verified weights, timed and indefinite pauses, abort,
//! a crashing canary, and a newer revision in the middle.

use crate::harness::*;
use cygni::api::DeploymentPhase;
use std::time::Duration;

/// An App that rolls out canaries with `steps` and a scale-down delay of `delay` seconds.
fn canary(image: &str, steps: serde_json::Value, delay: i32) -> serde_json::Value {
    serde_json::json!({
        "container": {"image": image, "port": 80},
        "replicas": 2,
        "strategy": {"canary": {"steps": steps, "scaleDownDelaySeconds": delay}},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_a_timed_pause_succeeds_and_the_old_slot_goes_after_the_delay() {
    let env = Env::start().await;
    let steps =
        serde_json::json!([{"setWeight": 10}, {"pause": {"duration": "3s"}}, {"setWeight": 50}]);
    env.apply_app("web", canary("nginx:1.27", steps, 3)).await;
    let app = env.wait_app("web", "Ready", stable_at(1)).await;
    let id = env.identity(&app);
    env.set_image("web", "nginx:1.28").await;
    let seen = env
        .watch_slots(
            &id,
            "web-2",
            "Succeeded",
            in_phase(DeploymentPhase::Succeeded),
        )
        .await;
    let weights: Vec<(i32, i32)> = seen.iter().map(|(_, s)| s.weights).collect();
    let order = [(90, 10), (50, 50), (0, 100)];
    let mut at = 0;
    for (i, wanted) in order.iter().enumerate() {
        let found = weights[at..]
            .iter()
            .position(|w| w == wanted)
            .unwrap_or_else(|| {
                panic!("weights {wanted:?} (step {i}) not seen in order: {weights:?}")
            });
        at += found;
    }
    // From the moment slot b took all traffic, slot a kept its two tasks for the 3 s delay.
    let full = seen
        .iter()
        .find(|(_, s)| s.weights == (0, 100))
        .map(|(t, _)| *t)
        .expect("100% on b");
    let old_gone = seen
        .iter()
        .find(|(_, s)| s.weights == (0, 100) && s.desired.0 == 0);
    assert!(
        seen.iter()
            .filter(|(t, _)| *t >= full)
            .take_while(|(_, s)| s.desired.0 != 0)
            .all(|(_, s)| s.desired.0 == 2),
        "{seen:?}"
    );
    let app = env
        .wait_app("web", "stable at revision 2", stable_at(2))
        .await;
    let after = sample(&env.aws.snapshot(), &id);
    assert_eq!(after.desired.0, 0, "the old slot costs nothing: {after:?}");
    assert_eq!(after.weights, (0, 100));
    if let Some((gone_at, _)) = old_gone {
        assert!(
            gone_at.duration_since(full) >= Duration::from_millis(2500),
            "the old slot went after {:?}",
            gone_at.duration_since(full)
        );
    }
    let status = app.status.expect("status");
    assert_eq!(status.active_slot, Some(cygni::api::app::SlotName::B));
    let rollout = env.deployments().get("web-2").await.expect("web-2");
    let rollout = rollout.status.expect("status");
    assert_eq!(rollout.verified_weight.or(Some(100)), Some(100));
    let reasons: Vec<String> = env
        .events_of("web")
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for reason in [
        "RolloutStarted",
        "StepCompleted",
        "RolloutPaused",
        "RolloutSucceeded",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "no {reason} Event: {reasons:?}"
        );
    }
    env.stop().await;
}
