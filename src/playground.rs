//! `cygni playground`: the operator, a Kubernetes API server and AWS, all in one process on
//! loopback. The API server is the simulator in `sim::kube` (real kubectl and the real kube client
//! talk to it), AWS is the simulator in `sim::aws`, and the controllers are the same code
//! `cygni run` runs. Nothing leaves the machine.

use crate::api::crd;
use crate::aws::retry::{RetryPolicy, with_retries};
use crate::clock::{Clock, ScaledClock, SystemClock};
use crate::config::{OperatorDefaults, RunArgs};
use crate::controller::runtime;
use crate::sim::aws::{AwsSim, SimConfig, Timings};
use crate::sim::kube::{ApiServer, RunningServer};
use anyhow::{Context as _, bail};
use clap::{Args, Parser};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// Field manager of what the playground applies.
const FIELD_MANAGER: &str = "cygni-playground";

/// Name of the ClusterRole, ClusterRoleBinding and Lease Role the playground grants the operator.
const PLAYGROUND_RBAC: &str = "cygni";

/// The operator's service account in the playground: the chart's default.
const PLAYGROUND_SERVICE_ACCOUNT: &str = "cygni";

/// The file of the Kubernetes objects, in the state folder.
const KUBE_STATE: &str = "kube.json";

/// Options of `cygni playground`.
#[derive(Args, Clone, Debug)]
pub struct PlaygroundArgs {
    /// Loopback port of the Kubernetes API (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,

    /// Where to write the kubeconfig for kubectl.
    #[arg(long, default_value = ".cygni/kubeconfig")]
    pub kubeconfig: PathBuf,

    /// Manifests (files or folders of YAML) to apply once the operator runs.
    #[arg(long = "apply", value_name = "PATH")]
    pub apply: Vec<PathBuf>,

    /// How much faster than real time simulated AWS runs (task start-up, health checks, DNS
    /// propagation, certificate issuance). The operator keeps real time: rollout pauses and
    /// delays last what they say.
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,

    /// Address of the operator's `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen_addr: SocketAddr,

    /// How often every object is reconciled even when nothing changed.
    #[arg(long, default_value = "30s", value_parser = crate::config::parse_duration)]
    pub resync_period: std::time::Duration,

    /// Objects of one kind reconciled in parallel.
    #[arg(long, default_value_t = 4)]
    pub concurrency: u16,

    /// Where the Kubernetes objects and the simulated AWS world are kept between runs (written
    /// as they change, read back at start).
    #[arg(long, value_name = "DIR", default_value = ".cygni/state")]
    pub state: Option<PathBuf>,

    /// Start empty: forget the objects and the AWS world kept from earlier runs.
    #[arg(long)]
    pub fresh: bool,

    /// Client-side retries of simulated AWS calls (the SDK's standard policy by default).
    #[arg(skip)]
    pub retry: RetryPolicy,

    /// Whether the playground runs the operator. Tests that start operators of their own turn it
    /// off.
    #[arg(skip = true)]
    pub operator: bool,
}

impl PlaygroundArgs {
    /// Settings for tests: free ports, no kubeconfig file, AWS at `speed` times real time, and a
    /// resync every `resync`.
    pub fn for_tests(speed: f64, resync: std::time::Duration) -> Self {
        PlaygroundArgs {
            port: 0,
            kubeconfig: PathBuf::new(),
            apply: Vec::new(),
            speed,
            listen_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            resync_period: resync,
            concurrency: 16,
            state: None,
            fresh: false,
            // Simulated AWS runs faster than real time; so do its client's backoffs.
            retry: RetryPolicy {
                max_attempts: 5,
                base: std::time::Duration::from_millis(50),
                max_backoff: std::time::Duration::from_secs(1),
            },
            operator: true,
        }
    }
}

/// A running playground.
pub struct Playground {
    api: RunningServer,
    sim: AwsSim,
    defaults: OperatorDefaults,
    clock: Arc<dyn Clock>,
    shutdown: watch::Sender<bool>,
    operator: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Playground {
    /// Starts the API server, installs the CRDs, and runs the operator against it with simulated
    /// AWS.
    pub async fn start(args: &PlaygroundArgs) -> anyhow::Result<Playground> {
        let server = ApiServer::new();
        if let Some(dir) = &args.state {
            if args.fresh {
                match std::fs::remove_dir_all(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot empty {}", dir.display()));
                    }
                }
            }
            server.keep_in(&dir.join(KUBE_STATE)).with_context(|| {
                format!("cannot keep the Kubernetes objects in {}", dir.display())
            })?;
        }
        for definition in crd::all() {
            server
                .install_crd(&definition)
                .context("installing the CRDs")?;
        }
        // Where the chart is installed, and so where the operator's Lease lives by default.
        server
            .create_namespace(runtime::DEFAULT_LEASE_NAMESPACE)
            .context("creating the operator's namespace")?;
        let api = server
            .serve(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{} (--port)", args.port))?;
        // The RBAC the chart's default install grants the operator, so that `cygni doctor` finds
        // the playground set up as a cluster would be.
        crate::controller::permissions::grant(
            &api.client(),
            PLAYGROUND_RBAC,
            runtime::DEFAULT_LEASE_NAMESPACE,
            PLAYGROUND_SERVICE_ACCOUNT,
            crate::controller::permissions::WATCH_RULES,
            runtime::DEFAULT_LEASE_NAMESPACE,
            &operator_args(args)?.lease_name,
        )
        .await
        .context("granting the operator's RBAC")?;

        // AWS runs on a faster clock; the operator keeps real time, so timestamps in status and
        // Events are true and pauses last what they say.
        let (sim, defaults) = match &args.state {
            Some(dir) => {
                let (sim, defaults, _) =
                    AwsSim::playground_in(dir, args.speed, Timings::playground()).with_context(
                        || format!("cannot keep the simulated AWS world in {}", dir.display()),
                    )?;
                (sim, defaults)
            }
            None => AwsSim::playground(SimConfig::playground(Arc::new(ScaledClock::new(
                args.speed,
            )))),
        };
        let clock = sim.clock();
        let mut run = operator_args(args)?;
        run.defaults = run.defaults.or(&defaults);

        let (shutdown, shutdown_rx) = watch::channel(false);
        let operator = args.operator.then(|| {
            let config = api.config();
            let aws = with_retries(sim.services(), args.retry);
            let operator_clock: Arc<dyn Clock> = Arc::new(SystemClock);
            tokio::spawn(async move {
                runtime::operate(config, &run, aws, operator_clock, shutdown_rx).await
            })
        });
        Ok(Playground {
            api,
            sim,
            defaults,
            clock,
            shutdown,
            operator,
        })
    }

    /// URL of the Kubernetes API.
    pub fn url(&self) -> String {
        self.api.url()
    }

    /// A kubeconfig for the Kubernetes API.
    pub fn kubeconfig(&self) -> String {
        self.api.kubeconfig()
    }

    /// A client configuration for the API.
    pub fn config(&self) -> kube::Config {
        self.api.config()
    }

    /// A Kubernetes client for the API.
    pub fn client(&self) -> kube::Client {
        self.api.client()
    }

    /// The simulated AWS, to inspect or script.
    pub fn aws(&self) -> &AwsSim {
        &self.sim
    }

    /// The operator defaults that point at the simulated cluster, subnets, listener and role.
    pub fn operator_defaults(&self) -> &OperatorDefaults {
        &self.defaults
    }

    /// The clock simulated AWS runs on.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Stops the operator (releasing its Lease) and the API server.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let outcome = match self.operator {
            Some(operator) => operator.await.context("operator task")?,
            None => Ok(()),
        };
        self.api.shutdown().await;
        outcome
    }

    /// Stops the operator (releasing its Lease) and leaves the API server and simulated AWS
    /// running, so that what the operator alone held can be told apart from what they hold.
    pub async fn stop_operator(&mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        match self.operator.take() {
            Some(operator) => operator.await.context("operator task")?,
            None => Ok(()),
        }
    }

    /// Whether the operator stopped on its own (an error, or leadership lost).
    pub fn operator_finished(&self) -> bool {
        self.operator.as_ref().is_some_and(|o| o.is_finished())
    }
}

/// The `cygni run` settings the playground runs the operator with.
fn operator_args(args: &PlaygroundArgs) -> anyhow::Result<RunArgs> {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        run: RunArgs,
    }
    let listen = args.listen_addr.to_string();
    let resync = format!("{}ms", args.resync_period.as_millis());
    let concurrency = args.concurrency.to_string();
    let wrapper = Wrapper::try_parse_from([
        "cygni",
        "--listen-addr",
        listen.as_str(),
        "--resync-period",
        resync.as_str(),
        "--concurrency",
        concurrency.as_str(),
        "--identity",
        "playground",
    ])
    .context("playground operator settings")?;
    Ok(wrapper.run)
}

/// Applies every YAML document in `paths` (files, or the `.yaml`/`.yml` files of folders) with
/// server-side apply, as `kubectl apply --server-side` would. Returns what was applied.
pub async fn apply(client: &kube::Client, paths: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .context("API discovery")?;
    let mut applied = Vec::new();
    for path in paths {
        for file in manifest_files(path)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                let value: serde_json::Value = serde::Deserialize::deserialize(document)
                    .with_context(|| format!("{} is not valid YAML", file.display()))?;
                if value.is_null() {
                    continue;
                }
                let object: DynamicObject = serde_json::from_value(value).with_context(|| {
                    format!(
                        "{} holds something that is not a Kubernetes object",
                        file.display()
                    )
                })?;
                applied.push(apply_one(client, &discovery, object, &file).await?);
            }
        }
    }
    Ok(applied)
}

async fn apply_one(
    client: &kube::Client,
    discovery: &Discovery,
    object: DynamicObject,
    file: &Path,
) -> anyhow::Result<String> {
    let Some(types) = object.types.clone() else {
        bail!("{}: an object without apiVersion and kind", file.display());
    };
    let (group, version) = types
        .api_version
        .split_once('/')
        .unwrap_or(("", types.api_version.as_str()));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &types.kind);
    let Some((resource, capabilities)) = discovery.resolve_gvk(&gvk) else {
        bail!(
            "{}: the API server does not serve {} {}",
            file.display(),
            types.api_version,
            types.kind
        );
    };
    let name = object
        .metadata
        .name
        .clone()
        .context("an object without metadata.name")?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => {
            let namespace = object
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_string());
            Api::namespaced_with(client.clone(), &namespace, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}: {} {name}: {e}", file.display(), types.kind))?;
    Ok(format!("{}/{name}", types.kind.to_lowercase()))
}

fn manifest_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        Ok(files)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        bail!("{} does not exist", path.display())
    }
}

/// `cygni playground`: start, print how to use it, apply what was asked, run until Ctrl-C.
pub async fn run(args: PlaygroundArgs) -> anyhow::Result<()> {
    let playground = Playground::start(&args).await?;
    if let Some(dir) = args.kubeconfig.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&args.kubeconfig, playground.kubeconfig())
        .with_context(|| format!("writing {}", args.kubeconfig.display()))?;
    let kubeconfig = args.kubeconfig.display();
    println!(
        "Cygni playground: a Kubernetes API at {} with the operator running against simulated AWS ({}x real time).",
        playground.url(),
        args.speed
    );
    println!("  kubeconfig:  {kubeconfig}");
    match &args.state {
        Some(dir) => println!(
            "  state:       kept in {} between runs; `--fresh` starts empty",
            dir.display()
        ),
        None => println!("  state:       in memory only"),
    }
    println!("  try:         export KUBECONFIG={kubeconfig}");
    println!("               kubectl apply -f examples/");
    println!("               kubectl get cygni");
    println!("               kubectl get cxapp -w");
    println!(
        "  bad image:   set an App's image to one whose name contains `bad` to see the circuit breaker"
    );
    println!("  metrics:     http://{}/metrics", args.listen_addr);
    println!("Ctrl-C stops it.");
    if !args.apply.is_empty() {
        for applied in apply(&playground.client(), &args.apply).await? {
            println!("applied {applied}");
        }
    }
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = interval.tick() => {
                if playground.operator_finished() {
                    break;
                }
            }
        }
    }
    println!("stopping");
    playground.stop().await
}
