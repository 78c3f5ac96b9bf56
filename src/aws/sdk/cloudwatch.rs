//! [`CloudWatch`] over the AWS SDK.
//!
//! - **GetMetricData**: one `MetricStat` query per metric (`ReturnData` as the entry says) and one
//!   `Expression` query (with its `Period`, `ReturnData=true`) per metric math expression, newest
//!   datapoints first (`ScanBy=TimestampDescending`), every page read and each entry's datapoints
//!   joined across pages. Only entries that return data come back, in the order of the request.
//!   A request of more than 500 entries is split into several calls, each holding every
//!   expression together with the entries it references (an expression can only see the IDs of
//!   its own call); entries that reference each other beyond 500 are refused before any call.
//! - **DescribeAlarms**: metric alarms by name (`AlarmTypes=MetricAlarm`), at most 100 names per
//!   call, every page read; an empty list of names makes no call (DescribeAlarms without names
//!   would list every alarm of the account).
//!
//! The SDK speaks Smithy RPC v2 CBOR to CloudWatch, which moto does not serve, so the unit tests
//! below check the request on the wire and the mapping of a canned CBOR answer instead of a moto
//! contract test.

use super::RateLimit;
use super::error::{failed, invalid_input};
use crate::aws::cloudwatch::{
    AlarmState, AlarmStateValue, CloudWatch, DataQuery, MetricQuery, MetricSeries,
};
use crate::aws::{AwsError, AwsErrorKind, AwsResult};
use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue, StatusCode,
};
use std::collections::{HashMap, HashSet};

/// Service name in errors.
const SERVICE: &str = "cloudwatch";
/// Operation names in errors.
const GET_METRIC_DATA: &str = "GetMetricData";
const DESCRIBE_ALARMS: &str = "DescribeAlarms";
/// Default client-side rate, shared by GetMetricData and DescribeAlarms.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;
/// GetMetricData takes at most this many queries per call.
const QUERIES_PER_CALL: usize = 500;
/// DescribeAlarms takes at most this many alarm names per call, and returns at most this many
/// alarms per page (`MaxRecords`, 1-100).
const ALARMS_PER_CALL: usize = 100;

/// Amazon CloudWatch through the SDK, with a client-side rate limit.
#[derive(Clone, Debug)]
pub struct SdkCloudWatch {
    client: Client,
    rate: RateLimit,
}

impl SdkCloudWatch {
    /// The adapter with the default rate ([`DEFAULT_REQUESTS_PER_SECOND`]).
    pub fn new(client: Client) -> Self {
        Self::with_rate_limit(client, RateLimit::per_second(DEFAULT_REQUESTS_PER_SECOND))
    }

    /// The adapter with the given rate limit.
    pub fn with_rate_limit(client: Client, rate: RateLimit) -> Self {
        SdkCloudWatch { client, rate }
    }

    /// All pages of one GetMetricData call: the datapoints of each returned entry, by ID, joined
    /// across pages in the order the pages gave them.
    async fn read_pages(
        &self,
        queries: Vec<MetricDataQuery>,
        start: DateTime,
        end: DateTime,
    ) -> AwsResult<HashMap<String, MetricSeries>> {
        let mut series: HashMap<String, MetricSeries> = HashMap::new();
        let mut next_token = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(start)
                .end_time(end)
                .scan_by(ScanBy::TimestampDescending)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(failed(SERVICE, GET_METRIC_DATA))?;
            for result in output.metric_data_results() {
                match result.status_code() {
                    Some(StatusCode::InternalError) => {
                        return Err(result_error(
                            AwsErrorKind::ServerError,
                            "InternalError",
                            result.id(),
                        ));
                    }
                    Some(StatusCode::Forbidden) => {
                        return Err(result_error(
                            AwsErrorKind::AccessDenied,
                            "Forbidden",
                            result.id(),
                        ));
                    }
                    _ => {}
                }
                let Some(id) = result.id() else { continue };
                let entry = series.entry(id.to_owned()).or_insert_with(|| MetricSeries {
                    id: id.to_owned(),
                    values: Vec::new(),
                    timestamps: Vec::new(),
                });
                for (value, timestamp) in result.values().iter().zip(result.timestamps()) {
                    entry.values.push(*value);
                    entry.timestamps.push(timestamp_from_sdk(timestamp)?);
                }
            }
            next_token = output.next_token;
            if next_token.is_none() {
                return Ok(series);
            }
        }
    }

    /// All pages of one DescribeAlarms call for at most [`ALARMS_PER_CALL`] names.
    async fn describe_alarm_pages(&self, names: &[String]) -> AwsResult<Vec<AlarmState>> {
        let mut alarms = Vec::new();
        let mut next_token = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .describe_alarms()
                .set_alarm_names(Some(names.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .max_records(ALARMS_PER_CALL as i32)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(failed(SERVICE, DESCRIBE_ALARMS))?;
            for alarm in output.metric_alarms() {
                let Some(name) = alarm.alarm_name() else {
                    continue;
                };
                alarms.push(AlarmState {
                    name: name.to_owned(),
                    state: state_from_sdk(name, alarm.state_value())?,
                    reason: alarm.state_reason().unwrap_or_default().to_owned(),
                });
            }
            next_token = output.next_token;
            if next_token.is_none() {
                return Ok(alarms);
            }
        }
    }
}

fn state_from_sdk(alarm: &str, state: Option<&StateValue>) -> AwsResult<AlarmStateValue> {
    match state {
        Some(StateValue::Ok) => Ok(AlarmStateValue::Ok),
        Some(StateValue::Alarm) => Ok(AlarmStateValue::Alarm),
        Some(StateValue::InsufficientData) => Ok(AlarmStateValue::InsufficientData),
        // StateValue has exactly these three values today; a new one must not pass for one of them.
        other => Err(AwsError::new(
            SERVICE,
            DESCRIBE_ALARMS,
            AwsErrorKind::Other,
            "UnknownStateValue",
            format!(
                "alarm {alarm} is in state {}",
                other.map_or("(none)", StateValue::as_str)
            ),
        )),
    }
}

fn result_error(kind: AwsErrorKind, code: &str, id: Option<&str>) -> AwsError {
    AwsError::new(
        SERVICE,
        GET_METRIC_DATA,
        kind,
        code,
        format!("query {} answered {code}", id.unwrap_or_default()),
    )
}

fn timestamp_to_sdk(timestamp: jiff::Timestamp) -> AwsResult<DateTime> {
    DateTime::from_nanos(timestamp.as_nanosecond())
        .map_err(|err| invalid_input(SERVICE, GET_METRIC_DATA, err))
}

fn timestamp_from_sdk(timestamp: &DateTime) -> AwsResult<jiff::Timestamp> {
    jiff::Timestamp::from_nanosecond(timestamp.as_nanos()).map_err(|err| {
        AwsError::new(
            SERVICE,
            GET_METRIC_DATA,
            AwsErrorKind::Other,
            "InvalidTimestamp",
            err.to_string(),
        )
    })
}

fn metric_to_sdk(query: &MetricQuery, return_data: bool) -> MetricDataQuery {
    let dimensions = query
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    let metric = Metric::builder()
        .namespace(&query.namespace)
        .metric_name(&query.metric_name)
        .set_dimensions(Some(dimensions))
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(query.period_seconds)
        .stat(&query.stat)
        .build();
    MetricDataQuery::builder()
        .id(&query.id)
        .metric_stat(stat)
        .return_data(return_data)
        .build()
}

fn query_to_sdk(query: &DataQuery) -> MetricDataQuery {
    match query {
        DataQuery::Metric { query, return_data } => metric_to_sdk(query, *return_data),
        DataQuery::Expression {
            id,
            expression,
            period_seconds,
        } => MetricDataQuery::builder()
            .id(id)
            .expression(expression)
            .period(*period_seconds)
            .return_data(true)
            .build(),
    }
}

/// The IDs an expression names: identifiers that start with a lowercase letter (function names
/// and keywords are uppercase), outside string literals (`METRICS("errors")`, `SEARCH('...')`)
/// and numbers (the `e` of `1e-3`).
fn referenced_ids(expression: &str) -> Vec<&str> {
    let bytes = expression.as_bytes();
    let mut ids = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' || c == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_digit() || c == b'.' {
            i += 1;
            while i < bytes.len() {
                let d = bytes[i];
                let exponent_sign = (d == b'-' || d == b'+') && matches!(bytes[i - 1], b'e' | b'E');
                if d.is_ascii_alphanumeric() || d == b'.' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let from = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if c.is_ascii_lowercase() {
                ids.push(&expression[from..i]);
            }
        } else {
            i += 1;
        }
    }
    ids
}

/// The entries of `queries` grouped into GetMetricData calls of at most `per_call` entries, as
/// indices in request order: entries an expression references (directly or through another
/// expression; `METRICS()` references every metric) share a call. An error when such a group is
/// larger than a call.
fn batches(queries: &[DataQuery], per_call: usize) -> AwsResult<Vec<Vec<usize>>> {
    // Union-find over the entries; each group is one connected set of references.
    let mut parent: Vec<usize> = (0..queries.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let index: HashMap<&str, usize> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id(), i))
        .collect();
    let metrics: Vec<usize> = queries
        .iter()
        .enumerate()
        .filter(|(_, q)| matches!(q, DataQuery::Metric { .. }))
        .map(|(i, _)| i)
        .collect();
    for (i, query) in queries.iter().enumerate() {
        let DataQuery::Expression { expression, .. } = query else {
            continue;
        };
        let mut linked: Vec<usize> = referenced_ids(expression)
            .into_iter()
            .filter_map(|id| index.get(id).copied())
            .collect();
        if expression.contains("METRICS(") {
            linked.extend(&metrics);
        }
        for j in linked {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            parent[a.max(b)] = a.min(b);
        }
    }
    // Groups in the order of their first entry (the root is the smallest index of its group).
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for i in 0..queries.len() {
        let r = root(&mut parent, i);
        let g = *group_of.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    if let Some(group) = groups.iter().find(|g| g.len() > per_call) {
        return Err(invalid_input(
            SERVICE,
            GET_METRIC_DATA,
            format!(
                "{} queries reference each other through expressions (starting with {}), more than the {per_call} one GetMetricData call can hold",
                group.len(),
                queries[group[0]].id()
            ),
        ));
    }
    let mut calls: Vec<Vec<usize>> = Vec::new();
    for group in groups {
        match calls.last_mut() {
            Some(call) if call.len() + group.len() <= per_call => call.extend(group),
            _ => calls.push(group),
        }
    }
    for call in &mut calls {
        call.sort_unstable();
    }
    Ok(calls)
}

#[async_trait]
impl CloudWatch for SdkCloudWatch {
    async fn get_metric_data(
        &self,
        queries: &[DataQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> AwsResult<Vec<MetricSeries>> {
        let start = timestamp_to_sdk(start)?;
        let end = timestamp_to_sdk(end)?;
        let mut answered: HashMap<String, MetricSeries> = HashMap::new();
        for call in batches(queries, QUERIES_PER_CALL)? {
            let sdk_queries = call.iter().map(|&i| query_to_sdk(&queries[i])).collect();
            answered.extend(self.read_pages(sdk_queries, start, end).await?);
        }
        // One series per returned entry in request order, empty when CloudWatch sent no result.
        Ok(queries
            .iter()
            .filter(|q| q.returns_data())
            .map(|q| {
                answered.remove(q.id()).unwrap_or_else(|| MetricSeries {
                    id: q.id().to_owned(),
                    values: Vec::new(),
                    timestamps: Vec::new(),
                })
            })
            .collect())
    }

    async fn describe_alarms(&self, names: &[String]) -> AwsResult<Vec<AlarmState>> {
        // Each name once: a name repeated across two calls would be answered twice.
        let mut seen = HashSet::new();
        let unique: Vec<String> = names
            .iter()
            .filter(|name| seen.insert(name.as_str()))
            .cloned()
            .collect();
        let mut alarms = Vec::new();
        for chunk in unique.chunks(ALARMS_PER_CALL) {
            alarms.extend(self.describe_alarm_pages(chunk).await?);
        }
        Ok(alarms)
    }
}

#[cfg(test)]
mod tests {
    //! GetMetricData against an in-process HTTP connector that records each request and answers
    //! with canned CBOR pages: the request the SDK puts on the wire is decoded and compared as
    //! JSON, the answer goes through the SDK's real deserializer.

    use super::*;
    use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_cbor::data::Type;
    use aws_smithy_cbor::{Decoder, Encoder};
    use aws_smithy_runtime_api::client::http::{
        HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::http::StatusCode as HttpStatus;
    use aws_smithy_types::body::SdkBody;
    use serde_json::{Value, json};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A recorded request: path, `smithy-protocol` header, body decoded to JSON.
    #[derive(Debug)]
    struct Recorded {
        path: String,
        protocol: Option<String>,
        body: Value,
    }

    #[derive(Debug, Default)]
    struct Exchanges {
        requests: Vec<Recorded>,
        responses: VecDeque<(u16, Vec<u8>)>,
    }

    /// An HTTP connector that records requests and answers the next canned response.
    #[derive(Clone, Debug, Default)]
    struct CannedConnector(Arc<Mutex<Exchanges>>);

    impl HttpConnector for CannedConnector {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let mut exchanges = self.0.lock().expect("not poisoned");
            exchanges.requests.push(Recorded {
                path: request.uri().to_owned(),
                protocol: request.headers().get("smithy-protocol").map(str::to_owned),
                body: cbor_to_json(request.body().bytes().expect("in-memory body")),
            });
            let (status, body) = exchanges
                .responses
                .pop_front()
                .expect("a canned response left");
            let mut response = HttpResponse::new(
                HttpStatus::try_from(status).expect("status"),
                SdkBody::from(body),
            );
            response
                .headers_mut()
                .insert("smithy-protocol", "rpc-v2-cbor");
            response
                .headers_mut()
                .insert("content-type", "application/cbor");
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    fn adapter(responses: Vec<(u16, Vec<u8>)>) -> (SdkCloudWatch, CannedConnector) {
        let connector = CannedConnector::default();
        connector.0.lock().expect("not poisoned").responses = responses.into();
        let shared = SharedHttpConnector::new(connector.clone());
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .http_client(http_client_fn(move |_, _| shared.clone()))
            .build();
        (SdkCloudWatch::new(Client::from_conf(config)), connector)
    }

    /// A CBOR value as JSON (timestamps as epoch seconds), enough for the shapes used here.
    fn cbor_to_json(bytes: &[u8]) -> Value {
        fn value(decoder: &mut Decoder) -> Value {
            let datatype = decoder.datatype().expect("a CBOR item");
            match datatype {
                Type::Map | Type::MapIndef => {
                    let len = decoder.map().expect("map");
                    let mut object = serde_json::Map::new();
                    let mut remaining = len;
                    loop {
                        match remaining {
                            Some(0) => break,
                            Some(n) => remaining = Some(n - 1),
                            None if decoder.datatype().expect("item") == Type::Break => {
                                decoder.skip().expect("break");
                                break;
                            }
                            None => {}
                        }
                        let key = decoder.string().expect("string key");
                        object.insert(key, value(decoder));
                    }
                    Value::Object(object)
                }
                Type::Array | Type::ArrayIndef => {
                    let len = decoder.list().expect("array");
                    let mut items = Vec::new();
                    let mut remaining = len;
                    loop {
                        match remaining {
                            Some(0) => break,
                            Some(n) => remaining = Some(n - 1),
                            None if decoder.datatype().expect("item") == Type::Break => {
                                decoder.skip().expect("break");
                                break;
                            }
                            None => {}
                        }
                        items.push(value(decoder));
                    }
                    Value::Array(items)
                }
                Type::String | Type::StringIndef => Value::from(decoder.string().expect("string")),
                Type::Bool => Value::from(decoder.boolean().expect("bool")),
                Type::U8
                | Type::U16
                | Type::U32
                | Type::U64
                | Type::I8
                | Type::I16
                | Type::I32
                | Type::I64 => Value::from(decoder.long().expect("integer")),
                Type::F64 => Value::from(decoder.double().expect("double")),
                Type::F32 => Value::from(f64::from(decoder.float().expect("float"))),
                Type::Tag => Value::from(decoder.timestamp().expect("timestamp").as_secs_f64()),
                Type::Null => {
                    decoder.null().expect("null");
                    Value::Null
                }
                other => panic!("unexpected CBOR type {other:?}"),
            }
        }
        value(&mut Decoder::new(bytes))
    }

    /// One page of a GetMetricData answer.
    fn page(results: &[(&str, &[(i64, f64)])], next_token: Option<&str>) -> (u16, Vec<u8>) {
        let mut encoder = Encoder::new(Vec::new());
        encoder
            .begin_map()
            .str("MetricDataResults")
            .array(results.len());
        for (id, points) in results {
            encoder.begin_map().str("Id").str(id).str("Label").str(id);
            encoder.str("Timestamps").array(points.len());
            for (seconds, _) in *points {
                encoder.timestamp(&DateTime::from_secs(*seconds));
            }
            encoder.str("Values").array(points.len());
            for (_, value) in *points {
                encoder.double(*value);
            }
            encoder.str("StatusCode").str(if next_token.is_some() {
                "PartialData"
            } else {
                "Complete"
            });
            encoder.end();
        }
        if let Some(token) = next_token {
            encoder.str("NextToken").str(token);
        }
        encoder.end();
        (200, encoder.into_writer())
    }

    fn error_page(code: &str) -> (u16, Vec<u8>) {
        let mut encoder = Encoder::new(Vec::new());
        encoder
            .begin_map()
            .str("__type")
            .str(code)
            .str("message")
            .str("bad query")
            .end();
        (400, encoder.into_writer())
    }

    fn metric(id: &str, name: &str, stat: &str) -> MetricQuery {
        MetricQuery {
            id: id.into(),
            namespace: "AWS/ApplicationELB".into(),
            metric_name: name.into(),
            dimensions: vec![
                ("LoadBalancer".into(), "app/web/0123456789abcdef".into()),
                (
                    "TargetGroup".into(),
                    "targetgroup/web-b/0123456789abcdef".into(),
                ),
            ],
            stat: stat.into(),
            period_seconds: 60,
        }
    }

    /// A metric whose datapoints are returned.
    fn query(id: &str, name: &str, stat: &str) -> DataQuery {
        metric(id, name, stat).into()
    }

    /// A metric that only feeds expressions.
    fn input(id: &str, name: &str, stat: &str) -> DataQuery {
        DataQuery::Metric {
            query: metric(id, name, stat),
            return_data: false,
        }
    }

    fn expression(id: &str, expression: &str) -> DataQuery {
        DataQuery::Expression {
            id: id.into(),
            expression: expression.into(),
            period_seconds: 60,
        }
    }

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(seconds).expect("valid timestamp")
    }

    #[tokio::test]
    async fn the_request_carries_one_metric_stat_query_per_metric_newest_first() {
        let (cloudwatch, connector) = adapter(vec![page(&[], None)]);
        cloudwatch
            .get_metric_data(
                &[
                    query("errors", "HTTPCode_Target_5XX_Count", "Sum"),
                    query("latency", "TargetResponseTime", "p99"),
                ],
                at(1_700_000_000),
                at(1_700_000_600),
            )
            .await
            .expect("answered");
        let exchanges = connector.0.lock().expect("not poisoned");
        let [request] = exchanges.requests.as_slice() else {
            panic!("one request expected: {:?}", exchanges.requests);
        };
        assert!(
            request
                .path
                .ends_with("/service/GraniteServiceVersion20100801/operation/GetMetricData"),
            "{}",
            request.path
        );
        assert_eq!(request.protocol.as_deref(), Some("rpc-v2-cbor"));
        let metric_query = |id: &str, metric: &str, stat: &str| {
            json!({
                "Id": id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": metric,
                        "Dimensions": [
                            {"Name": "LoadBalancer", "Value": "app/web/0123456789abcdef"},
                            {"Name": "TargetGroup", "Value": "targetgroup/web-b/0123456789abcdef"},
                        ],
                    },
                    "Period": 60,
                    "Stat": stat,
                },
                "ReturnData": true,
            })
        };
        assert_eq!(
            request.body,
            json!({
                "MetricDataQueries": [
                    metric_query("errors", "HTTPCode_Target_5XX_Count", "Sum"),
                    metric_query("latency", "TargetResponseTime", "p99"),
                ],
                "StartTime": 1_700_000_000.0,
                "EndTime": 1_700_000_600.0,
                "ScanBy": "TimestampDescending",
            })
        );
    }

    #[tokio::test]
    async fn every_page_is_read_and_each_series_joins_its_datapoints_in_order() {
        let (cloudwatch, connector) = adapter(vec![
            page(
                &[
                    ("errors", &[(1_700_000_540, 3.0), (1_700_000_480, 1.0)]),
                    ("latency", &[(1_700_000_540, 0.25)]),
                ],
                Some("page-2"),
            ),
            page(
                &[("errors", &[(1_700_000_420, 0.0)]), ("latency", &[])],
                None,
            ),
        ]);
        let series = cloudwatch
            .get_metric_data(
                &[
                    query("errors", "HTTPCode_Target_5XX_Count", "Sum"),
                    query("latency", "TargetResponseTime", "p99"),
                ],
                at(1_700_000_000),
                at(1_700_000_600),
            )
            .await
            .expect("answered");
        assert_eq!(
            series,
            [
                MetricSeries {
                    id: "errors".into(),
                    values: vec![3.0, 1.0, 0.0],
                    timestamps: vec![at(1_700_000_540), at(1_700_000_480), at(1_700_000_420)],
                },
                MetricSeries {
                    id: "latency".into(),
                    values: vec![0.25],
                    timestamps: vec![at(1_700_000_540)],
                },
            ]
        );
        let exchanges = connector.0.lock().expect("not poisoned");
        assert_eq!(exchanges.requests.len(), 2);
        assert_eq!(exchanges.requests[0].body.get("NextToken"), None);
        assert_eq!(exchanges.requests[1].body["NextToken"], json!("page-2"));
    }

    #[tokio::test]
    async fn a_query_without_datapoints_is_an_empty_series() {
        let (cloudwatch, _) = adapter(vec![page(&[], None)]);
        let series = cloudwatch
            .get_metric_data(
                &[query("errors", "HTTPCode_Target_5XX_Count", "Sum")],
                at(0),
                at(60),
            )
            .await
            .expect("answered");
        assert_eq!(
            series,
            [MetricSeries {
                id: "errors".into(),
                values: Vec::new(),
                timestamps: Vec::new(),
            }]
        );
    }

    #[tokio::test]
    async fn a_rejected_query_is_an_invalid_request_error() {
        let (cloudwatch, _) = adapter(vec![error_page("InvalidParameterValue")]);
        let err = cloudwatch
            .get_metric_data(
                &[query("errors", "HTTPCode_Target_5XX_Count", "Sum")],
                at(0),
                at(60),
            )
            .await
            .expect_err("rejected");
        assert_eq!(
            (err.service, err.operation, err.code.as_str(), err.kind),
            (
                "cloudwatch",
                "GetMetricData",
                "InvalidParameterValue",
                AwsErrorKind::InvalidRequest
            )
        );
        assert_eq!(err.message, "bad query");
    }

    /// One page of a DescribeAlarms answer: (name, StateValue, StateReason) per metric alarm.
    fn alarms_page(alarms: &[(&str, &str, &str)], next_token: Option<&str>) -> (u16, Vec<u8>) {
        let mut encoder = Encoder::new(Vec::new());
        encoder.begin_map().str("MetricAlarms").array(alarms.len());
        for (name, state, reason) in alarms {
            encoder
                .begin_map()
                .str("AlarmName")
                .str(name)
                .str("StateValue")
                .str(state)
                .str("StateReason")
                .str(reason)
                .end();
        }
        encoder.str("CompositeAlarms").array(0);
        if let Some(token) = next_token {
            encoder.str("NextToken").str(token);
        }
        encoder.end();
        (200, encoder.into_writer())
    }

    fn ids_of(request: &Recorded) -> Vec<String> {
        request.body["MetricDataQueries"]
            .as_array()
            .expect("queries")
            .iter()
            .map(|q| q["Id"].as_str().expect("id").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn an_expression_goes_on_the_wire_with_its_period_over_inputs_that_return_no_data() {
        let (cloudwatch, connector) =
            adapter(vec![page(&[("rate", &[(1_700_000_540, 0.5)])], None)]);
        let series = cloudwatch
            .get_metric_data(
                &[
                    input("errors", "HTTPCode_Target_5XX_Count", "Sum"),
                    input("requests", "RequestCount", "Sum"),
                    expression("rate", "errors / requests"),
                ],
                at(1_700_000_000),
                at(1_700_000_600),
            )
            .await
            .expect("answered");
        assert_eq!(
            series,
            [MetricSeries {
                id: "rate".into(),
                values: vec![0.5],
                timestamps: vec![at(1_700_000_540)],
            }],
            "only the expression returns data"
        );
        let exchanges = connector.0.lock().expect("not poisoned");
        let queries = &exchanges.requests[0].body["MetricDataQueries"];
        assert_eq!(queries[0]["ReturnData"], json!(false));
        assert_eq!(queries[1]["ReturnData"], json!(false));
        assert_eq!(
            queries[2],
            json!({
                "Id": "rate",
                "Expression": "errors / requests",
                "Period": 60,
                "ReturnData": true,
            })
        );
    }

    #[tokio::test]
    async fn returned_entries_come_back_in_the_order_of_the_request_whatever_the_answer_order() {
        let (cloudwatch, _) = adapter(vec![page(
            &[
                ("ratio", &[(1_700_000_540, 0.1)]),
                ("errors", &[(1_700_000_540, 6.0)]),
            ],
            None,
        )]);
        let series = cloudwatch
            .get_metric_data(
                &[
                    query("errors", "HTTPCode_Target_5XX_Count", "Sum"),
                    input("requests", "RequestCount", "Sum"),
                    expression("ratio", "errors / requests"),
                    query("latency", "TargetResponseTime", "p99"),
                ],
                at(1_700_000_000),
                at(1_700_000_600),
            )
            .await
            .expect("answered");
        let ids: Vec<&str> = series.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["errors", "ratio", "latency"]);
        assert!(series[2].values.is_empty(), "no result is an empty series");
    }

    #[tokio::test]
    async fn more_than_500_queries_keep_an_expression_in_the_call_of_its_inputs() {
        // x first, y and the expression over them last: 502 entries, so two calls.
        let mut queries = vec![input("x", "RequestCount", "Sum")];
        queries.extend((1..=499).map(|i| query(&format!("m{i}"), "RequestCount", "Sum")));
        queries.push(input("y", "HTTPCode_Target_5XX_Count", "Sum"));
        queries.push(expression("e", "y / x"));
        let (cloudwatch, connector) = adapter(vec![page(&[], None), page(&[], None)]);
        let series = cloudwatch
            .get_metric_data(&queries, at(0), at(600))
            .await
            .expect("answered");
        assert_eq!(
            series.len(),
            500,
            "499 metrics and the expression return data"
        );
        let exchanges = connector.0.lock().expect("not poisoned");
        let calls: Vec<Vec<String>> = exchanges.requests.iter().map(ids_of).collect();
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|ids| ids.len() <= 500));
        let with_e = calls
            .iter()
            .find(|ids| ids.contains(&"e".to_owned()))
            .expect("the expression is sent");
        assert!(
            with_e.contains(&"x".to_owned()) && with_e.contains(&"y".to_owned()),
            "the expression's inputs travel with it"
        );
        assert_eq!(calls.iter().map(Vec::len).sum::<usize>(), 502);
    }

    #[tokio::test]
    async fn queries_referencing_each_other_beyond_one_call_are_refused_before_any_call() {
        let mut queries: Vec<DataQuery> = (0..500)
            .map(|i| input(&format!("m{i}"), "RequestCount", "Sum"))
            .collect();
        queries.push(expression("total", "SUM(METRICS())"));
        let (cloudwatch, connector) = adapter(Vec::new());
        let err = cloudwatch
            .get_metric_data(&queries, at(0), at(600))
            .await
            .expect_err("refused");
        assert_eq!(
            (err.code.as_str(), err.kind),
            ("InvalidInput", AwsErrorKind::InvalidRequest)
        );
        assert!(err.message.contains("501 queries"), "{}", err.message);
        assert!(
            connector
                .0
                .lock()
                .expect("not poisoned")
                .requests
                .is_empty()
        );
    }

    #[test]
    fn an_expression_references_lowercase_identifiers_outside_strings_and_numbers() {
        assert_eq!(
            referenced_ids("100 * FILL(errors, 0) / (requests + 1e-3) - SUM(METRICS(\"m1\"))"),
            ["errors", "requests"]
        );
        assert_eq!(
            referenced_ids("IF(lat_p99 > 2.5E+1, lat_p99)"),
            ["lat_p99", "lat_p99"]
        );
    }

    #[tokio::test]
    async fn alarms_are_described_by_name_as_metric_alarms_over_every_page() {
        let (cloudwatch, connector) = adapter(vec![
            alarms_page(
                &[(
                    "web-5xx",
                    "ALARM",
                    "Threshold Crossed: 1 datapoint [0.5 (01/12/26 10:00:00)] was greater than the threshold (0.05).",
                )],
                Some("page-2"),
            ),
            alarms_page(
                &[
                    (
                        "web-latency",
                        "OK",
                        "Threshold Crossed: 1 datapoint [0.06 (01/12/26 10:00:00)] was not greater than the threshold (1.0).",
                    ),
                    (
                        "web-healthy",
                        "INSUFFICIENT_DATA",
                        "Insufficient Data: 1 datapoint was unknown.",
                    ),
                ],
                None,
            ),
        ]);
        let names = ["web-5xx", "web-latency", "web-healthy", "web-missing"].map(String::from);
        let alarms = cloudwatch.describe_alarms(&names).await.expect("answered");
        let states: Vec<(&str, AlarmStateValue)> =
            alarms.iter().map(|a| (a.name.as_str(), a.state)).collect();
        assert_eq!(
            states,
            [
                ("web-5xx", AlarmStateValue::Alarm),
                ("web-latency", AlarmStateValue::Ok),
                ("web-healthy", AlarmStateValue::InsufficientData),
            ]
        );
        assert_eq!(
            alarms[0].reason,
            "Threshold Crossed: 1 datapoint [0.5 (01/12/26 10:00:00)] was greater than the threshold (0.05)."
        );
        let exchanges = connector.0.lock().expect("not poisoned");
        let [first, second] = exchanges.requests.as_slice() else {
            panic!("two pages expected: {:?}", exchanges.requests);
        };
        assert!(
            first
                .path
                .ends_with("/service/GraniteServiceVersion20100801/operation/DescribeAlarms"),
            "{}",
            first.path
        );
        assert_eq!(
            first.body,
            json!({
                "AlarmNames": ["web-5xx", "web-latency", "web-healthy", "web-missing"],
                "AlarmTypes": ["MetricAlarm"],
                "MaxRecords": 100,
            })
        );
        assert_eq!(second.body["NextToken"], json!("page-2"));
        assert_eq!(second.body["AlarmNames"], first.body["AlarmNames"]);
    }

    #[tokio::test]
    async fn more_than_100_alarm_names_are_split_into_calls_of_100() {
        let (cloudwatch, connector) = adapter(vec![alarms_page(&[], None), alarms_page(&[], None)]);
        let names: Vec<String> = (0..150).map(|i| format!("alarm-{i}")).collect();
        cloudwatch.describe_alarms(&names).await.expect("answered");
        let exchanges = connector.0.lock().expect("not poisoned");
        let sizes: Vec<usize> = exchanges
            .requests
            .iter()
            .map(|r| r.body["AlarmNames"].as_array().expect("names").len())
            .collect();
        assert_eq!(sizes, [100, 50]);
        assert_eq!(
            exchanges.requests[1].body["AlarmNames"][0],
            json!("alarm-100")
        );
    }

    #[tokio::test]
    async fn no_alarm_names_make_no_call_rather_than_listing_every_alarm() {
        let (cloudwatch, connector) = adapter(Vec::new());
        let alarms = cloudwatch.describe_alarms(&[]).await.expect("answered");
        assert!(alarms.is_empty());
        assert!(
            connector
                .0
                .lock()
                .expect("not poisoned")
                .requests
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_rejected_describe_alarms_names_its_operation() {
        let (cloudwatch, _) = adapter(vec![error_page("InvalidNextToken")]);
        let err = cloudwatch
            .describe_alarms(&["web-5xx".to_owned()])
            .await
            .expect_err("rejected");
        assert_eq!(
            (err.operation, err.code.as_str()),
            ("DescribeAlarms", "InvalidNextToken")
        );
    }
}
