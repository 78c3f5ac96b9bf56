//! The server-side controllers that finish deletions: the garbage collector (ownerReference
//! cascades in the background, `orphan` and `foregroundDeletion` finalizers), the namespace
//! controller (empties a terminating namespace, then removes it) and the CRD cleanup controller
//! (removes every instance of a deleted CRD, then the CRD). One pass does what can be done now;
//! the server runs a pass after every write and once a second. Events also expire an hour
//! after they last occurred, as with the API server's default `--event-ttl`.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::Value;

use super::ops::{
    self, CRD_CLEANUP_FINALIZER, CRD_STORE, DeleteOptions, FOREGROUND_FINALIZER, NAMESPACE_STORE,
    ORPHAN_FINALIZER, Propagation,
};
use super::store::{ObjectKey, Store};

/// How long an event is kept after it last occurred (the API server's default `--event-ttl`).
const EVENT_TTL_SECONDS: i64 = 3600;

/// The bucket events are stored in.
const EVENT_STORE: &str = "events";

/// When an event last occurred: its series' last observation, its last timestamp, its event
/// time, or its creation.
fn last_occurred(event: &Value) -> Option<Timestamp> {
    [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| event.pointer(p).and_then(Value::as_str))
    .filter_map(|t| t.parse::<Timestamp>().ok())
    .max()
}

/// One object, by bucket and key, with its content as the pass found it.
type Entry = (String, ObjectKey, Arc<Value>);

/// The objects a pass may act on: expired Events, objects with owners, and objects being deleted.
/// Copying every object on every pass made each write cost as much as the whole store.
fn candidates(store: &Store, now: Timestamp) -> Vec<Entry> {
    // A terminating namespace or CRD empties itself through every object it holds.
    let emptying = [NAMESPACE_STORE, CRD_STORE].iter().any(|bucket| {
        store
            .objects
            .get(*bucket)
            .is_some_and(|objects| objects.values().any(|o| deleting(o)))
    });
    store
        .objects
        .iter()
        .flat_map(|(bucket, objects)| {
            objects
                .iter()
                .filter(move |(_, object)| {
                    if emptying {
                        return true;
                    }
                    if bucket == EVENT_STORE {
                        return last_occurred(object)
                            .is_some_and(|t| now.as_second() - t.as_second() > EVENT_TTL_SECONDS);
                    }
                    deleting(object) || !owners(object).is_empty()
                })
                .map(move |(key, object)| (bucket.clone(), key.clone(), object.clone()))
        })
        .collect()
}

fn uid(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

fn deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(finalizer)))
}

fn owners(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str().map(str::to_string))
        .collect()
}

/// Deletes one object the way a client's DELETE with `propagation` would.
fn delete_entry(store: &mut Store, bucket: &str, key: &ObjectKey, propagation: Propagation) {
    let Some(resource) = store.registry.by_store(bucket).into_iter().next() else {
        // A type no longer served (its CRD is gone): drop the object directly.
        store.remove(bucket, key);
        return;
    };
    let namespace = (!key.0.is_empty()).then_some(key.0.as_str());
    let options = DeleteOptions {
        propagation,
        ..DeleteOptions::default()
    };
    // Not found just means someone else finished first.
    let _ = ops::delete(store, &resource, namespace, &key.1, &options);
}

/// Runs one pass of every controller; returns whether anything changed (another pass may then
/// make more progress).
pub fn collect(store: &mut Store) -> bool {
    let revision = store.revision;
    let now = Timestamp::now();
    let all = candidates(store, now);
    let uids: HashSet<String> = store
        .objects
        .values()
        .flat_map(|objects| objects.values())
        .filter_map(|o| uid(o).map(str::to_string))
        .collect();

    for (bucket, key, object) in &all {
        if bucket == EVENT_STORE
            && last_occurred(object)
                .is_some_and(|t| now.as_second() - t.as_second() > EVENT_TTL_SECONDS)
        {
            store.remove(bucket, key);
            continue;
        }
        if !deleting(object) {
            // Background cascade: every owner is gone.
            let owner_uids = owners(object);
            if !owner_uids.is_empty() && owner_uids.iter().all(|u| !uids.contains(u)) {
                delete_entry(store, bucket, key, Propagation::Background);
            }
            continue;
        }
        let Some(own_uid) = uid(object) else { continue };
        let dependents: Vec<&Entry> = all
            .iter()
            .filter(|(_, _, o)| owners(o).iter().any(|u| u == own_uid))
            .collect();
        if has_finalizer(object, ORPHAN_FINALIZER) {
            for (dep_bucket, dep_key, _) in &dependents {
                let Some(mut orphaned) = store.get(dep_bucket, dep_key).cloned() else {
                    continue;
                };
                if let Some(refs) = orphaned
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r["uid"].as_str() != Some(own_uid));
                }
                ops::system_write(store, dep_bucket, dep_key.clone(), orphaned);
            }
            ops::remove_finalizer(store, bucket, key, ORPHAN_FINALIZER);
            continue;
        }
        if has_finalizer(object, FOREGROUND_FINALIZER) {
            if dependents.is_empty() {
                ops::remove_finalizer(store, bucket, key, FOREGROUND_FINALIZER);
            } else {
                for (dep_bucket, dep_key, dependent) in &dependents {
                    if !deleting(dependent) {
                        delete_entry(store, dep_bucket, dep_key, Propagation::Foreground);
                    }
                }
            }
            continue;
        }
        if bucket == NAMESPACE_STORE {
            let namespace = &key.1;
            let contents: Vec<&Entry> = all
                .iter()
                .filter(|(b, k, _)| b != NAMESPACE_STORE && k.0 == *namespace)
                .collect();
            if contents.is_empty() {
                store.remove(bucket, key);
            } else {
                for (content_bucket, content_key, content) in contents {
                    if !deleting(content) {
                        delete_entry(store, content_bucket, content_key, Propagation::Background);
                    }
                }
            }
            continue;
        }
        if bucket == CRD_STORE && has_finalizer(object, CRD_CLEANUP_FINALIZER) {
            let instances_bucket = format!(
                "{}/{}",
                object
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                object
                    .pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            let instances: Vec<&Entry> = all
                .iter()
                .filter(|(b, _, _)| *b == instances_bucket)
                .collect();
            if instances.is_empty() {
                ops::remove_finalizer(store, bucket, key, CRD_CLEANUP_FINALIZER);
                ops::refresh_custom_types(store);
            } else {
                for (b, k, instance) in instances {
                    if !deleting(instance) {
                        delete_entry(store, b, k, Propagation::Background);
                    }
                }
            }
        }
    }
    store.revision != revision
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(store: &mut Store, bucket: &str, ns: &str, name: &str, object: Value) {
        store.put(bucket, (ns.into(), name.into()), object);
    }

    #[test]
    fn dependents_of_a_removed_owner_are_deleted() {
        let mut store = Store::new();
        put(
            &mut store,
            "namespaces",
            "",
            "default",
            json!({"metadata": {"name": "default", "uid": "ns"}}),
        );
        put(
            &mut store,
            "configmaps",
            "default",
            "owner",
            json!({"metadata": {"name": "owner", "uid": "o1"}}),
        );
        put(
            &mut store,
            "configmaps",
            "default",
            "child",
            json!({"metadata": {"name": "child", "uid": "c1",
            "ownerReferences": [{"uid": "o1", "kind": "ConfigMap", "name": "owner", "apiVersion": "v1"}]}}),
        );
        assert!(!collect(&mut store));
        store.remove("configmaps", &("default".into(), "owner".into()));
        assert!(collect(&mut store));
        assert!(
            store
                .get("configmaps", &("default".into(), "child".into()))
                .is_none()
        );
    }

    #[test]
    fn events_expire_an_hour_after_they_last_occurred() {
        let mut store = Store::new();
        put(
            &mut store,
            "events",
            "default",
            "old",
            json!({"metadata": {"name": "old",
            "creationTimestamp": "2020-01-01T00:00:00Z"}}),
        );
        let recent = Timestamp::now().to_string();
        put(
            &mut store,
            "events",
            "default",
            "new",
            json!({"metadata": {"name": "new",
            "creationTimestamp": "2020-01-01T00:00:00Z"}, "eventTime": recent}),
        );
        collect(&mut store);
        assert!(
            store
                .get("events", &("default".into(), "old".into()))
                .is_none()
        );
        assert!(
            store
                .get("events", &("default".into(), "new".into()))
                .is_some()
        );
    }

    #[test]
    fn orphaning_strips_the_owner_reference() {
        let mut store = Store::new();
        put(
            &mut store,
            "configmaps",
            "default",
            "owner",
            json!({"metadata": {"name": "owner", "uid": "o1",
            "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["orphan"]}}),
        );
        put(
            &mut store,
            "configmaps",
            "default",
            "child",
            json!({"metadata": {"name": "child", "uid": "c1",
            "ownerReferences": [{"uid": "o1"}]}}),
        );
        collect(&mut store);
        assert!(
            store
                .get("configmaps", &("default".into(), "owner".into()))
                .is_none()
        );
        let child = store
            .get("configmaps", &("default".into(), "child".into()))
            .unwrap();
        assert_eq!(child["metadata"]["ownerReferences"], json!([]));
    }
}
