//! The `Deployment` resource: one rollout of one App revision. The App controller creates it with
//! an immutable snapshot; users only pause, promote, abort or retry it; the Deployment controller
//! records every decision of the rollout in its status.

// kube's `printcolumn(...)` attributes repeat the same keys by design; clippy reads that as a mistake.
#![allow(clippy::duplicated_attributes)]

use super::app::AppTemplate;
use super::strategy::{AnalysisSpec, Strategy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Message shown when someone edits a frozen field.
const IMMUTABLE: &str =
    "is immutable: a Deployment is a snapshot of one App revision; change the App instead";

/// One rollout of one App revision, named `<app>-<revision>`. Its spec is a frozen copy of the
/// App's template and strategy; the list of Deployments is the App's release history.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "cygni.io",
    version = "v1alpha1",
    kind = "Deployment",
    namespaced,
    status = "DeploymentStatus",
    shortname = "cxdeploy",
    category = "cygni",
    doc = "One rollout of one App revision: an immutable snapshot plus the rollout's progress.",
    printcolumn(name = "App", type_ = "string", json_path = ".spec.app"),
    printcolumn(name = "Revision", type_ = "integer", json_path = ".spec.revision"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Step",
        type_ = "string",
        json_path = ".status.currentStep",
        description = "The step being run, e.g. 2/5 setWeight 50"
    ),
    printcolumn(
        name = "Weight",
        type_ = "integer",
        json_path = ".status.verifiedWeight",
        description = "Traffic share verified on the load balancer"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredWeight",
        description = "Traffic share the rollout asks for"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "has(self.analysis) == has(oldSelf.analysis) && (!has(self.analysis) || self.analysis == oldSelf.analysis)"
).message("analysis is immutable: a Deployment is a snapshot of one App revision; change the App instead").field_path(".analysis"))]
#[x_kube(validation = Rule::new(
    "has(self.rollbackOf) == has(oldSelf.rollbackOf) && (!has(self.rollbackOf) || self.rollbackOf == oldSelf.rollbackOf)"
).message("rollbackOf is immutable").field_path(".rollbackOf"))]
pub struct DeploymentSpec {
    /// Name of the App (same namespace) this Deployment rolls out.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf").message(IMMUTABLE))]
    pub app: String,
    /// Revision number, counting from 1 per App.
    #[schemars(range(min = 1))]
    #[x_kube(validation = Rule::new("self == oldSelf").message(IMMUTABLE))]
    pub revision: i64,
    /// Hash of `template`; a new App template hash means a new Deployment.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message(IMMUTABLE))]
    pub template_hash: String,
    /// What runs: container, health check, network, IAM, logs.
    #[x_kube(validation = Rule::new("self == oldSelf").message(IMMUTABLE))]
    pub template: AppTemplate,
    /// How this revision is rolled out.
    #[x_kube(validation = Rule::new("self == oldSelf").message(IMMUTABLE))]
    pub strategy: Strategy,
    /// Analysis metrics this rollout uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisSpec>,
    /// Set when this revision re-applies the snapshot of an earlier one (a rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub rollback_of: Option<i64>,
    /// Hold a canary or blue-green rollout at its current step; clearing it resumes. A timed
    /// pause keeps counting while held: resumed, it waits only for what is left of its duration.
    #[serde(default)]
    pub paused: bool,
    /// Stop a canary or blue-green rollout: all traffic returns to the stable revision at once and
    /// the new slot scales to zero. During the scale-down delay after a blue-green switch it
    /// switches traffic back to the previous revision.
    #[serde(default)]
    pub abort: bool,
    /// Skip the remaining steps and analysis and send 100% to this revision; the switch is still
    /// verified on the listener before the old slot goes.
    #[serde(default)]
    pub promote_full: bool,
    /// Treat the step with this index as complete: ends a pause (timed or not), an analysis step,
    /// a blue-green wait for promotion or the scale-down delay. Has no effect once the rollout is
    /// past that step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub promote_step: Option<i32>,
    /// Increment to retry an aborted or failed canary or blue-green rollout from its first step.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub retry_attempt: i32,
}

/// Where a rollout is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeploymentPhase {
    /// Created, not started.
    #[default]
    Pending,
    /// Moving through its steps.
    Progressing,
    /// Waiting for a pause to end or for promotion.
    Paused,
    /// All traffic on this revision; it is stable.
    Succeeded,
    /// Analysis or ECS health failed; traffic went back to the stable revision.
    Failed,
    /// Stopped by a user; traffic went back to the stable revision.
    Aborted,
    /// A newer revision replaced this one before it finished.
    Superseded,
}

impl std::fmt::Display for DeploymentPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeploymentPhase::Pending => "Pending",
            DeploymentPhase::Progressing => "Progressing",
            DeploymentPhase::Paused => "Paused",
            DeploymentPhase::Succeeded => "Succeeded",
            DeploymentPhase::Failed => "Failed",
            DeploymentPhase::Aborted => "Aborted",
            DeploymentPhase::Superseded => "Superseded",
        })
    }
}

impl DeploymentPhase {
    /// Whether the rollout can make no more progress without a user action.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentPhase::Succeeded
                | DeploymentPhase::Failed
                | DeploymentPhase::Aborted
                | DeploymentPhase::Superseded
        )
    }
}

/// The rollout's memory. The operator can restart at any instant and continue from here.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions (Ready, Progressing, Degraded).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Where the rollout is.
    #[serde(default)]
    pub phase: DeploymentPhase,
    /// Index of the step being run in the rollout's steps: a canary's steps as written, then
    /// `setWeight 100` and the scale-down delay; a blue-green's preview, pre-promotion analysis,
    /// promotion, switch, post-promotion analysis and scale-down delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// The step being run, for people: its number of all, and what it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<String>,
    /// When the current step started (pause timers count from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_started_at: Option<Time>,
    /// Traffic share (percent) this revision should receive now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_weight: Option<i32>,
    /// Traffic share (percent) read back from the listener rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_weight: Option<i32>,
    /// Tasks this revision's slot should run now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Results of analysis runs.
    #[serde(default)]
    pub analysis: Vec<MetricResult>,
    /// The `retryAttempt` this status reflects.
    #[serde(default)]
    pub observed_retry_attempt: i32,
    /// When a user paused the rollout (`spec.paused`); cleared on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<Time>,
    /// A sentence on what is happening or why the rollout stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the rollout started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the rollout reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

/// Where the measurements of one metric stand.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AnalysisPhase {
    /// Measurements are being taken.
    Running,
    /// Every measurement needed was taken within the failure limit.
    Successful,
    /// More measurements failed than the failure limit allows.
    Failed,
    /// No verdict could be reached (no data, or no way to measure); a person decides.
    Inconclusive,
}

/// Measurements of one metric in one rollout.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// Metric name.
    pub name: String,
    /// Step index the measurements belong to; absent for background metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<i32>,
    /// Where the metric stands.
    pub phase: AnalysisPhase,
    /// Measurements taken.
    #[serde(default)]
    pub count: i32,
    /// Measurements outside the success condition.
    #[serde(default)]
    pub failures: i32,
    /// Last measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<f64>,
    /// When the last measurement was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_measured_at: Option<Time>,
    /// Why the metric stands where it does: the last failure, or why it is inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the metric started: its first measurement is due one interval later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// Measurements in a row whose provider answered with an error (retried, then
    /// inconclusive).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_errors: i32,
    /// The latest measurements, oldest first (at most 10; `count` and `failures` count them
    /// all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// What one measurement concluded.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MeasurementOutcome {
    /// Within the success condition (or a 2xx answer, or an alarm in `OK`).
    Passed,
    /// Outside it (or a non-2xx answer, a timeout, an alarm in `ALARM`).
    Failed,
    /// No verdict: no data, too few requests, an alarm without data, or repeated errors.
    Inconclusive,
    /// The provider could not be asked (it is asked again shortly).
    Error,
}

/// One measurement of a metric.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// When it was taken.
    pub at: Time,
    /// What it concluded.
    pub outcome: MeasurementOutcome,
    /// The value measured, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// A sentence on what was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
