//! Checks of the Helm chart in `charts/cygni`.
//!
//! - The chart's `crds/` folder is a byte-for-byte copy of the generated top-level `crds/`.
//! - `values.schema.json` describes every value in `values.yaml`, and `values.yaml` documents
//!   every key with a comment.
//! - `helm lint --strict` passes and `helm template` renders RBAC with exactly the verbs the
//!   operator uses, for the all-namespaces and the per-namespace layouts.
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

/// What the controllers need wherever they watch objects, and nothing more.
fn expected_watch_permissions() -> BTreeSet<Permission> {
    let mut expected = BTreeSet::new();
    for resource in ["apps", "deployments", "domains"] {
        for verb in ["get", "list", "watch", "patch"] {
            expected.insert(permission("cygni.io", resource, verb, None));
        }
        for verb in ["get", "patch"] {
            expected.insert(permission(
                "cygni.io",
                &format!("{resource}/status"),
                verb,
                None,
            ));
        }
        expected.insert(permission(
            "cygni.io",
            &format!("{resource}/finalizers"),
            "update",
            None,
        ));
    }
    // The App controller creates and prunes its Deployments.
    for verb in ["create", "delete"] {
        expected.insert(permission("cygni.io", "deployments", verb, None));
    }
    for verb in ["list", "create", "patch"] {
        expected.insert(permission("events.k8s.io", "events", verb, None));
    }
    // Webhook analysis headers read their value from a Secret, by name.
    expected.insert(permission("", "secrets", "get", None));
    expected
}

fn expected_lease_permissions(lease: &str) -> BTreeSet<Permission> {
    BTreeSet::from([
        permission("coordination.k8s.io", "leases", "create", None),
        permission("coordination.k8s.io", "leases", "get", Some(lease)),
        permission("coordination.k8s.io", "leases", "update", Some(lease)),
    ])
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

    assert!(
        !all.iter().any(|m| m.kind.starts_with("ClusterRole")),
        "no cluster-wide RBAC when watchNamespaces is set"
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
        let output = Command::new(helm_binary())
            .args(["template", "t", "charts/cygni", "--set", set])
            .current_dir(repo())
            .output()
            .expect("helm runs");
        assert!(
            !output.status.success(),
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
