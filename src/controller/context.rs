//! What every reconcile gets: the Kubernetes client, the Event recorder, metrics, the clock, the
//! operator's settings, the AWS clients, and the per-object retry backoff.

use super::ErrorClass;
use super::events::{EventPublisher, EventType, Notice};
use super::validate::InvalidSpec;
use crate::analysis::{Provider, Providers};
use crate::aws::elbv2::{Listener, LoadBalancer};
use crate::aws::{AwsResult, AwsServices};
use crate::clock::Clock;
use crate::config::{OperatorDefaults, Policy};
use crate::telemetry::Metrics;
use k8s_openapi::api::core::v1::ObjectReference;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The settings reconcilers apply to every object.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Defaults for fields an App leaves empty.
    pub defaults: OperatorDefaults,
    /// What Apps and Domains may refer to.
    pub policy: Policy,
    /// Interval of the periodic reconcile that detects drift.
    pub resync_period: Duration,
}

impl Settings {
    /// When to look at a settled object again: the resync period, spread by ±10% so that objects
    /// created together (a GitOps sync, an operator restart) do not resync together in waves.
    pub fn resync(&self) -> Duration {
        spread(self.resync_period, rand::random::<f64>())
    }
}

/// `period` scaled into [0.9, 1.1) by `jitter`, a random value in [0, 1).
pub fn spread(period: Duration, jitter: f64) -> Duration {
    period.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0))
}

/// Shared state of the controllers, passed to each reconcile as `Arc<Context>`.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Publishes Events on the reconciled objects.
    pub events: EventPublisher,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The current time.
    pub clock: Arc<dyn Clock>,
    /// Operator defaults and policy.
    pub settings: Settings,
    /// AWS services.
    pub aws: AwsServices,
    /// Takes the measurements of rollout analysis.
    pub analyzer: Arc<dyn Provider>,
    /// Route53 zone views, change batches and change statuses shared by every Domain.
    pub zones: Arc<super::zones::Zones>,
    /// ECS services, target groups and listener rules of every App, read in batches.
    pub view: Arc<super::view::View>,
    /// Which App reconciles can be skipped, and which Apps something marked.
    pub memo: Arc<super::memo::Memo>,
    backoff: Backoff,
    listeners: Mutex<HashMap<String, (Listener, LoadBalancer, std::time::Instant)>>,
    listener_certificates:
        Mutex<HashMap<String, (std::collections::BTreeSet<String>, std::time::Instant)>>,
    issued: Mutex<HashMap<String, (crate::aws::acm::Certificate, std::time::Instant)>>,
    domains: Mutex<Vec<kube::runtime::reflector::Store<crate::api::Domain>>>,
}

/// How long a listener and its load balancer are remembered: they change rarely, and every App on
/// a listener would otherwise read them on every reconcile.
const LISTENER_TTL: Duration = Duration::from_secs(300);

impl Context {
    /// Assembles a context.
    pub fn new(
        client: kube::Client,
        events: EventPublisher,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        settings: Settings,
        aws: AwsServices,
    ) -> Self {
        let analyzer = Arc::new(Providers::new(aws.cloudwatch.clone(), client.clone()));
        let zones = Arc::new(super::zones::Zones::new(
            aws.route53.clone(),
            settings.resync_period,
        ));
        let memo = Arc::new(super::memo::Memo::default());
        let view = Arc::new(super::view::View::new(
            aws.ecs.clone(),
            aws.elbv2.clone(),
            memo.clone(),
        ));
        Context {
            zones,
            view,
            memo,
            client,
            events,
            metrics,
            clock,
            settings,
            aws,
            analyzer,
            backoff: Backoff::default(),
            listeners: Mutex::default(),
            listener_certificates: Mutex::default(),
            issued: Mutex::default(),
            domains: Mutex::default(),
        }
    }

    /// Registers the Domain controller's cache of one watched scope, which the App controller
    /// reads instead of listing Domains on every reconcile.
    pub fn add_domain_store(&self, store: kube::runtime::reflector::Store<crate::api::Domain>) {
        self.domains
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(store);
    }

    /// The Domains of a namespace from the Domain controller's caches, once they have listed
    /// everything (an App must not drop a Domain's hostnames because a cache is still empty);
    /// `None` when no cache is registered (the caller lists them itself).
    pub async fn cached_domains(&self, namespace: &str) -> Option<Vec<Arc<crate::api::Domain>>> {
        let stores = self
            .domains
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if stores.is_empty() {
            return None;
        }
        let mut found = Vec::new();
        for store in stores {
            // A cache still listing (or stopped by a shutdown) is not waited for long: the
            // caller lists the Domains itself instead.
            match tokio::time::timeout(Duration::from_secs(2), store.wait_until_ready()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return None,
            }
            found.extend(
                store
                    .state()
                    .into_iter()
                    .filter(|d| d.metadata.namespace.as_deref() == Some(namespace)),
            );
        }
        Some(found)
    }

    /// DescribeCertificate, with an issued certificate remembered for a resync period: many
    /// Domains may share one (a wildcard), and an issued one changes rarely. One that is not
    /// issued yet is asked each time.
    pub async fn certificate(&self, arn: &str) -> AwsResult<Option<crate::aws::acm::Certificate>> {
        {
            let cache = self.issued.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((certificate, at)) = cache.get(arn)
                && at.elapsed() < self.settings.resync_period
            {
                return Ok(Some(certificate.clone()));
            }
        }
        let described = self.aws.acm.describe_certificate(arn).await?;
        let mut cache = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match &described {
            Some(c) if c.status == crate::aws::acm::CertificateStatus::Issued => {
                cache.insert(arn.to_string(), (c.clone(), std::time::Instant::now()));
            }
            _ => {
                cache.remove(arn);
            }
        }
        Ok(described)
    }

    /// The certificates on a listener, read at most once per resync period for all the Domains
    /// on it (and kept current with the operator's own changes).
    pub async fn listener_certificates(
        &self,
        listener_arn: &str,
    ) -> AwsResult<std::collections::BTreeSet<String>> {
        {
            let cache = self
                .listener_certificates
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((certificates, at)) = cache.get(listener_arn)
                && at.elapsed() < self.settings.resync_period
            {
                return Ok(certificates.clone());
            }
        }
        let certificates: std::collections::BTreeSet<String> = self
            .aws
            .elbv2
            .describe_listener_certificates(listener_arn)
            .await?
            .into_iter()
            .collect();
        self.listener_certificates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                listener_arn.to_string(),
                (certificates.clone(), std::time::Instant::now()),
            );
        Ok(certificates)
    }

    /// Records that the operator attached (`true`) or removed a certificate on a listener.
    pub fn listener_certificate_changed(&self, listener_arn: &str, certificate: &str, on: bool) {
        let mut cache = self
            .listener_certificates
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((certificates, _)) = cache.get_mut(listener_arn) {
            if on {
                certificates.insert(certificate.to_string());
            } else {
                certificates.remove(certificate);
            }
        }
    }

    /// A listener and its load balancer, from a short-lived cache; `None` when either is missing.
    pub async fn listener(&self, arn: &str) -> AwsResult<Option<(Listener, LoadBalancer)>> {
        {
            let cache = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((listener, lb, at)) = cache.get(arn)
                && at.elapsed() < LISTENER_TTL
            {
                return Ok(Some((listener.clone(), lb.clone())));
            }
        }
        let Some(listener) = self.aws.elbv2.describe_listener(arn).await? else {
            return Ok(None);
        };
        let Some(lb) = self
            .aws
            .elbv2
            .describe_load_balancer(&listener.load_balancer_arn)
            .await?
        else {
            return Ok(None);
        };
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                arn.to_string(),
                (listener.clone(), lb.clone(), std::time::Instant::now()),
            );
        Ok(Some((listener, lb)))
    }

    /// Publishes an Event; a failure to publish is logged, never fatal to the reconcile.
    pub async fn publish(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        self.announce(
            object,
            Notice {
                type_,
                reason,
                action,
                note,
                related: None,
            },
        )
        .await;
    }

    /// Publishes an Event that may name a related object; a failure to publish is logged, never
    /// fatal to the reconcile.
    pub async fn announce(&self, object: &ObjectReference, notice: Notice) {
        let reason = notice.reason;
        if let Err(error) = self.events.publish(object, notice).await {
            let error = super::describe_kube(&error);
            tracing::warn!(%error, reason, "could not publish Event");
        }
    }

    /// Reports an invalid spec as a Warning Event naming every problem.
    pub async fn invalid_spec(&self, object: &ObjectReference, problems: &[InvalidSpec]) {
        self.publish(
            object,
            EventType::Warning,
            crate::api::conditions::reason::INVALID_SPEC,
            "Validate",
            super::validate::describe(problems),
        )
        .await;
    }

    /// Delay before retrying an object whose reconcile failed, growing with consecutive failures.
    pub fn retry_delay(&self, key: &str, class: ErrorClass) -> Duration {
        self.backoff.next(key, class, rand::random::<f64>())
    }

    /// Consecutive failed reconciles of an object so far (0 after a success).
    pub fn failures(&self, key: &str) -> u32 {
        self.backoff.failures(key)
    }

    /// Forgets the failures of an object after a successful reconcile.
    pub fn reconciled(&self, key: &str) {
        self.backoff.reset(key);
    }
}

/// Consecutive failures per object, behind the exponential backoff of failed reconciles.
#[derive(Default)]
struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    fn next(&self, key: &str, class: ErrorClass, jitter: f64) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let attempt = failures.entry(key.to_string()).or_insert(0);
        *attempt = attempt.saturating_add(1);
        retry_delay(*attempt, class, jitter)
    }

    fn failures(&self, key: &str) -> u32 {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Delay before retry number `attempt` (1-based): transient errors back off exponentially from 1s
/// to 5 min with "equal jitter" (half fixed, half random), so many objects failing together
/// spread out; transitional ones retry every 15s; terminal ones wait 5 min (a spec change triggers
/// an immediate reconcile anyway). `jitter` is a random value in [0, 1).
pub fn retry_delay(attempt: u32, class: ErrorClass, jitter: f64) -> Duration {
    const CAP: Duration = Duration::from_secs(300);
    match class {
        ErrorClass::Terminal => CAP,
        ErrorClass::Transitional => Duration::from_secs(15),
        ErrorClass::Transient => {
            let exp = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(16));
            let ceiling = exp.min(CAP);
            let half = ceiling / 2;
            half + half.mul_f64(jitter.clamp(0.0, 1.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resyncs_spread_ten_percent_either_side() {
        let period = Duration::from_secs(300);
        assert_eq!(spread(period, 0.0), Duration::from_secs(270));
        assert_eq!(spread(period, 0.5), Duration::from_secs(300));
        assert!(spread(period, 0.999_999) < Duration::from_secs(330));
        assert!(spread(period, 0.999_999) > Duration::from_secs(329));
    }

    #[test]
    fn transient_delay_doubles_then_caps() {
        let d = |n| retry_delay(n, ErrorClass::Transient, 1.0);
        assert_eq!(d(1), Duration::from_secs(1));
        assert_eq!(d(2), Duration::from_secs(2));
        assert_eq!(d(5), Duration::from_secs(16));
        assert_eq!(d(30), Duration::from_secs(300));
    }

    #[test]
    fn jitter_spreads_retries_over_the_upper_half() {
        assert_eq!(
            retry_delay(4, ErrorClass::Transient, 0.0),
            Duration::from_secs(4)
        );
        assert_eq!(
            retry_delay(4, ErrorClass::Transient, 0.5),
            Duration::from_secs(6)
        );
    }

    #[test]
    fn backoff_grows_per_object_and_resets_after_success() {
        let backoff = Backoff::default();
        assert_eq!(
            backoff.next("a", ErrorClass::Transient, 1.0),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff.next("a", ErrorClass::Transient, 1.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff.next("b", ErrorClass::Transient, 1.0),
            Duration::from_secs(1)
        );
        backoff.reset("a");
        assert_eq!(
            backoff.next("a", ErrorClass::Transient, 1.0),
            Duration::from_secs(1)
        );
    }
}
