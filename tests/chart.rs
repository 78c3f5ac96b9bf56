//! Checks of the Helm chart in `charts/cygni`.
//!
//! - The chart's `crds/` folder is a byte-for-byte copy of the generated top-level `crds/`.
//! - `values.schema.json` describes every value in `values.yaml`, and `values.yaml` documents
//!   every key with a comment.
//! - `helm lint --strict` passes and `helm template` renders RBAC with exactly the verbs the
//!   operator uses, for the all-namespaces and the per-namespace layouts.
//! - The people roles grant exactly what each task of an app team needs.
//! - The Grafana dashboard and the PrometheusRule render when enabled, and every PromQL expression
//!   in them names only metrics the operator's registry exposes; each alert's runbook link is a
//!   section of docs/observability.md.
//!
//! The helm checks need `.tools/bin/helm`, installed by `.ci/install-tools`. Without it they fail
//! (they never skip): a chart that was never rendered is not a tested chart.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    repo().join("charts/cygni")
}

// ---------------------------------------------------------------------------------------------
// CRDs

/// Regular, non-hidden files of `dir` (so `.gitkeep` is skipped) with their contents. A missing
/// folder has no files: the generated CRDs may not exist yet.
fn manifest_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            (!name.starts_with('.')).then(|| (name, fs::read(&path).expect("readable CRD file")))
        })
        .collect()
}

#[test]
fn chart_crds_are_byte_for_byte_copies_of_generated_crds() {
    let generated = manifest_files(&repo().join("crds"));
    let in_chart = manifest_files(&chart_dir().join("crds"));

    let generated_names: Vec<_> = generated.keys().collect();
    let chart_names: Vec<_> = in_chart.keys().collect();
    assert_eq!(
        chart_names, generated_names,
        "charts/cygni/crds/ must hold exactly the files of crds/; \
         refresh it with: rm -f charts/cygni/crds/*.yaml && cp crds/*.yaml charts/cygni/crds/"
    );
    for (name, bytes) in &generated {
        assert!(
            in_chart[name] == *bytes,
            "charts/cygni/crds/{name} differs from crds/{name}; refresh it with: \
             cp crds/{name} charts/cygni/crds/{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// values.yaml and values.schema.json

fn values_yaml() -> String {
    fs::read_to_string(chart_dir().join("values.yaml")).expect("charts/cygni/values.yaml")
}

fn schema() -> Value {
    let text = fs::read_to_string(chart_dir().join("values.schema.json"))
        .expect("charts/cygni/values.schema.json");
    serde_json::from_str(&text).expect("values.schema.json is valid JSON")
}

/// The key of a `key: ...` mapping line, if the line is one (not a comment, not a list item).
fn mapping_key(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
        return None;
    }
    let (key, _) = trimmed.split_once(':')?;
    let is_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    is_key.then_some(key)
}

/// Keys at indentation 0 of values.yaml, found with a line scan (no YAML parser).
fn top_level_value_keys(values: &str) -> Vec<String> {
    values
        .lines()
        .filter(|line| !line.starts_with(char::is_whitespace))
        .filter_map(mapping_key)
        .map(str::to_owned)
        .collect()
}

#[test]
fn values_schema_is_draft_07_and_closed() {
    let schema = schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["type"], "object");
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level values must be rejected, so typos fail `helm install`"
    );
}

#[test]
fn values_schema_has_every_top_level_value() {
    let schema = schema();
    let properties = schema["properties"]
        .as_object()
        .expect("schema has properties");
    let keys = top_level_value_keys(&values_yaml());
    assert!(
        keys.len() > 10,
        "values.yaml scan found too few keys: {keys:?}"
    );
    let missing: Vec<_> = keys
        .iter()
        .filter(|key| !properties.contains_key(*key))
        .collect();
    assert!(
        missing.is_empty(),
        "values.yaml keys missing from values.schema.json: {missing:?}"
    );
}

/// Follows a local `$ref` (`#/definitions/name`) once.
fn resolve<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/definitions/")
                .unwrap_or_else(|| panic!("only local definitions are used, got {reference}"));
            &schema["definitions"][name]
        }
        None => node,
    }
}

fn check_properties(schema: &Value, node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(properties) = resolve(schema, node)
        .get("properties")
        .and_then(Value::as_object)
    else {
        return;
    };
    for (name, property) in properties {
        let here = format!("{path}.{name}");
        let target = resolve(schema, property);
        let has_description =
            property.get("description").is_some() || target.get("description").is_some();
        let has_type = ["type", "enum", "anyOf", "oneOf"]
            .iter()
            .any(|k| target.get(k).is_some());
        if !has_description {
            problems.push(format!("{here} has no description"));
        }
        if !has_type {
            problems.push(format!("{here} has no type"));
        }
        check_properties(schema, property, &here, problems);
    }
}

#[test]
fn every_schema_property_has_a_type_and_a_description() {
    let schema = schema();
    let mut problems = Vec::new();
    check_properties(&schema, &schema, "", &mut problems);
    assert!(problems.is_empty(), "values.schema.json: {problems:#?}");
}

#[test]
fn every_values_key_is_documented_by_a_comment() {
    let values = values_yaml();
    let mut previous = "";
    let mut undocumented = Vec::new();
    for (number, line) in values.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(key) = mapping_key(line)
            && !previous.trim_start().starts_with('#')
        {
            undocumented.push(format!("line {}: {key}", number + 1));
        }
        previous = line;
    }
    assert!(
        undocumented.is_empty(),
        "values.yaml keys without a comment above: {undocumented:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// helm lint and helm template

fn helm_binary() -> PathBuf {
    let helm = repo().join(".tools/bin/helm");
    assert!(
        helm.is_file(),
        "{} is missing: run `.ci/install-tools` to install helm and kubectl (CI does)",
        helm.display()
    );
    helm
}

/// Runs helm from the repository root and returns its standard output; fails on error.
fn helm(args: &[&str]) -> String {
    let output = Command::new(helm_binary())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("helm runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "helm {} failed:\n{stdout}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Whether `helm template` refuses the chart with `--set <set>` (values.schema.json or a
/// template's own check).
fn template_refuses(set: &str) -> bool {
    !Command::new(helm_binary())
        .args(["template", "t", "charts/cygni", "--set", set])
        .current_dir(repo())
        .output()
        .expect("helm runs")
        .status
        .success()
}

/// One rendered manifest, read with a line scan of the chart's own formatting.
#[derive(Debug)]
struct Manifest {
    kind: String,
    name: String,
    namespace: Option<String>,
    text: String,
}

fn manifests(rendered: &str) -> Vec<Manifest> {
    let mut documents = vec![String::new()];
    for line in rendered.lines() {
        if line == "---" {
            documents.push(String::new());
        } else {
            let current = documents.last_mut().expect("at least one document");
            current.push_str(line);
            current.push('\n');
        }
    }
    documents
        .into_iter()
        .filter_map(|text| {
            let kind = text
                .lines()
                .find_map(|l| l.strip_prefix("kind: "))?
                .to_owned();
            let mut in_metadata = false;
            let (mut name, mut namespace) = (None, None);
            for line in text.lines() {
                if !line.starts_with(' ') {
                    in_metadata = line == "metadata:";
                } else if in_metadata {
                    if let Some(value) = line.strip_prefix("  name: ") {
                        name.get_or_insert_with(|| value.trim_matches('"').to_owned());
                    } else if let Some(value) = line.strip_prefix("  namespace: ") {
                        namespace.get_or_insert_with(|| value.trim_matches('"').to_owned());
                    }
                }
            }
            Some(Manifest {
                kind,
                name: name?,
                namespace,
                text,
            })
        })
        .collect()
}

/// One permission: (API group, resource, verb, resource name or None for any name).
type Permission = (String, String, String, Option<String>);

fn flow_list(value: &str) -> Vec<String> {
    serde_json::from_str(value.trim()).unwrap_or_else(|error| {
        panic!("RBAC fields are rendered as flow lists (JSON arrays), got {value:?}: {error}")
    })
}

/// Every permission a `Role` or `ClusterRole` grants, from rules rendered as
/// `- apiGroups: [..]` followed by `resources: [..]`, `resourceNames: [..]`, `verbs: [..]`.
fn permissions(manifest: &Manifest) -> BTreeSet<Permission> {
    #[derive(Default)]
    struct Rule {
        groups: Vec<String>,
        resources: Vec<String>,
        names: Vec<String>,
        verbs: Vec<String>,
    }
    let mut rules: Vec<Rule> = Vec::new();
    let mut in_rules = false;
    for line in manifest.text.lines() {
        if !line.starts_with(' ') {
            in_rules = line == "rules:";
            continue;
        }
        if !in_rules {
            continue;
        }
        let field = line.trim_start();
        if field.starts_with('#') {
            continue;
        }
        if let Some(value) = field.strip_prefix("- apiGroups:") {
            rules.push(Rule {
                groups: flow_list(value),
                ..Rule::default()
            });
            continue;
        }
        let rule = rules.last_mut().expect("a rule starts with `- apiGroups:`");
        if let Some(value) = field.strip_prefix("resources:") {
            rule.resources = flow_list(value);
        } else if let Some(value) = field.strip_prefix("resourceNames:") {
            rule.names = flow_list(value);
        } else if let Some(value) = field.strip_prefix("verbs:") {
            rule.verbs = flow_list(value);
        } else {
            panic!(
                "unexpected line in rules of {} {}: {line:?}",
                manifest.kind, manifest.name
            );
        }
    }
    let mut granted = BTreeSet::new();
    for rule in rules {
        let names: Vec<Option<String>> = if rule.names.is_empty() {
            vec![None]
        } else {
            rule.names.into_iter().map(Some).collect()
        };
        for group in &rule.groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    for name in &names {
                        granted.insert((
                            group.clone(),
                            resource.clone(),
                            verb.clone(),
                            name.clone(),
                        ));
                    }
                }
            }
        }
    }
    granted
}

fn permission(group: &str, resource: &str, verb: &str, name: Option<&str>) -> Permission {
    (
        group.into(),
        resource.into(),
        verb.into(),
        name.map(Into::into),
    )
}

/// What the controllers need wherever they watch objects, and nothing more: the operator's own
/// list, which `cygni doctor` checks too.
fn expected_watch_permissions() -> BTreeSet<Permission> {
    cygni::controller::permissions::watch_permissions()
        .into_iter()
        .map(|p| (p.group, p.resource, p.verb, p.name))
        .collect()
}

fn expected_lease_permissions(lease: &str) -> BTreeSet<Permission> {
    cygni::controller::permissions::lease_permissions(lease)
        .into_iter()
        .map(|p| (p.group, p.resource, p.verb, p.name))
        .collect()
}

fn find<'a>(all: &'a [Manifest], kind: &str, name: &str, namespace: Option<&str>) -> &'a Manifest {
    all.iter()
        .find(|m| m.kind == kind && m.name == name && m.namespace.as_deref() == namespace)
        .unwrap_or_else(|| {
            let present: Vec<_> = all
                .iter()
                .map(|m| format!("{} {:?}/{}", m.kind, m.namespace, m.name))
                .collect();
            panic!("no {kind} {namespace:?}/{name} rendered; rendered: {present:#?}")
        })
}

#[test]
fn helm_lint_strict_passes() {
    helm(&["lint", "charts/cygni", "--strict"]);
    helm(&[
        "lint",
        "charts/cygni",
        "--strict",
        "--set",
        "watchNamespaces={a,b}",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "serviceAccount.roleArn=arn:aws:iam::111122223333:role/cygni-operator",
        "--set",
        "dashboards.enabled=true",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "rbac.people.aggregate=false",
    ]);
}

#[test]
fn default_render_grants_a_cluster_role_with_exactly_the_operator_verbs() {
    let rendered = helm(&["template", "t", "charts/cygni", "--namespace", "ops"]);
    let all = manifests(&rendered);

    let cluster_role = find(&all, "ClusterRole", "t-cygni", None);
    assert_eq!(permissions(cluster_role), expected_watch_permissions());
    let binding = find(&all, "ClusterRoleBinding", "t-cygni", None);
    assert!(
        binding.text.contains("name: t-cygni\n    namespace: ops"),
        "{}",
        binding.text
    );

    let lease_role = find(&all, "Role", "t-cygni-leader-election", Some("ops"));
    assert_eq!(
        permissions(lease_role),
        expected_lease_permissions("cygni-operator")
    );
    find(&all, "RoleBinding", "t-cygni-leader-election", Some("ops"));

    let roles_elsewhere: Vec<_> = all
        .iter()
        .filter(|m| m.kind == "Role")
        .map(|m| &m.name)
        .collect();
    assert_eq!(
        roles_elsewhere,
        ["t-cygni-leader-election"],
        "only the lease Role without watchNamespaces"
    );
    assert!(
        !all.iter().any(|m| m.kind == "ServiceMonitor"),
        "ServiceMonitor is off by default"
    );
}

#[test]
fn watch_namespaces_render_one_role_per_namespace_and_no_cluster_role() {
    let rendered = helm(&[
        "template",
        "t",
        "charts/cygni",
        "--namespace",
        "ops",
        "--set",
        "watchNamespaces={a,b}",
    ]);
    let all = manifests(&rendered);

    // The people roles are ClusterRoles that grant nothing until someone binds them; the
    // operator itself gets nothing cluster-wide.
    let people = ["t-cygni-view", "t-cygni-edit", "t-cygni-rollout"];
    let cluster_wide: Vec<_> = all
        .iter()
        .filter(|m| m.kind.starts_with("ClusterRole"))
        .filter(|m| !(m.kind == "ClusterRole" && people.contains(&m.name.as_str())))
        .map(|m| format!("{} {}", m.kind, m.name))
        .collect();
    assert!(
        cluster_wide.is_empty(),
        "no cluster-wide RBAC for the operator when watchNamespaces is set: {cluster_wide:?}"
    );
    for namespace in ["a", "b"] {
        let role = find(&all, "Role", "t-cygni", Some(namespace));
        assert_eq!(
            permissions(role),
            expected_watch_permissions(),
            "Role in {namespace}"
        );
        let binding = find(&all, "RoleBinding", "t-cygni", Some(namespace));
        assert!(
            binding.text.contains("name: t-cygni\n    namespace: ops"),
            "{}",
            binding.text
        );
    }
    let lease_role = find(&all, "Role", "t-cygni-leader-election", Some("ops"));
    assert_eq!(
        permissions(lease_role),
        expected_lease_permissions("cygni-operator")
    );

    let deployment = find(&all, "Deployment", "t-cygni", Some("ops"));
    assert!(
        deployment
            .text
            .contains("- name: CYGNI_NAMESPACES\n              value: \"a,b\""),
        "the operator is told which namespaces to watch:\n{}",
        deployment.text
    );
}

#[test]
fn service_monitor_renders_when_enabled() {
    let rendered = helm(&[
        "template",
        "t",
        "charts/cygni",
        "--set",
        "metrics.serviceMonitor.enabled=true",
    ]);
    let all = manifests(&rendered);
    let monitor = find(&all, "ServiceMonitor", "t-cygni", Some("default"));
    assert!(
        monitor.text.contains("port: http-metrics"),
        "{}",
        monitor.text
    );
    assert!(monitor.text.contains("path: /metrics"), "{}", monitor.text);
}

#[test]
fn deployment_runs_hardened_with_probes_on_the_metrics_port() {
    let rendered = helm(&["template", "t", "charts/cygni"]);
    let all = manifests(&rendered);
    let deployment = find(&all, "Deployment", "t-cygni", Some("default"));
    for needle in [
        "replicas: 2",
        "image: \"ghcr.io/cygni-io/cygni:0.1.0\"",
        "command: [\"/usr/local/bin/cygni\"]",
        "- run",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "- ALL",
        "type: RuntimeDefault",
        "path: /healthz",
        "path: /readyz",
        "name: http-metrics",
        "containerPort: 8080",
        "fieldPath: metadata.name",
        "fieldPath: metadata.namespace",
        "- name: CYGNI_LEADER_ELECTION\n              value: \"true\"",
        "- name: CYGNI_LEASE_NAME\n              value: \"cygni-operator\"",
    ] {
        assert!(
            deployment.text.contains(needle),
            "Deployment lacks {needle:?}:\n{}",
            deployment.text
        );
    }
    let service = find(&all, "Service", "t-cygni-metrics", Some("default"));
    assert!(service.text.contains("type: ClusterIP"), "{}", service.text);
    assert!(service.text.contains("port: 8080"), "{}", service.text);
}

#[test]
fn role_arn_becomes_the_irsa_annotation() {
    let rendered = helm(&[
        "template",
        "t",
        "charts/cygni",
        "--set",
        "serviceAccount.roleArn=arn:aws:iam::111122223333:role/cygni-operator",
    ]);
    let all = manifests(&rendered);
    let account = find(&all, "ServiceAccount", "t-cygni", Some("default"));
    assert!(
        account.text.contains(
            "eks.amazonaws.com/role-arn: \"arn:aws:iam::111122223333:role/cygni-operator\""
        ),
        "{}",
        account.text
    );
}

#[test]
fn several_replicas_without_leader_election_are_refused() {
    let output = Command::new(helm_binary())
        .args([
            "template",
            "t",
            "charts/cygni",
            "--set",
            "leaderElection.enabled=false",
        ])
        .current_dir(repo())
        .output()
        .expect("helm runs");
    assert!(
        !output.status.success(),
        "two replicas without leader election must not render"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("requires leaderElection.enabled=true")
    );

    let single = helm(&[
        "template",
        "t",
        "charts/cygni",
        "--set",
        "leaderElection.enabled=false",
        "--set",
        "replicaCount=1",
    ]);
    let all = manifests(&single);
    assert!(
        !all.iter().any(|m| m.name.ends_with("-leader-election")),
        "no lease RBAC without leader election"
    );
}

#[test]
fn schema_rejects_unknown_and_invalid_values() {
    for set in [
        "typo=1",
        "aws.backend=cloud",
        "logging.format=xml",
        "watchNamespaces={Bad_Name}",
    ] {
        assert!(
            template_refuses(set),
            "--set {set} must be rejected by values.schema.json"
        );
    }
}

/// The NOTES `helm install` prints, rendered without a cluster.
fn install_notes(extra: &[&str]) -> String {
    let mut args = vec![
        "install",
        "t",
        "charts/cygni",
        "--dry-run=client",
        "--namespace",
        "cygni-system",
    ];
    args.extend_from_slice(extra);
    let out = helm(&args);
    out.split_once("NOTES:")
        .map(|(_, notes)| notes.to_string())
        .unwrap_or_default()
}

#[test]
fn install_notes_warn_for_each_app_default_left_empty() {
    let defaults = [
        "ecs.cluster is empty",
        "ecs.subnets is empty",
        "ecs.securityGroups is empty",
        "ecs.executionRoleArn is empty",
        "loadBalancer.listenerArn is empty",
    ];
    let notes = install_notes(&[]);
    for value in defaults {
        assert!(notes.contains(value), "no NOTE for {value}:\n{notes}");
    }
    let complete = install_notes(&[
        "--set",
        "ecs.cluster=apps",
        "--set",
        "ecs.subnets={subnet-0a1b2c3d4e5f60718}",
        "--set",
        "ecs.securityGroups={sg-0123456789abcdef0}",
        "--set",
        "ecs.executionRoleArn=arn:aws:iam::111122223333:role/ecs-task-execution",
        "--set",
        "loadBalancer.listenerArn=arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/shared/0123456789abcdef/0123456789abcdef",
    ]);
    for value in defaults {
        assert!(!complete.contains(value), "{complete}");
    }
}

#[test]
fn the_lease_is_the_one_cygni_run_uses_outside_the_cluster() {
    let rendered = helm(&[
        "template",
        "t",
        "charts/cygni",
        "--namespace",
        "cygni-system",
    ]);
    let all = manifests(&rendered);
    let deployment = find(&all, "Deployment", "t-cygni", Some("cygni-system"));
    assert!(
        deployment
            .text
            .contains("name: CYGNI_LEASE_NAME\n              value: \"cygni-operator\""),
        "{}",
        deployment.text
    );
    assert!(
        !install_notes(&[]).contains("acts beside this release"),
        "no warning when installed as documented"
    );
    let elsewhere = helm(&[
        "install",
        "t",
        "charts/cygni",
        "--dry-run=client",
        "-n",
        "ops",
    ]);
    assert!(
        elsewhere.contains("--lease-namespace ops --lease-name cygni-operator"),
        "{elsewhere}"
    );
}

/// Environment variable names the rendered Deployment sets.
fn env_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("- name: "))
        .filter(|name| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_operator_value_becomes_a_variable_cygni_run_reads() {
    let arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/shared/0123456789abcdef/0123456789abcdef";
    let preview = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/shared/0123456789abcdef/fedcba9876543210";
    let sets = [
        "watchNamespaces={shop}".to_string(),
        "aws.endpointUrl=http://localhost:5000".to_string(),
        "ecs.cluster=apps".to_string(),
        "ecs.subnets={subnet-0a1b2c3d4e5f60718}".to_string(),
        "ecs.securityGroups={sg-0123456789abcdef0}".to_string(),
        "ecs.executionRoleArn=arn:aws:iam::111122223333:role/ecs-exec".to_string(),
        format!("loadBalancer.listenerArn={arn}"),
        format!("loadBalancer.previewListenerArn={preview}"),
        "allowed.clusters={apps}".to_string(),
        format!("allowed.listeners={{{arn},{preview}}}"),
        "allowed.hostedZones={Z0123456789ABCDEFGHIJ}".to_string(),
    ];
    let mut args = vec!["template", "t", "charts/cygni"];
    for set in &sets {
        args.extend(["--set", set.as_str()]);
    }
    let rendered = helm(&args);
    let all = manifests(&rendered);
    let deployment = find(&all, "Deployment", "t-cygni", Some("default"));
    assert!(
        deployment.text.contains(&format!(
            "- name: CYGNI_PREVIEW_LISTENER_ARN\n              value: \"{preview}\""
        )),
        "{}",
        deployment.text
    );
    let help = Command::new(env!("CARGO_BIN_EXE_cygni"))
        .args(["run", "--help"])
        .output()
        .expect("cygni run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    // RUST_LOG is read by the log filter, not by a flag.
    let unread: Vec<String> = env_names(&deployment.text)
        .into_iter()
        .filter(|name| name != "RUST_LOG" && !help.contains(&format!("[env: {name}=")))
        .collect();
    assert!(
        unread.is_empty(),
        "the chart sets variables `cygni run` does not read: {unread:?}"
    );
    for name in [
        "CYGNI_PREVIEW_LISTENER_ARN",
        "CYGNI_ALLOWED_HOSTED_ZONES",
        "CYGNI_SUBNETS",
    ] {
        assert!(
            env_names(&deployment.text).contains(name),
            "{name} missing:\n{}",
            deployment.text
        );
    }
}

#[test]
fn install_notes_say_when_blue_green_revisions_get_no_preview() {
    let none = install_notes(&[]);
    assert!(
        none.contains("loadBalancer.previewListenerArn is empty"),
        "{none}"
    );
    let preview = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/shared/0123456789abcdef/fedcba9876543210";
    let set = format!("loadBalancer.previewListenerArn={preview}");
    let unlisted = install_notes(&[
        "--set",
        &set,
        "--set",
        "allowed.listeners={arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/shared/0123456789abcdef/0123456789abcdef}",
    ]);
    assert!(
        unlisted.contains("previewListenerArn is not in allowed.listeners"),
        "{unlisted}"
    );
    let allowed = format!("allowed.listeners={{{preview}}}");
    let listed = install_notes(&["--set", &set, "--set", &allowed]);
    assert!(!listed.contains("previewListenerArn"), "{listed}");
}

// ---------------------------------------------------------------------------------------------
// People RBAC

fn people_roles(extra: &[&str]) -> Vec<Manifest> {
    let mut args = vec!["template", "t", "charts/cygni"];
    args.extend_from_slice(extra);
    manifests(&helm(&args))
        .into_iter()
        .filter(|m| {
            m.kind == "ClusterRole"
                && ["t-cygni-view", "t-cygni-edit", "t-cygni-rollout"].contains(&m.name.as_str())
        })
        .collect()
}

fn cygni_permissions(resources: &[&str], verbs: &[&str]) -> BTreeSet<Permission> {
    let mut set = BTreeSet::new();
    for resource in resources {
        for verb in verbs {
            set.insert(permission("cygni.io", resource, verb, None));
        }
    }
    set
}

#[test]
fn people_roles_grant_exactly_what_each_task_of_an_app_team_needs() {
    let roles = people_roles(&[]);
    let view = find(&roles, "ClusterRole", "t-cygni-view", None);
    assert_eq!(
        permissions(view),
        cygni_permissions(
            &["apps", "deployments", "domains"],
            &["get", "list", "watch"]
        )
    );
    let edit = find(&roles, "ClusterRole", "t-cygni-edit", None);
    assert_eq!(
        permissions(edit),
        cygni_permissions(
            &["apps", "domains"],
            &[
                "get", "list", "watch", "create", "update", "patch", "delete"
            ]
        ),
        "people manage Apps and Domains; Deployments are the operator's"
    );
    // What `cygni promote/abort/retry/pause/resume` call: get the App, list and get its
    // Deployments, merge-patch one Deployment's spec (src/cli/mod.rs).
    let rollout = find(&roles, "ClusterRole", "t-cygni-rollout", None);
    let mut expected = cygni_permissions(&["deployments"], &["get", "list", "watch", "patch"]);
    expected.insert(permission("cygni.io", "apps", "get", None));
    assert_eq!(permissions(rollout), expected);
    assert!(
        !permissions(rollout)
            .iter()
            .any(|(_, resource, ..)| resource.ends_with("/status")),
        "the CLI patches spec, never status"
    );
}

#[test]
fn people_roles_aggregate_into_the_built_in_roles_unless_told_not_to() {
    let label = |to: &str| format!("rbac.authorization.k8s.io/aggregate-to-{to}: \"true\"");
    let roles = people_roles(&[]);
    let view = find(&roles, "ClusterRole", "t-cygni-view", None);
    for to in ["view", "edit", "admin"] {
        assert!(view.text.contains(&label(to)), "{}", view.text);
    }
    for name in ["t-cygni-edit", "t-cygni-rollout"] {
        let role = find(&roles, "ClusterRole", name, None);
        assert!(role.text.contains(&label("edit")), "{}", role.text);
        assert!(role.text.contains(&label("admin")), "{}", role.text);
        assert!(
            !role.text.contains(&label("view")),
            "read-only users must not get {name}"
        );
    }
    let plain = people_roles(&["--set", "rbac.people.aggregate=false"]);
    assert_eq!(plain.len(), 3);
    assert!(plain.iter().all(|m| !m.text.contains("aggregate-to")));
    assert!(people_roles(&["--set", "rbac.people.enabled=false"]).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Dashboard and alerts

fn yaml_documents(rendered: &str) -> Vec<serde_yaml_ng::Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|doc| serde_yaml_ng::Value::deserialize(doc).expect("rendered YAML parses"))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn rendered_kind(extra: &[&str], kind: &str) -> Vec<serde_yaml_ng::Value> {
    let mut args = vec!["template", "t", "charts/cygni", "--namespace", "ops"];
    args.extend_from_slice(extra);
    yaml_documents(&helm(&args))
        .into_iter()
        .filter(|doc| doc["kind"] == kind)
        .collect()
}

fn dashboard_file() -> Value {
    let text = fs::read_to_string(chart_dir().join("dashboards/cygni.json"))
        .expect("charts/cygni/dashboards/cygni.json");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

#[test]
fn the_dashboard_renders_as_a_config_map_the_grafana_sidecar_picks_up() {
    assert!(rendered_kind(&[], "ConfigMap").is_empty(), "off by default");
    let maps = rendered_kind(&["--set", "dashboards.enabled=true"], "ConfigMap");
    let [map] = maps.as_slice() else {
        panic!("one ConfigMap: {maps:?}")
    };
    assert_eq!(map["metadata"]["name"], "t-cygni-dashboard");
    assert_eq!(map["metadata"]["namespace"], "ops");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let held: Value = serde_json::from_str(
        map["data"]["cygni.json"]
            .as_str()
            .expect("data holds cygni.json"),
    )
    .expect("the ConfigMap holds JSON");
    assert_eq!(held, dashboard_file(), "the ConfigMap holds the file as is");

    let custom = rendered_kind(
        &[
            "--set",
            "dashboards.enabled=true",
            "--set",
            "dashboards.label=dashboards",
            "--set-string",
            "dashboards.labelValue=cygni",
            "--set",
            "dashboards.namespace=monitoring",
        ],
        "ConfigMap",
    );
    assert_eq!(custom[0]["metadata"]["labels"]["dashboards"], "cygni");
    assert_eq!(custom[0]["metadata"]["namespace"], "monitoring");
}

/// Names a Grafana dashboard's panels: every panel has a title, a Prometheus data source and at
/// least one query.
#[test]
fn every_dashboard_panel_queries_the_selected_prometheus() {
    let dashboard = dashboard_file();
    assert_eq!(dashboard["uid"], "cygni-operator");
    let panels = dashboard["panels"].as_array().expect("panels");
    let graphs: Vec<&Value> = panels.iter().filter(|p| p["type"] != "row").collect();
    assert!(graphs.len() >= 12, "{} panels", graphs.len());
    for panel in graphs {
        let title = panel["title"].as_str().expect("a title");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            assert!(expr.contains("job=~\"$job\""), "{title}: {expr}");
        }
    }
}

fn prometheus_rule(extra: &[&str]) -> serde_yaml_ng::Value {
    let mut args = vec!["--set", "prometheusRule.enabled=true"];
    args.extend_from_slice(extra);
    let rules = rendered_kind(&args, "PrometheusRule");
    let [rule] = rules.as_slice() else {
        panic!("one PrometheusRule: {rules:?}")
    };
    rule.clone()
}

/// The alerting rules of a rendered PrometheusRule.
fn alerts(rule: &serde_yaml_ng::Value) -> Vec<serde_yaml_ng::Value> {
    rule["spec"]["groups"]
        .as_sequence()
        .expect("spec.groups")
        .iter()
        .flat_map(|group| {
            assert!(group["name"].as_str().is_some(), "a group has a name");
            group["rules"].as_sequence().expect("rules").clone()
        })
        .collect()
}

/// GitHub's anchor for a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn the_prometheus_rule_has_the_four_alerts_each_with_a_runbook_section() {
    assert!(
        rendered_kind(&[], "PrometheusRule").is_empty(),
        "off by default"
    );
    let rule = prometheus_rule(&[]);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["namespace"], "ops");
    let docs =
        fs::read_to_string(repo().join("docs/observability.md")).expect("docs/observability.md");
    let anchors: BTreeSet<String> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .map(anchor)
        .collect();
    let mut names = Vec::new();
    for alert in alerts(&rule) {
        let name = alert["alert"]
            .as_str()
            .expect("an alerting rule")
            .to_owned();
        assert!(
            alert["expr"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}"
        );
        if let Some(wait) = alert["for"].as_str() {
            assert!(is_duration(wait), "{name}: for {wait:?}");
        }
        assert!(
            matches!(
                alert["labels"]["severity"].as_str(),
                Some("warning" | "critical")
            ),
            "{name}"
        );
        for field in ["summary", "description"] {
            assert!(
                alert["annotations"][field].as_str().is_some(),
                "{name}: {field}"
            );
        }
        let url = alert["annotations"]["runbook_url"]
            .as_str()
            .expect("runbook_url");
        let (page, fragment) = url.split_once('#').expect("the link has an anchor");
        assert_eq!(
            page,
            "https://github.com/cygni-io/cygni/blob/main/docs/observability.md"
        );
        assert!(
            anchors.contains(fragment),
            "{name}: no `### ` heading in docs/observability.md has anchor #{fragment}; headings: {anchors:?}"
        );
        names.push(name);
    }
    assert_eq!(
        names,
        [
            "CygniRolloutFailed",
            "CygniReconcileErrorsPersisting",
            "CygniAwsThrottling",
            "CygniLeaderMissing"
        ]
    );
}

/// A Prometheus duration such as `15m` or `1h30m`.
fn is_duration(text: &str) -> bool {
    let mut digits = false;
    let mut rest = text;
    while !rest.is_empty() {
        let number = rest.chars().take_while(char::is_ascii_digit).count();
        if number == 0 {
            return false;
        }
        rest = &rest[number..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|unit| rest.starts_with(unit));
        let Some(unit) = unit else { return false };
        rest = &rest[unit.len()..];
        digits = true;
    }
    digits
}

#[test]
fn alert_settings_reach_the_rendered_rules() {
    let rule = prometheus_rule(&[
        "--set",
        "prometheusRule.selector=job=\"ops/cygni\"",
        "--set",
        "prometheusRule.reconcileErrorsFor=30m",
        "--set",
        "prometheusRule.awsThrottlingRatio=0.2",
        "--set",
        "prometheusRule.additionalLabels.team=platform",
        "--set",
        "prometheusRule.labels.release=kube-prometheus-stack",
    ]);
    assert_eq!(
        rule["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    for alert in alerts(&rule) {
        let expr = alert["expr"].as_str().expect("expr");
        assert!(expr.contains("{job=\"ops/cygni\""), "{expr}");
        assert!(!expr.contains("namespace=\"ops\""), "{expr}");
        assert_eq!(alert["labels"]["team"], "platform");
        match alert["alert"].as_str() {
            Some("CygniReconcileErrorsPersisting") => assert_eq!(alert["for"], "30m"),
            Some("CygniAwsThrottling") => assert!(expr.trim_end().ends_with("> 0.2"), "{expr}"),
            _ => {}
        }
    }
    for bad in [
        "prometheusRule.selector=job",
        "prometheusRule.awsThrottlingRatio=2",
        "prometheusRule.runbookBaseUrl=docs.md#x",
        "dashboards.label=bad label",
    ] {
        assert!(template_refuses(bad), "--set {bad} must be rejected");
    }
}

/// Metric names the operator exposes, from its registry: a counter family `x` is exposed as
/// `x_total`, a histogram as `x_bucket`, `x_sum` and `x_count`, a gauge as `x`.
fn exposed_metrics() -> BTreeSet<String> {
    // A family renders only once it has a series: record one of each through the operator's own
    // calls, so the names come from its registry.
    let metrics = cygni::telemetry::Metrics::default();
    drop(metrics.reconcile_started("App"));
    metrics.reconcile_skipped("App");
    metrics.reconcile_failed("App", "aws", "transient");
    metrics.aws_call(
        "ecs",
        "DescribeServices",
        None,
        std::time::Duration::from_millis(20),
    );
    metrics.rollout_progress(
        "Deployment/shop/web-2",
        "canary",
        "Pending",
        "Progressing",
        &[cygni::telemetry::StepDone {
            index: 0,
            kind: "setWeight",
            took: std::time::Duration::from_secs(5),
        }],
    );
    metrics.count_rollouts_with(|| {
        vec![(
            "Deployment/shop/web-2".to_string(),
            cygni::telemetry::RolloutLabels {
                strategy: "canary".into(),
                phase: "Progressing".into(),
            },
        )]
    });
    metrics.analysis_measured("webhook", "passed");
    metrics.analysis_verdict("AnalysisPassed");
    let text = metrics.render();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    assert!(
        names.len() > 10,
        "the registry renders its families: {text}"
    );
    names
}

const PROMQL_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "limitk",
    "limit_ratio",
];

/// Metric names a PromQL expression selects: identifiers outside label matchers (`{...}`),
/// ranges (`[...]`) and strings that are neither functions (followed by `(`), keywords, nor the
/// label lists of `by`, `without`, `on`, `ignoring` and `group_*`.
fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let (mut i, mut braces, mut brackets) = (0, 0, 0);
    let mut label_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            '{' => braces += 1,
            '}' => braces -= 1,
            '[' => brackets += 1,
            ']' => brackets -= 1,
            ')' if label_list => label_list = false,
            _ => {}
        }
        if (c.is_ascii_alphabetic() || c == '_' || c == ':')
            && braces == 0
            && brackets == 0
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '$'))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let lower = word.to_ascii_lowercase();
            if PROMQL_KEYWORDS.contains(&lower.as_str()) {
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&lower.as_str())
                    && next == Some(&'(')
                {
                    label_list = true;
                }
            } else if next != Some(&'(') && !label_list {
                names.push(word);
            }
            continue;
        }
        i += 1;
    }
    names
}

#[test]
fn the_promql_reader_finds_metric_names_and_nothing_else() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.9, sum by (kind, le) (rate(cygni_x_bucket{job=~"$job",a!="b c"}[$__rate_interval])))"#
        ),
        ["cygni_x_bucket"]
    );
    assert_eq!(
        metric_names(
            r#"(max(cygni_leader{a="1"}) or vector(0)) < 1 and on (pod) group_left () up"#
        ),
        ["cygni_leader", "up"]
    );
    assert_eq!(
        metric_names("sum(rate(a_total[5m])) / sum(rate(b_total[5m])) > 0.05"),
        ["a_total", "b_total"]
    );
}

#[test]
fn every_dashboard_and_alert_expression_names_only_metrics_the_operator_exposes() {
    let exposed = exposed_metrics();
    let mut expressions: Vec<(String, String)> = Vec::new();
    for panel in dashboard_file()["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            expressions.push((
                format!("dashboard panel {}", panel["title"]),
                target["expr"].as_str().expect("expr").to_owned(),
            ));
        }
    }
    for alert in alerts(&prometheus_rule(&[])) {
        expressions.push((
            format!("alert {}", alert["alert"].as_str().unwrap_or_default()),
            alert["expr"].as_str().expect("expr").to_owned(),
        ));
    }
    let mut used = BTreeSet::new();
    let mut unknown = Vec::new();
    for (place, expr) in &expressions {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{place} selects no metric: {expr}");
        for name in names {
            if !exposed.contains(&name) {
                unknown.push(format!("{place}: {name}"));
            }
            used.insert(name);
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics the operator does not expose: {unknown:#?}\nexposed: {exposed:#?}"
    );
    // The dashboard covers what the operator measures.
    for name in [
        "cygni_reconciles_total",
        "cygni_reconcile_failures_total",
        "cygni_reconcile_duration_seconds_bucket",
        "cygni_leader",
        "cygni_aws_calls_total",
        "cygni_aws_call_duration_seconds_bucket",
        "cygni_rollouts",
        "cygni_rollout_transitions_total",
        "cygni_rollout_step_duration_seconds_bucket",
        "cygni_analysis_verdicts_total",
        "cygni_analysis_measurements_total",
    ] {
        assert!(exposed.contains(name), "{name} is not exposed");
        assert!(used.contains(name), "no panel or alert shows {name}");
    }
}
