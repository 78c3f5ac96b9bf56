//! Where analysis verdicts come from: the [`Analyzer`] trait the Deployment controller asks when
//! a rollout reaches an analysis step, and what this release answers. The rollout state machine
//! only ever sees the resulting [`Verdict`].
//!
//! This release has no metric providers: [`Unmeasured`] answers every analysis with an
//! inconclusive verdict, which pauses the rollout for a person to promote or abort. It never
//! passes an analysis it did not measure.

use crate::api::Deployment;
use crate::api::strategy::Metric;
pub use crate::rollout::progressive::Verdict;
use async_trait::async_trait;

/// One analysis to evaluate: the metrics of one step of one rollout.
#[derive(Clone, Debug)]
pub struct AnalysisRequest<'a> {
    /// The rollout.
    pub deployment: &'a Deployment,
    /// Index of the analysis step.
    pub step: usize,
    /// The metrics the step names, as the rollout's snapshot defines them (a name the snapshot
    /// does not define is absent).
    pub metrics: Vec<&'a Metric>,
    /// The current time.
    pub now: jiff::Timestamp,
}

impl<'a> AnalysisRequest<'a> {
    /// The request for the step `step` of `deployment` naming `names`.
    pub fn new(
        deployment: &'a Deployment,
        step: usize,
        names: &[String],
        now: jiff::Timestamp,
    ) -> Self {
        let defined = deployment
            .spec
            .analysis
            .as_ref()
            .map(|a| a.metrics.as_slice())
            .unwrap_or_default();
        AnalysisRequest {
            deployment,
            step,
            metrics: names
                .iter()
                .filter_map(|n| defined.iter().find(|m| &m.name == n))
                .collect(),
            now,
        }
    }
}

/// Evaluates the analysis of a rollout step.
#[async_trait]
pub trait Analyzer: Send + Sync {
    /// The verdict on the request's metrics now.
    async fn evaluate(&self, request: &AnalysisRequest<'_>) -> Verdict;
}

/// The analyzer of this release: it cannot measure, so it says so and lets a person decide.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unmeasured;

#[async_trait]
impl Analyzer for Unmeasured {
    async fn evaluate(&self, _request: &AnalysisRequest<'_>) -> Verdict {
        Verdict::Inconclusive(
            "not measured (this release has no CloudWatch or webhook analysis)".to_string(),
        )
    }
}

/// A test double: the verdict given for each step, `Running` for the others.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    /// (step index, verdict).
    pub verdicts: Vec<(usize, Verdict)>,
}

#[async_trait]
impl Analyzer for Scripted {
    async fn evaluate(&self, request: &AnalysisRequest<'_>) -> Verdict {
        self.verdicts
            .iter()
            .find(|(step, _)| *step == request.step)
            .map(|(_, v)| v.clone())
            .unwrap_or(Verdict::Running(std::time::Duration::from_secs(10)))
    }
}
