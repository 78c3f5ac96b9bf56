//! The `App` resource: the desired state of one service on ECS Fargate behind an ALB listener, and
//! the status the App controller reports back from AWS.

// kube's `printcolumn(...)` attributes repeat the same keys by design; clippy reads that as a mistake.
#![allow(clippy::duplicated_attributes)]

use super::strategy::{AnalysisSpec, Strategy};
use super::{DeletionPolicy, FQDN_PATTERN};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An application: one container image run as ECS Fargate tasks, routed from an ALB listener, rolled
/// out with the chosen strategy. Each change to what runs (container, health check, network, IAM,
/// logs) becomes a new revision with its own `Deployment`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "cygni.io",
    version = "v1alpha1",
    kind = "App",
    namespaced,
    status = "AppStatus",
    shortname = "cxapp",
    category = "cygni",
    doc = "An application deployed to Amazon ECS on Fargate and routed from an ALB listener.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Revision",
        type_ = "integer",
        json_path = ".status.currentRevision"
    ),
    printcolumn(
        name = "Stable",
        type_ = "integer",
        json_path = ".status.stableRevision"
    ),
    printcolumn(
        name = "Canary%",
        type_ = "integer",
        json_path = ".status.canaryWeight",
        description = "Traffic share of the new revision, read back from the listener rule"
    ),
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".spec.container.image",
        priority = 1
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        json_path = ".status.urls[0]",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(self.strategy) || !has(self.strategy.canary) || self.strategy.canary.steps.all(s, !has(s.analysis) || s.analysis.metrics.all(n, has(self.analysis) && self.analysis.metrics.exists(m, m.name == n)))"
).message("every metric named by a canary analysis step must be defined in spec.analysis.metrics").field_path(".strategy"))]
#[x_kube(validation = Rule::new(
    "!has(self.strategy) || !has(self.strategy.blueGreen) || !has(self.strategy.blueGreen.prePromotionAnalysis) || self.strategy.blueGreen.prePromotionAnalysis.metrics.all(n, has(self.analysis) && self.analysis.metrics.exists(m, m.name == n))"
).message("every metric named by blueGreen.prePromotionAnalysis must be defined in spec.analysis.metrics").field_path(".strategy"))]
#[x_kube(validation = Rule::new(
    "!has(self.strategy) || !has(self.strategy.blueGreen) || !has(self.strategy.blueGreen.postPromotionAnalysis) || self.strategy.blueGreen.postPromotionAnalysis.metrics.all(n, has(self.analysis) && self.analysis.metrics.exists(m, m.name == n))"
).message("every metric named by blueGreen.postPromotionAnalysis must be defined in spec.analysis.metrics").field_path(".strategy"))]
pub struct AppSpec {
    /// The container to run.
    pub container: ContainerSpec,
    /// Number of tasks serving the stable revision.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// ALB target group health check, also used to decide that a new revision is healthy.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Where tasks run. Omitted fields fall back to the operator's defaults.
    #[serde(default)]
    pub network: NetworkSpec,
    /// IAM roles of the task.
    #[serde(default)]
    pub iam: IamSpec,
    /// Container logs, sent to CloudWatch Logs with the `awslogs` driver.
    #[serde(default)]
    pub logs: LogsSpec,
    /// ECS cluster name or ARN. Defaults to the operator's cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: Option<String>,
    /// How requests reach the App from the ALB listener.
    #[serde(default)]
    pub routing: RoutingSpec,
    /// How a new revision is rolled out. Defaults to `rolling`.
    #[serde(default)]
    pub strategy: Strategy,
    /// Automated analysis used by canary and blue-green rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
    /// Number of past revisions (Deployment objects) kept for rollback.
    #[serde(default = "default_history")]
    #[schemars(range(min = 1, max = 100))]
    pub revision_history_limit: i32,
    /// What happens in AWS when the App is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_replicas() -> i32 {
    2
}

fn default_history() -> i32 {
    10
}

/// Everything that defines what runs: a change here is a new revision. Replicas, routing, strategy
/// and analysis are not part of it, so scaling or re-routing never starts a rollout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppTemplate {
    /// The container to run.
    pub container: ContainerSpec,
    /// Target group health check.
    pub health_check: HealthCheck,
    /// Where tasks run.
    pub network: NetworkSpec,
    /// IAM roles of the task.
    pub iam: IamSpec,
    /// Container logs.
    pub logs: LogsSpec,
    /// ECS cluster, when the App names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: Option<String>,
}

impl AppSpec {
    /// The part of the spec a revision freezes.
    pub fn template(&self) -> AppTemplate {
        AppTemplate {
            container: self.container.clone(),
            health_check: self.health_check.clone(),
            network: self.network.clone(),
            iam: self.iam.clone(),
            logs: self.logs.clone(),
            cluster: self.cluster.clone(),
        }
    }
}

/// The container of the task. Fargate accepts only some cpu/memory pairs; the schema checks them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(concat!(
    "self.cpu == 256 ? self.memory in [512, 1024, 2048] : ",
    "self.cpu == 512 ? (self.memory >= 1024 && self.memory <= 4096 && self.memory % 1024 == 0) : ",
    "self.cpu == 1024 ? (self.memory >= 2048 && self.memory <= 8192 && self.memory % 1024 == 0) : ",
    "self.cpu == 2048 ? (self.memory >= 4096 && self.memory <= 16384 && self.memory % 1024 == 0) : ",
    "self.cpu == 4096 ? (self.memory >= 8192 && self.memory <= 30720 && self.memory % 1024 == 0) : ",
    "self.cpu == 8192 ? (self.memory >= 16384 && self.memory <= 61440 && self.memory % 4096 == 0) : ",
    "(self.memory >= 32768 && self.memory <= 122880 && self.memory % 8192 == 0)"
)).message(
    "cpu and memory are not a Fargate size: 256 takes 512, 1024 or 2048; 512 takes 1024-4096; 1024 takes 2048-8192; 2048 takes 4096-16384; 4096 takes 8192-30720 (steps of 1024); 8192 takes 16384-61440 (steps of 4096); 16384 takes 32768-122880 (steps of 8192)"
).field_path(".memory"))]
pub struct ContainerSpec {
    /// Image reference, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2`. A digest
    /// (`@sha256:...`) pins it exactly.
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^[^\s]+$"))]
    pub image: String,
    /// Overrides the image's entrypoint (ECS `entryPoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 4096)))]
    pub command: Option<Vec<String>>,
    /// Arguments passed to the entrypoint (ECS `command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), inner(length(max = 4096)))]
    pub args: Option<Vec<String>>,
    /// Port the container listens on; the target group sends traffic here.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Task CPU units (1024 = one vCPU).
    #[serde(default = "default_cpu")]
    #[schemars(extend("enum" = [256, 512, 1024, 2048, 4096, 8192, 16384]))]
    pub cpu: i32,
    /// Task memory in MiB; must be valid for the chosen `cpu` on Fargate.
    #[serde(default = "default_memory")]
    #[schemars(range(min = 512, max = 122880))]
    pub memory: i32,
    /// Plain environment variables. Use `secrets` for anything sensitive.
    #[serde(default)]
    #[schemars(length(max = 200))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub env: Vec<EnvVar>,
    /// Environment variables read by ECS at task start from Secrets Manager or SSM Parameter
    /// Store. Only the ARN is stored here; the value never passes through Kubernetes or the operator.
    #[serde(default)]
    #[schemars(length(max = 100))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub secrets: Vec<SecretEnvVar>,
}

fn default_port() -> i32 {
    8080
}

fn default_cpu() -> i32 {
    256
}

fn default_memory() -> i32 {
    512
}

/// Regular expression for an environment variable name.
const ENV_NAME_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

/// A plain environment variable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    #[schemars(regex(pattern = ENV_NAME_PATTERN), length(min = 1, max = 255))]
    pub name: String,
    /// Variable value.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub value: String,
}

/// An environment variable whose value ECS injects from a secret store.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretEnvVar {
    /// Variable name.
    #[schemars(regex(pattern = ENV_NAME_PATTERN), length(min = 1, max = 255))]
    pub name: String,
    /// ARN of a Secrets Manager secret (optionally with `:json-key:version-stage:version-id`) or of
    /// an SSM parameter.
    #[schemars(
        regex(
            pattern = r"^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:[0-9]{12}:(secret:|parameter/)[^\s]+$"
        ),
        length(max = 2048)
    )]
    pub value_from: String,
}

/// ALB target group health check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.timeoutSeconds < self.intervalSeconds")
    .message("timeoutSeconds must be less than intervalSeconds").field_path(".timeoutSeconds"))]
pub struct HealthCheck {
    /// HTTP path probed on each task.
    #[serde(default = "default_health_path")]
    #[schemars(regex(pattern = r"^/[^\s]*$"), length(max = 1024))]
    pub path: String,
    /// Port probed; defaults to the container port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Seconds between probes.
    #[serde(default = "default_health_interval")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: i32,
    /// Seconds before a probe counts as failed.
    #[serde(default = "default_health_timeout")]
    #[schemars(range(min = 2, max = 120))]
    pub timeout_seconds: i32,
    /// Consecutive successes before a task is healthy.
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold: i32,
    /// Consecutive failures before a task is unhealthy.
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold: i32,
    /// HTTP codes that count as healthy, e.g. `200` or `200-399`.
    #[serde(default = "default_matcher")]
    #[schemars(
        regex(pattern = r"^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$"),
        length(max = 64)
    )]
    pub matcher: String,
    /// Seconds after a task starts during which failed health checks are ignored.
    #[serde(default = "default_grace")]
    #[schemars(range(min = 0, max = 2147483))]
    pub grace_period_seconds: i32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: default_health_path(),
            port: None,
            interval_seconds: default_health_interval(),
            timeout_seconds: default_health_timeout(),
            healthy_threshold: default_threshold(),
            unhealthy_threshold: default_threshold(),
            matcher: default_matcher(),
            grace_period_seconds: default_grace(),
        }
    }
}

fn default_health_path() -> String {
    "/".to_string()
}

fn default_health_interval() -> i32 {
    15
}

fn default_health_timeout() -> i32 {
    5
}

fn default_threshold() -> i32 {
    3
}

fn default_matcher() -> String {
    "200-399".to_string()
}

fn default_grace() -> i32 {
    60
}

/// Task networking (awsvpc).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Subnet IDs for the tasks. Empty: the operator's default subnets.
    #[serde(default)]
    #[schemars(
        length(max = 16),
        inner(regex(pattern = r"^subnet-[0-9a-f]{8,17}$"), length(max = 24))
    )]
    pub subnets: Vec<String>,
    /// Security group IDs for the tasks. Empty: the operator's default security groups.
    #[serde(default)]
    #[schemars(
        length(max = 5),
        inner(regex(pattern = r"^sg-[0-9a-f]{8,17}$"), length(max = 20))
    )]
    pub security_groups: Vec<String>,
    /// Give tasks a public IP (needed in public subnets without a NAT gateway).
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// Regular expression for an IAM role ARN.
const ROLE_ARN_PATTERN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$";

/// IAM roles of the task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamSpec {
    /// Role ECS uses to pull the image, read `secrets` and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ROLE_ARN_PATTERN), length(max = 2048))]
    pub execution_role_arn: Option<String>,
    /// Role the application's code runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = ROLE_ARN_PATTERN), length(max = 2048))]
    pub task_role_arn: Option<String>,
}

/// Where container logs go.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsSpec {
    /// CloudWatch Logs group. Defaults to `/cygni/<namespace>/<app>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[\.\-_/#A-Za-z0-9]+$"), length(min = 1, max = 512))]
    pub group: Option<String>,
    /// Prefix of each log stream. Defaults to the App's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[^:*]+$"), length(min = 1, max = 256))]
    pub stream_prefix: Option<String>,
}

/// How requests reach the App: one rule on an ALB listener that forwards to the App's target groups.
/// An ALB rule takes at most 5 condition values, hosts and paths together (Ready Domains add their
/// hostnames to them).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.hosts) + size(self.paths) <= 5")
    .message("hosts and paths together take at most 5 values: an ALB rule has at most 5 condition values"))]
pub struct RoutingSpec {
    /// ARN of the ALB listener (HTTPS usually). Defaults to the operator's listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(
            pattern = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/app/[^\s]+$"
        ),
        length(max = 2048)
    )]
    pub listener_arn: Option<String>,
    /// Host headers the rule matches, besides the hostnames of Ready Domains that point at the App.
    #[serde(default)]
    #[schemars(length(max = 5), inner(regex(pattern = FQDN_PATTERN), length(max = 253)))]
    pub hosts: Vec<String>,
    /// URL path patterns the rule matches (`*` and `?` wildcards).
    #[serde(default = "default_paths")]
    #[schemars(
        length(min = 1, max = 5),
        inner(regex(pattern = r"^/[^\s]*$"), length(max = 128))
    )]
    pub paths: Vec<String>,
    /// Rule priority on the listener (lower is evaluated first). Omit to let the operator pick a free
    /// one derived from the App's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50000))]
    pub priority: Option<i32>,
}

impl Default for RoutingSpec {
    fn default() -> Self {
        RoutingSpec {
            listener_arn: None,
            hosts: Vec::new(),
            paths: default_paths(),
            priority: None,
        }
    }
}

fn default_paths() -> Vec<String> {
    vec!["/*".to_string()]
}

/// One of the App's two slots: an ECS service and a target group that alternate between serving
/// the stable revision and the new one.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SlotName {
    /// Slot a.
    A,
    /// Slot b.
    B,
}

impl std::fmt::Display for SlotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlotName::A => "a",
            SlotName::B => "b",
        })
    }
}

impl SlotName {
    /// The other slot.
    pub fn other(self) -> SlotName {
        match self {
            SlotName::A => SlotName::B,
            SlotName::B => SlotName::A,
        }
    }
}

/// What the App controller observed in AWS. Written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Progressing and Degraded.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Revision of the current template (the newest Deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_revision: Option<i64>,
    /// Revision that serves when no rollout is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<i64>,
    /// Hash of the current template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_hash: Option<String>,
    /// Slot that serves the stable revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_slot: Option<SlotName>,
    /// Revision ECS's deployment circuit breaker rejected; the stable revision keeps serving until
    /// the template changes again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_revision: Option<i64>,
    /// Why `failedRevision` failed, as ECS reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Per-slot ECS and target group state.
    #[serde(default)]
    pub slots: Vec<SlotStatus>,
    /// The task definition registered for each revision still in the history.
    #[serde(default)]
    pub task_definitions: Vec<RevisionTaskDefinition>,
    /// Traffic share (percent) of the new revision, as read back from the listener rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<i32>,
    /// The App's listener rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_rule_arn: Option<String>,
    /// The load balancer the listener belongs to; Domains point their alias records here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerStatus>,
    /// URLs the App answers on.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Where the new revision of a blue-green rollout answers before the switch (the preview
    /// listener), while it waits for promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<String>,
    /// The App's rule on the preview listener, while a blue-green rollout has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_rule_arn: Option<String>,
}

/// The task definition of one revision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTaskDefinition {
    /// Revision number.
    pub revision: i64,
    /// Task definition ARN.
    pub arn: String,
}

/// One slot as observed in AWS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotStatus {
    /// Slot name.
    pub name: SlotName,
    /// Revision the slot runs, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// ECS service ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// Target group ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// Task definition ARN the service runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// Tasks ECS is asked to run.
    #[serde(default)]
    pub desired: i32,
    /// Tasks running.
    #[serde(default)]
    pub running: i32,
    /// Targets passing the target group health check.
    #[serde(default)]
    pub healthy: i32,
    /// Traffic weight (percent) read back from the listener rule.
    #[serde(default)]
    pub weight: i32,
    /// State of the service's primary ECS deployment (`IN_PROGRESS`, `COMPLETED`, `FAILED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<EcsRolloutState>,
    /// Revision the operator last asked ECS to run in this slot. When ECS settles on another
    /// one, its circuit breaker rolled that revision back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_revision: Option<i64>,
    /// Why ECS stopped the slot's deployment, when its circuit breaker did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The state of an ECS deployment's rollout, as ECS spells it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EcsRolloutState {
    /// Tasks are being started and checked.
    InProgress,
    /// The deployment reached steady state.
    Completed,
    /// The circuit breaker stopped it.
    Failed,
}

/// The ALB in front of the App.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// DNS name of the load balancer.
    pub dns_name: String,
    /// Route53 hosted zone ID of the load balancer, for alias records.
    pub canonical_hosted_zone_id: String,
}
