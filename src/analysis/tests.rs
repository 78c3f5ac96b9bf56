//! The analysis pass over a scripted provider: what is measured when, what is kept, and the
//! verdicts, including across a restart (a pass that starts from the records another wrote).

use super::*;
use crate::api::deployment::MeasurementOutcome;

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("time")
}

fn metric(name: &str, background: bool) -> Metric {
    serde_json::from_value(serde_json::json!({
        "name": name, "background": background, "intervalSeconds": 30, "count": 3,
        "successCondition": {"max": 0.05}, "cloudWatch": {"preset": "ErrorRate"},
    }))
    .expect("metric")
}

fn value(v: f64) -> Observation {
    Observation::Value {
        value: v,
        detail: "scripted".to_string(),
    }
}

#[tokio::test]
async fn a_step_measures_count_times_one_interval_apart_then_passes() {
    let errors = metric("errors", false);
    let provider = Scripted::new(vec![("errors", vec![value(0.0)])]);
    let plan = Plan {
        step: Some((1, vec![&errors])),
        background: vec![],
    };
    let subject = Subject::default();
    let mut records = Vec::new();
    let mut verdicts = Vec::new();
    for t in [0, 10, 30, 45, 60, 90] {
        let outcome = run(&provider, &subject, &records, &plan, at(t)).await;
        records = outcome.records;
        verdicts.push(outcome.step.expect("a step verdict"));
    }
    assert_eq!(provider.asked.lock().unwrap().len(), 3, "at 30, 60 and 90");
    assert_eq!(verdicts[0], Verdict::Running(Duration::from_secs(30)));
    assert_eq!(verdicts[1], Verdict::Running(Duration::from_secs(20)));
    assert_eq!(verdicts[5], Verdict::Passed);
    assert_eq!(records[0].count, 3);
    assert_eq!(records[0].measurements.len(), 3);
}

#[tokio::test]
async fn a_pass_resumed_from_the_records_neither_repeats_nor_skips_a_measurement() {
    let errors = metric("errors", false);
    let plan = Plan {
        step: Some((1, vec![&errors])),
        background: vec![],
    };
    let subject = Subject::default();
    let first = Scripted::new(vec![("errors", vec![value(0.0)])]);
    let mut records = run(&first, &subject, &[], &plan, at(0)).await.records;
    records = run(&first, &subject, &records, &plan, at(30)).await.records;
    // Another operator picks up the records: nothing is due before 60 s.
    let second = Scripted::new(vec![("errors", vec![value(0.0)])]);
    let outcome = run(&second, &subject, &records, &plan, at(31)).await;
    assert!(second.asked.lock().unwrap().is_empty());
    let outcome = run(&second, &subject, &outcome.records, &plan, at(60)).await;
    assert_eq!(second.asked.lock().unwrap().len(), 1);
    assert_eq!(outcome.records[0].count, 2);
    let times: Vec<_> = outcome.records[0]
        .measurements
        .iter()
        .map(|m| m.at.0)
        .collect();
    assert_eq!(times, [at(30), at(60)]);
}

#[tokio::test]
async fn a_failure_is_announced_once_with_the_metric_and_its_value() {
    let errors = metric("errors", false);
    let provider = Scripted::new(vec![("errors", vec![value(0.5)])]);
    let plan = Plan {
        step: Some((1, vec![&errors])),
        background: vec![],
    };
    let subject = Subject::default();
    let records = run(&provider, &subject, &[], &plan, at(0)).await.records;
    let outcome = run(&provider, &subject, &records, &plan, at(30)).await;
    assert_eq!(
        outcome.step,
        Some(Verdict::Failed(
            "errors measured 0.5 (scripted), above max 0.05".to_string()
        ))
    );
    assert_eq!(outcome.notices.len(), 1);
    assert_eq!(outcome.notices[0].reason, "AnalysisFailed");
    assert_eq!(
        outcome.measured,
        [("cloudWatch", MeasurementOutcome::Failed)]
    );
    let again = run(&provider, &subject, &outcome.records, &plan, at(90)).await;
    assert!(again.notices.is_empty());
    assert_eq!(
        provider.asked.lock().unwrap().len(),
        1,
        "a failed metric is done"
    );
}

#[tokio::test]
async fn background_metrics_run_beside_a_step_and_are_kept_apart() {
    let errors = metric("errors", false);
    let watch = metric("watch", true);
    let provider = Scripted::new(vec![
        ("errors", vec![value(0.0)]),
        ("watch", vec![value(0.0), value(0.9)]),
    ]);
    let plan = Plan {
        step: Some((2, vec![&errors])),
        background: vec![&watch],
    };
    let subject = Subject::default();
    let records = run(&provider, &subject, &[], &plan, at(0)).await.records;
    assert_eq!(records.len(), 2);
    let outcome = run(&provider, &subject, &records, &plan, at(30)).await;
    assert!(matches!(outcome.background, Some(Verdict::Running(_))));
    let outcome = run(&provider, &subject, &outcome.records, &plan, at(60)).await;
    assert!(
        matches!(outcome.background, Some(Verdict::Failed(_))),
        "{outcome:?}"
    );
    let watch_record = outcome.records.iter().find(|r| r.name == "watch").unwrap();
    assert_eq!(watch_record.step_index, None);
}
