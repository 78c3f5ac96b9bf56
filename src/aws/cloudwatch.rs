//! The narrow Amazon CloudWatch interface analysis uses: GetMetricData over a time window.

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

/// Amazon CloudWatch, as far as the operator uses it.
#[async_trait]
pub trait CloudWatch: Send + Sync {
    /// GetMetricData for the queries over `[start, end)` (all pages).
    async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> AwsResult<Vec<MetricSeries>>;
}
