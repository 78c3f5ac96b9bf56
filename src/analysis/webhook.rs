//! The webhook provider: one HTTP request per measurement, `GET` or `POST` (with a JSON
//! description of the rollout), headers written in the manifest or read from Secrets, a timeout,
//! redirects never followed, and answers read up to [`MAX_BODY`] bytes. A 2xx answer passes
//! unless the metric has a `successCondition`, then the number at `valueField` is judged.
//! Header values from Secrets, and query strings of URLs, never reach status, Events or logs.

use super::{Observation, Read};
use crate::api::strategy::{WebhookMethod, WebhookMetric};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use std::time::Duration;

/// The most of an answer that is read.
pub const MAX_BODY: usize = 64 * 1024;

/// Webhook measurements.
pub struct WebhookProvider {
    client: kube::Client,
    /// The HTTP client, or why it could not be built (then every measurement is an error,
    /// rather than one made by a client that follows redirects).
    http: Result<reqwest::Client, String>,
}

impl WebhookProvider {
    /// The provider; Secrets named by headers are read with `client`.
    pub fn new(client: kube::Client) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cygni/", env!("CARGO_PKG_VERSION"), " analysis"))
            .build()
            .map_err(|e| format!("no HTTP client: {}", crate::controller::root_cause(&e)));
        WebhookProvider { client, http }
    }

    /// One observation per read, in order; the requests run at the same time.
    pub async fn measure(&self, reads: &[Read<'_>]) -> Vec<Observation> {
        futures::future::join_all(reads.iter().map(|r| self.one(r))).await
    }

    async fn one(&self, read: &Read<'_>) -> Observation {
        let Some(hook) = read.metric.webhook.as_ref() else {
            return Observation::Error("not a webhook metric".to_string());
        };
        let shown = shown_url(&hook.url);
        let http = match &self.http {
            Ok(http) => http,
            Err(why) => return Observation::Error(why.clone()),
        };
        let mut request = match hook.method {
            WebhookMethod::Get => http.get(&hook.url),
            WebhookMethod::Post => http.post(&hook.url).json(&serde_json::json!({
                "namespace": read.subject.namespace,
                "app": read.subject.app,
                "revision": read.subject.revision,
                "stableRevision": read.subject.stable_revision,
                "metric": read.metric.name,
            })),
        };
        for header in &hook.headers {
            let value = match self.header_value(&read.subject.namespace, header).await {
                Ok(value) => value,
                Err(why) => return Observation::Error(why),
            };
            request = request.header(&header.name, value);
        }
        let timeout = Duration::from_secs(u64::try_from(hook.timeout_seconds.max(1)).unwrap_or(10));
        let response = match request.timeout(timeout).send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return timed_out(&shown, timeout),
            Err(e) => {
                return Observation::Error(format!(
                    "cannot reach {shown}: {}",
                    crate::controller::root_cause(&e.without_url())
                ));
            }
        };
        let status = response.status();
        let body = match read_bounded(response).await {
            Ok(body) => body,
            Err(e) if e.is_timeout() => return timed_out(&shown, timeout),
            Err(e) => {
                return Observation::Error(format!(
                    "{shown} broke off its answer: {}",
                    crate::controller::root_cause(&e.without_url())
                ));
            }
        };
        judge_answer(
            read.metric.success_condition.is_some(),
            hook,
            status,
            &body,
            &shown,
        )
    }

    async fn header_value(
        &self,
        namespace: &str,
        header: &crate::api::strategy::WebhookHeader,
    ) -> Result<String, String> {
        if let Some(value) = &header.value {
            return Ok(value.clone());
        }
        let Some(source) = &header.value_from else {
            return Err(format!("header {} has no value", header.name));
        };
        let r = &source.secret_key_ref;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets.get_opt(&r.name).await.map_err(|e| {
            format!(
                "header {}: cannot read Secret {}: {}",
                header.name,
                r.name,
                crate::controller::describe_kube(&e)
            )
        })?;
        let secret = secret.ok_or_else(|| {
            format!(
                "header {}: Secret {} does not exist in namespace {namespace}",
                header.name, r.name
            )
        })?;
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&r.key))
                    .map(|s| s.as_bytes().to_vec())
            })
            .ok_or_else(|| {
                format!(
                    "header {}: Secret {} has no key {}",
                    header.name, r.name, r.key
                )
            })?;
        String::from_utf8(bytes)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|_| {
                format!(
                    "header {}: key {} of Secret {} is not text",
                    header.name, r.key, r.name
                )
            })
    }
}

fn timed_out(shown: &str, timeout: Duration) -> Observation {
    Observation::Verdict {
        passed: false,
        value: None,
        detail: format!("{shown} did not answer within {}s", timeout.as_secs()),
    }
}

/// Reads at most [`MAX_BODY`] bytes (and one more, to know it was cut).
async fn read_bounded(mut response: reqwest::Response) -> reqwest::Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY + 1 - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() > MAX_BODY {
            break;
        }
    }
    Ok(body)
}

/// The URL as status and Events show it: without its query string or credentials, which may
/// hold secrets.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "the webhook URL".to_string(),
    }
}

/// What an answer says.
fn judge_answer(
    has_condition: bool,
    hook: &WebhookMetric,
    status: reqwest::StatusCode,
    body: &[u8],
    shown: &str,
) -> Observation {
    let code = status.as_u16();
    if status.is_redirection() {
        return Observation::Verdict {
            passed: false,
            value: None,
            detail: format!("{shown} answered HTTP {code}, a redirect, which is not followed"),
        };
    }
    if !status.is_success() {
        return Observation::Verdict {
            passed: false,
            value: None,
            detail: format!("{shown} answered HTTP {code}"),
        };
    }
    if !has_condition {
        return Observation::Verdict {
            passed: true,
            value: None,
            detail: format!("{shown} answered HTTP {code}"),
        };
    }
    if body.len() > MAX_BODY {
        return Observation::Inconclusive(format!(
            "{shown} answered more than {} KiB; the value cannot be read",
            MAX_BODY / 1024
        ));
    }
    let field = &hook.value_field;
    let value = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json.get(field).cloned());
    match value.as_ref().and_then(serde_json::Value::as_f64) {
        Some(value) => Observation::Value {
            value,
            detail: format!("`{field}` of {shown}"),
        },
        None => Observation::Inconclusive(format!(
            "{shown} answered HTTP {code} without a number at `{field}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Subject;
    use crate::api::strategy::Metric;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls_are_shown_without_their_query_or_credentials() {
        assert_eq!(
            shown_url("https://user:pw@checks.example/v1/score?token=s3cret"),
            "https://checks.example/v1/score"
        );
    }

    /// A server on a free local port that answers every request with `response` after `delay`,
    /// and hands each request it read to the test.
    async fn serve(
        response: &'static str,
        delay: Duration,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/check?key=secret-in-query",
            listener.local_addr().expect("addr")
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_string());
                    tokio::time::sleep(delay).await;
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        (url, rx)
    }

    fn ok(body: &str) -> String {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    fn leak(text: String) -> &'static str {
        Box::leak(text.into_boxed_str())
    }

    fn metric(url: &str, extra: serde_json::Value) -> Metric {
        let mut metric = serde_json::json!({
            "name": "smoke",
            "webhook": {"url": url, "timeoutSeconds": 1},
        });
        if let (Some(m), Some(extra)) = (metric.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if k == "webhook" {
                    if let (Some(w), Some(v)) = (m["webhook"].as_object_mut(), v.as_object()) {
                        w.extend(v.clone());
                    }
                } else {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::from_value(metric).expect("metric")
    }

    fn provider() -> WebhookProvider {
        let config = kube::Config::new("http://127.0.0.1:9".parse().expect("url"));
        WebhookProvider::new(kube::Client::try_from(config).expect("client"))
    }

    async fn measure(metric: &Metric) -> Observation {
        let subject = Subject {
            namespace: "shop".to_string(),
            app: "web".to_string(),
            revision: 3,
            stable_revision: Some(2),
            ..Subject::default()
        };
        let now = jiff::Timestamp::now();
        let read = Read {
            metric,
            subject: &subject,
            window: (now, now),
        };
        provider().measure(&[read]).await.remove(0)
    }

    #[tokio::test]
    async fn a_2xx_passes_without_a_condition_and_the_url_is_shown_without_its_query() {
        let (url, mut requests) = serve(leak(ok("{}")), Duration::ZERO).await;
        let seen = measure(&metric(&url, serde_json::json!({}))).await;
        let Observation::Verdict { passed, detail, .. } = seen else {
            panic!("{seen:?}")
        };
        assert!(passed);
        assert!(detail.ends_with("/check answered HTTP 200"), "{detail}");
        let request = requests.recv().await.expect("a request");
        assert!(
            request.starts_with("GET /check?key=secret-in-query HTTP/1.1"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_post_describes_the_rollout_and_carries_the_headers() {
        let (url, mut requests) = serve(leak(ok(r#"{"score": 0.97}"#)), Duration::ZERO).await;
        let m = metric(
            &url,
            serde_json::json!({
                "successCondition": {"min": 0.95},
                "webhook": {"method": "POST", "valueField": "score",
                            "headers": [{"name": "X-Team", "value": "payments"}]},
            }),
        );
        let seen = measure(&m).await;
        assert!(
            matches!(seen, Observation::Value { value, .. } if value == 0.97),
            "{seen:?}"
        );
        let request = requests
            .recv()
            .await
            .expect("a request")
            .to_ascii_lowercase();
        assert!(request.starts_with("post /check"), "{request}");
        assert!(request.contains("x-team: payments"), "{request}");
        assert!(
            request.contains(r#"{"app":"web","metric":"smoke","namespace":"shop","revision":3,"stablerevision":2}"#),
            "{request}"
        );
    }

    #[tokio::test]
    async fn an_answer_other_than_2xx_fails() {
        let (url, _) = serve(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            Duration::ZERO,
        )
        .await;
        let seen = measure(&metric(&url, serde_json::json!({}))).await;
        let Observation::Verdict { passed, detail, .. } = seen else {
            panic!("{seen:?}")
        };
        assert!(!passed);
        assert!(detail.ends_with("answered HTTP 503"), "{detail}");
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_fails() {
        let (url, mut requests) = serve(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            Duration::ZERO,
        )
        .await;
        let seen = measure(&metric(&url, serde_json::json!({}))).await;
        let Observation::Verdict { passed, detail, .. } = seen else {
            panic!("{seen:?}")
        };
        assert!(!passed);
        assert!(
            detail.contains("HTTP 302, a redirect, which is not followed"),
            "{detail}"
        );
        requests.recv().await.expect("the first request");
    }

    #[tokio::test]
    async fn no_answer_within_the_timeout_fails() {
        let (url, _) = serve(leak(ok("{}")), Duration::from_secs(3)).await;
        let seen = measure(&metric(&url, serde_json::json!({}))).await;
        let Observation::Verdict { passed, detail, .. } = seen else {
            panic!("{seen:?}")
        };
        assert!(!passed);
        assert!(detail.ends_with("did not answer within 1s"), "{detail}");
        assert!(!detail.contains("secret-in-query"), "{detail}");
    }

    #[tokio::test]
    async fn an_answer_beyond_the_bound_is_not_read_for_a_value() {
        let body = format!(r#"{{"value": 1, "pad": "{}"}}"#, "x".repeat(MAX_BODY));
        let (url, _) = serve(leak(ok(&body)), Duration::ZERO).await;
        let m = metric(&url, serde_json::json!({"successCondition": {"max": 2}}));
        let seen = measure(&m).await;
        assert!(
            matches!(&seen, Observation::Inconclusive(why) if why.contains("more than 64 KiB")),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn an_answer_without_the_value_is_inconclusive() {
        let (url, _) = serve(leak(ok(r#"{"other": 1}"#)), Duration::ZERO).await;
        let m = metric(&url, serde_json::json!({"successCondition": {"max": 2}}));
        let seen = measure(&m).await;
        assert!(
            matches!(&seen, Observation::Inconclusive(why) if why.contains("without a number at `value`")),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn a_server_that_cannot_be_reached_is_a_provider_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/check", listener.local_addr().expect("addr"));
        drop(listener);
        let seen = measure(&metric(&url, serde_json::json!({}))).await;
        assert!(
            matches!(&seen, Observation::Error(why) if why.starts_with("cannot reach http://127.0.0.1:")),
            "{seen:?}"
        );
    }
}
