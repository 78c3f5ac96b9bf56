//! Kubernetes API simulator: the parts of an API server the operator and kubectl rely on.

pub mod validation;
