//! CustomResourceDefinition generation: the CRDs are derived from the Rust types and written as the
//! YAML files in `crds/` and the Helm chart, so the schema users apply is the one the code reads.

use super::{App, Deployment, Domain};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The CRDs of every Cygni kind, in the order of their file names.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![App::crd(), Deployment::crd(), Domain::crd()]
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
