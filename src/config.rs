//! Operator configuration: the flags and environment variables of `cygni run`, parsed by clap, and
//! the defaults and policy the controllers apply to every object.

use clap::{ArgAction, Args, ValueEnum};
use std::net::SocketAddr;
use std::time::Duration;

/// Which AWS implementation the controllers talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AwsBackend {
    /// The real AWS APIs through the AWS SDK (optionally at `--aws-endpoint-url`).
    Aws,
    /// The in-process AWS simulator, for development and demos.
    Sim,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Everything `cygni run` is configured with.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Namespaces to watch, comma-separated. Empty: all namespaces.
    #[arg(long, env = "CYGNI_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// AWS region of the ECS cluster, load balancers and certificates. Defaults to the SDK's region
    /// chain (AWS_REGION, profile, instance metadata).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,

    /// Send every AWS call to this endpoint instead of the public one (a local emulator such as moto).
    #[arg(long, env = "CYGNI_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// AWS implementation: `aws` (real APIs) or `sim` (in-process simulator).
    #[arg(long, env = "CYGNI_AWS_BACKEND", value_enum, default_value_t = AwsBackend::Aws)]
    pub aws_backend: AwsBackend,

    /// With `--aws-backend sim`: keep the simulated AWS world in this folder (written after every
    /// call, read back at start), so the operator can be killed and started again against the
    /// same world. Without it the world lives in memory only.
    #[arg(long, env = "CYGNI_SIM_STATE", value_name = "DIR")]
    pub sim_state: Option<std::path::PathBuf>,

    /// With `--aws-backend sim`: how much faster than real time simulated AWS runs.
    #[arg(long, env = "CYGNI_SIM_SPEED", default_value_t = 1.0)]
    pub sim_speed: f64,

    /// Defaults applied to Apps that leave these fields empty.
    #[command(flatten)]
    pub defaults: OperatorDefaults,

    /// Limits on what Apps and Domains may use.
    #[command(flatten)]
    pub policy: Policy,

    /// How often every object is reconciled even when nothing changed (drift detection), e.g. `5m`;
    /// each object's resync is spread ±10% around it.
    #[arg(long, env = "CYGNI_RESYNC_PERIOD", default_value = "5m", value_parser = parse_duration)]
    pub resync_period: Duration,

    /// Objects of one kind reconciled in parallel.
    #[arg(long, env = "CYGNI_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Address of the HTTP server for `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "CYGNI_LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,

    /// Elect one active replica through a coordination.k8s.io Lease. Disable only when a single
    /// replica runs.
    #[arg(long, env = "CYGNI_LEADER_ELECTION", default_value_t = true, action = ArgAction::Set)]
    pub leader_election: bool,

    /// Name of the leader election Lease.
    #[arg(long, env = "CYGNI_LEASE_NAME", default_value = "cygni-operator")]
    pub lease_name: String,

    /// Namespace of the leader election Lease. Defaults to the pod's namespace, else
    /// `cygni-system` (where the chart is installed): never the kubeconfig's namespace, so that an
    /// operator started by hand competes with the chart's for the same Lease.
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Seconds a leader's Lease stays valid without renewal; the leader renews every third of it.
    #[arg(long, env = "CYGNI_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// Identity of this replica in the Lease. Defaults to the pod name, else the host name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

/// Defaults for fields an App may leave empty.
#[derive(Args, Clone, Debug, Default, PartialEq)]
pub struct OperatorDefaults {
    /// ECS cluster for Apps without `spec.cluster`.
    #[arg(long, env = "CYGNI_ECS_CLUSTER")]
    pub ecs_cluster: Option<String>,

    /// Subnet IDs for Apps without `spec.network.subnets`, comma-separated.
    #[arg(long, env = "CYGNI_SUBNETS", value_delimiter = ',')]
    pub subnets: Vec<String>,

    /// Security group IDs for Apps without `spec.network.securityGroups`, comma-separated.
    #[arg(long, env = "CYGNI_SECURITY_GROUPS", value_delimiter = ',')]
    pub security_groups: Vec<String>,

    /// ALB listener ARN for Apps without `spec.routing.listenerArn`.
    #[arg(long, env = "CYGNI_LISTENER_ARN")]
    pub listener_arn: Option<String>,

    /// Listener of the same ALB (a test port, reachable only from inside) where blue-green Apps
    /// without `spec.strategy.blueGreen.previewListenerArn` answer before the switch. Unset: no
    /// preview.
    #[arg(long, env = "CYGNI_PREVIEW_LISTENER_ARN")]
    pub preview_listener_arn: Option<String>,

    /// Task execution role ARN for Apps without `spec.iam.executionRoleArn`. Fargate needs one to
    /// pull from ECR, send logs and read secrets.
    #[arg(long, env = "CYGNI_EXECUTION_ROLE_ARN")]
    pub execution_role_arn: Option<String>,
}

impl OperatorDefaults {
    /// These defaults, with each unset one taken from `fallback`.
    pub fn or(&self, fallback: &OperatorDefaults) -> OperatorDefaults {
        fn list(a: &[String], b: &[String]) -> Vec<String> {
            if a.is_empty() { b.to_vec() } else { a.to_vec() }
        }
        OperatorDefaults {
            ecs_cluster: self
                .ecs_cluster
                .clone()
                .or_else(|| fallback.ecs_cluster.clone()),
            subnets: list(&self.subnets, &fallback.subnets),
            security_groups: list(&self.security_groups, &fallback.security_groups),
            listener_arn: self
                .listener_arn
                .clone()
                .or_else(|| fallback.listener_arn.clone()),
            preview_listener_arn: self
                .preview_listener_arn
                .clone()
                .or_else(|| fallback.preview_listener_arn.clone()),
            execution_role_arn: self
                .execution_role_arn
                .clone()
                .or_else(|| fallback.execution_role_arn.clone()),
        }
    }
}

/// What Apps and Domains may refer to. An empty list allows anything.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct Policy {
    /// ECS clusters Apps may use, comma-separated (names or ARNs).
    #[arg(long, env = "CYGNI_ALLOWED_CLUSTERS", value_delimiter = ',')]
    pub allowed_clusters: Vec<String>,

    /// ALB listener ARNs Apps may attach to, comma-separated.
    #[arg(long, env = "CYGNI_ALLOWED_LISTENERS", value_delimiter = ',')]
    pub allowed_listeners: Vec<String>,

    /// Route53 hosted zones Domains may write to, comma-separated, by ID (`Z...`) or name.
    #[arg(long, env = "CYGNI_ALLOWED_HOSTED_ZONES", value_delimiter = ',')]
    pub allowed_hosted_zones: Vec<String>,

    /// Names this operator installation in the DNS ownership records it writes (like
    /// external-dns's `--txt-owner-id`). Installations that share a hosted zone need different
    /// ones; changing it orphans the records already written.
    #[arg(long, env = "CYGNI_DNS_OWNER_ID", default_value = DEFAULT_DNS_OWNER_ID)]
    pub dns_owner_id: String,
}

/// The DNS owner ID when none is given.
pub const DEFAULT_DNS_OWNER_ID: &str = "default";

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_clusters: Vec::new(),
            allowed_listeners: Vec::new(),
            allowed_hosted_zones: Vec::new(),
            dns_owner_id: DEFAULT_DNS_OWNER_ID.to_string(),
        }
    }
}

/// Parses a duration written as `30s`, `5m`, `1h30m` (or ISO 8601, `PT5M`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let signed: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a duration like 30s, 5m or 1h30m: {e}"))?;
    Duration::try_from(signed).map_err(|_| format!("`{text}` must not be negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_the_short_forms_users_write() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn negative_or_garbled_durations_are_refused_with_the_input_named() {
        assert!(parse_duration("-5m").unwrap_err().contains("-5m"));
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
    }
}
