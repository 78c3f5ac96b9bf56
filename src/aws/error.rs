//! The one error type every AWS trait returns, with the classification the controllers act on
//! (terminal, transitional, transient; see docs/decisions.md): the SDK adapters and the simulator
//! both map their failures into it.

use crate::controller::ErrorClass;

/// What kind of failure an AWS call had, independent of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (deletes treat this as done).
    NotFound,
    /// A resource with that name or token already exists.
    AlreadyExists,
    /// The request was throttled (`ThrottlingException`, `Throttling`, `TooManyRequestsException`,
    /// `PriorRequestNotComplete`).
    Throttling,
    /// AWS failed (HTTP 5xx, `ServiceUnavailable`, `InternalFailure`).
    ServerError,
    /// No answer in time, or the connection failed.
    Timeout,
    /// The request is invalid (`InvalidParameter*`, `ValidationError`, `InvalidChangeBatch`): the
    /// input must change.
    InvalidRequest,
    /// The operator's IAM role may not do this.
    AccessDenied,
    /// The resource is busy or in use (`ResourceInUse`, a target group still referenced by a rule).
    InUse,
    /// An account or resource quota is reached.
    LimitExceeded,
    /// Anything else.
    Other,
}

/// A failed AWS call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation} failed: {code}: {message}")]
pub struct AwsError {
    /// Service, e.g. `ecs`.
    pub service: &'static str,
    /// Operation, e.g. `CreateService`.
    pub operation: &'static str,
    /// The error code AWS returned, e.g. `ServiceNotFoundException`.
    pub code: String,
    /// The message AWS returned.
    pub message: String,
    /// The classification.
    pub kind: AwsErrorKind,
}

impl AwsError {
    /// An error of the given kind.
    pub fn new(
        service: &'static str,
        operation: &'static str,
        kind: AwsErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            service,
            operation,
            code: code.into(),
            message: message.into(),
            kind,
        }
    }

    /// Whether the resource was missing.
    pub fn is_not_found(&self) -> bool {
        self.kind == AwsErrorKind::NotFound
    }

    /// How a reconcile should treat this error.
    pub fn class(&self) -> ErrorClass {
        match self.kind {
            AwsErrorKind::Throttling
            | AwsErrorKind::ServerError
            | AwsErrorKind::Timeout
            | AwsErrorKind::Other => ErrorClass::Transient,
            AwsErrorKind::NotFound | AwsErrorKind::AlreadyExists | AwsErrorKind::InUse => {
                ErrorClass::Transitional
            }
            AwsErrorKind::InvalidRequest
            | AwsErrorKind::AccessDenied
            | AwsErrorKind::LimitExceeded => ErrorClass::Terminal,
        }
    }

    /// Short label for metrics, e.g. `ecs_throttling`.
    pub fn label(&self) -> String {
        format!("{}_{}", self.service, self.kind.as_str())
    }
}

impl AwsErrorKind {
    /// The kind as a metric label, e.g. `throttling`.
    pub fn as_str(self) -> &'static str {
        match self {
            AwsErrorKind::NotFound => "not_found",
            AwsErrorKind::AlreadyExists => "already_exists",
            AwsErrorKind::Throttling => "throttling",
            AwsErrorKind::ServerError => "server_error",
            AwsErrorKind::Timeout => "timeout",
            AwsErrorKind::InvalidRequest => "invalid_request",
            AwsErrorKind::AccessDenied => "access_denied",
            AwsErrorKind::InUse => "in_use",
            AwsErrorKind::LimitExceeded => "limit_exceeded",
            AwsErrorKind::Other => "other",
        }
    }
}

/// Result of an AWS trait call.
pub type AwsResult<T> = Result<T, AwsError>;
