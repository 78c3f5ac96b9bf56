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

/// The operator's metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// Reconciles started, by kind.
    pub reconciles: Family<ReconcileLabels, Counter>,
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
    phases: std::sync::Mutex<std::collections::HashMap<String, RolloutLabels>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cygni");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
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
        registry.register("reconciles", "Reconciles started", reconciles.clone());
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
            failures,
            duration,
            leader,
            rollout_transitions,
            rollouts,
            rollout_steps,
            phases: std::sync::Mutex::default(),
        }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
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

    /// Records that the rollout `key` (of `strategy`) is in `phase` now.
    pub fn rollout_phase(&self, key: &str, strategy: &str, phase: &str) {
        let labels = RolloutLabels {
            strategy: strategy.to_string(),
            phase: phase.to_string(),
        };
        let mut phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = phases.insert(key.to_string(), labels.clone()) {
            if previous == labels {
                return;
            }
            self.rollouts.get_or_create(&previous).dec();
        }
        self.rollouts.get_or_create(&labels).inc();
    }

    /// Counts a rollout entering `phase`.
    pub fn rollout_transition(&self, strategy: &str, phase: &str) {
        self.rollout_transitions
            .get_or_create(&RolloutLabels {
                strategy: strategy.to_string(),
                phase: phase.to_string(),
            })
            .inc();
    }

    /// Records how long a completed step took.
    pub fn rollout_step(&self, strategy: &str, step: &str, took: std::time::Duration) {
        self.rollout_steps
            .get_or_create(&StepLabels {
                strategy: strategy.to_string(),
                step: step.to_string(),
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
        metrics.rollout_phase("Deployment/shop/web-2", "canary", "Progressing");
        metrics.rollout_phase("Deployment/shop/web-2", "canary", "Progressing");
        metrics.rollout_phase("Deployment/shop/api-5", "canary", "Progressing");
        metrics.rollout_phase("Deployment/shop/web-2", "canary", "Aborted");
        metrics.rollout_transition("canary", "Aborted");
        metrics.rollout_step("canary", "setWeight", std::time::Duration::from_secs(12));
        let text = metrics.render();
        assert!(
            text.contains(r#"cygni_rollouts{strategy="canary",phase="Progressing"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"cygni_rollouts{strategy="canary",phase="Aborted"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cygni_rollout_transitions_total{strategy="canary",phase="Aborted"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"cygni_rollout_step_duration_seconds_count{strategy="canary",step="setWeight"} 1"#
            ),
            "{text}"
        );
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
