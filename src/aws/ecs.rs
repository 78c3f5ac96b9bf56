//! The narrow Amazon ECS interface the App controller uses: task definitions and services, shaped
//! like the calls it makes (RegisterTaskDefinition, CreateService, UpdateService,
//! DescribeServices, DeleteService, ...), with plain types instead of SDK builders.

use super::{AwsResult, Tag};
use async_trait::async_trait;

/// Container of a task definition (the operator runs one container per task).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerDefinition {
    /// Container name; also the name the service's load balancer entry refers to.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// ECS `entryPoint`.
    pub entry_point: Option<Vec<String>>,
    /// ECS `command`.
    pub command: Option<Vec<String>>,
    /// Container port (TCP), mapped for the target group.
    pub port: i32,
    /// Plain environment variables, in a stable order.
    pub environment: Vec<(String, String)>,
    /// Secrets: (variable name, Secrets Manager or SSM ARN).
    pub secrets: Vec<(String, String)>,
    /// `awslogs` configuration.
    pub logs: Option<LogConfiguration>,
}

/// The `awslogs` log driver's options.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogConfiguration {
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-region`.
    pub region: String,
    /// `awslogs-stream-prefix`.
    pub stream_prefix: String,
}

/// Input of RegisterTaskDefinition for a Fargate task.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskDefinitionInput {
    /// Family; each registration adds a revision to it.
    pub family: String,
    /// Task CPU units, e.g. `"256"`.
    pub cpu: String,
    /// Task memory in MiB, e.g. `"512"`.
    pub memory: String,
    /// Execution role ARN.
    pub execution_role_arn: Option<String>,
    /// Task role ARN.
    pub task_role_arn: Option<String>,
    /// The container.
    pub container: ContainerDefinition,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A registered task definition revision.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskDefinition {
    /// ARN, ending in `:<revision>`.
    pub arn: String,
    /// Revision number within the family.
    pub revision: i32,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// What was registered (tags are not part of DescribeTaskDefinition's answer unless asked).
    pub input: TaskDefinitionInput,
}

/// awsvpc network configuration of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkConfiguration {
    /// Subnet IDs.
    pub subnets: Vec<String>,
    /// Security group IDs.
    pub security_groups: Vec<String>,
    /// Assign public IPs.
    pub assign_public_ip: bool,
}

/// Input of CreateService (Fargate, one target group).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceInput {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name, unique in the cluster.
    pub name: String,
    /// Task definition ARN.
    pub task_definition_arn: String,
    /// Tasks to run.
    pub desired_count: i32,
    /// Network settings.
    pub network: NetworkConfiguration,
    /// Target group the tasks register in.
    pub target_group_arn: String,
    /// Container name and port that receive traffic.
    pub container_name: String,
    /// Container port that receives traffic.
    pub container_port: i32,
    /// Seconds of ignored health check failures after a task starts.
    pub health_check_grace_period_seconds: i32,
    /// Rolling update lower bound (percent of desired).
    pub minimum_healthy_percent: i32,
    /// Rolling update upper bound (percent of desired).
    pub maximum_percent: i32,
    /// Idempotency token (at most 36 ASCII characters): a retried create returns the first service.
    pub client_token: String,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// Input of UpdateService: only the set fields change.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceUpdate {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name.
    pub name: String,
    /// New task definition: starts an ECS deployment.
    pub task_definition_arn: Option<String>,
    /// New desired count.
    pub desired_count: Option<i32>,
    /// New network settings: starts an ECS deployment.
    pub network: Option<NetworkConfiguration>,
    /// New rolling bounds `(minimum healthy, maximum)` in percent.
    pub deployment_bounds: Option<(i32, i32)>,
    /// New health check grace period.
    pub health_check_grace_period_seconds: Option<i32>,
}

/// State of an ECS deployment's rollout (`rolloutState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RolloutState {
    /// Tasks of this deployment are being started and checked.
    InProgress,
    /// The deployment reached steady state.
    Completed,
    /// The circuit breaker stopped it.
    Failed,
}

/// One entry of a service's `deployments`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EcsDeployment {
    /// Deployment ID (`ecs-svc/...`).
    pub id: String,
    /// `PRIMARY` (the newest), `ACTIVE` (older, still running tasks) or `INACTIVE`.
    pub status: String,
    /// Task definition it runs.
    pub task_definition_arn: String,
    /// Tasks it should run.
    pub desired_count: i32,
    /// Tasks running.
    pub running_count: i32,
    /// Tasks starting.
    pub pending_count: i32,
    /// Tasks that failed to start or stay healthy.
    pub failed_tasks: i32,
    /// Rollout state, when the circuit breaker is on.
    pub rollout_state: Option<RolloutState>,
    /// Why the rollout is in that state.
    pub rollout_state_reason: Option<String>,
}

/// A service as DescribeServices returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Service {
    /// Service ARN.
    pub arn: String,
    /// Service name.
    pub name: String,
    /// Cluster ARN.
    pub cluster_arn: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// Desired tasks.
    pub desired_count: i32,
    /// Running tasks.
    pub running_count: i32,
    /// Starting tasks.
    pub pending_count: i32,
    /// Task definition of the primary deployment.
    pub task_definition_arn: String,
    /// Deployments, primary first.
    pub deployments: Vec<EcsDeployment>,
    /// Network settings.
    pub network: NetworkConfiguration,
    /// Target group the service registers tasks in.
    pub target_group_arn: Option<String>,
    /// Rolling bounds `(minimum healthy, maximum)`.
    pub deployment_bounds: (i32, i32),
    /// Tags.
    pub tags: Vec<Tag>,
}

/// A cluster as DescribeClusters returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cluster {
    /// Cluster ARN.
    pub arn: String,
    /// Cluster name.
    pub name: String,
    /// `ACTIVE`, `PROVISIONING`, `DEPROVISIONING`, `FAILED` or `INACTIVE`.
    pub status: String,
    /// Capacity providers associated with it (`FARGATE`, `FARGATE_SPOT`, ...).
    pub capacity_providers: Vec<String>,
}

/// DescribeClusters' answer: the clusters found, and a failure (ARN, reason such as `MISSING`)
/// for each one that was not.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Clusters {
    /// Clusters found.
    pub found: Vec<Cluster>,
    /// (ARN, reason) of each one not found.
    pub failures: Vec<(String, String)>,
}

/// Amazon ECS, as far as the operator uses it.
#[async_trait]
pub trait Ecs: Send + Sync {
    /// RegisterTaskDefinition: a new revision of the family.
    async fn register_task_definition(
        &self,
        input: &TaskDefinitionInput,
    ) -> AwsResult<TaskDefinition>;
    /// DescribeTaskDefinition; `None` when the ARN is unknown.
    async fn describe_task_definition(&self, arn: &str) -> AwsResult<Option<TaskDefinition>>;
    /// ListTaskDefinitions of a family (ACTIVE revisions), oldest first.
    async fn list_task_definitions(&self, family: &str) -> AwsResult<Vec<String>>;
    /// DeregisterTaskDefinition; not found counts as done.
    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()>;
    /// CreateService; with the same client token, returns the service the first call made.
    async fn create_service(&self, input: &ServiceInput) -> AwsResult<Service>;
    /// UpdateService.
    async fn update_service(&self, update: &ServiceUpdate) -> AwsResult<Service>;
    /// DescribeServices for at most 10 names (the ECS limit; callers batch). Services that do not
    /// exist are absent from the answer; INACTIVE ones are returned with that status.
    async fn describe_services(&self, cluster: &str, names: &[String]) -> AwsResult<Vec<Service>>;
    /// DeleteService with `force` (no need to scale to zero first); not found counts as done.
    async fn delete_service(&self, cluster: &str, name: &str) -> AwsResult<()>;
    /// DescribeClusters of names or ARNs (at most 100), as `cygni doctor` checks them.
    async fn describe_clusters(&self, clusters: &[String]) -> AwsResult<Clusters>;
}
