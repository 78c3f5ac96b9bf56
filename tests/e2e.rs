//! End to end: the operator's controllers against a Kubernetes API with simulated AWS, driven with
//! the kube client as a user would drive it with kubectl.
//!
//! By default each test starts a playground (the in-process API server simulator). With
//! `CYGNI_TEST_KUBECONFIG=<path>` the same tests run against that real cluster instead: the CRDs
//! are applied, each test gets its own namespace, and the operator runs in this process, watching
//! only that namespace, with AWS simulated in process.

use cygni::api::app::SlotName;
use cygni::api::conditions;
use cygni::api::{App, Deployment, DeploymentPhase, crd};
use cygni::clock::{ScaledClock, SystemClock};
use cygni::config::RunArgs;
use cygni::plan::naming::AppIdentity;
use cygni::playground::{Playground, PlaygroundArgs};
use cygni::sim::aws::{AwsSim, Faults, SimConfig, SimService, WorldSnapshot};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How much faster than real time simulated AWS runs in these tests.
const SPEED: f64 = 20.0;
/// Resync period of the operator in these tests.
const RESYNC: Duration = Duration::from_millis(1500);
/// Longest wait for one expected state.
const PATIENCE: Duration = Duration::from_secs(90);

enum Cluster {
    Simulated(Playground),
    Real {
        shutdown: watch::Sender<bool>,
        operator: tokio::task::JoinHandle<anyhow::Result<()>>,
    },
}

/// One test's world: a namespace on a Kubernetes API with the operator running, and AWS.
struct Env {
    cluster: Cluster,
    client: Client,
    namespace: String,
    aws: AwsSim,
}

impl Env {
    async fn start() -> Env {
        let namespace = format!("e2e-{:08x}", rand::random::<u32>());
        match std::env::var("CYGNI_TEST_KUBECONFIG") {
            Ok(path) => Env::real(&path, namespace).await,
            Err(_) => {
                let playground = Playground::start(&PlaygroundArgs::for_tests(SPEED, RESYNC))
                    .await
                    .expect("playground starts");
                let client = playground.client();
                let aws = playground.aws().clone();
                let env = Env {
                    cluster: Cluster::Simulated(playground),
                    client,
                    namespace,
                    aws,
                };
                env.create_namespace().await;
                env
            }
        }
    }

    async fn real(path: &str, namespace: String) -> Env {
        let kubeconfig =
            kube::config::Kubeconfig::read_from(path).expect("CYGNI_TEST_KUBECONFIG is readable");
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("kubeconfig is usable");
        let client = Client::try_from(config).expect("client");
        let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
            Api::all(client.clone());
        for definition in crd::all() {
            let name = definition.metadata.name.clone().expect("named");
            crds.patch(
                &name,
                &PatchParams::apply("cygni-e2e").force(),
                &Patch::Apply(&definition),
            )
            .await
            .expect("CRD applied");
        }
        // A new CRD is served once the API server established it.
        let start = Instant::now();
        while Api::<App>::all(client.clone())
            .list(&ListParams::default().limit(1))
            .await
            .is_err()
        {
            assert!(start.elapsed() < PATIENCE, "the App CRD was never served");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let clock = Arc::new(ScaledClock::new(SPEED));
        let (aws, defaults) = AwsSim::playground(SimConfig::playground(clock));
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            run: RunArgs,
        }
        let lease = format!("cygni-{namespace}");
        let resync = format!("{}ms", RESYNC.as_millis());
        let mut args = <Wrapper as clap::Parser>::parse_from([
            "cygni",
            "--namespaces",
            &namespace,
            "--lease-namespace",
            &namespace,
            "--lease-name",
            &lease,
            "--listen-addr",
            "127.0.0.1:0",
            "--resync-period",
            &resync,
            "--concurrency",
            "16",
        ])
        .run;
        args.defaults = args.defaults.or(&defaults);
        create_namespace(&client, &namespace).await;
        let (shutdown, rx) = watch::channel(false);
        let services = cygni::aws::retry::with_retries(
            aws.services(),
            PlaygroundArgs::for_tests(SPEED, RESYNC).retry,
        );
        let operator_client = client.clone();
        let operator = tokio::spawn(async move {
            cygni::controller::runtime::operate(
                operator_client,
                &args,
                services,
                Arc::new(SystemClock),
                rx,
            )
            .await
        });
        Env {
            cluster: Cluster::Real { shutdown, operator },
            client,
            namespace,
            aws,
        }
    }

    async fn create_namespace(&self) {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let namespace: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": self.namespace}}))
                .expect("namespace");
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("namespace created");
    }

    async fn stop(self) {
        match self.cluster {
            Cluster::Simulated(playground) => {
                playground.stop().await.expect("operator stops cleanly")
            }
            Cluster::Real { shutdown, operator } => {
                let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
                    Api::all(self.client.clone());
                let _ = namespaces
                    .delete(&self.namespace, &DeleteParams::default())
                    .await;
                let _ = shutdown.send(true);
                operator
                    .await
                    .expect("operator task")
                    .expect("operator stops cleanly");
            }
        }
    }

    fn apps(&self) -> Api<App> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    async fn apply_app(&self, name: &str, spec: serde_json::Value) -> App {
        let app = serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "App",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        });
        self.apps()
            .patch(
                name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&app),
            )
            .await
            .unwrap_or_else(|e| panic!("App {name} applied: {e}"))
    }

    async fn set_image(&self, name: &str, image: &str) {
        let patch = serde_json::json!({"spec": {"container": {"image": image}}});
        self.apps()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("image patched");
    }

    /// Waits until `check` accepts the App, and returns it.
    async fn wait_app(&self, name: &str, what: &str, check: impl Fn(&App) -> bool) -> App {
        self.wait_app_within(name, what, check, PATIENCE).await
    }

    async fn wait_app_within(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&App) -> bool,
        patience: Duration,
    ) -> App {
        let start = Instant::now();
        loop {
            if let Some(app) = self.apps().get_opt(name).await.expect("App readable")
                && check(&app)
            {
                return app;
            }
            if start.elapsed() > patience {
                let app = self.apps().get_opt(name).await.expect("App readable");
                panic!(
                    "App {name} never became {what}; last seen: {:#?}",
                    app.and_then(|a| a.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the Deployment reaches `phase` (the Deployment controller follows its App).
    async fn wait_phase(&self, name: &str, phase: DeploymentPhase) -> Deployment {
        let start = Instant::now();
        loop {
            let deployment = self
                .deployments()
                .get_opt(name)
                .await
                .expect("Deployment readable");
            if let Some(d) = &deployment
                && d.status.as_ref().is_some_and(|s| s.phase == phase)
            {
                return d.clone();
            }
            if start.elapsed() > PATIENCE {
                panic!(
                    "Deployment {name} never reached {phase:?}; last seen: {:#?}",
                    deployment.and_then(|d| d.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn wait_gone(&self, name: &str) {
        let start = Instant::now();
        while self
            .apps()
            .get_opt(name)
            .await
            .expect("App readable")
            .is_some()
        {
            assert!(start.elapsed() < PATIENCE, "App {name} was never deleted");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn identity(&self, app: &App) -> AppIdentity {
        AppIdentity {
            namespace: self.namespace.clone(),
            name: app.name_any(),
            uid: app.uid().expect("uid"),
        }
    }
}

async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .expect("namespace created");
}

fn condition(app: &App, type_: &str) -> Option<(String, String)> {
    let status = app.status.as_ref()?;
    conditions::find(&status.conditions, type_).map(|c| (c.status.clone(), c.reason.clone()))
}

fn ready(app: &App) -> bool {
    condition(app, conditions::READY).is_some_and(|(s, _)| s == "True")
}

fn stable_at(revision: i64) -> impl Fn(&App) -> bool {
    move |app| ready(app) && app.status.as_ref().and_then(|s| s.stable_revision) == Some(revision)
}

fn minimal(image: &str) -> serde_json::Value {
    serde_json::json!({"container": {"image": image, "port": 80}})
}

/// What exists in simulated AWS for one App.
struct AppInAws {
    active_services: usize,
    target_groups: usize,
    rules: usize,
    active_task_definitions: usize,
}

impl AppInAws {
    /// Active services, target groups, rules and active task definitions.
    fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.active_services,
            self.target_groups,
            self.rules,
            self.active_task_definitions,
        )
    }
}

/// Applies an App, waits until it is Ready, deletes it, waits until it is gone, and returns what
/// is left of it in AWS.
async fn delete_when_ready(env: &Env, name: &str, spec: serde_json::Value) -> AppInAws {
    env.apply_app(name, spec).await;
    let app = env.wait_app(name, "Ready", ready).await;
    let id = env.identity(&app);
    env.apps()
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete accepted");
    env.wait_gone(name).await;
    app_in_aws(&env.aws.snapshot(), &id)
}

fn app_in_aws(snapshot: &WorldSnapshot, id: &AppIdentity) -> AppInAws {
    let services = [id.service_name(SlotName::A), id.service_name(SlotName::B)];
    let target_groups = [
        id.target_group_name(SlotName::A),
        id.target_group_name(SlotName::B),
    ];
    AppInAws {
        active_services: snapshot
            .services
            .iter()
            .filter(|s| services.contains(&s.service.name) && s.service.status == "ACTIVE")
            .count(),
        target_groups: snapshot
            .target_groups
            .iter()
            .filter(|t| target_groups.contains(&t.target_group.name))
            .count(),
        rules: app_rules(snapshot, id).len(),
        active_task_definitions: snapshot
            .task_definitions
            .iter()
            .filter(|t| t.input.family == id.family() && t.status == "ACTIVE")
            .count(),
    }
}

/// Rules that forward to one of the App's target groups.
fn app_rules<'s>(
    snapshot: &'s WorldSnapshot,
    id: &AppIdentity,
) -> Vec<&'s cygni::aws::elbv2::Rule> {
    let names = [
        id.target_group_name(SlotName::A),
        id.target_group_name(SlotName::B),
    ];
    let arns: Vec<&str> = snapshot
        .target_groups
        .iter()
        .filter(|t| names.contains(&t.target_group.name))
        .map(|t| t.target_group.arn.as_str())
        .collect();
    snapshot
        .load_balancers
        .iter()
        .flat_map(|lb| lb.listeners.iter())
        .flat_map(|l| l.rules.iter())
        .filter(|r| {
            r.forward
                .iter()
                .any(|w| arns.contains(&w.target_group_arn.as_str()))
        })
        .collect()
}

fn rule_weights(snapshot: &WorldSnapshot, id: &AppIdentity) -> Vec<i32> {
    app_rules(snapshot, id)
        .iter()
        .flat_map(|r| r.forward.iter().map(|w| w.weight))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minimal_app_gets_a_service_a_target_group_and_a_rule_and_becomes_ready() {
    let env = Env::start().await;
    env.apply_app("hello", minimal("nginx:1.27")).await;
    let app = env.wait_app("hello", "Ready", ready).await;
    let id = env.identity(&app);
    assert_eq!(app_in_aws(&env.aws.snapshot(), &id).counts(), (1, 1, 1, 1));
    assert_eq!(rule_weights(&env.aws.snapshot(), &id), vec![100]);
    let status = app.status.expect("status");
    assert_eq!(status.stable_revision, Some(1));
    assert!(status.load_balancer.is_some());
    env.wait_phase("hello-1", DeploymentPhase::Succeeded).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_image_rolls_the_active_slot_with_one_new_task_definition_and_a_new_deployment() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", stable_at(1)).await;
    env.set_image("web", "nginx:1.28").await;
    let app = env
        .wait_app("web", "Ready on revision 2", stable_at(2))
        .await;
    let id = env.identity(&app);
    let snapshot = env.aws.snapshot();
    let family: Vec<_> = snapshot
        .task_definitions
        .iter()
        .filter(|t| t.input.family == id.family())
        .collect();
    assert_eq!(family.len(), 2, "exactly one new task definition revision");
    let service = snapshot
        .services
        .iter()
        .find(|s| s.service.name == id.service_name(SlotName::A))
        .expect("slot a service");
    assert_eq!(
        service.service.task_definition_arn, family[1].arn,
        "the active slot runs the new revision"
    );
    assert_eq!(
        app_in_aws(&snapshot, &id).active_services,
        1,
        "rolled in place, no second service"
    );
    let revision = env
        .deployments()
        .get("web-2")
        .await
        .expect("Deployment web-2 recorded");
    assert_eq!(revision.spec.template.container.image, "nginx:1.28");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_image_trips_the_circuit_breaker_and_the_previous_revision_keeps_serving() {
    let env = Env::start().await;
    env.apply_app("web", minimal("nginx:1.27")).await;
    env.wait_app("web", "Ready", stable_at(1)).await;
    env.set_image("web", "nginx:bad").await;
    let app = env
        .wait_app("web", "Degraded", |a| {
            condition(a, conditions::DEGRADED).is_some_and(|(s, _)| s == "True")
        })
        .await;
    let (_, reason) = condition(&app, conditions::READY).expect("Ready");
    assert_eq!(reason, "RolloutFailed");
    let status = app.status.clone().expect("status");
    assert_eq!(status.stable_revision, Some(1));
    assert!(
        status
            .failure_message
            .unwrap_or_default()
            .contains("circuit breaker")
    );
    env.wait_phase("web-2", DeploymentPhase::Failed).await;
    // ECS rolls back; the first revision's tasks keep serving all traffic.
    let app = env
        .wait_app("web", "back on revision 1", |a| {
            a.status.as_ref().is_some_and(|s| {
                s.slots
                    .iter()
                    .any(|slot| slot.revision == Some(1) && slot.running >= 2)
            })
        })
        .await;
    assert_eq!(
        rule_weights(&env.aws.snapshot(), &env.identity(&app)),
        vec![100]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_removes_everything_it_had_in_aws() {
    let env = Env::start().await;
    let left = delete_when_ready(&env, "gone", minimal("nginx:1.27")).await;
    assert_eq!(left.counts(), (0, 0, 0, 0));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_app_with_retain_leaves_aws_as_it_was() {
    let env = Env::start().await;
    let mut spec = minimal("nginx:1.27");
    spec["deletionPolicy"] = serde_json::json!("Retain");
    let left = delete_when_ready(&env, "kept", spec).await;
    assert_eq!(left.counts(), (1, 1, 1, 1));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converged_app_makes_no_aws_writes_on_resync() {
    let env = Env::start().await;
    env.apply_app("calm", minimal("nginx:1.27")).await;
    env.wait_app("calm", "Ready", ready).await;
    // Let the last status write and any settling finish, then count.
    tokio::time::sleep(RESYNC * 2).await;
    env.aws.reset_calls();
    tokio::time::sleep(RESYNC * 3).await;
    let calls = env.aws.calls();
    assert_eq!(calls.writes(), 0, "writes on resync: {calls:?}");
    assert!(calls.reads() > 0, "resyncs did observe AWS");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desired_count_changed_outside_the_operator_is_restored() {
    let env = Env::start().await;
    env.apply_app("drift", minimal("nginx:1.27")).await;
    let app = env.wait_app("drift", "Ready", ready).await;
    let id = env.identity(&app);
    let update = cygni::aws::ecs::ServiceUpdate {
        cluster: "playground".into(),
        name: id.service_name(SlotName::A),
        desired_count: Some(0),
        ..Default::default()
    };
    env.aws
        .services()
        .ecs
        .update_service(&update)
        .await
        .expect("outside change");
    let start = Instant::now();
    loop {
        let snapshot = env.aws.snapshot();
        let service = snapshot
            .services
            .iter()
            .find(|s| s.service.name == id.service_name(SlotName::A))
            .expect("service");
        if service.service.desired_count == 2 {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "desired count was never restored"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), &env.namespace);
    let start = Instant::now();
    loop {
        let list = events.list(&ListParams::default()).await.expect("events");
        if list
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("DriftCorrected"))
        {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "no DriftCorrected Event");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_a_listener_that_does_not_exist_is_invalid_and_changes_nothing_in_aws() {
    let env = Env::start().await;
    env.aws.reset_calls();
    let mut spec = minimal("nginx:1.27");
    spec["routing"] = serde_json::json!({
        "listenerArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/missing/0123456789abcdef/0123456789abcdef"
    });
    env.apply_app("lost", spec).await;
    let app = env
        .wait_app("lost", "InvalidSpec", |a| {
            condition(a, conditions::READY).is_some_and(|(_, r)| r == "InvalidSpec")
        })
        .await;
    let message = app.status.expect("status").conditions[0].message.clone();
    assert!(message.contains("spec.routing.listenerArn"), "{message}");
    assert_eq!(env.aws.calls().writes(), 0);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_apps_converge_under_throttling_and_server_errors_without_duplicates() {
    let env = Env::start().await;
    for service in [SimService::Ecs, SimService::Elbv2] {
        env.aws.set_faults(
            service,
            Faults {
                throttle_rate: 0.3,
                server_error_rate: 0.1,
                ..Faults::default()
            },
        );
    }
    for i in 0..50 {
        env.apply_app(&format!("app-{i:02}"), minimal("nginx:1.27"))
            .await;
    }
    let mut ids = Vec::new();
    for i in 0..50 {
        let app = env
            .wait_app_within(&format!("app-{i:02}"), "Ready", ready, PATIENCE * 2)
            .await;
        ids.push(env.identity(&app));
    }
    let snapshot = env.aws.snapshot();
    for id in &ids {
        assert_eq!(
            app_in_aws(&snapshot, id).counts(),
            (1, 1, 1, 1),
            "{} has duplicates or gaps",
            id.name
        );
    }
    let calls = env.aws.calls();
    let per_app = calls.total() / 50;
    assert!(
        per_app < 400,
        "{per_app} AWS calls per App to converge: {calls:?}"
    );
    env.stop().await;
}
