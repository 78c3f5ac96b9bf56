//! The three reconcilers (App, Deployment, Domain), what they share (context, errors, status
//! reporting), and the runtime that wires them to the API server under a leader Lease.

pub mod app;
pub mod context;
pub mod deployment;
pub mod domain;
pub mod events;
pub mod failure;
pub mod leader;
pub mod memo;
pub mod permissions;
pub mod report;
pub mod runtime;
pub mod validate;
pub mod view;
pub mod zones;

pub use context::Context;

/// The field manager of every write the operator makes, so that `managedFields` (and the diffs of
/// GitOps tools, which read them) say which fields are the operator's.
pub const FIELD_MANAGER: &str = "cygni";

/// Parameters of the operator's patches: its field manager.
pub fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PatchParams::default()
    }
}

/// Parameters of the operator's creates and replaces: its field manager.
pub fn post_params() -> kube::api::PostParams {
    kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PostParams::default()
    }
}

/// One sentence for a Kubernetes client error. kube's own `Display` of an API error appends a
/// `Debug` dump of the whole `Status`; a person needs the code, the reason and the message.
pub fn describe_kube(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", status.reason)
            };
            format!(
                "the Kubernetes API answered {}{reason}: {}",
                status.code,
                status.message.trim_end_matches('.')
            )
        }
        kube::Error::HyperError(e) => {
            format!("cannot reach the Kubernetes API: {}", root_cause(e))
        }
        kube::Error::Service(e) => {
            format!(
                "cannot reach the Kubernetes API: {}",
                root_cause(e.as_ref())
            )
        }
        other => other.to_string(),
    }
}

/// Why a request did not get an answer, for a line that already says the server could not be
/// reached: the root cause of a connection failure, else [`describe_kube`].
pub fn describe_connection(error: &kube::Error) -> String {
    match error {
        kube::Error::HyperError(e) => root_cause(e),
        kube::Error::Service(e) => root_cause(e.as_ref()),
        other => describe_kube(other),
    }
}

/// The innermost error of a chain: for a refused connection `Connection refused (os error
/// 111)` rather than the client's `client error (Connect)`.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// How an error should be handled: terminal errors wait for the spec to change, transitional
/// ones requeue soon, transient ones back off exponentially with jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The spec must change; retrying without a change cannot help.
    Terminal,
    /// Waiting on something that will settle (a certificate, a draining service): requeue soon.
    Transitional,
    /// Throttling, 5xx, timeouts, conflicts: retry with exponential backoff and jitter.
    Transient,
}

impl ErrorClass {
    /// Label used in metrics and Events.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Terminal => "terminal",
            ErrorClass::Transitional => "transitional",
            ErrorClass::Transient => "transient",
        }
    }
}

/// Why a reconcile failed. The `Display` of each is a sentence a person can read in a log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("{}", describe_kube(.0))]
    Kube(#[source] kube::Error),
    /// Adding or removing the finalizer failed, or the apply or cleanup it wraps did.
    #[error("{}", describe_finalizer(.0))]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// An object arrived without the metadata every stored object has.
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    /// A planned change referred to something that was neither observed nor created.
    #[error("no {0} to refer to; it will be looked up again")]
    Missing(&'static str),
    /// A status could not be serialized (a bug: the types serialize).
    #[error("cannot serialize a status: {0}")]
    Serialize(String),
    /// A deletion waits for something to settle before it can go on (a finalizer is only
    /// removed once cleanup succeeds, so waiting there is an error that is not a failure).
    #[error("waiting: {what}")]
    Waiting {
        /// What it waits for.
        what: String,
        /// When to look again.
        retry: std::time::Duration,
    },
}

fn describe_finalizer(error: &kube::runtime::finalizer::Error<Error>) -> String {
    use kube::runtime::finalizer::Error as F;
    match error {
        F::ApplyFailed(e) => e.to_string(),
        F::CleanupFailed(e) => format!("cleaning up: {e}"),
        F::AddFinalizer(e) => format!("cannot add the finalizer: {}", describe_kube(e)),
        F::RemoveFinalizer(e) => format!("cannot remove the finalizer: {}", describe_kube(e)),
        other => other.to_string(),
    }
}

impl Error {
    /// Short label for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube_api",
            Error::Finalizer(_) => "finalizer",
            Error::MissingMetadata(_) => "missing_metadata",
            Error::Aws(_) => "aws",
            Error::Missing(_) => "missing_reference",
            Error::Serialize(_) => "serialize",
            Error::Waiting { .. } => "waiting",
        }
    }

    /// The error inside the finalizer's apply or cleanup, if that is where it happened.
    pub fn inner(&self) -> &Error {
        match self {
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.inner(),
                _ => self,
            },
            _ => self,
        }
    }

    /// Whether the error happened while cleaning up a deleted object.
    pub fn during_cleanup(&self) -> bool {
        matches!(
            self,
            Error::Finalizer(inner)
                if matches!(inner.as_ref(), kube::runtime::finalizer::Error::CleanupFailed(_))
        )
    }

    /// How the error is handled.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 403 => ErrorClass::Terminal,
            Error::Kube(_) => ErrorClass::Transient,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.class(),
                _ => ErrorClass::Transient,
            },
            Error::MissingMetadata(_) => ErrorClass::Terminal,
            Error::Aws(e) => e.class(),
            Error::Missing(_) => ErrorClass::Transitional,
            Error::Serialize(_) => ErrorClass::Terminal,
            Error::Waiting { .. } => ErrorClass::Transitional,
        }
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(e)
    }
}
