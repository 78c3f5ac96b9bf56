//! The report step shared by all reconcilers: conditions from a validation outcome,
//! `observedGeneration`, and a status patch that is skipped when nothing changed.

use super::validate::{InvalidSpec, describe};
use super::{Context, Error};
use crate::api::conditions::{self, ConditionUpdate, Status, reason};
use crate::api::{App, AppStatus, Deployment, DeploymentStatus, Domain, DomainStatus};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A status with conditions and an observed generation.
pub trait ObjectStatus: Clone + Default + PartialEq + Serialize {
    /// The conditions.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// The generation the status describes.
    fn observed_generation_mut(&mut self) -> &mut Option<i64>;
    /// The conditions, to read.
    fn conditions(&self) -> &[Condition];
}

/// A kind whose status the reconcilers write.
pub trait Reported:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// Its status type.
    type Status: ObjectStatus;
    /// Its status, when written.
    fn status(&self) -> Option<&Self::Status>;
}

macro_rules! object_status {
    ($($kind:ty => $t:ty),*) => {$(
        impl ObjectStatus for $t {
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn observed_generation_mut(&mut self) -> &mut Option<i64> {
                &mut self.observed_generation
            }
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
        }

        impl Reported for $kind {
            type Status = $t;
            fn status(&self) -> Option<&$t> {
                self.status.as_ref()
            }
        }
    )*};
}

object_status!(App => AppStatus, Deployment => DeploymentStatus, Domain => DomainStatus);

/// The conditions of a status.
pub fn conditions_of<S: ObjectStatus>(status: &S) -> &[Condition] {
    status.conditions()
}

/// Reports an invalid spec on `object`: `Ready=False, reason=InvalidSpec` naming every problem,
/// and a Warning Event when that changed the status.
pub async fn invalid_spec<K: Reported>(
    api: &Api<K>,
    object: &K,
    problems: &[InvalidSpec],
    ctx: &Context,
) -> Result<(), Error> {
    refusal(api, object, reason::INVALID_SPEC, describe(problems), ctx).await
}

/// Reports why the operator refuses to act on `object` until something changes: `Ready=False`
/// with `reason` and `message`, the generation observed, and a Warning Event when that changed
/// the status. Nothing else in the status moves.
pub async fn refusal<K: Reported>(
    api: &Api<K>,
    object: &K,
    reason: &'static str,
    message: String,
    ctx: &Context,
) -> Result<(), Error> {
    let mut status = object.status().cloned().unwrap_or_default();
    let generation = object.meta().generation;
    conditions::set(
        status.conditions_mut(),
        ConditionUpdate {
            type_: conditions::READY,
            status: Status::False,
            reason,
            message: message.clone(),
        },
        generation,
        ctx.clock.now(),
    );
    *status.observed_generation_mut() = generation;
    if patch_status(api, &object.name_any(), object.status(), &status).await? {
        ctx.publish(
            &object.object_ref(&()),
            super::events::EventType::Warning,
            reason,
            "Validate",
            message,
        )
        .await;
    }
    Ok(())
}

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
    // Fields the new status no longer has (an `Option` back to `None`) are omitted when it is
    // serialized; a merge patch must name them with null, or the server keeps the old value.
    let from = before
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| Error::Serialize(e.to_string()))?
        .unwrap_or(serde_json::Value::Null);
    let to = serde_json::to_value(status).map_err(|e| Error::Serialize(e.to_string()))?;
    let patch = serde_json::json!({ "status": merge_patch(&from, &to) });
    api.patch_status(name, &super::patch_params(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

/// The JSON merge patch (RFC 7386) that turns `from` into `to`: keys only `from` has are set to
/// null, objects are merged key by key, anything else is replaced.
pub fn merge_patch(from: &serde_json::Value, to: &serde_json::Value) -> serde_json::Value {
    match (from, to) {
        (serde_json::Value::Object(old), serde_json::Value::Object(new)) => {
            let mut patch = serde_json::Map::new();
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                patch.insert(key.clone(), serde_json::Value::Null);
            }
            for (key, value) in new {
                let part = match old.get(key) {
                    Some(previous) => merge_patch(previous, value),
                    None => value.clone(),
                };
                patch.insert(key.clone(), part);
            }
            serde_json::Value::Object(patch)
        }
        _ => to.clone(),
    }
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
    fn a_merge_patch_names_what_went_with_null() {
        let from = serde_json::json!({"failedRevision": 2, "slots": [{"name": "a"}], "x": {"y": 1, "z": 2}});
        let to = serde_json::json!({"slots": [], "x": {"y": 1}});
        let patch = merge_patch(&from, &to);
        assert_eq!(
            patch,
            serde_json::json!({"failedRevision": null, "slots": [], "x": {"y": 1, "z": null}})
        );
        let mut patched = from.clone();
        json_patch::merge(&mut patched, &patch);
        assert_eq!(patched, to);
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
