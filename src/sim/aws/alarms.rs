//! Simulated CloudWatch metric alarms: defined on the account with
//! [`super::AwsSim::put_metric_alarm`] (PutMetricAlarm on one metric: a name defines it anew),
//! kept with the world, and evaluated whenever DescribeAlarms asks, over the series GetMetricData
//! returns for the alarm's metric, statistic and period.
//!
//! The evaluation follows the User Guide ("Evaluating an alarm", "How alarm state is evaluated
//! when data is missing") for Datapoints to Alarm equal to Evaluation Periods (N) and missing
//! data treated as `missing`, the default:
//!
//! - the evaluation range is the last N + 2 whole periods before now (CloudWatch retrieves more
//!   periods than it evaluates; how many more is not documented), period boundaries on multiples
//!   of the period since the epoch; the period in progress is not evaluated;
//! - with at least N datapoints in the range, the newest N decide: ALARM when all N breach, else
//!   OK;
//! - with none, INSUFFICIENT_DATA;
//! - with fewer than N, OK when one of them does not breach (ALARM can no longer be reached),
//!   else INSUFFICIENT_DATA.
//!
//! `StateReason` is worded as CloudWatch words it, e.g. `Threshold Crossed: 1 datapoint [0.5
//! (01/12/26 10:00:00)] was greater than the threshold (0.05).` or `Insufficient Data: 1
//! datapoint was unknown.` (values printed as Java prints a double, timestamps as dd/MM/yy HH:mm:ss
//! UTC). Not modelled: M out of N alarms, other missing-data treatments, math expression,
//! anomaly detection and composite alarms, actions, alarm history, and CloudWatch's own
//! evaluation schedule (an alarm is evaluated when described, so its state is never stale).

use super::cloudwatch::parse_stat;
use super::world::{Fail, SimResult, World};
use crate::aws::cloudwatch::{AlarmState, AlarmStateValue, MetricQuery};
use jiff::Timestamp;

/// DescribeAlarms: at most 100 alarm names per request.
const MAX_NAMES: usize = 100;
/// Alarm names are 1-255 characters.
const MAX_NAME_LENGTH: usize = 255;
/// Periods retrieved beyond the evaluated ones.
const EXTRA_PERIODS: i64 = 2;
/// The number of evaluation periods times the period cannot exceed one day.
const MAX_EVALUATION_SECONDS: i64 = 24 * 60 * 60;

/// How an alarm compares its metric with its threshold (PutMetricAlarm's `ComparisonOperator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ComparisonOperator {
    /// Breaching when the value is at least the threshold.
    GreaterThanOrEqualToThreshold,
    /// Breaching when the value is above the threshold.
    GreaterThanThreshold,
    /// Breaching when the value is below the threshold.
    LessThanThreshold,
    /// Breaching when the value is at most the threshold.
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => value >= threshold,
            ComparisonOperator::GreaterThanThreshold => value > threshold,
            ComparisonOperator::LessThanThreshold => value < threshold,
            ComparisonOperator::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// The words of `StateReason`: "was greater than the threshold".
    fn words(self) -> &'static str {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => "greater than or equal to",
            ComparisonOperator::GreaterThanThreshold => "greater than",
            ComparisonOperator::LessThanThreshold => "less than",
            ComparisonOperator::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

/// A metric alarm on the simulated account: what PutMetricAlarm takes for an alarm on one metric
/// whose Datapoints to Alarm equal its Evaluation Periods and that treats missing data as
/// `missing`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricAlarm {
    /// The alarm's name (1-255 ASCII characters, unique in the account).
    pub name: String,
    /// The metric's namespace, e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// The metric's name, e.g. `HTTPCode_Target_5XX_Count`.
    pub metric_name: String,
    /// The metric's dimensions (name, value), in any order.
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount` or a percentile such as `p99`.
    pub statistic: String,
    /// Seconds per datapoint: 10, 20, 30 or a multiple of 60.
    pub period_seconds: i32,
    /// How many of the latest periods decide the state (all of them must breach for ALARM).
    pub evaluation_periods: u32,
    /// The value the statistic is compared with.
    pub threshold: f64,
    /// How it is compared.
    pub comparison: ComparisonOperator,
}

fn validation(message: impl Into<String>) -> Fail {
    Fail::invalid("ValidationError", message)
}

/// A double as Java prints it (CloudWatch's `StateReason` does): `0.5`, `600.0`, `1.0E-4`.
fn java_double(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 || (1e-3..1e7).contains(&magnitude) {
        return format!("{value:?}");
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    if mantissa.contains('.') {
        format!("{mantissa}E{exponent}")
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

/// `1 datapoint` or `3 datapoints`.
fn datapoints(n: usize) -> String {
    if n == 1 {
        "1 datapoint".to_owned()
    } else {
        format!("{n} datapoints")
    }
}

/// The sentence of a state decided by datapoints: `points` are the ones that decided it (newest
/// first), out of the `of` evaluated; `not` for those that do not breach.
fn threshold_crossed(
    alarm: &MetricAlarm,
    points: &[(Timestamp, f64)],
    of: usize,
    not: bool,
    minimum: usize,
    transition: &str,
) -> String {
    let list = points
        .iter()
        .map(|(t, v)| format!("{} ({})", java_double(*v), t.strftime("%d/%m/%y %H:%M:%S")))
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if points.len() == 1 { "was" } else { "were" };
    let words = format!(
        "{}{}",
        if not { "not " } else { "" },
        alarm.comparison.words()
    );
    let threshold = java_double(alarm.threshold);
    if of == 1 {
        format!(
            "Threshold Crossed: 1 datapoint [{list}] {verb} {words} the threshold ({threshold})."
        )
    } else {
        format!(
            "Threshold Crossed: {} out of the last {of} datapoints [{list}] {verb} {words} the threshold ({threshold}) (minimum {} for {transition} transition).",
            points.len(),
            datapoints(minimum)
        )
    }
}

impl World {
    /// PutMetricAlarm for one metric alarm: validated, then defined (replacing one of the same
    /// name).
    pub fn cw_put_metric_alarm(&mut self, alarm: MetricAlarm) -> SimResult<()> {
        // PutMetricAlarm: AlarmName 1-255 ASCII characters; Statistic or ExtendedStatistic;
        // Period 10, 20, 30 or a multiple of 60; EvaluationPeriods at least 1, and times Period
        // at most one day.
        if alarm.name.is_empty() || alarm.name.chars().count() > MAX_NAME_LENGTH {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'alarmName' failed to satisfy constraint: Member must have length between 1 and {MAX_NAME_LENGTH}",
                alarm.name
            )));
        }
        if !alarm.name.is_ascii() {
            return Err(validation(format!(
                "The alarm name {} must contain only ASCII characters.",
                alarm.name
            )));
        }
        if parse_stat(&alarm.statistic).is_none() {
            return Err(validation(format!(
                "The value {} for parameter Statistic is not a valid statistic.",
                alarm.statistic
            )));
        }
        let period = alarm.period_seconds;
        if !(matches!(period, 10 | 20 | 30) || (period >= 60 && period % 60 == 0)) {
            return Err(validation(format!(
                "The parameter Period must be 10, 20, 30 or a multiple of 60, but was {period}."
            )));
        }
        if alarm.evaluation_periods == 0 {
            return Err(validation(
                "1 validation error detected: Value '0' at 'evaluationPeriods' failed to satisfy constraint: Member must have value greater than or equal to 1",
            ));
        }
        if i64::from(period) * i64::from(alarm.evaluation_periods) > MAX_EVALUATION_SECONDS {
            return Err(validation(
                "The evaluation period of the alarm (Period times EvaluationPeriods) cannot exceed one day.",
            ));
        }
        if !alarm.threshold.is_finite() {
            return Err(validation(format!(
                "The value {} for parameter Threshold is not a number.",
                alarm.threshold
            )));
        }
        self.metrics.alarms.insert(alarm.name.clone(), alarm);
        Ok(())
    }

    /// DescribeAlarms for these metric alarm names (every alarm when there are none, as the API
    /// does), in name order, each evaluated now.
    pub fn cw_describe_alarms(&self, names: &[String]) -> SimResult<Vec<AlarmState>> {
        // DescribeAlarms: AlarmNames at most 100 members of 1-255 characters.
        if names.len() > MAX_NAMES {
            return Err(validation(format!(
                "1 validation error detected: Value '[{}]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to {MAX_NAMES}",
                names.join(", ")
            )));
        }
        if let Some((i, name)) = names
            .iter()
            .enumerate()
            .find(|(_, n)| n.is_empty() || n.chars().count() > MAX_NAME_LENGTH)
        {
            return Err(validation(format!(
                "1 validation error detected: Value '{name}' at 'alarmNames.{}.member' failed to satisfy constraint: Member must have length between 1 and {MAX_NAME_LENGTH}",
                i + 1
            )));
        }
        Ok(self
            .metrics
            .alarms
            .values()
            .filter(|alarm| names.is_empty() || names.contains(&alarm.name))
            .map(|alarm| self.alarm_state(alarm))
            .collect())
    }

    /// The alarm's state now (see the module docs).
    fn alarm_state(&self, alarm: &MetricAlarm) -> AlarmState {
        let n = alarm.evaluation_periods.max(1) as usize;
        let period = i64::from(alarm.period_seconds.max(1));
        let end = self.now.as_second().div_euclid(period) * period;
        let start = end - (n as i64 + EXTRA_PERIODS) * period;
        let query = MetricQuery {
            id: "alarm".to_owned(),
            namespace: alarm.namespace.clone(),
            metric_name: alarm.metric_name.clone(),
            dimensions: alarm.dimensions.clone(),
            stat: alarm.statistic.clone(),
            period_seconds: alarm.period_seconds,
        };
        let points: Vec<(Timestamp, f64)> = match (
            parse_stat(&alarm.statistic),
            Timestamp::from_second(start),
            Timestamp::from_second(end),
        ) {
            (Some(stat), Ok(start), Ok(end)) => {
                let series = self.series(&query, stat, start, end);
                series.timestamps.into_iter().zip(series.values).collect()
            }
            _ => Vec::new(),
        };
        let breaches = |(_, v): &&(Timestamp, f64)| alarm.comparison.breaches(*v, alarm.threshold);
        let (state, reason) = if points.len() >= n {
            let evaluated = &points[..n];
            let (breaching, within): (Vec<_>, Vec<_>) = evaluated.iter().partition(breaches);
            if breaching.len() == n {
                let reason = threshold_crossed(alarm, evaluated, n, false, n, "OK -> ALARM");
                (AlarmStateValue::Alarm, reason)
            } else {
                let within: Vec<_> = within.into_iter().copied().collect();
                let reason = threshold_crossed(alarm, &within, n, true, 1, "ALARM -> OK");
                (AlarmStateValue::Ok, reason)
            }
        } else {
            let within: Vec<_> = points.iter().filter(|p| !breaches(p)).copied().collect();
            if within.is_empty() {
                let unknown = n - points.len();
                let verb = if unknown == 1 { "was" } else { "were" };
                (
                    AlarmStateValue::InsufficientData,
                    format!("Insufficient Data: {} {verb} unknown.", datapoints(unknown)),
                )
            } else {
                let reason = threshold_crossed(alarm, &within, n, true, 1, "ALARM -> OK");
                (AlarmStateValue::Ok, reason)
            }
        };
        AlarmState {
            name: alarm.name.clone(),
            state,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_prints_them() {
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(600.0), "600.0");
        assert_eq!(java_double(0.05), "0.05");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(12_345_678.0), "1.2345678E7");
    }

    fn alarm(evaluation_periods: u32) -> MetricAlarm {
        MetricAlarm {
            name: "web-5xx".into(),
            namespace: "AWS/ApplicationELB".into(),
            metric_name: "HTTPCode_Target_5XX_Count".into(),
            dimensions: Vec::new(),
            statistic: "Sum".into(),
            period_seconds: 60,
            evaluation_periods,
            threshold: 0.05,
            comparison: ComparisonOperator::GreaterThanThreshold,
        }
    }

    fn at(minute: i64) -> Timestamp {
        // 2026-12-01T10:00:00Z
        Timestamp::from_second(1_796_119_200 + minute * 60).expect("valid")
    }

    #[test]
    fn one_breaching_datapoint_reads_as_cloudwatch_words_it() {
        assert_eq!(
            threshold_crossed(&alarm(1), &[(at(0), 0.5)], 1, false, 1, "OK -> ALARM"),
            "Threshold Crossed: 1 datapoint [0.5 (01/12/26 10:00:00)] was greater than the threshold (0.05)."
        );
    }

    #[test]
    fn several_datapoints_name_the_count_and_the_transition() {
        assert_eq!(
            threshold_crossed(
                &alarm(3),
                &[(at(2), 3.0), (at(1), 2.0), (at(0), 1.0)],
                3,
                false,
                3,
                "OK -> ALARM"
            ),
            "Threshold Crossed: 3 out of the last 3 datapoints [3.0 (01/12/26 10:02:00), 2.0 (01/12/26 10:01:00), 1.0 (01/12/26 10:00:00)] were greater than the threshold (0.05) (minimum 3 datapoints for OK -> ALARM transition)."
        );
        assert_eq!(
            threshold_crossed(&alarm(3), &[(at(1), 0.0)], 3, true, 1, "ALARM -> OK"),
            "Threshold Crossed: 1 out of the last 3 datapoints [0.0 (01/12/26 10:01:00)] was not greater than the threshold (0.05) (minimum 1 datapoint for ALARM -> OK transition)."
        );
    }
}
