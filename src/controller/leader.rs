//! Leader election on a `coordination.k8s.io/v1` Lease, with the semantics of client-go's
//! leaderelection package: one holder at a time, renewed every third of the lease duration, taken
//! over only after it expired, released on shutdown so a successor starts at once.
//!
//! The decision is a pure function of the Lease, the identity and the time ([`decide`]); the
//! [`LeaderElector`] only reads and writes the Lease with optimistic concurrency, so two replicas
//! that race to take an expired Lease cannot both win (the loser gets 409 Conflict).

use crate::clock::Clock;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::Api;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to do with the Lease as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease exists: create it as holder.
    Create,
    /// We hold it: renew it.
    Renew,
    /// It is free or expired: take it over.
    TakeOver,
    /// Someone else holds it: look again after this long.
    Wait(Duration),
}

/// Decides what to do with `lease` (absent when not found) as replica `identity` at `now`.
pub fn decide(lease: Option<&LeaseSpec>, identity: &str, now: jiff::Timestamp) -> Decision {
    let Some(spec) = lease else {
        return Decision::Create;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(15).max(1));
    let Some(MicroTime(renewed)) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return Decision::TakeOver;
    };
    let expires = renewed.saturating_add(jiff::SignedDuration::from_secs(seconds));
    match expires {
        Ok(expires) if expires > now => {
            let left = now.duration_until(expires);
            Decision::Wait(Duration::try_from(left).unwrap_or(Duration::from_secs(1)))
        }
        _ => Decision::TakeOver,
    }
}

/// Why leadership ended.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica holds the Lease now.
    #[error("leadership lost: Lease {0} is held by another replica")]
    Lost(String),
    /// The Lease could not be renewed before it expired.
    #[error(
        "leadership lost: Lease {name} could not be renewed for {seconds}s: {}",
        super::describe_kube(source)
    )]
    RenewFailed {
        /// Lease name.
        name: String,
        /// Seconds since the last successful renewal.
        seconds: u64,
        /// The last error.
        #[source]
        source: kube::Error,
    },
}

/// Acquires, holds and releases the leader Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    duration: Duration,
    clock: Arc<dyn Clock>,
}

impl LeaderElector {
    /// An elector for Lease `namespace/name`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: String,
        identity: String,
        duration: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name,
            identity,
            duration: duration.max(Duration::from_secs(2)),
            clock,
        }
    }

    /// A failed Lease call as a sentence, with the fix when the Lease's namespace is missing.
    fn explain(&self, error: &kube::Error) -> String {
        let text = super::describe_kube(error);
        match error {
            kube::Error::Api(status) if status.code == 404 => format!(
                "{text}; the Lease namespace {} must exist: create it, or pass --lease-namespace",
                self.namespace
            ),
            _ => text,
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX)
    }

    /// One round: acquire or renew if possible. `Ok(None)` means we hold the Lease now;
    /// `Ok(Some(wait))` means another replica does.
    pub async fn try_acquire(&self) -> Result<Option<Duration>, kube::Error> {
        let now = self.clock.now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        );
        let result = match (decision, current) {
            (Decision::Wait(wait), _) => return Ok(Some(wait)),
            (Decision::Create, _) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(self.seconds()),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                self.api.create(&super::post_params(), &lease).await
            }
            (decision, Some(mut lease)) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                if decision == Decision::TakeOver {
                    spec.holder_identity = Some(self.identity.clone());
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.lease_duration_seconds = Some(self.seconds());
                spec.renew_time = Some(MicroTime(now));
                // `replace` carries the resourceVersion we read: a concurrent writer makes it 409.
                self.api
                    .replace(&self.name, &super::post_params(), &lease)
                    .await
            }
            (_, None) => return Ok(Some(Duration::from_secs(1))),
        };
        match result {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(Some(self.duration / 3)),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        loop {
            let wait = match self.try_acquire().await {
                Ok(None) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "became leader");
                    return;
                }
                Ok(Some(wait)) => wait.min(self.duration),
                Err(error) => {
                    let error = self.explain(&error);
                    tracing::warn!(%error, lease = %self.name, namespace = %self.namespace, "could not read or write the leader Lease; retrying");
                    self.duration / 3
                }
            };
            tokio::time::sleep(wait + Duration::from_millis(100)).await;
        }
    }

    /// Renews the Lease every third of its duration; returns when leadership is lost.
    pub async fn hold(&self) -> LeaderError {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_acquire().await {
                Ok(None) => last_renewed = Instant::now(),
                Ok(Some(_)) => return LeaderError::Lost(self.name.clone()),
                Err(source) if last_renewed.elapsed() >= self.duration => {
                    return LeaderError::RenewFailed {
                        name: self.name.clone(),
                        seconds: last_renewed.elapsed().as_secs(),
                        source,
                    };
                }
                Err(error) => {
                    let error = self.explain(&error);
                    tracing::warn!(%error, lease = %self.name, "Lease renewal failed; retrying")
                }
            }
        }
    }

    /// Gives the Lease up so another replica can take it at once. Best effort.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(self.clock.now()));
        match self
            .api
            .replace(&self.name, &super::post_params(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.name, "released leadership"),
            Err(error) => {
                let error = self.explain(&error);
                tracing::warn!(%error, lease = %self.name, "could not release the Lease")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(seconds).expect("valid")
    }

    fn held_by(holder: &str, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_string()),
            lease_duration_seconds: Some(duration),
            renew_time: Some(MicroTime(at(renewed))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn missing_lease_is_created() {
        assert_eq!(decide(None, "me", at(0)), Decision::Create);
    }

    #[test]
    fn own_lease_is_renewed() {
        assert_eq!(
            decide(Some(&held_by("me", 0, 15)), "me", at(5)),
            Decision::Renew
        );
    }

    #[test]
    fn live_lease_of_another_replica_is_waited_for_until_it_expires() {
        assert_eq!(
            decide(Some(&held_by("other", 100, 15)), "me", at(105)),
            Decision::Wait(Duration::from_secs(10))
        );
    }

    #[test]
    fn expired_lease_is_taken_over() {
        assert_eq!(
            decide(Some(&held_by("other", 100, 15)), "me", at(115)),
            Decision::TakeOver
        );
    }

    #[test]
    fn released_lease_is_taken_over_at_once() {
        let mut spec = held_by("other", 100, 15);
        spec.holder_identity = None;
        assert_eq!(decide(Some(&spec), "me", at(101)), Decision::TakeOver);
    }
}
