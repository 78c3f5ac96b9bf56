//! What users read: each Event carries its own text, and every write the operator makes is
//! attributed to its field manager.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_revision_gets_an_event_with_its_own_text() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "stable at 1", stable_at(1)).await;
    env.set_image("web", "nginx:1.28").await;
    env.wait_app("web", "stable at 2", stable_at(2)).await;
    env.set_image("web", "nginx:1.29").await;
    env.wait_app("web", "stable at 3", stable_at(3)).await;
    let notes: Vec<String> = env
        .events_of("web")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("RevisionCreated"))
        .map(|e| e.note.unwrap_or_default())
        .collect();
    assert_eq!(
        notes,
        [
            "revision 1: image nginx:1.27",
            "revision 2: image nginx:1.28",
            "revision 3: image nginx:1.29"
        ]
    );
    let related: Vec<Option<String>> = env
        .events_of("web")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("RevisionStable"))
        .map(|e| e.related.and_then(|r| r.name))
        .collect();
    assert_eq!(
        related,
        [
            Some("web-1".to_string()),
            Some("web-2".to_string()),
            Some("web-3".to_string())
        ]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_writes_under_its_own_field_manager() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    let app = env.wait_app("web", "Ready", ready).await;
    let managers: Vec<(String, Option<String>)> = app
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.manager.unwrap_or_default(), m.subresource))
        .collect();
    assert!(
        managers.contains(&("cygni".to_string(), Some("status".to_string()))),
        "status writes: {managers:?}"
    );
    assert!(
        managers.contains(&("cygni".to_string(), None)),
        "finalizer write: {managers:?}"
    );
    assert!(
        managers.iter().all(|(m, _)| m == "cygni" || m == "e2e"),
        "{managers:?}"
    );
    let deployment = env.deployments().get("web-1").await.expect("web-1");
    let managers: Vec<String> = deployment
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.iter().all(|m| m == "cygni"), "{managers:?}");
    env.stop().await;
}
