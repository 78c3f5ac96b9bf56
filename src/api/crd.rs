//! CustomResourceDefinition generation: the CRDs are derived from the Rust types and written as the
//! YAML files in `crds/` and the Helm chart, so the schema users apply is the one the code reads.

use super::{App, Deployment, Domain};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The CRDs of every Cygni kind, in the order of their file names.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![App::crd(), Deployment::crd(), Domain::crd()]
        .into_iter()
        .map(reflow_descriptions)
        .collect()
}

/// Descriptions come from doc comments, wrapped at 100 columns; `kubectl explain` wraps text
/// itself and would keep those breaks mid-sentence. Lines are joined, paragraphs kept.
fn reflow_descriptions(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match child {
                        serde_json::Value::String(text) if key == "description" => {
                            *text = reflow(text);
                        }
                        _ => walk(child),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// Joins the lines of each paragraph with a space; paragraphs stay apart.
fn reflow(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// File name of a CRD in `crds/`, e.g. `apps.cygni.io.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// One CRD as a YAML document that starts with `---`, so files concatenate into a valid stream.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_yaml_ng::Error> {
    Ok(format!("---\n{}", serde_yaml_ng::to_string(crd)?))
}

/// Every CRD as one YAML stream: what `cygni crds` prints and what `cat crds/*.yaml` holds.
pub fn render_all() -> Result<String, serde_yaml_ng::Error> {
    all().iter().map(to_yaml).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_reflowed_into_paragraphs() {
        assert_eq!(reflow("one\ntwo\n\nthree\n four"), "one two\n\nthree four");
        let yaml = render_all().expect("renders");
        assert!(
            !yaml.contains("description: |-"),
            "no description keeps line breaks inside a paragraph"
        );
    }
}
