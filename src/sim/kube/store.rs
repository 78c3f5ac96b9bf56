//! The object store: every object of every type, one store-wide revision counter that becomes
//! each write's `resourceVersion`, and a bounded history of changes that watches replay from.
//! Live changes are also broadcast to open watches. All access goes through one mutex held
//! only for the duration of a request's in-memory work.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::registry::Registry;

/// How many changes the history keeps for watches that resume from an older resourceVersion.
pub const HISTORY_LIMIT: usize = 10_000;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

impl ChangeKind {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Clone, Debug)]
pub struct Change {
    /// The revision the change got.
    pub revision: u64,
    /// Storage bucket (see [`super::registry::ResourceType::store`]).
    pub store: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The object after the change (before it, for a deletion, with the deletion's revision).
    /// Shared with the store and the next change's `previous`, so the history holds each
    /// version once.
    pub object: Arc<Value>,
    /// The object before the change, for updates (watches with selectors need it).
    pub previous: Option<Arc<Value>>,
}

/// Key of an object within its bucket: namespace (empty when cluster scoped) and name.
pub type ObjectKey = (String, String);

/// The whole state of the simulated cluster.
#[derive(Debug)]
pub struct Store {
    /// The last revision handed out.
    pub revision: u64,
    /// Objects per bucket, ordered by key (the order lists return).
    pub objects: BTreeMap<String, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    /// The newest revision no longer in the history (0 while nothing was dropped).
    pub compacted: u64,
    /// How many changes the history keeps.
    pub history_limit: usize,
    /// The types served.
    pub registry: Registry,
    changes: broadcast::Sender<Arc<Change>>,
}

impl Store {
    /// An empty store serving the built-in types.
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(HISTORY_LIMIT);
        Self {
            revision: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            history_limit: HISTORY_LIMIT,
            registry: Registry::builtin(),
            changes,
        }
    }

    /// The object stored under `store`/`key`.
    pub fn get(&self, store: &str, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(store)?.get(key).map(Arc::as_ref)
    }

    /// Every object of a bucket, in key order, optionally limited to one namespace.
    pub fn list(&self, store: &str, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .get(store)
            .map(|bucket| {
                bucket
                    .iter()
                    .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                    .map(|(_, v)| v.as_ref())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stores `object` (created or updated), stamping it with the next revision, and records the
    /// change. Returns the stored object.
    pub fn put(&mut self, store: &str, key: ObjectKey, mut object: Value) -> Value {
        self.revision += 1;
        stamp(&mut object, self.revision);
        let shared = Arc::new(object);
        let bucket = self.objects.entry(store.to_string()).or_default();
        let previous = bucket.insert(key, shared.clone());
        let kind = if previous.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.record(store, kind, shared.clone(), previous);
        Arc::unwrap_or_clone(shared)
    }

    /// Removes an object, recording a deletion that carries a fresh revision. Returns the
    /// removed object as the DELETED event shows it.
    pub fn remove(&mut self, store: &str, key: &ObjectKey) -> Option<Value> {
        let mut object = Arc::unwrap_or_clone(self.objects.get_mut(store)?.remove(key)?);
        self.revision += 1;
        stamp(&mut object, self.revision);
        let shared = Arc::new(object);
        self.record(store, ChangeKind::Deleted, shared.clone(), None);
        Some(Arc::unwrap_or_clone(shared))
    }

    fn record(
        &mut self,
        store: &str,
        kind: ChangeKind,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let change = Arc::new(Change {
            revision: self.revision,
            store: store.to_string(),
            kind,
            object,
            previous,
        });
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.revision;
            }
        }
        // No receiver is not an error: nobody is watching.
        let _ = self.changes.send(change);
    }

    /// The changes after `revision`, or `None` when some of them were already dropped.
    pub fn changes_since(&self, revision: u64) -> Option<Vec<Arc<Change>>> {
        if revision < self.compacted {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|c| c.revision > revision)
                .cloned()
                .collect(),
        )
    }

    /// A receiver of the changes committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// What a file keeps of the store: the revision counter and every object.
    pub fn persisted(&self) -> Value {
        let objects: serde_json::Map<String, Value> = self
            .objects
            .iter()
            .map(|(bucket, items)| {
                (
                    bucket.clone(),
                    Value::Array(items.values().map(|o| o.as_ref().clone()).collect()),
                )
            })
            .collect();
        serde_json::json!({ "revision": self.revision, "objects": objects })
    }

    /// Replaces the objects with those of a file written by [`Store::persisted`]. The history
    /// starts empty at the kept revision, so watches from before it are told to list again; the
    /// custom types are those of the CRDs read back.
    pub fn restore(&mut self, persisted: &Value) {
        self.revision = persisted["revision"].as_u64().unwrap_or(0);
        self.compacted = self.revision;
        self.history.clear();
        self.objects.clear();
        if let Some(buckets) = persisted["objects"].as_object() {
            for (bucket, items) in buckets {
                for object in items.as_array().into_iter().flatten() {
                    let namespace = object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let name = object
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    self.objects
                        .entry(bucket.clone())
                        .or_default()
                        .insert((namespace, name), Arc::new(object.clone()));
                }
            }
        }
        super::ops::refresh_custom_types(self);
    }

    /// The object with metadata.uid `uid`, anywhere, with its bucket and key.
    pub fn find_uid(&self, uid: &str) -> Option<(&str, &ObjectKey, &Value)> {
        self.objects.iter().find_map(|(store, bucket)| {
            bucket.iter().find_map(|(key, object)| {
                (object.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid)).then_some((
                    store.as_str(),
                    key,
                    object.as_ref(),
                ))
            })
        })
    }
}

/// Sets `metadata.resourceVersion` (making `metadata` an object if it is not one).
fn stamp(object: &mut Value, revision: u64) {
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(serde_json::Map::new());
    }
    if let Some(metadata) = metadata.as_object_mut() {
        metadata.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_write_gets_the_next_revision() {
        let mut store = Store::new();
        let key = (String::from("default"), String::from("a"));
        let first = store.put(
            "configmaps",
            key.clone(),
            json!({"metadata": {"name": "a"}}),
        );
        let second = store.put(
            "configmaps",
            key.clone(),
            json!({"metadata": {"name": "a"}}),
        );
        assert_eq!(first["metadata"]["resourceVersion"], "1");
        assert_eq!(second["metadata"]["resourceVersion"], "2");
        let deleted = store.remove("configmaps", &key).unwrap();
        assert_eq!(deleted["metadata"]["resourceVersion"], "3");
        let kinds: Vec<ChangeKind> = store
            .changes_since(0)
            .unwrap()
            .iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![ChangeKind::Added, ChangeKind::Modified, ChangeKind::Deleted]
        );
    }

    #[test]
    fn history_is_bounded_and_reports_what_it_lost() {
        let mut store = Store::new();
        for i in 0..(HISTORY_LIMIT + 5) {
            store.put(
                "configmaps",
                (String::new(), format!("{i}")),
                json!({"metadata": {}}),
            );
        }
        assert!(store.changes_since(1).is_none());
        assert_eq!(store.changes_since(5).unwrap().len(), HISTORY_LIMIT);
    }
}
