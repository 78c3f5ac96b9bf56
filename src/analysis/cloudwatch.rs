//! The CloudWatch provider: presets over the new revision's target group, queries of your own,
//! metric math and alarms. Measurements asked for at about the same time, by any number of
//! rollouts, share GetMetricData and DescribeAlarms calls: the first caller waits a moment for
//! others, then one call carries everyone's queries (within the API's limits of 500 queries and
//! 100,800 datapoints per call, and 100 alarm names), and each caller gets its part.

use super::{Observation, Read};
use crate::api::strategy::{CloudWatchMetric, MetricPreset, MetricQuery as UserQuery};
use crate::aws::cloudwatch::{AlarmStateValue, CloudWatch, DataQuery, MetricQuery, MetricSeries};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long the first caller waits for others to join its call.
const GATHER: Duration = Duration::from_millis(25);
/// How long a caller waits for the call it joined before it calls the measurement an error.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// GetMetricData: queries per call.
const QUERIES_PER_CALL: usize = 500;
/// GetMetricData: datapoints per call.
const DATAPOINTS_PER_CALL: i64 = 100_800;
/// Namespace of the load balancer metrics.
const ALB: &str = "AWS/ApplicationELB";

/// What one read asks CloudWatch for.
#[derive(Clone, Debug)]
enum Ask {
    /// Queries over a window, and how to turn their series into an observation.
    Data {
        queries: Vec<DataQuery>,
        window: (jiff::Timestamp, jiff::Timestamp),
        judge: Judge,
    },
    /// An alarm's state.
    Alarm(String),
    /// Nothing to ask: the observation is known.
    Known(Observation),
}

/// How series become an observation. Query IDs are those of the [`Ask`].
#[derive(Clone, Debug)]
enum Judge {
    /// Σ errors / Σ requests.
    ErrorRate {
        errors: String,
        requests: String,
        min_requests: i64,
    },
    /// The worst minute's p99 of the window.
    LatencyP99 {
        latency: String,
        requests: String,
        min_requests: i64,
    },
    /// The newest datapoint of `id`, described as `what`.
    Newest { id: String, what: String },
}

/// One caller's part of a shared call.
struct Pending {
    asks: Vec<Ask>,
    answer: oneshot::Sender<Vec<Observation>>,
}

/// CloudWatch measurements, shared across callers.
pub struct CloudWatchProvider {
    cw: Arc<dyn CloudWatch>,
    pending: Arc<Mutex<Vec<Pending>>>,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl CloudWatchProvider {
    /// The provider over `cw`.
    pub fn new(cw: Arc<dyn CloudWatch>) -> Self {
        CloudWatchProvider {
            cw,
            pending: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// CloudWatch calls made so far (GetMetricData and DescribeAlarms).
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One observation per read, in order.
    pub async fn measure(&self, reads: &[Read<'_>]) -> Vec<Observation> {
        if reads.is_empty() {
            return Vec::new();
        }
        let asks: Vec<Ask> = reads.iter().map(ask).collect();
        let (tx, rx) = oneshot::channel();
        let leader = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.push(Pending { asks, answer: tx });
            pending.len() == 1
        };
        if leader {
            tokio::time::sleep(GATHER).await;
            let batch =
                std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
            self.answer(batch).await;
        }
        match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
            Ok(Ok(seen)) => seen,
            _ => vec![Observation::Error("CloudWatch did not answer".to_string()); reads.len()],
        }
    }

    /// Makes the calls of a batch and hands each caller its observations.
    async fn answer(&self, batch: Vec<Pending>) {
        // Number every data ask across the batch so query IDs are unique in a call.
        let mut data: Vec<Numbered> = Vec::new();
        let mut alarms: Vec<String> = Vec::new();
        for (c, pending) in batch.iter().enumerate() {
            for (a, item) in pending.asks.iter().enumerate() {
                match item {
                    Ask::Data {
                        queries, window, ..
                    } => {
                        let prefix = format!("r{}_", data.len());
                        data.push((c, a, prefixed(queries, &prefix), *window));
                    }
                    Ask::Alarm(name) if !alarms.contains(name) => alarms.push(name.clone()),
                    _ => {}
                }
            }
        }
        let mut series: HashMap<String, MetricSeries> = HashMap::new();
        let mut failed: HashMap<(usize, usize), String> = HashMap::new();
        for chunk in chunks(&data) {
            let start = chunk.iter().map(|d| d.3.0).min();
            let end = chunk.iter().map(|d| d.3.1).max();
            let (Some(start), Some(end)) = (start, end) else {
                continue;
            };
            let queries: Vec<DataQuery> = chunk.iter().flat_map(|d| d.2.clone()).collect();
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match self.cw.get_metric_data(&queries, start, end).await {
                Ok(found) => series.extend(found.into_iter().map(|s| (s.id.clone(), s))),
                Err(e) => {
                    for d in chunk {
                        failed.insert((d.0, d.1), e.to_string());
                    }
                }
            }
        }
        let mut states = HashMap::new();
        let mut alarm_error = None;
        if !alarms.is_empty() {
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match self.cw.describe_alarms(&alarms).await {
                Ok(found) => states.extend(found.into_iter().map(|s| (s.name.clone(), s))),
                Err(e) => alarm_error = Some(e.to_string()),
            }
        }
        let prefixes: HashMap<(usize, usize), String> = data
            .iter()
            .enumerate()
            .map(|(n, d)| ((d.0, d.1), format!("r{n}_")))
            .collect();
        for (c, pending) in batch.into_iter().enumerate() {
            let seen = pending
                .asks
                .into_iter()
                .enumerate()
                .map(|(a, item)| match item {
                    Ask::Known(observation) => observation,
                    Ask::Alarm(name) => match (&alarm_error, states.get(&name)) {
                        (Some(e), _) => Observation::Error(e.clone()),
                        (None, Some(state)) => alarm_observation(state),
                        (None, None) => Observation::Inconclusive(format!(
                            "no CloudWatch metric alarm is named {name}"
                        )),
                    },
                    Ask::Data { window, judge, .. } => match failed.get(&(c, a)) {
                        Some(e) => Observation::Error(e.clone()),
                        None => {
                            let prefix = prefixes.get(&(c, a)).map_or("", String::as_str);
                            judged(&judge, prefix, &series, window)
                        }
                    },
                })
                .collect();
            let _ = pending.answer.send(seen);
        }
    }
}

/// What a read asks CloudWatch for.
fn ask(read: &Read<'_>) -> Ask {
    let Some(cw) = read.metric.cloud_watch.as_ref() else {
        return Ask::Known(Observation::Error("not a CloudWatch metric".to_string()));
    };
    if let Some(name) = &cw.alarm_name {
        return Ask::Alarm(name.clone());
    }
    let subject = read.subject;
    let tg = subject
        .target_group_arn
        .as_deref()
        .map(target_group_dimension);
    let lb = subject
        .load_balancer_arn
        .as_deref()
        .map(load_balancer_dimension);
    let window = read.window;
    if let Some(preset) = cw.preset {
        let (Some(tg), Some(lb)) = (tg, lb) else {
            return Ask::Known(Observation::Inconclusive(
                "the new revision has no target group yet".to_string(),
            ));
        };
        return preset_ask(preset, cw, &tg, &lb, window);
    }
    let substitute = |q: &UserQuery, id: String| MetricQuery {
        id,
        namespace: q.namespace.clone(),
        metric_name: q.metric_name.clone(),
        dimensions: q
            .dimensions
            .iter()
            .map(|d| {
                let value = match d.value.as_str() {
                    "$TARGET_GROUP" => tg.clone().unwrap_or_default(),
                    "$LOAD_BALANCER" => lb.clone().unwrap_or_default(),
                    other => other.to_string(),
                };
                (d.name.clone(), value)
            })
            .collect(),
        stat: q.stat.clone(),
        period_seconds: q.period_seconds,
    };
    if let Some(q) = &cw.query {
        return Ask::Data {
            queries: vec![substitute(q, "value".to_string()).into()],
            window,
            judge: Judge::Newest {
                id: "value".to_string(),
                what: format!("{} {} {}", q.namespace, q.metric_name, q.stat),
            },
        };
    }
    if let Some(math) = &cw.math {
        let mut queries: Vec<DataQuery> = math
            .metrics
            .iter()
            .map(|input| DataQuery::Metric {
                query: substitute(&input.query, format!("in_{}", input.id)),
                return_data: false,
            })
            .collect();
        let ids: Vec<String> = math.metrics.iter().map(|m| m.id.clone()).collect();
        queries.push(DataQuery::Expression {
            id: "value".to_string(),
            expression: rename(&math.expression, &ids, "in_"),
            period_seconds: math.period_seconds,
        });
        return Ask::Data {
            queries,
            window,
            judge: Judge::Newest {
                id: "value".to_string(),
                what: format!("`{}`", math.expression),
            },
        };
    }
    Ask::Known(Observation::Error(
        "the metric sets no preset, query, math or alarmName".to_string(),
    ))
}

fn preset_ask(
    preset: MetricPreset,
    cw: &CloudWatchMetric,
    tg: &str,
    lb: &str,
    window: (jiff::Timestamp, jiff::Timestamp),
) -> Ask {
    let alb = |id: &str, metric: &str, stat: &str| -> DataQuery {
        MetricQuery {
            id: id.to_string(),
            namespace: ALB.to_string(),
            metric_name: metric.to_string(),
            dimensions: vec![
                ("LoadBalancer".to_string(), lb.to_string()),
                ("TargetGroup".to_string(), tg.to_string()),
            ],
            stat: stat.to_string(),
            period_seconds: 60,
        }
        .into()
    };
    let requests = alb("requests", "RequestCount", "Sum");
    match preset {
        MetricPreset::ErrorRate => Ask::Data {
            queries: vec![alb("errors", "HTTPCode_Target_5XX_Count", "Sum"), requests],
            window,
            judge: Judge::ErrorRate {
                errors: "errors".to_string(),
                requests: "requests".to_string(),
                min_requests: cw.min_requests,
            },
        },
        MetricPreset::LatencyP99 => Ask::Data {
            queries: vec![alb("latency", "TargetResponseTime", "p99"), requests],
            window,
            judge: Judge::LatencyP99 {
                latency: "latency".to_string(),
                requests: "requests".to_string(),
                min_requests: cw.min_requests,
            },
        },
    }
}

/// The queries with their IDs (and the IDs their expressions name) prefixed.
fn prefixed(queries: &[DataQuery], prefix: &str) -> Vec<DataQuery> {
    let ids: Vec<String> = queries.iter().map(|q| q.id().to_string()).collect();
    queries
        .iter()
        .map(|q| match q {
            DataQuery::Metric { query, return_data } => DataQuery::Metric {
                query: MetricQuery {
                    id: format!("{prefix}{}", query.id),
                    ..query.clone()
                },
                return_data: *return_data,
            },
            DataQuery::Expression {
                id,
                expression,
                period_seconds,
            } => DataQuery::Expression {
                id: format!("{prefix}{id}"),
                expression: rename(expression, &ids, prefix),
                period_seconds: *period_seconds,
            },
        })
        .collect()
}

/// `expression` with every identifier in `ids` given `prefix`; function names, numbers and
/// everything else stay as written.
fn rename(expression: &str, ids: &[String], prefix: &str) -> String {
    let mut out = String::with_capacity(expression.len() + 16);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if ids.iter().any(|id| id == word) {
            out.push_str(prefix);
        }
        out.push_str(word);
        word.clear();
    };
    let mut in_string = false;
    for c in expression.chars() {
        if c == '"' || c == '\'' {
            in_string = !in_string;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// One data ask of a batch: (caller, ask of the caller, its prefixed queries, its window).
type Numbered = (
    usize,
    usize,
    Vec<DataQuery>,
    (jiff::Timestamp, jiff::Timestamp),
);

/// Splits the data asks into calls within GetMetricData's limits.
fn chunks(data: &[Numbered]) -> Vec<Vec<&Numbered>> {
    let mut out: Vec<Vec<_>> = Vec::new();
    let mut queries = 0;
    let mut points = 0;
    for item in data {
        let seconds = item.3.0.duration_until(item.3.1).as_secs().max(1);
        let item_points: i64 = item
            .2
            .iter()
            .filter(|q| q.returns_data())
            .map(|q| {
                let period = match q {
                    DataQuery::Metric { query, .. } => query.period_seconds,
                    DataQuery::Expression { period_seconds, .. } => *period_seconds,
                };
                seconds / i64::from(period.max(1)) + 1
            })
            .sum();
        let fits = queries + item.2.len() <= QUERIES_PER_CALL
            && points + item_points <= DATAPOINTS_PER_CALL;
        if out.is_empty() || !fits {
            out.push(Vec::new());
            queries = 0;
            points = 0;
        }
        queries += item.2.len();
        points += item_points;
        if let Some(last) = out.last_mut() {
            last.push(item);
        }
    }
    out
}

/// How far before a window a datapoint's timestamp may be and still count: a minute bucket is
/// stamped with its start, so the bucket a window starts in counts when most of it is inside.
const BUCKET_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

/// The datapoints of `id` within `window` (see [`BUCKET_SLACK`]), newest first.
fn points(
    series: &HashMap<String, MetricSeries>,
    id: &str,
    window: (jiff::Timestamp, jiff::Timestamp),
) -> Vec<f64> {
    series
        .get(id)
        .map(|s| {
            s.values
                .iter()
                .zip(&s.timestamps)
                .filter(|(_, t)| {
                    t.checked_add(BUCKET_SLACK).is_ok_and(|t| t >= window.0) && **t < window.1
                })
                .map(|(v, _)| *v)
                .collect()
        })
        .unwrap_or_default()
}

/// The length of a window, as people write it.
fn span(window: (jiff::Timestamp, jiff::Timestamp)) -> String {
    let seconds = window.0.duration_until(window.1).as_secs().max(0);
    crate::rollout::steps::duration_text(Duration::from_secs(seconds.unsigned_abs()))
}

fn judged(
    judge: &Judge,
    prefix: &str,
    series: &HashMap<String, MetricSeries>,
    window: (jiff::Timestamp, jiff::Timestamp),
) -> Observation {
    let get = |id: &str| points(series, &format!("{prefix}{id}"), window);
    let last = span(window);
    let too_few = |requests: f64, min: i64| {
        Observation::Inconclusive(format!(
            "{} requests to the new revision in the last {last}, fewer than minRequests {min}",
            requests as i64
        ))
    };
    match judge {
        Judge::ErrorRate {
            errors,
            requests,
            min_requests,
        } => {
            let requests: f64 = get(requests).iter().sum();
            let errors: f64 = get(errors).iter().sum();
            if requests < *min_requests as f64 || requests <= 0.0 {
                return too_few(requests, *min_requests);
            }
            Observation::Value {
                value: errors / requests,
                detail: format!(
                    "{} of {} requests answered 5xx in the last {last}",
                    errors as i64, requests as i64
                ),
            }
        }
        Judge::LatencyP99 {
            latency,
            requests,
            min_requests,
        } => {
            let requests: f64 = get(requests).iter().sum();
            let worst = get(latency).into_iter().reduce(f64::max);
            match worst {
                Some(p99) if requests >= *min_requests as f64 => Observation::Value {
                    value: p99,
                    detail: format!(
                        "p99 response time in seconds, worst minute of the last {last}, {} requests",
                        requests as i64
                    ),
                },
                _ => too_few(requests, *min_requests),
            }
        }
        Judge::Newest { id, what } => match get(id).first() {
            Some(value) => Observation::Value {
                value: *value,
                detail: format!("newest datapoint of {what}"),
            },
            None => {
                Observation::Inconclusive(format!("no datapoints for {what} in the last {last}"))
            }
        },
    }
}

fn alarm_observation(state: &crate::aws::cloudwatch::AlarmState) -> Observation {
    let reason = state.reason.trim_end_matches('.');
    match state.state {
        AlarmStateValue::Ok => Observation::Verdict {
            passed: true,
            value: None,
            detail: format!("alarm {} is OK", state.name),
        },
        AlarmStateValue::Alarm => Observation::Verdict {
            passed: false,
            value: None,
            detail: format!("alarm {} is in ALARM ({reason})", state.name),
        },
        AlarmStateValue::InsufficientData => Observation::Inconclusive(format!(
            "alarm {} has insufficient data ({reason})",
            state.name
        )),
    }
}

/// The `TargetGroup` dimension of a target group ARN: `targetgroup/<name>/<id>`.
pub fn target_group_dimension(arn: &str) -> String {
    arn.rsplit_once(':')
        .map_or(arn.to_string(), |(_, d)| d.to_string())
}

/// The `LoadBalancer` dimension of a load balancer ARN: `app/<name>/<id>`.
pub fn load_balancer_dimension(arn: &str) -> String {
    arn.split_once(":loadbalancer/")
        .map_or(arn.to_string(), |(_, d)| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Subject;
    use crate::api::strategy::Metric;
    use crate::aws::AwsResult;
    use crate::aws::cloudwatch::AlarmState;
    use async_trait::async_trait;

    /// Answers every returned query with the series its metric name says, and records calls.
    #[derive(Default)]
    struct Canned {
        calls: Mutex<Vec<Vec<DataQuery>>>,
        alarm_calls: Mutex<Vec<Vec<String>>>,
    }

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("time")
    }

    #[async_trait]
    impl CloudWatch for Canned {
        async fn get_metric_data(
            &self,
            queries: &[DataQuery],
            _start: jiff::Timestamp,
            _end: jiff::Timestamp,
        ) -> AwsResult<Vec<MetricSeries>> {
            self.calls.lock().unwrap().push(queries.to_vec());
            Ok(queries
                .iter()
                .filter(|q| q.returns_data())
                .map(|q| {
                    let values = match q {
                        DataQuery::Metric { query, .. } => match query.metric_name.as_str() {
                            "RequestCount" => vec![100.0, 140.0],
                            "HTTPCode_Target_5XX_Count" => vec![30.0, 30.0],
                            "TargetResponseTime" => vec![0.2, 1.5],
                            _ => vec![],
                        },
                        DataQuery::Expression { .. } => vec![7.0, 3.0],
                    };
                    MetricSeries {
                        id: q.id().to_string(),
                        timestamps: (0..values.len() as i64)
                            .map(|i| at(-60 * (i + 1)))
                            .collect(),
                        values,
                    }
                })
                .collect())
        }

        async fn describe_alarms(&self, names: &[String]) -> AwsResult<Vec<AlarmState>> {
            self.alarm_calls.lock().unwrap().push(names.to_vec());
            Ok(vec![AlarmState {
                name: "web-5xx".to_string(),
                state: AlarmStateValue::Alarm,
                reason:
                    "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0)."
                        .to_string(),
            }])
        }
    }

    fn metric(cloud_watch: serde_json::Value) -> Metric {
        serde_json::from_value(serde_json::json!({
            "name": "m", "successCondition": {"max": 1.0}, "cloudWatch": cloud_watch,
        }))
        .expect("metric")
    }

    fn subject() -> Subject {
        Subject {
            namespace: "ns".to_string(),
            app: "web".to_string(),
            revision: 2,
            stable_revision: Some(1),
            target_group_arn: Some(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-b/0123"
                    .to_string(),
            ),
            load_balancer_arn: Some(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/abcd"
                    .to_string(),
            ),
        }
    }

    #[tokio::test]
    async fn presets_read_the_new_revisions_target_group_and_add_up_the_window() {
        let cw = Arc::new(Canned::default());
        let provider = CloudWatchProvider::new(cw.clone());
        let subject = subject();
        let errors = metric(serde_json::json!({"preset": "ErrorRate"}));
        let latency = metric(serde_json::json!({"preset": "LatencyP99"}));
        let reads = [
            Read {
                metric: &errors,
                subject: &subject,
                window: (at(-300), at(0)),
            },
            Read {
                metric: &latency,
                subject: &subject,
                window: (at(-300), at(0)),
            },
        ];
        let seen = provider.measure(&reads).await;
        assert_eq!(
            seen[0],
            Observation::Value {
                value: 0.25,
                detail: "60 of 240 requests answered 5xx in the last 5m".to_string()
            }
        );
        let Observation::Value { value, .. } = &seen[1] else {
            panic!("{seen:?}")
        };
        assert_eq!(*value, 1.5, "the worst minute");
        let calls = cw.calls.lock().unwrap();
        assert_eq!(calls.len(), 1, "one call for both");
        let DataQuery::Metric { query, .. } = &calls[0][0] else {
            panic!()
        };
        assert_eq!(
            query.dimensions,
            [
                ("LoadBalancer".to_string(), "app/shared/abcd".to_string()),
                (
                    "TargetGroup".to_string(),
                    "targetgroup/web-b/0123".to_string()
                )
            ]
        );
        let ids: Vec<&str> = calls[0].iter().map(|q| q.id()).collect();
        assert_eq!(
            ids,
            ["r0_errors", "r0_requests", "r1_latency", "r1_requests"]
        );
    }

    #[tokio::test]
    async fn measurements_asked_at_the_same_time_by_many_rollouts_share_one_call() {
        let cw = Arc::new(Canned::default());
        let provider = Arc::new(CloudWatchProvider::new(cw.clone()));
        let subject = subject();
        let errors = metric(serde_json::json!({"preset": "ErrorRate"}));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let provider = provider.clone();
            let subject = subject.clone();
            let errors = errors.clone();
            tasks.push(tokio::spawn(async move {
                let read = Read {
                    metric: &errors,
                    subject: &subject,
                    window: (at(-300), at(0)),
                };
                provider.measure(&[read]).await
            }));
        }
        for task in tasks {
            let seen = task.await.unwrap();
            assert!(matches!(seen[0], Observation::Value { .. }), "{seen:?}");
        }
        assert_eq!(cw.calls.lock().unwrap().len(), 1, "40 rollouts, one call");
        assert_eq!(cw.calls.lock().unwrap()[0].len(), 80);
    }

    #[tokio::test]
    async fn a_minute_counts_when_most_of_it_is_inside_the_window() {
        let cw = Arc::new(Canned::default());
        let provider = CloudWatchProvider::new(cw);
        let subject = subject();
        let errors = metric(serde_json::json!({"preset": "ErrorRate"}));
        // Minutes stamped -60 and -120: the one from -120 has 20 s inside (-80, 0), not counted;
        // from (-100, 0) it has 40 s inside, counted.
        let short = provider
            .measure(&[Read {
                metric: &errors,
                subject: &subject,
                window: (at(-80), at(0)),
            }])
            .await;
        let long = provider
            .measure(&[Read {
                metric: &errors,
                subject: &subject,
                window: (at(-100), at(0)),
            }])
            .await;
        assert!(
            matches!(&short[0], Observation::Value { detail, .. } if detail.starts_with("30 of 100 requests")),
            "{short:?}"
        );
        assert!(
            matches!(&long[0], Observation::Value { detail, .. } if detail.starts_with("60 of 240 requests")),
            "{long:?}"
        );
    }

    #[tokio::test]
    async fn too_few_requests_are_inconclusive() {
        let cw = Arc::new(Canned::default());
        let provider = CloudWatchProvider::new(cw);
        let subject = subject();
        let errors = metric(serde_json::json!({"preset": "ErrorRate", "minRequests": 1000}));
        let seen = provider
            .measure(&[Read {
                metric: &errors,
                subject: &subject,
                window: (at(-120), at(0)),
            }])
            .await;
        assert_eq!(
            seen[0],
            Observation::Inconclusive(
                "240 requests to the new revision in the last 2m, fewer than minRequests 1000"
                    .to_string()
            )
        );
    }

    #[tokio::test]
    async fn math_renames_its_inputs_and_reads_the_newest_point() {
        let cw = Arc::new(Canned::default());
        let provider = CloudWatchProvider::new(cw.clone());
        let subject = subject();
        let math = metric(serde_json::json!({"math": {
        "expression": "100 * FILL(errors, 0) / requests",
        "metrics": [
            {"id": "errors", "namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_Target_5XX_Count", "stat": "Sum",
             "dimensions": [{"name": "TargetGroup", "value": "$TARGET_GROUP"}]},
            {"id": "requests", "namespace": "AWS/ApplicationELB", "metricName": "RequestCount", "stat": "Sum"},
        ]}}));
        let seen = provider
            .measure(&[Read {
                metric: &math,
                subject: &subject,
                window: (at(-300), at(0)),
            }])
            .await;
        assert_eq!(
            seen[0],
            Observation::Value {
                value: 7.0,
                detail: "newest datapoint of `100 * FILL(errors, 0) / requests`".to_string()
            }
        );
        let calls = cw.calls.lock().unwrap();
        let DataQuery::Expression { expression, .. } = &calls[0][2] else {
            panic!()
        };
        assert_eq!(expression, "100 * FILL(r0_in_errors, 0) / r0_in_requests");
        let DataQuery::Metric { query, return_data } = &calls[0][0] else {
            panic!()
        };
        assert!(!return_data);
        assert_eq!(query.dimensions[0].1, "targetgroup/web-b/0123");
    }

    #[tokio::test]
    async fn alarms_are_described_by_name_and_a_missing_one_is_inconclusive() {
        let cw = Arc::new(Canned::default());
        let provider = CloudWatchProvider::new(cw.clone());
        let subject = subject();
        let alarm = metric(serde_json::json!({"alarmName": "web-5xx"}));
        let missing = metric(serde_json::json!({"alarmName": "nope"}));
        let seen = provider
            .measure(&[
                Read {
                    metric: &alarm,
                    subject: &subject,
                    window: (at(-120), at(0)),
                },
                Read {
                    metric: &missing,
                    subject: &subject,
                    window: (at(-120), at(0)),
                },
            ])
            .await;
        assert_eq!(
            seen[0],
            Observation::Verdict {
                passed: false,
                value: None,
                detail: "alarm web-5xx is in ALARM (Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0))".to_string()
            }
        );
        assert_eq!(
            seen[1],
            Observation::Inconclusive("no CloudWatch metric alarm is named nope".to_string())
        );
        assert_eq!(cw.alarm_calls.lock().unwrap().len(), 1);
        assert!(cw.calls.lock().unwrap().is_empty());
    }

    #[test]
    fn calls_stay_within_the_query_limit() {
        let q = |id: &str| -> DataQuery {
            MetricQuery {
                id: id.to_string(),
                namespace: ALB.to_string(),
                metric_name: "RequestCount".to_string(),
                dimensions: vec![],
                stat: "Sum".to_string(),
                period_seconds: 60,
            }
            .into()
        };
        let data: Vec<_> = (0..300)
            .map(|i| (0, i, vec![q("a"), q("b")], (at(-300), at(0))))
            .collect();
        let split = chunks(&data);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].len(), 250, "500 queries");
        assert_eq!(split[1].len(), 50);
    }

    #[test]
    fn renaming_touches_only_the_ids() {
        assert_eq!(
            rename(
                "SUM(METRICS()) + errors*2 - errors_total",
                &["errors".to_string()],
                "p_"
            ),
            "SUM(METRICS()) + p_errors*2 - errors_total"
        );
    }
}
