//! [`CloudWatch`] over the AWS SDK: GetMetricData with one `MetricStat` query per metric
//! (`ReturnData=true`), newest datapoints first (`ScanBy=TimestampDescending`), every page read and
//! each query's datapoints joined across pages.
//!
//! The SDK speaks Smithy RPC v2 CBOR to CloudWatch, which moto does not serve, so the unit tests
//! below check the request on the wire and the mapping of a canned CBOR answer instead of a moto
//! contract test.

use super::RateLimit;
use super::error::{failed, invalid_input};
use crate::aws::cloudwatch::{CloudWatch, MetricQuery, MetricSeries};
use crate::aws::{AwsError, AwsErrorKind, AwsResult};
use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};

/// Service name in errors.
const SERVICE: &str = "cloudwatch";
/// Operation name in errors.
const OP: &str = "GetMetricData";
/// Default client-side rate for CloudWatch's GetMetricData.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;
/// GetMetricData takes at most this many queries per call.
const QUERIES_PER_CALL: usize = 500;

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

    /// All pages of one GetMetricData call, added to `series` (one entry per query, same order).
    async fn read_pages(
        &self,
        queries: Vec<MetricDataQuery>,
        start: DateTime,
        end: DateTime,
        series: &mut [MetricSeries],
    ) -> AwsResult<()> {
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
                .map_err(failed(SERVICE, OP))?;
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
                let Some(entry) = series
                    .iter_mut()
                    .find(|entry| Some(entry.id.as_str()) == result.id())
                else {
                    continue;
                };
                for (value, timestamp) in result.values().iter().zip(result.timestamps()) {
                    entry.values.push(*value);
                    entry.timestamps.push(timestamp_from_sdk(timestamp)?);
                }
            }
            next_token = output.next_token;
            if next_token.is_none() {
                return Ok(());
            }
        }
    }
}

fn result_error(kind: AwsErrorKind, code: &str, id: Option<&str>) -> AwsError {
    AwsError::new(
        SERVICE,
        OP,
        kind,
        code,
        format!("query {} answered {code}", id.unwrap_or_default()),
    )
}

fn timestamp_to_sdk(timestamp: jiff::Timestamp) -> AwsResult<DateTime> {
    DateTime::from_nanos(timestamp.as_nanosecond()).map_err(|err| invalid_input(SERVICE, OP, err))
}

fn timestamp_from_sdk(timestamp: &DateTime) -> AwsResult<jiff::Timestamp> {
    jiff::Timestamp::from_nanosecond(timestamp.as_nanos()).map_err(|err| {
        AwsError::new(
            SERVICE,
            OP,
            AwsErrorKind::Other,
            "InvalidTimestamp",
            err.to_string(),
        )
    })
}

fn query_to_sdk(query: &MetricQuery) -> MetricDataQuery {
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
        .return_data(true)
        .build()
}

#[async_trait]
impl CloudWatch for SdkCloudWatch {
    async fn get_metric_data(
        &self,
        queries: &[MetricQuery],
        start: jiff::Timestamp,
        end: jiff::Timestamp,
    ) -> AwsResult<Vec<MetricSeries>> {
        let start = timestamp_to_sdk(start)?;
        let end = timestamp_to_sdk(end)?;
        let mut all_series = Vec::with_capacity(queries.len());
        for batch in queries.chunks(QUERIES_PER_CALL) {
            let sdk_queries = batch.iter().map(query_to_sdk).collect();
            let mut series: Vec<MetricSeries> = batch
                .iter()
                .map(|query| MetricSeries {
                    id: query.id.clone(),
                    values: Vec::new(),
                    timestamps: Vec::new(),
                })
                .collect();
            self.read_pages(sdk_queries, start, end, &mut series)
                .await?;
            all_series.extend(series);
        }
        Ok(all_series)
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

    fn query(id: &str, metric: &str, stat: &str) -> MetricQuery {
        MetricQuery {
            id: id.into(),
            namespace: "AWS/ApplicationELB".into(),
            metric_name: metric.into(),
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
}
