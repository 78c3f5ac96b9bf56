//! Routes: a second App that asks for the same requests on a listener is told who has them and
//! changes nothing in AWS; a rule the ALB could not hold is refused before anything is written.

use crate::harness::*;
use cygni::api::conditions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_app_with_the_same_routes_gets_route_conflict_and_writes_nothing() {
    let env = Env::start().await;
    env.apply_app("first", minimal("nginx:1.27")).await;
    let first = env.wait_app("first", "Ready", ready).await;
    env.aws.reset_calls();
    env.apply_app("second", minimal("nginx:1.27")).await;
    let second = env
        .wait_app("second", "RouteConflict", |a| {
            condition(a, conditions::READY)
                .is_some_and(|(s, r)| s == "False" && r == "RouteConflict")
        })
        .await;
    let message = second
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, conditions::READY))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains("App first"), "{message}");
    assert!(message.contains("spec.routing"), "{message}");
    tokio::time::sleep(RESYNC * 3).await;
    assert_eq!(
        env.aws.calls().writes(),
        0,
        "{:?}",
        env.aws.calls().write_operations()
    );
    env.wait_event("second", "RouteConflict").await;
    // The first claimant is untouched.
    let first_now = env.wait_app("first", "still Ready", ready).await;
    assert_eq!(
        first_now.status.as_ref().map(|s| &s.conditions),
        first.status.as_ref().map(|s| &s.conditions)
    );
    assert_eq!(
        rule_weights(&env.aws.snapshot(), &env.identity(&first)),
        vec![100]
    );
    // Given its own path, the second App converges.
    let mut own = minimal("nginx:1.27");
    own["routing"] = serde_json::json!({"paths": ["/second/*"]});
    env.apply_app("second", own).await;
    env.wait_app("second", "Ready on its own path", ready).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_an_alb_rule_cannot_hold_are_refused_when_applied() {
    let env = Env::start().await;
    let mut spec = minimal("nginx:1.27");
    spec["routing"] = serde_json::json!({
        "hosts": ["a.example.com", "b.example.com", "c.example.com"],
        "paths": ["/a/*", "/b/*", "/c/*"],
    });
    let refused = env
        .try_apply_app("crowded", spec)
        .await
        .expect_err("six condition values are refused");
    let text = refused.to_string();
    assert!(text.contains("spec.routing"), "{text}");
    assert!(text.contains("at most 5"), "{text}");
    assert_eq!(env.aws.calls().writes(), 0);
    env.stop().await;
}
