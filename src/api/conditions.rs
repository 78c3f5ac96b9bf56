//! Status conditions: the condition types and reasons the controllers report, and the one rule for
//! updating a list of them (a condition's `lastTransitionTime` moves only when its status flips).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The object reached the state its spec asks for.
pub const READY: &str = "Ready";
/// A change is being rolled out or converged.
pub const PROGRESSING: &str = "Progressing";
/// Something is serving in a worse state than desired (failed rollout, unhealthy slot).
pub const DEGRADED: &str = "Degraded";

/// Condition status values, as Kubernetes spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell yet.
    Unknown,
}

impl Status {
    /// Whether a condition's status string (`"True"`, `"False"`, `"Unknown"`) is this one.
    pub fn is(self, value: &str) -> bool {
        value == self.as_str()
    }

    /// The string Kubernetes expects in `status.conditions[].status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

/// The reasons the controllers report, one CamelCase word each.
pub mod reason {
    /// The spec failed validation; it must change before anything happens in AWS.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The spec is valid and has been accepted; convergence in AWS is reported separately.
    pub const ACCEPTED: &str = "Accepted";
    /// The object is being deleted and its AWS resources are being cleaned up.
    pub const DELETING: &str = "Deleting";
    /// Another object or an owner outside the operator already claims the resource.
    pub const CONFLICT: &str = "Conflict";
    /// Another App's listener rule already matches the same hosts and paths.
    pub const ROUTE_CONFLICT: &str = "RouteConflict";
    /// The App serves its stable revision with all traffic.
    pub const AVAILABLE: &str = "Available";
    /// A revision is being rolled out or AWS is converging.
    pub const PROGRESSING: &str = "Progressing";
    /// The current revision failed; the stable one keeps serving.
    pub const ROLLOUT_FAILED: &str = "RolloutFailed";
    /// The current revision's analysis failed; traffic went back to the stable one.
    pub const ANALYSIS_FAILED: &str = "AnalysisFailed";
    /// Progressing: a revision is rolling out.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Progressing is False: nothing to roll out.
    pub const IDLE: &str = "Idle";
    /// Degraded is False: nothing failed.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// The App a Domain or Deployment refers to does not exist.
    pub const APP_NOT_FOUND: &str = "AppNotFound";
    /// AWS denied the operator a call: its IAM role lacks a permission.
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// AWS rejected a request made from the spec.
    pub const AWS_REJECTED: &str = "AwsRejected";
    /// An AWS quota is reached.
    pub const AWS_LIMIT_EXCEEDED: &str = "AwsLimitExceeded";
    /// Something the spec names does not exist in AWS.
    pub const AWS_NOT_FOUND: &str = "AwsNotFound";
    /// AWS keeps throttling or failing calls.
    pub const AWS_UNAVAILABLE: &str = "AwsUnavailable";
    /// The Kubernetes API refused the operator a call: its RBAC lacks a permission.
    pub const FORBIDDEN: &str = "Forbidden";
    /// Calls to the Kubernetes API keep failing.
    pub const KUBERNETES_ERROR: &str = "KubernetesError";
    /// Waiting for AWS to settle before the next step.
    pub const CONVERGING: &str = "Converging";
    /// No Route53 hosted zone holds the Domain's hostname (or the one named does not exist).
    pub const HOSTED_ZONE_NOT_FOUND: &str = "HostedZoneNotFound";
    /// The App's listener cannot serve a certificate: it does not exist or is not HTTPS.
    pub const NO_HTTPS_LISTENER: &str = "NoHttpsListener";
    /// The certificate named in the spec does not exist in ACM.
    pub const CERTIFICATE_NOT_FOUND: &str = "CertificateNotFound";
    /// The certificate named in the spec does not cover every hostname.
    pub const CERTIFICATE_MISMATCH: &str = "CertificateMismatch";
    /// ACM failed, revoked or expired the certificate, or its validation timed out.
    pub const CERTIFICATE_FAILED: &str = "CertificateFailed";
    /// Ownership records for the hostnames are being written.
    pub const CLAIMING: &str = "Claiming";
    /// The certificate waits for its validation records or for ACM to issue it.
    pub const CERTIFICATE_PENDING: &str = "CertificatePending";
    /// The certificate is being attached to the listener, or alias records written.
    pub const RECORDS_PENDING: &str = "RecordsPending";
    /// Route53 has not yet propagated the Domain's records everywhere.
    pub const PROPAGATING: &str = "Propagating";
}

/// The desired value of one condition, before timestamps are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    /// Condition type, e.g. [`READY`].
    pub type_: &'a str,
    /// Whether the condition holds.
    pub status: Status,
    /// One CamelCase word a machine can match on.
    pub reason: &'a str,
    /// A sentence for a person.
    pub message: String,
}

/// Sets one condition in `conditions`, keeping `lastTransitionTime` unless the status flipped.
///
/// Returns whether anything changed, so a caller can skip a status patch when nothing did.
pub fn set(
    conditions: &mut Vec<Condition>,
    update: ConditionUpdate<'_>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> bool {
    let status = update.status.as_str();
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            let flipped = existing.status != status;
            let changed = flipped
                || existing.reason != update.reason
                || existing.message != update.message
                || existing.observed_generation != generation;
            if flipped {
                existing.last_transition_time = Time(now);
                existing.status = status.to_string();
            }
            existing.reason = update.reason.to_string();
            existing.message = update.message;
            existing.observed_generation = generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: update.type_.to_string(),
                status: status.to_string(),
                reason: update.reason.to_string(),
                message: update.message,
                observed_generation: generation,
                last_transition_time: Time(now),
            });
            true
        }
    }
}

/// The condition of the given type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of the given type is present with status True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| Status::True.is(&c.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(seconds).expect("valid timestamp")
    }

    fn ready(status: Status, message: &str) -> ConditionUpdate<'static> {
        ConditionUpdate {
            type_: READY,
            status,
            reason: reason::ACCEPTED,
            message: message.to_string(),
        }
    }

    #[test]
    fn new_condition_is_added_with_transition_time_now() {
        let mut list = Vec::new();
        assert!(set(&mut list, ready(Status::True, "ok"), Some(1), at(10)));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].last_transition_time, Time(at(10)));
        assert_eq!(list[0].observed_generation, Some(1));
    }

    #[test]
    fn unchanged_condition_reports_no_change_and_keeps_time() {
        let mut list = Vec::new();
        set(&mut list, ready(Status::True, "ok"), Some(1), at(10));
        assert!(!set(&mut list, ready(Status::True, "ok"), Some(1), at(20)));
        assert_eq!(list[0].last_transition_time, Time(at(10)));
    }

    #[test]
    fn message_change_without_flip_keeps_transition_time() {
        let mut list = Vec::new();
        set(&mut list, ready(Status::True, "ok"), Some(1), at(10));
        assert!(set(
            &mut list,
            ready(Status::True, "still ok"),
            Some(2),
            at(20)
        ));
        assert_eq!(list[0].last_transition_time, Time(at(10)));
        assert_eq!(list[0].message, "still ok");
        assert_eq!(list[0].observed_generation, Some(2));
    }

    #[test]
    fn status_flip_moves_transition_time() {
        let mut list = Vec::new();
        set(&mut list, ready(Status::True, "ok"), Some(1), at(10));
        assert!(set(
            &mut list,
            ready(Status::False, "broken"),
            Some(1),
            at(30)
        ));
        assert_eq!(list[0].last_transition_time, Time(at(30)));
        assert_eq!(list[0].status, "False");
    }
}
