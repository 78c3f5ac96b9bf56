//! OpenAPI documents: `/openapi/v3` (the index of group versions), `/openapi/v3/<gv>` (paths and
//! schemas of one group version) and a JSON `/openapi/v2`. Custom resources get their CRD schema
//! (so `kubectl explain app.spec.container` prints the CRD's descriptions); built-in kinds get a
//! small schema. Every PATCH operation declares the `fieldValidation` parameter, which is how
//! kubectl decides to leave unknown-field checks to the server.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value, json};

use super::discovery::{MAJOR, MINOR};
use super::registry::{Registry, ResourceType};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// The path of a group version in `/openapi/v3`: `api/v1` or `apis/cygni.io/v1alpha1`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`.
pub fn v3_index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let path = gv_path(&group, &version);
            let hash = hash_of(&v3_document(registry, &group, &version));
            paths.insert(
                path.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
            );
        }
    }
    json!({ "paths": paths })
}

fn hash_of(document: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    document.to_string().hash(&mut hasher);
    let first = hasher.finish();
    first.hash(&mut hasher);
    format!("{first:016X}{:016X}", hasher.finish())
}

/// `/openapi/v3/<path>` for a path from the index, or None.
pub fn v3_for_path(registry: &Registry, path: &str) -> Option<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version) = match parts.as_slice() {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return None,
    };
    registry
        .all()
        .iter()
        .any(|t| t.group == group && t.version == version)
        .then(|| v3_document(registry, group, version))
}

/// The schema name of a kind: `io.cygni.v1alpha1.App`, `io.k8s.api.core.v1.ConfigMap`.
pub fn schema_name(resource: &ResourceType) -> String {
    let prefix = match resource.group.as_str() {
        "" => "io.k8s.api.core".to_string(),
        "apiextensions.k8s.io" => "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions".into(),
        group if group.ends_with(".k8s.io") => {
            format!("io.k8s.api.{}", group.trim_end_matches(".k8s.io"))
        }
        group => group.split('.').rev().collect::<Vec<_>>().join("."),
    };
    format!("{prefix}.{}.{}", resource.version, resource.kind)
}

fn gvk(resource: &ResourceType) -> Value {
    json!({"group": resource.group, "version": resource.version, "kind": resource.kind})
}

fn v3_document(registry: &Registry, group: &str, version: &str) -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for resource in registry
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let name = schema_name(resource);
        schemas.insert(name.clone(), kind_schema(resource));
        schemas.insert(
            format!("{name}List"),
            json!({
                "type": "object",
                "description": format!("{}List is a list of {}", resource.kind, resource.kind),
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string", "description": API_VERSION_DOC},
                    "kind": {"type": "string", "description": KIND_DOC},
                    "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{LIST_META}")}], "default": {}},
                    "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{name}")}},
                },
                "x-kubernetes-group-version-kind": [{
                    "group": resource.group, "version": resource.version,
                    "kind": format!("{}List", resource.kind)}],
            }),
        );
        add_paths(&mut paths, resource, &name);
    }
    schemas.insert(OBJECT_META.into(), object_meta_schema());
    schemas.insert(
        LIST_META.into(),
        json!({"type": "object", "description": "ListMeta describes metadata that synthetic resources must have, including lists and various status objects.",
            "properties": {
                "continue": {"type": "string"},
                "remainingItemCount": {"type": "integer", "format": "int64"},
                "resourceVersion": {"type": "string"},
            }}),
    );
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{MAJOR}.{MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of \
    an object. Servers should convert recognized schemas to the latest internal value, and may \
    reject unrecognized values. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object \
    represents. Servers may infer this from the endpoint the client submits requests to. Cannot \
    be updated. In CamelCase. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

fn kind_schema(resource: &ResourceType) -> Value {
    let mut schema = resource
        .schema
        .clone()
        .unwrap_or_else(|| builtin_schema(resource));
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": API_VERSION_DOC}),
        );
        properties.insert(
            "kind".into(),
            json!({"type": "string", "description": KIND_DOC}),
        );
        properties.insert(
            "metadata".into(),
            json!({
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
                "allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}],
                "default": {},
            }),
        );
    }
    schema["x-kubernetes-group-version-kind"] = json!([gvk(resource)]);
    schema
}

fn builtin_schema(resource: &ResourceType) -> Value {
    let (description, extra) = match resource.kind.as_str() {
        "Namespace" => (
            "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
            json!({
                "spec": {"type": "object", "description": "Spec defines the behavior of the Namespace.",
                    "properties": {"finalizers": {"type": "array", "items": {"type": "string"}}}},
                "status": {"type": "object", "description": "Status describes the current status of a Namespace.",
                    "properties": {"phase": {"type": "string"}}},
            }),
        ),
        "ConfigMap" => (
            "ConfigMap holds configuration data for pods to consume.",
            json!({
                "data": {"type": "object", "additionalProperties": {"type": "string"}},
                "binaryData": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
                "immutable": {"type": "boolean"},
            }),
        ),
        "Secret" => (
            "Secret holds secret data of a certain type.",
            json!({
                "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
                "stringData": {"type": "object", "additionalProperties": {"type": "string"}},
                "type": {"type": "string"},
                "immutable": {"type": "boolean"},
            }),
        ),
        "Lease" => (
            "Lease defines a lease concept.",
            json!({"spec": {"type": "object", "properties": {
                "holderIdentity": {"type": "string"},
                "leaseDurationSeconds": {"type": "integer", "format": "int32"},
                "acquireTime": {"type": "string", "format": "date-time"},
                "renewTime": {"type": "string", "format": "date-time"},
                "leaseTransitions": {"type": "integer", "format": "int32"},
            }}}),
        ),
        "Event" => (
            "Event is a report of an event somewhere in the cluster.",
            json!({
                "reason": {"type": "string"},
                "type": {"type": "string"},
                "action": {"type": "string"},
                "eventTime": {"type": "string", "format": "date-time"},
                "reportingInstance": {"type": "string"},
            }),
        ),
        _ => (
            "CustomResourceDefinition represents a resource that should be exposed on the API server.",
            json!({
                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            }),
        ),
    };
    let mut properties = extra.as_object().cloned().unwrap_or_default();
    properties.insert("metadata".into(), json!({}));
    json!({"type": "object", "description": description, "properties": properties})
}

fn object_meta_schema() -> Value {
    let string = |d: &str| json!({"type": "string", "description": d});
    json!({
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "properties": {
            "name": string("Name must be unique within a namespace."),
            "generateName": string("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
            "namespace": string("Namespace defines the space within which each name must be unique."),
            "uid": string("UID is the unique in time and space value for this object."),
            "resourceVersion": string("An opaque value that represents the internal version of this object."),
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "creationTimestamp": {"type": "string", "format": "date-time", "description": "CreationTimestamp is a timestamp representing the server time when this object was created."},
            "deletionTimestamp": {"type": "string", "format": "date-time", "description": "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64", "description": "Number of seconds allowed for this object to gracefully terminate."},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Map of string keys and values that can be used to organize and categorize (scope and select) objects."},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata."},
            "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "description": "Must be empty before the object is deleted from the registry."},
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"], "description": "List of objects depended by this object."},
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."},
        },
    })
}

fn query_parameter(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn add_paths(paths: &mut Map<String, Value>, resource: &ResourceType, schema: &str) {
    let base = format!("/{}", gv_path(&resource.group, &resource.version));
    let scope = if resource.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", resource.plural)
    } else {
        format!("{base}/{}", resource.plural)
    };
    let body = json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    let reference = json!({"$ref": format!("#/components/schemas/{schema}")});
    let response = json!({"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}});
    let list_response = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}List")}}}}});
    let gvk = gvk(resource);
    let write_params = vec![
        query_parameter(
            "dryRun",
            "When present, indicates that modifications should not be persisted.",
        ),
        query_parameter(
            "fieldManager",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        query_parameter(
            "fieldValidation",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (the default), Strict.",
        ),
    ];
    let mut patch_params = write_params.clone();
    patch_params.push(query_parameter(
        "force",
        "Force is going to \"force\" Apply requests.",
    ));
    let operation =
        |action: &str, id: &str, params: &[Value], responses: &Value, with_body: bool| {
            let mut op = json!({
                "operationId": id,
                "parameters": params,
                "responses": responses,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            });
            if with_body {
                op["requestBody"] = body.clone();
            }
            op
        };
    let kind = &resource.kind;
    paths.insert(
        scope.clone(),
        json!({
            "get": operation("list", &format!("list{kind}"), &[], &list_response, false),
            "post": operation("post", &format!("create{kind}"), &write_params, &response, true),
        }),
    );
    let item = format!("{scope}/{{name}}");
    paths.insert(
        item.clone(),
        json!({
            "get": operation("get", &format!("read{kind}"), &[], &response, false),
            "put": operation("put", &format!("replace{kind}"), &write_params, &response, true),
            "patch": operation("patch", &format!("patch{kind}"), &patch_params, &response, true),
            "delete": operation("delete", &format!("delete{kind}"), &[query_parameter("dryRun", "")], &response, false),
        }),
    );
    if resource.status_subresource {
        paths.insert(
            format!("{item}/status"),
            json!({
                "get": operation("get", &format!("read{kind}Status"), &[], &response, false),
                "put": operation("put", &format!("replace{kind}Status"), &write_params, &response, true),
                "patch": operation("patch", &format!("patch{kind}Status"), &patch_params, &response, true),
            }),
        );
    }
}

/// `/openapi/v2` as JSON: the same schemas as definitions.
pub fn v2(registry: &Registry) -> Value {
    let mut definitions = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let document = v3_document(registry, &group, &version);
            if let Some(schemas) = document["components"]["schemas"].as_object() {
                for (name, schema) in schemas {
                    let text = schema
                        .to_string()
                        .replace("#/components/schemas/", "#/definitions/");
                    if let Ok(value) = serde_json::from_str(&text) {
                        definitions.insert(name.clone(), value);
                    }
                }
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v{MAJOR}.{MINOR}.0")},
        "paths": {},
        "definitions": definitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::kube::registry::types_from_crd;

    fn registry() -> Registry {
        let mut registry = Registry::builtin();
        let custom = crate::api::crd::all()
            .iter()
            .flat_map(|crd| types_from_crd(&serde_json::to_value(crd).unwrap()))
            .collect();
        registry.set_custom(custom);
        registry
    }

    #[test]
    fn the_index_lists_every_group_version() {
        let index = v3_index(&registry());
        assert!(
            index["paths"]["apis/cygni.io/v1alpha1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/cygni.io/v1alpha1?hash=")
        );
        assert!(index["paths"].get("api/v1").is_some());
    }

    #[test]
    fn custom_kinds_carry_their_crd_schema_and_patch_parameters() {
        let doc = v3_for_path(&registry(), "apis/cygni.io/v1alpha1").unwrap();
        let app = &doc["components"]["schemas"]["io.cygni.v1alpha1.App"];
        assert!(app["properties"]["spec"]["properties"]["container"]["description"].is_string());
        assert_eq!(app["x-kubernetes-group-version-kind"][0]["kind"], "App");
        let patch =
            &doc["paths"]["/apis/cygni.io/v1alpha1/namespaces/{namespace}/apps/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "App");
    }
}
