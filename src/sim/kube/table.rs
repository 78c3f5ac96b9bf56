//! Server-side printing: the `meta.k8s.io/v1` `Table` kubectl asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Columns are `Name` and the type's
//! printer columns; cells are computed as the API server computes them (a JSONPath's first
//! result; `date` columns rendered as a human-readable age such as `5m` or `3h2m`, which is what
//! the server's table convertor sends); rows carry the object as `PartialObjectMetadata` by
//! default (`includeObject=Metadata`), the full object (`Object`) or nothing (`None`).

use jiff::Timestamp;
use jsonpath_rust::JsonPath;
use serde_json::{Value, json};

use super::registry::{CellSource, Column, Computed, ResourceType, name_column};

/// What each row's `object` holds (`includeObject` parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter.
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// The column definitions of a type's table.
pub fn column_definitions(resource: &ResourceType) -> Vec<Value> {
    leading_name(resource)
        .chain(resource.columns.iter().cloned())
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect()
}

/// The `Name` column tables start with, unless the type places it itself (events list it last,
/// for `-o wide` only).
fn leading_name(resource: &ResourceType) -> impl Iterator<Item = Column> {
    let placed = resource.columns.iter().any(|c| c.name == "Name");
    (!placed).then(name_column).into_iter()
}

/// A table of `objects`; `metadata` is the list metadata (resourceVersion, continue).
pub fn table(
    resource: &ResourceType,
    objects: &[Value],
    metadata: Value,
    include: IncludeObject,
    with_columns: bool,
    now: Timestamp,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| row(resource, o, include, now))
        .collect();
    let columns = if with_columns {
        Value::Array(column_definitions(resource))
    } else {
        Value::Array(Vec::new())
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// One row: its cells and the object as requested.
pub fn row(
    resource: &ResourceType,
    object: &Value,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    let mut cells: Vec<Value> = leading_name(resource)
        .map(|c| cell(&c, object, now))
        .collect();
    cells.extend(resource.columns.iter().map(|c| cell(c, object, now)));
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(object),
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

/// The `PartialObjectMetadata` form of an object.
pub fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn cell(column: &Column, object: &Value, now: Timestamp) -> Value {
    match &column.source {
        CellSource::Computed(computed) => computed_cell(*computed, object, now),
        CellSource::Path(path) => {
            let Some(value) = first_result(object, path) else {
                return Value::Null;
            };
            match column.kind.as_str() {
                "string" => Value::String(printed(&value)),
                "integer" => value
                    .as_i64()
                    .or_else(|| value.as_f64().map(|f| f as i64))
                    .map_or(Value::Null, Value::from),
                "number" => value.as_f64().map_or(Value::Null, Value::from),
                "boolean" => value.as_bool().map_or(Value::Null, Value::from),
                "date" => match value.as_str() {
                    Some(text) => Value::String(age(text, now)),
                    None => Value::Null,
                },
                _ => Value::Null,
            }
        }
    }
}

fn computed_cell(computed: Computed, object: &Value, now: Timestamp) -> Value {
    match computed {
        Computed::DataCount => {
            let count = |field: &str| {
                object
                    .get(field)
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
            };
            Value::from(count("data") + count("binaryData"))
        }
        Computed::EventLastSeen => {
            let last = ["/series/lastObservedTime", "/lastTimestamp", "/eventTime"]
                .iter()
                .filter_map(|p| object.pointer(p).and_then(Value::as_str))
                .find(|s| !s.is_empty());
            Value::String(last.map_or_else(|| "<unknown>".to_string(), |t| age(t, now)))
        }
        Computed::CreatedAt => object
            .pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(Value::Null),
        Computed::EventObject => {
            let subject = object
                .get("involvedObject")
                .or_else(|| object.get("regarding"))
                .cloned()
                .unwrap_or_default();
            Value::String(format!(
                "{}/{}",
                subject["kind"].as_str().unwrap_or_default().to_lowercase(),
                subject["name"].as_str().unwrap_or_default()
            ))
        }
    }
}

/// The first result of a Kubernetes JSONPath (`.a.b`, `{.a.b}`,
/// `.status.conditions[?(@.type=="Ready")].status`), evaluated as RFC 9535 JSONPath.
pub fn first_result(object: &Value, path: &str) -> Option<Value> {
    let trimmed = path.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(trimmed);
    let query = if inner.starts_with('$') {
        inner.to_string()
    } else if inner.starts_with('.') || inner.starts_with('[') {
        format!("${inner}")
    } else {
        format!("$.{inner}")
    };
    object
        .query(&query)
        .ok()
        .and_then(|results| results.first().map(|v| (*v).clone()))
}

/// A value as Kubernetes JSONPath prints it: strings raw, other values as JSON.
fn printed(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 && n.as_i64().is_none() => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The age of an RFC 3339 timestamp as the server prints it (`ConvertToHumanReadableDateType`).
pub fn age(timestamp: &str, now: Timestamp) -> String {
    match timestamp.parse::<Timestamp>() {
        Ok(then) => human_duration(now.as_second() - then.as_second()),
        Err(_) => "<invalid>".to_string(),
    }
}

/// `duration.HumanDuration` of apimachinery: `45s`, `2m3s`, `15m`, `3h2m`, `9h`, `2d3h`, `20d`,
/// `2y5d`, `9y`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::kube::registry::{Registry, types_from_crd};

    fn app_type() -> ResourceType {
        let crd = serde_json::to_value(crate::api::crd::all().remove(0)).unwrap();
        types_from_crd(&crd).remove(0)
    }

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(900), "15m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(9 * 3600), "9h");
        assert_eq!(human_duration(51 * 3600), "2d3h");
        assert_eq!(human_duration(20 * 86400), "20d");
        assert_eq!(human_duration(-5), "<invalid>");
    }

    #[test]
    fn printer_columns_follow_the_crd() {
        let app = app_type();
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let object = json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"container": {"image": "web:1"}},
            "status": {
                "conditions": [{"type": "Progressing", "status": "True"},
                               {"type": "Ready", "status": "False", "reason": "InvalidSpec"}],
                "currentRevision": 3,
            },
        });
        let t = table(
            &app,
            &[object],
            json!({}),
            IncludeObject::Metadata,
            true,
            now,
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names[0], "Name");
        assert!(names.contains(&"Ready"));
        let cells = &t["rows"][0]["cells"];
        let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
        assert_eq!(cells[at("Name")], "web");
        assert_eq!(cells[at("Ready")], "False");
        assert_eq!(cells[at("Reason")], "InvalidSpec");
        assert_eq!(cells[at("Revision")], 3);
        assert_eq!(cells[at("Stable")], Value::Null);
        assert_eq!(cells[at("Image")], "web:1");
        assert_eq!(cells[at("Age")], "10m");
        let image = &t["columnDefinitions"][at("Image")];
        assert_eq!(image["priority"], 1);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn built_in_tables_have_a_sensible_minimum() {
        let registry = Registry::builtin();
        let ns = registry.find("", "v1", "namespaces").unwrap();
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let object = json!({"metadata": {"name": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Active"}});
        let t = table(&ns, &[object], json!({}), IncludeObject::None, true, now);
        assert_eq!(t["rows"][0]["cells"], json!(["default", "Active", "60m"]));
        assert!(t["rows"][0].get("object").is_none());
    }
}
