//! Events live in one store and are served in two versions, core/v1 and events.k8s.io/v1, with
//! the API server's conversion between them (`pkg/apis/events/v1` conversion functions):
//!
//! | events.k8s.io/v1            | core/v1                 |
//! |-----------------------------|-------------------------|
//! | `regarding`                 | `involvedObject`        |
//! | `note`                      | `message`               |
//! | `reportingController`       | `reportingComponent`    |
//! | `deprecatedSource`          | `source`                |
//! | `deprecatedFirstTimestamp`  | `firstTimestamp`        |
//! | `deprecatedLastTimestamp`   | `lastTimestamp`         |
//! | `deprecatedCount`           | `count`                 |
//!
//! `eventTime`, `series`, `action`, `reason`, `related`, `reportingInstance`, `type` keep their
//! names. Objects are stored in core/v1 form.

use serde_json::{Map, Value};

/// Pairs of (events.k8s.io/v1 name, core/v1 name) that differ.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Converts an events.k8s.io/v1 Event to core/v1.
pub fn to_core(event: &Value) -> Value {
    rename(event, "v1", |name| {
        RENAMED
            .iter()
            .find(|(new, _)| *new == name)
            .map(|(_, old)| *old)
    })
}

/// Converts a core/v1 Event to events.k8s.io/v1.
pub fn to_events_v1(event: &Value) -> Value {
    rename(event, "events.k8s.io/v1", |name| {
        RENAMED
            .iter()
            .find(|(_, old)| *old == name)
            .map(|(new, _)| *new)
    })
}

fn rename(event: &Value, api_version: &str, map: impl Fn(&str) -> Option<&'static str>) -> Value {
    let Some(fields) = event.as_object() else {
        return event.clone();
    };
    let mut out = Map::new();
    for (name, value) in fields {
        let name = map(name).map_or_else(|| name.clone(), str::to_string);
        out.insert(name, value.clone());
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    // Managed fields name the fields of the version they were written in; they do not convert.
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_v1_converts_to_core_and_back() {
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "regarding": {"kind": "App", "name": "web"},
            "note": "Created service",
            "reportingController": "cygni",
            "reportingInstance": "cygni-0",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:00.000000Z"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reason": "Created", "type": "Normal", "action": "Reconcile",
        });
        let core = to_core(&v1);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "Created service");
        assert_eq!(core["reportingComponent"], "cygni");
        assert_eq!(core["series"]["count"], 2);
        assert_eq!(to_events_v1(&core), v1);
    }
}
