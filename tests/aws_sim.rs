//! Behaviour of the in-process AWS simulator (`cygni::sim::aws`): one behaviour per test, driven
//! through the same traits the controllers use, with a manual clock (no sleeping).

use cygni::aws::acm::{CertificateRequest, CertificateStatus};
use cygni::aws::cloudwatch::{AlarmStateValue, DataQuery, MetricQuery};
use cygni::aws::ecs::{
    ContainerDefinition, RolloutState, Service, ServiceInput, ServiceUpdate, TaskDefinition,
    TaskDefinitionInput,
};
use cygni::aws::elbv2::{
    HealthCheckConfig, Rule, RuleConditions, TargetGroup, TargetGroupInput, TargetState,
    WeightedTarget,
};
use cygni::aws::route53::{AliasTarget, Change, ChangeAction, ChangeStatus, RecordSet, RecordType};
use cygni::aws::{AwsErrorKind, AwsServices, Tag};
use cygni::clock::ManualClock;
use cygni::config::OperatorDefaults;
use cygni::sim::aws::{
    AwsSim, ComparisonOperator, Faults, ImageBehaviour, MetricAlarm, SimConfig, SimService, Timings,
};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;

// ---- fixtures ----

const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

struct Playground {
    sim: AwsSim,
    aws: AwsServices,
    clock: Arc<ManualClock>,
    defaults: OperatorDefaults,
}

fn playground() -> Playground {
    playground_with_seed(7)
}

fn playground_with_seed(seed: u64) -> Playground {
    let clock = Arc::new(ManualClock::new(
        Timestamp::from_second(START).expect("valid"),
    ));
    let config = SimConfig {
        seed,
        clock: clock.clone(),
        timings: Timings::default(),
        ..SimConfig::default()
    };
    let (sim, defaults) = AwsSim::playground(config);
    Playground {
        aws: sim.services(),
        sim,
        clock,
        defaults,
    }
}

fn health_check() -> HealthCheckConfig {
    HealthCheckConfig {
        path: "/healthz".to_string(),
        port: None,
        interval_seconds: 10,
        timeout_seconds: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: "200-399".to_string(),
    }
}

fn task_definition_input(family: &str, image: &str) -> TaskDefinitionInput {
    TaskDefinitionInput {
        family: family.to_string(),
        cpu: "256".to_string(),
        memory: "512".to_string(),
        execution_role_arn: Some("arn:aws:iam::123456789012:role/ecsTaskExecutionRole".to_string()),
        task_role_arn: None,
        container: ContainerDefinition {
            name: "app".to_string(),
            image: image.to_string(),
            entry_point: None,
            command: None,
            port: 8080,
            environment: vec![("MODE".to_string(), "demo".to_string())],
            secrets: Vec::new(),
            logs: None,
        },
        tags: vec![Tag::new("cygni.io/owner", "default/App/web")],
    }
}

impl Playground {
    fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    fn listener(&self) -> String {
        self.defaults
            .listener_arn
            .clone()
            .expect("playground listener")
    }

    fn cluster(&self) -> String {
        self.defaults
            .ecs_cluster
            .clone()
            .expect("playground cluster")
    }

    async fn task_definition(&self, family: &str, image: &str) -> TaskDefinition {
        self.aws
            .ecs
            .register_task_definition(&task_definition_input(family, image))
            .await
            .expect("task definition registers")
    }

    fn target_group_input(&self, name: &str) -> TargetGroupInput {
        TargetGroupInput {
            name: name.to_string(),
            port: 8080,
            vpc_id: self.sim.network().vpc_id,
            health_check: health_check(),
            tags: vec![Tag::new("cygni.io/owner", "default/App/web")],
        }
    }

    async fn target_group(&self, name: &str) -> TargetGroup {
        self.aws
            .elbv2
            .create_target_group(&self.target_group_input(name))
            .await
            .expect("target group creates")
    }

    async fn rule(&self, priority: i32, host: &str, forward: &[(&TargetGroup, i32)]) -> Rule {
        self.aws
            .elbv2
            .create_rule(
                &self.listener(),
                priority,
                &hosts(&[host]),
                &weights(forward),
                &[],
            )
            .await
            .expect("rule creates")
    }

    fn service_input(
        &self,
        name: &str,
        task_definition: &TaskDefinition,
        tg: &TargetGroup,
        desired: i32,
    ) -> ServiceInput {
        ServiceInput {
            cluster: self.cluster(),
            name: name.to_string(),
            task_definition_arn: task_definition.arn.clone(),
            desired_count: desired,
            network: cygni::aws::ecs::NetworkConfiguration {
                subnets: self.defaults.subnets.clone(),
                security_groups: self.defaults.security_groups.clone(),
                assign_public_ip: false,
            },
            target_group_arn: tg.arn.clone(),
            container_name: "app".to_string(),
            container_port: 8080,
            health_check_grace_period_seconds: 0,
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            client_token: String::new(),
            tags: vec![Tag::new("cygni.io/owner", "default/App/web")],
        }
    }

    /// A target group routed from the listener and a service of `desired` tasks of `image` in it.
    async fn app(
        &self,
        name: &str,
        image: &str,
        desired: i32,
    ) -> (TaskDefinition, TargetGroup, Service) {
        let td = self.task_definition(name, image).await;
        let tg = self.target_group(&format!("{name}-a")).await;
        self.rule(10, &format!("{name}.example.com"), &[(&tg, 100)])
            .await;
        let service = self
            .aws
            .ecs
            .create_service(&self.service_input(name, &td, &tg, desired))
            .await
            .expect("service creates");
        (td, tg, service)
    }

    async fn describe(&self, name: &str) -> Service {
        self.aws
            .ecs
            .describe_services(&self.cluster(), &[name.to_string()])
            .await
            .expect("describe works")
            .pop()
            .expect("service exists")
    }

    async fn zone_id(&self) -> String {
        self.aws.route53.list_hosted_zones().await.expect("zones")[0]
            .id
            .clone()
    }

    async fn change(
        &self,
        changes: Vec<Change>,
    ) -> cygni::aws::AwsResult<cygni::aws::route53::ChangeInfo> {
        let zone = self.zone_id().await;
        self.aws.route53.change_record_sets(&zone, &changes).await
    }

    async fn records(&self) -> Vec<RecordSet> {
        let zone = self.zone_id().await;
        self.aws
            .route53
            .list_record_sets(&zone)
            .await
            .expect("records")
    }

    async fn states(&self, tg: &TargetGroup) -> Vec<TargetState> {
        self.aws
            .elbv2
            .describe_target_health(&tg.arn)
            .await
            .expect("target health")
            .into_iter()
            .map(|t| t.state)
            .collect()
    }
}

fn hosts(hosts: &[&str]) -> RuleConditions {
    RuleConditions {
        host_headers: hosts.iter().map(|h| h.to_string()).collect(),
        path_patterns: Vec::new(),
    }
}

fn weights(forward: &[(&TargetGroup, i32)]) -> Vec<WeightedTarget> {
    forward
        .iter()
        .map(|(tg, weight)| WeightedTarget {
            target_group_arn: tg.arn.clone(),
            weight: *weight,
        })
        .collect()
}

fn record(action: ChangeAction, name: &str, type_: RecordType, values: &[&str]) -> Change {
    Change {
        action,
        record: RecordSet {
            name: name.to_string(),
            type_,
            ttl: Some(300),
            values: values.iter().map(|v| v.to_string()).collect(),
            alias: None,
        },
    }
}

fn certificate_request(domain: &str, token: &str) -> CertificateRequest {
    CertificateRequest {
        domain_name: domain.to_string(),
        subject_alternative_names: Vec::new(),
        idempotency_token: token.to_string(),
        tags: vec![Tag::new("cygni.io/owner", "default/Domain/shop")],
    }
}

fn metric_query(
    id: &str,
    name: &str,
    dimensions: &[(&str, &str)],
    stat: &str,
    period: i32,
) -> MetricQuery {
    MetricQuery {
        id: id.to_string(),
        namespace: "AWS/ApplicationELB".to_string(),
        metric_name: name.to_string(),
        dimensions: dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        stat: stat.to_string(),
        period_seconds: period,
    }
}

/// An AWS/ApplicationELB metric whose datapoints are returned.
fn metric(id: &str, name: &str, dimensions: &[(&str, &str)], stat: &str, period: i32) -> DataQuery {
    metric_query(id, name, dimensions, stat, period).into()
}

/// An AWS/ApplicationELB metric that only feeds expressions.
fn input(id: &str, name: &str, dimensions: &[(&str, &str)], stat: &str) -> DataQuery {
    DataQuery::Metric {
        query: metric_query(id, name, dimensions, stat, 60),
        return_data: false,
    }
}

/// A metric math expression with a one-minute period.
fn expression(id: &str, expression: &str) -> DataQuery {
    DataQuery::Expression {
        id: id.to_string(),
        expression: expression.to_string(),
        period_seconds: 60,
    }
}

fn kind<T: std::fmt::Debug>(result: cygni::aws::AwsResult<T>) -> (AwsErrorKind, String, String) {
    let error = result.expect_err("the call fails");
    (error.kind, error.code, error.message)
}

// ---- ECS: task definitions ----

#[tokio::test]
async fn task_definition_revisions_count_up_per_family_and_deregistered_ones_turn_inactive() {
    let p = playground();
    let first = p.task_definition("web", "web:1").await;
    let second = p.task_definition("web", "web:2").await;
    let other = p.task_definition("api", "api:1").await;
    assert_eq!((first.revision, second.revision, other.revision), (1, 2, 1));
    assert_eq!(
        first.arn,
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1"
    );

    p.aws
        .ecs
        .deregister_task_definition(&first.arn)
        .await
        .expect("deregisters");
    let described = p
        .aws
        .ecs
        .describe_task_definition(&first.arn)
        .await
        .expect("describe");
    assert_eq!(described.map(|d| d.status), Some("INACTIVE".to_string()));
    assert_eq!(
        p.aws.ecs.list_task_definitions("web").await.expect("list"),
        vec![second.arn.clone()]
    );
    // Deregistering twice or something unknown counts as done.
    p.aws
        .ecs
        .deregister_task_definition(&first.arn)
        .await
        .expect("idempotent");
    p.aws
        .ecs
        .deregister_task_definition("web:99")
        .await
        .expect("unknown is done");
    assert_eq!(
        p.aws
            .ecs
            .describe_task_definition("web:99")
            .await
            .expect("describe"),
        None
    );
}

#[tokio::test]
async fn fargate_refuses_cpu_and_memory_that_no_fargate_size_has() {
    let p = playground();
    let mut input = task_definition_input("web", "web:1");
    input.cpu = "512".to_string();
    input.memory = "512".to_string();
    let (kind, code, message) = kind(p.aws.ecs.register_task_definition(&input).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InvalidRequest, "ClientException")
    );
    assert_eq!(
        message,
        "No Fargate configuration exists for given values: 512 CPU, 512 memory. See the Amazon ECS documentation for the valid values."
    );
    // The vCPU/GB spellings are accepted and mean the same sizes.
    input.cpu = "1 vCPU".to_string();
    input.memory = "2 GB".to_string();
    assert!(p.aws.ecs.register_task_definition(&input).await.is_ok());
    input.memory = "3072".to_string();
    assert!(p.aws.ecs.register_task_definition(&input).await.is_ok());
    input.cpu = "300".to_string();
    assert!(p.aws.ecs.register_task_definition(&input).await.is_err());
}

// ---- ECS: services ----

#[tokio::test]
async fn service_deployment_progresses_to_completed_and_registers_healthy_targets() {
    let p = playground();
    let (td, tg, created) = p.app("web", "web:1", 2).await;
    assert_eq!(
        created.arn,
        "arn:aws:ecs:eu-west-1:123456789012:service/playground/web"
    );
    assert_eq!(
        created.deployments[0].rollout_state,
        Some(RolloutState::InProgress)
    );

    // Provisioning (5 s) and pending (10 s): running and registered, health checks starting.
    p.advance(15);
    let service = p.describe("web").await;
    assert_eq!((service.running_count, service.pending_count), (2, 0));
    assert_eq!(
        p.states(&tg).await,
        vec![TargetState::Initial, TargetState::Initial]
    );
    assert_eq!(
        service.deployments[0].rollout_state,
        Some(RolloutState::InProgress)
    );

    // Two passing checks 10 s apart: healthy, and the deployment is complete.
    p.advance(20);
    assert_eq!(
        p.states(&tg).await,
        vec![TargetState::Healthy, TargetState::Healthy]
    );
    let service = p.describe("web").await;
    assert_eq!(service.deployments.len(), 1);
    assert_eq!(service.deployments[0].status, "PRIMARY");
    assert_eq!(
        service.deployments[0].rollout_state,
        Some(RolloutState::Completed)
    );
    assert_eq!(service.task_definition_arn, td.arn);
    assert_eq!(
        service.tags,
        vec![Tag::new("cygni.io/owner", "default/App/web")]
    );
}

#[tokio::test]
async fn new_task_definition_replaces_tasks_and_old_targets_drain() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:1", 2).await;
    p.advance(60);
    let v2 = p.task_definition("web", "web:2").await;
    let update = ServiceUpdate {
        cluster: p.cluster(),
        name: "web".to_string(),
        task_definition_arn: Some(v2.arn.clone()),
        ..ServiceUpdate::default()
    };
    let updated = p.aws.ecs.update_service(&update).await.expect("updates");
    assert_eq!(updated.deployments.len(), 2);
    assert_eq!(updated.deployments[0].task_definition_arn, v2.arn);

    // New tasks healthy after 35 s; then the old ones (minimum healthy 100%) deregister.
    p.advance(35);
    let mut states = p.states(&tg).await;
    states.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(
        states,
        vec![
            TargetState::Draining,
            TargetState::Draining,
            TargetState::Healthy,
            TargetState::Healthy
        ]
    );
    assert_eq!(
        p.describe("web").await.deployments[0].rollout_state,
        Some(RolloutState::InProgress)
    );

    // The deregistration delay (300 s) ends the old tasks; the deployment completes.
    p.advance(300);
    let service = p.describe("web").await;
    assert_eq!(service.deployments.len(), 1);
    assert_eq!(
        service.deployments[0].rollout_state,
        Some(RolloutState::Completed)
    );
    assert_eq!(
        p.states(&tg).await,
        vec![TargetState::Healthy, TargetState::Healthy]
    );
}

#[tokio::test]
async fn crash_image_trips_the_circuit_breaker_and_rolls_back() {
    let p = playground();
    let (v1, _, _) = p.app("web", "web:1", 2).await;
    p.advance(60);
    let bad = p.task_definition("web", "web:bad").await;
    let update = ServiceUpdate {
        cluster: p.cluster(),
        name: "web".to_string(),
        task_definition_arn: Some(bad.arn.clone()),
        ..ServiceUpdate::default()
    };
    p.aws.ecs.update_service(&update).await.expect("updates");

    // Crashing tasks fail until the threshold (max(3, ceil(0.5 x 2)) = 3) trips the breaker.
    p.advance(60);
    let service = p.describe("web").await;
    let failed = service
        .deployments
        .iter()
        .find(|d| d.task_definition_arn == bad.arn)
        .expect("failed deployment still listed");
    assert_eq!(failed.status, "ACTIVE");
    assert_eq!(failed.rollout_state, Some(RolloutState::Failed));
    assert_eq!(
        failed.rollout_state_reason.as_deref(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    assert!(failed.failed_tasks >= 3);
    // Rolled back: a new primary with the last completed task definition.
    assert_eq!(service.deployments[0].task_definition_arn, v1.arn);
    assert_eq!(service.task_definition_arn, v1.arn);
    assert!(
        service.deployments[0]
            .rollout_state_reason
            .as_deref()
            .is_some_and(|r| r.starts_with(
                "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/"
            ))
    );
    // The old tasks kept serving all along.
    assert_eq!(service.running_count, 4);

    p.advance(600);
    let service = p.describe("web").await;
    assert_eq!(service.deployments.len(), 1);
    assert_eq!(
        service.deployments[0].rollout_state,
        Some(RolloutState::Completed)
    );
    assert_eq!(service.deployments[0].task_definition_arn, v1.arn);
    assert_eq!(service.running_count, 2);
}

#[tokio::test]
async fn unhealthy_image_fails_health_checks_and_its_tasks_are_replaced() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:unhealthy", 1).await;
    // Running at 15 s, unhealthy after two failing checks (20 s), stopped by ECS at once (no grace).
    p.advance(35);
    let snapshot = p.sim.snapshot();
    let tasks = &snapshot.service("web").expect("service").tasks;
    assert!(tasks.iter().any(|t| t.stopped_reason.as_deref()
        == Some(&format!(
            "Task failed ELB health checks in (target-group {})",
            tg.arn
        ))));
    assert_eq!(p.states(&tg).await, vec![TargetState::Draining]);
    assert_eq!(p.describe("web").await.deployments[0].failed_tasks, 1);
}

#[tokio::test]
async fn desired_count_scales_tasks_up_and_down_and_removed_targets_drain() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:1", 2).await;
    p.advance(60);
    let scale = |count| ServiceUpdate {
        cluster: p.cluster(),
        name: "web".to_string(),
        desired_count: Some(count),
        ..ServiceUpdate::default()
    };
    let up = p
        .aws
        .ecs
        .update_service(&scale(4))
        .await
        .expect("scales up");
    assert_eq!(
        up.deployments.len(),
        1,
        "a desired count change is no new deployment"
    );
    p.advance(35);
    let service = p.describe("web").await;
    assert_eq!((service.desired_count, service.running_count), (4, 4));
    assert_eq!(
        p.states(&tg)
            .await
            .iter()
            .filter(|s| **s == TargetState::Healthy)
            .count(),
        4
    );

    p.aws
        .ecs
        .update_service(&scale(1))
        .await
        .expect("scales down");
    let service = p.describe("web").await;
    assert_eq!(service.running_count, 1);
    let states = p.states(&tg).await;
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == TargetState::Draining)
            .count(),
        3
    );
    p.advance(300);
    assert_eq!(p.states(&tg).await, vec![TargetState::Healthy]);
}

#[tokio::test]
async fn describe_services_takes_at_most_ten_names_and_leaves_missing_ones_out() {
    let p = playground();
    p.app("web", "web:1", 1).await;
    let eleven: Vec<String> = (0..11).map(|i| format!("svc-{i}")).collect();
    let (kind, code, message) = kind(p.aws.ecs.describe_services(&p.cluster(), &eleven).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InvalidRequest, "InvalidParameterException")
    );
    assert_eq!(message, "service names can have at most 10 items.");

    let names = vec!["web".to_string(), "missing".to_string()];
    let found = p
        .aws
        .ecs
        .describe_services(&p.cluster(), &names)
        .await
        .expect("describe");
    assert_eq!(
        found.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["web"]
    );
}

#[tokio::test]
async fn deleted_service_drains_then_stays_describable_as_inactive_for_a_while() {
    let p = playground();
    p.app("web", "web:1", 2).await;
    p.advance(60);
    p.aws
        .ecs
        .delete_service(&p.cluster(), "web")
        .await
        .expect("deletes");
    assert_eq!(p.describe("web").await.status, "DRAINING");
    p.advance(300);
    let service = p.describe("web").await;
    assert_eq!(
        (service.status.as_str(), service.running_count),
        ("INACTIVE", 0)
    );
    // Deleting again counts as done; after the retention the service is gone.
    p.aws
        .ecs
        .delete_service(&p.cluster(), "web")
        .await
        .expect("idempotent");
    p.advance(3600);
    let names = vec!["web".to_string()];
    assert!(
        p.aws
            .ecs
            .describe_services(&p.cluster(), &names)
            .await
            .expect("describe")
            .is_empty()
    );
}

#[tokio::test]
async fn create_service_with_the_same_client_token_returns_the_first_service() {
    let p = playground();
    let td = p.task_definition("web", "web:1").await;
    let tg = p.target_group("web-a").await;
    p.rule(10, "web.example.com", &[(&tg, 100)]).await;
    let mut input = p.service_input("web", &td, &tg, 2);
    input.client_token = "3f0c1e6a-uid-web-a".to_string();
    let first = p.aws.ecs.create_service(&input).await.expect("creates");
    p.advance(5);
    let again = p
        .aws
        .ecs
        .create_service(&input)
        .await
        .expect("same token, same input");
    assert_eq!(again.arn, first.arn);
    assert_eq!(again.deployments[0].id, first.deployments[0].id);
    assert_eq!(p.sim.snapshot().services.len(), 1);
}

#[tokio::test]
async fn create_service_for_an_existing_name_without_its_token_is_not_idempotent() {
    let p = playground();
    let (td, tg, _) = p.app("web", "web:1", 1).await;
    let mut input = p.service_input("web", &td, &tg, 1);
    let (kind, code, message) = kind(p.aws.ecs.create_service(&input).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InvalidRequest, "InvalidParameterException")
    );
    assert_eq!(message, "Creation of service was not idempotent.");
    input.client_token = "other-token".to_string();
    assert_eq!(
        kind_of(p.aws.ecs.create_service(&input).await),
        AwsErrorKind::InvalidRequest
    );
}

fn kind_of<T: std::fmt::Debug>(result: cygni::aws::AwsResult<T>) -> AwsErrorKind {
    result.expect_err("the call fails").kind
}

#[tokio::test]
async fn create_service_needs_a_target_group_attached_to_a_load_balancer() {
    let p = playground();
    let td = p.task_definition("web", "web:1").await;
    let tg = p.target_group("web-a").await;
    let (_, _, message) = kind(
        p.aws
            .ecs
            .create_service(&p.service_input("web", &td, &tg, 1))
            .await,
    );
    assert_eq!(
        message,
        format!(
            "The target group with targetGroupArn {} does not have an associated load balancer.",
            tg.arn
        )
    );
}

// ---- ELBv2 ----

#[tokio::test]
async fn target_group_names_follow_the_elb_rules() {
    let p = playground();
    let create = |name: &str| {
        let input = p.target_group_input(name);
        let elbv2 = p.aws.elbv2.clone();
        async move { elbv2.create_target_group(&input).await }
    };
    let (_, code, message) = kind(create("a-name-that-is-much-longer-than-32").await);
    assert_eq!(code, "ValidationError");
    assert_eq!(
        message,
        "Target group name 'a-name-that-is-much-longer-than-32' cannot be longer than '32' characters"
    );
    assert!(
        kind(create("under_score").await)
            .2
            .contains("alphanumeric characters or hyphens")
    );
    assert!(
        kind(create("-leading").await)
            .2
            .contains("cannot begin or end with '-'")
    );
    let ok = create("exactly-32-characters-long-name1")
        .await
        .expect("32 is fine");
    assert!(
        ok.arn.starts_with("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/exactly-32-characters-long-name1/")
    );
    assert_eq!(ok.arn.rsplit('/').next().map(str::len), Some(16));
}

#[tokio::test]
async fn creating_a_target_group_again_returns_it_unless_the_settings_differ() {
    let p = playground();
    let first = p.target_group("web-a").await;
    let again = p.target_group("web-a").await;
    assert_eq!(again.arn, first.arn);
    let mut different = p.target_group_input("web-a");
    different.port = 9090;
    let (kind, code, _) = kind(p.aws.elbv2.create_target_group(&different).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::AlreadyExists, "DuplicateTargetGroupName")
    );
    assert_eq!(p.sim.snapshot().target_groups.len(), 1);
}

#[tokio::test]
async fn a_second_rule_with_a_priority_in_use_is_refused() {
    let p = playground();
    let tg = p.target_group("web-a").await;
    p.rule(10, "web.example.com", &[(&tg, 100)]).await;
    let result = p
        .aws
        .elbv2
        .create_rule(
            &p.listener(),
            10,
            &hosts(&["api.example.com"]),
            &weights(&[(&tg, 100)]),
            &[],
        )
        .await;
    let (kind, code, message) = kind(result);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::AlreadyExists, "PriorityInUse")
    );
    assert_eq!(message, "Priority '10' is currently in use");
    let out_of_range = p
        .aws
        .elbv2
        .create_rule(
            &p.listener(),
            50001,
            &hosts(&["api.example.com"]),
            &weights(&[(&tg, 1)]),
            &[],
        )
        .await;
    assert_eq!(kind_of(out_of_range), AwsErrorKind::InvalidRequest);
}

#[tokio::test]
async fn forward_actions_allow_five_target_groups_and_weights_up_to_999() {
    let p = playground();
    let mut groups = Vec::new();
    for i in 0..6 {
        groups.push(p.target_group(&format!("tg-{i}")).await);
    }
    let six: Vec<(&TargetGroup, i32)> = groups.iter().map(|g| (g, 1)).collect();
    let listener = p.listener();
    let conditions = hosts(&["web.example.com"]);
    let too_many = p
        .aws
        .elbv2
        .create_rule(&listener, 1, &conditions, &weights(&six), &[])
        .await;
    assert!(kind(too_many).2.contains("at most '5' target groups"));
    let heavy = p
        .aws
        .elbv2
        .create_rule(
            &listener,
            1,
            &conditions,
            &weights(&[(&groups[0], 1000)]),
            &[],
        )
        .await;
    assert!(
        kind(heavy)
            .2
            .contains("Member must have value less than or equal to 999")
    );
    let rule = p.rule(1, "web.example.com", &six[..5]).await;
    let shifted = p
        .aws
        .elbv2
        .modify_rule(
            &rule.arn,
            &conditions,
            &weights(&[(&groups[0], 999), (&groups[1], 0)]),
        )
        .await
        .expect("modifies");
    assert_eq!(
        shifted.forward.iter().map(|f| f.weight).collect::<Vec<_>>(),
        vec![999, 0]
    );
}

#[tokio::test]
async fn rule_conditions_allow_five_values_and_host_headers_of_128_characters() {
    let p = playground();
    let tg = p.target_group("web-a").await;
    let six = hosts(&[
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "d.example.com",
        "e.example.com",
        "f.example.com",
    ]);
    let result = p
        .aws
        .elbv2
        .create_rule(&p.listener(), 1, &six, &weights(&[(&tg, 1)]), &[])
        .await;
    assert_eq!(kind(result).1, "TooManyConditionValues");
    let long_host = format!("{}.example.com", "a".repeat(120));
    let result = p
        .aws
        .elbv2
        .create_rule(
            &p.listener(),
            1,
            &hosts(&[&long_host]),
            &weights(&[(&tg, 1)]),
            &[],
        )
        .await;
    assert_eq!(kind_of(result), AwsErrorKind::InvalidRequest);
}

#[tokio::test]
async fn a_target_group_a_rule_forwards_to_cannot_be_deleted() {
    let p = playground();
    let tg = p.target_group("web-a").await;
    let rule = p.rule(10, "web.example.com", &[(&tg, 100)]).await;
    let (kind, code, _) = kind(p.aws.elbv2.delete_target_group(&tg.arn).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InUse, "ResourceInUse")
    );
    p.aws
        .elbv2
        .delete_rule(&rule.arn)
        .await
        .expect("rule deletes");
    p.aws
        .elbv2
        .delete_target_group(&tg.arn)
        .await
        .expect("now it deletes");
    p.aws
        .elbv2
        .delete_target_group(&tg.arn)
        .await
        .expect("not found is done");
}

#[tokio::test]
async fn targets_of_a_target_group_no_rule_uses_are_unused() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:1", 1).await;
    p.advance(60);
    let rules = p
        .aws
        .elbv2
        .describe_rules(&p.listener())
        .await
        .expect("rules");
    assert_eq!(
        rules.last().map(|r| r.priority),
        Some(None),
        "the default rule comes last"
    );
    p.aws
        .elbv2
        .delete_rule(&rules[0].arn)
        .await
        .expect("deletes");
    let health = p
        .aws
        .elbv2
        .describe_target_health(&tg.arn)
        .await
        .expect("health");
    assert_eq!(health[0].state, TargetState::Unused);
    assert_eq!(health[0].reason.as_deref(), Some("Target.NotInUse"));
}

#[tokio::test]
async fn describe_tags_takes_at_most_twenty_arns() {
    let p = playground();
    let tg = p.target_group("web-a").await;
    let tags = p
        .aws
        .elbv2
        .describe_tags(std::slice::from_ref(&tg.arn))
        .await
        .expect("tags");
    assert_eq!(
        tags[&tg.arn],
        vec![Tag::new("cygni.io/owner", "default/App/web")]
    );
    let many: Vec<String> = (0..21).map(|_| tg.arn.clone()).collect();
    assert_eq!(
        kind_of(p.aws.elbv2.describe_tags(&many).await),
        AwsErrorKind::InvalidRequest
    );
}

// ---- Route53 ----

#[tokio::test]
async fn route53_refuses_to_create_a_record_that_exists() {
    let p = playground();
    p.change(vec![record(
        ChangeAction::Create,
        "X.Example.com",
        RecordType::A,
        &["192.0.2.1"],
    )])
    .await
    .expect("creates");
    assert_eq!(
        p.records().await[0].name,
        "x.example.com.",
        "names are lowercase with a trailing dot"
    );
    let again = p
        .change(vec![record(
            ChangeAction::Create,
            "x.example.com.",
            RecordType::A,
            &["192.0.2.2"],
        )])
        .await;
    let (kind, code, message) = kind(again);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InvalidRequest, "InvalidChangeBatch")
    );
    assert_eq!(
        message,
        "[Tried to create resource record set [name='x.example.com.', type='A'] but it already exists]"
    );
}

#[tokio::test]
async fn route53_lists_records_300_a_page_and_counts_upserts_twice_against_the_batch_limit() {
    let p = playground();
    let creates: Vec<Change> = (0..700)
        .map(|i| {
            record(
                ChangeAction::Create,
                &format!("h{i}.example.com"),
                RecordType::A,
                &["192.0.2.1"],
            )
        })
        .collect();
    p.change(creates.clone()).await.expect("700 records fit");
    p.sim.reset_calls();
    assert_eq!(p.records().await.len(), 700);
    assert_eq!(
        p.sim
            .calls()
            .get(SimService::Route53, "ListResourceRecordSets"),
        3,
        "300 record sets a page"
    );
    // 600 UPSERTs weigh 1,200 records: over the limit of 1,000.
    let upserts: Vec<Change> = creates[..600]
        .iter()
        .map(|c| Change {
            action: ChangeAction::Upsert,
            ..c.clone()
        })
        .collect();
    let (kind, code, message) = kind(p.change(upserts).await);
    assert_eq!(
        (kind, code.as_str(), message.as_str()),
        (
            AwsErrorKind::InvalidRequest,
            "InvalidChangeBatch",
            "[Number of records limit of 1000 exceeded.]"
        )
    );
}

#[tokio::test]
async fn route53_finds_zones_by_name_and_its_clients_share_a_spaced_rate() {
    let p = playground();
    let found = p
        .aws
        .route53
        .hosted_zones_by_name("EXAMPLE.com")
        .await
        .expect("listed");
    assert_eq!(
        found.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(),
        ["example.com."]
    );
    assert!(
        p.aws
            .route53
            .hosted_zones_by_name("example.org")
            .await
            .expect("listed")
            .is_empty()
    );
    // Two clients of the same world, ten calls in a burst: never more than five in a second.
    p.sim.reset_calls();
    let other = p.sim.services();
    let calls = (0..10).map(|i| {
        let route53 = if i % 2 == 0 {
            p.aws.route53.clone()
        } else {
            other.route53.clone()
        };
        async move { route53.list_hosted_zones().await.expect("listed") }
    });
    futures::future::join_all(calls).await;
    assert_eq!(p.sim.route53_peak_per_second(), 5);
}

#[tokio::test]
async fn route53_delete_must_match_the_current_record_exactly() {
    let p = playground();
    p.change(vec![record(
        ChangeAction::Create,
        "x.example.com",
        RecordType::Txt,
        &["\"owner=a\""],
    )])
    .await
    .expect("creates");
    let wrong = p
        .change(vec![record(
            ChangeAction::Delete,
            "x.example.com",
            RecordType::Txt,
            &["\"owner=b\""],
        )])
        .await;
    assert_eq!(
        kind(wrong).2,
        "[Tried to delete resource record set [name='x.example.com.', type='TXT'] but the values provided do not match the current values]"
    );
    let missing = p
        .change(vec![record(
            ChangeAction::Delete,
            "y.example.com",
            RecordType::Txt,
            &["\"owner=a\""],
        )])
        .await;
    assert_eq!(
        kind(missing).2,
        "[Tried to delete resource record set [name='y.example.com.', type='TXT'] but it was not found]"
    );
    p.change(vec![record(
        ChangeAction::Delete,
        "x.example.com",
        RecordType::Txt,
        &["\"owner=a\""],
    )])
    .await
    .expect("exact match deletes");
    assert!(p.records().await.is_empty());
}

#[tokio::test]
async fn route53_applies_a_batch_all_or_nothing() {
    let p = playground();
    p.change(vec![record(
        ChangeAction::Create,
        "taken.example.com",
        RecordType::A,
        &["192.0.2.1"],
    )])
    .await
    .expect("creates");
    let batch = vec![
        record(
            ChangeAction::Create,
            "new.example.com",
            RecordType::A,
            &["192.0.2.2"],
        ),
        record(
            ChangeAction::Upsert,
            "other.example.com",
            RecordType::Txt,
            &["\"x\""],
        ),
        record(
            ChangeAction::Create,
            "taken.example.com",
            RecordType::A,
            &["192.0.2.3"],
        ),
        record(
            ChangeAction::Create,
            "txt.example.com",
            RecordType::Txt,
            &["unquoted"],
        ),
    ];
    let message = kind(p.change(batch).await).2;
    assert!(message.contains("Tried to create resource record set [name='taken.example.com.', type='A'] but it already exists"));
    assert!(
        message.contains("Value should be enclosed in quotation marks"),
        "{message}"
    );
    let names: Vec<String> = p.records().await.into_iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["taken.example.com."]);
}

#[tokio::test]
async fn route53_keeps_cname_alone_at_its_name_and_names_inside_the_zone() {
    let p = playground();
    p.change(vec![record(
        ChangeAction::Create,
        "www.example.com",
        RecordType::A,
        &["192.0.2.1"],
    )])
    .await
    .expect("creates");
    let cname = p
        .change(vec![record(
            ChangeAction::Create,
            "www.example.com",
            RecordType::Cname,
            &["web.example.org"],
        )])
        .await;
    assert!(kind(cname).2.contains(
        "RRSet of type CNAME with DNS name www.example.com. is not permitted as it conflicts"
    ));
    let outside = p
        .change(vec![record(
            ChangeAction::Create,
            "www.example.org",
            RecordType::A,
            &["192.0.2.1"],
        )])
        .await;
    assert_eq!(
        kind(outside).2,
        "[RRSet with DNS name www.example.org. is not permitted in zone example.com.]"
    );
}

#[tokio::test]
async fn route53_alias_records_have_no_ttl_and_must_target_a_load_balancer_that_exists() {
    let p = playground();
    let lb = p.sim.snapshot().load_balancers[0].load_balancer.clone();
    let alias = |dns: &str, ttl: Option<i64>| Change {
        action: ChangeAction::Upsert,
        record: RecordSet {
            name: "shop.example.com".to_string(),
            type_: RecordType::A,
            ttl,
            values: Vec::new(),
            alias: Some(AliasTarget {
                dns_name: dns.to_string(),
                hosted_zone_id: lb.canonical_hosted_zone_id.clone(),
                evaluate_target_health: true,
            }),
        },
    };
    let (kind, code, message) = kind(p.change(vec![alias(&lb.dns_name, Some(60))]).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InvalidRequest, "InvalidInput")
    );
    assert!(message.contains(
        "but found more than one in Change with [Action=UPSERT, Name=shop.example.com., Type=A"
    ));
    assert!(
        kind_of(
            p.change(vec![alias("nope.eu-west-1.elb.amazonaws.com", None)])
                .await
        ) == AwsErrorKind::InvalidRequest
    );
    p.change(vec![alias(&format!("dualstack.{}", lb.dns_name), None)])
        .await
        .expect("alias to the ALB");
}

#[tokio::test]
async fn route53_changes_are_pending_then_insync() {
    let p = playground();
    let change = p
        .change(vec![record(
            ChangeAction::Upsert,
            "x.example.com",
            RecordType::A,
            &["192.0.2.1"],
        )])
        .await
        .expect("upserts");
    assert_eq!(change.status, ChangeStatus::Pending);
    assert_eq!(p.sim.snapshot().pending_changes.len(), 1);
    p.advance(29);
    assert_eq!(
        p.aws
            .route53
            .get_change(&change.id)
            .await
            .expect("get")
            .status,
        ChangeStatus::Pending
    );
    p.advance(1);
    let with_prefix = format!("/change/{}", change.id);
    assert_eq!(
        p.aws
            .route53
            .get_change(&with_prefix)
            .await
            .expect("get")
            .status,
        ChangeStatus::InSync
    );
    assert!(p.sim.snapshot().pending_changes.is_empty());
}

// ---- ACM ----

#[tokio::test]
async fn acm_stays_pending_until_the_validation_cname_exists_then_issues() {
    let p = playground();
    let arn = p
        .aws
        .acm
        .request_certificate(&certificate_request("shop.example.com", "tok1"))
        .await
        .expect("requests");
    assert!(arn.starts_with("arn:aws:acm:eu-west-1:123456789012:certificate/"));
    let cert = p
        .aws
        .acm
        .describe_certificate(&arn)
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(cert.status, CertificateStatus::PendingValidation);
    assert_eq!(
        cert.validations[0].record, None,
        "records appear shortly after the request"
    );

    p.advance(5);
    let cert = p
        .aws
        .acm
        .describe_certificate(&arn)
        .await
        .expect("describe")
        .expect("exists");
    let validation = cert.validations[0]
        .record
        .clone()
        .expect("validation record");
    assert!(validation.name.starts_with('_') && validation.name.ends_with(".shop.example.com."));
    assert!(validation.value.ends_with(".acm-validations.aws."));

    p.advance(3600);
    let status = |p: &Playground| p.sim.snapshot().certificate(&arn).map(|c| c.status);
    assert_eq!(status(&p), Some(CertificateStatus::PendingValidation));

    p.change(vec![record(
        ChangeAction::Create,
        &validation.name,
        RecordType::Cname,
        &[&validation.value],
    )])
    .await
    .expect("validation record");
    p.advance(30); // INSYNC
    assert_eq!(status(&p), Some(CertificateStatus::PendingValidation));
    p.advance(20); // issuance delay
    let cert = p
        .aws
        .acm
        .describe_certificate(&arn)
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(cert.status, CertificateStatus::Issued);
    assert_eq!(cert.validations[0].status, "SUCCESS");
    assert_eq!(
        p.aws.acm.list_tags(&arn).await.expect("tags"),
        vec![Tag::new("cygni.io/owner", "default/Domain/shop")]
    );
}

#[tokio::test]
async fn acm_returns_the_same_certificate_for_the_same_token_within_an_hour() {
    let p = playground();
    let request = certificate_request("shop.example.com", "tok1");
    let first = p
        .aws
        .acm
        .request_certificate(&request)
        .await
        .expect("requests");
    p.advance(600);
    assert_eq!(
        p.aws
            .acm
            .request_certificate(&request)
            .await
            .expect("again"),
        first
    );
    let other = certificate_request("shop.example.com", "tok2");
    assert_ne!(
        p.aws
            .acm
            .request_certificate(&other)
            .await
            .expect("other token"),
        first
    );
    p.advance(3600);
    assert_ne!(
        p.aws
            .acm
            .request_certificate(&request)
            .await
            .expect("after an hour"),
        first
    );
}

#[tokio::test]
async fn a_certificate_on_a_listener_cannot_be_deleted() {
    let p = playground();
    let arn = p
        .aws
        .acm
        .request_certificate(&certificate_request("shop.example.com", "tok1"))
        .await
        .expect("requests");
    // Not issued yet: the listener does not accept it.
    let early = p
        .aws
        .elbv2
        .add_listener_certificate(&p.listener(), &arn)
        .await;
    assert_eq!(kind(early).1, "CertificateNotFound");

    p.advance(5);
    let validation = p
        .aws
        .acm
        .describe_certificate(&arn)
        .await
        .expect("d")
        .expect("e")
        .validations[0]
        .record
        .clone()
        .expect("record");
    p.change(vec![record(
        ChangeAction::Create,
        &validation.name,
        RecordType::Cname,
        &[&validation.value],
    )])
    .await
    .expect("validation record");
    p.advance(60);
    p.aws
        .elbv2
        .add_listener_certificate(&p.listener(), &arn)
        .await
        .expect("attaches");
    let in_use = p
        .aws
        .acm
        .describe_certificate(&arn)
        .await
        .expect("d")
        .expect("e")
        .in_use_by;
    assert_eq!(in_use.len(), 1);
    let (kind, code, _) = kind(p.aws.acm.delete_certificate(&arn).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InUse, "ResourceInUseException")
    );

    p.aws
        .elbv2
        .remove_listener_certificate(&p.listener(), &arn)
        .await
        .expect("detaches");
    p.aws.acm.delete_certificate(&arn).await.expect("deletes");
    assert_eq!(
        p.aws
            .acm
            .describe_certificate(&arn)
            .await
            .expect("describe"),
        None
    );
}

// ---- CloudWatch ----

#[tokio::test]
async fn cloudwatch_shows_the_error_rate_of_an_errors_image() {
    let p = playground();
    p.sim
        .set_image_behaviour("web:flaky", ImageBehaviour::Errors { rate: 0.1 });
    let (_, tg, _) = p.app("web", "web:flaky", 2).await;
    p.advance(35); // healthy: traffic starts
    p.advance(600);
    let snapshot = p.sim.snapshot();
    let lb = snapshot.load_balancers[0].load_balancer.arn.clone();
    let tg_dim = tg.arn.rsplit_once(':').expect("arn").1.to_string();
    let lb_dim = lb.split_once(":loadbalancer/").expect("arn").1.to_string();
    let dims = [
        ("TargetGroup", tg_dim.as_str()),
        ("LoadBalancer", lb_dim.as_str()),
    ];
    let queries = vec![
        metric("requests", "RequestCount", &dims, "Sum", 60),
        metric("errors", "HTTPCode_Target_5XX_Count", &dims, "Sum", 60),
        metric("latency", "TargetResponseTime", &dims, "p99", 300),
        metric(
            "alone",
            "RequestCount",
            &[("TargetGroup", tg_dim.as_str())],
            "Sum",
            60,
        ),
    ];
    let start = Timestamp::from_second(START + 60).expect("valid");
    let end = Timestamp::from_second(START + 360).expect("valid");
    let series = p
        .aws
        .cloudwatch
        .get_metric_data(&queries, start, end)
        .await
        .expect("metrics");
    // 10 requests per second, all to this target group: 600 a minute, 10% of them 5xx.
    assert_eq!(series[0].values, vec![600.0; 5]);
    assert_eq!(series[1].values, vec![60.0; 5]);
    assert!(
        series[0].timestamps[0] > series[0].timestamps[4],
        "newest first"
    );
    assert!(
        (series[2].values[0] - 0.06).abs() < 0.005,
        "p99 {:?}",
        series[2].values
    );
    assert!(
        series[3].values.is_empty(),
        "ALB publishes no TargetGroup-only dimension set"
    );
}

#[tokio::test]
async fn cloudwatch_serves_a_scripted_series_with_the_requested_statistic() {
    let p = playground();
    let start = START;
    p.sim.script_metric(
        "Custom/Shop",
        "CheckoutErrors",
        &[("Service", "web")],
        move |t| {
            let minute = (t.as_second() - start) / 60;
            match minute {
                0..5 => Some(1.0),
                5..8 => None,
                _ => Some(minute as f64),
            }
        },
    );
    p.advance(600);
    let query = |stat: &str, period| -> DataQuery {
        MetricQuery {
            id: "q".to_string(),
            namespace: "Custom/Shop".to_string(),
            metric_name: "CheckoutErrors".to_string(),
            dimensions: vec![("Service".to_string(), "web".to_string())],
            stat: stat.to_string(),
            period_seconds: period,
        }
        .into()
    };
    let from = Timestamp::from_second(START).expect("valid");
    let to = Timestamp::from_second(START + 600).expect("valid");
    let sums = p
        .aws
        .cloudwatch
        .get_metric_data(&[query("Sum", 300)], from, to)
        .await
        .expect("sum");
    assert_eq!(
        sums[0].values,
        vec![17.0, 5.0],
        "minutes 8 and 9 (5-7 have no data), then 0-4"
    );
    let per_minute = p
        .aws
        .cloudwatch
        .get_metric_data(&[query("Maximum", 60)], from, to)
        .await
        .expect("max");
    assert_eq!(
        per_minute[0].values,
        vec![9.0, 8.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    );
    let bad = p
        .aws
        .cloudwatch
        .get_metric_data(&[query("Median", 60)], from, to)
        .await;
    assert_eq!(kind_of(bad), AwsErrorKind::InvalidRequest);
}

impl Playground {
    /// The ALB dimension values of a target group behind the playground load balancer, as
    /// (TargetGroup, LoadBalancer).
    fn alb_dimensions(&self, tg: &TargetGroup) -> (String, String) {
        let snapshot = self.sim.snapshot();
        let lb = snapshot.load_balancers[0].load_balancer.arn.clone();
        let tg_dim = tg.arn.rsplit_once(':').expect("arn").1.to_string();
        let lb_dim = lb.split_once(":loadbalancer/").expect("arn").1.to_string();
        (tg_dim, lb_dim)
    }

    /// Scripts a per-minute series of Custom/Shop for Service=web: `value(minute since START)`.
    fn script_shop(&self, name: &str, value: impl Fn(i64) -> Option<f64> + Send + Sync + 'static) {
        self.sim
            .script_metric("Custom/Shop", name, &[("Service", "web")], move |t| {
                let seconds = t.as_second() - START;
                (seconds >= 0).then(|| value(seconds / 60)).flatten()
            });
    }

    /// An alarm on the 2xx count of a target group: breaching under 500 a minute for 3 minutes.
    fn availability_alarm(&self, tg: &TargetGroup) -> MetricAlarm {
        let (tg_dim, lb_dim) = self.alb_dimensions(tg);
        MetricAlarm {
            name: "web-2xx".to_string(),
            namespace: "AWS/ApplicationELB".to_string(),
            metric_name: "HTTPCode_Target_2XX_Count".to_string(),
            dimensions: vec![
                ("TargetGroup".to_string(), tg_dim),
                ("LoadBalancer".to_string(), lb_dim),
            ],
            statistic: "Sum".to_string(),
            period_seconds: 60,
            evaluation_periods: 3,
            threshold: 500.0,
            comparison: ComparisonOperator::LessThanThreshold,
        }
    }

    async fn alarm(&self, name: &str) -> cygni::aws::cloudwatch::AlarmState {
        self.aws
            .cloudwatch
            .describe_alarms(&[name.to_string()])
            .await
            .expect("describes")
            .pop()
            .expect("the alarm exists")
    }
}

fn shop(id: &str, name: &str) -> DataQuery {
    DataQuery::Metric {
        query: MetricQuery {
            id: id.to_string(),
            namespace: "Custom/Shop".to_string(),
            metric_name: name.to_string(),
            dimensions: vec![("Service".to_string(), "web".to_string())],
            stat: "Sum".to_string(),
            period_seconds: 60,
        },
        return_data: false,
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(START + seconds).expect("valid")
}

#[tokio::test]
async fn an_error_rate_expression_over_the_alb_metrics_of_a_5xx_image_is_one_half() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:2-5xx", 2).await;
    p.advance(35); // healthy: traffic starts
    p.advance(600);
    let (tg_dim, lb_dim) = p.alb_dimensions(&tg);
    let dims = [
        ("TargetGroup", tg_dim.as_str()),
        ("LoadBalancer", lb_dim.as_str()),
    ];
    let series = p
        .aws
        .cloudwatch
        .get_metric_data(
            &[
                input("errors", "HTTPCode_Target_5XX_Count", &dims, "Sum"),
                input("requests", "RequestCount", &dims, "Sum"),
                expression("rate", "errors / requests"),
            ],
            at(60),
            at(360),
        )
        .await
        .expect("metrics");
    let [rate] = series.as_slice() else {
        panic!("only the expression returns data: {series:?}");
    };
    assert_eq!(rate.id, "rate");
    assert_eq!(rate.values.len(), 5);
    assert!(
        rate.values.iter().all(|v| (v - 0.5).abs() < 0.01),
        "{:?}",
        rate.values
    );
    assert_eq!(rate.timestamps[0], at(300), "newest first");
}

#[tokio::test]
async fn an_expression_drops_the_datapoints_where_it_divides_by_zero() {
    let p = playground();
    p.script_shop("Orders", |minute| Some(if minute < 5 { 10.0 } else { 0.0 }));
    p.script_shop("Refunds", |_| Some(1.0));
    p.advance(600);
    let series = p
        .aws
        .cloudwatch
        .get_metric_data(
            &[
                shop("orders", "Orders"),
                shop("refunds", "Refunds"),
                expression("ratio", "100 * refunds / orders"),
            ],
            at(0),
            at(600),
        )
        .await
        .expect("metrics");
    assert_eq!(
        series[0].values,
        vec![10.0; 5],
        "minutes 5-9 divide by zero"
    );
    assert_eq!(
        series[0].timestamps,
        vec![at(240), at(180), at(120), at(60), at(0)]
    );
}

#[tokio::test]
async fn an_expression_naming_an_unknown_id_is_a_validation_error() {
    let p = playground();
    p.advance(600);
    let result = p
        .aws
        .cloudwatch
        .get_metric_data(
            &[
                shop("orders", "Orders"),
                expression("ratio", "refunds / orders"),
            ],
            at(0),
            at(600),
        )
        .await;
    assert_eq!(
        kind(result),
        (
            AwsErrorKind::InvalidRequest,
            "ValidationError".to_string(),
            "Error in expression ratio [Unrecognized metric or expression ID: refunds]".to_string()
        )
    );
}

#[tokio::test]
async fn an_expression_that_does_not_parse_is_invalid_syntax() {
    let p = playground();
    p.advance(600);
    let result = p
        .aws
        .cloudwatch
        .get_metric_data(
            &[shop("orders", "Orders"), expression("twice", "2 * (orders")],
            at(0),
            at(600),
        )
        .await;
    assert_eq!(kind(result).2, "Error in expression twice [Invalid syntax]");
}

#[tokio::test]
async fn an_alarm_goes_from_ok_to_alarm_when_an_image_with_errors_takes_the_traffic() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:1", 2).await;
    p.sim
        .put_metric_alarm(p.availability_alarm(&tg))
        .expect("alarm defined");
    p.advance(300); // healthy from 35 s: 600 2xx a minute
    let ok = p.alarm("web-2xx").await;
    assert_eq!(ok.state, AlarmStateValue::Ok);
    assert_eq!(
        ok.reason,
        "Threshold Crossed: 3 out of the last 3 datapoints [600.0 (01/01/26 00:04:00), 600.0 (01/01/26 00:03:00), 600.0 (01/01/26 00:02:00)] were not less than the threshold (500.0) (minimum 1 datapoint for ALARM -> OK transition)."
    );

    // Half the requests to the new image fail: 300 2xx a minute once its tasks serve (at 335 s).
    let errors = p.task_definition("web", "web:2-errors").await;
    let update = ServiceUpdate {
        cluster: p.cluster(),
        name: "web".to_string(),
        task_definition_arn: Some(errors.arn),
        ..ServiceUpdate::default()
    };
    p.aws.ecs.update_service(&update).await.expect("updates");
    p.advance(240);
    let alarm = p.alarm("web-2xx").await;
    assert_eq!(alarm.state, AlarmStateValue::Alarm);
    assert_eq!(
        alarm.reason,
        "Threshold Crossed: 3 out of the last 3 datapoints [300.0 (01/01/26 00:08:00), 300.0 (01/01/26 00:07:00), 300.0 (01/01/26 00:06:00)] were less than the threshold (500.0) (minimum 3 datapoints for OK -> ALARM transition)."
    );
}

#[tokio::test]
async fn an_alarm_on_a_target_group_without_traffic_has_insufficient_data() {
    let p = playground();
    p.sim.set_requests_per_second(0.0);
    let (_, tg, _) = p.app("web", "web:1", 2).await;
    p.sim
        .put_metric_alarm(p.availability_alarm(&tg))
        .expect("alarm defined");
    p.advance(600);
    let alarm = p.alarm("web-2xx").await;
    assert_eq!(
        (alarm.state, alarm.reason.as_str()),
        (
            AlarmStateValue::InsufficientData,
            "Insufficient Data: 3 datapoints were unknown."
        )
    );
}

#[tokio::test]
async fn describe_alarms_answers_only_the_alarms_named_and_refuses_more_than_100_names() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:1", 1).await;
    p.sim
        .put_metric_alarm(p.availability_alarm(&tg))
        .expect("alarm defined");
    let answered = p
        .aws
        .cloudwatch
        .describe_alarms(&["web-2xx".to_string(), "unknown".to_string()])
        .await
        .expect("describes");
    assert_eq!(answered.len(), 1, "an unknown name is absent");
    let names: Vec<String> = (0..101).map(|i| format!("alarm-{i}")).collect();
    let (kind, code, message) = kind(p.aws.cloudwatch.describe_alarms(&names).await);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::InvalidRequest, "ValidationError")
    );
    assert!(
        message.ends_with("Member must have length less than or equal to 100"),
        "{message}"
    );
}

#[tokio::test]
async fn put_metric_alarm_refuses_what_cloudwatch_refuses() {
    let p = playground();
    let (_, tg, _) = p.app("web", "web:1", 1).await;
    let mut alarm = p.availability_alarm(&tg);
    alarm.statistic = "Median".to_string();
    let err = p.sim.put_metric_alarm(alarm.clone()).expect_err("refused");
    assert_eq!(
        (err.operation, err.code.as_str(), err.message.as_str()),
        (
            "PutMetricAlarm",
            "ValidationError",
            "The value Median for parameter Statistic is not a valid statistic."
        )
    );
    alarm.statistic = "p99".to_string();
    alarm.period_seconds = 45;
    assert!(p.sim.put_metric_alarm(alarm).is_err(), "45 s is no period");
}

#[tokio::test]
async fn metric_alarms_are_kept_with_the_world_on_disk() {
    let dir = std::env::temp_dir().join(format!("cygni-aws-sim-alarms-{}", std::process::id()));
    let (sim, _, _) = AwsSim::playground_in(&dir, 1.0, Timings::playground()).expect("kept");
    sim.put_metric_alarm(MetricAlarm {
        name: "orders-low".to_string(),
        namespace: "Custom/Shop".to_string(),
        metric_name: "Orders".to_string(),
        dimensions: vec![("Service".to_string(), "web".to_string())],
        statistic: "Sum".to_string(),
        period_seconds: 300,
        evaluation_periods: 1,
        threshold: 1.0,
        comparison: ComparisonOperator::LessThanThreshold,
    })
    .expect("alarm defined");
    let read_back = AwsSim::load(&dir).expect("readable").expect("kept there");
    let alarms = read_back
        .services()
        .cloudwatch
        .describe_alarms(&["orders-low".to_string()])
        .await
        .expect("describes");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
    assert_eq!(
        alarms.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["orders-low"]
    );
}

#[tokio::test]
async fn a_caller_clock_behind_the_world_reads_windows_that_end_at_the_worlds_now() {
    // The world is an hour ahead of its caller (as a 20x playground is after three minutes).
    let world = Arc::new(ManualClock::new(at(3600)));
    let caller = Arc::new(ManualClock::new(at(0)));
    let sim = AwsSim::new(SimConfig {
        caller_clock: Some(caller),
        ..SimConfig::with_clock(world)
    });
    sim.script_metric("Custom/Shop", "Orders", &[("Service", "web")], |t| {
        let minute = (t.as_second() - START) / 60;
        (minute >= 0).then_some(minute as f64)
    });
    let mut orders = shop("orders", "Orders");
    if let DataQuery::Metric { query, return_data } = &mut orders {
        query.stat = "Maximum".to_string();
        *return_data = true;
    }
    // The caller's last ten minutes are the world's minutes 50-59, timed back on the caller.
    let series = sim
        .services()
        .cloudwatch
        .get_metric_data(&[orders], at(-600), at(0))
        .await
        .expect("metrics");
    assert_eq!(
        series[0].values,
        (50..60).rev().map(f64::from).collect::<Vec<_>>()
    );
    assert_eq!(series[0].timestamps[0], at(-60));
    assert_eq!(series[0].timestamps[9], at(-600));
}

// ---- faults and call counts ----

async fn outcomes(seed: u64) -> Vec<String> {
    let p = playground_with_seed(seed);
    p.sim.set_faults(
        SimService::Ecs,
        Faults {
            throttle_rate: 0.3,
            server_error_rate: 0.2,
            ..Faults::default()
        },
    );
    let mut out = Vec::new();
    for _ in 0..40 {
        match p.aws.ecs.list_task_definitions("web").await {
            Ok(_) => out.push("ok".to_string()),
            Err(e) => out.push(format!("{:?}:{}", e.kind, e.code)),
        }
    }
    out
}

#[tokio::test]
async fn throttling_and_server_errors_are_reproducible_with_a_seed() {
    let first = outcomes(42).await;
    assert_eq!(first, outcomes(42).await);
    assert_ne!(first, outcomes(43).await);
    assert!(first.contains(&"Throttling:ThrottlingException".to_string()));
    assert!(first.contains(&"ServerError:ServerException".to_string()));
    assert!(first.contains(&"ok".to_string()));

    let p = playground();
    let zone = p.zone_id().await;
    p.sim
        .set_faults(SimService::Route53, Faults::throttling(1.0));
    let change = vec![record(
        ChangeAction::Upsert,
        "x.example.com",
        RecordType::A,
        &["192.0.2.1"],
    )];
    assert_eq!(
        kind(p.aws.route53.change_record_sets(&zone, &change).await).1,
        "PriorRequestNotComplete"
    );
    assert_eq!(
        kind(p.aws.route53.list_hosted_zones().await).1,
        "Throttling"
    );
    assert!(
        p.records_unfaulted().await.is_empty(),
        "a throttled change has no effect"
    );
}

impl Playground {
    async fn records_unfaulted(&self) -> Vec<RecordSet> {
        self.sim.set_faults(SimService::Route53, Faults::none());
        self.records().await
    }
}

#[tokio::test]
async fn a_lost_response_applies_the_write_and_a_retry_with_the_token_finds_it() {
    let p = playground();
    let td = p.task_definition("web", "web:1").await;
    let tg = p.target_group("web-a").await;
    p.rule(10, "web.example.com", &[(&tg, 100)]).await;
    let mut input = p.service_input("web", &td, &tg, 1);
    input.client_token = "token-web-a".to_string();

    p.sim
        .set_faults(SimService::Ecs, Faults::lost_responses(1.0));
    assert_eq!(
        kind_of(p.aws.ecs.create_service(&input).await),
        AwsErrorKind::Timeout
    );
    p.sim.set_faults(SimService::Ecs, Faults::none());
    assert_eq!(
        p.describe("web").await.status,
        "ACTIVE",
        "the write happened"
    );
    let retried = p
        .aws
        .ecs
        .create_service(&input)
        .await
        .expect("the retry finds it");
    assert_eq!(retried.name, "web");
    assert_eq!(p.sim.snapshot().services.len(), 1);
}

#[tokio::test]
async fn call_counts_tell_operations_and_writes_from_reads() {
    let p = playground();
    p.app("web", "web:1", 1).await;
    let calls = p.sim.calls();
    assert_eq!(calls.get(SimService::Ecs, "CreateService"), 1);
    assert_eq!(calls.get(SimService::Elbv2, "CreateRule"), 1);
    assert_eq!(calls.writes(), 4);

    p.sim.reset_calls();
    p.sim.set_faults(SimService::Ecs, Faults::throttling(1.0));
    for _ in 0..3 {
        let _ = p
            .aws
            .ecs
            .describe_services(&p.cluster(), &["web".to_string()])
            .await;
    }
    p.aws
        .elbv2
        .describe_rules(&p.listener())
        .await
        .expect("rules");
    let calls = p.sim.calls();
    assert_eq!(
        calls.get(SimService::Ecs, "DescribeServices"),
        3,
        "throttled calls count too"
    );
    assert_eq!(
        (calls.reads(), calls.writes()),
        (4, 0),
        "{:?}",
        calls.write_operations()
    );
}

#[tokio::test]
async fn the_playground_points_the_operator_defaults_at_its_world() {
    let p = playground();
    let snapshot = p.sim.snapshot();
    assert_eq!(p.defaults.ecs_cluster.as_deref(), Some("playground"));
    assert_eq!(
        snapshot.clusters,
        vec!["arn:aws:ecs:eu-west-1:123456789012:cluster/playground".to_string()]
    );
    assert_eq!(p.defaults.subnets.len(), 2);
    assert_eq!(p.defaults.security_groups.len(), 1);
    let listener = snapshot.listener(&p.listener()).expect("listener");
    assert_eq!(
        (listener.listener.port, listener.listener.protocol.as_str()),
        (443, "HTTPS")
    );
    let zone = snapshot.zone("example.com").expect("zone");
    assert!(zone.zone.id.starts_with('Z') && zone.zone.id.len() <= 22 && !zone.zone.private);
    assert!(
        p.defaults
            .execution_role_arn
            .as_deref()
            .is_some_and(|r| r.ends_with(":role/ecsTaskExecutionRole"))
    );
}

#[test]
fn images_named_bad_crash_or_unhealthy_misbehave_by_convention() {
    assert_eq!(
        ImageBehaviour::by_convention("ghcr.io/acme/web:bad-1"),
        ImageBehaviour::Crash
    );
    assert_eq!(
        ImageBehaviour::by_convention("crashloop:1"),
        ImageBehaviour::Crash
    );
    assert_eq!(
        ImageBehaviour::by_convention("web:1-unhealthy"),
        ImageBehaviour::Unhealthy
    );
    assert_eq!(
        ImageBehaviour::by_convention("bad.registry.example/web:1"),
        ImageBehaviour::Healthy
    );
}

#[test]
fn images_named_5xx_errors_or_slow_fail_half_their_requests_or_answer_slowly_by_convention() {
    assert_eq!(
        ImageBehaviour::by_convention("web:2-5xx"),
        ImageBehaviour::Errors { rate: 0.5 }
    );
    assert_eq!(
        ImageBehaviour::by_convention("ghcr.io/acme/shop:ERRORS"),
        ImageBehaviour::Errors { rate: 0.5 }
    );
    assert_eq!(
        ImageBehaviour::by_convention("web:slow-3"),
        ImageBehaviour::Slow { p99_seconds: 2.0 }
    );
    assert_eq!(
        ImageBehaviour::by_convention("errors.example/slow/web:1"),
        ImageBehaviour::Healthy,
        "only the name and tag count"
    );
    assert_eq!(
        ImageBehaviour::by_convention("web:bad-5xx"),
        ImageBehaviour::Crash,
        "crashing wins over erring"
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_ids_and_another_seed_other_ones() {
    let arns = |p: Playground| async move {
        let tg = p.target_group("web-a").await;
        let td = p.task_definition("web", "web:1").await;
        (p.listener(), tg.arn, td.arn, p.zone_id().await)
    };
    let first = arns(playground_with_seed(7)).await;
    assert_eq!(first, arns(playground_with_seed(7)).await);
    let other = arns(playground_with_seed(8)).await;
    assert_ne!(first.0, other.0);
    assert_ne!(first.1, other.1);
    assert_eq!(
        first.2, other.2,
        "task definition ARNs carry no random part"
    );
}

#[tokio::test]
async fn a_target_group_serves_one_load_balancer_only() {
    let p = playground();
    let tg = p.target_group("web-a").await;
    p.rule(10, "web.example.com", &[(&tg, 100)]).await;
    let (_, other_listener) = p.sim.add_load_balancer("other");
    let result = p
        .aws
        .elbv2
        .create_rule(
            &other_listener,
            10,
            &hosts(&["web.example.com"]),
            &weights(&[(&tg, 100)]),
            &[],
        )
        .await;
    let (kind, code, _) = kind(result);
    assert_eq!(
        (kind, code.as_str()),
        (AwsErrorKind::LimitExceeded, "TargetGroupAssociationLimit")
    );
}

#[tokio::test]
async fn injected_latency_delays_calls_in_real_time_without_moving_sim_time() {
    let p = playground();
    p.sim.set_faults(
        SimService::Acm,
        Faults {
            latency: Duration::from_millis(10),
            ..Faults::default()
        },
    );
    let before = std::time::Instant::now();
    p.aws
        .acm
        .request_certificate(&certificate_request("shop.example.com", "tok1"))
        .await
        .expect("requests");
    assert!(before.elapsed() >= Duration::from_millis(10));
    assert_eq!(
        p.sim.snapshot().now,
        Timestamp::from_second(START).expect("valid")
    );
}
