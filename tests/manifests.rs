//! The manifests users copy: every example must pass the generated CRD schemas (structure, CEL
//! rules, no unknown fields) and deserialize into the operator's types; every manifest in
//! `examples/invalid` must be rejected with the message its `# expect:` line names.

use cygni::api::{App, Deployment, Domain, crd};
use cygni::sim::kube::validation::{unknown_fields, validate};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("read {}: {e}", root.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable manifest");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn schema_for(kind: &str) -> Value {
    let definition = crd::all()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = definition.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("CRD has a schema");
    serde_json::to_value(schema).expect("schema serializes")
}

/// Every message the API server would answer with for this object, one per line.
fn rejections(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().expect("manifest has a kind");
    let schema = schema_for(kind);
    let mut messages: Vec<String> = unknown_fields(&schema, object)
        .into_iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    messages.extend(
        validate(&schema, object, None)
            .iter()
            .map(ToString::to_string),
    );
    messages
}

#[test]
fn every_example_is_accepted_by_the_schema_and_read_by_the_operator() {
    let files = yaml_files("examples");
    assert!(
        files.len() >= 4,
        "examples/ holds the App and Domain examples"
    );
    for path in files {
        for object in documents(&path) {
            let problems = rejections(&object);
            assert!(
                problems.is_empty(),
                "{} is rejected:\n{}",
                path.display(),
                problems.join("\n")
            );
            let parsed = match object["kind"].as_str() {
                Some("App") => serde_json::from_value::<App>(object.clone()).map(drop),
                Some("Domain") => serde_json::from_value::<Domain>(object.clone()).map(drop),
                Some("Deployment") => {
                    serde_json::from_value::<Deployment>(object.clone()).map(drop)
                }
                other => panic!("{}: unexpected kind {other:?}", path.display()),
            };
            parsed.unwrap_or_else(|e| panic!("{} does not deserialize: {e}", path.display()));
        }
    }
}

#[test]
fn every_invalid_manifest_is_rejected_with_the_message_it_expects() {
    let files = yaml_files("examples/invalid");
    assert!(
        files.len() >= 15,
        "at least 15 invalid manifests, found {}",
        files.len()
    );
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let expected = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", path.display()));
        let objects = documents(&path);
        assert_eq!(objects.len(), 1, "{} holds one object", path.display());
        let problems = rejections(&objects[0]);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{}: expected a rejection containing\n  {expected}\nbut got\n  {}",
            path.display(),
            if problems.is_empty() {
                "nothing (accepted)".to_string()
            } else {
                problems.join("\n  ")
            }
        );
    }
}

#[test]
fn the_argo_cd_application_syncs_the_examples_folder() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/argocd/application.yaml");
    let app = &documents(&path)[0];
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    assert_eq!(app["spec"]["source"]["path"], "examples");
    assert_eq!(
        app["spec"]["source"]["directory"]["recurse"], false,
        "the invalid examples in a subfolder must stay out of the sync"
    );
}

fn deployment(image: &str) -> Value {
    let app: Value = serde_json::json!({"container": {"image": image}});
    let spec: cygni::api::AppSpec = serde_json::from_value(app).expect("App spec");
    serde_json::json!({
        "apiVersion": "cygni.io/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": "web-1"},
        "spec": {
            "app": "web",
            "revision": 1,
            "templateHash": "5d41402abc4b2a76",
            "template": serde_json::to_value(spec.template()).expect("template"),
            "strategy": {"rolling": {}},
        }
    })
}

#[test]
fn a_deployment_snapshot_cannot_be_edited() {
    let schema = schema_for("Deployment");
    let old = deployment("web:1");
    let new = deployment("web:2");
    assert!(
        validate(&schema, &old, None).is_empty(),
        "the snapshot itself is valid"
    );
    let errors: Vec<String> = validate(&schema, &new, Some(&old))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("spec.template: Invalid value: is immutable")),
        "{errors:?}"
    );
}

#[test]
fn a_deployment_can_be_paused_and_promoted_without_touching_the_snapshot() {
    let schema = schema_for("Deployment");
    let old = deployment("web:1");
    let mut new = old.clone();
    new["spec"]["paused"] = Value::Bool(true);
    new["spec"]["promoteStep"] = serde_json::json!(0);
    let errors = validate(&schema, &new, Some(&old));
    assert!(
        errors.is_empty(),
        "{:?}",
        errors.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
}

#[test]
fn a_domain_hostname_cannot_be_changed() {
    let schema = schema_for("Domain");
    let old = serde_json::json!({
        "apiVersion": "cygni.io/v1alpha1", "kind": "Domain", "metadata": {"name": "d"},
        "spec": {"hostname": "shop.example.com", "appRef": {"name": "shop"}}
    });
    let mut new = old.clone();
    new["spec"]["hostname"] = Value::String("store.example.com".into());
    let errors: Vec<String> = validate(&schema, &new, Some(&old))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("hostname is immutable")),
        "{errors:?}"
    );
}
