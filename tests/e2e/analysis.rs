//! Analysis end to end: CloudWatch presets over the simulated load balancer's metrics (an image
//! that answers 5xx, a slow one, a healthy one), a webhook served by the test itself, no data,
//! and a restart in the middle of an analysis.

use crate::harness::*;
use cygni::api::deployment::{AnalysisPhase, MeasurementOutcome};
use cygni::api::{Deployment, DeploymentPhase, conditions};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// An App whose canary runs `steps` with the metrics `metrics`.
fn analysed(
    image: &str,
    steps: serde_json::Value,
    metrics: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "container": {"image": image, "port": 80},
        "replicas": 2,
        "strategy": {"canary": {"steps": steps, "scaleDownDelaySeconds": 2}},
        "analysis": {"metrics": metrics},
    })
}

fn error_rate(count: i32) -> serde_json::Value {
    serde_json::json!({
        "name": "error-rate", "intervalSeconds": 10, "count": count,
        "successCondition": {"max": 0.05}, "cloudWatch": {"preset": "ErrorRate"},
    })
}

fn latency(count: i32) -> serde_json::Value {
    serde_json::json!({
        "name": "latency", "intervalSeconds": 10, "count": count,
        "successCondition": {"max": 0.5}, "cloudWatch": {"preset": "LatencyP99"},
    })
}

/// Revision 1 at `nginx:1.27`, then `image` as revision 2; returns when revision 2 `is` as asked.
async fn second_revision(
    env: &Env,
    image: &str,
    spec: serde_json::Value,
    is: DeploymentPhase,
) -> Deployment {
    env.apply_app("web", spec).await;
    env.wait_app("web", "Ready", stable_at(1)).await;
    env.set_image("web", image).await;
    env.wait_phase("web-2", is).await
}

fn record<'d>(d: &'d Deployment, name: &str) -> &'d cygni::api::deployment::MetricResult {
    d.status
        .as_ref()
        .and_then(|s| s.analysis.iter().find(|r| r.name == name))
        .unwrap_or_else(|| panic!("no record of {name}: {d:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_answering_5xx_fails_its_first_analysis_and_traffic_returns_to_stable() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 20}, {"analysis": {"metrics": ["error-rate"]}}]);
    let spec = analysed("nginx:1.27", steps, serde_json::json!([error_rate(3)]));
    let failed = second_revision(&env, "nginx:5xx", spec, DeploymentPhase::Failed).await;
    let errors = record(&failed, "error-rate");
    assert_eq!(errors.phase, AnalysisPhase::Failed);
    assert_eq!(
        (errors.count, errors.failures),
        (1, 1),
        "failed at the first measurement"
    );
    let message = failed
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    // Half of the canary's requests answer 5xx; the window holds a few hundred of them.
    let measured = errors.last_value.expect("a value");
    assert!((0.35..=0.65).contains(&measured), "{errors:?}");
    let value = cygni::analysis::judge::number(measured);
    assert!(
        message.starts_with(&format!("analysis failed: error-rate measured {value} (")),
        "{message}"
    );
    assert!(message.contains("requests answered 5xx in the last 2m), above max 0.05; all traffic returns to revision 1"), "{message}");
    let app = env
        .wait_app("web", "Degraded by the analysis", |a| {
            condition(a, conditions::DEGRADED).is_some_and(|(_, r)| r == "AnalysisFailed")
        })
        .await;
    let id = env.identity(&app);
    env.watch_slots(
        &id,
        "web-2",
        "all traffic on stable, canary scaled down",
        |_| {
            sample(&env.aws.snapshot(), &id)
                == SlotSample {
                    weights: (100, 0),
                    desired: (2, 0),
                }
        },
    )
    .await;
    let events = env.wait_event("web", "AnalysisFailed").await;
    let note = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("AnalysisFailed"))
        .and_then(|e| e.note.clone())
        .unwrap_or_default();
    assert!(
        note.starts_with(&format!(
            "revision 2: step 2: error-rate measured {value} ("
        )),
        "{note}"
    );
    let metrics = env.metrics();
    for line in [
        r#"cygni_analysis_measurements_total{provider="cloudWatch",outcome="failed"} 1"#,
        r#"cygni_analysis_verdicts_total{verdict="failed"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    let (ok, out, err) = env.cygni(&["status", "web"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "error-rate           step 2     Failed       1/3       1       {value} at"
        )),
        "{out}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_canary_fails_the_latency_preset() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 20}, {"analysis": {"metrics": ["latency"]}}]);
    let spec = analysed("nginx:1.27", steps, serde_json::json!([latency(3)]));
    let failed = second_revision(&env, "nginx:slow", spec, DeploymentPhase::Failed).await;
    let slow = record(&failed, "latency");
    assert_eq!(slow.phase, AnalysisPhase::Failed);
    let value = slow.last_value.expect("a value");
    assert!((1.5..=2.5).contains(&value), "p99 of a 2 s image: {value}");
    assert!(
        slow.message
            .as_deref()
            .unwrap_or_default()
            .contains("above max 0.5"),
        "{slow:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_passes_every_analysis_and_its_background_metric() {
    let env = Env::start().await;
    let steps = serde_json::json!([
        {"setWeight": 20},
        {"analysis": {"metrics": ["error-rate", "latency"]}},
        {"setWeight": 50},
        {"analysis": {"metrics": ["error-rate"]}},
    ]);
    let mut watch = error_rate(1);
    watch["name"] = "watch".into();
    watch["background"] = true.into();
    let spec = analysed(
        "nginx:1.27",
        steps,
        serde_json::json!([error_rate(2), latency(2), watch]),
    );
    let done = second_revision(&env, "nginx:1.28", spec, DeploymentPhase::Succeeded).await;
    let records = &done.status.as_ref().expect("status").analysis;
    let at = |name: &str, step: Option<i32>| {
        records
            .iter()
            .find(|r| r.name == name && r.step_index == step)
            .unwrap_or_else(|| panic!("{name} at {step:?}: {records:?}"))
    };
    for (name, step) in [
        ("error-rate", Some(1)),
        ("latency", Some(1)),
        ("error-rate", Some(3)),
    ] {
        let r = at(name, step);
        assert_eq!(r.phase, AnalysisPhase::Successful, "{r:?}");
        assert_eq!((r.count, r.failures), (2, 0));
        assert!(
            r.measurements
                .iter()
                .all(|m| m.outcome == MeasurementOutcome::Passed)
        );
    }
    let background = at("watch", None);
    assert!(background.count >= 1, "{background:?}");
    assert_eq!(background.failures, 0);
    assert_eq!(
        background.phase,
        AnalysisPhase::Successful,
        "it ran to the end without failing: {background:?}"
    );
    env.wait_app("web", "stable at revision 2", stable_at(2))
        .await;
    env.stop().await;
}

/// What the test's webhook answers.
#[derive(Clone, Copy)]
enum Mode {
    Pass,
    Fail,
    Hang,
}

/// A webhook on a free local port: `{"score": 3}` or `{"score": 42}`, or no answer for 5 s; it
/// answers 401 unless the request carries the token.
async fn serve_webhook(mode: Arc<AtomicU32>, hits: Arc<AtomicU32>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/score?tenant=e2e",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mode = mode.clone();
            let hits = hits.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                hits.fetch_add(1, Ordering::SeqCst);
                let authorised = request.contains("authorization: bearer s3cret-token");
                let mode = match mode.load(Ordering::SeqCst) {
                    0 => Mode::Pass,
                    1 => Mode::Fail,
                    _ => Mode::Hang,
                };
                let (status, body) = match (authorised, mode) {
                    (false, _) => ("401 Unauthorized", "{}".to_string()),
                    (true, Mode::Pass) => ("200 OK", r#"{"score": 3}"#.to_string()),
                    (true, Mode::Fail) => ("200 OK", r#"{"score": 42}"#.to_string()),
                    (true, Mode::Hang) => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        ("200 OK", r#"{"score": 3}"#.to_string())
                    }
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_served_by_the_test_passes_fails_and_times_out() {
    let env = Env::start().await;
    let mode = Arc::new(AtomicU32::new(0));
    let hits = Arc::new(AtomicU32::new(0));
    let url = serve_webhook(mode.clone(), hits.clone()).await;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(env.client.clone(), &env.namespace);
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "score-token"},
        "stringData": {"token": "Bearer s3cret-token"},
    });
    secrets
        .patch(
            "score-token",
            &PatchParams::apply("e2e"),
            &Patch::Apply(&secret),
        )
        .await
        .expect("Secret applied");
    let steps = serde_json::json!([{"setWeight": 20}, {"analysis": {"metrics": ["score"]}}]);
    let score = serde_json::json!({
        "name": "score", "intervalSeconds": 10, "count": 1,
        "successCondition": {"max": 10},
        "webhook": {
            "url": url, "method": "POST", "valueField": "score", "timeoutSeconds": 1,
            "headers": [{"name": "Authorization",
                         "valueFrom": {"secretKeyRef": {"name": "score-token", "key": "token"}}}],
        },
    });
    let spec = analysed("nginx:1.27", steps, serde_json::json!([score]));
    let passed = second_revision(&env, "nginx:1.28", spec, DeploymentPhase::Succeeded).await;
    let r = record(&passed, "score");
    assert_eq!(r.phase, AnalysisPhase::Successful);
    assert_eq!(r.last_value, Some(3.0));
    env.wait_app("web", "stable at revision 2", stable_at(2))
        .await;

    mode.store(1, Ordering::SeqCst);
    env.set_image("web", "nginx:1.29").await;
    let failed = env.wait_phase("web-3", DeploymentPhase::Failed).await;
    let r = record(&failed, "score");
    assert_eq!(r.last_value, Some(42.0));
    assert!(
        r.message
            .as_deref()
            .unwrap_or_default()
            .contains("score measured 42"),
        "{r:?}"
    );

    mode.store(2, Ordering::SeqCst);
    env.set_image("web", "nginx:1.30").await;
    let timed_out = env.wait_phase("web-4", DeploymentPhase::Failed).await;
    let r = record(&timed_out, "score");
    let why = r.message.clone().unwrap_or_default();
    assert!(why.contains("did not answer within 1s"), "{why}");
    assert!(
        !why.contains("tenant=e2e"),
        "the query string is not shown: {why}"
    );
    assert!(hits.load(Ordering::SeqCst) >= 3);

    // The token is never in a status or an Event.
    for d in ["web-2", "web-3", "web-4"] {
        let d = env.deployments().get(d).await.expect("Deployment");
        let text = serde_json::to_string(&d.status).expect("json");
        assert!(!text.contains("s3cret"), "{text}");
    }
    for e in env.events_of("web").await {
        assert!(!e.note.unwrap_or_default().contains("s3cret"));
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_is_inconclusive_and_pauses_until_a_person_promotes() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 20}, {"analysis": {"metrics": ["orders"]}}]);
    let orders = serde_json::json!({
        "name": "orders", "intervalSeconds": 10, "count": 2,
        "successCondition": {"min": 1},
        "cloudWatch": {"query": {"namespace": "Acme/Checkout", "metricName": "Orders", "stat": "Sum",
                                 "dimensions": [{"name": "TargetGroup", "value": "$TARGET_GROUP"}]}},
    });
    let spec = analysed("nginx:1.27", steps, serde_json::json!([orders]));
    let paused = second_revision(&env, "nginx:1.28", spec, DeploymentPhase::Paused).await;
    let r = record(&paused, "orders");
    assert_eq!(r.phase, AnalysisPhase::Inconclusive);
    let message = paused
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("inconclusive, orders: no datapoints for Acme/Checkout Orders Sum"),
        "{message}"
    );
    assert!(
        message.ends_with("promote to continue or abort"),
        "{message}"
    );
    env.wait_event("web", "AnalysisInconclusive").await;

    let (ok, out, err) = env.cygni(&["promote", "web"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("promoted web-2: step 2/4 analysis orders"),
        "{out}"
    );
    env.wait_phase("web-2", DeploymentPhase::Succeeded).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_an_analysis_keeps_the_measurements_taken() {
    let mut env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 20}, {"analysis": {"metrics": ["error-rate"]}}]);
    env.apply_app(
        "web",
        analysed("nginx:1.27", steps, serde_json::json!([error_rate(3)])),
    )
    .await;
    env.wait_app("web", "Ready", stable_at(1)).await;
    env.set_image("web", "nginx:1.28").await;
    let start = std::time::Instant::now();
    let first = loop {
        let d = env
            .deployments()
            .get_opt("web-2")
            .await
            .expect("read web-2");
        if let Some(d) = d.filter(|d| {
            d.status
                .as_ref()
                .and_then(|s| s.analysis.first())
                .is_some_and(|r| r.count == 1)
        }) {
            break d;
        }
        assert!(start.elapsed() < PATIENCE, "no first measurement");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let taken = record(&first, "error-rate").measurements[0].clone();
    env.restart_operator().await;
    let done = env.wait_phase("web-2", DeploymentPhase::Succeeded).await;
    let r = record(&done, "error-rate");
    assert_eq!((r.count, r.failures), (3, 0), "{r:?}");
    assert_eq!(r.measurements.len(), 3, "none repeated, none lost: {r:?}");
    assert_eq!(
        r.measurements[0], taken,
        "the measurement taken before the restart is kept"
    );
    for pair in r.measurements.windows(2) {
        let gap = pair[0].at.0.duration_until(pair[1].at.0);
        assert!(gap.as_secs() >= 10, "one interval apart: {r:?}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_is_measured_before_and_after_its_switch_and_switches_back_on_failure() {
    let env = Env::start().await;
    let spec = serde_json::json!({
        "container": {"image": "nginx:1.27", "port": 80},
        "replicas": 2,
        "strategy": {"blueGreen": {
            "autoPromotionSeconds": 0,
            "scaleDownDelaySeconds": 30,
            "prePromotionAnalysis": {"metrics": ["latency"]},
            "postPromotionAnalysis": {"metrics": ["error-rate"]},
        }},
        "analysis": {"metrics": [latency(1), error_rate(1)]},
    });
    env.apply_app("web", spec).await;
    let app = env.wait_app("web", "Ready", stable_at(1)).await;
    let id = env.identity(&app);

    // A healthy revision passes both, measured on the preview listener and then in production.
    env.set_image("web", "nginx:1.28").await;
    let done = env.wait_phase("web-2", DeploymentPhase::Succeeded).await;
    let records = &done.status.as_ref().expect("status").analysis;
    let pre = records.iter().find(|r| r.name == "latency").expect("pre");
    let post = records
        .iter()
        .find(|r| r.name == "error-rate")
        .expect("post");
    assert_eq!(pre.phase, AnalysisPhase::Successful, "{pre:?}");
    assert_eq!(post.phase, AnalysisPhase::Successful, "{post:?}");
    assert!(pre.step_index < post.step_index);
    env.wait_app("web", "stable at revision 2", stable_at(2))
        .await;

    // An image answering 5xx passes the latency check before the switch and fails after it:
    // traffic switches back to revision 2, which kept its full size.
    env.set_image("web", "nginx:5xx").await;
    let failed = env.wait_phase("web-3", DeploymentPhase::Failed).await;
    let post = record(&failed, "error-rate");
    assert_eq!(post.phase, AnalysisPhase::Failed, "{post:?}");
    let pre = record(&failed, "latency");
    assert_eq!(pre.phase, AnalysisPhase::Successful, "{pre:?}");
    let app = env
        .wait_app("web", "back on revision 2", |a| {
            condition(a, conditions::READY).is_some_and(|(_, r)| r == "AnalysisFailed")
        })
        .await;
    let stable_slot = app
        .status
        .as_ref()
        .and_then(|s| s.active_slot)
        .expect("active slot");
    env.watch_slots(&id, "web-3", "all traffic back on revision 2", |_| {
        let s = sample(&env.aws.snapshot(), &id);
        match stable_slot {
            cygni::api::app::SlotName::A => s.weights == (100, 0) && s.desired == (2, 0),
            cygni::api::app::SlotName::B => s.weights == (0, 100) && s.desired == (0, 2),
        }
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_fails_when_the_alarm_it_reads_goes_off() {
    let env = Env::start().await;
    let steps = serde_json::json!([{"setWeight": 20}, {"analysis": {"metrics": ["alarm"]}}]);
    let alarm = serde_json::json!({
        "name": "alarm", "intervalSeconds": 10, "count": 2,
        "cloudWatch": {"alarmName": "web-5xx"},
    });
    env.apply_app(
        "web",
        analysed("nginx:1.27", steps, serde_json::json!([alarm])),
    )
    .await;
    let app = env.wait_app("web", "Ready", stable_at(1)).await;
    // The alarm watches the load balancer's target 5xx, which only the new image answers.
    let rule = app
        .status
        .as_ref()
        .and_then(|s| s.listener_rule_arn.clone())
        .expect("rule");
    let path = rule.split_once(":listener-rule/").expect("a rule ARN").1;
    let load_balancer = path.split('/').take(3).collect::<Vec<_>>().join("/");
    env.aws
        .put_metric_alarm(cygni::sim::aws::MetricAlarm {
            name: "web-5xx".to_string(),
            namespace: "AWS/ApplicationELB".to_string(),
            metric_name: "HTTPCode_Target_5XX_Count".to_string(),
            dimensions: vec![("LoadBalancer".to_string(), load_balancer)],
            statistic: "Sum".to_string(),
            period_seconds: 60,
            evaluation_periods: 1,
            threshold: 5.0,
            comparison: cygni::sim::aws::ComparisonOperator::GreaterThanThreshold,
        })
        .expect("alarm created");
    env.set_image("web", "nginx:5xx").await;
    let failed = env.wait_phase("web-2", DeploymentPhase::Failed).await;
    let r = record(&failed, "alarm");
    assert_eq!(r.phase, AnalysisPhase::Failed, "{r:?}");
    let why = r.message.clone().unwrap_or_default();
    assert!(
        why.starts_with("alarm: alarm web-5xx is in ALARM (Threshold Crossed"),
        "{why}"
    );
    env.stop().await;
}
