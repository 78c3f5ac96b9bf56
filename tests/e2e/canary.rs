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

/// Applies a canary App at `nginx:1.27`, waits for revision 1, then sets `nginx:1.28` and waits
/// until revision 2's rollout `is` as asked.
async fn second_revision(
    env: &Env,
    steps: serde_json::Value,
    what: &str,
    is: impl Fn(&cygni::api::Deployment) -> bool,
) -> cygni::plan::naming::AppIdentity {
    env.apply_app("web", canary("nginx:1.27", steps, 2)).await;
    let app = env.wait_app("web", "Ready", stable_at(1)).await;
    env.set_image("web", "nginx:1.28").await;
    env.watch_slots(&env.identity(&app), "web-2", what, is)
        .await;
    env.identity(&app)
}

fn paused_at(step: i32) -> impl Fn(&cygni::api::Deployment) -> bool {
    move |d| {
        d.status.as_ref().is_some_and(|s| {
            s.phase == DeploymentPhase::Paused && s.current_step_index == Some(step)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indefinite_pause_waits_until_cygni_promote() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 20}, {"pause": {}}]);
    let id = second_revision(&env, steps, "paused at step 2", paused_at(1)).await;
    tokio::time::sleep(RESYNC * 3).await;
    let still = env.deployments().get("web-2").await.expect("web-2");
    assert_eq!(
        still.status.as_ref().map(|s| s.phase),
        Some(DeploymentPhase::Paused)
    );
    assert_eq!(sample(&env.aws.snapshot(), &id).weights, (80, 20));

    let (ok, out, err) = env.cygni(&["status", "web"]);
    assert!(ok, "{err}");
    assert!(out.contains("> 2/4 pause until promoted"), "{out}");
    assert!(out.contains("waiting for `cygni promote`"), "{out}");

    let (ok, out, err) = env.cygni(&["promote", "web"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "promoted web-2: step 2/4 pause until promoted is complete"
    );
    env.wait_phase("web-2", DeploymentPhase::Succeeded).await;
    env.wait_app("web", "stable at revision 2", stable_at(2))
        .await;

    let (ok, _, err) = env.cygni(&["promote", "web"]);
    assert!(!ok);
    assert_eq!(err.trim(), "error: nothing to promote: web-2 is Succeeded");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_mid_way_returns_all_traffic_to_stable_and_retry_starts_again() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 50}, {"pause": {}}]);
    let id = second_revision(&env, steps, "paused at step 2", paused_at(1)).await;
    assert_eq!(sample(&env.aws.snapshot(), &id).weights, (50, 50));

    let (ok, out, err) = env.cygni(&["abort", "web"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "aborted web-2: all traffic returns to revision 1"
    );
    env.wait_phase("web-2", DeploymentPhase::Aborted).await;
    // The rollout gauge counts the operator's cache, which can see the Aborted phase a moment
    // after the API does.
    let lines = [
        r#"cygni_rollout_transitions_total{strategy="canary",phase="Aborted"} 1"#,
        r#"cygni_rollouts{strategy="canary",phase="Aborted"} 1"#,
        r#"cygni_rollout_step_duration_seconds_count{strategy="canary",step="setWeight"} 1"#,
    ];
    let start = std::time::Instant::now();
    loop {
        let metrics = env.metrics();
        let missing: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| !metrics.contains(line))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "{missing:?} not in\n{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let app = env
        .wait_app("web", "back on revision 1", |a| {
            condition(a, cygni::api::conditions::READY).is_some_and(|(_, r)| r == "RolloutAborted")
        })
        .await;
    let back = env
        .watch_slots(&id, "web-2", "scaled down", |_| {
            sample(&env.aws.snapshot(), &id)
                == SlotSample {
                    weights: (100, 0),
                    desired: (2, 0),
                }
        })
        .await;
    assert!(!back.is_empty());
    assert_eq!(
        condition(&app, cygni::api::conditions::DEGRADED).map(|(s, _)| s),
        Some("True".to_string())
    );

    let (ok, out, err) = env.cygni(&["retry", "web"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "retrying web-2 from its first step (attempt 1)");
    env.watch_slots(&id, "web-2", "paused again", paused_at(1))
        .await;
    let (ok, out, err) = env.cygni(&["promote", "web", "--full"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "promoted web-2 fully: it skips to 3/4 setWeight 100"
    );
    env.wait_phase("web-2", DeploymentPhase::Succeeded).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_canary_fails_and_traffic_stays_on_stable() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 10}, {"pause": {}}]);
    env.apply_app("web", canary("nginx:1.27", steps, 2)).await;
    let app = env.wait_app("web", "Ready", stable_at(1)).await;
    let id = env.identity(&app);
    env.set_image("web", "nginx:bad").await;
    let seen = env
        .watch_slots(&id, "web-2", "Failed", in_phase(DeploymentPhase::Failed))
        .await;
    assert!(
        seen.iter().all(|(_, s)| s.weights == (100, 0)),
        "no traffic ever reached the crashing revision: {seen:?}"
    );
    let failed = env.deployments().get("web-2").await.expect("web-2");
    let message = failed.status.and_then(|s| s.message).unwrap_or_default();
    assert!(
        message.contains("all traffic returns to revision 1"),
        "{message}"
    );
    // Degraded turns True as soon as the new slot's tasks crash (NewRevisionFailing), before
    // the App sees the rollout Failed; the end state is RolloutFailed on both.
    let app = env
        .wait_app("web", "RolloutFailed", |a| {
            condition(a, cygni::api::conditions::READY).is_some_and(|(_, r)| r == "RolloutFailed")
        })
        .await;
    assert_eq!(
        condition(&app, cygni::api::conditions::DEGRADED),
        Some(("True".to_string(), "RolloutFailed".to_string()))
    );
    env.watch_slots(&id, "web-2", "scaled down", |_| {
        sample(&env.aws.snapshot(), &id).desired == (2, 0)
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_revision_supersedes_the_running_one_and_starts_from_stable() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 30}, {"pause": {}}]);
    let id = second_revision(&env, steps, "paused at step 2", paused_at(1)).await;
    env.set_image("web", "nginx:1.29").await;
    env.wait_phase("web-2", DeploymentPhase::Superseded).await;
    let seen = env
        .watch_slots(&id, "web-3", "paused at step 2", paused_at(1))
        .await;
    // Revision 3 started from stable: traffic went back to slot a before it moved again.
    let weights: Vec<(i32, i32)> = seen.iter().map(|(_, s)| s.weights).collect();
    assert!(weights.contains(&(100, 0)), "{weights:?}");
    assert_eq!(weights.last(), Some(&(70, 30)));
    let app = env.apps().get("web").await.expect("web");
    let slot_b = app
        .status
        .expect("status")
        .slots
        .into_iter()
        .find(|s| s.name == cygni::api::app::SlotName::B)
        .expect("slot b");
    assert_eq!(slot_b.revision, Some(3));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cygni_rollback_puts_revision_one_back_as_a_new_revision() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 50}, {"pause": {}}]);
    let id = second_revision(&env, steps, "paused at step 2", paused_at(1)).await;
    let (ok, _, err) = env.cygni(&["promote", "web", "--full"]);
    assert!(ok, "{err}");
    env.wait_app("web", "stable at revision 2", stable_at(2))
        .await;
    let registered = env
        .aws
        .calls()
        .get(cygni::sim::aws::SimService::Ecs, "RegisterTaskDefinition");

    let (ok, out, err) = env.cygni(&["rollback", "web", "--to-revision", "1"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "rolled App web back to revision 1 (image nginx:1.27): the operator rolls it out as revision 3"
    );
    env.watch_slots(&id, "web-3", "paused at step 2", paused_at(1))
        .await;
    let (ok, _, err) = env.cygni(&["promote", "web", "--full"]);
    assert!(ok, "{err}");
    env.wait_app("web", "stable at revision 3", stable_at(3))
        .await;
    let rollback = env.deployments().get("web-3").await.expect("web-3");
    assert_eq!(rollback.spec.rollback_of, Some(1));
    assert_eq!(rollback.spec.template.container.image, "nginx:1.27");
    assert_eq!(
        env.aws
            .calls()
            .get(cygni::sim::aws::SimService::Ecs, "RegisterTaskDefinition"),
        registered,
        "revision 1's task definition is reused"
    );
    let (ok, out, err) = env.cygni(&["history", "web"]);
    assert!(ok, "{err}");
    assert!(out.contains("(rollback to 1)"), "{out}");
    let (ok, _, err) = env.cygni(&["rollback", "web", "--to-revision", "9"]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "error: revision 9 of App web is not in its history (kept: 1, 2, 3)"
    );
    env.stop().await;
}
