//! The outcome of a revision rolled out in place (the `rolling` strategy, and the first revision
//! of any App): ECS does the work, the App controller reports what ECS did, and this decides the
//! Deployment's phase from that report.

use crate::api::AppStatus;
use crate::api::deployment::DeploymentPhase;

/// A Deployment's phase and the sentence that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Phase.
    pub phase: DeploymentPhase,
    /// Explanation.
    pub message: String,
}

/// The phase of revision `revision` of an App whose status is `app` (`None` before the App
/// controller reported anything), when it is rolled out in place.
pub fn outcome(revision: i64, app: Option<&AppStatus>) -> Outcome {
    let Some(app) = app else {
        return Outcome {
            phase: DeploymentPhase::Pending,
            message: "waiting for the App controller".to_string(),
        };
    };
    let current = app.current_revision.unwrap_or(0);
    if current > revision && app.stable_revision != Some(revision) {
        return Outcome {
            phase: DeploymentPhase::Superseded,
            message: format!("revision {current} replaced this one before it finished"),
        };
    }
    if app.stable_revision == Some(revision) {
        return Outcome {
            phase: DeploymentPhase::Succeeded,
            message: format!("revision {revision} serves all traffic"),
        };
    }
    if app.failed_revision == Some(revision) {
        let why = app
            .failure_message
            .as_deref()
            .map_or("ECS rejected the revision", |m| m.trim_end_matches('.'))
            .to_string();
        let stable = app
            .stable_revision
            .map_or("no revision".to_string(), |s| format!("revision {s}"));
        return Outcome {
            phase: DeploymentPhase::Failed,
            message: format!("{why}; {stable} keeps serving"),
        };
    }
    if current == revision {
        return Outcome {
            phase: DeploymentPhase::Progressing,
            message: "ECS is replacing tasks".to_string(),
        };
    }
    Outcome {
        phase: DeploymentPhase::Pending,
        message: "waiting for the App controller".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(current: i64, stable: Option<i64>, failed: Option<i64>) -> AppStatus {
        AppStatus {
            current_revision: Some(current),
            stable_revision: stable,
            failed_revision: failed,
            failure_message: failed
                .map(|_| "ECS deployment circuit breaker: tasks failed to start.".to_string()),
            ..AppStatus::default()
        }
    }

    #[test]
    fn a_revision_being_rolled_is_progressing() {
        assert_eq!(
            outcome(2, Some(&app(2, Some(1), None))).phase,
            DeploymentPhase::Progressing
        );
    }

    #[test]
    fn a_revision_that_became_stable_succeeded() {
        assert_eq!(
            outcome(2, Some(&app(2, Some(2), None))).phase,
            DeploymentPhase::Succeeded
        );
    }

    #[test]
    fn a_revision_ecs_rejected_failed_and_names_what_still_serves() {
        let out = outcome(2, Some(&app(2, Some(1), Some(2))));
        assert_eq!(out.phase, DeploymentPhase::Failed);
        assert!(out.message.contains("circuit breaker"), "{}", out.message);
        assert!(
            out.message.ends_with("revision 1 keeps serving"),
            "{}",
            out.message
        );
    }

    #[test]
    fn an_unfinished_revision_replaced_by_a_newer_one_is_superseded() {
        assert_eq!(
            outcome(2, Some(&app(3, Some(1), None))).phase,
            DeploymentPhase::Superseded
        );
    }

    #[test]
    fn a_stable_revision_stays_succeeded_when_a_newer_one_starts() {
        assert_eq!(
            outcome(2, Some(&app(3, Some(2), None))).phase,
            DeploymentPhase::Succeeded
        );
    }

    #[test]
    fn before_the_app_reports_the_revision_is_pending() {
        assert_eq!(outcome(1, None).phase, DeploymentPhase::Pending);
    }
}
