//! Development simulators: pieces of a Kubernetes API server and of AWS that run in process, so the
//! operator can be exercised end to end without a cluster or an AWS account.

pub mod aws;
pub mod kube;
