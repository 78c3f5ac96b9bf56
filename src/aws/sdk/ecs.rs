//! [`Ecs`] over the AWS SDK: Fargate task definitions (`requiresCompatibilities=FARGATE`,
//! `networkMode=awsvpc`) and services (`launchType=FARGATE`, the deployment circuit breaker with
//! rollback, tags propagated from the service and ECS-managed tags), read back with their tags.
//!
//! Not found: DescribeServices reports missing services in `failures` (reason `MISSING`), which
//! become absent; DescribeTaskDefinition and DeregisterTaskDefinition answer a `ClientException`
//! for an unknown ARN, which becomes `None` / done; DeleteService's `ServiceNotFoundException`
//! (and an already inactive service, or a missing cluster) is done.

use super::RateLimit;
use super::error::{failed, from_sdk, invalid_input, missing_field};
use crate::aws::ecs::{
    Cluster, Clusters, ContainerDefinition, Ecs, EcsDeployment, LogConfiguration,
    NetworkConfiguration, RolloutState, Service, ServiceInput, ServiceUpdate, TaskDefinition,
    TaskDefinitionInput,
};
use crate::aws::{AwsError, AwsErrorKind, AwsResult, Tag};
use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    self as sdk, AssignPublicIp, AwsVpcConfiguration, Compatibility, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentRolloutState, KeyValuePair, LaunchType, LogDriver,
    NetworkMode, PortMapping, PropagateTags, Secret, ServiceField, SortOrder, TaskDefinitionField,
    TaskDefinitionStatus, TransportProtocol,
};

/// Service name in errors.
const SERVICE: &str = "ecs";
/// Default client-side rate: ECS's sustained rate for the describe and write calls we make.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;
/// DescribeServices takes at most this many services per call.
const DESCRIBE_SERVICES_BATCH: usize = 10;
/// ECS's defaults when a service has no deployment configuration.
const DEFAULT_BOUNDS: (i32, i32) = (100, 200);

/// Amazon ECS through the SDK, with a client-side rate limit.
#[derive(Clone, Debug)]
pub struct SdkEcs {
    client: Client,
    rate: RateLimit,
}

impl SdkEcs {
    /// The adapter with the default rate ([`DEFAULT_REQUESTS_PER_SECOND`]).
    pub fn new(client: Client) -> Self {
        Self::with_rate_limit(client, RateLimit::per_second(DEFAULT_REQUESTS_PER_SECOND))
    }

    /// The adapter with the given rate limit.
    pub fn with_rate_limit(client: Client, rate: RateLimit) -> Self {
        SdkEcs { client, rate }
    }
}

/// Whether an ECS error means the task definition does not exist: ECS answers an unknown one with
/// `ClientException` ("Unable to describe task definition.", "The specified task definition does
/// not exist.") rather than a not-found code.
fn task_definition_missing(err: &AwsError) -> bool {
    err.code == "ClientException"
        && ["Unable to describe task definition", "does not exist"]
            .iter()
            .any(|text| err.message.contains(text))
}

/// ECS's answer to a CreateService whose name exists with another client token or other settings.
fn refine_create_error(mut err: AwsError) -> AwsError {
    if err.kind == AwsErrorKind::InvalidRequest && err.message.contains("not idempotent") {
        err.kind = AwsErrorKind::AlreadyExists;
    }
    err
}

fn sdk_tags(tags: &[Tag]) -> Vec<sdk::Tag> {
    tags.iter()
        .map(|tag| sdk::Tag::builder().key(&tag.key).value(&tag.value).build())
        .collect()
}

fn tags_from(tags: &[sdk::Tag]) -> Vec<Tag> {
    tags.iter()
        .filter_map(|tag| Some(Tag::new(tag.key()?, tag.value().unwrap_or_default())))
        .collect()
}

/// `None` for an absent or empty list: ECS treats both alike.
fn non_empty(list: &Option<Vec<String>>) -> Option<Vec<String>> {
    list.as_ref().filter(|list| !list.is_empty()).cloned()
}

fn container_to_sdk(
    container: &ContainerDefinition,
    operation: &'static str,
) -> AwsResult<sdk::ContainerDefinition> {
    let environment = container
        .environment
        .iter()
        .map(|(name, value)| KeyValuePair::builder().name(name).value(value).build())
        .collect();
    let secrets = container
        .secrets
        .iter()
        .map(|(name, value_from)| {
            Secret::builder()
                .name(name)
                .value_from(value_from)
                .build()
                .map_err(|err| invalid_input(SERVICE, operation, err))
        })
        .collect::<AwsResult<Vec<_>>>()?;
    let logs = container
        .logs
        .as_ref()
        .map(|logs| {
            sdk::LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &logs.group)
                .options("awslogs-region", &logs.region)
                .options("awslogs-stream-prefix", &logs.stream_prefix)
                .build()
                .map_err(|err| invalid_input(SERVICE, operation, err))
        })
        .transpose()?;
    Ok(sdk::ContainerDefinition::builder()
        .name(&container.name)
        .image(&container.image)
        .essential(true)
        .set_entry_point(non_empty(&container.entry_point))
        .set_command(non_empty(&container.command))
        .port_mappings(
            PortMapping::builder()
                .container_port(container.port)
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .set_environment(Some(environment))
        .set_secrets(Some(secrets))
        .set_log_configuration(logs)
        .build())
}

fn container_from_sdk(container: &sdk::ContainerDefinition) -> ContainerDefinition {
    let logs = container.log_configuration().and_then(|logs| {
        let options = logs.options()?;
        let option = |key: &str| options.get(key).cloned().unwrap_or_default();
        Some(LogConfiguration {
            group: option("awslogs-group"),
            region: option("awslogs-region"),
            stream_prefix: option("awslogs-stream-prefix"),
        })
    });
    ContainerDefinition {
        name: container.name().unwrap_or_default().to_owned(),
        image: container.image().unwrap_or_default().to_owned(),
        entry_point: non_empty(&container.entry_point),
        command: non_empty(&container.command),
        port: container
            .port_mappings()
            .first()
            .and_then(PortMapping::container_port)
            .unwrap_or_default(),
        environment: container
            .environment()
            .iter()
            .map(|pair| {
                (
                    pair.name().unwrap_or_default().to_owned(),
                    pair.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        secrets: container
            .secrets()
            .iter()
            .map(|secret| (secret.name().to_owned(), secret.value_from().to_owned()))
            .collect(),
        logs,
    }
}

fn task_definition_from_sdk(definition: &sdk::TaskDefinition, tags: &[sdk::Tag]) -> TaskDefinition {
    let container = definition
        .container_definitions()
        .first()
        .map(container_from_sdk)
        .unwrap_or_else(|| container_from_sdk(&sdk::ContainerDefinition::builder().build()));
    TaskDefinition {
        arn: definition
            .task_definition_arn()
            .unwrap_or_default()
            .to_owned(),
        revision: definition.revision(),
        status: definition
            .status()
            .map(|status| status.as_str().to_owned())
            .unwrap_or_default(),
        input: TaskDefinitionInput {
            family: definition.family().unwrap_or_default().to_owned(),
            cpu: definition.cpu().unwrap_or_default().to_owned(),
            memory: definition.memory().unwrap_or_default().to_owned(),
            execution_role_arn: definition.execution_role_arn().map(str::to_owned),
            task_role_arn: definition.task_role_arn().map(str::to_owned),
            container,
            tags: tags_from(tags),
        },
    }
}

fn network_to_sdk(
    network: &NetworkConfiguration,
    operation: &'static str,
) -> AwsResult<sdk::NetworkConfiguration> {
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(network.subnets.clone()))
        .set_security_groups(Some(network.security_groups.clone()))
        .assign_public_ip(if network.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(|err| invalid_input(SERVICE, operation, err))?;
    Ok(sdk::NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn network_from_sdk(network: Option<&sdk::NetworkConfiguration>) -> NetworkConfiguration {
    let Some(vpc) = network.and_then(sdk::NetworkConfiguration::awsvpc_configuration) else {
        return NetworkConfiguration::default();
    };
    NetworkConfiguration {
        subnets: vpc.subnets().to_vec(),
        security_groups: vpc.security_groups().to_vec(),
        assign_public_ip: vpc.assign_public_ip() == Some(&AssignPublicIp::Enabled),
    }
}

/// Rolling bounds with the circuit breaker on and rolling back: every deployment configuration
/// the operator sends carries the breaker, so an update never turns it off.
fn deployment_configuration(
    (minimum_healthy_percent, maximum_percent): (i32, i32),
) -> DeploymentConfiguration {
    let breaker = DeploymentCircuitBreaker::builder()
        .enable(true)
        .rollback(true)
        .build();
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(breaker)
        .minimum_healthy_percent(minimum_healthy_percent)
        .maximum_percent(maximum_percent)
        .build()
}

fn rollout_state(state: &DeploymentRolloutState) -> Option<RolloutState> {
    match state {
        DeploymentRolloutState::InProgress => Some(RolloutState::InProgress),
        DeploymentRolloutState::Completed => Some(RolloutState::Completed),
        DeploymentRolloutState::Failed => Some(RolloutState::Failed),
        _ => None,
    }
}

fn deployment_from_sdk(deployment: &sdk::Deployment) -> EcsDeployment {
    EcsDeployment {
        id: deployment.id().unwrap_or_default().to_owned(),
        status: deployment.status().unwrap_or_default().to_owned(),
        task_definition_arn: deployment.task_definition().unwrap_or_default().to_owned(),
        desired_count: deployment.desired_count(),
        running_count: deployment.running_count(),
        pending_count: deployment.pending_count(),
        failed_tasks: deployment.failed_tasks(),
        rollout_state: deployment.rollout_state().and_then(rollout_state),
        rollout_state_reason: deployment.rollout_state_reason().map(str::to_owned),
    }
}

fn service_from_sdk(service: &sdk::Service) -> Service {
    let mut deployments: Vec<EcsDeployment> = service
        .deployments()
        .iter()
        .map(deployment_from_sdk)
        .collect();
    // Primary first, whatever order the answer had (a stable sort keeps the rest as they came).
    deployments.sort_by_key(|deployment| deployment.status != "PRIMARY");
    let deployment_bounds = service
        .deployment_configuration()
        .map_or(DEFAULT_BOUNDS, |config| {
            (
                config.minimum_healthy_percent().unwrap_or(DEFAULT_BOUNDS.0),
                config.maximum_percent().unwrap_or(DEFAULT_BOUNDS.1),
            )
        });
    Service {
        arn: service.service_arn().unwrap_or_default().to_owned(),
        name: service.service_name().unwrap_or_default().to_owned(),
        cluster_arn: service.cluster_arn().unwrap_or_default().to_owned(),
        status: service.status().unwrap_or_default().to_owned(),
        desired_count: service.desired_count(),
        running_count: service.running_count(),
        pending_count: service.pending_count(),
        task_definition_arn: service.task_definition().unwrap_or_default().to_owned(),
        deployments,
        network: network_from_sdk(service.network_configuration()),
        target_group_arn: service
            .load_balancers()
            .iter()
            .find_map(|balancer| balancer.target_group_arn().map(str::to_owned)),
        deployment_bounds,
        tags: tags_from(service.tags()),
    }
}

#[async_trait]
impl Ecs for SdkEcs {
    async fn register_task_definition(
        &self,
        input: &TaskDefinitionInput,
    ) -> AwsResult<TaskDefinition> {
        const OP: &str = "RegisterTaskDefinition";
        let container = container_to_sdk(&input.container, OP)?;
        self.rate.acquire().await;
        let output = self
            .client
            .register_task_definition()
            .family(&input.family)
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu(&input.cpu)
            .memory(&input.memory)
            .set_execution_role_arn(input.execution_role_arn.clone())
            .set_task_role_arn(input.task_role_arn.clone())
            .container_definitions(container)
            .set_tags(Some(sdk_tags(&input.tags)).filter(|tags| !tags.is_empty()))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        let definition = output
            .task_definition()
            .ok_or_else(|| missing_field(SERVICE, OP, "taskDefinition"))?;
        Ok(task_definition_from_sdk(definition, output.tags()))
    }

    async fn describe_task_definition(&self, arn: &str) -> AwsResult<Option<TaskDefinition>> {
        const OP: &str = "DescribeTaskDefinition";
        self.rate.acquire().await;
        let result = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(failed(SERVICE, OP));
        let output = match result {
            Ok(output) => output,
            Err(err) if task_definition_missing(&err) || err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        Ok(output
            .task_definition()
            .map(|definition| task_definition_from_sdk(definition, output.tags())))
    }

    async fn list_task_definitions(&self, family: &str) -> AwsResult<Vec<String>> {
        const OP: &str = "ListTaskDefinitions";
        let mut arns = Vec::new();
        let mut next_token = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .status(TaskDefinitionStatus::Active)
                .sort(SortOrder::Asc)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            // `familyPrefix` is documented as the full family name; keep exact matches only, so
            // `web` never lists `web-canary`'s revisions.
            arns.extend(
                output
                    .task_definition_arns()
                    .iter()
                    .filter(|arn| family_of(arn) == Some(family))
                    .cloned(),
            );
            next_token = output.next_token;
            if next_token.is_none() {
                return Ok(arns);
            }
        }
    }

    async fn deregister_task_definition(&self, arn: &str) -> AwsResult<()> {
        const OP: &str = "DeregisterTaskDefinition";
        self.rate.acquire().await;
        match self
            .client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(_) => Ok(()),
            Err(err) if task_definition_missing(&err) || err.is_not_found() => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn create_service(&self, input: &ServiceInput) -> AwsResult<Service> {
        const OP: &str = "CreateService";
        let network = network_to_sdk(&input.network, OP)?;
        let deployment =
            deployment_configuration((input.minimum_healthy_percent, input.maximum_percent));
        let balancer = sdk::LoadBalancer::builder()
            .target_group_arn(&input.target_group_arn)
            .container_name(&input.container_name)
            .container_port(input.container_port)
            .build();
        self.rate.acquire().await;
        let output = self
            .client
            .create_service()
            .cluster(&input.cluster)
            .service_name(&input.name)
            .task_definition(&input.task_definition_arn)
            .desired_count(input.desired_count)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .load_balancers(balancer)
            .health_check_grace_period_seconds(input.health_check_grace_period_seconds)
            .deployment_configuration(deployment)
            .propagate_tags(PropagateTags::Service)
            .enable_ecs_managed_tags(true)
            .client_token(&input.client_token)
            .set_tags(Some(sdk_tags(&input.tags)).filter(|tags| !tags.is_empty()))
            .send()
            .await
            .map_err(|err| refine_create_error(from_sdk(SERVICE, OP, err)))?;
        output
            .service()
            .map(service_from_sdk)
            .ok_or_else(|| missing_field(SERVICE, OP, "service"))
    }

    async fn update_service(&self, update: &ServiceUpdate) -> AwsResult<Service> {
        const OP: &str = "UpdateService";
        let network = update
            .network
            .as_ref()
            .map(|network| network_to_sdk(network, OP))
            .transpose()?;
        let deployment = update.deployment_bounds.map(deployment_configuration);
        self.rate.acquire().await;
        let output = self
            .client
            .update_service()
            .cluster(&update.cluster)
            .service(&update.name)
            .set_task_definition(update.task_definition_arn.clone())
            .set_desired_count(update.desired_count)
            .set_network_configuration(network)
            .set_deployment_configuration(deployment)
            .set_health_check_grace_period_seconds(update.health_check_grace_period_seconds)
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        output
            .service()
            .map(service_from_sdk)
            .ok_or_else(|| missing_field(SERVICE, OP, "service"))
    }

    async fn describe_services(&self, cluster: &str, names: &[String]) -> AwsResult<Vec<Service>> {
        const OP: &str = "DescribeServices";
        let mut services = Vec::with_capacity(names.len());
        // Callers batch by 10 already; chunking again keeps a longer list from failing.
        for batch in names.chunks(DESCRIBE_SERVICES_BATCH) {
            self.rate.acquire().await;
            let output = self
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(batch.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            // A service that does not exist is a `failures` entry with reason MISSING: absent.
            // Any other failure reason is an error for the whole call.
            if let Some(failure) = output
                .failures()
                .iter()
                .find(|failure| failure.reason() != Some("MISSING"))
            {
                return Err(AwsError::new(
                    SERVICE,
                    OP,
                    AwsErrorKind::Other,
                    failure.reason().unwrap_or("Failure"),
                    format!(
                        "{}: {}",
                        failure.arn().unwrap_or_default(),
                        failure.detail().unwrap_or_default()
                    ),
                ));
            }
            services.extend(output.services().iter().map(service_from_sdk));
        }
        Ok(services)
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> AwsResult<()> {
        const OP: &str = "DeleteService";
        self.rate.acquire().await;
        match self
            .client
            .delete_service()
            .cluster(cluster)
            .service(name)
            .force(true)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(_) => Ok(()),
            // Gone, already deleted (INACTIVE), or its cluster is gone: done.
            Err(err) if err.is_not_found() || err.code == "ServiceNotActiveException" => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn describe_clusters(&self, clusters: &[String]) -> AwsResult<Clusters> {
        const OP: &str = "DescribeClusters";
        self.rate.acquire().await;
        let output = self
            .client
            .describe_clusters()
            .set_clusters(Some(clusters.to_vec()))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(Clusters {
            found: output
                .clusters()
                .iter()
                .map(|c| Cluster {
                    arn: c.cluster_arn().unwrap_or_default().to_owned(),
                    name: c.cluster_name().unwrap_or_default().to_owned(),
                    status: c.status().unwrap_or_default().to_owned(),
                    capacity_providers: c.capacity_providers().to_vec(),
                })
                .collect(),
            failures: output
                .failures()
                .iter()
                .map(|f| {
                    (
                        f.arn().unwrap_or_default().to_owned(),
                        f.reason().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        })
    }
}

/// The family of a task definition ARN (`arn:...:task-definition/<family>:<revision>`).
fn family_of(arn: &str) -> Option<&str> {
    let name = arn.rsplit_once('/').map_or(arn, |(_, name)| name);
    name.rsplit_once(':').map(|(family, _)| family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_of_takes_the_name_between_the_slash_and_the_revision() {
        assert_eq!(
            family_of("arn:aws:ecs:eu-west-1:123456789012:task-definition/web-a:12"),
            Some("web-a")
        );
        assert_eq!(family_of("web:3"), Some("web"));
        assert_eq!(family_of("web"), None);
    }

    #[test]
    fn an_unknown_task_definition_is_recognised_by_its_client_exception() {
        let missing = AwsError::new(
            SERVICE,
            "DescribeTaskDefinition",
            AwsErrorKind::InvalidRequest,
            "ClientException",
            "Unable to describe task definition.",
        );
        assert!(task_definition_missing(&missing));
        let invalid = AwsError::new(
            SERVICE,
            "DescribeTaskDefinition",
            AwsErrorKind::InvalidRequest,
            "ClientException",
            "Invalid revision number.",
        );
        assert!(!task_definition_missing(&invalid));
    }

    #[test]
    fn a_non_idempotent_create_is_already_exists() {
        let err = AwsError::new(
            SERVICE,
            "CreateService",
            AwsErrorKind::InvalidRequest,
            "InvalidParameterException",
            "Creation of service was not idempotent.",
        );
        assert_eq!(refine_create_error(err).kind, AwsErrorKind::AlreadyExists);
    }

    #[test]
    fn service_mapping_puts_the_primary_deployment_first_and_defaults_the_bounds() {
        let service = sdk::Service::builder()
            .service_name("web-a")
            .deployments(
                sdk::Deployment::builder()
                    .id("old")
                    .status("ACTIVE")
                    .build(),
            )
            .deployments(
                sdk::Deployment::builder()
                    .id("new")
                    .status("PRIMARY")
                    .build(),
            )
            .build();
        let service = service_from_sdk(&service);
        let ids: Vec<&str> = service.deployments.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["new", "old"]);
        assert_eq!(service.deployment_bounds, DEFAULT_BOUNDS);
    }
}
