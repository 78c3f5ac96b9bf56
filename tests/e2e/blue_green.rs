//! Blue-green rollouts end to end: the new revision at full size, reachable on the preview
//! listener before the switch, promoted by `cygni promote` or by itself, then the switch.

use crate::harness::*;
use cygni::api::DeploymentPhase;

fn blue_green(image: &str, auto_promotion: Option<i32>) -> serde_json::Value {
    let mut strategy = serde_json::json!({"scaleDownDelaySeconds": 2});
    if let Some(seconds) = auto_promotion {
        strategy["autoPromotionSeconds"] = serde_json::json!(seconds);
    }
    serde_json::json!({
        "container": {"image": image, "port": 80},
        "replicas": 2,
        "strategy": {"blueGreen": strategy},
    })
}

/// The images behind a URL of the App's load balancer.
fn images_at(env: &Env, app: &cygni::api::App, url: &str) -> Vec<String> {
    let dns = app
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .map(|l| l.dns_name.clone())
        .expect("load balancer");
    let mut images: Vec<String> = env
        .aws
        .route(&dns, url)
        .into_iter()
        .flat_map(|t| t.healthy_images)
        .collect();
    images.sort();
    images.dedup();
    images
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_is_previewed_at_full_size_then_switched_by_cygni_promote() {
    let env = Env::start().await;
    env.apply_app("billing", blue_green("nginx:1.27", None))
        .await;
    let app = env.wait_app("billing", "Ready", stable_at(1)).await;
    let id = env.identity(&app);
    env.set_image("billing", "nginx:1.28").await;
    let waiting = |d: &cygni::api::Deployment| {
        d.status
            .as_ref()
            .is_some_and(|s| s.phase == DeploymentPhase::Paused)
    };
    env.watch_slots(&id, "billing-2", "waiting for promotion", waiting)
        .await;
    assert_eq!(
        sample(&env.aws.snapshot(), &id),
        SlotSample {
            weights: (100, 0),
            desired: (2, 2)
        },
        "the new revision runs at full size without traffic"
    );
    let app = env
        .wait_app("billing", "previewed", |a| {
            a.status.as_ref().is_some_and(|s| s.preview_url.is_some())
        })
        .await;
    let status = app.status.clone().expect("status");
    let preview = status.preview_url.clone().expect("preview URL");
    assert!(preview.ends_with(":8443/"), "{preview}");
    assert_eq!(
        images_at(&env, &app, &preview),
        ["nginx:1.28"],
        "the preview reaches the new revision"
    );
    assert_eq!(
        images_at(&env, &app, &status.urls[0]),
        ["nginx:1.27"],
        "users still get the old one"
    );
    let (ok, out, err) = env.cygni(&["status", "billing"]);
    assert!(ok, "{err}");
    assert!(out.contains("> 2/4 promotion (manual)"), "{out}");
    assert!(out.contains(&format!("preview  {preview}")), "{out}");

    let (ok, out, err) = env.cygni(&["promote", "billing"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "promoted billing-2: step 2/4 promotion (manual) is complete"
    );
    env.wait_phase("billing-2", DeploymentPhase::Succeeded)
        .await;
    let app = env
        .wait_app("billing", "stable at revision 2", stable_at(2))
        .await;
    let status = app.status.clone().expect("status");
    assert_eq!(status.preview_url, None, "no preview once switched");
    assert_eq!(images_at(&env, &app, &status.urls[0]), ["nginx:1.28"]);
    env.watch_slots(&id, "billing-2", "old slot scaled down", |_| {
        sample(&env.aws.snapshot(), &id)
            == SlotSample {
                weights: (0, 100),
                desired: (0, 2),
            }
    })
    .await;
    assert!(
        app_rules(&env.aws.snapshot(), &id).len() == 1,
        "the preview rule is gone"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_promotes_itself_after_auto_promotion_seconds() {
    let env = Env::start().await;
    env.apply_app("billing", blue_green("nginx:1.27", Some(2)))
        .await;
    let app = env.wait_app("billing", "Ready", stable_at(1)).await;
    let id = env.identity(&app);
    env.set_image("billing", "nginx:1.28").await;
    let seen = env
        .watch_slots(
            &id,
            "billing-2",
            "Succeeded",
            in_phase(DeploymentPhase::Succeeded),
        )
        .await;
    let weights: Vec<(i32, i32)> = seen.iter().map(|(_, s)| s.weights).collect();
    assert!(
        weights.iter().all(|w| *w == (100, 0) || *w == (0, 100)),
        "all traffic switches at once: {weights:?}"
    );
    let rollout = env.deployments().get("billing-2").await.expect("billing-2");
    assert!(
        env.events_of("billing").await.iter().any(|e| e
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("promoted automatically")),
        "{:?}",
        rollout.status
    );
    env.wait_app("billing", "stable at revision 2", stable_at(2))
        .await;
    env.stop().await;
}
