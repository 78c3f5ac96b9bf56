//! What `cygni status` and `cygni history` print, as pure functions of the App, its Deployments
//! and the time: the rollout's steps with the current one marked, desired and verified weight per
//! slot as bars, task counts, time left in a pause, and the analysis results so far.

use crate::analysis::judge;
use crate::api::app::{SlotName, SlotStatus};
use crate::api::deployment::{AnalysisPhase, DeploymentPhase};
use crate::api::strategy::StrategyKind;
use crate::api::{App, Deployment, conditions};
use crate::rollout::steps::{self, RolloutStep};
use kube::ResourceExt;
use std::fmt::Write;
use std::time::Duration;

/// Width of a weight bar.
const BAR: usize = 20;

/// How a timed wait is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Time left, counted down: for a screen redrawn every second.
    Live,
    /// The wall-clock time the wait ends: a line that stays true, for logs and pipes where each
    /// change prints a new block.
    Fixed,
}

/// The App's rollout as `cygni status` shows it.
pub fn status(app: &App, deployments: &[Deployment], now: jiff::Timestamp, clock: Clock) -> String {
    let mut out = String::new();
    let status = app.status.clone().unwrap_or_default();
    let namespace = app.namespace().unwrap_or_default();
    let current = status.current_revision;
    let deployment = current.and_then(|r| deployments.iter().find(|d| d.spec.revision == r));
    let ready = conditions::find(&status.conditions, conditions::READY);
    let _ = writeln!(
        out,
        "App {namespace}/{}: {}",
        app.name_any(),
        ready.map_or("not reported yet".to_string(), |c| format!(
            "{} - {}",
            c.reason, c.message
        ))
    );
    let _ = writeln!(
        out,
        "  revision {} (stable {}), image {}",
        current.map_or("-".to_string(), |r| r.to_string()),
        status
            .stable_revision
            .map_or("-".to_string(), |r| r.to_string()),
        deployment.map_or(&app.spec.container.image, |d| &d
            .spec
            .template
            .container
            .image)
    );
    if let Some(cost) = super::running_cost::line(app, deployments) {
        let _ = writeln!(out, "  {cost}");
    }
    for url in &status.urls {
        let _ = writeln!(out, "  url      {url}");
    }
    if let Some(preview) = &status.preview_url {
        let _ = writeln!(out, "  preview  {preview}");
    }

    if let Some(d) = deployment {
        let ds = d.status.clone().unwrap_or_default();
        let strategy = match d.spec.strategy.kind() {
            StrategyKind::Rolling => "rolling",
            StrategyKind::Canary => "canary",
            StrategyKind::BlueGreen => "blue-green",
        };
        let _ = writeln!(out, "\nRollout {} ({strategy}): {}", d.name_any(), ds.phase);
        if let Some(message) = &ds.message {
            let _ = writeln!(out, "  {message}");
        }
        let rollout_steps = steps::of(&d.spec.strategy).unwrap_or_default();
        // A revision that rolled out in place, or was already running, has no steps to show.
        if !rollout_steps.is_empty() && ds.current_step_index.is_some() {
            let _ = writeln!(out, "\nSteps");
            let index = ds
                .current_step_index
                .and_then(|i| usize::try_from(i).ok())
                .unwrap_or(0);
            for (i, step) in rollout_steps.iter().enumerate() {
                let done = ds.phase == DeploymentPhase::Succeeded || i < index;
                let here = i == index && !ds.phase.is_terminal();
                let mark = if here { ">" } else { " " };
                let state = if done {
                    "done".to_string()
                } else if here {
                    step_state(
                        step,
                        ds.phase,
                        ds.step_started_at.as_ref().map(|t| t.0),
                        now,
                        clock,
                    )
                } else {
                    String::new()
                };
                let label = format!("{}/{} {step}", i + 1, rollout_steps.len());
                let line = format!("  {mark} {label:<44} {state}");
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
        if !ds.analysis.is_empty() {
            let _ = writeln!(out, "\nAnalysis");
            let _ = writeln!(
                out,
                "  {:<20} {:<10} {:<12} {:<9} {:<7} LAST",
                "METRIC", "WHEN", "PHASE", "MEASURED", "FAILED"
            );
            let defined = d
                .spec
                .analysis
                .as_ref()
                .map(|a| a.metrics.as_slice())
                .unwrap_or_default();
            for result in &ds.analysis {
                let metric = defined.iter().find(|m| m.name == result.name);
                let phase = match result.phase {
                    AnalysisPhase::Running => "Running",
                    AnalysisPhase::Successful => "Successful",
                    AnalysisPhase::Failed => "Failed",
                    AnalysisPhase::Inconclusive => "Inconclusive",
                };
                let step = result
                    .step_index
                    .map_or("background".to_string(), |s| format!("step {}", s + 1));
                let measured = match metric {
                    Some(m) if result.step_index.is_some() => {
                        format!("{}/{}", result.count, m.count)
                    }
                    _ => result.count.to_string(),
                };
                let last = match (result.last_value, &result.last_measured_at) {
                    (Some(v), Some(t)) => {
                        format!("{} at {} UTC", judge::number(v), t.0.strftime("%H:%M:%S"))
                    }
                    (None, Some(t)) => format!("at {} UTC", t.0.strftime("%H:%M:%S")),
                    _ => "not yet".to_string(),
                };
                let line = format!(
                    "  {:<20} {step:<10} {phase:<12} {measured:<9} {:<7} {last}",
                    result.name, result.failures
                );
                let _ = writeln!(out, "{}", line.trim_end());
                let why = result
                    .message
                    .clone()
                    .or_else(|| result.measurements.last().and_then(|m| m.message.clone()));
                if let Some(why) = why {
                    let _ = writeln!(out, "    {why}");
                }
            }
        }
        let desired = ds.desired_weight;
        let _ = writeln!(out, "\nTraffic (desired -> read back from the listener)");
        let active = status.active_slot.unwrap_or(SlotName::A);
        for name in [SlotName::A, SlotName::B] {
            let slot = status.slots.iter().find(|s| s.name == name);
            let is_new = name == active.other();
            let wanted = match (is_new, desired, ds.phase.is_terminal()) {
                (_, _, true) | (_, None, _) => None,
                (true, Some(w), false) => Some(w),
                (false, Some(w), false) => Some(100 - w),
            };
            let _ = writeln!(out, "  {}", slot_line(name, slot, wanted));
        }
    }
    out
}

fn slot_line(name: SlotName, slot: Option<&SlotStatus>, wanted: Option<i32>) -> String {
    let Some(slot) = slot else {
        return format!("slot {name}  -");
    };
    let weight = slot.weight.clamp(0, 100);
    let filled = usize::try_from(weight).unwrap_or(0) * BAR / 100;
    let bar: String = "#".repeat(filled) + &"-".repeat(BAR - filled);
    let revision = slot
        .revision
        .map_or("-".to_string(), |r| format!("revision {r}"));
    let wanted = wanted.map_or(String::new(), |w| format!("{w:>3}% -> "));
    format!(
        "slot {name}  {revision:<12} [{bar}] {wanted}{weight:>3}%   {}/{} tasks, {} healthy",
        slot.running, slot.desired, slot.healthy
    )
}

/// How the current step stands: time left in a timed wait, or what it waits for.
fn step_state(
    step: &RolloutStep,
    phase: DeploymentPhase,
    started: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    clock: Clock,
) -> String {
    let elapsed = started
        .map(|s| Duration::try_from(s.duration_until(now)).unwrap_or(Duration::ZERO))
        .unwrap_or(Duration::ZERO);
    let left = |d: &Duration| match clock {
        Clock::Live => {
            let left = d.saturating_sub(elapsed);
            format!(
                "{} left",
                steps::duration_text(Duration::from_secs(
                    left.as_secs() + u64::from(left.subsec_nanos() > 0)
                ))
            )
        }
        Clock::Fixed => {
            let start = started.unwrap_or(now);
            let end = start
                .saturating_add(jiff::SignedDuration::try_from(*d).unwrap_or_default())
                .unwrap_or(start);
            format!("until {} UTC", end.strftime("%H:%M:%S"))
        }
    };
    match step {
        RolloutStep::Pause(Some(d)) => left(d),
        RolloutStep::AwaitPromotion(Some(d)) => format!("promotes itself, {}", left(d)),
        RolloutStep::ScaleDownDelay(d) => format!("previous revision kept, {}", left(d)),
        RolloutStep::Pause(None) | RolloutStep::AwaitPromotion(None) => {
            "waiting for `cygni promote`".to_string()
        }
        _ if phase == DeploymentPhase::Paused => "paused".to_string(),
        _ => "in progress".to_string(),
    }
}

/// The App's revisions as `cygni history` shows them, newest last.
pub fn history(app: &App, deployments: &[Deployment]) -> String {
    let status = app.status.clone().unwrap_or_default();
    let mut rows: Vec<&Deployment> = deployments.iter().collect();
    rows.sort_by_key(|d| d.spec.revision);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:<11} {:<9} {:<22} {:<21} IMAGE",
        "REVISION", "PHASE", "ROLE", "CREATED (UTC)", "FINISHED (UTC)"
    );
    for d in rows {
        let ds = d.status.clone().unwrap_or_default();
        let mut marks = Vec::new();
        if status.stable_revision == Some(d.spec.revision) {
            marks.push("stable");
        }
        if status.current_revision == Some(d.spec.revision)
            && status.stable_revision != Some(d.spec.revision)
        {
            marks.push("current");
        }
        let created = d
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or("-".to_string(), |t| {
                t.0.strftime("%Y-%m-%d %H:%M:%S").to_string()
            });
        let finished = ds.finished_at.as_ref().map_or("-".to_string(), |t| {
            t.0.strftime("%Y-%m-%d %H:%M:%S").to_string()
        });
        let rollback = d
            .spec
            .rollback_of
            .map_or(String::new(), |r| format!(" (rollback to {r})"));
        let _ = writeln!(
            out,
            "{:<9} {:<11} {:<9} {created:<22} {finished:<21} {}{rollback}",
            d.spec.revision,
            ds.phase.to_string(),
            marks.join(","),
            d.spec.template.container.image
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("t")
    }

    fn app() -> App {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "App",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"container": {"image": "web:2"}, "replicas": 4},
            "status": {
                "currentRevision": 2, "stableRevision": 1, "activeSlot": "a",
                "urls": ["https://web.example.com/"],
                "conditions": [{"type": "Ready", "status": "False", "reason": "Paused",
                    "message": "revision 2 is paused", "lastTransitionTime": "2027-01-15T08:00:00Z"}],
                "slots": [
                    {"name": "a", "revision": 1, "desired": 4, "running": 4, "healthy": 4, "weight": 90},
                    {"name": "b", "revision": 2, "desired": 1, "running": 1, "healthy": 1, "weight": 10},
                ],
            },
        }))
        .expect("App")
    }

    fn deployment(started: i64) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "Deployment",
            "metadata": {"name": "web-2", "namespace": "shop",
                "creationTimestamp": "2027-01-15T07:59:00Z"},
            "spec": {
                "app": "web", "revision": 2, "templateHash": "h",
                "template": {"container": {"image": "web:2"}, "healthCheck": {}, "network": {}, "iam": {}, "logs": {}},
                "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 50}]}},
            },
            "status": {
                "phase": "Paused", "currentStepIndex": 1, "desiredWeight": 10,
                "stepStartedAt": at(started).to_string(),
                "message": "2/5 pause 5m: paused for 3m more",
            },
        }))
        .expect("Deployment")
    }

    #[test]
    fn status_marks_the_current_step_with_the_time_left_and_draws_the_weights() {
        let text = status(&app(), &[deployment(0)], at(120), Clock::Live);
        assert!(text.contains("  > 2/5 pause 5m"), "{text}");
        assert!(text.contains("3m left"), "{text}");
        let fixed = status(&app(), &[deployment(0)], at(120), Clock::Fixed);
        assert!(fixed.contains("until "), "{fixed}");
        assert_eq!(
            fixed,
            status(&app(), &[deployment(0)], at(150), Clock::Fixed),
            "nothing but the clock moved: the same text"
        );
        assert!(text.contains("    1/5 setWeight 10"), "{text}");
        assert!(
            text.contains(
                "slot a  revision 1   [##################--]  90% ->  90%   4/4 tasks, 4 healthy"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "slot b  revision 2   [##------------------]  10% ->  10%   1/1 tasks, 1 healthy"
            ),
            "{text}"
        );
    }

    #[test]
    fn history_lists_revisions_with_phase_image_and_marks() {
        let text = history(&app(), &[deployment(0)]);
        assert!(text.contains("2         Paused      current"), "{text}");
        assert!(text.contains("web:2"), "{text}");
    }
}
