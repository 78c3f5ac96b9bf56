//! Contract tests of the AWS SDK adapters (`cygni::aws::sdk`) against a moto server: each test
//! starts its own `./.venv/bin/moto_server` on a free loopback port (install it with
//! `.ci/install-moto`; without it the tests fail, they never skip), points
//! `sdk::services(Some("eu-west-1"), Some(endpoint))` at it with dummy credentials, and checks
//! every call moto models through the traits the controllers use.
//!
//! What moto models and these tests check:
//! - ECS: RegisterTaskDefinition, DescribeTaskDefinition (with tags; unknown ARN -> `None`),
//!   ListTaskDefinitions (one family, ACTIVE, oldest first), DeregisterTaskDefinition (unknown ->
//!   done); CreateService (Fargate, awsvpc network checked against moto's EC2, load balancer,
//!   tags), DescribeServices (missing names absent, tags, INACTIVE after delete), UpdateService
//!   (desired count, task definition), DeleteService (unknown -> done), ClusterNotFound -> NotFound.
//! - ELBv2: Create/Describe/Modify/DeleteTargetGroup (duplicate names, unknown names absent),
//!   DescribeTargetHealth (no targets), Create/Describe/Modify/DeleteRule with a weighted forward
//!   action read back from the listener, DescribeTags, DescribeListeners, DescribeLoadBalancers,
//!   Add/Describe/RemoveListenerCertificates, ResourceInUse on deleting a forwarded-to group.
//! - Route53: ListHostedZones, ChangeResourceRecordSets (CREATE, UPSERT, DELETE; alias, TXT
//!   with its quotes, CNAME, wildcard names; a duplicate CREATE is InvalidChangeBatch),
//!   ListResourceRecordSets over several pages, GetChange, ids with and without prefixes,
//!   NoSuchHostedZone -> NotFound.
//! - ACM: RequestCertificate (DNS validation, idempotency token), DescribeCertificate (validation
//!   CNAMEs, unknown -> `None`), ListTagsForCertificate, DeleteCertificate (unknown -> done).
//! - What `cygni doctor` reads: STS GetCallerIdentity, EC2 DescribeSubnets and
//!   DescribeSecurityGroups (an unknown ID is `InvalidSubnetID.NotFound` / `InvalidGroup.NotFound`
//!   naming it), ECS DescribeClusters (a missing cluster is a `MISSING` failure).
//!
//! What moto does not model, so these tests assert nothing about it:
//! - ECS dynamics: services never start tasks, UpdateService starts no new deployment, there is no
//!   circuit breaker or rollout state to watch; the deployment configuration (rolling bounds,
//!   breaker), `propagateTags`, `enableECSManagedTags` and `healthCheckGracePeriodSeconds` are
//!   accepted but not read back; client tokens are ignored (a second CreateService with the same
//!   name replaces the service, which keeps its ARN).
//! - ELBv2: target health (no targets are ever registered by ECS), rule and listener
//!   dynamics; a second CreateTargetGroup with the same name and settings fails with
//!   DuplicateTargetGroupName (AWS returns the existing group; the adapter does so in both cases).
//! - Route53: propagation (every change is INSYNC at once), and most of real Route53's batch
//!   validation (DELETE of a record whose values differ, CNAME next to other types).
//! - ACM: DNS validation (moto issues after a timer without looking at DNS), `InUseBy` for ALB
//!   listeners, ResourceInUse on delete.
//! - IAM SimulatePrincipalPolicy is not implemented by moto; the adapter's request building is
//!   the SDK's, and `cygni doctor`'s use of it runs against the simulator's IAM.
//! - EC2: of several IDs one of which is unknown, moto's `InvalidSubnetID.NotFound` names the
//!   first of the request rather than the unknown one; the tests ask for an unknown ID alone.
//! - CloudWatch: the SDK speaks Smithy RPC v2 CBOR to CloudWatch, which moto does not serve.
//!   GetMetricData's request building and response mapping are unit-tested over canned CBOR
//!   answers in `src/aws/sdk/cloudwatch.rs` instead.

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{Compatibility, LaunchType, NetworkMode, PropagateTags};
use cygni::aws::acm::{CertificateRequest, CertificateStatus};
use cygni::aws::ecs::{
    ContainerDefinition, LogConfiguration, NetworkConfiguration, RolloutState, ServiceInput,
    ServiceUpdate, TaskDefinitionInput,
};
use cygni::aws::elbv2::{HealthCheckConfig, RuleConditions, TargetGroupInput, WeightedTarget};
use cygni::aws::route53::{AliasTarget, Change, ChangeAction, RecordSet, RecordType};
use cygni::aws::{AwsErrorKind, AwsServices, Tag, sdk};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

const REGION: &str = "eu-west-1";

// ---------------------------------------------------------------------------------------------
// The moto server

/// A moto server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

/// Dummy credentials for the SDK's default chain, set once before any client is built.
fn dummy_credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (key, value) in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_SESSION_TOKEN", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            // SAFETY: every test of this binary calls this before it builds a client or reads the
            // environment, and `Once` makes the others wait until it returned; nothing else in
            // this test binary reads or writes the environment concurrently.
            unsafe { std::env::set_var(key, value) };
        }
    });
}

fn moto_server_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Moto {
    async fn start() -> Moto {
        dummy_credentials();
        let server = moto_server_path();
        assert!(
            server.is_file(),
            "{} is missing: run .ci/install-moto (the AWS contract tests need moto's server)",
            server.display()
        );
        let port = free_port();
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {}: {err}; run .ci/install-moto",
                    server.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(status) = child.try_wait().expect("moto_server status") {
                panic!("moto_server exited with {status} before listening on port {port}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The adapters under test, as the operator builds them.
    async fn services(&self) -> AwsServices {
        sdk::services(Some(REGION.into()), Some(self.endpoint.clone())).await
    }

    /// The same config, for raw SDK clients that set up what the traits do not create.
    async fn config(&self) -> SdkConfig {
        sdk::sdk_config(Some(REGION.into()), Some(self.endpoint.clone())).await
    }

    /// One EC2 Query API call over plain HTTP, for setup that must not go through the adapter
    /// under test; moto routes on the credential scope of the Authorization header and does not
    /// check the signature.
    fn ec2(&self, params: &[(&str, &str)]) -> String {
        let address = self.endpoint.trim_start_matches("http://");
        let mut body = String::from("Version=2016-11-15");
        for (key, value) in params {
            body.push_str(&format!("&{key}={value}"));
        }
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(address).expect("moto reachable");
        stream
            .write_all(request.as_bytes())
            .expect("EC2 request sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("EC2 response read");
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "EC2 call failed: {response}"
        );
        response
    }

    /// The default VPC moto makes in every region, two of its subnets and its default security
    /// group.
    fn default_network(&self) -> (String, Vec<String>, String) {
        let subnets = self.ec2(&[
            ("Action", "DescribeSubnets"),
            ("Filter.1.Name", "default-for-az"),
            ("Filter.1.Value.1", "true"),
        ]);
        let vpc = xml_values(&subnets, "vpcId")
            .into_iter()
            .next()
            .expect("a default VPC");
        let subnet_ids: Vec<String> = xml_values(&subnets, "subnetId")
            .into_iter()
            .take(2)
            .collect();
        assert_eq!(subnet_ids.len(), 2, "two default subnets");
        let groups = self.ec2(&[
            ("Action", "DescribeSecurityGroups"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", &vpc),
            ("Filter.2.Name", "group-name"),
            ("Filter.2.Value.1", "default"),
        ]);
        let group = xml_values(&groups, "groupId")
            .into_iter()
            .next()
            .expect("a default security group");
        (vpc, subnet_ids, group)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of every `<tag>...</tag>` element, in document order.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value.to_owned()))
        .collect()
}

fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(key, value)| Tag::new(*key, *value))
        .collect()
}

fn sorted(mut tags: Vec<Tag>) -> Vec<Tag> {
    tags.sort();
    tags
}

fn owner_tags(name: &str) -> Vec<Tag> {
    tags(&[
        ("cygni.io/owner", &format!("shop/App/{name}")),
        ("cygni.io/uid", "5f0c2d3e"),
    ])
}

// ---------------------------------------------------------------------------------------------
// ECS

fn task_definition_input(family: &str, image: &str) -> TaskDefinitionInput {
    TaskDefinitionInput {
        family: family.into(),
        cpu: "256".into(),
        memory: "512".into(),
        execution_role_arn: Some("arn:aws:iam::123456789012:role/ecsTaskExecutionRole".into()),
        task_role_arn: Some("arn:aws:iam::123456789012:role/web".into()),
        container: ContainerDefinition {
            name: "app".into(),
            image: image.into(),
            entry_point: Some(vec!["/bin/sh".into(), "-c".into()]),
            command: Some(vec!["exec web --port 8080".into()]),
            port: 8080,
            environment: vec![
                ("LOG_LEVEL".into(), "info".into()),
                ("PORT".into(), "8080".into()),
            ],
            secrets: vec![(
                "DB_PASSWORD".into(),
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf".into(),
            )],
            logs: Some(LogConfiguration {
                group: "/cygni/shop/web".into(),
                region: REGION.into(),
                stream_prefix: "web".into(),
            }),
        },
        tags: owner_tags("web"),
    }
}

#[tokio::test]
async fn task_definitions_register_describe_list_and_deregister() {
    let moto = Moto::start().await;
    let ecs = moto.services().await.ecs;

    let input = task_definition_input("web-a", "web:1");
    let first = ecs
        .register_task_definition(&input)
        .await
        .expect("registered");
    assert!(
        first.arn.ends_with("task-definition/web-a:1"),
        "{}",
        first.arn
    );
    assert_eq!((first.revision, first.status.as_str()), (1, "ACTIVE"));
    assert_eq!(first.input.container, input.container);
    assert_eq!(
        (
            first.input.family.as_str(),
            first.input.cpu.as_str(),
            first.input.memory.as_str()
        ),
        ("web-a", "256", "512")
    );
    assert_eq!(first.input.execution_role_arn, input.execution_role_arn);
    assert_eq!(first.input.task_role_arn, input.task_role_arn);

    let second = ecs
        .register_task_definition(&task_definition_input("web-a", "web:2"))
        .await
        .expect("registered");
    assert_eq!(second.revision, 2);
    // Another family whose name starts with the first one's must not be listed with it.
    ecs.register_task_definition(&task_definition_input("web-a-canary", "web:2"))
        .await
        .expect("registered");

    let described = ecs
        .describe_task_definition(&first.arn)
        .await
        .expect("described")
        .expect("exists");
    assert_eq!(described.arn, first.arn);
    assert_eq!(described.input.container, input.container);
    assert_eq!(sorted(described.input.tags), sorted(input.tags.clone()));
    let unknown = first.arn.replace("web-a:1", "web-z:9");
    assert_eq!(
        ecs.describe_task_definition(&unknown)
            .await
            .expect("answered"),
        None
    );

    assert_eq!(
        ecs.list_task_definitions("web-a").await.expect("listed"),
        [first.arn.as_str(), second.arn.as_str()]
    );

    ecs.deregister_task_definition(&first.arn)
        .await
        .expect("deregistered");
    assert_eq!(
        ecs.list_task_definitions("web-a").await.expect("listed"),
        [second.arn.as_str()]
    );
    let inactive = ecs
        .describe_task_definition(&first.arn)
        .await
        .expect("described")
        .expect("still discoverable");
    assert_eq!(inactive.status, "INACTIVE");
    ecs.deregister_task_definition(&unknown)
        .await
        .expect("deregistering an unknown task definition is done");
}

#[tokio::test]
async fn services_are_created_idempotently_described_in_batches_updated_and_deleted() {
    let moto = Moto::start().await;
    let ecs = moto.services().await.ecs;
    let (_, subnets, security_group) = moto.default_network();
    aws_sdk_ecs::Client::new(&moto.config().await)
        .create_cluster()
        .cluster_name("cygni")
        .send()
        .await
        .expect("cluster created");

    let v1 = ecs
        .register_task_definition(&task_definition_input("web-a", "web:1"))
        .await
        .expect("registered");
    let v2 = ecs
        .register_task_definition(&task_definition_input("web-a", "web:2"))
        .await
        .expect("registered");
    let network = NetworkConfiguration {
        subnets: subnets.clone(),
        security_groups: vec![security_group],
        assign_public_ip: false,
    };
    let input = ServiceInput {
        cluster: "cygni".into(),
        name: "web-a".into(),
        task_definition_arn: v1.arn.clone(),
        desired_count: 2,
        network: network.clone(),
        target_group_arn:
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-a/0123456789abcdef"
                .into(),
        container_name: "app".into(),
        container_port: 8080,
        health_check_grace_period_seconds: 30,
        minimum_healthy_percent: 100,
        maximum_percent: 200,
        client_token: "8d6b7c1e-web-a-1".into(),
        tags: owner_tags("web"),
    };

    let created = ecs.create_service(&input).await.expect("created");
    assert_eq!(
        (created.name.as_str(), created.status.as_str()),
        ("web-a", "ACTIVE")
    );
    assert!(created.arn.contains(":service/"), "{}", created.arn);
    assert!(
        created.cluster_arn.ends_with("cluster/cygni"),
        "{}",
        created.cluster_arn
    );
    assert_eq!(created.desired_count, 2);
    assert_eq!(created.task_definition_arn, v1.arn);
    assert_eq!(created.network, network);
    assert_eq!(
        created.target_group_arn.as_deref(),
        Some(input.target_group_arn.as_str())
    );
    let primary = created.deployments.first().expect("a deployment");
    assert_eq!(
        (
            primary.status.as_str(),
            primary.task_definition_arn.as_str(),
            primary.rollout_state
        ),
        ("PRIMARY", v1.arn.as_str(), Some(RolloutState::InProgress))
    );

    // Fargate settings the traits do not return, read with the raw client where moto keeps them.
    let raw = aws_sdk_ecs::Client::new(&moto.config().await);
    let raw_service = raw
        .describe_services()
        .cluster("cygni")
        .services("web-a")
        .send()
        .await
        .expect("described");
    let raw_service = &raw_service.services()[0];
    assert_eq!(raw_service.launch_type(), Some(&LaunchType::Fargate));
    assert_eq!(raw_service.propagate_tags(), Some(&PropagateTags::Service));
    let raw_definition = raw
        .describe_task_definition()
        .task_definition(&v1.arn)
        .send()
        .await
        .expect("described");
    let raw_definition = raw_definition.task_definition().expect("task definition");
    assert_eq!(
        raw_definition.requires_compatibilities(),
        [Compatibility::Fargate]
    );
    assert_eq!(raw_definition.network_mode(), Some(&NetworkMode::Awsvpc));

    let retried = ecs
        .create_service(&input)
        .await
        .expect("a retried create succeeds");
    assert_eq!(retried.arn, created.arn);

    let described = ecs
        .describe_services("cygni", &["web-a".into(), "web-b".into()])
        .await
        .expect("described");
    assert_eq!(
        described.len(),
        1,
        "the missing service is absent: {described:?}"
    );
    assert_eq!(described[0].arn, created.arn);
    assert_eq!(
        sorted(described[0].tags.clone()),
        sorted(input.tags.clone())
    );
    assert_eq!(
        ecs.describe_services("cygni", &[])
            .await
            .expect("nothing to describe"),
        []
    );
    // More names than one DescribeServices call takes: the adapter splits them.
    let mut names: Vec<String> = (0..11).map(|i| format!("missing-{i}")).collect();
    names.push("web-a".into());
    let described = ecs
        .describe_services("cygni", &names)
        .await
        .expect("described");
    assert_eq!(
        described
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["web-a"]
    );

    let updated = ecs
        .update_service(&ServiceUpdate {
            cluster: "cygni".into(),
            name: "web-a".into(),
            task_definition_arn: Some(v2.arn.clone()),
            desired_count: Some(3),
            network: Some(NetworkConfiguration {
                assign_public_ip: true,
                ..network.clone()
            }),
            deployment_bounds: Some((50, 200)),
            health_check_grace_period_seconds: Some(60),
        })
        .await
        .expect("updated");
    assert_eq!(
        (updated.desired_count, updated.task_definition_arn.as_str()),
        (3, v2.arn.as_str())
    );
    assert!(updated.network.assign_public_ip);
    let described = ecs
        .describe_services("cygni", &["web-a".into()])
        .await
        .expect("described");
    assert_eq!(described[0].task_definition_arn, v2.arn);

    ecs.delete_service("cygni", "web-a").await.expect("deleted");
    let described = ecs
        .describe_services("cygni", &["web-a".into()])
        .await
        .expect("described");
    assert_eq!(
        described
            .iter()
            .map(|s| s.status.as_str())
            .collect::<Vec<_>>(),
        ["INACTIVE"]
    );
    ecs.delete_service("cygni", "web-z")
        .await
        .expect("deleting an unknown service is done");

    let err = ecs
        .describe_services("no-such-cluster", &["web-a".into()])
        .await
        .expect_err("no such cluster");
    assert_eq!(
        (err.kind, err.code.as_str(), err.service, err.operation),
        (
            AwsErrorKind::NotFound,
            "ClusterNotFoundException",
            "ecs",
            "DescribeServices"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// ELBv2

fn health_check(path: &str) -> HealthCheckConfig {
    HealthCheckConfig {
        path: path.into(),
        port: None,
        interval_seconds: 15,
        timeout_seconds: 5,
        healthy_threshold: 2,
        unhealthy_threshold: 3,
        matcher: "200-399".into(),
    }
}

fn target_group_input(name: &str, vpc: &str) -> TargetGroupInput {
    TargetGroupInput {
        name: name.into(),
        port: 8080,
        vpc_id: vpc.into(),
        health_check: health_check("/healthz"),
        tags: owner_tags("web"),
    }
}

/// An internet-facing ALB in moto's default VPC with an HTTP listener on port 80 (and an HTTPS
/// one on 443 when `certificate` is given), created with the raw SDK client.
async fn load_balancer(moto: &Moto, certificate: Option<&str>) -> (String, String, String) {
    let (vpc, subnets, security_group) = moto.default_network();
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&moto.config().await);
    let balancer = elbv2
        .create_load_balancer()
        .name("cygni-shop")
        .set_subnets(Some(subnets))
        .security_groups(security_group)
        .send()
        .await
        .expect("load balancer created");
    let balancer_arn = balancer.load_balancers()[0]
        .load_balancer_arn()
        .expect("ARN")
        .to_owned();
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ProtocolEnum,
    };
    let not_found = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("404")
                .build(),
        )
        .build();
    let mut listener = elbv2
        .create_listener()
        .load_balancer_arn(&balancer_arn)
        .default_actions(not_found);
    listener = match certificate {
        Some(certificate) => listener
            .protocol(ProtocolEnum::Https)
            .port(443)
            .certificates(Certificate::builder().certificate_arn(certificate).build()),
        None => listener.protocol(ProtocolEnum::Http).port(80),
    };
    let listener = listener.send().await.expect("listener created");
    let listener_arn = listener.listeners()[0]
        .listener_arn()
        .expect("ARN")
        .to_owned();
    (vpc, balancer_arn, listener_arn)
}

#[tokio::test]
async fn target_groups_are_created_described_by_name_modified_and_deleted() {
    let moto = Moto::start().await;
    let elbv2 = moto.services().await.elbv2;
    let (vpc, _, _) = moto.default_network();

    let input = target_group_input("web-a-1a2b3c", &vpc);
    let created = elbv2.create_target_group(&input).await.expect("created");
    assert!(
        created.arn.contains(":targetgroup/web-a-1a2b3c/"),
        "{}",
        created.arn
    );
    assert_eq!(
        (created.name.as_str(), created.port, created.vpc_id.as_str()),
        ("web-a-1a2b3c", 8080, vpc.as_str())
    );
    assert_eq!(created.health_check, input.health_check);

    let again = elbv2
        .create_target_group(&input)
        .await
        .expect("the same name with the same settings is the same group");
    assert_eq!(again.arn, created.arn);
    let err = elbv2
        .create_target_group(&TargetGroupInput {
            port: 9090,
            ..input.clone()
        })
        .await
        .expect_err("the same name with other settings");
    assert_eq!(err.kind, AwsErrorKind::AlreadyExists);

    let described = elbv2
        .describe_target_groups(&["web-a-1a2b3c".into(), "web-b-missing".into()])
        .await
        .expect("described");
    assert_eq!(
        described.iter().map(|g| g.arn.as_str()).collect::<Vec<_>>(),
        [created.arn.as_str()]
    );
    assert_eq!(
        elbv2
            .describe_target_groups(&[])
            .await
            .expect("nothing asked"),
        []
    );

    let new_check = HealthCheckConfig {
        port: Some(8081),
        interval_seconds: 30,
        ..health_check("/ready")
    };
    let modified = elbv2
        .modify_target_group(&created.arn, &new_check)
        .await
        .expect("modified");
    assert_eq!(modified.health_check, new_check);

    assert_eq!(
        elbv2
            .describe_target_health(&created.arn)
            .await
            .expect("described"),
        []
    );
    let tags = elbv2
        .describe_tags(std::slice::from_ref(&created.arn))
        .await
        .expect("tags");
    assert_eq!(
        tags.get(&created.arn).cloned().map(sorted),
        Some(sorted(input.tags.clone()))
    );

    elbv2
        .delete_target_group(&created.arn)
        .await
        .expect("deleted");
    elbv2
        .delete_target_group(&created.arn)
        .await
        .expect("deleting a deleted group is done");
    assert_eq!(
        elbv2
            .describe_target_groups(&["web-a-1a2b3c".into()])
            .await
            .expect("described"),
        []
    );
}

#[tokio::test]
async fn listener_rules_forward_weighted_traffic_and_weights_read_back() {
    let moto = Moto::start().await;
    let elbv2 = moto.services().await.elbv2;
    let (vpc, balancer_arn, listener_arn) = load_balancer(&moto, None).await;

    let listener = elbv2
        .describe_listener(&listener_arn)
        .await
        .expect("described")
        .expect("exists");
    assert_eq!(
        (
            listener.port,
            listener.protocol.as_str(),
            listener.load_balancer_arn.as_str()
        ),
        (80, "HTTP", balancer_arn.as_str())
    );
    let balancer = elbv2
        .describe_load_balancer(&balancer_arn)
        .await
        .expect("described")
        .expect("exists");
    assert_eq!(balancer.vpc_id, vpc);
    assert!(!balancer.dns_name.is_empty() && !balancer.canonical_hosted_zone_id.is_empty());
    let unknown_listener = listener_arn.replace("listener/app/cygni-shop", "listener/app/nope");
    assert_eq!(
        elbv2
            .describe_listener(&unknown_listener)
            .await
            .expect("answered"),
        None
    );
    let unknown_balancer =
        balancer_arn.replace("loadbalancer/app/cygni-shop", "loadbalancer/app/nope");
    assert_eq!(
        elbv2
            .describe_load_balancer(&unknown_balancer)
            .await
            .expect("answered"),
        None
    );

    let slot_a = elbv2
        .create_target_group(&target_group_input("web-a", &vpc))
        .await
        .expect("created");
    let slot_b = elbv2
        .create_target_group(&target_group_input("web-b", &vpc))
        .await
        .expect("created");
    let weights = |a: i32, b: i32| {
        vec![
            WeightedTarget {
                target_group_arn: slot_a.arn.clone(),
                weight: a,
            },
            WeightedTarget {
                target_group_arn: slot_b.arn.clone(),
                weight: b,
            },
        ]
    };
    let conditions = RuleConditions {
        host_headers: vec!["shop.example.com".into()],
        path_patterns: vec!["/*".into()],
    };
    let rule_tags = owner_tags("web");

    let created = elbv2
        .create_rule(&listener_arn, 10, &conditions, &weights(100, 0), &rule_tags)
        .await
        .expect("created");
    assert_eq!(created.priority, Some(10));
    assert_eq!(created.conditions, conditions);
    assert_eq!(created.forward, weights(100, 0));

    let rules = elbv2
        .describe_rules(&listener_arn)
        .await
        .expect("described");
    let ours = rules
        .iter()
        .find(|rule| rule.arn == created.arn)
        .expect("our rule listed");
    assert_eq!(ours.forward, weights(100, 0));
    assert!(
        rules.iter().any(|rule| rule.priority.is_none()),
        "the default rule: {rules:?}"
    );

    let modified = elbv2
        .modify_rule(&created.arn, &conditions, &weights(90, 10))
        .await
        .expect("modified");
    assert_eq!(modified.forward, weights(90, 10));
    let rules = elbv2
        .describe_rules(&listener_arn)
        .await
        .expect("described");
    let ours = rules
        .iter()
        .find(|rule| rule.arn == created.arn)
        .expect("our rule listed");
    assert_eq!((ours.priority, &ours.conditions), (Some(10), &conditions));
    assert_eq!(
        ours.forward,
        weights(90, 10),
        "the weights read back from the listener"
    );

    let tags = elbv2
        .describe_tags(&[created.arn.clone(), slot_b.arn.clone()])
        .await
        .expect("tags");
    assert_eq!(
        tags.get(&created.arn).cloned().map(sorted),
        Some(sorted(rule_tags.clone()))
    );
    assert!(tags.contains_key(&slot_b.arn));

    let err = elbv2
        .delete_target_group(&slot_a.arn)
        .await
        .expect_err("a rule still forwards to it");
    assert_eq!(err.kind, AwsErrorKind::InUse);

    elbv2.delete_rule(&created.arn).await.expect("deleted");
    elbv2
        .delete_rule(&created.arn)
        .await
        .expect("deleting a deleted rule is done");
    assert!(
        elbv2
            .describe_rules(&listener_arn)
            .await
            .expect("described")
            .iter()
            .all(|rule| rule.arn != created.arn)
    );
    elbv2
        .delete_target_group(&slot_a.arn)
        .await
        .expect("no rule forwards to it any more");
}

#[tokio::test]
async fn certificates_are_added_to_and_removed_from_a_listener() {
    let moto = Moto::start().await;
    let services = moto.services().await;
    let request = |name: &str, token: &str| CertificateRequest {
        domain_name: name.into(),
        subject_alternative_names: Vec::new(),
        idempotency_token: token.into(),
        tags: Vec::new(),
    };
    let default_certificate = services
        .acm
        .request_certificate(&request("default.example.com", "default"))
        .await
        .expect("requested");
    let shop_certificate = services
        .acm
        .request_certificate(&request("shop.example.com", "shop"))
        .await
        .expect("requested");
    let (_, _, listener_arn) = load_balancer(&moto, Some(&default_certificate)).await;
    let elbv2 = services.elbv2;

    elbv2
        .add_listener_certificate(&listener_arn, &shop_certificate)
        .await
        .expect("added");
    let attached = elbv2
        .describe_listener_certificates(&listener_arn)
        .await
        .expect("described");
    assert!(attached.contains(&shop_certificate), "{attached:?}");

    elbv2
        .remove_listener_certificate(&listener_arn, &shop_certificate)
        .await
        .expect("removed");
    let attached = elbv2
        .describe_listener_certificates(&listener_arn)
        .await
        .expect("described");
    assert!(!attached.contains(&shop_certificate), "{attached:?}");
    elbv2
        .remove_listener_certificate(&listener_arn, &shop_certificate)
        .await
        .expect("removing a certificate that is not attached is done");
}

// ---------------------------------------------------------------------------------------------
// Route53

fn txt(name: &str, value: &str) -> RecordSet {
    RecordSet {
        name: name.into(),
        type_: RecordType::Txt,
        ttl: Some(300),
        values: vec![format!("\"{value}\"")],
        alias: None,
    }
}

fn change(action: ChangeAction, record: &RecordSet) -> Change {
    Change {
        action,
        record: record.clone(),
    }
}

#[tokio::test]
async fn route53_change_batches_write_the_records_listed_back_over_every_page() {
    let moto = Moto::start().await;
    let route53 = moto.services().await.route53;
    let zone = aws_sdk_route53::Client::new(&moto.config().await)
        .create_hosted_zone()
        .name("example.com")
        .caller_reference("cygni-contract")
        .send()
        .await
        .expect("zone created");
    let prefixed_id = zone.hosted_zone().expect("zone").id.clone();
    assert!(prefixed_id.starts_with("/hostedzone/"), "{prefixed_id}");
    let zone_id = prefixed_id.trim_start_matches("/hostedzone/").to_owned();

    let zones = route53.list_hosted_zones().await.expect("listed");
    let listed = zones
        .iter()
        .find(|z| z.id == zone_id)
        .expect("our zone, without prefix");
    assert_eq!(
        (listed.name.as_str(), listed.private),
        ("example.com.", false)
    );

    let owner = txt(
        "shop.example.com.",
        "heritage=cygni,cygni/owner=shop/Domain/shop",
    );
    let alias = RecordSet {
        name: "shop.example.com.".into(),
        type_: RecordType::A,
        ttl: None,
        values: Vec::new(),
        alias: Some(AliasTarget {
            dns_name: "cygni-shop-1234567890.eu-west-1.elb.amazonaws.com.".into(),
            hosted_zone_id: "Z32O12XQLNTSW2".into(),
            evaluate_target_health: true,
        }),
    };
    let validation = RecordSet {
        name: "_x1.shop.example.com.".into(),
        type_: RecordType::Cname,
        ttl: Some(300),
        values: vec!["_x2.acm-validations.aws.".into()],
        alias: None,
    };
    let wildcard = txt("*.shop.example.com.", "heritage=cygni");
    let info = route53
        .change_record_sets(
            &zone_id,
            &[
                change(ChangeAction::Create, &owner),
                change(ChangeAction::Create, &alias),
                change(ChangeAction::Create, &validation),
                change(ChangeAction::Create, &wildcard),
            ],
        )
        .await
        .expect("applied");
    assert!(
        !info.id.is_empty() && !info.id.starts_with("/change/"),
        "{}",
        info.id
    );
    let same = route53.get_change(&info.id).await.expect("known change");
    assert_eq!(same.id, info.id);
    let prefixed = route53
        .get_change(&format!("/change/{}", info.id))
        .await
        .expect("a prefixed change id works too");
    assert_eq!(prefixed.id, info.id);

    // The prefixed zone id works as well as the bare one.
    let records = route53
        .list_record_sets(&prefixed_id)
        .await
        .expect("listed");
    for record in [&owner, &alias, &validation, &wildcard] {
        assert!(records.contains(record), "{record:?} not in {records:?}");
    }
    assert!(
        records.iter().all(|r| matches!(
            r.type_,
            RecordType::A | RecordType::Aaaa | RecordType::Cname | RecordType::Txt
        )),
        "NS and SOA are left out"
    );

    let err = route53
        .change_record_sets(&zone_id, &[change(ChangeAction::Create, &owner)])
        .await
        .expect_err("the record exists");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (AwsErrorKind::InvalidRequest, "InvalidChangeBatch")
    );
    assert!(!err.message.is_empty());

    let new_owner = txt(
        "shop.example.com.",
        "heritage=cygni,cygni/owner=shop/Domain/shop-2",
    );
    route53
        .change_record_sets(
            &zone_id,
            &[
                change(ChangeAction::Upsert, &new_owner),
                change(ChangeAction::Delete, &validation),
            ],
        )
        .await
        .expect("applied");
    let records = route53.list_record_sets(&zone_id).await.expect("listed");
    assert!(records.contains(&new_owner) && !records.contains(&owner));
    assert!(!records.contains(&validation));

    // More records than one page holds (moto pages at 300, like Route53).
    let many: Vec<RecordSet> = (0..320)
        .map(|i| txt(&format!("r{i:03}.example.com."), &format!("value {i}")))
        .collect();
    let changes: Vec<Change> = many
        .iter()
        .map(|r| change(ChangeAction::Create, r))
        .collect();
    route53
        .change_record_sets(&zone_id, &changes)
        .await
        .expect("applied");
    let records = route53.list_record_sets(&zone_id).await.expect("listed");
    let names: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    assert!(many.iter().all(|r| names.contains(r.name.as_str())));
    assert_eq!(
        records.len(),
        names.len() + 1,
        "A and TXT at shop, one entry per other name"
    );

    let err = route53
        .list_record_sets("Z0000000000NOPE")
        .await
        .expect_err("no such zone");
    assert_eq!(
        (err.kind, err.code.as_str()),
        (AwsErrorKind::NotFound, "NoSuchHostedZone")
    );
}

// ---------------------------------------------------------------------------------------------
// ACM

#[tokio::test]
async fn acm_certificates_are_requested_once_per_token_described_tagged_and_deleted() {
    let moto = Moto::start().await;
    let acm = moto.services().await.acm;
    let request = CertificateRequest {
        domain_name: "shop.example.com".into(),
        subject_alternative_names: vec!["www.shop.example.com".into()],
        idempotency_token: "d5f0c2d3e".into(),
        tags: owner_tags("shop"),
    };

    let arn = acm.request_certificate(&request).await.expect("requested");
    assert!(arn.starts_with("arn:aws:acm:eu-west-1:"), "{arn}");
    assert_eq!(
        acm.request_certificate(&request)
            .await
            .expect("requested again"),
        arn,
        "the same token returns the same certificate"
    );

    let certificate = acm
        .describe_certificate(&arn)
        .await
        .expect("described")
        .expect("exists");
    assert_eq!(certificate.arn, arn);
    assert_eq!(certificate.domain_name, "shop.example.com");
    assert_eq!(
        certificate.subject_alternative_names,
        ["shop.example.com", "www.shop.example.com"]
    );
    assert_eq!(certificate.status, CertificateStatus::PendingValidation);
    let validated: BTreeSet<&str> = certificate
        .validations
        .iter()
        .map(|v| v.domain_name.as_str())
        .collect();
    assert_eq!(
        validated,
        BTreeSet::from(["shop.example.com", "www.shop.example.com"])
    );
    for validation in &certificate.validations {
        let record = validation.record.as_ref().expect("a validation CNAME");
        assert!(
            record
                .name
                .ends_with(&format!("{}.", validation.domain_name)),
            "{record:?}"
        );
        assert!(
            record.value.ends_with(".acm-validations.aws."),
            "{record:?}"
        );
        assert_eq!(validation.status, "PENDING_VALIDATION");
    }
    assert!(certificate.in_use_by.is_empty());

    assert_eq!(
        sorted(acm.list_tags(&arn).await.expect("tags")),
        sorted(request.tags.clone())
    );

    let unknown = format!(
        "{}00000000-0000-0000-0000-000000000000",
        &arn[..arn.rfind('/').expect("ARN") + 1]
    );
    assert_eq!(
        acm.describe_certificate(&unknown).await.expect("answered"),
        None
    );

    acm.delete_certificate(&arn).await.expect("deleted");
    assert_eq!(
        acm.describe_certificate(&arn).await.expect("answered"),
        None
    );
    acm.delete_certificate(&arn)
        .await
        .expect("deleting a deleted certificate is done");
}

#[tokio::test]
async fn hosted_zones_are_found_by_name_with_or_without_the_trailing_dot() {
    let moto = Moto::start().await;
    let route53 = moto.services().await.route53;
    let client = aws_sdk_route53::Client::new(&moto.config().await);
    let mut ids = Vec::new();
    for (name, reference) in [("example.com", "zone-a"), ("example.org", "zone-b")] {
        let zone = client
            .create_hosted_zone()
            .name(name)
            .caller_reference(reference)
            .send()
            .await
            .expect("zone created");
        ids.push(
            zone.hosted_zone()
                .expect("zone")
                .id
                .trim_start_matches("/hostedzone/")
                .to_owned(),
        );
    }
    for asked in ["example.com", "example.com.", "EXAMPLE.com"] {
        let found = route53.hosted_zones_by_name(asked).await.expect("listed");
        assert_eq!(
            found
                .iter()
                .map(|z| (z.id.as_str(), z.name.as_str()))
                .collect::<Vec<_>>(),
            [(ids[0].as_str(), "example.com.")],
            "{asked}"
        );
    }
    assert!(
        route53
            .hosted_zones_by_name("nothing.test")
            .await
            .expect("listed")
            .is_empty()
    );
}

#[tokio::test]
async fn acm_certificates_are_listed_by_main_name_with_their_expiry() {
    let moto = Moto::start().await;
    let acm = moto.services().await.acm;
    let mut arns = Vec::new();
    for (name, token) in [
        ("shop.example.com", "list1"),
        ("other.example.com", "list2"),
    ] {
        let request = CertificateRequest {
            domain_name: name.into(),
            subject_alternative_names: Vec::new(),
            idempotency_token: token.into(),
            tags: owner_tags(name),
        };
        arns.push(acm.request_certificate(&request).await.expect("requested"));
    }
    let listed = acm
        .list_certificates("shop.example.com")
        .await
        .expect("listed");
    assert_eq!(
        listed.iter().map(|c| c.arn.as_str()).collect::<Vec<_>>(),
        [arns[0].as_str()]
    );
    assert_eq!(listed[0].domain_name, "shop.example.com");
    assert_eq!(listed[0].status, CertificateStatus::PendingValidation);
    assert!(
        acm.list_certificates("nothing.example.com")
            .await
            .expect("listed")
            .is_empty()
    );
    let described = acm
        .describe_certificate(&arns[0])
        .await
        .expect("described")
        .expect("exists");
    let not_after = described.not_after.expect("NotAfter read");
    assert!(not_after > jiff::Timestamp::now(), "{not_after}");
}

#[tokio::test]
async fn a_dual_stack_load_balancer_reads_back_as_dual_stack() {
    let moto = Moto::start().await;
    let elbv2 = moto.services().await.elbv2;
    let (_, subnets, security_group) = moto.default_network();
    let client = aws_sdk_elasticloadbalancingv2::Client::new(&moto.config().await);
    let mut arns = Vec::new();
    for (name, family) in [
        (
            "cygni-v4",
            aws_sdk_elasticloadbalancingv2::types::IpAddressType::Ipv4,
        ),
        (
            "cygni-v6",
            aws_sdk_elasticloadbalancingv2::types::IpAddressType::Dualstack,
        ),
    ] {
        let created = client
            .create_load_balancer()
            .name(name)
            .set_subnets(Some(subnets.clone()))
            .security_groups(&security_group)
            .ip_address_type(family)
            .send()
            .await
            .expect("load balancer created");
        arns.push(
            created.load_balancers()[0]
                .load_balancer_arn()
                .expect("ARN")
                .to_owned(),
        );
    }
    let described: Vec<bool> =
        futures::future::join_all(arns.iter().map(|arn| elbv2.describe_load_balancer(arn)))
            .await
            .into_iter()
            .map(|lb| lb.expect("described").expect("exists").dual_stack)
            .collect();
    assert_eq!(described, [false, true]);
}

// ---------------------------------------------------------------------------------------------
// Wiring

#[tokio::test]
async fn services_carry_the_configured_region() {
    let moto = Moto::start().await;
    assert_eq!(moto.services().await.region, REGION);
}

// ---------------------------------------------------------------------------------------------
// What cygni doctor reads

#[tokio::test]
async fn the_caller_subnets_and_security_groups_read_back_and_unknown_ids_are_named() {
    use cygni::aws::ec2::Ec2;
    use cygni::aws::sts::Sts;
    let moto = Moto::start().await;
    let config = moto.config().await;
    let sts = sdk::SdkSts::new(aws_sdk_sts::Client::new(&config));
    let me = sts.get_caller_identity().await.expect("GetCallerIdentity");
    assert_eq!(me.account, "123456789012");
    assert!(me.arn.starts_with("arn:aws:"), "{}", me.arn);

    let (vpc, subnets, group) = moto.default_network();
    let ec2 = sdk::SdkEc2::new(aws_sdk_ec2::Client::new(&config));
    let found = ec2
        .describe_subnets(&subnets)
        .await
        .expect("DescribeSubnets");
    assert_eq!(
        found.iter().map(|s| s.id.clone()).collect::<BTreeSet<_>>(),
        subnets.iter().cloned().collect::<BTreeSet<_>>()
    );
    assert!(found.iter().all(|s| s.vpc_id == vpc));
    assert!(
        found
            .iter()
            .all(|s| s.availability_zone.starts_with(REGION))
    );
    assert!(found.iter().all(|s| s.available_ips > 0));
    // Alone: moto names the request's first ID even when another is the unknown one.
    let error = ec2
        .describe_subnets(&["subnet-0123456789abcdef0".into()])
        .await
        .unwrap_err();
    assert_eq!(error.kind, AwsErrorKind::NotFound);
    assert_eq!(error.code, "InvalidSubnetID.NotFound");
    assert!(
        error.message.contains("subnet-0123456789abcdef0"),
        "{}",
        error.message
    );

    let groups = ec2
        .describe_security_groups(std::slice::from_ref(&group))
        .await
        .expect("DescribeSecurityGroups");
    assert_eq!(groups.len(), 1);
    assert_eq!(
        (groups[0].vpc_id.as_str(), groups[0].name.as_str()),
        (vpc.as_str(), "default")
    );
    let error = ec2
        .describe_security_groups(&["sg-0123456789abcdef0".into()])
        .await
        .unwrap_err();
    assert_eq!(error.code, "InvalidGroup.NotFound");
    assert!(
        error.message.contains("sg-0123456789abcdef0"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn clusters_are_described_and_a_missing_one_is_a_missing_failure() {
    let moto = Moto::start().await;
    let config = moto.config().await;
    aws_sdk_ecs::Client::new(&config)
        .create_cluster()
        .cluster_name("doctor")
        .send()
        .await
        .expect("CreateCluster");
    let clusters = moto
        .services()
        .await
        .ecs
        .describe_clusters(&["doctor".into(), "nowhere".into()])
        .await
        .expect("DescribeClusters");
    assert_eq!(clusters.found.len(), 1);
    assert_eq!(clusters.found[0].name, "doctor");
    assert_eq!(clusters.found[0].status, "ACTIVE");
    assert_eq!(
        clusters.failures,
        [(
            format!("arn:aws:ecs:{REGION}:123456789012:cluster/nowhere"),
            "MISSING".to_string()
        )]
    );
}
