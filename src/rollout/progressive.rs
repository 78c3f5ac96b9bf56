//! The canary and blue-green state machine: from a Deployment (its steps, the user's intents in
//! its spec, its status), what the App reports about the new slot, an analysis verdict and `now`,
//! to the Deployment's next status (phase, step, desired weight and size), when to look again,
//! and what to announce. No I/O: the Deployment controller observes, calls [`decide`] and writes
//! the status; the App controller applies the weight and size and reports them back.
//!
//! Rules, each with a test named after it:
//! - a weight step completes only when the weight read back from the listener equals the desired
//!   one, on the slot that runs this revision;
//! - abort, a failed analysis, crashing tasks and a missed progress deadline return all traffic to
//!   the stable revision (desired weight 0) and scale the new slot down (desired size 0);
//! - a newer revision supersedes this one;
//! - everything the rollout remembers is in the status: the same inputs give the same decision,
//!   so an operator restarted at any instant continues exactly where it was; timed waits return
//!   the time left instead of sleeping.

use super::steps::{self, RolloutStep};
use crate::api::app::EcsRolloutState;
use crate::api::deployment::{DeploymentPhase, DeploymentSpec, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

/// How often a rollout waiting on AWS is looked at (App status changes also trigger a look).
pub const POLL: Duration = Duration::from_secs(5);

/// The slot that runs (or is to run) the new revision, as the App reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlotView {
    /// Revision the slot runs.
    pub revision: Option<i64>,
    /// Revision the operator last asked the slot to run.
    pub requested_revision: Option<i64>,
    /// Tasks ECS is asked to run.
    pub desired: i32,
    /// Tasks running.
    pub running: i32,
    /// Tasks passing health checks.
    pub healthy: i32,
    /// Traffic weight read back from the listener rule.
    pub weight: i32,
    /// State of the slot's ECS deployment.
    pub rollout_state: Option<EcsRolloutState>,
    /// Why ECS stopped the slot's deployment, when it did.
    pub failure: Option<String>,
}

/// What the App reports that the rollout depends on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppView {
    /// `spec.replicas`.
    pub replicas: i32,
    /// The newest revision.
    pub current_revision: Option<i64>,
    /// The revision that serves when no rollout runs.
    pub stable_revision: Option<i64>,
    /// The slot of the new revision (the one that does not serve the stable revision).
    pub new_slot: Option<SlotView>,
}

/// The outcome of an analysis, as the analysis providers report it.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every metric passed.
    Passed,
    /// A metric failed: the rollout fails and traffic returns to stable.
    Failed(String),
    /// Still measuring; look again after this long.
    Running(Duration),
    /// No verdict can be reached; a person decides (promote or abort).
    Inconclusive(String),
}

/// Everything [`decide`] looks at.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// The Deployment's spec: revision and the user's intents.
    pub spec: &'a DeploymentSpec,
    /// The rollout's steps (built once from the frozen strategy).
    pub steps: &'a [RolloutStep],
    /// How long a step that waits on AWS may take.
    pub progress_deadline: Duration,
    /// The rollout's memory.
    pub status: &'a DeploymentStatus,
    /// The App, or `None` when it does not exist.
    pub app: Option<&'a AppView>,
    /// The verdict of the analysis of one step (its index), when it was measured.
    pub verdict: Option<(usize, &'a Verdict)>,
    /// The verdict of the background metrics, when they run.
    pub background: Option<&'a Verdict>,
    /// The current time.
    pub now: jiff::Timestamp,
}

/// Something to announce: an Event and a metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// Whether it needs attention.
    pub warning: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// A sentence.
    pub message: String,
}

/// A step that completed, for the step duration metric.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletedStep {
    /// Its index.
    pub index: usize,
    /// What it was.
    pub step: RolloutStep,
    /// How long it took.
    pub took: Duration,
}

/// What the state machine decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The next status.
    pub status: DeploymentStatus,
    /// When to look again; `None` waits for a change (a terminal phase, a pause by a user).
    pub requeue_after: Option<Duration>,
    /// Transitions to announce, in order.
    pub announcements: Vec<Announcement>,
    /// Steps that completed in this decision.
    pub completed: Vec<CompletedStep>,
    /// The analysis the current step needs measured (its index and metric names), when it is an
    /// analysis step and no verdict was given.
    pub wants_analysis: Option<(usize, Vec<String>)>,
}

/// Decides the next state of a canary or blue-green rollout.
pub fn decide(inputs: &Inputs<'_>) -> Decision {
    let mut run = Run {
        inputs,
        status: inputs.status.clone(),
        requeue: None,
        announcements: Vec::new(),
        completed: Vec::new(),
        wants_analysis: None,
    };
    run.decide();
    Decision {
        status: run.status,
        requeue_after: run.requeue,
        announcements: run.announcements,
        completed: run.completed,
        wants_analysis: run.wants_analysis,
    }
}

/// How a step stands.
enum Progress {
    /// Done: move to the next step.
    Complete(String),
    /// Not yet: the phase to show, why, when to look again, and whether the progress deadline
    /// bounds the wait.
    Waiting {
        phase: DeploymentPhase,
        why: String,
        look_again: Option<Duration>,
    },
    /// The rollout fails.
    Failed(String),
}

/// One decision in the making.
struct Run<'i, 'a> {
    inputs: &'i Inputs<'a>,
    status: DeploymentStatus,
    requeue: Option<Duration>,
    announcements: Vec<Announcement>,
    completed: Vec<CompletedStep>,
    wants_analysis: Option<(usize, Vec<String>)>,
}

impl Run<'_, '_> {
    fn revision(&self) -> i64 {
        self.inputs.spec.revision
    }

    fn now(&self) -> jiff::Timestamp {
        self.inputs.now
    }

    fn announce(&mut self, warning: bool, reason: &'static str, message: String) {
        self.announcements.push(Announcement {
            warning,
            reason,
            message,
        });
    }

    fn look_again(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    fn decide(&mut self) {
        let spec = self.inputs.spec;
        // A retry of a failed or aborted rollout starts it again from its first step.
        if matches!(
            self.status.phase,
            DeploymentPhase::Failed | DeploymentPhase::Aborted
        ) && spec.retry_attempt > self.status.observed_retry_attempt
            && !spec.abort
        {
            self.status.observed_retry_attempt = spec.retry_attempt;
            self.status.analysis.clear();
            self.status.finished_at = None;
            self.enter(0);
            self.status.phase = DeploymentPhase::Progressing;
            let message = format!(
                "retry {}: revision {} starts again from step 1",
                spec.retry_attempt,
                self.revision()
            );
            self.announce(false, "RolloutRetried", message);
        }
        if self.status.phase.is_terminal() {
            return;
        }
        let Some(app) = self.inputs.app else {
            self.status.phase = DeploymentPhase::Pending;
            self.status.message = Some(format!("App {} does not exist", spec.app));
            self.look_again(Duration::from_secs(30));
            return;
        };
        if let Some(newer) = app.current_revision.filter(|c| *c > self.revision()) {
            let message = format!(
                "revision {newer} replaced revision {} before it finished; traffic starts again from the stable revision",
                self.revision()
            );
            self.finish(
                DeploymentPhase::Superseded,
                "RolloutSuperseded",
                message,
                false,
            );
            return;
        }
        if spec.abort {
            let message = format!(
                "aborted by a user: all traffic returns to {}",
                stable_name(app)
            );
            self.finish(DeploymentPhase::Aborted, "RolloutAborted", message, true);
            return;
        }
        if self.status.current_step_index.is_none() {
            self.status.started_at = Some(Time(self.now()));
            self.enter(0);
            let message = format!("starts its {} steps", self.inputs.steps.len());
            self.announce(false, "RolloutStarted", message);
        }
        // A failed background metric ends the rollout even while a user holds it.
        if let Some(Verdict::Failed(why)) = self.inputs.background {
            self.fail(format!("analysis failed: {why}"));
            return;
        }
        if spec.paused {
            self.hold_for_user();
            return;
        }
        if self.status.paused_at.take().is_some() {
            let message = format!("resumed at {}", self.step_label(self.index()));
            self.announce(false, "RolloutResumed", message);
        }
        let full = steps::full_traffic_index(self.inputs.steps);
        if spec.promote_full && self.index() < full {
            let message = format!(
                "promoted fully by a user: skipping to {}",
                self.step_label(full)
            );
            self.announce(false, "RolloutPromoted", message);
            self.enter(full);
        }
        if let Some(reason) = crashed(app, self.revision()) {
            self.fail(reason);
            return;
        }
        if let Some(Verdict::Inconclusive(why)) = self.inputs.background
            && !self.promoted(self.index())
        {
            self.hold_for_background(why);
            return;
        }
        self.walk(app);
    }

    fn index(&self) -> usize {
        self.status
            .current_step_index
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(0)
    }

    /// Starts step `index` now. The start is kept rounded up to the second: the API server keeps
    /// whole seconds, and a timed wait must never end before its time because the fraction was
    /// dropped (it may last up to a second longer).
    fn enter(&mut self, index: usize) {
        self.status.current_step_index = i32::try_from(index).ok();
        self.status.step_started_at = Some(Time(ceil_second(self.now())));
        self.set_targets(index);
    }

    /// Desired weight and size for step `index`, and its label.
    fn set_targets(&mut self, index: usize) {
        let replicas = self.inputs.app.map_or(0, |a| a.replicas);
        let steps = self.inputs.steps;
        if index < steps.len() {
            self.status.desired_weight = Some(steps::weight_at(steps, index));
            self.status.desired_replicas = Some(steps::replicas_at(steps, index, replicas));
            self.status.current_step = Some(self.step_label(index));
        }
    }

    fn step_label(&self, index: usize) -> String {
        let steps = self.inputs.steps;
        match steps.get(index) {
            Some(step) => format!("{}/{} {step}", index + 1, steps.len()),
            None => format!("{}/{} done", steps.len(), steps.len()),
        }
    }

    /// When the current step ends if it lasts `d`, in whole seconds (UTC): a message that holds
    /// for the whole wait, unlike a time left.
    fn step_end(&self, d: Duration) -> String {
        let started = self
            .status
            .step_started_at
            .as_ref()
            .map_or(self.now(), |t| t.0);
        let end = started
            .saturating_add(jiff::SignedDuration::try_from(d).unwrap_or_default())
            .unwrap_or(started);
        jiff::Timestamp::from_second(end.as_second())
            .unwrap_or(end)
            .to_string()
    }

    fn step_elapsed(&self) -> Duration {
        let started = self
            .status
            .step_started_at
            .as_ref()
            .map_or(self.now(), |t| t.0);
        Duration::try_from(started.duration_until(self.now())).unwrap_or(Duration::ZERO)
    }

    /// Whether a user promoted step `index` (`cygni promote`).
    fn promoted(&self, index: usize) -> bool {
        self.inputs
            .spec
            .promote_step
            .and_then(|p| usize::try_from(p).ok())
            == Some(index)
    }

    /// A background metric is inconclusive: the rollout stays at its step until the metric is
    /// conclusive again or a person promotes the step.
    fn hold_for_background(&mut self, why: &str) {
        let index = self.index();
        self.set_targets(index);
        let label = self.step_label(index);
        if self.status.phase != DeploymentPhase::Paused {
            self.announce(false, "RolloutPaused", format!("paused at {label}: {why}"));
        }
        self.status.phase = DeploymentPhase::Paused;
        self.status.message = Some(format!(
            "{label}: held, background analysis inconclusive, {why}; promote to continue or abort"
        ));
        self.look_again(POLL);
    }

    /// A user paused the rollout: nothing moves until they resume.
    fn hold_for_user(&mut self) {
        let index = self.index();
        self.set_targets(index);
        if self.status.paused_at.is_none() {
            self.status.paused_at = Some(Time(self.now()));
            let message = format!("paused by a user at {}", self.step_label(index));
            self.announce(false, "RolloutPaused", message);
        }
        self.status.phase = DeploymentPhase::Paused;
        self.status.message = Some(format!(
            "paused by a user at {}; resume to continue",
            self.step_label(index)
        ));
    }

    /// Walks the steps from the current one while they complete.
    fn walk(&mut self, app: &AppView) {
        // The weight read back from the listener on the slot that runs this revision.
        self.status.verified_weight = app
            .new_slot
            .as_ref()
            .filter(|s| s.revision == Some(self.revision()))
            .map(|s| s.weight);
        // A pause reached from another pause (a promoted analysis followed by a wait for
        // promotion) is a new pause to announce, though the phase stays Paused.
        let mut moved = false;
        // Each pass either completes a step (and moves on) or stops; the bound is a safety net.
        for _ in 0..=self.inputs.steps.len() {
            let index = self.index();
            let Some(step) = self.inputs.steps.get(index).cloned() else {
                let message = format!(
                    "revision {} serves all traffic; the previous revision is scaled down",
                    self.revision()
                );
                self.finish(
                    DeploymentPhase::Succeeded,
                    "RolloutSucceeded",
                    message,
                    false,
                );
                return;
            };
            self.set_targets(index);
            match self.progress(index, &step, app) {
                Progress::Complete(what) => {
                    let took = self.step_elapsed();
                    let message = format!("{} complete: {what}", self.step_label(index));
                    self.announce(false, "StepCompleted", message);
                    self.completed.push(CompletedStep { index, step, took });
                    self.enter(index + 1);
                    moved = true;
                }
                Progress::Waiting {
                    phase,
                    why,
                    look_again,
                } => {
                    if step.waits_on_aws() {
                        let elapsed = self.step_elapsed();
                        let deadline = self.inputs.progress_deadline;
                        if elapsed >= deadline {
                            self.fail(format!(
                                "{} did not complete within the progress deadline of {}s: {why}",
                                self.step_label(index),
                                deadline.as_secs()
                            ));
                            return;
                        }
                        self.look_again(deadline - elapsed);
                    }
                    if phase == DeploymentPhase::Paused
                        && (moved || self.status.phase != DeploymentPhase::Paused)
                    {
                        // The same words however late the decision is made (no time left in
                        // them), so an announcement repeated after a restart is the same Event.
                        let message = match &step {
                            RolloutStep::Analysis { .. } => {
                                format!("paused at {}: {why}", self.step_label(index))
                            }
                            _ => format!("paused at {}", self.step_label(index)),
                        };
                        self.announce(false, "RolloutPaused", message);
                    }
                    self.status.phase = phase;
                    self.status.message = Some(format!("{}: {why}", self.step_label(index)));
                    if let Some(after) = look_again {
                        self.look_again(after);
                    }
                    return;
                }
                Progress::Failed(reason) => {
                    self.fail(reason);
                    return;
                }
            }
        }
    }

    fn progress(&mut self, index: usize, step: &RolloutStep, app: &AppView) -> Progress {
        let promoted = self.promoted(index);
        let slot = app
            .new_slot
            .as_ref()
            .filter(|s| s.revision == Some(self.revision()));
        let waiting = |why: String| Progress::Waiting {
            phase: DeploymentPhase::Progressing,
            why,
            look_again: Some(POLL),
        };
        match step {
            RolloutStep::SetWeight(_) | RolloutStep::Switch => {
                let wanted = self.status.desired_weight.unwrap_or(0);
                let replicas = self.status.desired_replicas.unwrap_or(0);
                match slot {
                    Some(s) if s.weight == wanted => {
                        Progress::Complete(format!("{wanted}% verified on the listener"))
                    }
                    Some(s) if s.healthy < replicas => waiting(format!(
                        "{} of {replicas} tasks healthy before traffic moves",
                        s.healthy
                    )),
                    Some(s) => waiting(format!(
                        "waiting for {wanted}% on the listener (read back: {}%)",
                        s.weight
                    )),
                    None => waiting(format!(
                        "waiting for the new slot to run revision {}",
                        self.revision()
                    )),
                }
            }
            RolloutStep::SetScale(_) | RolloutStep::Preview => {
                let wanted = self.status.desired_replicas.unwrap_or(0);
                match slot {
                    // ECS says the deployment is complete: every task of this revision is up and
                    // passed the health checks, and none of what ran there before is left.
                    Some(s)
                        if s.desired == wanted
                            && s.running >= wanted
                            && s.healthy >= wanted
                            && s.rollout_state == Some(EcsRolloutState::Completed) =>
                    {
                        Progress::Complete(format!("{wanted} tasks healthy"))
                    }
                    Some(s) => waiting(format!("{} of {wanted} tasks healthy", s.healthy)),
                    None => waiting(format!(
                        "waiting for the new slot to run revision {}",
                        self.revision()
                    )),
                }
            }
            RolloutStep::Pause(Some(d)) | RolloutStep::AwaitPromotion(Some(d)) => {
                let elapsed = self.step_elapsed();
                if promoted {
                    Progress::Complete("promoted by a user".to_string())
                } else if elapsed >= *d {
                    Progress::Complete(match step {
                        RolloutStep::AwaitPromotion(_) => "promoted automatically".to_string(),
                        _ => format!("paused {}", steps::duration_text(*d)),
                    })
                } else {
                    let left = *d - elapsed;
                    let until = self.step_end(*d);
                    Progress::Waiting {
                        phase: DeploymentPhase::Paused,
                        why: match step {
                            RolloutStep::AwaitPromotion(_) => {
                                format!("waiting for promotion; promotes itself at {until}")
                            }
                            _ => format!("paused until {until}"),
                        },
                        look_again: Some(left),
                    }
                }
            }
            RolloutStep::Pause(None) | RolloutStep::AwaitPromotion(None) => {
                if promoted {
                    Progress::Complete("promoted by a user".to_string())
                } else {
                    Progress::Waiting {
                        phase: DeploymentPhase::Paused,
                        why: "waiting for promotion".to_string(),
                        look_again: None,
                    }
                }
            }
            RolloutStep::Analysis { metrics, .. } => {
                if promoted {
                    return Progress::Complete("promoted by a user".to_string());
                }
                match self
                    .inputs
                    .verdict
                    .filter(|(i, _)| *i == index)
                    .map(|(_, v)| v)
                {
                    None => {
                        self.wants_analysis = Some((index, metrics.clone()));
                        Progress::Waiting {
                            phase: DeploymentPhase::Progressing,
                            why: format!("measuring {}", metrics.join(", ")),
                            look_again: Some(Duration::from_secs(1)),
                        }
                    }
                    Some(verdict) => match verdict {
                        Verdict::Passed => {
                            Progress::Complete(format!("{} passed", metrics.join(", ")))
                        }
                        Verdict::Failed(why) => Progress::Failed(format!("analysis failed: {why}")),
                        Verdict::Running(next) => Progress::Waiting {
                            phase: DeploymentPhase::Progressing,
                            why: format!("measuring {}", metrics.join(", ")),
                            look_again: Some(*next),
                        },
                        Verdict::Inconclusive(why) => Progress::Waiting {
                            phase: DeploymentPhase::Paused,
                            why: format!("inconclusive, {why}; promote to continue or abort"),
                            look_again: None,
                        },
                    },
                }
            }
            RolloutStep::ScaleDownDelay(d) => {
                let elapsed = self.step_elapsed();
                if elapsed >= *d || promoted {
                    Progress::Complete(format!(
                        "the previous revision was kept {}",
                        steps::duration_text(elapsed.min(*d))
                    ))
                } else {
                    let left = *d - elapsed;
                    Progress::Waiting {
                        phase: DeploymentPhase::Progressing,
                        why: format!(
                            "revision {} serves 100%; the previous revision stays at full size until {} (abort switches back at once)",
                            self.revision(),
                            self.step_end(*d)
                        ),
                        look_again: Some(left),
                    }
                }
            }
        }
    }

    fn fail(&mut self, reason: String) {
        let app = self.inputs.app.cloned().unwrap_or_default();
        let message = format!("{reason}; all traffic returns to {}", stable_name(&app));
        self.finish(DeploymentPhase::Failed, "RolloutFailed", message, true);
    }

    /// Ends the rollout in a terminal phase. Every end but success gives the traffic back to the
    /// stable revision and scales the new slot down.
    fn finish(
        &mut self,
        phase: DeploymentPhase,
        reason: &'static str,
        message: String,
        warning: bool,
    ) {
        self.status.phase = phase;
        self.status.finished_at = Some(Time(self.now()));
        self.status.paused_at = None;
        if phase == DeploymentPhase::Succeeded {
            self.status.desired_weight = Some(100);
            self.status.verified_weight = Some(100);
            self.status.desired_replicas = self.inputs.app.map(|a| a.replicas);
            self.status.current_step = Some(self.step_label(self.inputs.steps.len()));
        } else {
            self.status.desired_weight = Some(0);
            self.status.desired_replicas = Some(0);
        }
        self.status.message = Some(message.clone());
        self.announce(warning, reason, message);
        self.requeue = None;
    }
}

/// Why the new slot's tasks cannot run this revision, if ECS says so: its circuit breaker
/// stopped the deployment, or rolled the slot back to another revision.
fn crashed(app: &AppView, revision: i64) -> Option<String> {
    let slot = app.new_slot.as_ref()?;
    let asked = slot.requested_revision == Some(revision);
    if slot.revision == Some(revision) && slot.rollout_state == Some(EcsRolloutState::Failed) {
        return Some(format!(
            "the tasks of revision {revision} do not start or stay healthy ({})",
            slot.failure
                .as_deref()
                .unwrap_or("ECS deployment circuit breaker")
                .trim_end_matches('.')
        ));
    }
    if asked
        && slot.revision.is_some_and(|r| r != revision)
        && slot.rollout_state == Some(EcsRolloutState::Completed)
    {
        return Some(format!(
            "ECS's circuit breaker rolled the new slot back from revision {revision}"
        ));
    }
    None
}

fn stable_name(app: &AppView) -> String {
    app.stable_revision
        .map_or("the stable revision".to_string(), |s| {
            format!("revision {s}")
        })
}

/// `t` rounded up to a whole second.
fn ceil_second(t: jiff::Timestamp) -> jiff::Timestamp {
    let whole = jiff::Timestamp::from_second(t.as_second()).unwrap_or(t);
    if whole == t {
        t
    } else {
        whole
            .saturating_add(jiff::SignedDuration::from_secs(1))
            .unwrap_or(t)
    }
}

#[cfg(test)]
#[path = "progressive_tests.rs"]
mod tests;
