//! The schedule and the verdicts of analysis, from the records kept in a Deployment's status and
//! nothing else: when each metric is next due, what a measurement concludes, where a metric
//! stands after it, and what a step's metrics (or the background metrics) say together. No I/O:
//! providers take the measurements; a restarted operator reads the same records and resumes the
//! schedule where it was, without repeating or skipping a measurement.

use crate::api::deployment::{AnalysisPhase, Measurement, MeasurementOutcome, MetricResult};
use crate::api::strategy::{Metric, Threshold};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

/// Measurements kept per metric in the status (the counts keep the totals).
pub const KEPT: usize = 10;
/// Provider errors in a row after which a measurement is inconclusive.
pub const ERROR_LIMIT: i32 = 3;
/// How soon a measurement whose provider failed is tried again.
pub const ERROR_RETRY: Duration = Duration::from_secs(10);

/// What a provider saw for one measurement.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// A number, judged against the metric's `successCondition`.
    Value {
        /// The value.
        value: f64,
        /// What it was computed from, e.g. `12 of 240 requests answered 5xx`.
        detail: String,
    },
    /// The provider's own verdict: a webhook's status code, an alarm's state.
    Verdict {
        /// Whether it passed.
        passed: bool,
        /// A value that came with it, if any.
        value: Option<f64>,
        /// What was seen, e.g. `HTTP 503` or `alarm web-5xx is ALARM: ...`.
        detail: String,
    },
    /// Nothing to judge: no data, too few requests, an alarm without data.
    Inconclusive(String),
    /// The provider could not be asked.
    Error(String),
}

/// A new record for a metric that starts now.
pub fn start(name: &str, step_index: Option<i32>, now: jiff::Timestamp) -> MetricResult {
    MetricResult {
        name: name.to_string(),
        step_index,
        phase: AnalysisPhase::Running,
        count: 0,
        failures: 0,
        last_value: None,
        last_measured_at: None,
        message: None,
        started_at: Some(Time(now)),
        consecutive_errors: 0,
        measurements: Vec::new(),
    }
}

/// When the metric is next measured; `None` once it needs no more measurements. A step metric
/// is done once it passed, failed or is inconclusive; a background metric measures until it
/// fails (an inconclusive one keeps measuring and recovers with a conclusive answer).
pub fn next_due(record: &MetricResult, metric: &Metric) -> Option<jiff::Timestamp> {
    let done = if background(record, metric) {
        record.phase == AnalysisPhase::Failed
    } else {
        record.phase != AnalysisPhase::Running
    };
    if done {
        return None;
    }
    let last = record
        .last_measured_at
        .as_ref()
        .or(record.started_at.as_ref())
        .map(|t| t.0)?;
    let wait = if record.consecutive_errors > 0 {
        ERROR_RETRY
    } else {
        interval(metric)
    };
    last.checked_add(jiff::SignedDuration::try_from(wait).ok()?)
        .ok()
}

/// Whether the record is of the metric running in the background (not of a step that names it:
/// a background metric may also be named by steps, and there it is a step metric).
fn background(record: &MetricResult, metric: &Metric) -> bool {
    metric.background && record.step_index.is_none()
}

/// The metric's interval between measurements.
pub fn interval(metric: &Metric) -> Duration {
    Duration::from_secs(u64::try_from(metric.interval_seconds.max(1)).unwrap_or(60))
}

/// Whether `value` is within `condition` (inclusive bounds).
pub fn within(value: f64, condition: &Threshold) -> bool {
    condition.min.is_none_or(|min| value >= min) && condition.max.is_none_or(|max| value <= max)
}

/// The bound `value` broke, as a phrase: `above max 0.05`.
fn broken_bound(value: f64, condition: &Threshold) -> String {
    match (condition.min, condition.max) {
        (_, Some(max)) if value > max => format!("above max {}", number(max)),
        (Some(min), _) if value < min => format!("below min {}", number(min)),
        _ => "outside the success condition".to_string(),
    }
}

/// A number as people read it: at most four decimals, no trailing zeros.
pub fn number(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Records one measurement in the metric's record and moves its phase: failed once more
/// measurements failed than `failureLimit` allows, inconclusive on an inconclusive measurement
/// (or after [`ERROR_LIMIT`] errors in a row), successful once `count` measurements were taken
/// (step metrics only), running otherwise.
pub fn record(
    record: &mut MetricResult,
    metric: &Metric,
    observation: Observation,
    now: jiff::Timestamp,
) -> MeasurementOutcome {
    let name = &metric.name;
    let (outcome, value, message) = match observation {
        Observation::Value { value, detail } => match &metric.success_condition {
            Some(condition) if !within(value, condition) => (
                MeasurementOutcome::Failed,
                Some(value),
                format!(
                    "{name} measured {} ({detail}), {}",
                    number(value),
                    broken_bound(value, condition)
                ),
            ),
            _ => (
                MeasurementOutcome::Passed,
                Some(value),
                format!("{name} measured {} ({detail})", number(value)),
            ),
        },
        Observation::Verdict {
            passed,
            value,
            detail,
        } => {
            let broke = value
                .zip(metric.success_condition.as_ref())
                .and_then(|(v, c)| {
                    (!within(v, c)).then(|| {
                        format!(
                            "{name} measured {} ({detail}), {}",
                            number(v),
                            broken_bound(v, c)
                        )
                    })
                });
            match (passed, broke) {
                (true, None) => (
                    MeasurementOutcome::Passed,
                    value,
                    match value {
                        Some(v) => format!("{name} measured {} ({detail})", number(v)),
                        None => format!("{name}: {detail}"),
                    },
                ),
                (true, Some(broke)) => (MeasurementOutcome::Failed, value, broke),
                (false, _) => (
                    MeasurementOutcome::Failed,
                    value,
                    format!("{name}: {detail}"),
                ),
            }
        }
        Observation::Inconclusive(why) => (
            MeasurementOutcome::Inconclusive,
            None,
            format!("{name}: {why}"),
        ),
        Observation::Error(why) => {
            record.consecutive_errors += 1;
            if record.consecutive_errors >= ERROR_LIMIT {
                (
                    MeasurementOutcome::Inconclusive,
                    None,
                    format!(
                        "{name}: {why} ({} attempts in a row failed)",
                        record.consecutive_errors
                    ),
                )
            } else {
                (MeasurementOutcome::Error, None, format!("{name}: {why}"))
            }
        }
    };
    if outcome != MeasurementOutcome::Error {
        record.consecutive_errors = 0;
    }
    record.last_measured_at = Some(Time(now));
    if value.is_some() {
        record.last_value = value;
    }
    record.measurements.push(Measurement {
        at: Time(now),
        outcome,
        value,
        message: Some(message.clone()),
    });
    if record.measurements.len() > KEPT {
        let extra = record.measurements.len() - KEPT;
        record.measurements.drain(..extra);
    }
    match outcome {
        MeasurementOutcome::Passed => record.count += 1,
        MeasurementOutcome::Failed => {
            record.count += 1;
            record.failures += 1;
            record.message = Some(message);
        }
        MeasurementOutcome::Inconclusive => record.message = Some(message),
        MeasurementOutcome::Error => {}
    }
    record.phase = if record.failures > metric.failure_limit {
        AnalysisPhase::Failed
    } else if outcome == MeasurementOutcome::Inconclusive {
        AnalysisPhase::Inconclusive
    } else if !background(record, metric) && record.count >= metric.count {
        AnalysisPhase::Successful
    } else if outcome == MeasurementOutcome::Error {
        record.phase
    } else {
        AnalysisPhase::Running
    };
    if record.phase == AnalysisPhase::Successful {
        record.message = None;
    }
    outcome
}

/// What a set of metrics says together.
#[derive(Clone, Debug, PartialEq)]
pub enum Standing {
    /// Every metric passed.
    Passed,
    /// A metric failed, with the sentence that says which, its value and the bound it broke.
    Failed(String),
    /// A metric is inconclusive (and none failed), with why.
    Inconclusive(String),
    /// Still measuring: the next measurement is due then.
    Running(Option<jiff::Timestamp>),
}

/// The standing of `metrics`, whose records are `records` (a metric without a record has not
/// started).
pub fn standing(metrics: &[&Metric], records: &[&MetricResult]) -> Standing {
    let find = |m: &Metric| records.iter().find(|r| r.name == m.name).copied();
    if let Some(r) = records.iter().find(|r| r.phase == AnalysisPhase::Failed) {
        let why = r
            .message
            .clone()
            .unwrap_or_else(|| format!("{} failed", r.name));
        return Standing::Failed(why);
    }
    if let Some(r) = records
        .iter()
        .find(|r| r.phase == AnalysisPhase::Inconclusive)
    {
        let why = r
            .message
            .clone()
            .unwrap_or_else(|| format!("{} is inconclusive", r.name));
        return Standing::Inconclusive(why);
    }
    if !metrics.is_empty()
        && metrics
            .iter()
            .all(|m| find(m).is_some_and(|r| r.phase == AnalysisPhase::Successful))
    {
        return Standing::Passed;
    }
    let next = metrics
        .iter()
        .filter_map(|m| find(m).and_then(|r| next_due(r, m)))
        .min();
    Standing::Running(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(count: i32, failure_limit: i32, max: f64) -> Metric {
        serde_json::from_value(serde_json::json!({
            "name": "error-rate",
            "intervalSeconds": 30,
            "count": count,
            "failureLimit": failure_limit,
            "successCondition": {"max": max},
            "cloudWatch": {"preset": "ErrorRate"},
        }))
        .expect("metric")
    }

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("time")
    }

    fn value(v: f64) -> Observation {
        Observation::Value {
            value: v,
            detail: "test".to_string(),
        }
    }

    #[test]
    fn the_first_measurement_is_due_one_interval_after_the_start() {
        let m = metric(3, 0, 0.05);
        let r = start("error-rate", Some(2), at(0));
        assert_eq!(next_due(&r, &m), Some(at(30)));
    }

    #[test]
    fn count_measurements_within_the_failure_limit_pass() {
        let m = metric(3, 1, 0.05);
        let mut r = start("error-rate", Some(2), at(0));
        assert_eq!(
            record(&mut r, &m, value(0.01), at(30)),
            MeasurementOutcome::Passed
        );
        assert_eq!(r.phase, AnalysisPhase::Running);
        assert_eq!(next_due(&r, &m), Some(at(60)));
        assert_eq!(
            record(&mut r, &m, value(0.2), at(60)),
            MeasurementOutcome::Failed
        );
        assert_eq!(r.phase, AnalysisPhase::Running, "one failure is tolerated");
        record(&mut r, &m, value(0.0), at(90));
        assert_eq!(r.phase, AnalysisPhase::Successful);
        assert_eq!((r.count, r.failures), (3, 1));
        assert_eq!(next_due(&r, &m), None);
        assert_eq!(standing(&[&m], &[&r]), Standing::Passed);
    }

    #[test]
    fn one_failure_more_than_the_limit_fails_at_once_naming_the_value_and_the_bound() {
        let m = metric(5, 0, 0.05);
        let mut r = start("error-rate", Some(2), at(0));
        record(&mut r, &m, value(0.5), at(30));
        assert_eq!(r.phase, AnalysisPhase::Failed);
        assert_eq!(
            standing(&[&m], &[&r]),
            Standing::Failed("error-rate measured 0.5 (test), above max 0.05".to_string())
        );
    }

    #[test]
    fn an_inconclusive_measurement_makes_the_metric_inconclusive() {
        let m = metric(5, 0, 0.05);
        let mut r = start("error-rate", Some(2), at(0));
        record(
            &mut r,
            &m,
            Observation::Inconclusive("no data".to_string()),
            at(30),
        );
        assert_eq!(r.phase, AnalysisPhase::Inconclusive);
        assert_eq!(r.count, 0, "it is not a measurement that counts");
        assert_eq!(
            standing(&[&m], &[&r]),
            Standing::Inconclusive("error-rate: no data".to_string())
        );
    }

    #[test]
    fn provider_errors_are_retried_then_inconclusive() {
        let m = metric(5, 0, 0.05);
        let mut r = start("error-rate", Some(2), at(0));
        let error = || Observation::Error("Throttling".to_string());
        assert_eq!(
            record(&mut r, &m, error(), at(30)),
            MeasurementOutcome::Error
        );
        assert_eq!(r.phase, AnalysisPhase::Running);
        assert_eq!(
            next_due(&r, &m),
            Some(at(40)),
            "retried soon, not a full interval later"
        );
        record(&mut r, &m, error(), at(40));
        assert_eq!(r.phase, AnalysisPhase::Running);
        assert_eq!(
            record(&mut r, &m, error(), at(50)),
            MeasurementOutcome::Inconclusive
        );
        assert_eq!(r.phase, AnalysisPhase::Inconclusive);
        assert!(
            r.message.as_deref().unwrap().contains("3 attempts"),
            "{r:?}"
        );
    }

    #[test]
    fn an_error_then_an_answer_resets_the_error_count() {
        let m = metric(5, 0, 0.05);
        let mut r = start("error-rate", Some(2), at(0));
        record(&mut r, &m, Observation::Error("x".to_string()), at(30));
        record(&mut r, &m, value(0.0), at(40));
        assert_eq!(r.consecutive_errors, 0);
        assert_eq!(next_due(&r, &m), Some(at(70)));
    }

    #[test]
    fn only_the_latest_measurements_are_kept_and_the_counts_keep_the_totals() {
        let mut m = metric(100, 0, 0.05);
        m.background = true;
        let mut r = start("error-rate", None, at(0));
        for i in 1..=25 {
            record(&mut r, &m, value(0.0), at(30 * i));
        }
        assert_eq!(r.measurements.len(), KEPT);
        assert_eq!(r.count, 25);
        assert_eq!(r.measurements.last().unwrap().at, Time(at(750)));
    }

    #[test]
    fn a_background_metric_keeps_measuring_and_recovers_from_inconclusive() {
        let mut m = metric(1, 0, 0.05);
        m.background = true;
        let mut r = start("error-rate", None, at(0));
        record(&mut r, &m, value(0.0), at(30));
        assert_eq!(r.phase, AnalysisPhase::Running, "count does not end it");
        record(
            &mut r,
            &m,
            Observation::Inconclusive("no data".to_string()),
            at(60),
        );
        assert_eq!(r.phase, AnalysisPhase::Inconclusive);
        assert_eq!(next_due(&r, &m), Some(at(90)));
        record(&mut r, &m, value(0.0), at(90));
        assert_eq!(r.phase, AnalysisPhase::Running);
        record(&mut r, &m, value(0.9), at(120));
        assert_eq!(r.phase, AnalysisPhase::Failed);
        assert_eq!(next_due(&r, &m), None);
    }

    #[test]
    fn a_background_metric_named_by_a_step_is_a_step_metric_there() {
        let mut m = metric(1, 0, 0.05);
        m.background = true;
        let mut r = start("error-rate", Some(1), at(0));
        record(&mut r, &m, value(0.0), at(30));
        assert_eq!(r.phase, AnalysisPhase::Successful);
        assert_eq!(next_due(&r, &m), None);
    }

    #[test]
    fn a_webhook_verdict_with_a_value_is_held_against_the_condition() {
        let m = metric(1, 0, 10.0);
        let mut r = start("error-rate", Some(1), at(0));
        let seen = Observation::Verdict {
            passed: true,
            value: Some(12.0),
            detail: "HTTP 200".to_string(),
        };
        assert_eq!(record(&mut r, &m, seen, at(30)), MeasurementOutcome::Failed);
        assert_eq!(
            r.message.as_deref(),
            Some("error-rate measured 12 (HTTP 200), above max 10")
        );
    }

    #[test]
    fn the_standing_of_unfinished_metrics_is_the_earliest_next_measurement() {
        let a = metric(3, 0, 0.05);
        let mut b = metric(3, 0, 0.05);
        b.name = "latency".to_string();
        b.interval_seconds = 10;
        let ra = start("error-rate", Some(1), at(0));
        let rb = start("latency", Some(1), at(5));
        assert_eq!(
            standing(&[&a, &b], &[&ra, &rb]),
            Standing::Running(Some(at(15)))
        );
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.123456), "0.1235");
        assert_eq!(number(0.0), "0");
    }
}
