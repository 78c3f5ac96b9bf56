//! Failures that persist reach the object: a `Ready=False` condition whose reason names the kind
//! of failure and whose message is one sentence saying what failed and what to fix, and one
//! Warning Event for each new such sentence. A failure that a retry cures stays in the log.

use super::report::{self, Reported};
use super::{Context, Error, ErrorClass, describe_kube};
use crate::api::conditions::{self, ConditionUpdate, Status, reason};
use crate::aws::{AwsError, AwsErrorKind};
use kube::ResourceExt;
use kube::api::{Api, Patch};
use kube::runtime::controller::Action;

/// Consecutive failed reconciles (each already retried inside its AWS and Kubernetes calls)
/// after which a transient failure is reported on the object. Terminal failures are reported at
/// once: retrying cannot cure them.
pub const REPORT_AFTER: u32 = 3;

/// What a failure looks like on its object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureReport {
    /// The condition reason.
    pub reason: &'static str,
    /// One sentence: what failed, and what to fix.
    pub message: String,
}

impl Error {
    /// The reason and sentence a persisting failure shows on its object.
    pub fn report(&self) -> FailureReport {
        let cleanup = self.during_cleanup();
        let mut report = match self.inner() {
            Error::Aws(e) => aws_report(e),
            Error::Kube(e) => kube_report(e),
            Error::Finalizer(e) => FailureReport {
                reason: reason::KUBERNETES_ERROR,
                message: format!(
                    "{}; the operator retries with backoff",
                    super::describe_finalizer(e)
                ),
            },
            Error::MissingMetadata(what) => FailureReport {
                reason: reason::KUBERNETES_ERROR,
                message: format!("the object has no {what}; it cannot be reconciled"),
            },
            Error::Missing(what) => FailureReport {
                reason: reason::CONVERGING,
                message: format!("no {what} to refer to yet; it is looked up again"),
            },
            Error::Serialize(what) => FailureReport {
                reason: reason::KUBERNETES_ERROR,
                message: format!("cannot serialize the status ({what})"),
            },
            Error::Waiting { what, .. } => FailureReport {
                reason: reason::DELETING,
                message: what.clone(),
            },
        };
        if cleanup {
            report.message = format!("cannot delete yet: {}", report.message);
        }
        report
    }

    /// Whether a failure, after `previous` consecutive failures of the same object, is reported
    /// on it.
    pub fn persists(&self, previous: u32) -> bool {
        if matches!(self.inner(), Error::Waiting { .. }) {
            return false;
        }
        self.class() == ErrorClass::Terminal || previous + 1 >= REPORT_AFTER
    }
}

fn kube_report(error: &kube::Error) -> FailureReport {
    match error {
        kube::Error::Api(status) if status.code == 403 => FailureReport {
            reason: reason::FORBIDDEN,
            message: format!(
                "{}; grant the operator's service account this permission (the Helm chart's RBAC does)",
                describe_kube(error)
            ),
        },
        _ => FailureReport {
            reason: reason::KUBERNETES_ERROR,
            message: format!(
                "{}; the operator retries with backoff",
                describe_kube(error)
            ),
        },
    }
}

/// The App fields an AWS operation is made from, for a message that says where to look.
fn fields_of(operation: &str) -> &'static str {
    match operation {
        "RegisterTaskDefinition" => "spec.container, spec.iam and spec.logs",
        "CreateService" | "UpdateService" => "spec.cluster, spec.network and spec.replicas",
        "DescribeServices" | "DeleteService" => "spec.cluster",
        "CreateTargetGroup" | "ModifyTargetGroup" => "spec.container.port and spec.healthCheck",
        "CreateRule" | "ModifyRule" | "DescribeRules" | "DescribeListeners" => "spec.routing",
        _ => "the spec",
    }
}

fn aws_report(error: &AwsError) -> FailureReport {
    let call = format!("{} {}", error.service.to_uppercase(), error.operation);
    let said = format!("{}: {}", error.code, error.message.trim_end_matches('.'));
    match error.kind {
        AwsErrorKind::AccessDenied => FailureReport {
            reason: reason::ACCESS_DENIED,
            message: format!(
                "AWS denied {} to the operator ({said}); grant it to the operator's IAM role as docs/iam-policy.json does",
                action(error)
            ),
        },
        AwsErrorKind::InvalidRequest => FailureReport {
            reason: reason::AWS_REJECTED,
            message: format!(
                "{call} was rejected ({said}); fix {}",
                fields_of(error.operation)
            ),
        },
        AwsErrorKind::LimitExceeded => FailureReport {
            reason: reason::AWS_LIMIT_EXCEEDED,
            message: format!(
                "{call} hit an AWS quota ({said}); raise the quota in Service Quotas or remove unused resources"
            ),
        },
        AwsErrorKind::NotFound => FailureReport {
            reason: reason::AWS_NOT_FOUND,
            message: format!(
                "{call} found nothing ({said}); check {}",
                fields_of(error.operation)
            ),
        },
        AwsErrorKind::InUse | AwsErrorKind::AlreadyExists => FailureReport {
            reason: reason::CONVERGING,
            message: format!("{call} is waiting for AWS to settle ({said}); it is tried again"),
        },
        AwsErrorKind::Throttling
        | AwsErrorKind::ServerError
        | AwsErrorKind::Timeout
        | AwsErrorKind::Other => FailureReport {
            reason: reason::AWS_UNAVAILABLE,
            message: format!("{call} keeps failing ({said}); the operator retries with backoff"),
        },
    }
}

/// The IAM action of a failed call, e.g. `ecs:CreateService`.
fn action(error: &AwsError) -> String {
    let prefix = match error.service {
        "elbv2" => "elasticloadbalancing",
        other => other,
    };
    format!("{prefix}:{}", error.operation)
}

/// The end of every reconcile: a success forgets the object's failures (its backoff starts
/// again); a failure is reported on the object when it persists, and returned for the error
/// policy to log and requeue.
pub async fn conclude<K: Reported>(
    api: &Api<K>,
    object: &K,
    result: Result<Action, Error>,
    ctx: &Context,
) -> Result<Action, Error> {
    match result {
        Ok(action) => {
            ctx.reconciled(&super::runtime::object_key(object));
            Ok(action)
        }
        // Waiting in a cleanup is progress, not a failure: no backoff, no report.
        Err(error) if matches!(error.inner(), Error::Waiting { .. }) => {
            let Error::Waiting { retry, .. } = error.inner() else {
                unreachable!("matched above")
            };
            Ok(Action::requeue(*retry))
        }
        Err(error) => {
            report(api, object, &error, ctx).await;
            Err(error)
        }
    }
}

/// Reports `error` on `object` when it persists: sets `Ready=False` with the failure's reason and
/// sentence (only the conditions are written, on the object as it is now, so no other status
/// field goes back to an older value) and publishes a Warning Event when the sentence is new.
/// Problems while reporting are logged; the reconcile's own error is what the caller returns.
async fn report<K: Reported>(api: &Api<K>, object: &K, error: &Error, ctx: &Context) {
    let key = super::runtime::object_key(object);
    if !error.persists(ctx.failures(&key)) {
        return;
    }
    let failure = error.report();
    let fresh = match api.get_opt(&object.name_any()).await {
        Ok(Some(fresh)) => fresh,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(object = %key, error = %describe_kube(&e), "cannot report a failure");
            return;
        }
    };
    let mut conditions_now = fresh
        .status()
        .map(|s| report::conditions_of(s).to_vec())
        .unwrap_or_default();
    let changed = conditions::set(
        &mut conditions_now,
        ConditionUpdate {
            type_: conditions::READY,
            status: Status::False,
            reason: failure.reason,
            message: failure.message.clone(),
        },
        fresh.meta().generation,
        ctx.clock.now(),
    );
    if !changed {
        return;
    }
    let patch = serde_json::json!({ "status": { "conditions": conditions_now } });
    if let Err(e) = api
        .patch_status(
            &fresh.name_any(),
            &super::patch_params(),
            &Patch::Merge(&patch),
        )
        .await
    {
        tracing::warn!(object = %key, error = %describe_kube(&e), "cannot report a failure");
        return;
    }
    ctx.publish(
        &fresh.object_ref(&()),
        super::events::EventType::Warning,
        failure.reason,
        "Reconcile",
        failure.message,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(kind: AwsErrorKind, operation: &'static str, code: &str) -> Error {
        Error::Aws(AwsError::new(
            "ecs",
            operation,
            kind,
            code,
            "Something went wrong.",
        ))
    }

    #[test]
    fn access_denied_names_the_iam_action_and_the_policy() {
        let report = aws(
            AwsErrorKind::AccessDenied,
            "CreateService",
            "AccessDeniedException",
        )
        .report();
        assert_eq!(report.reason, "AccessDenied");
        assert!(
            report.message.contains("ecs:CreateService"),
            "{}",
            report.message
        );
        assert!(
            report.message.contains("docs/iam-policy.json"),
            "{}",
            report.message
        );
    }

    #[test]
    fn a_rejected_call_names_the_fields_it_came_from() {
        let report = aws(
            AwsErrorKind::InvalidRequest,
            "RegisterTaskDefinition",
            "ClientException",
        )
        .report();
        assert_eq!(report.reason, "AwsRejected");
        assert!(
            report.message.contains("spec.container"),
            "{}",
            report.message
        );
    }

    #[test]
    fn kubernetes_errors_are_sentences_without_debug_dumps() {
        let status =
            kube::core::Status::failure("deployments.cygni.io \"x\" not found", "NotFound")
                .with_code(404);
        let report = Error::Kube(kube::Error::Api(Box::new(status))).report();
        assert!(!report.message.contains("Status {"), "{}", report.message);
        assert!(!report.message.contains("Some("), "{}", report.message);
        assert!(
            report.message.contains("404 NotFound"),
            "{}",
            report.message
        );
    }

    #[test]
    fn transient_failures_are_reported_once_they_persist_terminal_ones_at_once() {
        let throttled = aws(
            AwsErrorKind::Throttling,
            "DescribeServices",
            "ThrottlingException",
        );
        assert!(!throttled.persists(0));
        assert!(!throttled.persists(REPORT_AFTER - 2));
        assert!(throttled.persists(REPORT_AFTER - 1));
        let denied = aws(
            AwsErrorKind::AccessDenied,
            "CreateService",
            "AccessDeniedException",
        );
        assert!(denied.persists(0));
    }
}
