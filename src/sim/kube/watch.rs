//! Watches: a newline-delimited JSON stream of `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` and
//! `ERROR` events. A watch starts from a resourceVersion (replaying the retained history after
//! it, or an `ERROR` with a 410 `Expired` Status when that history is gone), from the current
//! state (no resourceVersion or `0`: synthetic `ADDED` events), or as a streaming list
//! (`sendInitialEvents=true`: the current state, then a bookmark annotated
//! `k8s.io/initial-events-end`). Label and field selectors apply to both the old and the new
//! object, so an update that makes an object match arrives as `ADDED` and one that makes it stop
//! matching as `DELETED`, as on a real server.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::error::ApiError;
use super::ops::view;
use super::registry::ResourceType;
use super::request::Form;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{Change, ChangeKind, Store};
use super::table;

/// What one watch selects and how it renders.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    /// The resource watched.
    pub resource: Arc<ResourceType>,
    /// Only this namespace, if set.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// Response form (objects, tables, metadata).
    pub form: Form,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
}

impl WatchSpec {
    /// Whether `object` (as the watched resource shows it) is selected.
    pub fn selects(&self, object: &Value) -> bool {
        let in_namespace = self.namespace.as_deref().is_none_or(|ns| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                == Some(ns)
        });
        in_namespace && self.labels.matches_object(object) && self.fields.matches(object)
    }

    /// The watch event for a committed change, if this watch sees it.
    fn event_for(&self, change: &Change) -> Option<(&'static str, Value)> {
        if change.store != self.resource.store {
            return None;
        }
        let object = view(&self.resource, &change.object);
        let now = self.selects(&object);
        let kind = match change.kind {
            ChangeKind::Added => now.then_some("ADDED"),
            ChangeKind::Deleted => now.then_some("DELETED"),
            ChangeKind::Modified => {
                let before = change
                    .previous
                    .as_ref()
                    .is_some_and(|p| self.selects(&view(&self.resource, p)));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }?;
        Some((kind, object))
    }
}

/// Renders one event line. `first` says whether table column definitions are still to be sent.
fn line(spec: &WatchSpec, kind: &str, object: &Value, first: &mut bool) -> Bytes {
    let rendered = match spec.form {
        Form::Object => object.clone(),
        Form::Metadata => table::partial_metadata(object),
        Form::Table(include) => {
            let rv = object
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or_default();
            let t = table::table(
                &spec.resource,
                std::slice::from_ref(object),
                json!({"resourceVersion": rv}),
                include,
                *first,
                Timestamp::now(),
            );
            *first = false;
            t
        }
    };
    let mut text = json!({"type": kind, "object": rendered}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn bookmark(spec: &WatchSpec, revision: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string(), "creationTimestamp": null});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object = json!({
        "kind": spec.resource.kind,
        "apiVersion": spec.resource.api_version(),
        "metadata": metadata,
    });
    let mut text = json!({"type": "BOOKMARK", "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

/// Where a watch starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Synthetic `ADDED` events for the current state (`resourceVersion` unset or `0`).
    CurrentState,
    /// A streaming list: the current state, then the initial-events-end bookmark.
    InitialEvents,
    /// Only changes from now on (`sendInitialEvents=false` without a resourceVersion).
    Now,
    /// The changes after this resourceVersion.
    After(u64),
}

/// The first lines of a watch and the receiver of its live changes, taken under the store lock
/// so nothing falls between them.
pub struct Opened {
    lines: Vec<Bytes>,
    receiver: Option<broadcast::Receiver<Arc<Change>>>,
    last_revision: u64,
    first_table: bool,
}

/// Opens a watch on the locked store.
pub fn open(store: &Store, spec: &WatchSpec, start: &Start) -> Opened {
    let mut lines = Vec::new();
    let mut first = true;
    let mut last_revision = store.revision;
    match start {
        Start::CurrentState | Start::InitialEvents => {
            let ns = spec.namespace.as_deref();
            for stored in store.list(&spec.resource.store, ns) {
                if !spec.labels.matches_object(stored) {
                    continue;
                }
                let object = view(&spec.resource, stored);
                if spec.selects(&object) {
                    lines.push(line(spec, "ADDED", &object, &mut first));
                }
            }
            if *start == Start::InitialEvents {
                lines.push(bookmark(spec, store.revision, true));
            }
        }
        Start::Now => {}
        Start::After(revision) => match store.changes_since(*revision) {
            Some(changes) => {
                for change in changes {
                    if let Some((kind, object)) = spec.event_for(&change) {
                        lines.push(line(spec, kind, &object, &mut first));
                    }
                }
            }
            None => {
                let expired = ApiError::Expired(format!(
                    "too old resource version: {revision} ({})",
                    store.compacted
                ));
                let mut text = json!({"type": "ERROR", "object": expired.status()}).to_string();
                text.push('\n');
                lines.push(Bytes::from(text));
                return Opened {
                    lines,
                    receiver: None,
                    last_revision,
                    first_table: first,
                };
            }
        },
    }
    if let Start::After(revision) = start {
        last_revision = last_revision.max(*revision);
    }
    Opened {
        lines,
        receiver: Some(store.subscribe()),
        last_revision,
        first_table: first,
    }
}

/// Streams an opened watch until `timeout`, server shutdown or the client going away. Bookmarks
/// every `bookmark_every` when the client allows them.
pub fn stream(
    opened: Opened,
    spec: WatchSpec,
    store: Arc<std::sync::Mutex<Store>>,
    timeout: Duration,
    bookmark_every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Body {
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        for line in opened.lines {
            if sender.send(line).await.is_err() {
                return;
            }
        }
        let Some(mut changes) = opened.receiver else {
            return;
        };
        let mut first = opened.first_table;
        let mut delivered = opened.last_revision;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = shutdown.changed() => break,
                _ = sender.closed() => break,
                _ = ticker.tick(), if spec.bookmarks && !matches!(spec.form, Form::Table(_)) => {
                    // A bookmark may only claim a revision all of whose changes were delivered.
                    let revision = match store.lock() {
                        Ok(guard) if changes.is_empty() => guard.revision,
                        _ => delivered,
                    };
                    delivered = delivered.max(revision);
                    if sender.send(bookmark(&spec, delivered, false)).await.is_err() {
                        break;
                    }
                }
                received = changes.recv() => match received {
                    Ok(change) => {
                        delivered = delivered.max(change.revision);
                        if let Some((kind, object)) = spec.event_for(&change)
                            && sender.send(line(&spec, kind, &object, &mut first)).await.is_err()
                        {
                            break;
                        }
                    }
                    // A watcher that falls this far behind is closed, as the server closes a
                    // watch whose buffer overflows; the client resumes from its last revision.
                    Err(_) => break,
                },
            }
        }
    });
    Body::from_stream(futures::stream::unfold(
        receiver,
        |mut receiver| async move {
            receiver
                .recv()
                .await
                .map(|bytes| (Ok::<Bytes, Infallible>(bytes), receiver))
        },
    ))
}
