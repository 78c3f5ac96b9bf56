//! Names at Kubernetes' limits: an App named with 253 characters converges, and everything
//! derived from it (Deployments, labels, Events, AWS names and tags) is valid.

use crate::harness::*;
use cygni::api::DeploymentPhase;
use cygni::plan::naming;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_with_a_253_character_name_converges_and_records_its_revision() {
    let env = Env::start().await;
    let name = format!(
        "{}.{}",
        "long-name-".repeat(12).trim_end_matches('-'),
        "x".repeat(253 - 120)
    );
    assert_eq!(name.len(), 253);
    env.apply_app(&name, minimal("nginx:1.27")).await;
    let app = env.wait_app(&name, "Ready", ready).await;
    let deployment = naming::deployment_name(&name, 1);
    assert!(deployment.len() <= 253, "{deployment}");
    env.wait_phase(&deployment, DeploymentPhase::Succeeded)
        .await;
    let id = env.identity(&app);
    assert_eq!(app_in_aws(&env.aws.snapshot(), &id).counts(), (1, 1, 1, 1));
    env.wait_event(&name, "RevisionCreated").await;
    env.set_image(&name, "nginx:1.28").await;
    env.wait_app(&name, "Ready on revision 2", stable_at(2))
        .await;
    env.wait_phase(
        &naming::deployment_name(&name, 2),
        DeploymentPhase::Succeeded,
    )
    .await;
    env.stop().await;
}
