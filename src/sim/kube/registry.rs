//! The resource types the server serves: the built-in ones (namespaces, config maps, secrets,
//! events in two API groups, leases, RBAC roles and bindings, subject access reviews, custom
//! resource definitions) and one per served version of
//! every established CustomResourceDefinition. Discovery, OpenAPI, routing, printing and storage
//! all read this table.

use std::sync::Arc;

use serde_json::{Value, json};

/// A printer column: the server-side equivalent of a CRD's `additionalPrinterColumns` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Header, e.g. `Ready`.
    pub name: String,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: String,
    /// OpenAPI format, e.g. `name` for the name column.
    pub format: String,
    /// Help text.
    pub description: String,
    /// 0 for the default view, above 0 for `-o wide` only.
    pub priority: i64,
    /// Where the cell comes from.
    pub source: CellSource,
}

/// How a printer column finds its value in an object.
#[derive(Clone, Debug, PartialEq)]
pub enum CellSource {
    /// A Kubernetes JSONPath (`.status.conditions[?(@.type=="Ready")].status`).
    Path(String),
    /// A value the server computes for a built-in kind.
    Computed(Computed),
}

/// The computed cells of built-in kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Computed {
    /// Number of entries in `data` plus `binaryData`.
    DataCount,
    /// The age of the event's last occurrence.
    EventLastSeen,
    /// `kind/name` of the event's subject.
    EventObject,
    /// The creation timestamp as RFC 3339 text (the default table convertor's `Created At`).
    CreatedAt,
}

/// One served resource in one group version.
#[derive(Clone, Debug)]
pub struct ResourceType {
    /// API group, empty for core.
    pub group: String,
    /// Version served at this entry.
    pub version: String,
    /// Kind, e.g. `App`.
    pub kind: String,
    /// Plural (URL) name, e.g. `apps`.
    pub plural: String,
    /// Singular name, e.g. `app`.
    pub singular: String,
    /// Short names, e.g. `cxapp`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `cygni`.
    pub categories: Vec<String>,
    /// Namespaced or cluster scoped.
    pub namespaced: bool,
    /// Whether a `/status` subresource exists (writes to the main resource then ignore status).
    pub status_subresource: bool,
    /// Whether objects carry `metadata.generation` (custom resources and CRDs; built-in kinds
    /// without a spec do not).
    pub generation: bool,
    /// The `openAPIV3Schema` of a custom resource, used for validation, defaulting, pruning,
    /// server-side apply list semantics and OpenAPI.
    pub schema: Option<Value>,
    /// Printer columns after `Name`.
    pub columns: Vec<Column>,
    /// Field selectors the resource supports beyond `metadata.name` and `metadata.namespace`.
    pub field_selectors: Vec<String>,
    /// The storage bucket; two types share one when they are versions of the same data
    /// (core/v1 and events.k8s.io/v1 events).
    pub store: String,
    /// The CRD that defines the type, if any.
    pub crd: Option<String>,
}

impl ResourceType {
    /// `cygni.io/v1alpha1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `apps.cygni.io`, or `configmaps` for core.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The verbs discovery lists.
    pub fn verbs(&self) -> Vec<&'static str> {
        if super::rbac::is_access_review(self) {
            return vec!["create"];
        }
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// Whether this is a custom resource (validated against a CRD schema).
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }

    /// Whether the events conversion applies (events.k8s.io/v1 view of core/v1 events).
    pub fn is_events_v1(&self) -> bool {
        self.group == "events.k8s.io"
    }

    /// Whether `field` (e.g. `involvedObject.name`) can be used in a field selector.
    pub fn supports_field(&self, field: &str) -> bool {
        field == "metadata.name"
            || (self.namespaced && field == "metadata.namespace")
            || self.field_selectors.iter().any(|f| f == field)
    }
}

/// Every type served, built-ins first.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    types: Vec<Arc<ResourceType>>,
}

impl Registry {
    /// The built-in types only.
    pub fn builtin() -> Self {
        Self {
            types: builtin_types().into_iter().map(Arc::new).collect(),
        }
    }

    /// All types.
    pub fn all(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    /// The type served at `group`/`version` under `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The type of `kind` in `api_version` (`cygni.io/v1alpha1`).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    /// The types of one storage bucket (all versions of one resource).
    pub fn by_store(&self, store: &str) -> Vec<Arc<ResourceType>> {
        self.types
            .iter()
            .filter(|t| t.store == store)
            .cloned()
            .collect()
    }

    /// Replaces the types defined by CRDs with `custom` (one per served version).
    pub fn set_custom(&mut self, custom: Vec<ResourceType>) {
        self.types.retain(|t| t.crd.is_none());
        self.types.extend(custom.into_iter().map(Arc::new));
    }

    /// The groups served, in discovery order (core first as ``), each with its versions.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match groups.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => groups.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        groups
    }
}

/// The `Name` column every table starts with.
pub fn name_column() -> Column {
    Column {
        name: "Name".into(),
        kind: "string".into(),
        format: "name".into(),
        description:
            "Name must be unique within a namespace. Is required when creating resources, \
            although some resources may allow a client to request the generation of an appropriate \
            name automatically. Name is primarily intended for creation idempotence and \
            configuration definition. Cannot be updated. More info: \
            https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
                .into(),
        priority: 0,
        source: CellSource::Path(".metadata.name".into()),
    }
}

/// The `Age` column (`.metadata.creationTimestamp` as a date).
pub fn age_column() -> Column {
    path_column(
        "Age",
        "date",
        ".metadata.creationTimestamp",
        "CreationTimestamp is a timestamp representing the server time when this object was \
         created.",
    )
}

fn path_column(name: &str, kind: &str, path: &str, description: &str) -> Column {
    Column {
        name: name.into(),
        kind: kind.into(),
        format: String::new(),
        description: description.into(),
        priority: 0,
        source: CellSource::Path(path.into()),
    }
}

fn computed_column(name: &str, kind: &str, computed: Computed, description: &str) -> Column {
    Column {
        name: name.into(),
        kind: kind.into(),
        format: String::new(),
        description: description.into(),
        priority: 0,
        source: CellSource::Computed(computed),
    }
}

struct Builtin {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    namespaced: bool,
    status: bool,
    generation: bool,
    store: &'static str,
    fields: &'static [&'static str],
}

/// The event fields a field selector can use, in core/v1 and events.k8s.io/v1 spelling.
const CORE_EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const EVENTS_V1_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "deprecatedSource",
    "type",
];

fn builtin_types() -> Vec<ResourceType> {
    let list = [
        Builtin {
            group: "",
            kind: "Namespace",
            plural: "namespaces",
            short_names: &["ns"],
            categories: &[],
            namespaced: false,
            status: true,
            generation: false,
            store: "namespaces",
            fields: &["status.phase"],
        },
        Builtin {
            group: "",
            kind: "ConfigMap",
            plural: "configmaps",
            short_names: &["cm"],
            categories: &[],
            namespaced: true,
            status: false,
            generation: false,
            store: "configmaps",
            fields: &[],
        },
        Builtin {
            group: "",
            kind: "Secret",
            plural: "secrets",
            short_names: &[],
            categories: &[],
            namespaced: true,
            status: false,
            generation: false,
            store: "secrets",
            fields: &["type"],
        },
        Builtin {
            group: "",
            kind: "Event",
            plural: "events",
            short_names: &["ev"],
            categories: &[],
            namespaced: true,
            status: false,
            generation: false,
            store: "events",
            fields: CORE_EVENT_FIELDS,
        },
        Builtin {
            group: "events.k8s.io",
            kind: "Event",
            plural: "events",
            short_names: &["ev"],
            categories: &[],
            namespaced: true,
            status: false,
            generation: false,
            store: "events",
            fields: EVENTS_V1_FIELDS,
        },
        Builtin {
            group: "coordination.k8s.io",
            kind: "Lease",
            plural: "leases",
            short_names: &[],
            categories: &[],
            namespaced: true,
            status: false,
            generation: false,
            store: "coordination.k8s.io/leases",
            fields: &[],
        },
        Builtin {
            group: "rbac.authorization.k8s.io",
            kind: "Role",
            plural: "roles",
            short_names: &[],
            categories: &[],
            namespaced: true,
            status: false,
            generation: false,
            store: super::rbac::ROLES,
            fields: &[],
        },
        Builtin {
            group: "rbac.authorization.k8s.io",
            kind: "RoleBinding",
            plural: "rolebindings",
            short_names: &[],
            categories: &[],
            namespaced: true,
            status: false,
            generation: false,
            store: super::rbac::ROLE_BINDINGS,
            fields: &[],
        },
        Builtin {
            group: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            plural: "clusterroles",
            short_names: &[],
            categories: &[],
            namespaced: false,
            status: false,
            generation: false,
            store: super::rbac::CLUSTER_ROLES,
            fields: &[],
        },
        Builtin {
            group: "rbac.authorization.k8s.io",
            kind: "ClusterRoleBinding",
            plural: "clusterrolebindings",
            short_names: &[],
            categories: &[],
            namespaced: false,
            status: false,
            generation: false,
            store: super::rbac::CLUSTER_ROLE_BINDINGS,
            fields: &[],
        },
        Builtin {
            group: "authorization.k8s.io",
            kind: "SubjectAccessReview",
            plural: "subjectaccessreviews",
            short_names: &[],
            categories: &[],
            namespaced: false,
            status: true,
            generation: false,
            store: super::rbac::SUBJECT_ACCESS_REVIEWS,
            fields: &[],
        },
        Builtin {
            group: "apiextensions.k8s.io",
            kind: "CustomResourceDefinition",
            plural: "customresourcedefinitions",
            short_names: &["crd", "crds"],
            categories: &["api-extensions"],
            namespaced: false,
            status: true,
            generation: true,
            store: "apiextensions.k8s.io/customresourcedefinitions",
            fields: &[],
        },
    ];
    list.into_iter()
        .map(|b| ResourceType {
            group: b.group.into(),
            version: "v1".into(),
            kind: b.kind.into(),
            plural: b.plural.into(),
            singular: b.kind.to_lowercase(),
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            namespaced: b.namespaced,
            status_subresource: b.status,
            generation: b.generation,
            schema: None,
            columns: builtin_columns(b.group, b.kind),
            field_selectors: b.fields.iter().map(|s| s.to_string()).collect(),
            store: b.store.into(),
            crd: None,
        })
        .collect()
}

fn builtin_columns(group: &str, kind: &str) -> Vec<Column> {
    match (group, kind) {
        ("", "Namespace") => vec![
            path_column(
                "Status",
                "string",
                ".status.phase",
                "The status of the namespace",
            ),
            age_column(),
        ],
        ("", "ConfigMap") => vec![
            computed_column(
                "Data",
                "string",
                Computed::DataCount,
                "Number of data entries",
            ),
            age_column(),
        ],
        ("", "Secret") => vec![
            path_column("Type", "string", ".type", "The type of the secret"),
            computed_column(
                "Data",
                "string",
                Computed::DataCount,
                "Number of data entries",
            ),
            age_column(),
        ],
        ("", "Event") => vec![
            computed_column(
                "Last Seen",
                "string",
                Computed::EventLastSeen,
                "Time the event was last seen",
            ),
            path_column("Type", "string", ".type", "Type of the event"),
            path_column("Reason", "string", ".reason", "Reason of the event"),
            computed_column(
                "Object",
                "string",
                Computed::EventObject,
                "The object the event is about",
            ),
            path_column("Message", "string", ".message", "Message of the event"),
            Column {
                priority: 1,
                ..name_column()
            },
        ],
        ("events.k8s.io", "Event") => vec![
            path_column("Type", "string", ".type", "Type of the event"),
            path_column("Reason", "string", ".reason", "Reason of the event"),
            computed_column(
                "Object",
                "string",
                Computed::EventObject,
                "The object the event is about",
            ),
            path_column("Note", "string", ".note", "Note of the event"),
            age_column(),
        ],
        ("coordination.k8s.io", "Lease") => vec![
            path_column(
                "Holder",
                "string",
                ".spec.holderIdentity",
                "The holder of the lease",
            ),
            age_column(),
        ],
        ("apiextensions.k8s.io", _) | ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            vec![computed_column(
                "Created At",
                "date",
                Computed::CreatedAt,
                "CreationTimestamp is a timestamp representing the server time when this object \
             was created.",
            )]
        }
        _ => vec![age_column()],
    }
}

/// The resource types one CRD defines: one per served version. `None` when the CRD is
/// malformed beyond use (no group, names or versions).
pub fn types_from_crd(crd: &Value) -> Vec<ResourceType> {
    let Some(name) = crd.pointer("/metadata/name").and_then(Value::as_str) else {
        return Vec::new();
    };
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let names = &spec["names"];
    let kind = names["kind"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let singular = names["singular"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map_or_else(|| kind.to_lowercase(), str::to_string);
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut types = Vec::new();
    for version in spec["versions"].as_array().into_iter().flatten() {
        if version["served"].as_bool() != Some(true) {
            continue;
        }
        let Some(version_name) = version["name"].as_str() else {
            continue;
        };
        let mut columns: Vec<Column> = version["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some(Column {
                    name: c["name"].as_str()?.to_string(),
                    kind: c["type"].as_str().unwrap_or("string").to_string(),
                    format: c["format"].as_str().unwrap_or_default().to_string(),
                    description: c["description"].as_str().unwrap_or_default().to_string(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                    source: CellSource::Path(c["jsonPath"].as_str()?.to_string()),
                })
            })
            .collect();
        if columns.is_empty() {
            columns.push(age_column());
        }
        let selectable: Vec<String> = version["selectableFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["jsonPath"].as_str())
            .map(|p| p.trim_start_matches('.').to_string())
            .collect();
        types.push(ResourceType {
            group: group.to_string(),
            version: version_name.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            singular: singular.clone(),
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            namespaced,
            status_subresource: version.pointer("/subresources/status").is_some(),
            generation: true,
            schema: version.pointer("/schema/openAPIV3Schema").cloned(),
            columns,
            field_selectors: selectable,
            store: format!("{group}/{plural}"),
            crd: Some(name.to_string()),
        });
    }
    types
}

/// The version a CRD stores objects in (the one with `storage: true`).
pub fn storage_version(crd: &Value) -> Option<String> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .and_then(|v| v["name"].as_str())
        .map(str::to_string)
}

/// A schema for `metadata` that gives server-side apply the list semantics of ObjectMeta:
/// finalizers are a set, owner references a map keyed by uid, labels and annotations maps.
pub fn metadata_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "ownerReferences": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-map-type": "atomic"},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["uid"],
            },
        },
    })
}
