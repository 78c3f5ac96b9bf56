//! Failures reach the object: what the spec names that does not exist, and AWS errors that
//! persist, become a condition with a reason and one sentence, and one Event; never a Debug dump.

use crate::harness::*;
use cygni::api::App;
use cygni::api::conditions;
use cygni::sim::aws::{Faults, SimService};
use kube::api::DeleteParams;
use std::time::Duration;

/// Whether a text a person reads has a Rust `Debug` dump in it.
fn has_debug_dump(text: &str) -> bool {
    ["Status {", "Some(", "None,", "ErrorResponse", "{ status:"]
        .iter()
        .any(|dump| text.contains(dump))
}

fn ready_reason(app: &App) -> Option<String> {
    condition(app, conditions::READY).map(|(_, reason)| reason)
}

fn ready_message(app: &App) -> String {
    app.status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, conditions::READY))
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_a_cluster_that_does_not_exist_says_which_field_and_deletes_at_once() {
    let env = Env::start().await;
    env.aws.reset_calls();
    let mut spec = minimal("nginx:1.27");
    spec["cluster"] = serde_json::json!("no-such-cluster");
    env.apply_app("lost", spec).await;
    let app = env
        .wait_app("lost", "InvalidSpec", |a| {
            ready_reason(a).as_deref() == Some("InvalidSpec")
        })
        .await;
    let message = ready_message(&app);
    assert!(message.contains("spec.cluster"), "{message}");
    assert!(message.contains("no-such-cluster"), "{message}");
    assert!(!has_debug_dump(&message), "{message}");
    assert_eq!(env.aws.calls().writes(), 0, "{:?}", env.aws.calls());
    // Resyncs look again and change nothing: still one Event.
    tokio::time::sleep(RESYNC * 3).await;
    let invalid: Vec<_> = env
        .wait_event("lost", "InvalidSpec")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("InvalidSpec"))
        .collect();
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert!(
        invalid[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("spec.cluster"),
        "{invalid:?}"
    );
    env.apps()
        .delete("lost", &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone("lost").await;
    assert_eq!(
        env.aws.calls().writes(),
        0,
        "nothing existed, nothing was deleted"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_aws_failure_reaches_the_status_and_one_event_then_clears() {
    let env = Env::start().await;
    env.aws.set_faults(
        SimService::Ecs,
        Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        },
    );
    env.apply_app("flaky", minimal("nginx:1.27")).await;
    let app = env
        .wait_app("flaky", "AwsUnavailable", |a| {
            ready_reason(a).as_deref() == Some("AwsUnavailable")
        })
        .await;
    let message = ready_message(&app);
    assert!(message.starts_with("ECS "), "{message}");
    assert!(message.contains("retries"), "{message}");
    assert!(!has_debug_dump(&message), "{message}");
    // The reconcile keeps failing with the same sentence: one Event, counted, not repeated.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let failures: Vec<_> = env
        .events_of("flaky")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("AwsUnavailable"))
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    env.aws.set_faults(SimService::Ecs, Faults::none());
    env.wait_app_within("flaky", "Ready once ECS answers", ready, PATIENCE * 2)
        .await;
    for event in env.events_of("flaky").await {
        let note = event.note.unwrap_or_default();
        assert!(!has_debug_dump(&note), "{note}");
    }
    env.stop().await;
}
