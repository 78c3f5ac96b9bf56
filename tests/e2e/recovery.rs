//! Putting back an earlier template: the revision that repeats it reuses its task definition and
//! becomes stable like any rolling update, whatever failed in between.

use crate::harness::*;
use cygni::api::DeploymentPhase;
use cygni::api::app::SlotName;
use cygni::sim::aws::SimService;

/// RegisterTaskDefinition calls so far.
fn registrations(env: &Env) -> u64 {
    env.aws
        .calls()
        .get(SimService::Ecs, "RegisterTaskDefinition")
}

/// Applies `images` one after another, waiting after each for the outcome `expect` names
/// (`Some(revision)` that must become stable, `None` for an image the circuit breaker fails).
async fn roll_through(env: &Env, images: &[(&str, Option<i64>)]) {
    for (revision, (image, stable)) in (1_i64..).zip(images) {
        if revision == 1 {
            env.apply_app("web", minimal(image)).await;
        } else {
            env.set_image("web", image).await;
        }
        let name = format!("web-{revision}");
        match stable {
            Some(stable) => {
                env.wait_app(
                    "web",
                    &format!("stable at revision {stable}"),
                    stable_at(*stable),
                )
                .await;
                env.wait_phase(&name, DeploymentPhase::Succeeded).await;
            }
            None => {
                env.wait_phase(&name, DeploymentPhase::Failed).await;
            }
        }
    }
}

/// The App's slot a, as the App reports it.
async fn active_slot_revision(env: &Env) -> (Option<i64>, Option<i64>) {
    let app = env.apps().get("web").await.expect("App");
    let slot = app
        .status
        .expect("status")
        .slots
        .into_iter()
        .find(|s| s.name == SlotName::A)
        .expect("slot a");
    (slot.revision, slot.requested_revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn putting_back_the_image_after_a_failed_rollout_reuses_its_task_definition() {
    let env = Env::start().await;
    roll_through(&env, &[("nginx:1.27", Some(1)), ("nginx:bad", None)]).await;
    let before = registrations(&env);
    roll_through_from(&env, 3, "nginx:1.27").await;
    assert_eq!(
        registrations(&env) - before,
        0,
        "revision 3 repeats revision 1: no new task definition"
    );
    assert_eq!(active_slot_revision(&env).await, (Some(3), Some(3)));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_back_to_an_older_succeeded_template_reuses_its_task_definition() {
    let env = Env::start().await;
    roll_through(&env, &[("nginx:1.27", Some(1)), ("nginx:1.28", Some(2))]).await;
    let before = registrations(&env);
    roll_through_from(&env, 3, "nginx:1.27").await;
    assert_eq!(registrations(&env) - before, 0);
    let app = env.apps().get("web").await.expect("App");
    let status = app.status.clone().expect("status");
    let td = |revision: i64| {
        status
            .task_definitions
            .iter()
            .find(|t| t.revision == revision)
            .map(|t| t.arn.clone())
    };
    assert_eq!(td(3), td(1), "revision 3 runs revision 1's task definition");
    let snapshot = env.aws.snapshot();
    let service = snapshot
        .services
        .iter()
        .find(|s| s.service.name == env.identity(&app).service_name(SlotName::A))
        .expect("slot a");
    assert_eq!(Some(service.service.task_definition_arn.clone()), td(1));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_failed_rollouts_then_the_good_image_becomes_stable() {
    let env = Env::start().await;
    roll_through(
        &env,
        &[
            ("nginx:1.27", Some(1)),
            ("nginx:bad", None),
            ("nginx:bad2", None),
        ],
    )
    .await;
    let before = registrations(&env);
    roll_through_from(&env, 4, "nginx:1.27").await;
    assert_eq!(registrations(&env) - before, 0);
    assert_eq!(active_slot_revision(&env).await, (Some(4), Some(4)));
    env.stop().await;
}

/// Sets `image` as revision `revision` and waits until it is stable and its Deployment succeeded.
async fn roll_through_from(env: &Env, revision: i64, image: &str) {
    env.set_image("web", image).await;
    env.wait_app(
        "web",
        &format!("stable at revision {revision}"),
        stable_at(revision),
    )
    .await;
    env.wait_phase(&format!("web-{revision}"), DeploymentPhase::Succeeded)
        .await;
}
