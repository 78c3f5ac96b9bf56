//! Pure rollout state machines: from a Deployment, what its App reports and the time, to the
//! Deployment's next phase. No I/O; the Deployment controller applies the result.

pub mod rolling;
