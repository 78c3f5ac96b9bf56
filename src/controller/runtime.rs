//! `cygni run`: connect to the API server, check the CRDs, serve health and metrics, win the leader
//! Lease, run the three controllers, and shut down cleanly on SIGTERM or when leadership is lost.

use super::context::Settings;
use super::events::EventPublisher;
use super::leader::LeaderElector;
use super::{Context, Error, app, deployment, domain, memo};
use crate::api::{App, Deployment, Domain};
use crate::aws::AwsServices;
use crate::clock::{Clock, SystemClock};
use crate::config::{AwsBackend, RunArgs};
use crate::plan::naming;
use crate::telemetry::{self, Health, Metrics};
use anyhow::{Context as _, bail};
use futures::{FutureExt, StreamExt};
use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Name under which the operator publishes Events.
const REPORTER: &str = "cygni-operator";

/// How long the startup checks wait for the API server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Key identifying an object in logs and in the retry backoff.
pub fn object_key<K: Resource<DynamicType = ()>>(object: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// Requeue policy for failed reconciles: count the failure, log it, back off per object.
pub fn error_policy<K: Resource<DynamicType = ()>>(
    object: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = object_key(object.as_ref());
    let class = error.class();
    ctx.metrics
        .reconcile_failed(&K::kind(&()), error.label(), class.as_str());
    let delay = ctx.retry_delay(&key, class);
    tracing::warn!(object = %key, error = %error, class = class.as_str(), retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Runs the operator until SIGTERM/SIGINT, or until leadership is lost (an error, so the pod
/// restarts and rejoins the election).
pub async fn run(mut args: RunArgs) -> anyhow::Result<()> {
    let config = kube::Config::infer().await.context(
        "no Kubernetes configuration: run in a pod with a service account, or set KUBECONFIG",
    )?;
    let client = connect(config.clone()).await?;
    check_crds(&client).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let aws = match args.aws_backend {
        AwsBackend::Aws => {
            let aws =
                crate::aws::sdk::services(args.aws_region.clone(), args.aws_endpoint_url.clone())
                    .await;
            if aws.region.is_empty() {
                tracing::warn!("no AWS region configured: set --aws-region or AWS_REGION");
            }
            aws
        }
        AwsBackend::Sim => {
            let timings = crate::sim::aws::Timings::playground();
            let (sim, defaults) = match &args.sim_state {
                Some(dir) => {
                    let (sim, defaults, resumed) =
                        crate::sim::aws::AwsSim::playground_in(dir, args.sim_speed, timings)
                            .with_context(|| {
                                format!(
                                    "cannot keep the simulated AWS world in {} (--sim-state)",
                                    dir.display()
                                )
                            })?;
                    tracing::info!(dir = %dir.display(), resumed, "simulated AWS world kept on disk");
                    (sim, defaults)
                }
                None => crate::sim::aws::AwsSim::playground(crate::sim::aws::SimConfig {
                    timings,
                    ..crate::sim::aws::SimConfig::playground(Arc::new(
                        crate::clock::ScaledClock::new(args.sim_speed),
                    ))
                }),
            };
            tracing::warn!(
                "AWS is simulated in this process (--aws-backend sim): nothing is created in AWS"
            );
            args.defaults = args.defaults.or(&defaults);
            // The SDK retries inside the adapters; the simulator gets the same policy here.
            crate::aws::retry::with_retries(
                sim.services(),
                crate::aws::retry::RetryPolicy::default(),
            )
        }
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(forward_signals(shutdown_tx));
    operate(config, &args, aws, clock, shutdown_rx).await
}

/// The operator's Kubernetes client: every request says `User-Agent: cygni/<version>`, so that
/// the API server attributes to `cygni` also the writes its libraries make without a field
/// manager (kube-runtime's finalizer patches); the operator's own writes name it explicitly.
pub fn operator_client(mut config: kube::Config) -> anyhow::Result<Client> {
    let agent = format!("{}/{}", super::FIELD_MANAGER, env!("CARGO_PKG_VERSION"));
    let value = axum::http::HeaderValue::from_str(&agent).context("user agent")?;
    config.headers.push((axum::http::header::USER_AGENT, value));
    Client::try_from(config).context("invalid Kubernetes client configuration")
}

/// Serves health and metrics, wins the leader Lease (when enabled) and runs the controllers with
/// the given client and AWS services until `shutdown` turns true or leadership is lost.
pub async fn operate(
    config: kube::Config,
    args: &RunArgs,
    aws: AwsServices,
    clock: Arc<dyn Clock>,
    shutdown_rx: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let client = operator_client(config)?;
    let metrics = Arc::new(Metrics::default());
    let aws = crate::aws::metered::with_metrics(aws, metrics.clone());
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {} (--listen-addr)", args.listen_addr))?;
    let server = {
        let router = telemetry::router(metrics.clone(), health.clone());
        let stop = stopped(shutdown_rx.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(%error, "metrics server stopped");
            }
        })
    };

    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let settings = Settings {
        defaults: args.defaults.clone(),
        policy: args.policy.clone(),
        resync_period: args.resync_period,
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        EventPublisher::new(client.clone(), REPORTER, &identity),
        metrics.clone(),
        clock.clone(),
        settings,
        aws,
    ));
    health.set_ready(true);

    let elector = if args.leader_election {
        let namespace = lease_namespace(args);
        let elector = LeaderElector::new(
            client.clone(),
            &namespace,
            args.lease_name.clone(),
            identity,
            args.lease_duration,
            clock,
        );
        tracing::info!(lease = %args.lease_name, %namespace, identity = elector.identity(), "waiting for leadership");
        tokio::select! {
            () = elector.acquire() => {}
            () = stopped(shutdown_rx.clone()) => {
                let _ = server.await;
                return Ok(());
            }
        }
        Some(elector)
    } else {
        None
    };
    metrics.leader.set(1);

    let controllers = within_grace(
        run_controllers(ctx, args, shutdown_rx.clone()),
        shutdown_rx.clone(),
    );
    let outcome = match &elector {
        Some(elector) => tokio::select! {
            () = controllers => Ok(()),
            lost = elector.hold() => Err(anyhow::Error::new(lost)),
        },
        None => {
            controllers.await;
            Ok(())
        }
    };
    metrics.leader.set(0);
    if let Some(elector) = &elector
        && tokio::time::timeout(RELEASE_TIMEOUT, elector.release())
            .await
            .is_err()
    {
        tracing::warn!("the Lease was not released in time; a successor waits for it to expire");
    }
    let _ = server.await;
    outcome
}

/// Where the leader Lease lives when `--lease-namespace` (or `POD_NAMESPACE`) is not set, outside
/// a pod: the namespace the documented chart install uses, so that an operator started by hand
/// against a cluster where the chart runs competes for the same Lease instead of acting beside it.
pub const DEFAULT_LEASE_NAMESPACE: &str = "cygni-system";

/// The namespace of the pod's service account, in a pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The Lease namespace: `--lease-namespace` (or `POD_NAMESPACE`, which the chart sets), else the
/// pod's namespace, else [`DEFAULT_LEASE_NAMESPACE`]. The client's namespace (a kubeconfig
/// context's) is never used: it differs from one user to the next.
pub fn lease_namespace(args: &RunArgs) -> String {
    args.lease_namespace
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                .ok()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_LEASE_NAMESPACE.to_string())
}

/// Builds a client from the in-cluster service account or `KUBECONFIG`, and proves the API server
/// answers, so a wrong or unreachable cluster is one clear line at startup.
async fn connect(config: kube::Config) -> anyhow::Result<Client> {
    let url = config.cluster_url.clone();
    let client = operator_client(config)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(version)) => {
            tracing::info!(%url, version = %version.git_version, "connected to the Kubernetes API");
            Ok(client)
        }
        Ok(Err(error)) => bail!(
            "cannot reach the Kubernetes API server at {url}: {}",
            super::describe_connection(&error)
        ),
        Err(_) => bail!(
            "cannot reach the Kubernetes API server at {url}: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

/// Proves the API server at `url` answers within the connect timeout, so a wrong or unreachable
/// cluster is one clear line.
pub async fn probe(client: &Client, url: &str) -> anyhow::Result<()> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => bail!(
            "cannot reach the Kubernetes API server at {url}: {}",
            super::describe_connection(&error)
        ),
        Err(_) => bail!(
            "cannot reach the Kubernetes API server at {url}: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

/// Fails with an actionable message when the CRDs are not installed or not readable.
async fn check_crds(client: &Client) -> anyhow::Result<()> {
    let probe = ListParams::default().limit(1);
    let checks = [
        (
            "apps.cygni.io",
            Api::<App>::all(client.clone())
                .list_metadata(&probe)
                .await
                .err(),
        ),
        (
            "deployments.cygni.io",
            Api::<Deployment>::all(client.clone())
                .list_metadata(&probe)
                .await
                .err(),
        ),
        (
            "domains.cygni.io",
            Api::<Domain>::all(client.clone())
                .list_metadata(&probe)
                .await
                .err(),
        ),
    ];
    for (crd, error) in checks {
        match error {
            None => {}
            Some(kube::Error::Api(status)) if status.code == 404 => {
                bail!(
                    "CRD {crd} is not installed: run `kubectl apply -f crds/` or install the Helm chart"
                )
            }
            // A namespaced RBAC setup may forbid cluster-wide lists; the controllers will tell.
            Some(kube::Error::Api(status)) if status.code == 403 => {}
            Some(other) => bail!("cannot read {crd}: {}", super::describe_kube(&other)),
        }
    }
    Ok(())
}

/// Runs the App, Deployment and Domain controllers for every watched namespace until shutdown.
async fn run_controllers(ctx: Arc<Context>, args: &RunArgs, shutdown: watch::Receiver<bool>) {
    let scopes: Vec<Option<String>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().cloned().map(Some).collect()
    };
    let config = controller::Config::default().concurrency(args.concurrency);
    let mut all = Vec::new();
    let mut stores = Vec::new();
    for scope in scopes {
        let client = ctx.client.clone();
        let apps = scoped::<App>(&client, scope.as_deref());
        let deployments = scoped::<Deployment>(&client, scope.as_deref());
        let domains = scoped::<Domain>(&client, scope.as_deref());
        let apps_for_deployments = apps.clone();
        let apps_for_domains = apps.clone();
        let app_controller = Controller::new(apps, watcher::Config::default().any_semantic())
            // A Deployment's phase, weights and scale (or its going away) are what its App plans
            // from; the rest of its status (analysis measurements, step times) is not. A rolling
            // Deployment's status only restates the App's (its phase is computed from it), and a
            // Deployment without status is one the App has just created.
            .watches(
                deployments.clone(),
                watcher::Config::default().any_semantic(),
                {
                    let seen = Changes::default();
                    let memo = ctx.memo.clone();
                    move |deployment: Deployment| {
                        let rolling = deployment.spec.strategy.kind()
                            == crate::api::strategy::StrategyKind::Rolling;
                        let status =
                            deployment.status.clone().filter(|_| !rolling).map(|s| {
                                (s.phase, s.desired_weight, s.desired_replicas, s.message)
                            });
                        let planned = (
                            deployment.spec.revision,
                            deployment.spec.template_hash.clone(),
                            status,
                            deployment.metadata.deletion_timestamp.is_some(),
                        );
                        let first = !seen.knows(&deployment);
                        if !seen.changed(&deployment, planned)
                            || (first && deployment.status.is_none())
                        {
                            return None;
                        }
                        let app = app_of_deployment(&deployment)?;
                        memo.mark(
                            &memo::key_of(app.namespace.as_deref().unwrap_or_default(), &app.name),
                            "a Deployment changed",
                        );
                        Some(app)
                    }
                },
            )
            // A Domain's routable hostnames (or its deletion) change the App's rule; its other
            // status writes do not.
            .watches(
                domains.clone(),
                watcher::Config::default().any_semantic(),
                {
                    let seen = Changes::default();
                    let memo = ctx.memo.clone();
                    move |domain: Domain| {
                        let routed = (
                            domain.spec.app_ref.name.clone(),
                            domain.metadata.deletion_timestamp.is_some(),
                            domain.status.as_ref().map(|s| s.routable_hostnames.clone()),
                        );
                        if !seen.changed(&domain, routed) {
                            return None;
                        }
                        let app = app_of_domain(domain)?;
                        memo.mark(
                            &memo::key_of(app.namespace.as_deref().unwrap_or_default(), &app.name),
                            "a Domain changed",
                        );
                        Some(app)
                    }
                },
            )
            // The shared AWS view wakes the Apps whose part changed.
            .reconcile_on(ctx.memo.wakes(scope.as_deref()))
            .with_config(config.clone())
            .graceful_shutdown_on(stopped(shutdown.clone()))
            .run(app::reconcile, error_policy, ctx.clone())
            .for_each(log_outcome)
            .boxed();
        let deployment_controller =
            Controller::new(deployments, watcher::Config::default().any_semantic());
        stores.push(deployment_controller.store());
        let deployment_controller = deployment_controller
            .watches(
                apps_for_deployments,
                watcher::Config::default().any_semantic(),
                deployments_of,
            )
            .with_config(config.clone())
            .graceful_shutdown_on(stopped(shutdown.clone()))
            .run(deployment::reconcile, error_policy, ctx.clone())
            .for_each(log_outcome)
            .boxed();
        let domain_controller =
            Controller::new(domains.clone(), watcher::Config::default().any_semantic());
        let domain_store = domain_controller.store();
        ctx.add_domain_store(domain_store.clone());
        let rivals_store = domain_store.clone();
        let domain_controller = domain_controller
            // A Domain that goes away (or changes) may free a hostname another one waits for.
            .watches(
                domains,
                watcher::Config::default().any_semantic(),
                move |domain: Domain| rivals_of(&rivals_store, &domain),
            )
            // The App's listener and load balancer are where a Domain points; the rest of its
            // status does not concern its Domains.
            .watches(
                apps_for_domains,
                watcher::Config::default().any_semantic(),
                {
                    let seen = Changes::default();
                    move |app: App| {
                        let target = (
                            app.spec.routing.listener_arn.clone(),
                            app.status
                                .as_ref()
                                .and_then(|s| s.load_balancer.as_ref())
                                .map(|lb| lb.dns_name.clone()),
                            app.metadata.deletion_timestamp.is_some(),
                        );
                        if seen.changed(&app, target) {
                            domains_of_app(&domain_store, &app)
                        } else {
                            Vec::new()
                        }
                    }
                },
            )
            .with_config(config.clone())
            .graceful_shutdown_on(stopped(shutdown.clone()))
            .run(domain::reconcile, error_policy, ctx.clone())
            .for_each(log_outcome)
            .boxed();
        all.extend([app_controller, deployment_controller, domain_controller]);
    }
    ctx.metrics.count_rollouts_with(move || {
        stores
            .iter()
            .flat_map(|store| store.state())
            .map(|d| deployment::census_entry(&d))
            .collect()
    });
    all.push(observe(ctx.clone(), shutdown.clone()).boxed());
    tracing::info!(controllers = all.len(), "controllers running");
    futures::future::join_all(all).await;
    tracing::info!("controllers stopped");
}

/// Keeps the shared AWS view current until shutdown: a pass over everything every resync period,
/// and the changing services every few seconds; the Apps whose part changed are woken.
async fn observe(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) {
    let work = async {
        let mut pass =
            tokio::time::interval(ctx.settings.resync_period.max(Duration::from_secs(1)));
        let mut poll = tokio::time::interval(super::view::SETTLE_POLL);
        pass.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first ticks are immediate, when the view is still empty.
        pass.tick().await;
        poll.tick().await;
        loop {
            // The view wakes the Apps whose part changed as it finds them.
            tokio::select! {
                _ = pass.tick() => ctx.view.pass().await,
                _ = poll.tick() => ctx.view.poll_settling().await,
            };
        }
    };
    tokio::select! {
        () = work => {}
        () = stopped(shutdown) => {}
    }
}

/// The App a Deployment belongs to: its controller owner.
fn app_of_deployment(deployment: &Deployment) -> Option<ObjectRef<App>> {
    let namespace = deployment.namespace()?;
    let owner = deployment
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == App::kind(&()))?;
    Some(ObjectRef::new(&owner.name).within(&namespace))
}

/// The App a Domain routes to.
fn app_of_domain(domain: Domain) -> Option<ObjectRef<App>> {
    let namespace = domain.namespace()?;
    Some(ObjectRef::new(&domain.spec.app_ref.name).within(&namespace))
}

fn domains_of_app(
    store: &kube::runtime::reflector::Store<Domain>,
    app: &App,
) -> Vec<ObjectRef<Domain>> {
    let namespace = app.namespace().unwrap_or_default();
    let name = app.name_any();
    store
        .state()
        .iter()
        .filter(|d| d.spec.app_ref.name == name && d.namespace().as_deref() == Some(&namespace))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

/// What a watch mapper last saw of each object, so that it triggers a reconcile only when the
/// part it cares about changed (the first sighting counts as a change).
struct Changes<T> {
    seen: std::sync::Mutex<std::collections::HashMap<String, T>>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Changes {
            seen: std::sync::Mutex::default(),
        }
    }
}

/// Objects remembered per mapper before it starts afresh (everything then counts as changed
/// once).
const REMEMBERED: usize = 100_000;

impl<T: PartialEq> Changes<T> {
    /// Whether the mapper saw this object before.
    fn knows<K: Resource>(&self, object: &K) -> bool {
        let key = object.meta().uid.clone().unwrap_or_default();
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key)
    }

    fn changed<K: Resource>(&self, object: &K, now: T) -> bool {
        let key = object.meta().uid.clone().unwrap_or_default();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        match seen.get(&key) {
            Some(before) if *before == now => false,
            _ => {
                seen.insert(key, now);
                true
            }
        }
    }
}

/// The other Domains (in any watched namespace) that name one of `domain`'s hostnames.
fn rivals_of(
    store: &kube::runtime::reflector::Store<Domain>,
    domain: &Domain,
) -> Vec<ObjectRef<Domain>> {
    let names = |d: &Domain| -> Vec<String> {
        std::iter::once(&d.spec.hostname)
            .chain(&d.spec.aliases)
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
            .collect()
    };
    let mine = names(domain);
    store
        .state()
        .iter()
        .filter(|d| d.uid() != domain.uid())
        .filter(|d| names(d).iter().any(|h| mine.contains(h)))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn deployments_of(app: App) -> Vec<ObjectRef<Deployment>> {
    let Some(status) = app.status.as_ref() else {
        return Vec::new();
    };
    let namespace = app.namespace().unwrap_or_default();
    let mut revisions: Vec<i64> = [
        status.current_revision,
        status.stable_revision,
        status.failed_revision,
    ]
    .into_iter()
    .flatten()
    .collect();
    revisions.sort_unstable();
    revisions.dedup();
    revisions
        .into_iter()
        .map(|r| ObjectRef::new(&naming::deployment_name(&app.name_any(), r)).within(&namespace))
        .collect()
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// How long running reconciles may take once shutdown is asked for. With [`RELEASE_TIMEOUT`] it
/// stays under Kubernetes' default termination grace period of 30 s, so the operator ends by
/// itself before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How long releasing the Lease may take at shutdown; without it a successor waits for expiry.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `work` until it ends; once `shutdown` turns true it gets [`SHUTDOWN_GRACE`] to finish.
async fn within_grace(
    work: impl std::future::Future<Output = ()>,
    shutdown: watch::Receiver<bool>,
) {
    tokio::pin!(work);
    tokio::select! {
        () = &mut work => return,
        () = stopped(shutdown) => {}
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, work).await.is_err() {
        tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "reconciles still running at shutdown were stopped"
        );
    }
}

async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn log_outcome<K, E>(
    outcome: Result<(ObjectRef<K>, Action), controller::Error<E, watcher::Error>>,
) where
    K: Resource<DynamicType = ()>,
    E: std::fmt::Display,
{
    match outcome {
        Ok((object, _)) => tracing::debug!(%object, "reconciled"),
        // Logged with its retry delay by error_policy.
        Err(controller::Error::ReconcilerFailed(..)) => {}
        // Deleted between being queued and reconciled: nothing is left to do.
        Err(error @ controller::Error::ObjectNotFound(_)) => tracing::debug!(%error),
        // The API server compacted past the watch's resourceVersion: the watcher lists again,
        // which is routine.
        Err(controller::Error::QueueError(watcher::Error::WatchError(status)))
            if status.code == 410 =>
        {
            tracing::debug!(message = %status.message, "watch expired; listing again");
        }
        // A failing watch (RBAC, an unreachable API server) stops all reconciles of its kind until
        // it recovers; the watcher retries with backoff, but the operator must say so.
        Err(controller::Error::QueueError(error)) => {
            let error = describe_watch(&error);
            tracing::warn!(%error, "watch failed; retrying")
        }
        Err(error) => tracing::warn!(%error, "controller failed; retrying"),
    }
}

/// One sentence for a failed watch, without the `Debug` dump kube's errors carry.
fn describe_watch(error: &watcher::Error) -> String {
    match error {
        watcher::Error::InitialListFailed(e) => {
            format!(
                "cannot list the objects to watch: {}",
                super::describe_kube(e)
            )
        }
        watcher::Error::WatchStartFailed(e) => {
            format!("cannot start watching: {}", super::describe_kube(e))
        }
        watcher::Error::WatchFailed(e) => {
            format!("the watch stream broke: {}", super::describe_kube(e))
        }
        watcher::Error::WatchError(status) => format!(
            "the API server ended the watch with {} {}: {}",
            status.code, status.reason, status.message
        ),
        other => other.to_string(),
    }
}

/// Turns SIGTERM or Ctrl-C into a shutdown broadcast.
async fn forward_signals(shutdown: watch::Sender<bool>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
    let _ = shutdown.send(true);
}

fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "cygni".to_string());
    format!("{host}-{:08x}", rand::random::<u32>())
}
