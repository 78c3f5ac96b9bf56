//! End to end: the operator's controllers against a Kubernetes API with simulated AWS, driven with
//! the kube client as a user would drive it with kubectl. Every test runs on a playground, or on
//! the real cluster of `CYGNI_TEST_KUBECONFIG` (see [`harness`]).

mod analysis;
mod blue_green;
mod canary;
mod convergence;
mod diff;
mod doctor;
mod domains;
mod errors;
mod events;
mod harness;
mod leader;
mod names;
mod recovery;
mod restarts;
mod routing;
