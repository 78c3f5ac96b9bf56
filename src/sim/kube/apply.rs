//! Server-side apply and field ownership (`metadata.managedFields`), after structured-merge-diff:
//!
//! - an ordinary write (create, update, merge or JSON patch) gives its manager (operation
//!   `Update`) the fields it changed and takes them from everyone else, without conflicts;
//! - an apply (operation `Apply`) merges the applied configuration into the live object (structs
//!   field by field, `map` lists by key, `set` lists by value, other lists as a whole), refuses a
//!   field another manager owns with a different value unless forced (then ownership moves), and
//!   removes the fields this manager applied before and omits now when no one else owns them.
//!
//! Ownership is at leaf granularity. Each entry is keyed by manager, operation and subresource,
//! so an operator's status apply through `/status` and `kubectl`'s spec apply are separate owners.

use serde_json::{Map, Value, json};

use super::error::ApplyConflict;
use super::fields::{self, FieldSet, Scope, Step};
use super::registry::metadata_schema;

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    /// The field manager, e.g. `kubectl`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// The API version the manager wrote with.
    pub api_version: String,
    /// When the entry last changed (RFC 3339).
    pub time: String,
    /// `status` for writes through the status subresource, empty otherwise.
    pub subresource: String,
    /// The owned fields.
    pub fields: FieldSet,
}

impl ManagedEntry {
    fn is(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }

    /// The manager as conflict messages print it: `"kubectl"`, `"kube" using v1`,
    /// `"op" with subresource "status"`.
    fn printed(&self) -> String {
        let mut text = super::error::go_quote(&self.manager);
        if !self.subresource.is_empty() {
            text = format!(
                "{text} with subresource {}",
                super::error::go_quote(&self.subresource)
            );
        }
        if self.operation == "Update" {
            text = format!("{text} using {}", self.api_version);
        }
        text
    }
}

/// The entries recorded in an object's `metadata.managedFields`.
pub fn read_entries(object: &Value) -> Vec<ManagedEntry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(ManagedEntry {
                manager: e["manager"].as_str()?.to_string(),
                operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                time: e["time"].as_str().unwrap_or_default().to_string(),
                subresource: e["subresource"].as_str().unwrap_or_default().to_string(),
                fields: fields::from_fields_v1(&e["fieldsV1"]),
            })
        })
        .collect()
}

/// Writes `entries` into `metadata.managedFields` (removing it when empty).
pub fn write_entries(object: &mut Value, entries: &[ManagedEntry]) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        metadata.remove("managedFields");
        return;
    }
    let rendered: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut entry = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields::to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                entry["subresource"] = json!(e.subresource);
            }
            entry
        })
        .collect();
    metadata.insert("managedFields".into(), Value::Array(rendered));
}

/// Who writes, for ownership bookkeeping.
#[derive(Clone, Debug)]
pub struct Writer<'a> {
    /// Field manager name.
    pub manager: &'a str,
    /// `status` or empty.
    pub subresource: &'a str,
    /// API version of the request.
    pub api_version: &'a str,
    /// Current time (RFC 3339).
    pub now: &'a str,
    /// Which part of the object the request may change.
    pub scope: Scope,
}

/// Records an ordinary write: the writer takes the fields it changed from `old` to `new`; fields
/// that no longer exist are dropped from every entry.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    entries: &mut Vec<ManagedEntry>,
    writer: &Writer<'_>,
    schema: Option<&Value>,
) {
    let new_set = fields::leaves(new, schema, writer.scope);
    let changed: FieldSet = new_set
        .into_iter()
        .filter(|p| old.is_none_or(|o| fields::get(o, p, schema) != fields::get(new, p, schema)))
        .collect();
    let present = fields::leaves(new, schema, Scope::All);
    for entry in entries.iter_mut() {
        if !entry.is(writer.manager, "Update", writer.subresource) {
            entry.fields.retain(|p| !changed.contains(p));
        }
        entry.fields.retain(|p| present.contains(p));
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.is(writer.manager, "Update", writer.subresource))
        {
            Some(entry) => {
                entry.fields.extend(changed);
                entry.time = writer.now.to_string();
                entry.api_version = writer.api_version.to_string();
            }
            None => entries.push(ManagedEntry {
                manager: writer.manager.to_string(),
                operation: "Update".into(),
                api_version: writer.api_version.to_string(),
                time: writer.now.to_string(),
                subresource: writer.subresource.to_string(),
                fields: changed,
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
}

/// Applies `config` to `live` (None when the object does not exist yet). Returns the merged
/// object and the new entries, or the conflicts when another manager owns a field `config` sets
/// to a different value and `force` is false.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    entries: &[ManagedEntry],
    writer: &Writer<'_>,
    force: bool,
    schema: Option<&Value>,
) -> Result<(Value, Vec<ManagedEntry>), Vec<ApplyConflict>> {
    let config_set = fields::leaves(config, schema, writer.scope);
    let mut conflicts = Vec::new();
    let mut taken: Vec<(usize, fields::Path)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        if entry.is(writer.manager, "Apply", writer.subresource) {
            continue;
        }
        for path in entry.fields.intersection(&config_set) {
            // Map-list items and set members are owned for their existence; only leaf values
            // can disagree.
            if matches!(path.last(), Some(Step::Key(_) | Step::Value(_))) {
                continue;
            }
            let current = live.and_then(|l| fields::get(l, path, schema));
            if current != fields::get(config, path, schema) {
                conflicts.push(ApplyConflict {
                    manager: entry.printed(),
                    field: fields::display(path),
                });
                taken.push((index, path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }

    let mut merged = live.cloned().unwrap_or_else(|| {
        json!({
            "apiVersion": config["apiVersion"],
            "kind": config["kind"],
            "metadata": config["metadata"],
        })
    });
    merge_root(&mut merged, config, schema, writer.scope);

    let mut new_entries: Vec<ManagedEntry> = entries.to_vec();
    for (index, path) in &taken {
        new_entries[*index].fields.remove(path);
    }
    let previous = entries
        .iter()
        .find(|e| e.is(writer.manager, "Apply", writer.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let dropped: Vec<&fields::Path> = previous.difference(&config_set).collect();
    for path in dropped {
        let owned_elsewhere = new_entries
            .iter()
            .filter(|e| !e.is(writer.manager, "Apply", writer.subresource))
            .any(|e| e.fields.iter().any(|p| p.starts_with(path)));
        if !owned_elsewhere {
            fields::remove(&mut merged, path, schema);
        }
    }
    match new_entries
        .iter_mut()
        .find(|e| e.is(writer.manager, "Apply", writer.subresource))
    {
        Some(entry) => {
            entry.fields = config_set;
            entry.time = writer.now.to_string();
            entry.api_version = writer.api_version.to_string();
        }
        None => new_entries.push(ManagedEntry {
            manager: writer.manager.to_string(),
            operation: "Apply".into(),
            api_version: writer.api_version.to_string(),
            time: writer.now.to_string(),
            subresource: writer.subresource.to_string(),
            fields: config_set,
        }),
    }
    new_entries.retain(|e| !e.fields.is_empty());
    Ok((merged, new_entries))
}

/// Merges the top level of an applied configuration: `metadata` only for labels, annotations,
/// finalizers and owner references; other fields as the scope allows.
fn merge_root(live: &mut Value, config: &Value, schema: Option<&Value>, scope: Scope) {
    let Some(config_fields) = config.as_object() else {
        return;
    };
    if !live.is_object() {
        *live = Value::Object(Map::new());
    }
    for (name, value) in config_fields {
        match name.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                if scope == Scope::Status {
                    continue;
                }
                let meta_schema = metadata_schema();
                let live_meta = &mut live["metadata"];
                if !live_meta.is_object() {
                    *live_meta = Value::Object(Map::new());
                }
                for owned in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(v) = value.get(owned) {
                        let child = fields::child_schema(
                            Some(&meta_schema),
                            &Step::Field(owned.to_string()),
                        );
                        merge(&mut live_meta[owned], v, child);
                    }
                }
            }
            "status" if scope == Scope::MainWithoutStatus => {}
            other if scope == Scope::Status && other != "status" => {}
            _ => {
                let child = fields::child_schema(schema, &Step::Field(name.clone()));
                merge(&mut live[name.as_str()], value, child);
            }
        }
    }
}

/// Merges `config` into `live` following the schema's list and map types.
fn merge(live: &mut Value, config: &Value, schema: Option<&Value>) {
    let atomic_map = schema
        .is_some_and(|s| s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"));
    match (live.as_object_mut(), config.as_object()) {
        (Some(live_fields), Some(config_fields)) if !atomic_map => {
            for (name, value) in config_fields {
                let child = fields::child_schema(schema, &Step::Field(name.clone()));
                let slot = live_fields.entry(name.clone()).or_insert(Value::Null);
                merge(slot, value, child);
            }
            return;
        }
        _ => {}
    }
    let list_type = schema
        .and_then(|s| s.get("x-kubernetes-list-type"))
        .and_then(Value::as_str)
        .unwrap_or("atomic");
    match (live.as_array_mut(), config.as_array(), list_type) {
        (Some(live_items), Some(config_items), "map") => {
            let item_schema = schema.and_then(|s| s.get("items"));
            for item in config_items {
                let key = fields::item_key(schema, item);
                match live_items
                    .iter_mut()
                    .find(|l| key.is_some() && fields::item_key(schema, l) == key)
                {
                    Some(existing) => merge(existing, item, item_schema),
                    None => live_items.push(item.clone()),
                }
            }
        }
        (Some(live_items), Some(config_items), "set") => {
            for item in config_items {
                if !live_items.contains(item) {
                    live_items.push(item.clone());
                }
            }
        }
        _ => *live = config.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "image": {"type": "string"},
                "env": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "value": {"type": "string"}}},
                },
            }},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
        }})
    }

    fn writer(manager: &str, scope: Scope) -> Writer<'_> {
        Writer {
            manager,
            subresource: if scope == Scope::Status { "status" } else { "" },
            api_version: "x/v1",
            now: "2026-01-01T00:00:00Z",
            scope,
        }
    }

    fn config(spec: Value) -> Value {
        json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": spec})
    }

    #[test]
    fn apply_creates_and_records_ownership() {
        let s = schema();
        let (obj, entries) = apply(
            None,
            &config(json!({"replicas": 2})),
            &[],
            &writer("kubectl", Scope::MainWithoutStatus),
            false,
            Some(&s),
        )
        .unwrap();
        assert_eq!(obj["spec"]["replicas"], 2);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].operation, "Apply");
    }

    #[test]
    fn a_different_value_on_a_field_another_manager_owns_conflicts() {
        let s = schema();
        let w = writer("kubectl", Scope::MainWithoutStatus);
        let (obj, entries) = apply(
            None,
            &config(json!({"replicas": 2})),
            &[],
            &w,
            false,
            Some(&s),
        )
        .unwrap();
        let other = writer("ops", Scope::MainWithoutStatus);
        let conflicts = apply(
            Some(&obj),
            &config(json!({"replicas": 3})),
            &entries,
            &other,
            false,
            Some(&s),
        )
        .unwrap_err();
        assert_eq!(
            conflicts,
            vec![ApplyConflict {
                manager: "\"kubectl\"".into(),
                field: ".spec.replicas".into()
            }]
        );
        // The same value is shared ownership, not a conflict.
        let (_, shared) = apply(
            Some(&obj),
            &config(json!({"replicas": 2})),
            &entries,
            &other,
            false,
            Some(&s),
        )
        .unwrap();
        assert_eq!(shared.len(), 2);
        // Forcing moves the field.
        let (forced, moved) = apply(
            Some(&obj),
            &config(json!({"replicas": 3})),
            &entries,
            &other,
            true,
            Some(&s),
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].manager, "ops");
    }

    #[test]
    fn fields_omitted_from_a_later_apply_are_removed() {
        let s = schema();
        let w = writer("kubectl", Scope::MainWithoutStatus);
        let (obj, entries) = apply(
            None,
            &config(json!({"replicas": 2, "image": "a"})),
            &[],
            &w,
            false,
            Some(&s),
        )
        .unwrap();
        let (obj, _) = apply(
            Some(&obj),
            &config(json!({"image": "a"})),
            &entries,
            &w,
            false,
            Some(&s),
        )
        .unwrap();
        assert!(obj["spec"].get("replicas").is_none());
    }

    #[test]
    fn map_lists_merge_by_key() {
        let s = schema();
        let (obj, entries) = apply(
            None,
            &config(json!({"env": [{"name": "A", "value": "1"}]})),
            &[],
            &writer("one", Scope::MainWithoutStatus),
            false,
            Some(&s),
        )
        .unwrap();
        let (obj, _) = apply(
            Some(&obj),
            &config(json!({"env": [{"name": "B", "value": "2"}]})),
            &entries,
            &writer("two", Scope::MainWithoutStatus),
            false,
            Some(&s),
        )
        .unwrap();
        assert_eq!(
            obj["spec"]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
    }

    #[test]
    fn a_status_apply_leaves_spec_alone() {
        let s = schema();
        let (obj, entries) = apply(
            None,
            &config(json!({"replicas": 2})),
            &[],
            &writer("kubectl", Scope::MainWithoutStatus),
            false,
            Some(&s),
        )
        .unwrap();
        let status = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"replicas": 9}, "status": {"phase": "Ready"}});
        let (obj, entries) = apply(
            Some(&obj),
            &status,
            &entries,
            &writer("operator", Scope::Status),
            true,
            Some(&s),
        )
        .unwrap();
        assert_eq!(obj["spec"]["replicas"], 2);
        assert_eq!(obj["status"]["phase"], "Ready");
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn an_update_takes_the_fields_it_changed() {
        let s = schema();
        let (obj, mut entries) = apply(
            None,
            &config(json!({"replicas": 2, "image": "a"})),
            &[],
            &writer("kubectl", Scope::MainWithoutStatus),
            false,
            Some(&s),
        )
        .unwrap();
        let mut new = obj.clone();
        new["spec"]["replicas"] = json!(5);
        record_update(
            Some(&obj),
            &new,
            &mut entries,
            &writer("editor", Scope::MainWithoutStatus),
            Some(&s),
        );
        let editor = entries.iter().find(|e| e.manager == "editor").unwrap();
        assert_eq!(editor.fields.len(), 1);
        let kubectl = entries.iter().find(|e| e.manager == "kubectl").unwrap();
        assert_eq!(kubectl.fields.len(), 1);
        assert_eq!(editor.printed(), "\"editor\" using x/v1");
    }
}
