//! The CRDs in `crds/` are generated from the Rust types; these tests fail when they drift, and
//! check properties a real API server insists on (rules that compile, names users type).

use cygni::api::crd;
use std::path::Path;

const REGENERATE: &str = "regenerate with `cargo run -- crds --write crds && cargo run -- crds --write charts/cygni/crds`";

#[test]
fn crds_folder_matches_the_generated_definitions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut expected_files = Vec::new();
    for definition in crd::all() {
        let name = crd::file_name(&definition);
        let generated = crd::to_yaml(&definition).expect("CRD serializes");
        let on_disk = std::fs::read_to_string(root.join("crds").join(&name))
            .unwrap_or_else(|e| panic!("crds/{name}: {e}; {REGENERATE}"));
        assert!(on_disk == generated, "crds/{name} is stale; {REGENERATE}");
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(root.join("crds"))
        .expect("crds/ exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds exactly the generated files"
    );
}

#[test]
fn cat_of_the_crds_folder_equals_the_crds_command_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .expect("crds/")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    let concatenated: String = names
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect();
    assert!(
        concatenated == crd::render_all().expect("render"),
        "{REGENERATE}"
    );
}

#[test]
fn every_kind_has_its_short_name_and_the_cygni_category() {
    let short: Vec<(String, Vec<String>, Vec<String>)> = crd::all()
        .into_iter()
        .map(|c| {
            (
                c.spec.names.kind.clone(),
                c.spec.names.short_names.clone().unwrap_or_default(),
                c.spec.names.categories.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        short,
        vec![
            (
                "App".to_string(),
                vec!["cxapp".to_string()],
                vec!["cygni".to_string()]
            ),
            (
                "Deployment".to_string(),
                vec!["cxdeploy".to_string()],
                vec!["cygni".to_string()]
            ),
            (
                "Domain".to_string(),
                vec!["cxdomain".to_string()],
                vec!["cygni".to_string()]
            ),
        ]
    );
}

#[test]
fn every_kind_serves_v1alpha1_with_a_status_subresource() {
    for definition in crd::all() {
        assert_eq!(definition.spec.group, "cygni.io");
        assert_eq!(definition.spec.scope, "Namespaced");
        let version = &definition.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage);
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} has a status subresource",
            definition.spec.names.kind
        );
    }
}

#[test]
fn every_cel_rule_compiles() {
    for definition in crd::all() {
        let schema = serde_json::to_value(
            definition.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema"),
        )
        .expect("json");
        let compiled = kube::core::cel::compile_schema(&schema);
        let errors: Vec<String> = compiled
            .compilation_errors()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {errors:?}",
            definition.spec.names.kind
        );
    }
}

/// Paths under `spec` of strings without `maxLength` (or `enum`) and arrays without `maxItems`.
fn unbounded(schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match schema["type"].as_str() {
        Some("string") if schema.get("maxLength").is_none() && schema.get("enum").is_none() => {
            out.push(path.to_string())
        }
        Some("array") => {
            if schema.get("maxItems").is_none() {
                out.push(format!("{path}[]"));
            }
            unbounded(&schema["items"], &format!("{path}[*]"), out);
        }
        _ => {}
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, child) in properties {
            unbounded(child, &format!("{path}.{name}"), out);
        }
    }
}

/// The API server estimates the worst-case cost of every CEL rule from these bounds and refuses a
/// CRD whose rules could exceed the budget; bounding every spec field keeps the estimates small.
#[test]
fn every_spec_string_and_list_is_bounded() {
    let mut found = Vec::new();
    for definition in crd::all() {
        let schema = serde_json::to_value(
            definition.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema"),
        )
        .expect("json");
        let kind = &definition.spec.names.kind;
        unbounded(&schema["properties"]["spec"], kind, &mut found);
    }
    assert!(found.is_empty(), "unbounded: {found:?}");
}
