//! The report step shared by all reconcilers: conditions from a validation outcome,
//! `observedGeneration`, and a status patch that is skipped when nothing changed.

use super::Error;
use super::validate::{InvalidSpec, describe};
use crate::api::conditions::{self, ConditionUpdate, Status, reason};
use crate::api::{AppStatus, DeploymentStatus, DomainStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A status with conditions and an observed generation.
pub trait ObjectStatus: Clone + Default + PartialEq + Serialize {
    /// The conditions.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// The generation the status describes.
    fn observed_generation_mut(&mut self) -> &mut Option<i64>;
}

macro_rules! object_status {
    ($($t:ty),*) => {$(
        impl ObjectStatus for $t {
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn observed_generation_mut(&mut self) -> &mut Option<i64> {
                &mut self.observed_generation
            }
        }
    )*};
}

object_status!(AppStatus, DeploymentStatus, DomainStatus);

/// Records the outcome of validation: `Ready=False, reason=InvalidSpec` with every problem, or
/// `Ready=Unknown, reason=Accepted` with `accepted` as the message. Returns whether the status
/// changed.
pub fn validation<S: ObjectStatus>(
    status: &mut S,
    generation: Option<i64>,
    outcome: Result<&str, &[InvalidSpec]>,
    now: jiff::Timestamp,
) -> bool {
    let update = match outcome {
        Ok(accepted) => ConditionUpdate {
            type_: conditions::READY,
            status: Status::Unknown,
            reason: reason::ACCEPTED,
            message: accepted.to_string(),
        },
        Err(problems) => ConditionUpdate {
            type_: conditions::READY,
            status: Status::False,
            reason: reason::INVALID_SPEC,
            message: describe(problems),
        },
    };
    let mut changed = conditions::set(status.conditions_mut(), update, generation, now);
    let observed = status.observed_generation_mut();
    if *observed != generation {
        *observed = generation;
        changed = true;
    }
    changed
}

/// Writes `status` through the status subresource, unless it equals `before`.
pub async fn patch_status<K, S>(
    api: &Api<K>,
    name: &str,
    before: Option<&S>,
    status: &S,
) -> Result<bool, Error>
where
    K: Clone + DeserializeOwned + Debug,
    S: ObjectStatus,
{
    if before == Some(status) {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(100).expect("valid")
    }

    #[test]
    fn invalid_spec_sets_ready_false_with_every_problem() {
        let mut status = AppStatus::default();
        let problems = [
            InvalidSpec {
                field: "spec.cluster".into(),
                message: "missing".into(),
            },
            InvalidSpec {
                field: "spec.network.subnets".into(),
                message: "empty".into(),
            },
        ];
        assert!(validation(&mut status, Some(3), Err(&problems), now()));
        let ready = conditions::find(&status.conditions, conditions::READY).expect("Ready");
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason, "InvalidSpec");
        assert_eq!(
            ready.message,
            "spec.cluster: missing; spec.network.subnets: empty"
        );
        assert_eq!(status.observed_generation, Some(3));
    }

    #[test]
    fn repeating_the_same_outcome_changes_nothing() {
        let mut status = DomainStatus::default();
        validation(&mut status, Some(1), Ok("valid"), now());
        assert!(!validation(&mut status, Some(1), Ok("valid"), now()));
    }

    #[test]
    fn a_new_generation_is_observed_even_with_the_same_outcome() {
        let mut status = DeploymentStatus::default();
        validation(&mut status, Some(1), Ok("valid"), now());
        assert!(validation(&mut status, Some(2), Ok("valid"), now()));
        assert_eq!(status.observed_generation, Some(2));
    }
}
