//! Field paths and field sets, the vocabulary of `metadata.managedFields`: which leaves of an
//! object a manager owns, encoded as `fieldsV1` (`{"f:spec":{"f:replicas":{}}}`) and printed as
//! structured-merge-diff prints them (`.spec.env[name="A"].value`). The schema decides how lists
//! are addressed: `x-kubernetes-list-type: map` items by their keys, `set` items by value, other
//! lists (atomic) as one leaf.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::registry::metadata_schema;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// A field of a struct or a key of a map: `f:name`.
    Field(String),
    /// A map-list item by its keys, as canonical JSON of the key object: `k:{"name":"a"}`.
    Key(String),
    /// A set item by its value, as JSON: `v:"a"`.
    Value(String),
    /// A list item by position: `i:0` (only for lists that are neither maps nor sets when a
    /// manager sent them so).
    Index(usize),
}

/// A path from the object root to one field.
pub type Path = Vec<Step>;

/// A set of owned paths.
pub type FieldSet = BTreeSet<Path>;

/// Which part of an object a write may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything but status (the main resource when a status subresource exists).
    MainWithoutStatus,
    /// Everything (the main resource without a status subresource).
    All,
    /// Only `status` (the status subresource).
    Status,
}

impl Scope {
    /// Whether the top-level field `name` is in scope (`metadata` is handled separately).
    fn includes(self, name: &str) -> bool {
        match self {
            Self::MainWithoutStatus => name != "status",
            Self::All => true,
            Self::Status => name == "status",
        }
    }
}

/// The schema node for the child reached by `step` from `schema`.
pub fn child_schema<'a>(schema: Option<&'a Value>, step: &Step) -> Option<&'a Value> {
    let schema = schema?;
    match step {
        Step::Field(name) => schema
            .get("properties")
            .and_then(|p| p.get(name))
            .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object())),
        Step::Key(_) | Step::Value(_) | Step::Index(_) => schema.get("items"),
    }
}

fn list_type(schema: Option<&Value>) -> &str {
    schema
        .and_then(|s| s.get("x-kubernetes-list-type"))
        .and_then(Value::as_str)
        .unwrap_or("atomic")
}

fn is_atomic(schema: Option<&Value>) -> bool {
    schema.is_some_and(|s| {
        s.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            || s.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true)
    })
}

/// The keys of a map-list item as canonical JSON (`{"name":"a"}`), keys in the schema's order.
pub fn item_key(schema: Option<&Value>, item: &Value) -> Option<String> {
    let keys = schema?.get("x-kubernetes-list-map-keys")?.as_array()?;
    let mut parts = Vec::new();
    for key in keys {
        let key = key.as_str()?;
        if let Some(value) = item.get(key) {
            parts.push(format!(
                "{}:{}",
                serde_json::to_string(key).ok()?,
                serde_json::to_string(value).ok()?
            ));
        }
    }
    Some(format!("{{{}}}", parts.join(",")))
}

/// Every path to a leaf of `object` within `scope`, and the map-list items themselves. `schema`
/// is the type's `openAPIV3Schema` (None for built-in kinds: maps granular, lists atomic).
pub fn leaves(object: &Value, schema: Option<&Value>, scope: Scope) -> FieldSet {
    let mut set = FieldSet::new();
    let Some(fields) = object.as_object() else {
        return set;
    };
    for (name, value) in fields {
        let path = vec![Step::Field(name.clone())];
        match name.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" if scope != Scope::Status => {
                let meta_schema = metadata_schema();
                for owned in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(v) = value.get(owned) {
                        let mut p = path.clone();
                        p.push(Step::Field(owned.to_string()));
                        collect(
                            v,
                            child_schema(Some(&meta_schema), &Step::Field(owned.into())),
                            p,
                            &mut set,
                        );
                    }
                }
            }
            "metadata" => {}
            other if scope.includes(other) => {
                collect(
                    value,
                    child_schema(schema, &Step::Field(name.clone())),
                    path,
                    &mut set,
                );
            }
            _ => {}
        }
    }
    set
}

fn collect(value: &Value, schema: Option<&Value>, path: Path, set: &mut FieldSet) {
    match value {
        Value::Object(fields) if !fields.is_empty() && !is_atomic(schema) => {
            for (name, child) in fields {
                let step = Step::Field(name.clone());
                let child_schema = child_schema(schema, &step);
                let mut p = path.clone();
                p.push(step);
                collect(child, child_schema, p, set);
            }
        }
        Value::Array(items) if !items.is_empty() => match list_type(schema) {
            "map" => {
                let item_schema = schema.and_then(|s| s.get("items"));
                for item in items {
                    let Some(key) = item_key(schema, item) else {
                        continue;
                    };
                    let mut p = path.clone();
                    p.push(Step::Key(key));
                    set.insert(p.clone());
                    if !is_atomic(item_schema)
                        && let Some(fields) = item.as_object()
                    {
                        for (name, child) in fields {
                            let step = Step::Field(name.clone());
                            let mut cp = p.clone();
                            let cs = child_schema(item_schema, &step);
                            cp.push(step);
                            collect(child, cs, cp, set);
                        }
                    }
                }
            }
            "set" => {
                for item in items {
                    let mut p = path.clone();
                    p.push(Step::Value(item.to_string()));
                    set.insert(p);
                }
            }
            _ => {
                set.insert(path);
            }
        },
        _ => {
            set.insert(path);
        }
    }
}

/// The value at `path`, if present.
pub fn get<'a>(object: &'a Value, path: &[Step], schema: Option<&Value>) -> Option<&'a Value> {
    let mut node = object;
    for (depth, step) in path.iter().enumerate() {
        node = match step {
            Step::Field(name) => node.get(name)?,
            Step::Key(key) => {
                let list_schema = list_schema_for(path, depth, schema);
                node.as_array()?
                    .iter()
                    .find(|item| item_key(list_schema.as_ref(), item).as_deref() == Some(key))?
            }
            Step::Value(value) => node.as_array()?.iter().find(|i| i.to_string() == *value)?,
            Step::Index(i) => node.as_array()?.get(*i)?,
        };
    }
    Some(node)
}

/// The schema of the list that `path[depth]` indexes into (handles `metadata` specially).
fn list_schema_for(path: &[Step], depth: usize, schema: Option<&Value>) -> Option<Value> {
    let (mut node, start) = if matches!(path.first(), Some(Step::Field(f)) if f == "metadata") {
        (Some(metadata_schema()), 1)
    } else {
        (schema.cloned(), 0)
    };
    for step in &path[start..depth] {
        node = child_schema(node.as_ref(), step).cloned();
    }
    node
}

/// Removes the field at `path` (a struct field, map key or list item). Missing paths are ignored.
pub fn remove(object: &mut Value, path: &[Step], schema: Option<&Value>) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let list_schema = list_schema_for(path, path.len() - 1, schema);
    let Some(parent) = get_mut(object, parent_path, schema) else {
        return;
    };
    match last {
        Step::Field(name) => {
            if let Some(fields) = parent.as_object_mut() {
                fields.remove(name);
            }
        }
        Step::Key(key) => {
            if let Some(items) = parent.as_array_mut() {
                items.retain(|item| item_key(list_schema.as_ref(), item).as_deref() != Some(key));
            }
        }
        Step::Value(value) => {
            if let Some(items) = parent.as_array_mut() {
                items.retain(|i| i.to_string().as_str() != value.as_str());
            }
        }
        Step::Index(i) => {
            if let Some(items) = parent.as_array_mut()
                && *i < items.len()
            {
                items.remove(*i);
            }
        }
    }
}

fn get_mut<'a>(
    object: &'a mut Value,
    path: &[Step],
    schema: Option<&Value>,
) -> Option<&'a mut Value> {
    let mut node = object;
    for (depth, step) in path.iter().enumerate() {
        node = match step {
            Step::Field(name) => node.get_mut(name)?,
            Step::Key(key) => {
                let list_schema = list_schema_for(path, depth, schema);
                node.as_array_mut()?
                    .iter_mut()
                    .find(|item| item_key(list_schema.as_ref(), item).as_deref() == Some(key))?
            }
            Step::Value(value) => node
                .as_array_mut()?
                .iter_mut()
                .find(|i| i.to_string() == *value)?,
            Step::Index(i) => node.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(node)
}

/// The `fieldsV1` trie of a set: `{"f:spec":{"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:value":{}}}}}`.
/// A node that is owned itself and also has owned children gets a `.` entry.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    #[derive(Default)]
    struct Node {
        owned: bool,
        children: std::collections::BTreeMap<String, Node>,
    }
    fn render(node: &Node) -> Value {
        let mut map = Map::new();
        if node.owned && !node.children.is_empty() {
            map.insert(".".into(), Value::Object(Map::new()));
        }
        for (key, child) in &node.children {
            map.insert(key.clone(), render(child));
        }
        Value::Object(map)
    }
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for step in path {
            node = node.children.entry(encode_step(step)).or_default();
        }
        node.owned = true;
    }
    render(&root)
}

/// Parses a `fieldsV1` trie back into a set.
pub fn from_fields_v1(fields: &Value) -> FieldSet {
    fn walk(node: &Value, path: &mut Path, set: &mut FieldSet) {
        let Some(map) = node.as_object() else {
            return;
        };
        let children: Vec<_> = map.iter().filter(|(k, _)| k.as_str() != ".").collect();
        if (children.is_empty() || map.contains_key(".")) && !path.is_empty() {
            set.insert(path.clone());
        }
        for (key, child) in children {
            if let Some(step) = decode_step(key) {
                path.push(step);
                walk(child, path, set);
                path.pop();
            }
        }
    }
    let mut set = FieldSet::new();
    walk(fields, &mut Vec::new(), &mut set);
    set
}

fn encode_step(step: &Step) -> String {
    match step {
        Step::Field(name) => format!("f:{name}"),
        Step::Key(key) => format!("k:{key}"),
        Step::Value(value) => format!("v:{value}"),
        Step::Index(i) => format!("i:{i}"),
    }
}

fn decode_step(text: &str) -> Option<Step> {
    let (prefix, rest) = text.split_at_checked(2)?;
    Some(match prefix {
        "f:" => Step::Field(rest.to_string()),
        "k:" => Step::Key(rest.to_string()),
        "v:" => Step::Value(rest.to_string()),
        "i:" => Step::Index(rest.parse().ok()?),
        _ => return None,
    })
}

/// A path as structured-merge-diff prints it in conflict messages: `.spec.replicas`,
/// `.spec.env[name="A"].value`, `.metadata.finalizers[="x"]`, `.spec.args[0]`.
pub fn display(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Step::Key(key) => {
                let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(key)
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            Step::Value(value) => out.push_str(&format!("[={value}]")),
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "env": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {
                            "name": {"type": "string"}, "value": {"type": "string"}}},
                    },
                }},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            },
        })
    }

    fn object() -> Value {
        json!({
            "apiVersion": "x/v1", "kind": "X",
            "metadata": {"name": "a", "labels": {"app": "web"}, "finalizers": ["f"]},
            "spec": {"replicas": 2, "args": ["a", "b"], "env": [{"name": "A", "value": "1"}]},
            "status": {"ready": true},
        })
    }

    #[test]
    fn leaves_follow_the_list_types() {
        let set = leaves(&object(), Some(&schema()), Scope::MainWithoutStatus);
        let shown: Vec<String> = set.iter().map(|p| display(p)).collect();
        assert_eq!(
            shown,
            vec![
                ".metadata.finalizers[=\"f\"]",
                ".metadata.labels.app",
                ".spec.args",
                ".spec.env[name=\"A\"]",
                ".spec.env[name=\"A\"].name",
                ".spec.env[name=\"A\"].value",
                ".spec.replicas",
            ]
        );
        let status = leaves(&object(), Some(&schema()), Scope::Status);
        assert_eq!(status.len(), 1);
    }

    #[test]
    fn fields_v1_round_trips() {
        let set = leaves(&object(), Some(&schema()), Scope::All);
        let encoded = to_fields_v1(&set);
        assert_eq!(
            encoded["f:spec"]["f:env"]["k:{\"name\":\"A\"}"],
            json!({".": {}, "f:name": {}, "f:value": {}})
        );
        assert_eq!(
            encoded["f:metadata"]["f:finalizers"],
            json!({"v:\"f\"": {}})
        );
        assert_eq!(from_fields_v1(&encoded), set);
    }

    #[test]
    fn get_and_remove_address_map_list_items() {
        let mut obj = object();
        let s = schema();
        let path = vec![
            Step::Field("spec".into()),
            Step::Field("env".into()),
            Step::Key("{\"name\":\"A\"}".into()),
            Step::Field("value".into()),
        ];
        assert_eq!(get(&obj, &path, Some(&s)), Some(&json!("1")));
        remove(&mut obj, &path[..3], Some(&s));
        assert_eq!(obj["spec"]["env"], json!([]));
        let finalizer = vec![
            Step::Field("metadata".into()),
            Step::Field("finalizers".into()),
            Step::Value("\"f\"".into()),
        ];
        remove(&mut obj, &finalizer, Some(&s));
        assert_eq!(obj["metadata"]["finalizers"], json!([]));
    }
}
