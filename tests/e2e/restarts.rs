//! Status is the only memory: an operator stopped and started again at every step boundary of a
//! canary and of a blue-green rollout finishes it exactly as an operator that ran throughout,
//! with the same steps, the same final state and the same AWS writes. And the same holds for a
//! `cygni run --aws-backend sim --sim-state DIR` process killed with SIGKILL at every boundary
//! and started again against the AWS world it kept on disk.

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
    assert!(
        restarts >= 5,
        "restarted at the steps of 6 the rollout stopped at: {restarts}"
    );
    assert_eq!(restarted, straight);
    assert_eq!(straight.steps.len(), 6, "{:?}", straight.steps);
    assert_eq!(straight.stable, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_restarted_at_every_step_boundary_ends_as_an_uninterrupted_one() {
    let (straight, _) = roll(blue_green(), false).await;
    let (restarted, restarts) = roll(blue_green(), true).await;
    assert!(
        restarts >= 3,
        "restarted at the steps of 4 the rollout stopped at: {restarts}"
    );
    assert_eq!(restarted, straight);
    assert_eq!(straight.steps.len(), 4, "{:?}", straight.steps);
}

/// A crash between creating a slot's service and recording its task definition in status leaves
/// a status without it while the service already runs it. The next reconcile records it again
/// with reads alone: no second registration and no UpdateService to the task definition the
/// service already runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_that_lost_its_task_definition_gets_it_back_without_an_aws_write() {
    use kube::api::{Patch, PatchParams};
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    let app = env.wait_app("web", "Ready", ready).await;
    let recorded = app.status.expect("status").task_definitions;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    tokio::time::sleep(RESYNC * 2).await;
    env.aws.reset_calls();
    env.apps()
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"taskDefinitions": []}})),
        )
        .await
        .expect("status patched");
    env.wait_app("web", "its task definition recorded again", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.task_definitions == recorded)
    })
    .await;
    tokio::time::sleep(RESYNC).await;
    let calls = env.aws.calls();
    assert_eq!(
        calls.write_operations(),
        Vec::new(),
        "writes after the status lost its task definition: {calls:?}"
    );
    let app = env.apps().get("web").await.expect("App");
    assert!(ready(&app), "{:#?}", app.status);
    env.stop().await;
}

/// A `cygni run` process against the test's API, with simulated AWS kept in `dir`.
struct OperatorProcess {
    child: std::process::Child,
}

impl OperatorProcess {
    fn start(env: &Env, dir: &std::path::Path) -> OperatorProcess {
        let resync = format!("{}ms", RESYNC.as_millis());
        let lease = format!("cygni-{}", env.namespace);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cygni"));
        command
            .args(["run", "--aws-backend", "sim", "--sim-speed", "20"])
            .arg("--sim-state")
            .arg(dir)
            .args(["--namespaces", &env.namespace])
            .args(["--listen-addr", "127.0.0.1:0", "--resync-period", &resync])
            // The same identity after a kill: the new process renews the Lease the killed one
            // held instead of waiting for it to expire.
            .args(["--identity", "crash-test", "--lease-name", &lease])
            .env("KUBECONFIG", env.kubeconfig_path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if env.is_real_cluster() {
            command.args(["--lease-namespace", &env.namespace]);
        }
        OperatorProcess {
            child: command.spawn().expect("cygni run starts"),
        }
    }

    /// SIGKILL: no shutdown, no Lease release, no last write.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The AWS world the process keeps, as it last wrote it.
fn world_in(dir: &std::path::Path) -> cygni::sim::aws::AwsSim {
    let start = Instant::now();
    loop {
        if let Ok(Some(world)) = cygni::sim::aws::AwsSim::load(dir) {
            return world;
        }
        assert!(start.elapsed() < PATIENCE, "no world in {}", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Like [`roll`], with the operator in its own process, killed with SIGKILL when the rollout
/// enters a new step if `kill` says so, and started again against the same AWS world.
async fn roll_in_a_process(spec: serde_json::Value, kill: bool) -> (Outcome, usize) {
    let env = Env::without_operator().await;
    let dir = std::env::temp_dir().join(format!("cygni-sim-{}", env.namespace));
    let _ = std::fs::remove_dir_all(&dir);
    let mut operator = Some(OperatorProcess::start(&env, &dir));
    env.apply_app("web", spec).await;
    let app = env.wait_app("web", "Ready", stable_at(1)).await;
    let id = env.identity(&app);
    tokio::time::sleep(RESYNC * 2).await;
    let before = world_in(&dir).calls();
    env.set_image("web", "nginx:1.28").await;

    let start = Instant::now();
    let mut last_step = None;
    let mut kills = 0;
    loop {
        let rollout = env.deployments().get_opt("web-2").await.expect("readable");
        let status = rollout.and_then(|d| d.status);
        let step = status.as_ref().and_then(|s| s.current_step_index);
        let done = status
            .as_ref()
            .is_some_and(|s| s.phase == DeploymentPhase::Succeeded);
        if kill && !done && step.is_some() && step != last_step {
            if let Some(running) = operator.take() {
                running.kill();
            }
            kills += 1;
            operator = Some(OperatorProcess::start(&env, &dir));
        }
        last_step = step;
        let app = env.apps().get("web").await.expect("App");
        let settled = sample(&world_in(&dir).snapshot(), &id);
        if done && stable_at(2)(&app) && settled.desired.0 == 0 {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE * 2,
            "the rollout never finished: {status:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(RESYNC * 2).await;
    let world = world_in(&dir);
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
    let writes = world
        .calls()
        .write_operations()
        .into_iter()
        .map(|(service, op, n)| {
            let earlier = before
                .write_operations()
                .into_iter()
                .find(|(s, o, _)| *s == service && *o == op)
                .map_or(0, |(_, _, n)| n);
            (service, op, n - earlier)
        })
        .filter(|(_, _, n)| *n > 0)
        .collect();
    let outcome = Outcome {
        slots: sample(&world.snapshot(), &id),
        writes,
        stable: status.stable_revision,
        active: status.active_slot,
        phase: rollout.status.map(|s| s.phase),
        steps,
    };
    if let Some(running) = operator.take() {
        running.kill();
    }
    env.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    (outcome, kills)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_operator_is_killed_at_every_step_boundary_ends_as_an_uninterrupted_one() {
    let (straight, _) = roll_in_a_process(canary(), false).await;
    let (killed, kills) = roll_in_a_process(canary(), true).await;
    // A step that completes in the same decision as the one before it (a pause of zero left)
    // cannot be interrupted between the two; every step the rollout stopped at was.
    assert!(
        kills >= 5,
        "killed at the steps of 6 the rollout stopped at: {kills}"
    );
    assert_eq!(killed, straight);
    assert_eq!(straight.stable, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_whose_operator_is_killed_at_every_step_boundary_ends_as_an_uninterrupted_one()
{
    let (straight, _) = roll_in_a_process(blue_green(), false).await;
    let (killed, kills) = roll_in_a_process(blue_green(), true).await;
    assert!(
        kills >= 3,
        "killed at the steps of 4 the rollout stopped at: {kills}"
    );
    assert_eq!(killed, straight);
}
