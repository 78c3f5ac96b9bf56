//! Simulated Amazon ECS on Fargate: task definition revisions with Fargate size validation, and
//! services whose deployments progress like ECS's rolling update with the deployment circuit
//! breaker (rollback enabled): tasks go PROVISIONING -> PENDING -> RUNNING, register in the
//! service's target group, and old deployments drain as the primary becomes healthy.

use super::AwsSim;
use super::config::{ImageBehaviour, SimService};
use super::elbv2::Health;
use super::world::{Fail, SimResult, World, after};
use crate::aws::ecs::{
    Clusters, Ecs, EcsDeployment, NetworkConfiguration, RolloutState, Service, ServiceInput,
    ServiceUpdate, TaskDefinition, TaskDefinitionInput,
};
use crate::aws::{AwsErrorKind, AwsResult, Tag};
use async_trait::async_trait;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// Stopped tasks are kept this long (ECS shows stopped tasks for about an hour).
const STOPPED_TASK_RETENTION: Duration = Duration::from_secs(60 * 60);

/// A cluster.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Cluster {
    pub name: String,
    pub arn: String,
}

/// One registered task definition revision (its tags are in `def.input.tags`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TaskDefRecord {
    pub def: TaskDefinition,
}

/// `lastStatus` of a task (ECS "Task lifecycle"; ACTIVATING/STOPPING/DEPROVISIONING are folded
/// into their neighbours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum TaskStatus {
    Provisioning,
    Pending,
    Running,
    Deactivating,
    Stopped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopped => "STOPPED",
        }
    }
}

/// A task of a service.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TaskRecord {
    pub arn: String,
    pub deployment_id: String,
    pub task_definition_arn: String,
    pub image: String,
    pub behaviour: ImageBehaviour,
    pub ip: String,
    pub port: i32,
    pub status: TaskStatus,
    pub desired_running: bool,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    pub stopped_reason: Option<String>,
    /// When the next lifecycle transition is due.
    pub next_at: Option<Timestamp>,
    /// Registered as a target in the service's target group.
    pub registered: bool,
}

/// A deployment of a service.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct DeploymentRecord {
    pub id: String,
    pub task_definition_arn: String,
    pub network: NetworkConfiguration,
    pub desired_count: i32,
    pub failed_tasks: i32,
    pub consecutive_failures: u32,
    pub next_launch_at: Option<Timestamp>,
    pub rollout: RolloutState,
    pub reason: String,
}

/// `status` of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ServiceStatus {
    Active,
    Draining,
    Inactive,
}

impl ServiceStatus {
    fn as_str(self) -> &'static str {
        match self {
            ServiceStatus::Active => "ACTIVE",
            ServiceStatus::Draining => "DRAINING",
            ServiceStatus::Inactive => "INACTIVE",
        }
    }
}

/// A service.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ServiceRecord {
    pub arn: String,
    pub name: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub status: ServiceStatus,
    pub desired_count: i32,
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i32,
    pub grace_seconds: i32,
    pub bounds: (i32, i32),
    pub tags: Vec<Tag>,
    pub client_token: String,
    pub input: ServiceInput,
    /// Primary first.
    pub deployments: Vec<DeploymentRecord>,
    pub tasks: Vec<TaskRecord>,
    /// (deployment ID, task definition, network) of the last COMPLETED deployment: the rollback
    /// target of the circuit breaker.
    pub last_completed: Option<(String, String, NetworkConfiguration)>,
    pub inactive_at: Option<Timestamp>,
    next_subnet: usize,
}

/// ECS state.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct EcsState {
    pub clusters: Vec<Cluster>,
    pub families: BTreeMap<String, Vec<TaskDefRecord>>,
    pub services: Vec<ServiceRecord>,
}

impl EcsState {
    fn cluster(&self, name_or_arn: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|c| c.name == name_or_arn || c.arn == name_or_arn)
    }

    /// The service of that name or ARN in the cluster: the live one, else the newest INACTIVE one.
    fn service_index(&self, cluster: &str, name_or_arn: &str) -> Option<usize> {
        let name = name_or_arn.rsplit('/').next().unwrap_or(name_or_arn);
        let matching = |s: &ServiceRecord| s.cluster == cluster && s.name == name;
        self.services
            .iter()
            .position(|s| matching(s) && s.status != ServiceStatus::Inactive)
            .or_else(|| self.services.iter().rposition(matching))
    }
}

/// Fargate task sizes (ECS Developer Guide, "Task CPU and memory": valid combinations for Linux).
fn fargate_size_valid(cpu: u32, memory: u32) -> bool {
    let in_steps = |lo: u32, hi: u32, step: u32| {
        memory >= lo && memory <= hi && (memory - lo).is_multiple_of(step)
    };
    match cpu {
        256 => matches!(memory, 512 | 1024 | 2048),
        512 => in_steps(1024, 4096, 1024),
        1024 => in_steps(2048, 8192, 1024),
        2048 => in_steps(4096, 16384, 1024),
        4096 => in_steps(8192, 30720, 1024),
        8192 => in_steps(16384, 61440, 4096),
        16384 => in_steps(32768, 122880, 8192),
        _ => false,
    }
}

/// Task `cpu`: units (`"256"`) or vCPU (`"0.25 vCPU"`), as RegisterTaskDefinition accepts.
fn parse_cpu(text: &str) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("vcpu") {
        let v: f64 = v.trim().parse().ok()?;
        return (v > 0.0).then(|| (v * 1024.0).round() as u32);
    }
    t.parse().ok().filter(|v| *v > 0)
}

/// Task `memory`: MiB (`"512"`) or GB (`"0.5 GB"`).
fn parse_memory(text: &str) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("gb") {
        let v: f64 = v.trim().parse().ok()?;
        return (v > 0.0).then(|| (v * 1024.0).round() as u32);
    }
    t.parse().ok().filter(|v| *v > 0)
}

fn client(message: impl Into<String>) -> Fail {
    // ECS API Reference, Common Errors: ClientException, "an action on a client that doesn't
    // have permissions, or a resource identifier that isn't valid".
    Fail::invalid("ClientException", message)
}

fn invalid_parameter(message: impl Into<String>) -> Fail {
    Fail::invalid("InvalidParameterException", message)
}

fn cluster_not_found() -> Fail {
    Fail::not_found("ClusterNotFoundException", "Cluster not found.")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn validate_tags(tags: &[Tag]) -> SimResult<()> {
    // Tagging your Amazon ECS resources: at most 50 tags, keys <= 128 and values <= 256 chars.
    if tags.len() > 50 {
        return Err(invalid_parameter(
            "Too many tags: at most 50 tags are allowed per resource.",
        ));
    }
    for tag in tags {
        if tag.key.is_empty() || tag.key.len() > 128 || tag.value.len() > 256 {
            return Err(invalid_parameter(format!(
                "Tag key must be 1-128 characters and value at most 256 characters: '{}'.",
                tag.key
            )));
        }
    }
    Ok(())
}

fn validate_bounds(bounds: (i32, i32)) -> SimResult<()> {
    // ECS API Reference, DeploymentConfiguration: minimumHealthyPercent 0-100; a rolling update
    // of a REPLICA service needs maximumPercent of at least 100.
    let (min, max) = bounds;
    if !(0..=100).contains(&min) {
        return Err(invalid_parameter(format!(
            "minimumHealthyPercent must be between 0 and 100, but was {min}."
        )));
    }
    if max < 100 {
        return Err(invalid_parameter(format!(
            "maximumPercent must be greater than or equal to 100, but was {max}."
        )));
    }
    Ok(())
}

/// Circuit breaker failure threshold (ECS Developer Guide, "How the Amazon ECS deployment circuit
/// breaker detects failures": 0.5 x desired, at least 3, at most 200).
pub(crate) fn failure_threshold(desired: i32) -> i32 {
    let half = (desired.max(0) + 1) / 2;
    half.clamp(3, 200)
}

impl World {
    /// Adds an ECS cluster (as CreateCluster would) and returns its ARN.
    pub fn ecs_add_cluster(&mut self, name: &str) -> String {
        if let Some(c) = self.ecs.cluster(name) {
            return c.arn.clone();
        }
        let arn = format!("{}:cluster/{name}", self.arn_prefix("ecs"));
        self.ecs.clusters.push(Cluster {
            name: name.to_string(),
            arn: arn.clone(),
        });
        arn
    }

    /// DescribeClusters: every simulated cluster is ACTIVE with no capacity providers (Fargate
    /// services name their launch type); one not found is a `MISSING` failure with the ARN the
    /// name would have, as ECS answers.
    pub fn ecs_describe_clusters(&self, names: &[String]) -> Clusters {
        let mut out = Clusters::default();
        for name in names {
            match self.ecs.cluster(name) {
                Some(c) => out.found.push(crate::aws::ecs::Cluster {
                    arn: c.arn.clone(),
                    name: c.name.clone(),
                    status: "ACTIVE".to_string(),
                    capacity_providers: Vec::new(),
                }),
                None => {
                    let arn = if name.starts_with("arn:") {
                        name.clone()
                    } else {
                        format!("{}:cluster/{name}", self.arn_prefix("ecs"))
                    };
                    out.failures.push((arn, "MISSING".to_string()));
                }
            }
        }
        out
    }

    fn find_task_definition(&self, reference: &str) -> Option<&TaskDefRecord> {
        // ECS API Reference, DescribeTaskDefinition: `family` (latest ACTIVE revision),
        // `family:revision`, or the full ARN.
        if reference.starts_with("arn:") && !reference.starts_with(&self.arn_prefix("ecs")) {
            return None;
        }
        let tail = reference
            .split_once("task-definition/")
            .map_or(reference, |(_, t)| t);
        match tail.split_once(':') {
            Some((family, revision)) => {
                let revision: usize = revision.parse().ok()?;
                self.ecs.families.get(family)?.get(revision.checked_sub(1)?)
            }
            None => self
                .ecs
                .families
                .get(tail)?
                .iter()
                .rev()
                .find(|r| r.def.status == "ACTIVE"),
        }
    }

    pub fn ecs_register_task_definition(
        &mut self,
        input: &TaskDefinitionInput,
    ) -> SimResult<TaskDefinition> {
        // ECS API Reference, RegisterTaskDefinition: family up to 255 letters, numbers, hyphens
        // and underscores.
        if !valid_name(&input.family) {
            return Err(client(
                "Family contains invalid characters or is too long: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
            ));
        }
        // RegisterTaskDefinition, cpu/memory: Fargate requires task-level cpu and memory from
        // the supported combinations ("Task CPU and memory" in the Developer Guide).
        let cpu = parse_cpu(&input.cpu)
            .ok_or_else(|| client(format!("Invalid 'cpu' setting for task: '{}'.", input.cpu)))?;
        let memory = parse_memory(&input.memory).ok_or_else(|| {
            client(format!(
                "Invalid 'memory' setting for task: '{}'.",
                input.memory
            ))
        })?;
        if !fargate_size_valid(cpu, memory) {
            return Err(client(format!(
                "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
            )));
        }
        let container = &input.container;
        if !valid_name(&container.name) {
            return Err(client(
                "Container name contains invalid characters: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
            ));
        }
        if container.image.trim().is_empty() || container.image.len() > 255 {
            return Err(client("Container.image should not be null or empty."));
        }
        if !(1..=65535).contains(&container.port) {
            return Err(client(format!(
                "Invalid containerPort {}: it must be between 1 and 65535.",
                container.port
            )));
        }
        for role in [&input.execution_role_arn, &input.task_role_arn]
            .into_iter()
            .flatten()
        {
            if !role.starts_with("arn:aws:iam::") || !role.contains(":role/") {
                return Err(client(format!("Role is not valid: {role}")));
            }
        }
        // Fargate task execution IAM role: awslogs, ECR images and secrets need it.
        if input.execution_role_arn.is_none() {
            if container.logs.is_some() {
                return Err(client(
                    "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
                ));
            }
            if container.image.contains(".dkr.ecr.") {
                return Err(client(
                    "Fargate requires task definition to have execution role ARN to support ECR images.",
                ));
            }
            if !container.secrets.is_empty() {
                return Err(client(
                    "Fargate requires task definition to have execution role ARN to support secrets.",
                ));
            }
        }
        validate_tags(&input.tags)?;
        let prefix = self.arn_prefix("ecs");
        let revisions = self.ecs.families.entry(input.family.clone()).or_default();
        let revision = revisions.len() as i32 + 1;
        let def = TaskDefinition {
            arn: format!("{prefix}:task-definition/{}:{revision}", input.family),
            revision,
            status: "ACTIVE".to_string(),
            input: input.clone(),
        };
        revisions.push(TaskDefRecord { def: def.clone() });
        Ok(def)
    }

    pub fn ecs_describe_task_definition(&self, arn: &str) -> SimResult<Option<TaskDefinition>> {
        Ok(self.find_task_definition(arn).map(|r| r.def.clone()))
    }

    pub fn ecs_list_task_definitions(&self, family: &str) -> SimResult<Vec<String>> {
        // ListTaskDefinitions with familyPrefix and status ACTIVE, sort ASC.
        Ok(self
            .ecs
            .families
            .get(family)
            .map(|revs| {
                revs.iter()
                    .filter(|r| r.def.status == "ACTIVE")
                    .map(|r| r.def.arn.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn ecs_deregister_task_definition(&mut self, arn: &str) -> SimResult<()> {
        // DeregisterTaskDefinition needs `family:revision` or the full ARN; the revision becomes
        // INACTIVE (still describable, no new services or tasks).
        let Some(found) = self.find_task_definition(arn) else {
            return Ok(());
        };
        if !arn.contains(':') {
            return Err(client(
                "The task definition must include a revision: family:revision or its full ARN.",
            ));
        }
        let (family, revision) = (found.def.input.family.clone(), found.def.revision);
        if let Some(rec) = self
            .ecs
            .families
            .get_mut(&family)
            .and_then(|revs| revs.get_mut(revision as usize - 1))
        {
            rec.def.status = "INACTIVE".to_string();
        }
        Ok(())
    }

    fn active_task_definition(&self, reference: &str) -> SimResult<TaskDefinition> {
        let rec = self
            .find_task_definition(reference)
            .ok_or_else(|| client("TaskDefinition not found."))?;
        if rec.def.status != "ACTIVE" {
            // "You can't use an INACTIVE task definition to run new tasks or create new services."
            return Err(client("TaskDefinition is inactive"));
        }
        Ok(rec.def.clone())
    }

    fn validate_network(&self, network: &NetworkConfiguration) -> SimResult<()> {
        // AwsVpcConfiguration: 1-16 subnets and at most 5 security groups, in the same VPC.
        if network.subnets.is_empty() {
            return Err(invalid_parameter("subnets can not be empty."));
        }
        if network.subnets.len() > 16 {
            return Err(invalid_parameter("subnets can have at most 16 items."));
        }
        if network.security_groups.len() > 5 {
            return Err(invalid_parameter(
                "securityGroups can have at most 5 items.",
            ));
        }
        for subnet in &network.subnets {
            if !self.subnet_exists(subnet) {
                return Err(invalid_parameter(format!(
                    "Error retrieving subnet information for [{subnet}]: The subnet ID '{subnet}' does not exist (ECS)"
                )));
            }
        }
        for sg in &network.security_groups {
            if !self.security_group_exists(sg) {
                return Err(invalid_parameter(format!(
                    "Error retrieving security group information for [{sg}]: The security group '{sg}' does not exist (ECS)"
                )));
            }
        }
        Ok(())
    }

    fn new_deployment(
        &mut self,
        task_definition_arn: &str,
        network: &NetworkConfiguration,
        desired: i32,
        reason: Option<String>,
    ) -> DeploymentRecord {
        let id = format!("ecs-svc/{}", self.ids.digits(19));
        DeploymentRecord {
            reason: reason.unwrap_or_else(|| format!("ECS deployment {id} in progress.")),
            id,
            task_definition_arn: task_definition_arn.to_string(),
            network: network.clone(),
            desired_count: desired,
            failed_tasks: 0,
            consecutive_failures: 0,
            next_launch_at: None,
            rollout: RolloutState::InProgress,
        }
    }

    pub fn ecs_create_service(&mut self, input: &ServiceInput) -> SimResult<Service> {
        // CreateService, clientToken: "Up to 36 ASCII characters in the range of 33-126".
        if input.client_token.len() > 36
            || !input.client_token.bytes().all(|b| (33..=126).contains(&b))
        {
            return Err(invalid_parameter(
                "clientToken must be at most 36 ASCII characters in the range 33-126.",
            ));
        }
        let cluster = self
            .ecs
            .cluster(&input.cluster)
            .cloned()
            .ok_or_else(cluster_not_found)?;
        // CreateService, clientToken: the same token and parameters return the service the first
        // request created; the same name otherwise is "not idempotent".
        if !input.client_token.is_empty()
            && let Some(existing) = self.ecs.services.iter().find(|s| {
                s.cluster == cluster.name
                    && s.client_token == input.client_token
                    && s.status != ServiceStatus::Inactive
            })
        {
            if existing.input == *input {
                return Ok(self.describe_service(existing));
            }
            return Err(invalid_parameter("Creation of service was not idempotent."));
        }
        if !valid_name(&input.name) {
            return Err(invalid_parameter(
                "Service name must be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.",
            ));
        }
        if let Some(i) = self.ecs.service_index(&cluster.name, &input.name)
            && self.ecs.services[i].status != ServiceStatus::Inactive
        {
            return Err(invalid_parameter("Creation of service was not idempotent."));
        }
        let def = self.active_task_definition(&input.task_definition_arn)?;
        if input.desired_count < 0 {
            return Err(invalid_parameter(
                "desiredCount must be greater than or equal to 0.",
            ));
        }
        self.validate_network(&input.network)?;
        validate_bounds((input.minimum_healthy_percent, input.maximum_percent))?;
        if input.health_check_grace_period_seconds < 0 {
            return Err(invalid_parameter(
                "healthCheckGracePeriodSeconds must be at least 0.",
            ));
        }
        validate_tags(&input.tags)?;
        self.validate_load_balancer(input, &def)?;

        let arn = format!(
            "{}:service/{}/{}",
            self.arn_prefix("ecs"),
            cluster.name,
            input.name
        );
        let deployment = self.new_deployment(&def.arn, &input.network, input.desired_count, None);
        let service = ServiceRecord {
            arn,
            name: input.name.clone(),
            cluster: cluster.name.clone(),
            cluster_arn: cluster.arn.clone(),
            status: ServiceStatus::Active,
            desired_count: input.desired_count,
            target_group_arn: input.target_group_arn.clone(),
            container_name: input.container_name.clone(),
            container_port: input.container_port,
            grace_seconds: input.health_check_grace_period_seconds,
            bounds: (input.minimum_healthy_percent, input.maximum_percent),
            tags: input.tags.clone(),
            client_token: input.client_token.clone(),
            input: input.clone(),
            deployments: vec![deployment],
            tasks: Vec::new(),
            last_completed: None,
            inactive_at: None,
            next_subnet: 0,
        };
        let described = self.describe_service(&service);
        self.ecs.services.push(service);
        Ok(described)
    }

    fn validate_load_balancer(&self, input: &ServiceInput, def: &TaskDefinition) -> SimResult<()> {
        // CreateService, loadBalancers: the target group must exist and be attached to a load
        // balancer ("Service load balancing" in the Developer Guide), and the container name
        // and port must be in the task definition.
        let tg = &input.target_group_arn;
        if !self.elb.target_group_exists(tg) {
            return Err(invalid_parameter(format!(
                "The target group {tg} does not exist."
            )));
        }
        if !self.elb.target_group_has_load_balancer(tg) {
            return Err(invalid_parameter(format!(
                "The target group with targetGroupArn {tg} does not have an associated load balancer."
            )));
        }
        if def.input.container.name != input.container_name {
            return Err(invalid_parameter(format!(
                "The container {} does not exist in the task definition.",
                input.container_name
            )));
        }
        if def.input.container.port != input.container_port {
            return Err(invalid_parameter(format!(
                "The container {} did not have a container port {} defined.",
                input.container_name, input.container_port
            )));
        }
        Ok(())
    }

    pub fn ecs_update_service(&mut self, update: &ServiceUpdate) -> SimResult<Service> {
        let cluster = self
            .ecs
            .cluster(&update.cluster)
            .cloned()
            .ok_or_else(cluster_not_found)?;
        let Some(index) = self.ecs.service_index(&cluster.name, &update.name) else {
            return Err(Fail::not_found(
                "ServiceNotFoundException",
                "Service not found.",
            ));
        };
        if self.ecs.services[index].status != ServiceStatus::Active {
            // UpdateService errors: ServiceNotActiveException for DRAINING or INACTIVE services.
            return Err(Fail::new(
                AwsErrorKind::InvalidRequest,
                "ServiceNotActiveException",
                "Service was not ACTIVE.",
            ));
        }
        let def = match &update.task_definition_arn {
            Some(arn) => Some(self.active_task_definition(arn)?),
            None => None,
        };
        if let Some(count) = update.desired_count
            && count < 0
        {
            return Err(invalid_parameter(
                "desiredCount must be greater than or equal to 0.",
            ));
        }
        if let Some(network) = &update.network {
            self.validate_network(network)?;
        }
        if let Some(bounds) = update.deployment_bounds {
            validate_bounds(bounds)?;
        }
        if let Some(grace) = update.health_check_grace_period_seconds
            && grace < 0
        {
            return Err(invalid_parameter(
                "healthCheckGracePeriodSeconds must be at least 0.",
            ));
        }
        let (current_td, current_network, container_name, container_port) = {
            let svc = &self.ecs.services[index];
            let primary = &svc.deployments[0];
            (
                primary.task_definition_arn.clone(),
                primary.network.clone(),
                svc.container_name.clone(),
                svc.container_port,
            )
        };
        if let Some(def) = &def
            && (def.input.container.name != container_name
                || def.input.container.port != container_port)
        {
            return Err(invalid_parameter(format!(
                "The container {container_name} did not have a container port {container_port} defined."
            )));
        }
        let new_td = def.map(|d| d.arn).unwrap_or(current_td.clone());
        let new_network = update.network.clone().unwrap_or(current_network.clone());
        let desired = update
            .desired_count
            .unwrap_or(self.ecs.services[index].desired_count);
        // UpdateService: a new task definition or network configuration starts a new deployment;
        // desiredCount alone only scales the current one.
        let deployment = (new_td != current_td || new_network != current_network)
            .then(|| self.new_deployment(&new_td, &new_network, desired, None));
        let svc = &mut self.ecs.services[index];
        svc.desired_count = desired;
        if let Some(bounds) = update.deployment_bounds {
            svc.bounds = bounds;
        }
        if let Some(grace) = update.health_check_grace_period_seconds {
            svc.grace_seconds = grace;
        }
        if let Some(deployment) = deployment {
            svc.deployments.insert(0, deployment);
        }
        svc.deployments[0].desired_count = desired;
        let svc = &self.ecs.services[index];
        Ok(self.describe_service(svc))
    }

    pub fn ecs_describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> SimResult<Vec<Service>> {
        // DescribeServices: services is an array of at most 10 names or ARNs.
        if names.len() > 10 {
            return Err(invalid_parameter(
                "service names can have at most 10 items.",
            ));
        }
        if names.is_empty() {
            return Err(invalid_parameter("Services cannot be empty."));
        }
        let cluster = self.ecs.cluster(cluster).ok_or_else(cluster_not_found)?;
        // Missing services come back in `failures` (reason MISSING): absent here.
        Ok(names
            .iter()
            .filter_map(|n| self.ecs.service_index(&cluster.name, n))
            .map(|i| self.describe_service(&self.ecs.services[i]))
            .collect())
    }

    /// The image of the running task that has `ip`, if any.
    pub fn ecs_image_of_ip(&self, ip: &str) -> Option<String> {
        self.ecs
            .services
            .iter()
            .flat_map(|s| s.tasks.iter())
            .find(|t| t.ip == ip && t.status == TaskStatus::Running)
            .map(|t| t.image.clone())
    }

    pub fn ecs_delete_service(&mut self, cluster: &str, name: &str) -> SimResult<()> {
        let cluster = self
            .ecs
            .cluster(cluster)
            .cloned()
            .ok_or_else(cluster_not_found)?;
        let Some(index) = self.ecs.service_index(&cluster.name, name) else {
            return Ok(());
        };
        // DeleteService with force: no need to scale to zero; the service goes DRAINING and then
        // INACTIVE once its tasks have stopped.
        let svc = &mut self.ecs.services[index];
        if svc.status == ServiceStatus::Active {
            svc.status = ServiceStatus::Draining;
            svc.desired_count = 0;
            svc.deployments[0].desired_count = 0;
        }
        Ok(())
    }

    pub fn describe_service(&self, svc: &ServiceRecord) -> Service {
        let count = |dep: Option<&str>, statuses: &[TaskStatus]| {
            svc.tasks
                .iter()
                .filter(|t| {
                    dep.is_none_or(|d| t.deployment_id == d) && statuses.contains(&t.status)
                })
                .count() as i32
        };
        let running = [TaskStatus::Running];
        let pending = [TaskStatus::Provisioning, TaskStatus::Pending];
        let deployments = svc
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| EcsDeployment {
                id: d.id.clone(),
                status: if svc.status == ServiceStatus::Inactive {
                    "INACTIVE"
                } else if i == 0 {
                    "PRIMARY"
                } else {
                    "ACTIVE"
                }
                .to_string(),
                task_definition_arn: d.task_definition_arn.clone(),
                desired_count: d.desired_count,
                running_count: count(Some(&d.id), &running),
                pending_count: count(Some(&d.id), &pending),
                failed_tasks: d.failed_tasks,
                rollout_state: Some(d.rollout),
                rollout_state_reason: Some(d.reason.clone()),
            })
            .collect();
        let primary = &svc.deployments[0];
        Service {
            arn: svc.arn.clone(),
            name: svc.name.clone(),
            cluster_arn: svc.cluster_arn.clone(),
            status: svc.status.as_str().to_string(),
            desired_count: svc.desired_count,
            running_count: count(None, &running),
            pending_count: count(None, &pending),
            task_definition_arn: primary.task_definition_arn.clone(),
            deployments,
            network: primary.network.clone(),
            target_group_arn: Some(svc.target_group_arn.clone()),
            deployment_bounds: svc.bounds,
            tags: svc.tags.clone(),
        }
    }

    // ---- dynamics ----

    /// Lifecycle transitions that are due: PROVISIONING -> PENDING -> RUNNING (or STOPPED for a
    /// crashing image), DEACTIVATING -> STOPPED once the target has drained.
    pub fn ecs_progress_tasks(&mut self) -> bool {
        let now = self.now;
        let pending_delay = self.timings.task_pending;
        let mut services = std::mem::take(&mut self.ecs.services);
        let mut changed = false;
        for svc in &mut services {
            for i in 0..svc.tasks.len() {
                let Some(due) = svc.tasks[i].next_at else {
                    continue;
                };
                if due > now {
                    continue;
                }
                changed = true;
                let task = &mut svc.tasks[i];
                task.next_at = None;
                match task.status {
                    TaskStatus::Provisioning => {
                        task.status = TaskStatus::Pending;
                        task.next_at = Some(after(now, pending_delay));
                    }
                    TaskStatus::Pending if task.behaviour == ImageBehaviour::Crash => {
                        // "Essential container in task exited": the task never reaches RUNNING,
                        // which the circuit breaker counts as a failure to start.
                        task.status = TaskStatus::Stopped;
                        task.desired_running = false;
                        task.stopped_at = Some(now);
                        task.stopped_reason =
                            Some("Essential container in task exited".to_string());
                        let deployment = task.deployment_id.clone();
                        self.record_failure(svc, &deployment);
                    }
                    TaskStatus::Pending => {
                        task.status = TaskStatus::Running;
                        task.started_at = Some(now);
                        // Service load balancing: ECS registers the task's IP in the target group
                        // when it starts.
                        let passes = task.behaviour.passes_health_checks();
                        task.registered = self.elb.register_target(
                            &svc.target_group_arn,
                            &task.ip,
                            task.port,
                            now,
                            passes,
                            task.behaviour.clone(),
                        );
                    }
                    TaskStatus::Deactivating => {
                        task.status = TaskStatus::Stopped;
                        task.stopped_at = Some(now);
                    }
                    TaskStatus::Running | TaskStatus::Stopped => {}
                }
            }
        }
        self.ecs.services = services;
        changed
    }

    fn record_failure(&self, svc: &mut ServiceRecord, deployment_id: &str) {
        let now = self.now;
        if let Some(dep) = svc.deployments.iter_mut().find(|d| d.id == deployment_id) {
            dep.failed_tasks += 1;
            dep.consecutive_failures += 1;
            let exponent = dep.consecutive_failures.saturating_sub(1).min(20);
            let backoff = self
                .timings
                .launch_backoff
                .saturating_mul(1u32 << exponent)
                .min(self.timings.max_launch_backoff);
            dep.next_launch_at = Some(after(now, backoff));
        }
    }

    /// Whether a task counts as healthy for the scheduler: RUNNING and, when registered, passing
    /// the target group's health checks.
    fn task_healthy(&self, svc: &ServiceRecord, task: &TaskRecord) -> bool {
        if task.status != TaskStatus::Running {
            return false;
        }
        if !task.registered {
            return true;
        }
        match self
            .elb
            .target_health(&svc.target_group_arn, &task.ip, self.now)
        {
            Some(health) => health == Health::Healthy,
            None => true,
        }
    }

    fn stop_task(&mut self, svc: &mut ServiceRecord, index: usize, reason: String) {
        let now = self.now;
        let delay = self.timings.deregistration_delay;
        let task = &mut svc.tasks[index];
        if !task.desired_running && task.status != TaskStatus::Running {
            return;
        }
        task.desired_running = false;
        task.stopped_reason.get_or_insert(reason);
        match task.status {
            TaskStatus::Provisioning | TaskStatus::Pending => {
                task.status = TaskStatus::Stopped;
                task.stopped_at = Some(now);
                task.next_at = None;
            }
            TaskStatus::Running => {
                // Service load balancing: ECS deregisters the target and waits for the
                // deregistration delay (connection draining) before stopping the task.
                let drained = if task.registered {
                    self.elb
                        .deregister_target(&svc.target_group_arn, &task.ip, now, delay)
                } else {
                    None
                };
                match drained {
                    Some(end) => {
                        task.status = TaskStatus::Deactivating;
                        task.next_at = Some(end);
                    }
                    None => {
                        task.status = TaskStatus::Stopped;
                        task.stopped_at = Some(now);
                    }
                }
            }
            TaskStatus::Deactivating | TaskStatus::Stopped => {}
        }
    }

    fn launch_task(&mut self, svc: &mut ServiceRecord) {
        let primary = &svc.deployments[0];
        let (image, port) = self
            .find_task_definition(&primary.task_definition_arn)
            .map(|r| {
                (
                    r.def.input.container.image.clone(),
                    r.def.input.container.port,
                )
            })
            .unwrap_or_else(|| (String::new(), svc.container_port));
        let subnets = &primary.network.subnets;
        let subnet = subnets
            .get(svc.next_subnet % subnets.len().max(1))
            .cloned()
            .unwrap_or_default();
        svc.next_subnet += 1;
        let ip = self.allocate_ip(&subnet);
        let id = self.ids.hex(32);
        let task = TaskRecord {
            arn: format!("{}:task/{}/{id}", self.arn_prefix("ecs"), svc.cluster),
            deployment_id: primary.id.clone(),
            task_definition_arn: primary.task_definition_arn.clone(),
            behaviour: self.image_behaviour(&image),
            image,
            ip,
            port,
            status: TaskStatus::Provisioning,
            desired_running: true,
            created_at: self.now,
            started_at: None,
            stopped_at: None,
            stopped_reason: None,
            next_at: Some(after(self.now, self.timings.task_provisioning)),
            registered: false,
        };
        svc.tasks.push(task);
    }

    /// The service scheduler, for every service.
    pub fn ecs_schedule(&mut self) -> bool {
        let mut services = std::mem::take(&mut self.ecs.services);
        let mut changed = false;
        for svc in &mut services {
            changed |= match svc.status {
                ServiceStatus::Active => self.schedule_active(svc),
                ServiceStatus::Draining => self.schedule_draining(svc),
                ServiceStatus::Inactive => false,
            };
        }
        self.ecs.services = services;
        changed
    }

    fn schedule_draining(&mut self, svc: &mut ServiceRecord) -> bool {
        let mut changed = false;
        let primary = svc.deployments[0].id.clone();
        for i in 0..svc.tasks.len() {
            if svc.tasks[i].desired_running {
                self.stop_task(
                    svc,
                    i,
                    format!("Scaling activity initiated by (deployment {primary})"),
                );
                changed = true;
            }
        }
        // DeleteService: "After all tasks have transitioned to either STOPPING or STOPPED
        // status, the service status moves from DRAINING to INACTIVE."
        if svc.tasks.iter().all(|t| t.status == TaskStatus::Stopped) {
            svc.status = ServiceStatus::Inactive;
            svc.inactive_at = Some(self.now);
            svc.deployments.truncate(1);
            changed = true;
        }
        changed
    }

    fn schedule_active(&mut self, svc: &mut ServiceRecord) -> bool {
        let now = self.now;
        let mut changed = false;

        // ECS replaces tasks that fail the load balancer health checks once the health check
        // grace period is over (CreateService, healthCheckGracePeriodSeconds).
        for i in 0..svc.tasks.len() {
            let task = &svc.tasks[i];
            if !(task.desired_running && task.status == TaskStatus::Running && task.registered) {
                continue;
            }
            let unhealthy = self.elb.target_health(&svc.target_group_arn, &task.ip, now)
                == Some(Health::Unhealthy);
            let grace_over = task.started_at.is_some_and(|s| {
                after(s, Duration::from_secs(svc.grace_seconds.max(0) as u64)) <= now
            });
            if unhealthy && grace_over {
                let deployment = task.deployment_id.clone();
                let reason = format!(
                    "Task failed ELB health checks in (target-group {})",
                    svc.target_group_arn
                );
                self.stop_task(svc, i, reason);
                self.record_failure(svc, &deployment);
                changed = true;
            }
        }

        // A healthy task of the primary ends its run of failures (no more launch backoff).
        let primary_id = svc.deployments[0].id.clone();
        let primary_has_healthy = svc.tasks.iter().any(|t| {
            t.desired_running && t.deployment_id == primary_id && self.task_healthy(svc, t)
        });
        if primary_has_healthy && svc.deployments[0].consecutive_failures > 0 {
            svc.deployments[0].consecutive_failures = 0;
            svc.deployments[0].next_launch_at = None;
            changed = true;
        }

        // Deployment circuit breaker: FAILED once failed tasks reach the threshold, then roll
        // back to the last COMPLETED deployment's task definition.
        let desired = svc.desired_count.max(0);
        let threshold = failure_threshold(desired);
        if svc.deployments[0].rollout == RolloutState::InProgress
            && svc.deployments[0].failed_tasks >= threshold
        {
            svc.deployments[0].rollout = RolloutState::Failed;
            svc.deployments[0].reason =
                "ECS deployment circuit breaker: tasks failed to start.".to_string();
            changed = true;
            if let Some((completed_id, td, network)) = svc.last_completed.clone()
                && (td != svc.deployments[0].task_definition_arn
                    || network != svc.deployments[0].network)
            {
                let reason = format!(
                    "ECS deployment circuit breaker: rolling back to deploymentId {completed_id}."
                );
                let rollback = self.new_deployment(&td, &network, desired, Some(reason));
                svc.deployments.insert(0, rollback);
            }
        }

        let (min_percent, max_percent) = svc.bounds;
        let desired_tasks = desired as usize;
        let max_tasks = (desired as i64 * max_percent as i64 / 100).max(0) as usize;
        let min_healthy = ((desired as i64 * min_percent as i64 + 99) / 100).max(0) as usize;
        let primary_id = svc.deployments[0].id.clone();

        // Launch primary tasks up to desired, within maximumPercent.
        loop {
            let active = svc.tasks.iter().filter(|t| t.desired_running).count();
            let primary_active = svc
                .tasks
                .iter()
                .filter(|t| t.desired_running && t.deployment_id == primary_id)
                .count();
            let backing_off = svc.deployments[0].next_launch_at.is_some_and(|t| t > now);
            if primary_active >= desired_tasks || active >= max_tasks || backing_off {
                break;
            }
            self.launch_task(svc);
            changed = true;
        }

        // Stop tasks of older deployments, keeping minimumHealthyPercent healthy.
        let mut healthy = svc
            .tasks
            .iter()
            .filter(|t| t.desired_running && self.task_healthy(svc, t))
            .count();
        let mut old: Vec<usize> = (0..svc.tasks.len())
            .filter(|i| svc.tasks[*i].desired_running && svc.tasks[*i].deployment_id != primary_id)
            .collect();
        old.sort_by_key(|i| {
            (
                self.task_healthy(svc, &svc.tasks[*i]),
                svc.tasks[*i].created_at,
            )
        });
        for i in old {
            let is_healthy = self.task_healthy(svc, &svc.tasks[i]);
            if !is_healthy || healthy > min_healthy {
                if is_healthy {
                    healthy -= 1;
                }
                self.stop_task(
                    svc,
                    i,
                    format!("Scaling activity initiated by (deployment {primary_id})"),
                );
                changed = true;
            }
        }

        // Scale in the primary when desiredCount went down: unhealthy and newest tasks first.
        let mut primary_tasks: Vec<usize> = (0..svc.tasks.len())
            .filter(|i| svc.tasks[*i].desired_running && svc.tasks[*i].deployment_id == primary_id)
            .collect();
        if primary_tasks.len() > desired_tasks {
            primary_tasks.sort_by_key(|i| {
                (
                    self.task_healthy(svc, &svc.tasks[*i]),
                    std::cmp::Reverse(svc.tasks[*i].created_at),
                )
            });
            let excess = primary_tasks.len() - desired_tasks;
            for i in primary_tasks.into_iter().take(excess) {
                self.stop_task(
                    svc,
                    i,
                    format!("Scaling activity initiated by (deployment {primary_id})"),
                );
                changed = true;
            }
        }

        // Older deployments show the tasks they still run as their desired count.
        for dep in svc.deployments.iter_mut().skip(1) {
            let running = svc
                .tasks
                .iter()
                .filter(|t| t.desired_running && t.deployment_id == dep.id)
                .count() as i32;
            if dep.desired_count != running {
                dep.desired_count = running;
                changed = true;
            }
        }
        // COMPLETED: the primary runs desired healthy tasks and the old deployments' tasks have
        // stopped; the old deployments then leave the list (until then a FAILED one stays
        // visible as ACTIVE).
        let old_gone = svc
            .tasks
            .iter()
            .all(|t| t.deployment_id == primary_id || t.status == TaskStatus::Stopped);
        if svc.deployments[0].rollout == RolloutState::InProgress && old_gone {
            let primary_active: Vec<&TaskRecord> = svc
                .tasks
                .iter()
                .filter(|t| t.desired_running && t.deployment_id == primary_id)
                .collect();
            let healthy_primary = primary_active
                .iter()
                .filter(|t| self.task_healthy(svc, t))
                .count();
            if primary_active.len() == desired_tasks && healthy_primary == desired_tasks {
                let dep = &mut svc.deployments[0];
                dep.rollout = RolloutState::Completed;
                dep.reason = format!("ECS deployment {} completed.", dep.id);
                svc.last_completed = Some((
                    dep.id.clone(),
                    dep.task_definition_arn.clone(),
                    dep.network.clone(),
                ));
                svc.deployments.truncate(1);
                changed = true;
            }
        }
        changed
    }

    /// Forgets INACTIVE services after their retention and long-stopped tasks.
    pub fn ecs_purge(&mut self) {
        let now = self.now;
        let retention = self.timings.inactive_service_retention;
        self.ecs
            .services
            .retain(|s| s.inactive_at.is_none_or(|t| after(t, retention) > now));
        for svc in &mut self.ecs.services {
            svc.tasks.retain(|t| {
                t.stopped_at
                    .is_none_or(|s| after(s, STOPPED_TASK_RETENTION) > now)
            });
        }
    }

    /// Times at which ECS has something to do.
    pub fn ecs_events(&self, out: &mut Vec<Timestamp>) {
        for svc in &self.ecs.services {
            out.extend(svc.tasks.iter().filter_map(|t| t.next_at));
            out.extend(svc.deployments.iter().filter_map(|d| d.next_launch_at));
            if let Some(t) = svc.inactive_at {
                out.push(after(t, self.timings.inactive_service_retention));
            }
            if svc.status != ServiceStatus::Active {
                continue;
            }
            for task in &svc.tasks {
                // Only a target failing its health checks turns unhealthy later.
                if task.status != TaskStatus::Running
                    || !task.registered
                    || !task.desired_running
                    || task.behaviour.passes_health_checks()
                {
                    continue;
                }
                if let (Some(started), Some(unhealthy_at)) = (
                    task.started_at,
                    self.elb.unhealthy_at(&svc.target_group_arn, &task.ip),
                ) {
                    let grace_end = after(
                        started,
                        Duration::from_secs(svc.grace_seconds.max(0) as u64),
                    );
                    out.push(grace_end.max(unhealthy_at));
                }
            }
        }
    }
}

/// The [`Ecs`] trait over the shared world.
pub(crate) struct SimEcs {
    pub sim: AwsSim,
}

const ECS: SimService = SimService::Ecs;

#[async_trait]
impl Ecs for SimEcs {
    async fn register_task_definition(
        &self,
        input: &TaskDefinitionInput,
    ) -> AwsResult<TaskDefinition> {
        self.sim
            .call(ECS, "RegisterTaskDefinition", true, |w| {
                w.ecs_register_task_definition(input)
            })
            .await
    }

    async fn describe_task_definition(&self, arn: &str) -> AwsResult<Option<TaskDefinition>> {
        self.sim
            .call(ECS, "DescribeTaskDefinition", false, |w| {
                w.ecs_describe_task_definition(arn)
            })
            .await
    }

    async fn list_task_definitions(&self, family: &str) -> AwsResult<Vec<String>> {
        self.sim
            .call(ECS, "ListTaskDefinitions", false, |w| {
                w.ecs_list_task_definitions(family)
            })
            .await
    }

    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        self.sim
            .call(ECS, "DeregisterTaskDefinition", true, |w| {
                w.ecs_deregister_task_definition(arn)
            })
            .await
    }

    async fn create_service(&self, input: &ServiceInput) -> AwsResult<Service> {
        self.sim
            .call(ECS, "CreateService", true, |w| w.ecs_create_service(input))
            .await
    }

    async fn update_service(&self, update: &ServiceUpdate) -> AwsResult<Service> {
        self.sim
            .call(ECS, "UpdateService", true, |w| w.ecs_update_service(update))
            .await
    }

    async fn describe_services(&self, cluster: &str, names: &[String]) -> AwsResult<Vec<Service>> {
        self.sim
            .call(ECS, "DescribeServices", false, |w| {
                w.ecs_describe_services(cluster, names)
            })
            .await
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> AwsResult<()> {
        // The trait's contract, as the SDK adapter keeps it: a service that is gone, or whose
        // cluster is, is deleted.
        match self
            .sim
            .call(ECS, "DeleteService", true, |w| {
                w.ecs_delete_service(cluster, name)
            })
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    async fn describe_clusters(&self, clusters: &[String]) -> AwsResult<Clusters> {
        self.sim
            .call(ECS, "DescribeClusters", false, |w| {
                Ok(w.ecs_describe_clusters(clusters))
            })
            .await
    }
}
