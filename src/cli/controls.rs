//! What each rollout control does to a Deployment, decided from the Deployment alone: the merge
//! patch of its spec, or why there is nothing to do. `cygni promote`, `abort`, `retry`, `pause`
//! and `resume` send these patches; the Argo CD resource actions in `argocd/actions/Deployment`
//! make the same ones, and `tests/argocd.rs` holds them to these functions.

use crate::api::Deployment;
use crate::api::deployment::DeploymentPhase;
use crate::api::strategy::StrategyKind;
use crate::rollout::steps::{self, RolloutStep};
use anyhow::bail;
use kube::ResourceExt;

/// A control's decision on one Deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The JSON merge patch of `spec`, or `None` when the spec already asks for it.
    pub spec: Option<serde_json::Value>,
    /// The line printed to say what was done.
    pub line: String,
}

impl Change {
    fn patch(spec: serde_json::Value, line: String) -> Self {
        Change {
            spec: Some(spec),
            line,
        }
    }

    fn already(line: String) -> Self {
        Change { spec: None, line }
    }
}

/// `cygni promote [--full]`: completes the step being waited on (`promoteStep`), or skips to
/// all traffic (`promoteFull`).
pub fn promote(d: &Deployment, full: bool) -> anyhow::Result<Change> {
    let name = d.name_any();
    let status = d.status.clone().unwrap_or_default();
    let rollout = progressive_steps(d)?;
    if status.phase.is_terminal() {
        bail!("nothing to promote: {name} is {}", status.phase);
    }
    if full {
        if d.spec.promote_full {
            return Ok(Change::already(format!("{name} is already promoted fully")));
        }
        let target = steps::full_traffic_index(&rollout);
        return Ok(Change::patch(
            serde_json::json!({"promoteFull": true}),
            format!(
                "promoted {name} fully: it skips to {}/{} {}",
                target + 1,
                rollout.len(),
                rollout
                    .get(target)
                    .map_or(String::new(), ToString::to_string)
            ),
        ));
    }
    let Some(index) = status
        .current_step_index
        .and_then(|i| usize::try_from(i).ok())
    else {
        bail!("nothing to promote yet: {name} has not started its steps");
    };
    let Some(step) = rollout.get(index) else {
        bail!("nothing to promote: {name} has no step {}", index + 1);
    };
    let label = format!("{}/{} {step}", index + 1, rollout.len());
    // A rollout held by an inconclusive background metric is paused at any kind of step.
    let held = status.phase == DeploymentPhase::Paused && !d.spec.paused;
    let waits = matches!(
        step,
        RolloutStep::Pause(_)
            | RolloutStep::AwaitPromotion(_)
            | RolloutStep::Analysis { .. }
            | RolloutStep::ScaleDownDelay(_)
    );
    if !waits && !held {
        bail!(
            "nothing to promote: {name} is at {label}, which completes once AWS confirms it; use --full to skip to all traffic"
        );
    }
    if d.spec.promote_step == status.current_step_index {
        return Ok(Change::already(format!(
            "{name} is already promoted past {label}"
        )));
    }
    let line = if waits {
        format!("promoted {name}: step {label} is complete")
    } else {
        format!(
            "promoted {name}: step {label} goes on despite the inconclusive background analysis"
        )
    };
    Ok(Change::patch(
        serde_json::json!({"promoteStep": index}),
        line,
    ))
}

/// `cygni abort`: all traffic back to `stable` (the App's stable revision, when known).
pub fn abort(d: &Deployment, stable: Option<i64>) -> anyhow::Result<Change> {
    let name = d.name_any();
    let phase = d.status.as_ref().map(|s| s.phase).unwrap_or_default();
    progressive_steps(d)?;
    if phase.is_terminal() {
        bail!("nothing to abort: {name} is {phase}");
    }
    if d.spec.abort {
        return Ok(Change::already(format!("{name} is already being aborted")));
    }
    let stable = stable.map_or("the stable revision".to_string(), |r| {
        format!("revision {r}")
    });
    Ok(Change::patch(
        serde_json::json!({"abort": true}),
        format!("aborted {name}: all traffic returns to {stable}"),
    ))
}

/// `cygni retry`: an aborted or failed rollout starts again from its first step.
pub fn retry(d: &Deployment) -> anyhow::Result<Change> {
    let name = d.name_any();
    let phase = d.status.as_ref().map(|s| s.phase).unwrap_or_default();
    progressive_steps(d)?;
    if !matches!(phase, DeploymentPhase::Aborted | DeploymentPhase::Failed) {
        bail!(
            "nothing to retry: {name} is {phase}; only an aborted or failed rollout can be retried"
        );
    }
    let attempt = d.spec.retry_attempt + 1;
    Ok(Change::patch(
        serde_json::json!({"abort": false, "retryAttempt": attempt}),
        format!("retrying {name} from its first step (attempt {attempt})"),
    ))
}

/// `cygni pause` (`paused` true) and `cygni resume` (false): a user's hold on the rollout.
pub fn pause(d: &Deployment, paused: bool) -> anyhow::Result<Change> {
    let name = d.name_any();
    let status = d.status.clone().unwrap_or_default();
    progressive_steps(d)?;
    if status.phase.is_terminal() {
        bail!(
            "nothing to {}: {name} is {}",
            if paused { "pause" } else { "resume" },
            status.phase
        );
    }
    if d.spec.paused == paused {
        return Ok(Change::already(format!(
            "{name} is already {}",
            if paused { "paused" } else { "running" }
        )));
    }
    let at = status.current_step.unwrap_or_default();
    Ok(Change::patch(
        serde_json::json!({"paused": paused}),
        if paused {
            format!("paused {name} at step {at}")
        } else {
            format!("resumed {name} at step {at}")
        },
    ))
}

/// The steps of a progressive rollout; an in-place one has no steps to control.
fn progressive_steps(d: &Deployment) -> anyhow::Result<Vec<RolloutStep>> {
    if d.spec.strategy.kind() == StrategyKind::Rolling {
        bail!(
            "{} rolls out in place with ECS (strategy rolling): it has no steps to control",
            d.name_any()
        );
    }
    let rollout = steps::of(&d.spec.strategy).map_err(|errors| {
        anyhow::anyhow!(
            "{} has steps that do not parse: {}",
            d.name_any(),
            errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    Ok(rollout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(phase: &str, step: i32, spec: serde_json::Value) -> Deployment {
        let mut d: Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "cygni.io/v1alpha1", "kind": "Deployment",
            "metadata": {"name": "web-2", "namespace": "shop"},
            "spec": {
                "app": "web", "revision": 2, "templateHash": "h",
                "template": {"container": {"image": "web:2"}, "healthCheck": {}, "network": {}, "iam": {}, "logs": {}},
                "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}]}},
            },
            "status": {"phase": phase, "currentStepIndex": step, "currentStep": "2/5 pause until promoted"},
        }))
        .expect("Deployment");
        let mut value = serde_json::to_value(&d.spec).expect("spec");
        json_patch::merge(&mut value, &spec);
        d.spec = serde_json::from_value(value).expect("spec");
        d
    }

    #[test]
    fn promote_at_a_pause_names_the_step() {
        let change = promote(&deployment("Paused", 1, serde_json::json!({})), false).expect("ok");
        assert_eq!(change.spec, Some(serde_json::json!({"promoteStep": 1})));
        assert_eq!(
            change.line,
            "promoted web-2: step 2/5 pause until promoted is complete"
        );
    }

    #[test]
    fn promote_twice_patches_nothing() {
        let d = deployment("Paused", 1, serde_json::json!({"promoteStep": 1}));
        let change = promote(&d, false).expect("ok");
        assert_eq!(change.spec, None);
        assert_eq!(
            change.line,
            "web-2 is already promoted past 2/5 pause until promoted"
        );
    }

    #[test]
    fn promote_at_a_weight_step_refuses_and_points_at_full() {
        let error = promote(&deployment("Progressing", 0, serde_json::json!({})), false)
            .expect_err("a weight step completes by itself");
        assert!(error.to_string().contains("use --full"), "{error}");
    }

    #[test]
    fn abort_twice_patches_nothing() {
        let d = deployment("Progressing", 0, serde_json::json!({"abort": true}));
        let change = abort(&d, Some(1)).expect("ok");
        assert_eq!(change.spec, None);
        assert_eq!(change.line, "web-2 is already being aborted");
    }

    #[test]
    fn abort_says_which_revision_takes_the_traffic() {
        let change = abort(&deployment("Paused", 1, serde_json::json!({})), Some(1)).expect("ok");
        assert_eq!(change.spec, Some(serde_json::json!({"abort": true})));
        assert_eq!(
            change.line,
            "aborted web-2: all traffic returns to revision 1"
        );
    }

    #[test]
    fn retry_counts_the_next_attempt_and_clears_abort() {
        let d = deployment(
            "Aborted",
            1,
            serde_json::json!({"abort": true, "retryAttempt": 2}),
        );
        let change = retry(&d).expect("ok");
        assert_eq!(
            change.spec,
            Some(serde_json::json!({"abort": false, "retryAttempt": 3}))
        );
    }

    #[test]
    fn a_succeeded_rollout_refuses_every_control() {
        let d = deployment("Succeeded", 4, serde_json::json!({}));
        assert!(promote(&d, false).is_err());
        assert!(promote(&d, true).is_err());
        assert!(abort(&d, None).is_err());
        assert!(pause(&d, true).is_err());
        assert!(retry(&d).is_err());
    }
}
