//! Kubernetes Events the operator publishes (`events.k8s.io/v1`): one Event per distinct
//! (object, type, reason, note, related object), repeats of the very same Event counted in its
//! `series`, every write under the operator's field manager.
//!
//! Names are the object's name and the time in hexadecimal nanoseconds, as client-go names them,
//! so listings (and `kubectl describe`, which keeps the server's order) show Events oldest first.
//! The first time a process publishes an Event it looks for the same Event among the object's
//! existing ones: an operator that restarts and announces a transition it had already announced
//! (it was killed between the two) finds the Event it made instead of making a second one; within
//! the series window that is the same occurrence.
//!
//! kube-runtime's `Recorder` (like client-go's) keys an Event by reason and action but not by its
//! note, so a second `RevisionCreated` with another text is shown as a repeat of the first, with
//! the first one's text; it also writes without a field manager and names Events after their
//! object, which is too long for a 253-character name. This publisher keeps its contract
//! otherwise: the same fields, a series for repeats within [`SERIES_WINDOW`].

use super::FIELD_MANAGER;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a published Event can be counted again instead of creating a new one (client-go's
/// and kube-runtime's window).
const SERIES_WINDOW: std::time::Duration = std::time::Duration::from_secs(6 * 60);

/// Longest object name (DNS subdomain).
const NAME_MAX: usize = 253;
/// Longest note the API server accepts (bytes).
const NOTE_MAX: usize = 1024;

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something needs attention.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One Event to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// Normal or Warning.
    pub type_: EventType,
    /// One CamelCase word, e.g. `RevisionCreated`.
    pub reason: &'static str,
    /// What the operator was doing, e.g. `Rollout`.
    pub action: &'static str,
    /// A sentence for a person.
    pub note: String,
    /// A second object the Event is about (the Deployment of a revision).
    pub related: Option<ObjectReference>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    regarding: (String, String, String, String),
    type_: EventType,
    reason: &'static str,
    note: String,
    related: Option<(String, String, String)>,
}

#[derive(Clone, Debug)]
struct Sent {
    name: String,
    count: i32,
    last: jiff::Timestamp,
}

/// Publishes Events as one controller instance.
pub struct EventPublisher {
    client: kube::Client,
    controller: String,
    instance: String,
    sent: Mutex<HashMap<Key, Sent>>,
}

impl EventPublisher {
    /// A publisher reporting as `controller` (e.g. `cygni-operator`) from replica `instance`.
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        EventPublisher {
            client,
            controller: controller.to_string(),
            instance: instance.to_string(),
            sent: Mutex::default(),
        }
    }

    /// Publishes `notice` about `regarding`: a new Event, or one more in the series of an
    /// identical one published within the window.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        notice: Notice,
    ) -> Result<(), kube::Error> {
        let now = jiff::Timestamp::now();
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let key = key(regarding, &notice);
        let cached = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            sent.retain(|_, s| within_window(s.last, now));
            sent.get(&key).cloned()
        };
        let previous = match cached {
            Some(sent) => Some(sent),
            None => match self.find(&api, regarding, &key).await? {
                // Published before a restart, recently: the same occurrence.
                Some(found) if within_window(found.last, now) => {
                    self.remember(key, found.name, found.count, found.last);
                    return Ok(());
                }
                // Published long ago: this is a repeat.
                found => found,
            },
        };
        if let Some(previous) = previous {
            let count = previous.count + 1;
            let patch = serde_json::json!({
                "series": EventSeries { count, last_observed_time: MicroTime(now) },
            });
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            };
            match api
                .patch(&previous.name, &params, &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.remember(key, previous.name, count, now);
                    return Ok(());
                }
                // Expired or deleted by someone: start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let event = self.event(regarding, &notice, &namespace, now);
        let name = event.metadata.name.clone().unwrap_or_default();
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        api.create(&params, &event).await?;
        self.remember(key, name, 1, now);
        Ok(())
    }

    /// The Event saying the same as `key` about `regarding`, if one exists: its name, how many
    /// times it was seen and when last.
    async fn find(
        &self,
        api: &Api<Event>,
        regarding: &ObjectReference,
        key: &Key,
    ) -> Result<Option<Sent>, kube::Error> {
        let Some(name) = regarding.name.as_deref() else {
            return Ok(None);
        };
        let selector = format!("regarding.name={name},reason={}", key.reason);
        let listed = api.list(&ListParams::default().fields(&selector)).await?;
        let note = shorten_note(&key.note);
        Ok(listed
            .items
            .into_iter()
            .filter(|e| {
                e.note.as_deref() == Some(note.as_str())
                    && e.type_.as_deref() == Some(key.type_.as_str())
                    && e.regarding.as_ref().map(reference_key) == Some(key.regarding.clone())
                    && e.related.as_ref().map(related_key) == key.related
            })
            .filter_map(|e| {
                let last = e
                    .series
                    .as_ref()
                    .map(|s| s.last_observed_time.0)
                    .or(e.event_time.as_ref().map(|t| t.0))?;
                Some(Sent {
                    name: e.metadata.name?,
                    count: e.series.as_ref().map_or(1, |s| s.count),
                    last,
                })
            })
            .max_by_key(|sent| sent.last))
    }

    fn remember(&self, key: Key, name: String, count: i32, now: jiff::Timestamp) {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).insert(
            key,
            Sent {
                name,
                count,
                last: now,
            },
        );
    }

    fn event(
        &self,
        regarding: &ObjectReference,
        notice: &Notice,
        namespace: &str,
        now: jiff::Timestamp,
    ) -> Event {
        let object = regarding.name.as_deref().unwrap_or(&self.controller);
        Event {
            metadata: ObjectMeta {
                name: Some(event_name(object, now)),
                namespace: Some(namespace.to_string()),
                ..ObjectMeta::default()
            },
            action: Some(notice.action.to_string()),
            reason: Some(notice.reason.to_string()),
            note: Some(shorten_note(&notice.note)),
            type_: Some(notice.type_.as_str().to_string()),
            regarding: Some(regarding.clone()),
            related: notice.related.clone(),
            event_time: Some(MicroTime(now)),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            series: None,
            deprecated_count: None,
            deprecated_first_timestamp: None,
            deprecated_last_timestamp: None,
            deprecated_source: None,
        }
    }
}

fn key(regarding: &ObjectReference, notice: &Notice) -> Key {
    Key {
        regarding: reference_key(regarding),
        type_: notice.type_,
        reason: notice.reason,
        note: notice.note.clone(),
        related: notice.related.as_ref().map(related_key),
    }
}

fn reference_key(r: &ObjectReference) -> (String, String, String, String) {
    let part = |v: &Option<String>| v.clone().unwrap_or_default();
    (
        part(&r.kind),
        part(&r.namespace),
        part(&r.name),
        part(&r.uid),
    )
}

fn related_key(r: &ObjectReference) -> (String, String, String) {
    let part = |v: &Option<String>| v.clone().unwrap_or_default();
    (part(&r.kind), part(&r.name), part(&r.uid))
}

/// The note as the API server accepts it: at most 1 KiB, cut at a character with ` ...` when
/// longer (as the Kubernetes scheduler cuts its own).
fn shorten_note(note: &str) -> String {
    if note.len() <= NOTE_MAX {
        return note.to_string();
    }
    const MORE: &str = " ...";
    let mut keep = NOTE_MAX - MORE.len();
    while !note.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{MORE}", &note[..keep])
}

fn within_window(last: jiff::Timestamp, now: jiff::Timestamp) -> bool {
    let window = jiff::SignedDuration::try_from(SERIES_WINDOW).unwrap_or_default();
    last.saturating_add(window).is_ok_and(|until| until > now)
}

/// `<object>.<time in hexadecimal nanoseconds>`, the object's name shortened so the whole is a
/// valid name.
fn event_name(object: &str, now: jiff::Timestamp) -> String {
    let suffix = format!(".{:x}", now.as_nanosecond().max(0));
    let keep = NAME_MAX.saturating_sub(suffix.len()).min(object.len());
    let mut keep_at = keep;
    while !object.is_char_boundary(keep_at) {
        keep_at -= 1;
    }
    let stem = object[..keep_at].trim_end_matches(['.', '-']);
    format!("{stem}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("App".into()),
            namespace: Some("shop".into()),
            name: Some(name.into()),
            uid: Some("u1".into()),
            ..ObjectReference::default()
        }
    }

    fn notice(note: &str) -> Notice {
        Notice {
            type_: EventType::Normal,
            reason: "RevisionCreated",
            action: "Rollout",
            note: note.into(),
            related: None,
        }
    }

    #[test]
    fn events_with_the_same_reason_and_another_text_are_distinct() {
        let web = reference("web");
        assert_ne!(
            key(&web, &notice("revision 1: image web:1")),
            key(&web, &notice("revision 2: image web:2"))
        );
        assert_eq!(
            key(&web, &notice("revision 1: image web:1")),
            key(&web, &notice("revision 1: image web:1"))
        );
    }

    #[test]
    fn event_names_fit_253_characters_for_the_longest_object_names() {
        let long = "a".repeat(250) + ".b-";
        let name = event_name(&long, jiff::Timestamp::now());
        assert!(name.len() <= 253, "{}", name.len());
        assert!(!name.contains(".."), "{name}");
    }

    #[test]
    fn event_names_sort_as_their_times() {
        let t0 = jiff::Timestamp::from_second(1_800_000_000).expect("t");
        let t1 = t0
            .saturating_add(jiff::SignedDuration::from_millis(1))
            .expect("t");
        let (a, b) = (event_name("web", t0), event_name("web", t1));
        assert!(a.starts_with("web."), "{a}");
        assert!(a < b, "{a} {b}");
    }

    #[test]
    fn notes_longer_than_the_api_server_takes_are_cut() {
        let long = "é".repeat(700);
        let note = shorten_note(&long);
        assert!(note.len() <= NOTE_MAX, "{}", note.len());
        assert!(note.ends_with(" ..."));
        assert_eq!(shorten_note("short"), "short");
    }

    #[test]
    fn a_series_lasts_six_minutes() {
        let t0 = jiff::Timestamp::from_second(1_800_000_000).expect("t");
        let later = |s: i64| {
            t0.saturating_add(jiff::SignedDuration::from_secs(s))
                .expect("t")
        };
        assert!(within_window(t0, later(359)));
        assert!(!within_window(t0, later(361)));
    }
}
