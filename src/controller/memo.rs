//! Which App reconciles can be skipped: what each App looked like when its last full reconcile
//! ended and when it is due again, which Apps something they depend on marked as changed (a
//! Deployment's phase, a Domain's hostnames, their part of the AWS view), and the pulse that wakes
//! the App controller when the AWS view marked some.
//!
//! kube-runtime's stable API triggers a reconcile on every change of the App, its own status
//! writes included, and [`kube::runtime::Controller::reconcile_all_on`] is its only way to wake
//! objects from outside Kubernetes. A reconcile that finds its App unchanged, unmarked and not due
//! returns at once, before any read, with the time left until it is due: that is the predicate.

use crate::api::App;
use kube::ResourceExt;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the App controller remembers of the Apps it reconciled.
pub struct Memo {
    settled: Mutex<HashMap<String, Settled>>,
    marked: Mutex<HashSet<String>>,
    pulse: tokio::sync::watch::Sender<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Settled {
    fingerprint: u64,
    due: Instant,
}

impl Default for Memo {
    fn default() -> Self {
        Memo {
            settled: Mutex::default(),
            marked: Mutex::default(),
            pulse: tokio::sync::watch::channel(0).0,
        }
    }
}

/// The key of an App in the memo and in the AWS view: `<namespace>/<name>`.
pub fn key(app: &App) -> String {
    key_of(&app.namespace().unwrap_or_default(), &app.name_any())
}

/// The key of the App `name` in `namespace`.
pub fn key_of(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// What of an App a reconcile depends on outside its status: its identity, spec (through the
/// generation), deletion, finalizers, labels and annotations.
fn fingerprint(app: &App) -> u64 {
    let meta = &app.metadata;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        &meta.uid,
        meta.generation,
        meta.deletion_timestamp.is_some(),
        &meta.finalizers,
        &meta.labels,
        &meta.annotations,
    )
        .hash(&mut hasher);
    hasher.finish()
}

impl Memo {
    /// When the App's reconcile can be skipped: the time left until it is due. `None` means a
    /// full reconcile: the App changed, something marked it, it is due, or it was never settled.
    pub fn skip(&self, app: &App) -> Option<Duration> {
        let key = key(app);
        let why = self.why_full(&key, app);
        match why {
            Ok(left) => Some(left),
            Err(why) => {
                tracing::debug!(app = key, why, "full reconcile");
                None
            }
        }
    }

    fn why_full(&self, key: &str, app: &App) -> Result<Duration, &'static str> {
        if self
            .marked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
        {
            return Err("marked");
        }
        let settled = *self
            .settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .ok_or("not settled")?;
        if settled.fingerprint != fingerprint(app) {
            return Err("changed");
        }
        match settled.due.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err("due"),
        }
    }

    /// A full reconcile starts: what marked the App is being looked at now.
    pub fn begin(&self, app: &App) {
        let key = key(app);
        self.marked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// A full reconcile of `app` (as it read it) ended, and asked to be run again `after`.
    pub fn settle(&self, app: &App, after: Duration) {
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                key(app),
                Settled {
                    fingerprint: fingerprint(app),
                    due: Instant::now() + after,
                },
            );
    }

    /// Something the App depends on changed: its next reconcile is a full one.
    pub fn mark(&self, key: &str, why: &'static str) {
        tracing::debug!(app = key, why, "marked for a full reconcile");
        self.marked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
    }

    /// Whether something marked the App since its last full reconcile began.
    pub fn is_marked(&self, key: &str) -> bool {
        self.marked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Forgets an App that is gone.
    pub fn forget(&self, key: &str) {
        self.marked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Wakes the App controller: each App is looked at, and the marked ones reconcile.
    pub fn wake(&self) {
        self.pulse.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The pulses of [`Memo::wake`], for [`kube::runtime::Controller::reconcile_all_on`]; pulses
    /// sent while one is being handled count as one.
    pub fn wakes(&self) -> impl futures::Stream<Item = ()> + Send + 'static {
        let mut receiver = self.pulse.subscribe();
        receiver.mark_unchanged();
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.changed().await.ok()?;
            Some(((), receiver))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(generation: i64) -> App {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "App",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "generation": generation},
            "spec": {"container": {"image": "web:1", "port": 8080}},
        }))
        .expect("an App")
    }

    #[test]
    fn an_app_unchanged_and_not_due_is_skipped_until_due() {
        let memo = Memo::default();
        assert_eq!(memo.skip(&app(1)), None, "never settled");
        memo.settle(&app(1), Duration::from_secs(60));
        let left = memo.skip(&app(1)).expect("skipped");
        assert!(left <= Duration::from_secs(60) && left > Duration::from_secs(50));
        memo.settle(&app(1), Duration::ZERO);
        assert_eq!(memo.skip(&app(1)), None, "due");
    }

    #[test]
    fn a_new_generation_or_a_mark_means_a_full_reconcile() {
        let memo = Memo::default();
        memo.settle(&app(1), Duration::from_secs(60));
        assert_eq!(memo.skip(&app(2)), None, "spec changed");
        memo.mark("shop/web", "test");
        assert_eq!(memo.skip(&app(1)), None, "marked");
        memo.begin(&app(1));
        memo.settle(&app(1), Duration::from_secs(60));
        assert!(memo.skip(&app(1)).is_some(), "the mark was looked at");
        let mut deleting = app(1);
        deleting.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert_eq!(memo.skip(&deleting), None, "being deleted");
    }

    #[tokio::test]
    async fn pulses_sent_together_wake_once() {
        use futures::StreamExt;
        let memo = Memo::default();
        let mut wakes = Box::pin(memo.wakes());
        memo.wake();
        memo.wake();
        assert_eq!(wakes.next().await, Some(()));
        let again = tokio::time::timeout(Duration::from_millis(50), wakes.next()).await;
        assert!(
            again.is_err(),
            "two pulses before the first was seen count as one"
        );
    }
}
