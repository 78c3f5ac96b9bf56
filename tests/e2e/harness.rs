//! The harness of the end-to-end tests: a Kubernetes API (a playground, or the real cluster of
//! `CYGNI_TEST_KUBECONFIG`), a namespace per test, simulated AWS, and operators running in this
//! process.
//!
//! By default each test starts a playground (the in-process API server simulator). With
//! `CYGNI_TEST_KUBECONFIG=<path>` the same tests run against that real cluster instead: the CRDs
//! are applied, each test gets its own namespace, and the operator runs in this process, watching
//! only that namespace, with AWS simulated in process.

use cygni::api::app::SlotName;
use cygni::api::conditions;
use cygni::api::{App, Deployment, DeploymentPhase, Domain, crd};
use cygni::clock::{ScaledClock, SystemClock};
use cygni::config::{OperatorDefaults, RunArgs};
use cygni::plan::naming::AppIdentity;
use cygni::playground::{Playground, PlaygroundArgs};
use cygni::sim::aws::{AwsSim, SimConfig, WorldSnapshot};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How much faster than real time simulated AWS runs in these tests.
pub const SPEED: f64 = 20.0;
/// Resync period of the operator in these tests.
pub const RESYNC: Duration = Duration::from_millis(1500);
/// Longest wait for one expected state.
pub const PATIENCE: Duration = Duration::from_secs(90);

enum Cluster {
    Simulated(Box<Playground>),
    Real,
}

/// An operator this harness started.
pub struct Operator {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Where it serves `/metrics`.
    metrics: std::net::SocketAddr,
}

impl Operator {
    /// Stops the operator (it releases its Lease) and waits until it has.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.task
            .await
            .expect("operator task")
            .expect("operator stops cleanly");
    }

    /// Whether the operator has stopped on its own.
    pub fn finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// One test's world: a namespace on a Kubernetes API with the operator running, and AWS.
pub struct Env {
    cluster: Cluster,
    /// How to reach the API; operators build their own client from it.
    config: kube::Config,
    /// A kubeconfig file for the API, for the `cygni` binary.
    kubeconfig: std::path::PathBuf,
    pub client: Client,
    pub namespace: String,
    pub aws: AwsSim,
    defaults: OperatorDefaults,
    operators: Vec<Operator>,
    operator_args: Vec<String>,
}

impl Env {
    /// A world with one operator running.
    pub async fn start() -> Env {
        let mut env = Env::without_operator().await;
        // On a real cluster other tests' operators run too: a Lease of its own per test.
        let own_lease = match env.cluster {
            Cluster::Real => vec![
                "--lease-namespace".to_string(),
                env.namespace.clone(),
                "--lease-name".to_string(),
                format!("cygni-{}", env.namespace),
            ],
            Cluster::Simulated(_) => Vec::new(),
        };
        env.operator_args = own_lease;
        let operator = env.spawn_operator(&env.operator_args);
        env.operators.push(operator);
        env
    }

    /// Stops the operator [`Env::start`] started (it releases its Lease) and starts a new one
    /// with the same settings: a restart, as a rolling update of the operator's pods does.
    pub async fn restart_operator(&mut self) {
        for operator in std::mem::take(&mut self.operators) {
            operator.stop().await;
        }
        let operator = self.spawn_operator(&self.operator_args);
        self.operators.push(operator);
    }

    /// A world with no operator yet: the test starts its own with [`Env::spawn_operator`].
    pub async fn without_operator() -> Env {
        let namespace = format!("e2e-{:08x}", rand::random::<u32>());
        let env = match std::env::var("CYGNI_TEST_KUBECONFIG") {
            Ok(path) => Env::real(&path, namespace).await,
            Err(_) => {
                let mut args = PlaygroundArgs::for_tests(SPEED, RESYNC);
                args.operator = false;
                let playground = Playground::start(&args).await.expect("playground starts");
                let client = playground.client();
                let config = playground.config();
                let aws = playground.aws().clone();
                let defaults = playground.operator_defaults().clone();
                let kubeconfig = std::env::temp_dir().join(format!("{namespace}.kubeconfig"));
                std::fs::write(&kubeconfig, playground.kubeconfig()).expect("kubeconfig written");
                Env {
                    cluster: Cluster::Simulated(Box::new(playground)),
                    config,
                    kubeconfig,
                    client,
                    namespace,
                    aws,
                    defaults,
                    operators: Vec::new(),
                    operator_args: Vec::new(),
                }
            }
        };
        create_namespace(&env.client, &env.namespace).await;
        env
    }

    /// A kubeconfig file for this world's API.
    pub fn kubeconfig_path(&self) -> &std::path::Path {
        &self.kubeconfig
    }

    /// Whether the tests run against a real cluster.
    pub fn is_real_cluster(&self) -> bool {
        matches!(self.cluster, Cluster::Real)
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
        let client = Client::try_from(config.clone()).expect("client");
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
        Env {
            cluster: Cluster::Real,
            config,
            kubeconfig: std::path::PathBuf::from(path),
            client,
            namespace,
            aws,
            defaults,
            operators: Vec::new(),
            operator_args: Vec::new(),
        }
    }

    /// Starts an operator against this world's API and AWS, watching the test's namespace, with
    /// `cygni run`'s defaults except for `extra` flags. The caller owns it.
    pub fn spawn_operator(&self, extra: &[String]) -> Operator {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            run: RunArgs,
        }
        let resync = format!("{}ms", RESYNC.as_millis());
        // A port free now, so the test knows where the metrics are.
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let listen = metrics.to_string();
        let mut argv: Vec<String> = [
            "cygni",
            "--namespaces",
            &self.namespace,
            "--listen-addr",
            &listen,
            "--resync-period",
            &resync,
            "--concurrency",
            "16",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(extra.iter().cloned());
        let mut args = <Wrapper as clap::Parser>::parse_from(argv).run;
        args.defaults = args.defaults.or(&self.defaults);
        let (shutdown, rx) = watch::channel(false);
        let services = cygni::aws::retry::with_retries(
            self.aws.services(),
            PlaygroundArgs::for_tests(SPEED, RESYNC).retry,
        );
        let config = self.config.clone();
        let task = tokio::spawn(async move {
            cygni::controller::runtime::operate(config, &args, services, Arc::new(SystemClock), rx)
                .await
        });
        Operator {
            shutdown,
            task,
            metrics,
        }
    }

    /// Hands an operator the test started to the world, which stops it with the rest.
    pub fn adopt_operator(&mut self, operator: Operator) {
        self.operators.push(operator);
    }

    /// The first operator's metrics, in the Prometheus text format.
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let addr = self.operators.first().expect("an operator").metrics;
        let mut stream = std::net::TcpStream::connect(addr).expect("metrics endpoint");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .expect("request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("response");
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or(response)
    }

    /// Removes the test's namespace from a real cluster, stops the operators, and stops the
    /// playground.
    pub async fn stop(self) {
        // On a real cluster the namespace goes first, while the operators still run to remove
        // the finalizers of what is deleted with it.
        if let Cluster::Real = self.cluster {
            let namespaces: Api<Namespace> = Api::all(self.client.clone());
            let _ = namespaces
                .delete(&self.namespace, &DeleteParams::default())
                .await;
        }
        for operator in self.operators {
            operator.stop().await;
        }
        if let Cluster::Simulated(playground) = self.cluster {
            playground.stop().await.expect("playground stops");
        }
    }

    pub fn apps(&self) -> Api<App> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn apply_app(&self, name: &str, spec: serde_json::Value) -> App {
        self.try_apply_app(name, spec)
            .await
            .unwrap_or_else(|e| panic!("App {name} applied: {e}"))
    }

    /// Applies an App with server-side apply, as `kubectl apply --server-side` or Argo CD would.
    pub async fn try_apply_app(&self, name: &str, spec: serde_json::Value) -> kube::Result<App> {
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
    }

    pub async fn set_image(&self, name: &str, image: &str) {
        let patch = serde_json::json!({"spec": {"container": {"image": image}}});
        self.apps()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("image patched");
    }

    /// Waits until `check` accepts the App, and returns it.
    pub async fn wait_app(&self, name: &str, what: &str, check: impl Fn(&App) -> bool) -> App {
        self.wait_app_within(name, what, check, PATIENCE).await
    }

    pub async fn wait_app_within(
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
    pub async fn wait_phase(&self, name: &str, phase: DeploymentPhase) -> Deployment {
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

    pub async fn wait_gone(&self, name: &str) {
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

    /// The Events in the test's namespace about the App `name`, oldest first.
    pub async fn events_of(&self, name: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut list: Vec<Event> = events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| {
                e.regarding
                    .as_ref()
                    .is_some_and(|r| r.name.as_deref() == Some(name))
            })
            .collect();
        list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        list
    }

    /// Waits until an Event with `reason` about the App `name` exists, and returns them all.
    pub async fn wait_event(&self, name: &str, reason: &str) -> Vec<Event> {
        let start = Instant::now();
        loop {
            let events = self.events_of(name).await;
            if events.iter().any(|e| e.reason.as_deref() == Some(reason)) {
                return events;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "no {reason} Event about {name}; seen: {:?}",
                events
                    .iter()
                    .map(|e| (e.reason.clone(), e.note.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn domains(&self) -> Api<Domain> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Applies a Domain in `namespace` (the test's when `None`) with server-side apply.
    pub async fn apply_domain_in(
        &self,
        namespace: Option<&str>,
        name: &str,
        spec: serde_json::Value,
    ) -> Domain {
        let namespace = namespace.unwrap_or(&self.namespace);
        let domain = serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "Domain",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        });
        Api::<Domain>::namespaced(self.client.clone(), namespace)
            .patch(
                name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&domain),
            )
            .await
            .unwrap_or_else(|e| panic!("Domain {name} applied: {e}"))
    }

    pub async fn apply_domain(&self, name: &str, spec: serde_json::Value) -> Domain {
        self.apply_domain_in(None, name, spec).await
    }

    /// Waits until `check` accepts the Domain `name` in `namespace` (the test's when `None`).
    pub async fn wait_domain_in(
        &self,
        namespace: Option<&str>,
        name: &str,
        what: &str,
        check: impl Fn(&Domain) -> bool,
    ) -> Domain {
        let api: Api<Domain> =
            Api::namespaced(self.client.clone(), namespace.unwrap_or(&self.namespace));
        let start = Instant::now();
        loop {
            let domain = api.get_opt(name).await.expect("Domain readable");
            if let Some(domain) = &domain
                && check(domain)
            {
                return domain.clone();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "Domain {name} never became {what}; last seen: {:?}",
                domain.and_then(|d| d.status)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the Domain `name` in `namespace` (the test's when `None`) is gone.
    pub async fn wait_domain_gone(&self, namespace: Option<&str>, name: &str) {
        let api: Api<Domain> =
            Api::namespaced(self.client.clone(), namespace.unwrap_or(&self.namespace));
        let start = Instant::now();
        while api.get_opt(name).await.expect("Domain readable").is_some() {
            assert!(
                start.elapsed() < PATIENCE,
                "Domain {name} was never deleted"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_domain(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&Domain) -> bool,
    ) -> Domain {
        self.wait_domain_in(None, name, what, check).await
    }

    pub fn identity(&self, app: &App) -> AppIdentity {
        AppIdentity {
            namespace: self.namespace.clone(),
            name: app.name_any(),
            uid: app.uid().expect("uid"),
        }
    }
}

/// Creates a namespace; one that exists already is fine (a real cluster keeps shared ones).
pub async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).expect("namespace");
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("namespace {name} created: {e}"),
    }
}

/// The Ready condition of a Domain: (status, reason, message).
pub fn domain_ready(domain: &Domain) -> Option<(String, String, String)> {
    let status = domain.status.as_ref()?;
    conditions::find(&status.conditions, conditions::READY)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// A check that a Domain's Ready condition has this status and reason.
pub fn domain_is(status: &'static str, reason: &'static str) -> impl Fn(&Domain) -> bool {
    move |d| domain_ready(d).is_some_and(|(s, r, _)| s == status && r == reason)
}

pub fn condition(app: &App, type_: &str) -> Option<(String, String)> {
    let status = app.status.as_ref()?;
    conditions::find(&status.conditions, type_).map(|c| (c.status.clone(), c.reason.clone()))
}

pub fn ready(app: &App) -> bool {
    condition(app, conditions::READY).is_some_and(|(s, _)| s == "True")
}

pub fn stable_at(revision: i64) -> impl Fn(&App) -> bool {
    move |app| ready(app) && app.status.as_ref().and_then(|s| s.stable_revision) == Some(revision)
}

pub fn minimal(image: &str) -> serde_json::Value {
    serde_json::json!({"container": {"image": image, "port": 80}})
}

/// What exists in simulated AWS for one App.
pub struct AppInAws {
    pub active_services: usize,
    pub target_groups: usize,
    pub rules: usize,
    pub active_task_definitions: usize,
}

impl AppInAws {
    /// Active services, target groups, rules and active task definitions.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
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
pub async fn delete_when_ready(env: &Env, name: &str, spec: serde_json::Value) -> AppInAws {
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

pub fn app_in_aws(snapshot: &WorldSnapshot, id: &AppIdentity) -> AppInAws {
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
pub fn app_rules<'s>(
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

pub fn rule_weights(snapshot: &WorldSnapshot, id: &AppIdentity) -> Vec<i32> {
    app_rules(snapshot, id)
        .iter()
        .flat_map(|r| r.forward.iter().map(|w| w.weight))
        .collect()
}

/// One look at an App's two slots in simulated AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotSample {
    /// Weights of slots a and b in the rule.
    pub weights: (i32, i32),
    /// Desired task counts of slots a and b.
    pub desired: (i32, i32),
}

/// The App's slots as AWS has them now.
pub fn sample(snapshot: &WorldSnapshot, id: &AppIdentity) -> SlotSample {
    let desired = |slot| {
        snapshot
            .services
            .iter()
            .find(|s| s.service.name == id.service_name(slot) && s.service.status == "ACTIVE")
            .map_or(0, |s| s.service.desired_count)
    };
    let tg_arn = |slot| {
        snapshot
            .target_groups
            .iter()
            .find(|t| t.target_group.name == id.target_group_name(slot))
            .map(|t| t.target_group.arn.clone())
    };
    let weight = |slot| {
        let Some(arn) = tg_arn(slot) else { return 0 };
        app_rules(snapshot, id)
            .iter()
            .flat_map(|r| r.forward.iter())
            .find(|w| w.target_group_arn == arn)
            .map_or(0, |w| w.weight)
    };
    SlotSample {
        weights: (weight(SlotName::A), weight(SlotName::B)),
        desired: (desired(SlotName::A), desired(SlotName::B)),
    }
}

impl Env {
    /// Samples the App's slots every 100 ms until `done` accepts the Deployment `deployment`,
    /// and returns the distinct samples in order (with when each was first seen).
    pub async fn watch_slots(
        &self,
        id: &AppIdentity,
        deployment: &str,
        what: &str,
        done: impl Fn(&Deployment) -> bool,
    ) -> Vec<(Instant, SlotSample)> {
        let start = Instant::now();
        let mut seen: Vec<(Instant, SlotSample)> = Vec::new();
        loop {
            let now = sample(&self.aws.snapshot(), id);
            if seen.last().map(|(_, s)| s) != Some(&now) {
                seen.push((Instant::now(), now));
            }
            if let Some(d) = self
                .deployments()
                .get_opt(deployment)
                .await
                .expect("readable")
                && done(&d)
            {
                // What AWS has now that the Deployment says so.
                let last = sample(&self.aws.snapshot(), id);
                if seen.last().map(|(_, s)| s) != Some(&last) {
                    seen.push((Instant::now(), last));
                }
                return seen;
            }
            if start.elapsed() > PATIENCE * 2 {
                let d = self
                    .deployments()
                    .get_opt(deployment)
                    .await
                    .expect("readable");
                panic!(
                    "Deployment {deployment} never became {what}; slots seen: {:?}; last status: {:#?}",
                    seen.iter().map(|(_, s)| s).collect::<Vec<_>>(),
                    d.and_then(|d| d.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs the `cygni` binary with `args` against this world's API, in the test's namespace.
    /// Returns whether it succeeded, its standard output and its standard error.
    pub fn cygni(&self, args: &[&str]) -> (bool, String, String) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_cygni"))
            .args(args)
            .arg("--namespace")
            .arg(&self.namespace)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .output()
            .expect("cygni runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// Whether a Deployment is in `phase`.
pub fn in_phase(phase: DeploymentPhase) -> impl Fn(&Deployment) -> bool {
    move |d| d.status.as_ref().is_some_and(|s| s.phase == phase)
}
