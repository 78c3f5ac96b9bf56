//! The narrow Amazon CloudWatch interface analysis uses: GetMetricData over a time window (metric
//! queries and metric math expressions), and DescribeAlarms by name.

use super::AwsResult;
use async_trait::async_trait;

/// One metric to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricQuery {
    /// Query ID: lowercase letter first, then letters, digits and underscores.
    pub id: String,
    /// Namespace, e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// Metric name.
    pub metric_name: String,
    /// Dimensions (name, value).
    pub dimensions: Vec<(String, String)>,
    /// Statistic: `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount` or `pNN`.
    pub stat: String,
    /// Period in seconds.
    pub period_seconds: i32,
}

/// One entry of a GetMetricData request: a metric, or a metric math expression over the IDs of
/// other entries of the same request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataQuery {
    /// A metric; its datapoints are returned when `return_data` is set (an input of an
    /// expression usually is not).
    Metric {
        /// The metric.
        query: MetricQuery,
        /// Whether its datapoints are part of the answer.
        return_data: bool,
    },
    /// A metric math expression such as `100 * errors / requests`; its datapoints are returned.
    Expression {
        /// Query ID, as for a metric.
        id: String,
        /// The expression, over the IDs of other entries.
        expression: String,
        /// Period in seconds of the result.
        period_seconds: i32,
    },
}

impl DataQuery {
    /// The entry's ID.
    pub fn id(&self) -> &str {
        match self {
            DataQuery::Metric { query, .. } => &query.id,
            DataQuery::Expression { id, .. } => id,
        }
    }

    /// Whether the entry's datapoints are part of the answer.
    pub fn returns_data(&self) -> bool {
        match self {
            DataQuery::Metric { return_data, .. } => *return_data,
            DataQuery::Expression { .. } => true,
        }
    }
}

impl From<MetricQuery> for DataQuery {
    fn from(query: MetricQuery) -> Self {
        DataQuery::Metric {
            query,
            return_data: true,
        }
    }
}

/// The datapoints of one query, newest first (GetMetricData's default order).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSeries {
    /// Query ID.
    pub id: String,
    /// Values, newest first.
    pub values: Vec<f64>,
    /// Timestamps of the values.
    pub timestamps: Vec<jiff::Timestamp>,
}

/// The state of a CloudWatch alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmStateValue {
    /// The metric is within the alarm's threshold.
    Ok,
    /// The metric breached the threshold.
    Alarm,
    /// Not enough data to decide.
    InsufficientData,
}

/// One alarm, as DescribeAlarms reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmState {
    /// The alarm's name.
    pub name: String,
    /// Its state.
    pub state: AlarmStateValue,
    /// CloudWatch's explanation of the state (`StateReason`).
    pub reason: String,
}

/// Amazon CloudWatch, as far as the operator uses it.
#[async_trait]
pub trait CloudWatch: Send + Sync {
    /// GetMetricData for the queries over `[start, end)` (all pages): one series per entry that
    /// returns data, in the order of `queries`.
    async fn get_metric_data(
        &self,
        queries: &[DataQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> AwsResult<Vec<MetricSeries>>;

    /// DescribeAlarms for these metric alarm names (all pages); names that match no alarm are
    /// absent from the answer.
    async fn describe_alarms(&self, names: &[String]) -> AwsResult<Vec<AlarmState>>;
}
