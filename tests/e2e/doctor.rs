//! `cygni doctor` against the harness's Kubernetes API (a playground, or a real cluster with
//! RBAC) and simulated AWS: every check passes on a configured world with the chart's rules
//! granted, each missing AWS piece is named in an empty account, a missing RBAC rule is named by
//! verb and resource, and the binary's exit code and `-o json` say the same.

use crate::harness::Env;
use cygni::controller::permissions::{self, Rule};
use cygni::doctor::aws::Account;
use cygni::doctor::report::{Check, Outcome, Report};
use cygni::doctor::{self, DoctorArgs};
use cygni::sim::aws::AwsSim;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams};

/// The operator's service account in the test's namespace, its Lease there, and the defaults
/// of the simulated world, as doctor's flags.
fn args(env: &Env, extra: &[&str]) -> DoctorArgs {
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        doctor: DoctorArgs,
    }
    let defaults = env.aws.playground_defaults_found();
    let account = format!("{}/cygni", env.namespace);
    let mut argv: Vec<String> = vec![
        "doctor".into(),
        "--service-account".into(),
        account,
        "--lease-namespace".into(),
        env.namespace.clone(),
        "--ecs-cluster".into(),
        defaults.ecs_cluster.expect("the playground cluster"),
        "--subnets".into(),
        defaults.subnets.join(","),
        "--security-groups".into(),
        defaults.security_groups.join(","),
        "--listener-arn".into(),
        defaults.listener_arn.expect("the playground listener"),
        "--preview-listener-arn".into(),
        defaults.preview_listener_arn.expect("the preview listener"),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    <Wrapper as clap::Parser>::parse_from(argv).doctor
}

/// The name of the test's ClusterRole and bindings (cluster-wide: unique per test).
fn rbac_name(env: &Env) -> String {
    format!("cygni-doctor-{}", env.namespace)
}

async fn grant(env: &Env, rules: &[Rule]) {
    permissions::grant(
        &env.client,
        &rbac_name(env),
        &env.namespace,
        "cygni",
        rules,
        &env.namespace,
        "cygni-operator",
    )
    .await
    .expect("RBAC granted");
    // A real API server's RBAC authorizer learns of new bindings through its own watch, a moment
    // after the write: wait until it allows the last granted rule and the Lease, as doctor asks.
    let last = rules.last().expect("rules");
    wait_until_allowed(env, last.groups[0], last.resources[0], last.verbs[0], None).await;
    wait_until_allowed(
        env,
        "coordination.k8s.io",
        "leases",
        "create",
        Some(&env.namespace),
    )
    .await;
}

async fn wait_until_allowed(
    env: &Env,
    group: &str,
    resource: &str,
    verb: &str,
    namespace: Option<&str>,
) {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let request = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:{}:cygni", env.namespace)),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{}", env.namespace),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                verb: Some(verb.into()),
                namespace: namespace.map(str::to_string),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api = Api::<SubjectAccessReview>::all(env.client.clone());
    for _ in 0..100 {
        let answer = api
            .create(&Default::default(), &request)
            .await
            .expect("SubjectAccessReview");
        if answer.status.is_some_and(|s| s.allowed) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{verb} {resource}.{group} is still denied 10 s after the grant");
}

/// Removes what the test made outside its namespace.
async fn revoke(env: &Env) {
    let name = rbac_name(env);
    let _ = Api::<ClusterRoleBinding>::all(env.client.clone())
        .delete(&name, &DeleteParams::default())
        .await;
    let _ = Api::<ClusterRole>::all(env.client.clone())
        .delete(&name, &DeleteParams::default())
        .await;
}

fn check<'r>(report: &'r Report, name: &str) -> &'r Check {
    report
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in\n{}", report.to_text()))
}

fn zone_id(aws: &AwsSim) -> String {
    aws.snapshot()
        .zone("example.com")
        .expect("the playground zone")
        .zone
        .id
        .clone()
}

#[tokio::test]
async fn every_check_passes_on_a_configured_world_with_the_charts_rbac() {
    let env = Env::without_operator().await;
    grant(&env, permissions::WATCH_RULES).await;
    let zone = zone_id(&env.aws);
    let args = args(&env, &["--allowed-hosted-zones", &zone]);
    let report = doctor::report(&env.client, "test", &Account::sim(&env.aws), &args)
        .await
        .expect("doctor runs");
    revoke(&env).await;
    let not_passed: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .collect();
    assert!(not_passed.is_empty(), "{}", report.to_text());
    let rbac = check(&report, "RBAC, all namespaces");
    assert!(
        rbac.detail.contains(&format!(
            "ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to ServiceAccount \"cygni/{}\"",
            rbac_name(&env),
            rbac_name(&env),
            env.namespace
        )),
        "the API server's own reason: {}",
        rbac.detail
    );
    assert!(check(&report, "Hosted zones").detail.contains(&zone));
    env.stop().await;
}

#[tokio::test]
async fn an_empty_account_fails_naming_each_missing_piece() {
    let env = Env::without_operator().await;
    let zone = zone_id(&env.aws);
    let args = args(&env, &["--allowed-hosted-zones", &zone]);
    let defaults = env.aws.playground_defaults_found();
    let empty = doctor::empty_account();
    let report = doctor::report(&env.client, "test", &Account::sim(&empty), &args)
        .await
        .expect("doctor runs");
    assert!(report.failed());
    let named = |name: &str, piece: &str| {
        let c = check(&report, name);
        assert_eq!(c.outcome, Outcome::Fail, "{name}: {}", c.detail);
        assert!(
            c.detail.contains(piece),
            "{name} names {piece}: {}",
            c.detail
        );
        assert!(c.fix.is_some(), "{name} says how to fix it");
    };
    named("ECS cluster", "cluster playground not found");
    named("Subnets", &defaults.subnets[0]);
    named("Subnets", &defaults.subnets[1]);
    named("Security groups", &defaults.security_groups[0]);
    named("Listener", defaults.listener_arn.as_deref().unwrap());
    named(
        "Preview listener",
        defaults.preview_listener_arn.as_deref().unwrap(),
    );
    named("Hosted zones", &zone);
    // Credentials work in any simulated account.
    assert_eq!(check(&report, "AWS credentials").outcome, Outcome::Pass);
    env.stop().await;
}

#[tokio::test]
async fn a_missing_rbac_rule_fails_naming_the_verb_and_resource() {
    let env = Env::without_operator().await;
    // The chart's rules, but Apps and Domains may not be watched.
    let mut rules: Vec<Rule> = permissions::WATCH_RULES.to_vec();
    rules[0] = Rule {
        groups: &["cygni.io"],
        resources: &["apps", "domains"],
        verbs: &["get", "list", "patch"],
    };
    grant(&env, &rules).await;
    let report = doctor::report(
        &env.client,
        "test",
        &Account::sim(&env.aws),
        &args(&env, &[]),
    )
    .await
    .expect("doctor runs");
    revoke(&env).await;
    let rbac = check(&report, "RBAC, all namespaces");
    assert_eq!(rbac.outcome, Outcome::Fail);
    assert_eq!(
        rbac.detail,
        format!(
            "ServiceAccount {}/cygni may not watch apps.cygni.io, watch domains.cygni.io (2 of 27 missing)",
            env.namespace
        )
    );
    assert_eq!(
        check(&report, &format!("RBAC for the Lease in {}", env.namespace)).outcome,
        Outcome::Pass
    );
    env.stop().await;
}

// Multi-threaded: the in-process API server answers the binary while this test waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_zero_on_a_kept_playground_world_and_non_zero_on_an_empty_one() {
    let env = Env::without_operator().await;
    grant(&env, permissions::WATCH_RULES).await;
    let dir = std::env::temp_dir().join(format!("{}-aws", env.namespace));
    let (kept, _, _) =
        AwsSim::playground_in(&dir, 1.0, cygni::sim::aws::Timings::playground()).expect("kept");
    drop(kept);
    let account = format!("{}/cygni", env.namespace);
    let run = |state: &std::path::Path, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cygni"))
            .args([
                "doctor",
                "-o",
                "json",
                "--aws-backend",
                "sim",
                "--sim-state",
            ])
            .arg(state)
            .arg("--kubeconfig")
            .arg(env.kubeconfig_path())
            .args([
                "--service-account",
                &account,
                "--lease-namespace",
                &env.namespace,
            ])
            .args(extra)
            .output()
            .expect("cygni runs")
    };
    let passed = run(&dir, &[]);
    let empty_dir = std::env::temp_dir().join(format!("{}-empty", env.namespace));
    let failed = run(&empty_dir, &["--ecs-cluster", "playground"]);
    revoke(&env).await;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty_dir);

    let json: serde_json::Value =
        serde_json::from_slice(&passed.stdout).expect("-o json prints one JSON document");
    assert!(
        passed.status.success(),
        "{}",
        String::from_utf8_lossy(&passed.stdout)
    );
    assert_eq!(json["failed"], 0);
    assert_eq!(json["warnings"], 0);

    assert_eq!(failed.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&failed.stdout).expect("JSON");
    let failing: Vec<&str> = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .filter_map(|c| c["name"].as_str())
        .collect();
    // An empty account offers only its default VPC: the cluster asked for fails, the
    // listener and hosted zone it lacks are warnings (Apps could name their own).
    assert_eq!(failing, ["ECS cluster"], "{json}");
    let warned: Vec<&str> = json["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["outcome"] == "warn")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(warned, ["Listener", "Hosted zones"], "{json}");
    env.stop().await;
}
