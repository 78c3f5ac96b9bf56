//! The write semantics of the API server, independent of HTTP: create, update, the four patch
//! types, delete with finalizers, and what every write goes through (the registry strategy of a
//! real server): metadata the server owns, the status subresource split, `metadata.generation`,
//! preconditions, custom resource pruning, defaulting and validation, field ownership, and the
//! deletion that follows the removal of the last finalizer.

use jiff::Timestamp;
use kube::core::cel::apply_defaults;
use serde_json::{Map, Value, json};

use super::apply::{self, ManagedEntry, Writer};
use super::error::{ApiError, Target};
use super::events;
use super::fields::Scope;
use super::registry::{ResourceType, storage_version, types_from_crd};
use super::store::{ObjectKey, Store};
use super::validation::{self, FieldError, FieldErrorKind};

/// The bucket CRDs are stored in.
pub const CRD_STORE: &str = "apiextensions.k8s.io/customresourcedefinitions";
/// The bucket namespaces are stored in.
pub const NAMESPACE_STORE: &str = "namespaces";
/// Finalizer of a CRD whose instances are being removed.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
/// Finalizer the garbage collector uses for `propagationPolicy: Orphan`.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Finalizer the garbage collector uses for `propagationPolicy: Foreground`.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Which endpoint a write came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    /// The object itself.
    Main,
    /// `/status`.
    Status,
}

/// `fieldValidation`: what to do with fields the schema does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them with a warning header (the server's default).
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter.
    pub fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation parameter unsupported: {other}"
            ))),
        }
    }
}

/// The options of one write request.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: do everything but store.
    pub dry_run: bool,
    /// The field manager (from `fieldManager`, else derived from the user agent).
    pub field_manager: String,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` (apply only).
    pub force: bool,
}

/// What a write produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The object as the response shows it (in the request's version).
    pub object: Value,
    /// Whether the object was created (201 rather than 200).
    pub created: bool,
    /// `Warning` header texts.
    pub warnings: Vec<String>,
}

/// The patch formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// From the request's Content-Type.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(Self::Apply),
            _ => Err(unsupported_patch(true)),
        }
    }
}

fn unsupported_patch(strategic: bool) -> ApiError {
    let types = if strategic {
        "application/json-patch+json, application/merge-patch+json, \
         application/strategic-merge-patch+json, application/apply-patch+yaml"
    } else {
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    };
    ApiError::UnsupportedMediaType(format!(
        "the body of the request was in an unknown format - accepted media types include: {types}"
    ))
}

/// `propagationPolicy` of a delete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted by the garbage collector after the owner is gone (the default).
    #[default]
    Background,
    /// The owner waits (finalizer `foregroundDeletion`) until its dependents are gone.
    Foreground,
    /// Dependents lose their owner reference and stay (finalizer `orphan`).
    Orphan,
}

/// The options of a delete (query parameters and `DeleteOptions` body merged).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `propagationPolicy`.
    pub propagation: Propagation,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// What a delete produced.
#[derive(Clone, Debug)]
pub struct Deleted {
    /// The object (marked for deletion, or as it was when removed).
    pub object: Value,
    /// Whether it is gone already (the response is then a success Status).
    pub gone: bool,
}

/// The current time as `metav1.Time` renders it.
pub fn now() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn key(resource: &ResourceType, namespace: Option<&str>, name: &str) -> ObjectKey {
    let ns = if resource.namespaced {
        namespace.unwrap_or_default()
    } else {
        ""
    };
    (ns.to_string(), name.to_string())
}

fn target(resource: &ResourceType, name: &str) -> Target {
    Target::new(&resource.group, &resource.plural, name)
}

/// The stored object as `resource` (a version of its bucket) shows it.
pub fn view(resource: &ResourceType, stored: &Value) -> Value {
    let mut object = if resource.is_events_v1() {
        events::to_events_v1(stored)
    } else {
        stored.clone()
    };
    if let Some(fields) = object.as_object_mut() {
        fields.insert("apiVersion".into(), Value::String(resource.api_version()));
        fields.insert("kind".into(), Value::String(resource.kind.clone()));
    }
    object
}

/// The object in the form it is stored in.
fn storage(resource: &ResourceType, object: Value) -> Value {
    if resource.is_events_v1() {
        events::to_core(&object)
    } else {
        object
    }
}

fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get("metadata")?.get(field)?.as_str()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn finalizers(object: &Value) -> Vec<String> {
    strings(object.pointer("/metadata/finalizers"))
}

/// The object's `metadata` map, created if missing. Callers pass objects (request bodies are
/// checked to be JSON objects first); anything else is replaced by an empty object.
fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = json!({});
    }
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    match object.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

/// Checks that the namespace of a namespaced write exists and is not terminating.
fn check_namespace(
    store: &Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), ApiError> {
    if !resource.namespaced {
        return Ok(());
    }
    let ns = namespace.unwrap_or_default();
    match store.get(NAMESPACE_STORE, &(String::new(), ns.to_string())) {
        None => Err(ApiError::NotFound(Target::new("", "namespaces", ns))),
        Some(found) if found.pointer("/metadata/deletionTimestamp").is_some() => {
            Err(ApiError::Forbidden {
                target: target(resource, name),
                message: format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            })
        }
        Some(_) => Ok(()),
    }
}

/// Creates an object (POST).
pub fn create(
    store: &mut Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    mut body: Value,
    options: &WriteOptions,
) -> Result<Outcome, ApiError> {
    check_kind(resource, &body)?;
    if let (Some(url_ns), Some(body_ns)) = (namespace, meta_str(&body, "namespace"))
        && resource.namespaced
        && url_ns != body_ns
    {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    let name = match meta_str(&body, "name").filter(|n| !n.is_empty()) {
        Some(name) => name.to_string(),
        None => match meta_str(&body, "generateName").filter(|n| !n.is_empty()) {
            Some(prefix) => generated_name(prefix),
            None => String::new(),
        },
    };
    metadata_mut(&mut body).insert("name".into(), Value::String(name.clone()));
    check_namespace(store, resource, namespace, &name)?;
    let object_key = key(resource, namespace, &name);
    if !name.is_empty() && store.get(&resource.store, &object_key).is_some() {
        return Err(ApiError::AlreadyExists(target(resource, &name)));
    }
    write(
        store,
        resource,
        namespace,
        None,
        body,
        Subresource::Main,
        options,
        None,
    )
}

/// Replaces an object (PUT), on the main resource or `/status`.
pub fn update(
    store: &mut Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    body: Value,
    subresource: Subresource,
    options: &WriteOptions,
) -> Result<Outcome, ApiError> {
    check_kind(resource, &body)?;
    if let Some(body_name) = meta_str(&body, "name")
        && body_name != name
    {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let old = current(store, resource, namespace, name)?;
    let requested = meta_str(&body, "resourceVersion").unwrap_or_default();
    if requested.is_empty() && resource.is_custom() {
        return Err(ApiError::Invalid {
            kind: resource.kind.clone(),
            group: resource.group.clone(),
            name: name.to_string(),
            errors: vec![FieldError {
                field: "metadata.resourceVersion".into(),
                kind: FieldErrorKind::Invalid,
                message: "Invalid value: 0x0: must be specified for an update".into(),
            }],
        });
    }
    check_resource_version(resource, name, &old, requested)?;
    write(
        store,
        resource,
        namespace,
        Some(old),
        body,
        subresource,
        options,
        None,
    )
}

/// Patches an object (PATCH) on the main resource or `/status`; an apply patch creates the
/// object when it does not exist.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    store: &mut Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    patch_type: PatchType,
    body: &[u8],
    subresource: Subresource,
    options: &WriteOptions,
) -> Result<Outcome, ApiError> {
    if patch_type == PatchType::Apply {
        return apply_patch(store, resource, namespace, name, body, subresource, options);
    }
    let old = current(store, resource, namespace, name)?;
    let mut patched = old.clone();
    match patch_type {
        PatchType::Merge => json_patch::merge(&mut patched, &parse_json(body)?),
        PatchType::Strategic => {
            if resource.is_custom() {
                return Err(unsupported_patch(false));
            }
            // Built-in kinds: a strategic merge patch is applied as a JSON merge patch, with its
            // `$patch`/`$setElementOrder`/`$retainKeys` directives dropped.
            let mut body = parse_json(body)?;
            strip_directives(&mut body);
            json_patch::merge(&mut patched, &body);
        }
        PatchType::Json => {
            let operations: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?;
            // The API server's JSON patch (evanphx/json-patch) passes a `test` of a missing path
            // against `null`; kube-runtime's finalizer helper relies on it when adding the first
            // finalizer. Those tests are dropped; every other operation applies as written.
            let operations = json_patch::Patch(
                operations
                    .0
                    .into_iter()
                    .filter(|op| match op {
                        json_patch::PatchOperation::Test(test) => {
                            !(test.value.is_null() && patched.pointer(test.path.as_str()).is_none())
                        }
                        _ => true,
                    })
                    .collect(),
            );
            json_patch::patch(&mut patched, &operations).map_err(|e| ApiError::Invalid {
                kind: resource.kind.clone(),
                group: resource.group.clone(),
                name: name.to_string(),
                errors: vec![FieldError {
                    field: "<nil>".into(),
                    kind: FieldErrorKind::Invalid,
                    message: format!("Invalid value: \"\": {e}"),
                }],
            })?;
        }
        PatchType::Apply => unreachable!("handled above"),
    }
    if patched.get("metadata").is_some_and(|m| !m.is_object()) || !patched.is_object() {
        return Err(ApiError::BadRequest(
            "the patch produced an object that is not a map".into(),
        ));
    }
    let requested = meta_str(&patched, "resourceVersion")
        .unwrap_or_default()
        .to_string();
    if requested != meta_str(&old, "resourceVersion").unwrap_or_default() {
        check_resource_version(resource, name, &old, &requested)?;
    }
    if meta_str(&patched, "name").is_some_and(|n| n != name) {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(&patched, "name").unwrap_or_default()
        )));
    }
    write(
        store,
        resource,
        namespace,
        Some(old),
        patched,
        subresource,
        options,
        None,
    )
}

fn apply_patch(
    store: &mut Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    body: &[u8],
    subresource: Subresource,
    options: &WriteOptions,
) -> Result<Outcome, ApiError> {
    if options.field_manager.is_empty() {
        return Err(ApiError::Invalid {
            kind: "PatchOptions".into(),
            group: "meta.k8s.io".into(),
            name: String::new(),
            errors: vec![FieldError {
                field: "fieldManager".into(),
                kind: FieldErrorKind::Required,
                message: "Required value: is required for apply patch".into(),
            }],
        });
    }
    let config: Value = serde_yaml_ng::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(ApiError::BadRequest(
            "error decoding YAML: the apply configuration is not an object".into(),
        ));
    }
    for field in ["apiVersion", "kind"] {
        if config
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::BadRequest(format!(
                "{field} must be set in an apply configuration"
            )));
        }
    }
    check_kind(resource, &config)?;
    if meta_str(&config, "name").is_some_and(|n| n != name) {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(&config, "name").unwrap_or_default()
        )));
    }
    let object_key = key(resource, namespace, name);
    let old = store
        .get(&resource.store, &object_key)
        .map(|stored| view(resource, stored));
    if let Some(old) = &old {
        let requested = meta_str(&config, "resourceVersion").unwrap_or_default();
        check_resource_version(resource, name, old, requested)?;
    } else {
        check_namespace(store, resource, namespace, name)?;
    }
    let entries = old.as_ref().map(apply::read_entries).unwrap_or_default();
    let time = now();
    let api_version = resource.api_version();
    let scope = scope_of(resource, subresource);
    let writer = Writer {
        manager: &options.field_manager,
        subresource: subresource_name(subresource),
        api_version: &api_version,
        now: &time,
        scope,
    };
    let (mut merged, entries) = apply::apply(
        old.as_ref(),
        &config,
        &entries,
        &writer,
        options.force,
        resource.schema.as_ref(),
    )
    .map_err(|conflicts| ApiError::ApplyConflicts {
        target: target(resource, name),
        conflicts,
    })?;
    let meta = metadata_mut(&mut merged);
    meta.insert("name".into(), Value::String(name.to_string()));
    if resource.namespaced {
        meta.insert(
            "namespace".into(),
            Value::String(namespace.unwrap_or_default().to_string()),
        );
    }
    write(
        store,
        resource,
        namespace,
        old,
        merged,
        subresource,
        options,
        Some(entries),
    )
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|k, _| !k.starts_with('$'));
            fields.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// The object (as `resource` shows it) or 404.
fn current(
    store: &Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Result<Value, ApiError> {
    store
        .get(&resource.store, &key(resource, namespace, name))
        .map(|stored| view(resource, stored))
        .ok_or_else(|| ApiError::NotFound(target(resource, name)))
}

fn check_kind(resource: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::BadRequest(
            "the request body is not a JSON object".into(),
        ));
    }
    if let Some(api_version) = body.get("apiVersion").and_then(Value::as_str)
        && !api_version.is_empty()
        && api_version != resource.api_version()
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            resource.api_version()
        )));
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != resource.kind
    {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            resource.kind
        )));
    }
    Ok(())
}

fn check_resource_version(
    resource: &ResourceType,
    name: &str,
    old: &Value,
    requested: &str,
) -> Result<(), ApiError> {
    if requested.is_empty() || Some(requested) == meta_str(old, "resourceVersion") {
        return Ok(());
    }
    if requested.parse::<u64>().is_err() {
        return Err(ApiError::BadRequest(format!(
            "resourceVersion: Invalid value: \"{requested}\": must be a number"
        )));
    }
    Err(ApiError::Conflict {
        target: target(resource, name),
        message: "the object has been modified; please apply your changes to the latest version \
                  and try again"
            .into(),
    })
}

fn scope_of(resource: &ResourceType, subresource: Subresource) -> Scope {
    match (subresource, resource.status_subresource) {
        (Subresource::Status, _) => Scope::Status,
        (Subresource::Main, true) => Scope::MainWithoutStatus,
        (Subresource::Main, false) => Scope::All,
    }
}

fn subresource_name(subresource: Subresource) -> &'static str {
    match subresource {
        Subresource::Main => "",
        Subresource::Status => "status",
    }
}

/// The common path of every write. `old` is the current object (None for a create), `new` the
/// requested one, both as `resource` shows them. `applied` carries the managed fields an apply
/// computed; other writes derive them from the change.
#[allow(clippy::too_many_arguments)]
fn write(
    store: &mut Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    old: Option<Value>,
    mut new: Value,
    subresource: Subresource,
    options: &WriteOptions,
    applied: Option<Vec<ManagedEntry>>,
) -> Result<Outcome, ApiError> {
    let time = now();
    let name = meta_str(&new, "name").unwrap_or_default().to_string();
    let mut warnings = Vec::new();
    let incoming_managed = new.pointer("/metadata/managedFields").cloned();
    if let Some(fields) = new.as_object_mut() {
        fields.insert("apiVersion".into(), Value::String(resource.api_version()));
        fields.insert("kind".into(), Value::String(resource.kind.clone()));
    }

    match &old {
        Some(old) => {
            if subresource == Subresource::Status {
                // The status strategy: everything but status comes from the stored object.
                let status = new.get("status").cloned();
                let mut reset = old.clone();
                match status {
                    Some(status) => reset["status"] = status,
                    None => {
                        if let Some(fields) = reset.as_object_mut() {
                            fields.remove("status");
                        }
                    }
                }
                if let Some(managed) = &incoming_managed {
                    metadata_mut(&mut reset).insert("managedFields".into(), managed.clone());
                }
                new = reset;
            } else if resource.status_subresource {
                match old.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(fields) = new.as_object_mut() {
                            fields.remove("status");
                        }
                    }
                }
            }
            let old_meta = old.get("metadata").cloned().unwrap_or_default();
            let meta = metadata_mut(&mut new);
            for owned in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
                "resourceVersion",
            ] {
                match old_meta.get(owned) {
                    Some(value) => meta.insert(owned.into(), value.clone()),
                    None => meta.remove(owned),
                };
            }
            if old_meta.get("deletionTimestamp").is_some() {
                let before = finalizers(old);
                let added: Vec<String> = finalizers(&new)
                    .into_iter()
                    .filter(|f| !before.contains(f))
                    .collect();
                if !added.is_empty() {
                    let list: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
                    return Err(ApiError::Invalid {
                        kind: resource.kind.clone(),
                        group: resource.group.clone(),
                        name,
                        errors: vec![FieldError {
                            field: "metadata.finalizers".into(),
                            kind: FieldErrorKind::Forbidden,
                            message: format!(
                                "Forbidden: no new finalizers can be added if the object is being \
                                 deleted, found new finalizers []string{{{}}}",
                                list.join(", ")
                            ),
                        }],
                    });
                }
            }
        }
        None => {
            let meta = metadata_mut(&mut new);
            for server_owned in [
                "uid",
                "resourceVersion",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                meta.remove(server_owned);
            }
            meta.insert("creationTimestamp".into(), Value::String(time.clone()));
            meta.insert("uid".into(), Value::String(new_uid()));
            if resource.namespaced {
                meta.insert(
                    "namespace".into(),
                    Value::String(namespace.unwrap_or_default().to_string()),
                );
            } else {
                meta.remove("namespace");
            }
            if resource.generation {
                meta.insert("generation".into(), json!(1));
            }
            if resource.status_subresource
                && resource.is_custom()
                && let Some(fields) = new.as_object_mut()
            {
                fields.remove("status");
            }
        }
    }

    builtin_strategy(resource, old.as_ref(), &mut new);
    super::rbac::apply_defaults(resource, &mut new);

    let mut errors = metadata_errors(resource, &new);
    errors.extend(super::rbac::validate(resource, &new, old.as_ref()));
    if let Some(schema) = &resource.schema {
        let unknown = validation::unknown_fields(schema, &new);
        if !unknown.is_empty() {
            let listed: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field {}", super::error::go_quote(f)))
                .collect();
            match options.field_validation {
                FieldValidation::Strict => {
                    return Err(ApiError::BadRequest(format!(
                        "{kind} in version {version:?} cannot be handled as a {kind}: strict \
                         decoding error: {}",
                        listed.join(", "),
                        kind = resource.kind,
                        version = resource.version,
                    )));
                }
                FieldValidation::Warn => warnings.extend(listed),
                FieldValidation::Ignore => {}
            }
        }
        prune(schema, &mut new, true);
        new = apply_defaults(schema, &new);
        errors.extend(validation::validate(schema, &new, old.as_ref()));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid {
            kind: resource.kind.clone(),
            group: resource.group.clone(),
            name,
            errors,
        });
    }

    if let Some(old) = &old
        && resource.generation
        && spec_changed(resource, old, &new)
    {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata_mut(&mut new).insert("generation".into(), json!(generation + 1));
    }

    // Field ownership.
    let api_version = resource.api_version();
    let writer = Writer {
        manager: &options.field_manager,
        subresource: subresource_name(subresource),
        api_version: &api_version,
        now: &time,
        scope: scope_of(resource, subresource),
    };
    let entries = match applied {
        Some(entries) => Some(entries),
        None => {
            let client_reset = incoming_managed.as_ref().is_some_and(|incoming| {
                old.as_ref()
                    .and_then(|o| o.pointer("/metadata/managedFields"))
                    != Some(incoming)
            });
            if client_reset {
                None
            } else {
                let mut entries = old.as_ref().map(apply::read_entries).unwrap_or_default();
                apply::record_update(
                    old.as_ref(),
                    &new,
                    &mut entries,
                    &writer,
                    resource.schema.as_ref(),
                );
                Some(entries)
            }
        }
    };
    if let Some(entries) = entries {
        apply::write_entries(&mut new, &entries);
    }
    if let Some(old) = &old
        && same_object(old, &new)
    {
        // A write that changes nothing is not stored: no new resourceVersion, no event.
        return Ok(Outcome {
            object: old.clone(),
            created: false,
            warnings,
        });
    }

    if resource.store == CRD_STORE {
        crd_strategy(old.as_ref(), &mut new, &time);
    }

    if options.dry_run {
        return Ok(Outcome {
            object: new,
            created: old.is_none(),
            warnings,
        });
    }
    let object_key = key(resource, namespace, &name);
    let stored = store.put(&resource.store, object_key.clone(), storage(resource, new));
    let finished = stored.pointer("/metadata/deletionTimestamp").is_some()
        && finalizers(&stored).is_empty()
        && resource.store != NAMESPACE_STORE;
    if finished {
        store.remove(&resource.store, &object_key);
    }
    if resource.store == CRD_STORE {
        refresh_custom_types(store);
    }
    Ok(Outcome {
        object: view(resource, &stored),
        created: old.is_none(),
        warnings,
    })
}

/// Server-filled fields of built-in kinds.
fn builtin_strategy(resource: &ResourceType, old: Option<&Value>, new: &mut Value) {
    if resource.store == "secrets" {
        secret_strategy(new);
    }
    if resource.store == NAMESPACE_STORE {
        let name = meta_str(new, "name").unwrap_or_default().to_string();
        let meta = metadata_mut(new);
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("kubernetes.io/metadata.name".into(), Value::String(name));
        }
        if old.is_none() {
            new["spec"] = json!({"finalizers": ["kubernetes"]});
            new["status"] = json!({"phase": "Active"});
        }
    }
}

/// A Secret as the API server keeps it: `stringData` written into `data` (base64, a key in both
/// takes the `stringData` value) and dropped, and `type` defaulted to `Opaque`.
fn secret_strategy(secret: &mut Value) {
    if let Some(Value::Object(plain)) = secret.as_object_mut().and_then(|o| o.remove("stringData"))
    {
        let data = secret
            .as_object_mut()
            .map(|o| o.entry("data").or_insert_with(|| json!({})));
        if let Some(Value::Object(data)) = data {
            for (key, value) in plain {
                let bytes = value.as_str().unwrap_or_default().as_bytes().to_vec();
                let encoded =
                    serde_json::to_value(k8s_openapi::ByteString(bytes)).unwrap_or(Value::Null);
                data.insert(key, encoded);
            }
        }
    }
    if secret.get("type").is_none_or(Value::is_null) {
        secret["type"] = json!("Opaque");
    }
}

/// The CRD "controllers": defaulted names, `acceptedNames`, `storedVersions` and the
/// `NamesAccepted` and `Established` conditions, set at once.
fn crd_strategy(old: Option<&Value>, new: &mut Value, time: &str) {
    let kind = new
        .pointer("/spec/names/kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(names) = new
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
    {
        names
            .entry("singular")
            .or_insert_with(|| Value::String(kind.to_lowercase()));
        names
            .entry("listKind")
            .or_insert_with(|| Value::String(format!("{kind}List")));
    }
    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
    }
    let accepted = new.pointer("/spec/names").cloned().unwrap_or_default();
    let mut stored_versions: Vec<String> = old
        .map(|o| strings(o.pointer("/status/storedVersions")))
        .unwrap_or_default();
    if let Some(version) = storage_version(new)
        && !stored_versions.contains(&version)
    {
        stored_versions.push(version);
    }
    let conditions = old
        .and_then(|o| o.pointer("/status/conditions"))
        .cloned()
        .unwrap_or_else(|| {
            json!([
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": time,
                 "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": time,
                 "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
            ])
        });
    new["status"] = json!({
        "acceptedNames": accepted,
        "conditions": conditions,
        "storedVersions": stored_versions,
    });
}

/// Rebuilds the custom types from the stored CRDs.
pub fn refresh_custom_types(store: &mut Store) {
    let custom: Vec<_> = store
        .list(CRD_STORE, None)
        .into_iter()
        .flat_map(types_from_crd)
        .collect();
    store.registry.set_custom(custom);
}

fn same_object(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
                for entry in entries {
                    if let Some(entry) = entry.as_object_mut() {
                        entry.remove("time");
                    }
                }
            }
        }
        v
    };
    strip(old) == strip(new)
}

/// Whether anything but metadata (and status, when it is a subresource) changed.
fn spec_changed(resource: &ResourceType, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(fields) = v.as_object_mut() {
            fields.remove("metadata");
            if resource.status_subresource {
                fields.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

/// Drops what a structural schema does not declare (keeping `apiVersion`, `kind` and `metadata`
/// at the root and in embedded resources, and everything under
/// `x-kubernetes-preserve-unknown-fields`), and `null` where the schema does not allow it.
pub fn prune(schema: &Value, value: &mut Value, root: bool) {
    match value {
        Value::Object(fields) => {
            let preserve = schema
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true);
            let embedded = schema
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true);
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            fields.retain(|name, child| {
                if (root || embedded) && matches!(name.as_str(), "apiVersion" | "kind" | "metadata")
                {
                    return true;
                }
                if let Some(child_schema) = properties.and_then(|p| p.get(name)) {
                    if child.is_null()
                        && child_schema.get("nullable").and_then(Value::as_bool) != Some(true)
                    {
                        return false;
                    }
                    prune(child_schema, child, false);
                    true
                } else if let Some(child_schema) = additional {
                    prune(child_schema, child, false);
                    true
                } else {
                    preserve
                }
            });
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    prune(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
    alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character \
    (e.g. 'example.com', regex used for validation is \
    '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case \
    alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. \
    'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// A DNS-1123 subdomain as the API server checks it: at most 253 characters matching the
/// subdomain pattern; the parts between dots have no length limit of their own (unlike DNS).
fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// ObjectMeta validation of the name (and of a CRD's name).
fn metadata_errors(resource: &ResourceType, object: &Value) -> Vec<FieldError> {
    let name = meta_str(object, "name").unwrap_or_default();
    let invalid = |message: String| FieldError {
        field: "metadata.name".into(),
        kind: FieldErrorKind::Invalid,
        message,
    };
    if name.is_empty() {
        return vec![FieldError {
            field: "metadata.name".into(),
            kind: FieldErrorKind::Required,
            message: "Required value: name or generateName is required".into(),
        }];
    }
    let mut errors = Vec::new();
    let quoted = super::error::go_quote(name);
    if resource.store == NAMESPACE_STORE {
        if name.len() > 63 {
            errors.push(invalid(format!(
                "Invalid value: {quoted}: must be no more than 63 characters"
            )));
        } else if !is_dns_label(name) {
            errors.push(invalid(format!(
                "Invalid value: {quoted}: {DNS1123_LABEL_MESSAGE}"
            )));
        }
    } else if name.len() > 253 {
        errors.push(invalid(format!(
            "Invalid value: {quoted}: must be no more than 253 characters"
        )));
    } else if !is_dns_subdomain(name) {
        errors.push(invalid(format!(
            "Invalid value: {quoted}: {DNS1123_SUBDOMAIN_MESSAGE}"
        )));
    }
    if resource.store == CRD_STORE {
        let plural = object
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let group = object
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name != format!("{plural}.{group}") {
            errors.push(invalid(format!(
                "Invalid value: {quoted}: must be spec.names.plural+\".\"+spec.group"
            )));
        }
    }
    errors
}

fn generated_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random::<u32>() as usize % ALPHABET.len()] as char)
        .collect();
    let prefix: String = prefix.chars().take(58).collect();
    format!("{prefix}{suffix}")
}

fn new_uid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Deletes an object (DELETE). With finalizers (its own, or the one the propagation policy
/// adds) the object is only marked: `deletionTimestamp` set, generation bumped.
pub fn delete(
    store: &mut Store,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    options: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let object_key = key(resource, namespace, name);
    let Some(stored) = store.get(&resource.store, &object_key).cloned() else {
        return Err(ApiError::NotFound(target(resource, name)));
    };
    if let Some(uid) = &options.uid
        && Some(uid.as_str()) != meta_str(&stored, "uid")
    {
        return Err(ApiError::Conflict {
            target: target(resource, name),
            message: format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(&stored, "uid").unwrap_or_default()
            ),
        });
    }
    if let Some(rv) = &options.resource_version
        && Some(rv.as_str()) != meta_str(&stored, "resourceVersion")
    {
        return Err(ApiError::Conflict {
            target: target(resource, name),
            message: format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in \
                 object meta: {}",
                meta_str(&stored, "resourceVersion").unwrap_or_default()
            ),
        });
    }
    let mut object = stored.clone();
    let mut finalizer_list = finalizers(&object);
    let add = match options.propagation {
        Propagation::Background => None,
        Propagation::Foreground => Some(FOREGROUND_FINALIZER),
        Propagation::Orphan => Some(ORPHAN_FINALIZER),
    };
    let already_deleting = object.pointer("/metadata/deletionTimestamp").is_some();
    if let Some(f) = add
        && !finalizer_list.iter().any(|x| x == f)
    {
        finalizer_list.push(f.to_string());
    }
    if resource.store == CRD_STORE && !finalizer_list.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
        finalizer_list.push(CRD_CLEANUP_FINALIZER.to_string());
    }
    let namespace_delete = resource.store == NAMESPACE_STORE;
    if finalizer_list.is_empty() && !namespace_delete {
        if options.dry_run {
            return Ok(Deleted {
                object: view(resource, &stored),
                gone: true,
            });
        }
        let removed = store.remove(&resource.store, &object_key).unwrap_or(stored);
        return Ok(Deleted {
            object: view(resource, &removed),
            gone: true,
        });
    }
    if already_deleting && finalizer_list == finalizers(&stored) {
        return Ok(Deleted {
            object: view(resource, &stored),
            gone: false,
        });
    }
    let meta = metadata_mut(&mut object);
    if !finalizer_list.is_empty() {
        meta.insert("finalizers".into(), json!(finalizer_list));
    }
    if !already_deleting {
        meta.insert("deletionTimestamp".into(), Value::String(now()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
        if resource.generation {
            let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
            meta.insert("generation".into(), json!(generation + 1));
        }
    }
    if namespace_delete && let Some(fields) = object.as_object_mut() {
        fields.insert("status".into(), json!({"phase": "Terminating"}));
    }
    if options.dry_run {
        return Ok(Deleted {
            object: view(resource, &object),
            gone: false,
        });
    }
    let stored = store.put(&resource.store, object_key, object);
    Ok(Deleted {
        object: view(resource, &stored),
        gone: false,
    })
}

/// Writes an object on behalf of a server controller (garbage collector, namespace and CRD
/// cleanup): stored as is, removed when it is being deleted and has no finalizers left.
pub fn system_write(store: &mut Store, bucket: &str, key: ObjectKey, object: Value) {
    let stored = store.put(bucket, key.clone(), object);
    if stored.pointer("/metadata/deletionTimestamp").is_some()
        && finalizers(&stored).is_empty()
        && bucket != NAMESPACE_STORE
    {
        store.remove(bucket, &key);
    }
}

/// Removes `finalizer` from an object being deleted, deleting it when none remain.
pub fn remove_finalizer(store: &mut Store, bucket: &str, key: &ObjectKey, finalizer: &str) {
    let Some(mut object) = store.get(bucket, key).cloned() else {
        return;
    };
    let remaining: Vec<String> = finalizers(&object)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    let meta = metadata_mut(&mut object);
    if remaining.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(remaining));
    }
    system_write(store, bucket, key.clone(), object);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_what_the_schema_declares() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let mut object = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"a": "1", "b": 2, "free": {"anything": true}, "n": null}, "extra": 1});
        prune(&schema, &mut object, true);
        assert_eq!(
            object,
            json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
                "spec": {"a": "1", "free": {"anything": true}}})
        );
    }

    #[test]
    fn names_must_be_dns_subdomains() {
        assert!(is_dns_subdomain("web.example-1"));
        assert!(!is_dns_subdomain("Web"));
        assert!(!is_dns_subdomain("web_1"));
        assert!(!is_dns_subdomain("-web"));
        assert!(!is_dns_subdomain("web..x"));
        assert!(
            is_dns_subdomain(&format!("{}.b", "a".repeat(100))),
            "a part longer than 63 characters is fine in a name"
        );
        assert!(!is_dns_subdomain(&"a".repeat(254)));
        assert!(is_dns_label("kube-system"));
        assert!(!is_dns_label("a.b"));
    }

    #[test]
    fn generated_names_keep_the_prefix() {
        let name = generated_name("web-");
        assert!(name.starts_with("web-"));
        assert_eq!(name.len(), 9);
    }
}
