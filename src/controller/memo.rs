//! Which App reconciles can be skipped: what each App looked like when its last full reconcile
//! ended and when it is due again, which Apps something they depend on marked as changed (a
//! Deployment's phase, a Domain's hostnames, their part of the AWS view), and the wakes that the
//! AWS view sends to the App controller for the Apps it marked.
//!
//! kube-runtime's stable API triggers a reconcile on every change of the App, its own status
//! writes included. A reconcile that finds its App unchanged, unmarked and not due returns at
//! once, before any read, with the time left until it is due: that is the predicate.
//!
//! Waking one App from outside Kubernetes takes `Controller::reconcile_on`, which kube-runtime
//! keeps behind its `unstable-runtime-reconcile-on` feature. Its stable relative,
//! `reconcile_all_on`, enqueues every App for each wake: at 3,000 Apps converging, those
//! reconciles (each returning at once) took the workers' time and left new Apps waiting.

use crate::api::App;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the App controller remembers of the Apps it reconciled.
#[derive(Default)]
pub struct Memo {
    settled: Mutex<HashMap<String, Settled>>,
    marked: Mutex<HashSet<String>>,
    /// One channel per App controller, with the namespace it watches (`None`: all).
    wakes: Mutex<Vec<Waker>>,
}

/// Where the wakes of one App controller go: its namespace (`None`: all) and its channel.
type Waker = (
    Option<String>,
    tokio::sync::mpsc::UnboundedSender<ObjectRef<App>>,
);

#[derive(Clone, Copy, Debug)]
struct Settled {
    fingerprint: u64,
    due: Instant,
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

    /// Marks an App and wakes it: its controller reconciles it soon.
    pub fn wake(&self, key: &str, why: &'static str) {
        self.mark(key, why);
        let Some((namespace, name)) = key.split_once('/') else {
            return;
        };
        let mut wakes = self.wakes.lock().unwrap_or_else(|e| e.into_inner());
        // A controller that stopped has dropped its receiver.
        wakes.retain(|(scope, sender)| {
            if scope.as_deref().is_some_and(|s| s != namespace) {
                return !sender.is_closed();
            }
            sender.send(ObjectRef::new(name).within(namespace)).is_ok()
        });
    }

    /// The wakes for the App controller of one scope (a namespace, or `None` for all), for
    /// `Controller::reconcile_on`.
    pub fn wakes(
        &self,
        scope: Option<&str>,
    ) -> impl futures::Stream<Item = ObjectRef<App>> + Send + 'static {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.wakes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((scope.map(str::to_string), sender));
        futures::stream::unfold(receiver, |mut receiver| async move {
            let next = receiver.recv().await?;
            Some((next, receiver))
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
    async fn a_wake_marks_the_app_and_reaches_only_the_controller_of_its_namespace() {
        use futures::StreamExt;
        let memo = Memo::default();
        let mut shop = Box::pin(memo.wakes(Some("shop")));
        let mut other = Box::pin(memo.wakes(Some("other")));
        let mut all = Box::pin(memo.wakes(None));
        memo.wake("shop/web", "test");
        assert!(memo.is_marked("shop/web"));
        let expected = ObjectRef::<App>::new("web").within("shop");
        assert_eq!(shop.next().await, Some(expected.clone()));
        assert_eq!(all.next().await, Some(expected));
        let none = tokio::time::timeout(Duration::from_millis(50), other.next()).await;
        assert!(none.is_err(), "another namespace's controller is not woken");
    }
}
