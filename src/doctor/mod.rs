//! `cygni doctor`: pre-flight checks of everything the operator needs, each one line (pass, warn
//! or fail, what was seen, and the fix): the Kubernetes API, the CRDs of this version, the
//! operator's RBAC, AWS credentials and region, the ECS clusters, subnets and security groups,
//! the listeners, the hosted zones Domains may use, and the IAM actions. It reads the same flags
//! and environment variables as `cygni run`, so run with the chart's environment it checks what
//! the operator will use. It changes nothing, and exits non-zero when a check fails.
//!
//! [`report`] holds the result and its rendering, [`kube`], [`aws`] and [`iam`] the checks (pure
//! functions of what was read) and the reads.

pub mod aws;
pub mod iam;
pub mod kube;
pub mod report;

use crate::config::{AwsBackend, RunArgs};
use clap::{Args, ValueEnum};
use report::Report;
use std::path::PathBuf;

/// How the report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// One line per check, the fix under each warning and failure.
    Text,
    /// One JSON document: counts and checks.
    Json,
}

/// Options of `cygni doctor`: its own, then every flag of `cygni run`. The flags that only
/// shape the running operator (resync, concurrency, metrics address, leader election) are still
/// accepted, so one set of flags or variables serves both commands, but left out of the help.
#[derive(Args, Clone, Debug)]
#[command(
    mut_arg("resync_period", |a| a.hide(true)),
    mut_arg("concurrency", |a| a.hide(true)),
    mut_arg("listen_addr", |a| a.hide(true)),
    mut_arg("leader_election", |a| a.hide(true)),
    mut_arg("lease_name", |a| a.hide(true)),
    mut_arg("lease_namespace", |a| a.hide(true)),
    mut_arg("lease_duration", |a| a.hide(true)),
    mut_arg("identity", |a| a.hide(true))
)]
pub struct DoctorArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
    pub output: Output,

    /// Kubeconfig file. Defaults to KUBECONFIG, then ~/.kube/config, then the pod's service
    /// account.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,

    /// The operator's service account, `<namespace>/<name>`, whose RBAC is checked.
    #[arg(long, env = "CYGNI_SERVICE_ACCOUNT", default_value = kube::DEFAULT_SERVICE_ACCOUNT, value_name = "NAMESPACE/NAME")]
    pub service_account: String,

    /// The operator's IAM role, whose policy is simulated. Defaults to the role (or user) of the
    /// credentials doctor runs with.
    #[arg(long, env = "CYGNI_OPERATOR_ROLE_ARN", value_name = "ARN")]
    pub operator_role_arn: Option<String>,

    /// The operator's settings, as `cygni run` reads them.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The Kubernetes client of the kubeconfig (or service account) the options name, and its URL.
async fn connect(args: &DoctorArgs) -> anyhow::Result<(::kube::Client, String)> {
    use anyhow::Context as _;
    let options = ::kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match &args.kubeconfig {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            let kubeconfig = ::kube::config::Kubeconfig::from_yaml(&text)
                .map_err(|e| anyhow::anyhow!("kubeconfig {} is not valid: {e}", path.display()))?;
            ::kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| anyhow::anyhow!("kubeconfig {}: {e}", path.display()))?
        }
        None if args.context.is_some() => ::kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| anyhow::anyhow!("kubeconfig: {e}"))?,
        None => ::kube::Config::infer().await.map_err(|_| {
            anyhow::anyhow!(
                "no Kubernetes configuration: set KUBECONFIG, pass --kubeconfig, or run in a pod"
            )
        })?,
    };
    let url = config.cluster_url.to_string();
    let client = crate::controller::runtime::operator_client(config)?;
    Ok((client, url))
}

/// The AWS account doctor looks at, and the operator defaults `cygni run` would add to the
/// flags' (with `--aws-backend sim`, those of the playground setup the kept world holds).
fn account(run: &RunArgs) -> anyhow::Result<Option<crate::sim::aws::AwsSim>> {
    use anyhow::Context as _;
    if run.aws_backend != AwsBackend::Sim {
        return Ok(None);
    }
    let kept = match &run.sim_state {
        Some(dir) => crate::sim::aws::AwsSim::load(dir)
            .with_context(|| format!("cannot read the simulated AWS world in {}", dir.display()))?,
        None => None,
    };
    Ok(Some(kept.unwrap_or_else(empty_account)))
}

/// A simulated account with nothing in it but its default VPC, whose IDs differ from the
/// playground's (it is another account's).
pub fn empty_account() -> crate::sim::aws::AwsSim {
    crate::sim::aws::AwsSim::new(crate::sim::aws::SimConfig {
        seed: 0x0e3d_7a11,
        ..crate::sim::aws::SimConfig::default()
    })
}

/// Runs every check.
pub async fn report(
    client: &::kube::Client,
    url: &str,
    account: &aws::Account,
    args: &DoctorArgs,
) -> anyhow::Result<Report> {
    let service_account = kube::ServiceAccount::parse(&args.service_account)
        .map_err(|e| anyhow::anyhow!("--service-account: {e}"))?;
    let scope = kube::Scope {
        namespaces: args.run.namespaces.clone(),
        leader_election: args.run.leader_election,
        lease_namespace: crate::controller::runtime::lease_namespace(&args.run),
        lease_name: args.run.lease_name.clone(),
    };
    let mut report = Report::default();
    report.extend(kube::checks(client, url, &service_account, &scope).await);
    report.extend(
        aws::checks(
            account,
            &args.run.defaults,
            &args.run.policy,
            args.operator_role_arn.as_deref(),
        )
        .await,
    );
    Ok(report)
}

/// `cygni doctor`: prints the report; `Ok(false)` when a check failed.
pub async fn run(mut args: DoctorArgs) -> anyhow::Result<bool> {
    let (client, url) = connect(&args).await?;
    let account = match account(&args.run)? {
        Some(sim) => {
            args.run.defaults = args.run.defaults.or(&sim.playground_defaults_found());
            aws::Account::sim(&sim)
        }
        None => {
            aws::Account::sdk(
                args.run.aws_region.clone(),
                args.run.aws_endpoint_url.clone(),
            )
            .await
        }
    };
    let report = report(&client, &url, &account, &args).await?;
    let text = match args.output {
        Output::Text => report.to_text(),
        Output::Json => report.to_json(),
    };
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(!report.failed())
}
