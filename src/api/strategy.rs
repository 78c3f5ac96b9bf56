//! How a new revision reaches users (`rolling`, `canary`, `blueGreen`) and how it is judged
//! (`analysis`). Shared by `App` (what the user asks for) and `Deployment` (the frozen snapshot).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a new revision is rolled out. Set exactly one of `rolling`, `canary` or `blueGreen`;
/// when `strategy` is omitted, `rolling` with its defaults is used.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "(has(self.rolling) ? 1 : 0) + (has(self.canary) ? 1 : 0) + (has(self.blueGreen) ? 1 : 0) == 1"
).message("set exactly one of rolling, canary or blueGreen"))]
pub struct Strategy {
    /// Update the serving ECS service in place; ECS replaces tasks and its deployment circuit breaker
    /// rolls back a revision whose tasks do not become healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling: Option<RollingStrategy>,
    /// Start the new revision in the idle slot and move traffic to it in steps, with pauses and
    /// analysis between them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    /// Start the new revision in the idle slot at full size, then switch all traffic at once after
    /// (optional) analysis and promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
    /// Seconds a canary or blue-green step that waits on AWS (tasks becoming healthy, a weight
    /// being read back from the listener) may take; past it the rollout fails and all traffic
    /// returns to the stable revision. Pauses, promotion and analysis are not bound by it.
    #[serde(default = "default_progress_deadline")]
    #[schemars(range(min = 30, max = 86400))]
    pub progress_deadline_seconds: i32,
}

fn default_progress_deadline() -> i32 {
    600
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy {
            rolling: Some(RollingStrategy::default()),
            canary: None,
            blue_green: None,
            progress_deadline_seconds: default_progress_deadline(),
        }
    }
}

/// The kind of strategy, for code that only needs to branch on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyKind {
    /// In-place ECS rolling update.
    Rolling,
    /// Stepwise traffic shifting to the idle slot.
    Canary,
    /// Full-size idle slot, then one switch.
    BlueGreen,
}

impl Strategy {
    /// Which strategy is set. A spec that passed the CRD schema has exactly one; should none be set,
    /// rolling is the documented default.
    pub fn kind(&self) -> StrategyKind {
        if self.canary.is_some() {
            StrategyKind::Canary
        } else if self.blue_green.is_some() {
            StrategyKind::BlueGreen
        } else {
            StrategyKind::Rolling
        }
    }
}

/// ECS rolling update settings (the service's deployment configuration).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.maxPercent >= 100 && self.maxPercent > self.minHealthyPercent")
    .message("maxPercent must be at least 100 and greater than minHealthyPercent, or ECS cannot replace tasks"))]
pub struct RollingStrategy {
    /// Lowest share of `replicas`, in percent, that must stay running and healthy during the update.
    #[serde(default = "default_min_healthy_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub min_healthy_percent: i32,
    /// Highest share of `replicas`, in percent, that may run during the update (old and new tasks).
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 100, max = 200))]
    pub max_percent: i32,
}

impl Default for RollingStrategy {
    fn default() -> Self {
        RollingStrategy {
            min_healthy_percent: default_min_healthy_percent(),
            max_percent: default_max_percent(),
        }
    }
}

fn default_min_healthy_percent() -> i32 {
    100
}

fn default_max_percent() -> i32 {
    200
}

/// Canary: the new revision starts in the idle slot and receives traffic step by step.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// The steps, run in order. After the last one the new revision receives 100% and becomes stable.
    #[schemars(length(min = 1, max = 32))]
    pub steps: Vec<CanaryStep>,
    /// Seconds to keep the previous revision running at full size once all traffic is on the new
    /// one: until then an abort moves all traffic back at once.
    #[serde(default = "default_scale_down_delay")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_down_delay_seconds: i32,
}

/// One canary step: set exactly one of `setWeight`, `setCanaryScale`, `pause` or `analysis`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "(has(self.setWeight) ? 1 : 0) + (has(self.setCanaryScale) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.analysis) ? 1 : 0) == 1"
).message("each step sets exactly one of setWeight, setCanaryScale, pause or analysis"))]
pub struct CanaryStep {
    /// Percentage of traffic (0-100) the new revision receives. The step completes once the weight
    /// read back from the load balancer equals this value. Unless `setCanaryScale` said otherwise,
    /// the new revision runs replicas x weight tasks (rounded up, at least one), started and
    /// healthy before any traffic moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub set_weight: Option<i32>,
    /// How many tasks the new revision runs from this step on, whatever its weight; the step
    /// completes once they are healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<CanaryScale>,
    /// Wait for a duration, or until promoted when no duration is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseStep>,
    /// Run the named metrics of `spec.analysis` and continue only if they pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
}

/// The size of the new revision's slot during a canary: set exactly one field.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "(has(self.replicas) ? 1 : 0) + (has(self.weight) ? 1 : 0) + (has(self.matchTrafficWeight) && self.matchTrafficWeight ? 1 : 0) == 1"
).message("set exactly one of replicas, weight or matchTrafficWeight: true"))]
pub struct CanaryScale {
    /// This many tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// This share (percent) of `spec.replicas`, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub weight: Option<i32>,
    /// Back to following the traffic weight.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_traffic_weight: bool,
}

/// A pause in a rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PauseStep {
    /// How long to wait, e.g. `30s`, `5m`, `1h30m`. Omit it to wait until the Deployment is promoted
    /// (its `spec.promoteStep` set to this step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h))+$"), length(max = 32))]
    pub duration: Option<String>,
}

/// Metrics to run at one point of a rollout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStep {
    /// Names of metrics defined in `spec.analysis.metrics`.
    #[schemars(length(min = 1, max = 10), inner(length(min = 1, max = 63)))]
    pub metrics: Vec<String>,
}

/// Blue-green: the new revision starts at full size in the idle slot; all traffic switches at once.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// Seconds after the new slot is healthy (and pre-promotion analysis passed) before traffic
    /// switches by itself. Omit to wait for a person: `cygni promote` (which sets the
    /// Deployment's `spec.promoteStep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub auto_promotion_seconds: Option<i32>,
    /// Metrics that must pass against the new slot before traffic switches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<AnalysisStep>,
    /// Metrics that must pass once all traffic is on the new revision; a failure switches it
    /// back to the previous one at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<AnalysisStep>,
    /// Seconds to keep the previous revision running at full size after the switch: until then an
    /// abort switches all traffic back at once.
    #[serde(default = "default_scale_down_delay")]
    #[schemars(range(min = 0, max = 86400))]
    pub scale_down_delay_seconds: i32,
    /// ARN of the listener (usually a test port of the same ALB, reachable only from inside)
    /// where the new revision answers before the switch. Defaults to the operator's preview
    /// listener; without one there is no preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(
            pattern = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/app/[^\s]+$"
        ),
        length(max = 2048)
    )]
    pub preview_listener_arn: Option<String>,
}

fn default_scale_down_delay() -> i32 {
    30
}

/// Automated analysis: metric definitions, evaluated while a canary or blue-green rollout runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSpec {
    /// The metrics. Names are unique. A metric with `background: true` runs from the first traffic
    /// shift until the rollout ends; the others run when a step names them.
    #[schemars(length(min = 1, max = 10))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub metrics: Vec<Metric>,
}

/// One metric: where a number comes from, how often it is read, and what counts as success.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.cloudWatch) ? 1 : 0) + (has(self.webhook) ? 1 : 0) == 1")
        .message("set exactly one provider: cloudWatch or webhook"),
    validation = Rule::new("!has(self.cloudWatch) || has(self.cloudWatch.alarmName) || has(self.successCondition)")
        .message("a cloudWatch metric needs a successCondition (min and/or max), unless it reads an alarm"),
    validation = Rule::new("!has(self.cloudWatch) || !has(self.cloudWatch.alarmName) || !has(self.successCondition)")
        .message("a cloudWatch alarm gives its own verdict: remove successCondition")
)]
pub struct Metric {
    /// Name used by steps to refer to this metric (lowercase letters, digits and dashes).
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        length(min = 1, max = 63)
    )]
    pub name: String,
    /// Run for the whole rollout (from the first traffic shift) instead of only when a step names it.
    #[serde(default)]
    pub background: bool,
    /// Seconds between two measurements.
    #[serde(default = "default_interval")]
    #[schemars(range(min = 10, max = 3600))]
    pub interval_seconds: i32,
    /// Measurements taken when a step runs this metric; the step passes once they are all taken
    /// within `failureLimit`. The first is taken one interval after the step starts. Background
    /// metrics ignore it: they measure until the rollout ends.
    #[serde(default = "default_count")]
    #[schemars(range(min = 1, max = 100))]
    pub count: i32,
    /// Failed measurements tolerated; one more aborts the rollout and returns all traffic to stable.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub failure_limit: i32,
    /// Bounds a measurement must stay within. Optional for webhooks (then any 2xx answer passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<Threshold>,
    /// Read the value from Amazon CloudWatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch: Option<CloudWatchMetric>,
    /// Ask an HTTP endpoint for a verdict or a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookMetric>,
}

fn default_interval() -> i32 {
    60
}

fn default_count() -> i32 {
    5
}

/// Inclusive bounds a measured value must stay within.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.min) || has(self.max)").message("set min, max or both"),
    validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("min must not exceed max")
)]
pub struct Threshold {
    /// The value must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The value must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A CloudWatch metric: a preset computed for the new revision's target group, a query, a metric
/// math expression, or an alarm. Set exactly one of `preset`, `query`, `math` or `alarmName`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "(has(self.preset) ? 1 : 0) + (has(self.query) ? 1 : 0) + (has(self.math) ? 1 : 0) + (has(self.alarmName) ? 1 : 0) == 1"
).message("set exactly one of preset, query, math or alarmName"))]
pub struct CloudWatchMetric {
    /// A ready-made metric of the new revision's target group, measured over the requests since
    /// the last measurement (at least the last minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<MetricPreset>,
    /// A metric of your own, read with GetMetricData; the measurement is its newest datapoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<MetricQuery>,
    /// A metric math expression over metrics of your own; the measurement is its newest
    /// datapoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub math: Option<MetricMath>,
    /// Name of a CloudWatch metric alarm: `OK` passes, `ALARM` fails, `INSUFFICIENT_DATA` is
    /// inconclusive. The alarm is yours; the operator only reads its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub alarm_name: Option<String>,
    /// Presets only: a window with fewer requests than this is too small to judge, and the
    /// measurement is inconclusive.
    #[serde(default = "default_min_requests")]
    #[schemars(range(min = 1, max = 1000000))]
    pub min_requests: i64,
}

fn default_min_requests() -> i64 {
    20
}

/// A metric math expression and the metrics it is computed from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.metrics.all(m, self.metrics.exists_one(o, o.id == m.id))")
    .message("metric ids must be unique"))]
pub struct MetricMath {
    /// The expression, e.g. `100 * errors / requests`, over the `id`s of `metrics`.
    #[schemars(length(min = 1, max = 1024))]
    pub expression: String,
    /// Period of the result in seconds (1, 5, 10, 30 or a multiple of 60).
    #[serde(default = "default_period")]
    #[schemars(range(min = 1, max = 86400))]
    pub period_seconds: i32,
    /// The metrics the expression names.
    #[schemars(length(min = 1, max = 10))]
    pub metrics: Vec<MathInput>,
}

/// One input of a metric math expression.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MathInput {
    /// The name the expression uses: a lowercase letter, then letters, digits and underscores.
    #[schemars(regex(pattern = r"^[a-z][a-zA-Z0-9_]*$"), length(min = 1, max = 64))]
    pub id: String,
    /// The metric.
    #[serde(flatten)]
    pub query: MetricQuery,
}

/// Ready-made ALB metrics, measured on the target group that serves the new revision.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MetricPreset {
    /// `HTTPCode_Target_5XX_Count / RequestCount` (0.0-1.0).
    ErrorRate,
    /// p99 of `TargetResponseTime`, in seconds.
    LatencyP99,
}

/// A CloudWatch metric identified by namespace, name, dimensions and statistic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricQuery {
    /// CloudWatch namespace, e.g. `AWS/ApplicationELB` or your own.
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,
    /// Metric name.
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,
    /// Statistic: `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount` or a percentile like `p99`.
    #[schemars(
        regex(pattern = r"^(Sum|Average|Minimum|Maximum|SampleCount|p[0-9]{1,2}(\.[0-9]{1,2})?)$"),
        length(max = 16)
    )]
    pub stat: String,
    /// Dimensions of the metric. The value `$TARGET_GROUP` is replaced by the new revision's target
    /// group dimension and `$LOAD_BALANCER` by the load balancer's.
    #[serde(default)]
    #[schemars(length(max = 30))]
    pub dimensions: Vec<MetricDimension>,
    /// Aggregation period in seconds (1, 5, 10, 30 or a multiple of 60).
    #[serde(default = "default_period")]
    #[schemars(range(min = 1, max = 86400))]
    pub period_seconds: i32,
}

fn default_period() -> i32 {
    60
}

/// One CloudWatch dimension.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricDimension {
    /// Dimension name.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Dimension value.
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,
}

/// An HTTP check. The operator sends `GET url` (or `POST` with a JSON description of the
/// rollout); a 2xx answer passes when no `successCondition` is set; otherwise the answer must be
/// JSON with a number at `valueField`, checked against the bounds. Redirects are not followed,
/// and an answer other than 2xx fails the measurement.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookMetric {
    /// The endpoint, `http://` or `https://`.
    #[schemars(regex(pattern = r"^https?://[^\s]+$"), length(max = 2048))]
    pub url: String,
    /// `GET` or `POST`. A `POST` sends `{"namespace", "app", "revision", "stableRevision",
    /// "metric"}` as JSON.
    #[serde(default)]
    pub method: WebhookMethod,
    /// Request headers, e.g. an `Authorization` token from a Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub headers: Vec<WebhookHeader>,
    /// Seconds to wait for an answer; a timeout counts as a failed measurement.
    #[serde(default = "default_webhook_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: i32,
    /// Top-level field of the JSON answer that holds the value.
    #[serde(default = "default_value_field")]
    #[schemars(length(min = 1, max = 128))]
    pub value_field: String,
}

fn default_webhook_timeout() -> i32 {
    10
}

fn default_value_field() -> String {
    "value".to_string()
}

/// The HTTP method of a webhook.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum WebhookMethod {
    /// `GET url`.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// `POST url` with a JSON body describing the rollout.
    #[serde(rename = "POST")]
    Post,
}

/// One request header of a webhook: a value, or a key of a Secret in the Deployment's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.value) != has(self.valueFrom)")
    .message("set exactly one of value or valueFrom"))]
pub struct WebhookHeader {
    /// Header name.
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"),
        length(min = 1, max = 128)
    )]
    pub name: String,
    /// Header value, written in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub value: Option<String>,
    /// Header value read from a Secret when the request is sent; it never appears in status,
    /// Events or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<HeaderSource>,
}

/// Where a header value comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderSource {
    /// A key of a Secret in the Deployment's namespace.
    pub secret_key_ref: SecretKeyRef,
}

/// A key of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key in its data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
