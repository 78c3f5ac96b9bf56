//! The three reconcilers (App, Deployment, Domain), what they share (context, errors, status
//! reporting), and the runtime that wires them to the API server under a leader Lease.

pub mod app;
pub mod context;
pub mod deployment;
pub mod domain;
pub mod leader;
pub mod report;
pub mod runtime;
pub mod validate;

pub use context::Context;

/// How an error should be handled (DESIGN.md, principle 5).
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

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[source] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
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
        }
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
        }
    }
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(e)
    }
}
