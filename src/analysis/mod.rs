//! Analysis: measuring a rollout's new revision and judging it. The Deployment controller asks
//! [`run`] for the metrics the current step names (and the background metrics once traffic has
//! shifted); [`judge`] decides from the records in the Deployment's status which measurements are
//! due and what they conclude; the [`Provider`] takes them: CloudWatch metrics and alarms
//! ([`cloudwatch`]) and webhooks ([`webhook`]), behind [`Providers`]. The rollout state machine
//! only ever sees the resulting [`Verdict`]s.

pub mod cloudwatch;
pub mod judge;
pub mod webhook;

use crate::api::deployment::{AnalysisPhase, MeasurementOutcome, MetricResult};
use crate::api::strategy::Metric;
pub use crate::rollout::progressive::Verdict;
use async_trait::async_trait;
pub use judge::Observation;
use judge::Standing;
use std::sync::Arc;
use std::time::Duration;

/// What is measured: the rollout, and where its new revision takes traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// Namespace of the Deployment (webhook header Secrets are read there).
    pub namespace: String,
    /// The App.
    pub app: String,
    /// The revision rolled out.
    pub revision: i64,
    /// The revision serving when the rollout started.
    pub stable_revision: Option<i64>,
    /// Target group of the slot that runs the new revision.
    pub target_group_arn: Option<String>,
    /// The App's load balancer.
    pub load_balancer_arn: Option<String>,
}

/// One measurement to take.
#[derive(Clone, Debug)]
pub struct Read<'a> {
    /// The metric.
    pub metric: &'a Metric,
    /// What it measures.
    pub subject: &'a Subject,
    /// The window a CloudWatch measurement covers, `[start, end)`.
    pub window: (jiff::Timestamp, jiff::Timestamp),
}

/// Takes measurements.
#[async_trait]
pub trait Provider: Send + Sync {
    /// One observation per read, in order.
    async fn measure(&self, reads: &[Read<'_>]) -> Vec<Observation>;
}

/// The shortest window a CloudWatch measurement reads: the load balancer publishes its metrics
/// once a minute, a little late, so a shorter window may hold no complete minute.
pub const MIN_WINDOW: Duration = Duration::from_secs(120);

/// The window of a measurement taken at `now`: the metric's interval, at least [`MIN_WINDOW`]
/// and two periods of a query.
pub fn window(metric: &Metric, now: jiff::Timestamp) -> (jiff::Timestamp, jiff::Timestamp) {
    let period = metric
        .cloud_watch
        .as_ref()
        .and_then(|c| {
            c.query
                .as_ref()
                .map(|q| q.period_seconds)
                .or(c.math.as_ref().map(|m| m.period_seconds))
        })
        .unwrap_or(60);
    let seconds = u64::try_from(period.max(1)).unwrap_or(60) * 2;
    let length = judge::interval(metric)
        .max(MIN_WINDOW)
        .max(Duration::from_secs(seconds));
    let start = jiff::SignedDuration::try_from(length)
        .ok()
        .and_then(|d| now.checked_sub(d).ok())
        .unwrap_or(now);
    (start, now)
}

/// The provider's name, as the metrics label it.
pub fn provider_of(metric: &Metric) -> &'static str {
    if metric.webhook.is_some() {
        "webhook"
    } else if metric
        .cloud_watch
        .as_ref()
        .is_some_and(|c| c.alarm_name.is_some())
    {
        "cloudWatchAlarm"
    } else {
        "cloudWatch"
    }
}

/// What to measure in one pass.
#[derive(Clone, Debug, Default)]
pub struct Plan<'a> {
    /// The analysis step being run: its index and its metrics.
    pub step: Option<(usize, Vec<&'a Metric>)>,
    /// Background metrics, when traffic has shifted.
    pub background: Vec<&'a Metric>,
}

impl Plan<'_> {
    /// Whether there is nothing to measure.
    pub fn is_empty(&self) -> bool {
        self.step.is_none() && self.background.is_empty()
    }
}

/// A metric whose standing changed, to announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Whether it needs attention.
    pub warning: bool,
    /// `AnalysisPassed`, `AnalysisFailed`, `AnalysisInconclusive` or `AnalysisRecovered`.
    pub reason: &'static str,
    /// A sentence naming the metric.
    pub message: String,
}

/// What one pass measured and concluded.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Every record of the rollout, updated.
    pub records: Vec<MetricResult>,
    /// The verdict of the step's metrics, when a step was planned.
    pub step: Option<Verdict>,
    /// The verdict of the background metrics, when any were planned.
    pub background: Option<Verdict>,
    /// Standings that changed.
    pub notices: Vec<Notice>,
    /// The measurements taken: provider and outcome, for the metrics.
    pub measured: Vec<(&'static str, MeasurementOutcome)>,
}

/// Measures what is due of `plan` and judges it, from the rollout's records.
pub async fn run(
    provider: &dyn Provider,
    subject: &Subject,
    records: &[MetricResult],
    plan: &Plan<'_>,
    now: jiff::Timestamp,
) -> Outcome {
    let mut records = records.to_vec();
    let step_index = plan.step.as_ref().and_then(|(i, _)| i32::try_from(*i).ok());
    // (metric, its step index) for everything planned; records are created on first sight.
    let mut planned: Vec<(&Metric, Option<i32>)> = Vec::new();
    if let Some((_, metrics)) = &plan.step {
        planned.extend(metrics.iter().map(|m| (*m, step_index)));
    }
    planned.extend(plan.background.iter().map(|m| (*m, None)));
    for (metric, step) in &planned {
        if !records
            .iter()
            .any(|r| r.name == metric.name && r.step_index == *step)
        {
            records.push(judge::start(&metric.name, *step, now));
        }
    }
    let position = |records: &[MetricResult], metric: &Metric, step: Option<i32>| {
        records
            .iter()
            .position(|r| r.name == metric.name && r.step_index == step)
    };
    let due: Vec<(&Metric, usize)> = planned
        .iter()
        .filter_map(|(metric, step)| {
            let at = position(&records, metric, *step)?;
            judge::next_due(&records[at], metric)
                .is_some_and(|t| t <= now)
                .then_some((*metric, at))
        })
        .collect();
    let mut outcome = Outcome::default();
    if !due.is_empty() {
        let reads: Vec<Read<'_>> = due
            .iter()
            .map(|(metric, _)| Read {
                metric,
                subject,
                window: window(metric, now),
            })
            .collect();
        let observations = provider.measure(&reads).await;
        for ((metric, at), observation) in due.iter().zip(observations) {
            let before = records[*at].phase;
            let measured = judge::record(&mut records[*at], metric, observation, now);
            outcome.measured.push((provider_of(metric), measured));
            let after = &records[*at];
            if let Some(notice) = notice(metric, before, after) {
                outcome.notices.push(notice);
            }
        }
    }
    let pick = |step: Option<i32>, metrics: &[&Metric]| -> Vec<usize> {
        metrics
            .iter()
            .filter_map(|m| position(&records, m, step))
            .collect()
    };
    if let Some((_, metrics)) = &plan.step {
        let found: Vec<&MetricResult> = pick(step_index, metrics)
            .into_iter()
            .map(|i| &records[i])
            .collect();
        outcome.step = Some(verdict(judge::standing(metrics, &found), now));
    }
    if !plan.background.is_empty() {
        let found: Vec<&MetricResult> = pick(None, &plan.background)
            .into_iter()
            .map(|i| &records[i])
            .collect();
        outcome.background = Some(match judge::standing(&plan.background, &found) {
            // Background metrics never pass: they run until the rollout ends.
            Standing::Passed => Verdict::Running(Duration::from_secs(10)),
            other => verdict(other, now),
        });
    }
    outcome.records = records;
    outcome
}

/// The verdict a standing gives the state machine.
fn verdict(standing: Standing, now: jiff::Timestamp) -> Verdict {
    match standing {
        Standing::Passed => Verdict::Passed,
        Standing::Failed(why) => Verdict::Failed(why),
        Standing::Inconclusive(why) => Verdict::Inconclusive(why),
        Standing::Running(next) => Verdict::Running(
            next.and_then(|t| Duration::try_from(now.duration_until(t)).ok())
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_secs(1)),
        ),
    }
}

/// The notice of a metric whose phase changed.
fn notice(metric: &Metric, before: AnalysisPhase, after: &MetricResult) -> Option<Notice> {
    if before == after.phase {
        return None;
    }
    let why = after.message.clone().unwrap_or_default();
    let (warning, reason, message) = match after.phase {
        AnalysisPhase::Successful => (
            false,
            "AnalysisPassed",
            format!(
                "{} passed: {} of {} measurements within the success condition",
                metric.name,
                after.count - after.failures,
                after.count
            ),
        ),
        AnalysisPhase::Failed => (true, "AnalysisFailed", why),
        AnalysisPhase::Inconclusive => (true, "AnalysisInconclusive", why),
        AnalysisPhase::Running if before == AnalysisPhase::Inconclusive => (
            false,
            "AnalysisRecovered",
            format!("{} is conclusive again", metric.name),
        ),
        AnalysisPhase::Running => return None,
    };
    // The same metric may run in the background and in a step: each says which it is.
    let place = after
        .step_index
        .map_or("background".to_string(), |i| format!("step {}", i + 1));
    Some(Notice {
        warning,
        reason,
        message: format!("{place}: {message}"),
    })
}

/// The providers of this release: CloudWatch (metrics, math and alarms) and webhooks.
pub struct Providers {
    /// CloudWatch metrics, math and alarms.
    pub cloudwatch: cloudwatch::CloudWatchProvider,
    /// Webhooks.
    pub webhook: webhook::WebhookProvider,
}

impl Providers {
    /// The providers over these clients.
    pub fn new(cw: Arc<dyn crate::aws::cloudwatch::CloudWatch>, client: kube::Client) -> Self {
        Providers {
            cloudwatch: cloudwatch::CloudWatchProvider::new(cw),
            webhook: webhook::WebhookProvider::new(client),
        }
    }
}

#[async_trait]
impl Provider for Providers {
    async fn measure(&self, reads: &[Read<'_>]) -> Vec<Observation> {
        let (web, cw): (Vec<(usize, &Read<'_>)>, Vec<(usize, &Read<'_>)>) = reads
            .iter()
            .enumerate()
            .partition(|(_, r)| r.metric.webhook.is_some());
        let cw_reads: Vec<Read<'_>> = cw.iter().map(|(_, r)| (*r).clone()).collect();
        let web_reads: Vec<Read<'_>> = web.iter().map(|(_, r)| (*r).clone()).collect();
        let (cw_seen, web_seen) = futures::join!(
            self.cloudwatch.measure(&cw_reads),
            self.webhook.measure(&web_reads)
        );
        let mut out = vec![Observation::Error("not measured".to_string()); reads.len()];
        for ((i, _), seen) in cw.iter().zip(cw_seen) {
            out[*i] = seen;
        }
        for ((i, _), seen) in web.iter().zip(web_seen) {
            out[*i] = seen;
        }
        out
    }
}

/// A test double: each metric's observations in turn (the last one repeats), by metric name.
#[derive(Default)]
pub struct Scripted {
    /// (metric name, observations).
    pub script: std::sync::Mutex<Vec<(String, Vec<Observation>)>>,
    /// How many measurements were asked for, per metric.
    pub asked: std::sync::Mutex<Vec<String>>,
}

impl Scripted {
    /// A double giving these observations.
    pub fn new(script: Vec<(&str, Vec<Observation>)>) -> Self {
        Scripted {
            script: std::sync::Mutex::new(
                script
                    .into_iter()
                    .map(|(n, o)| (n.to_string(), o))
                    .collect(),
            ),
            asked: std::sync::Mutex::default(),
        }
    }
}

#[async_trait]
impl Provider for Scripted {
    async fn measure(&self, reads: &[Read<'_>]) -> Vec<Observation> {
        let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        reads
            .iter()
            .map(|read| {
                asked.push(read.metric.name.clone());
                match script.iter_mut().find(|(n, _)| *n == read.metric.name) {
                    Some((_, seen)) if seen.len() > 1 => seen.remove(0),
                    Some((_, seen)) if !seen.is_empty() => seen[0].clone(),
                    _ => Observation::Inconclusive("no script".to_string()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
