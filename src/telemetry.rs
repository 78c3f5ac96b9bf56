//! Observability: log setup (text or JSON), the Prometheus metrics the controllers record, and the
//! HTTP server that exposes `/metrics`, `/healthz` and `/readyz`.

use crate::config::LogFormat;
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge, histogram::Histogram,
};
use prometheus_client::registry::Registry;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::{EnvFilter, fmt};

/// Log filter when `RUST_LOG` is unset. kube's client logs every failed request at error level;
/// the operator reports those failures itself (startup error, reconcile warnings), so they are muted.
const DEFAULT_FILTER: &str = "info,kube_client::client::builder=off";

/// Installs the global log subscriber. The level comes from `RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // Colours only for a person at a terminal: a log file or a log pipeline gets plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    // A second init (tests, embedded use) keeps the first subscriber; that is the intended outcome.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Labels of a reconcile metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// Resource kind (`App`, `Deployment`, `Domain`).
    pub kind: String,
}

/// Labels of a failed reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// Resource kind.
    pub kind: String,
    /// Error label, e.g. `kube_api` or `invalid_spec`.
    pub error: String,
    /// Error class: `terminal`, `transitional` or `transient`.
    pub class: String,
}

/// Labels of a rollout metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    /// `rolling`, `canary` or `blueGreen`.
    pub strategy: String,
    /// The Deployment phase, e.g. `Progressing` or `Aborted`.
    pub phase: String,
}

/// Labels of a rollout step duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// `canary` or `blueGreen`.
    pub strategy: String,
    /// The step's kind, e.g. `setWeight`, `pause`, `analysis`.
    pub step: String,
}

/// Labels of an analysis measurement.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MeasurementLabels {
    /// `cloudWatch`, `cloudWatchAlarm` or `webhook`.
    pub provider: String,
    /// `passed`, `failed`, `inconclusive` or `error`.
    pub outcome: String,
}

/// Labels of an analysis verdict.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// `passed`, `failed`, `inconclusive` or `recovered`.
    pub verdict: String,
}

/// Labels of an AWS call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    /// `ecs`, `elbv2`, `route53`, `acm` or `cloudwatch`.
    pub service: String,
    /// The AWS operation, e.g. `DescribeServices`.
    pub operation: String,
    /// `ok`, or the kind of failure after the client's retries, e.g. `throttling`.
    pub outcome: String,
}

/// Labels of an AWS call duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsServiceLabels {
    /// `ecs`, `elbv2`, `route53`, `acm` or `cloudwatch`.
    pub service: String,
}

/// The operator's metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// Reconciles started, by kind.
    pub reconciles: Family<ReconcileLabels, Counter>,
    /// Reconciles that returned at once, before any read: nothing they depend on had changed and
    /// they were not due (the App's own status writes, for one).
    pub reconciles_skipped: Family<ReconcileLabels, Counter>,
    /// Reconciles that ended in an error, by kind, error and class.
    pub failures: Family<FailureLabels, Counter>,
    /// Reconcile duration in seconds, by kind.
    pub duration: Family<ReconcileLabels, Histogram>,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// Rollouts that entered each phase (the terminal ones are the outcomes: `Succeeded`,
    /// `Failed`, `Aborted`, `Superseded`), by strategy.
    pub rollout_transitions: Family<RolloutLabels, Counter>,
    /// Rollouts in each phase now, by strategy.
    pub rollouts: Family<RolloutLabels, Gauge>,
    /// How long completed rollout steps took, by strategy and kind of step.
    pub rollout_steps: Family<StepLabels, Histogram>,
    /// Analysis measurements taken, by provider and outcome.
    pub analysis_measurements: Family<MeasurementLabels, Counter>,
    /// Metrics that reached a verdict, by verdict.
    pub analysis_verdicts: Family<VerdictLabels, Counter>,
    /// AWS calls the controllers made, by service, operation and outcome.
    pub aws_calls: Family<AwsCallLabels, Counter>,
    /// AWS call duration in seconds (retries and client-side rate limiting included), by service.
    pub aws_call_duration: Family<AwsServiceLabels, Histogram>,
    /// Per rollout: the phase and the last step already counted, so a decision made again from a
    /// cached, older status is not counted twice.
    seen: std::sync::Mutex<std::collections::HashMap<String, Seen>>,
    census: std::sync::Mutex<Option<Census>>,
    counted: std::sync::Mutex<std::collections::HashSet<RolloutLabels>>,
}

/// What the metrics last recorded of one rollout.
#[derive(Clone, Debug)]
struct Seen {
    phase: String,
    last_step: Option<usize>,
}

/// Lists every rollout the operator knows (key and labels), read when the metrics are rendered.
type Census = Box<dyn Fn() -> Vec<(String, RolloutLabels)> + Send + Sync>;

/// A step of a rollout that completed, for [`Metrics::rollout_progress`].
#[derive(Clone, Debug)]
pub struct StepDone<'a> {
    /// Index of the step.
    pub index: usize,
    /// Its kind, e.g. `setWeight`.
    pub kind: &'a str,
    /// How long it took.
    pub took: std::time::Duration,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cygni");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let reconciles_skipped = Family::<ReconcileLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let duration = Family::<ReconcileLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        });
        let leader = Gauge::default();
        let rollout_transitions = Family::<RolloutLabels, Counter>::default();
        let rollouts = Family::<RolloutLabels, Gauge>::default();
        let rollout_steps = Family::<StepLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
            ])
        });
        registry.register(
            "rollout_transitions",
            "Rollouts that entered a phase; the terminal phases are the outcomes",
            rollout_transitions.clone(),
        );
        registry.register("rollouts", "Rollouts in each phase", rollouts.clone());
        registry.register(
            "rollout_step_duration_seconds",
            "How long completed rollout steps took",
            rollout_steps.clone(),
        );
        let analysis_measurements = Family::<MeasurementLabels, Counter>::default();
        let analysis_verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "analysis_measurements",
            "Analysis measurements taken, by provider and outcome",
            analysis_measurements.clone(),
        );
        registry.register(
            "analysis_verdicts",
            "Analysis metrics that reached a verdict",
            analysis_verdicts.clone(),
        );
        let aws_calls = Family::<AwsCallLabels, Counter>::default();
        let aws_call_duration = Family::<AwsServiceLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
        });
        registry.register(
            "aws_calls",
            "AWS calls, by service, operation and outcome after the client's retries",
            aws_calls.clone(),
        );
        registry.register(
            "aws_call_duration_seconds",
            "AWS call duration, retries and client-side rate limiting included",
            aws_call_duration.clone(),
        );
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconciles_skipped",
            "Reconciles that returned before any read: nothing they depend on had changed",
            reconciles_skipped.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciles that failed",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica is the leader",
            leader.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconciles_skipped,
            failures,
            duration,
            leader,
            rollout_transitions,
            rollouts,
            rollout_steps,
            analysis_measurements,
            analysis_verdicts,
            aws_calls,
            aws_call_duration,
            seen: std::sync::Mutex::default(),
            census: std::sync::Mutex::default(),
            counted: std::sync::Mutex::default(),
        }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.take_census();
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a reconcile that returned before any read.
    pub fn reconcile_skipped(&self, kind: &str) {
        self.reconciles_skipped
            .get_or_create(&ReconcileLabels {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts a reconcile start and returns a guard that records its duration when dropped.
    pub fn reconcile_started(&self, kind: &str) -> ReconcileTimer<'_> {
        let labels = ReconcileLabels {
            kind: kind.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer {
            metrics: self,
            labels,
            start: std::time::Instant::now(),
        }
    }

    /// Counts one analysis measurement.
    pub fn analysis_measured(&self, provider: &str, outcome: &str) {
        self.analysis_measurements
            .get_or_create(&MeasurementLabels {
                provider: provider.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts a metric's verdict, from the reason of its Event (`AnalysisPassed`, ...).
    pub fn analysis_verdict(&self, reason: &str) {
        let verdict = reason
            .strip_prefix("Analysis")
            .unwrap_or(reason)
            .to_ascii_lowercase();
        self.analysis_verdicts
            .get_or_create(&VerdictLabels { verdict })
            .inc();
    }

    /// Records a rollout decision: the rollout `key` (of `strategy`) went from phase `before` to
    /// `after` and completed `steps`. A phase entered is counted once per rollout even when the
    /// same decision is made twice (from a cached status older than the last write), and so is
    /// a step.
    pub fn rollout_progress(
        &self,
        key: &str,
        strategy: &str,
        before: &str,
        after: &str,
        steps: &[StepDone<'_>],
    ) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entry = seen.get(key).cloned();
        let entered = match &entry {
            Some(previous) => previous.phase != after,
            None => before != after,
        };
        if entered {
            self.rollout_transitions
                .get_or_create(&RolloutLabels {
                    strategy: strategy.to_string(),
                    phase: after.to_string(),
                })
                .inc();
        }
        let mut last_step = entry.and_then(|e| e.last_step);
        for step in steps {
            if last_step.is_some_and(|last| step.index <= last) {
                continue;
            }
            self.rollout_steps
                .get_or_create(&StepLabels {
                    strategy: strategy.to_string(),
                    step: step.kind.to_string(),
                })
                .observe(step.took.as_secs_f64());
            last_step = Some(step.index);
        }
        seen.insert(
            key.to_string(),
            Seen {
                phase: after.to_string(),
                last_step,
            },
        );
    }

    /// Makes `cygni_rollouts` count what `census` lists each time the metrics are rendered, so
    /// rollouts deleted with their App leave the gauge too. It replaces the census given before
    /// (controllers started again after a lost leadership bring their own).
    pub fn count_rollouts_with(
        &self,
        census: impl Fn() -> Vec<(String, RolloutLabels)> + Send + Sync + 'static,
    ) {
        *self.census.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(census));
    }

    /// Sets `cygni_rollouts` from the census and forgets rollouts that no longer exist.
    fn take_census(&self) {
        let census = self.census.lock().unwrap_or_else(|e| e.into_inner());
        let Some(census) = census.as_ref() else {
            return;
        };
        let mut counts = std::collections::HashMap::<RolloutLabels, i64>::new();
        let mut keys = std::collections::HashSet::new();
        for (key, labels) in census() {
            *counts.entry(labels).or_default() += 1;
            keys.insert(key);
        }
        let mut counted = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        for labels in counted.iter() {
            if !counts.contains_key(labels) {
                self.rollouts.get_or_create(labels).set(0);
            }
        }
        for (labels, n) in &counts {
            self.rollouts.get_or_create(labels).set(*n);
            counted.insert(labels.clone());
        }
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|key, _| keys.contains(key));
    }

    /// Counts one AWS call of `operation` on `service` that failed with `failure` (`None`: it
    /// succeeded) and took `took`.
    pub fn aws_call(
        &self,
        service: &str,
        operation: &str,
        failure: Option<crate::aws::AwsErrorKind>,
        took: std::time::Duration,
    ) {
        self.aws_calls
            .get_or_create(&AwsCallLabels {
                service: service.to_string(),
                operation: operation.to_string(),
                outcome: failure.map_or("ok", |kind| kind.as_str()).to_string(),
            })
            .inc();
        self.aws_call_duration
            .get_or_create(&AwsServiceLabels {
                service: service.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, kind: &str, error: &str, class: &str) {
        self.failures
            .get_or_create(&FailureLabels {
                kind: kind.to_string(),
                error: error.to_string(),
                class: class.to_string(),
            })
            .inc();
    }
}

/// Records a reconcile's duration when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    labels: ReconcileLabels,
    start: std::time::Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&self.labels)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// What the health endpoints report.
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
}

impl Health {
    /// Marks the process ready: it reached the API server and its controllers (or its wait for the
    /// Lease) are running.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Endpoints {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// The router behind `--listen-addr`.
pub fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(serve_ready))
        .with_state(Endpoints { metrics, health })
}

async fn serve_metrics(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        endpoints.metrics.render(),
    )
}

async fn serve_ready(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    if endpoints.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_exported_with_kind_error_and_class() {
        let metrics = Metrics::default();
        metrics.reconcile_failed("App", "kube_api", "transient");
        let text = metrics.render();
        assert!(
            text.contains(
                r#"cygni_reconcile_failures_total{kind="App",error="kube_api",class="transient"} 1"#
            ),
            "{text}"
        );
    }

    #[test]
    fn rollouts_are_counted_in_the_phase_they_are_in() {
        let metrics = Metrics::default();
        let rollouts = std::sync::Arc::new(std::sync::Mutex::new(vec![
            ("Deployment/shop/web-2", "Progressing"),
            ("Deployment/shop/api-5", "Progressing"),
        ]));
        let listed = rollouts.clone();
        metrics.count_rollouts_with(move || {
            listed
                .lock()
                .expect("list")
                .iter()
                .map(|(key, phase)| {
                    (
                        key.to_string(),
                        RolloutLabels {
                            strategy: "canary".into(),
                            phase: phase.to_string(),
                        },
                    )
                })
                .collect()
        });
        let text = metrics.render();
        assert!(
            text.contains(r#"cygni_rollouts{strategy="canary",phase="Progressing"} 2"#),
            "{text}"
        );
        *rollouts.lock().expect("list") = vec![("Deployment/shop/web-2", "Aborted")];
        let text = metrics.render();
        assert!(
            text.contains(r#"cygni_rollouts{strategy="canary",phase="Progressing"} 0"#),
            "a deleted rollout leaves the gauge: {text}"
        );
        assert!(
            text.contains(r#"cygni_rollouts{strategy="canary",phase="Aborted"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_decision_made_again_from_an_older_status_is_counted_once() {
        let metrics = Metrics::default();
        let step = |index| StepDone {
            index,
            kind: "setWeight",
            took: std::time::Duration::from_secs(12),
        };
        let key = "Deployment/shop/web-2";
        metrics.rollout_progress(key, "canary", "Pending", "Progressing", &[step(0)]);
        // The same decision from the cached status the first write replaced.
        metrics.rollout_progress(key, "canary", "Pending", "Progressing", &[step(0)]);
        metrics.rollout_progress(key, "canary", "Progressing", "Aborted", &[]);
        metrics.rollout_progress(key, "canary", "Progressing", "Aborted", &[]);
        let text = metrics.render();
        for line in [
            r#"cygni_rollout_transitions_total{strategy="canary",phase="Progressing"} 1"#,
            r#"cygni_rollout_transitions_total{strategy="canary",phase="Aborted"} 1"#,
            r#"cygni_rollout_step_duration_seconds_count{strategy="canary",step="setWeight"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn a_reconcile_counts_and_records_its_duration() {
        let metrics = Metrics::default();
        drop(metrics.reconcile_started("Domain"));
        let text = metrics.render();
        assert!(
            text.contains(r#"cygni_reconciles_total{kind="Domain"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cygni_reconcile_duration_seconds_count{kind="Domain"} 1"#),
            "{text}"
        );
    }
}
