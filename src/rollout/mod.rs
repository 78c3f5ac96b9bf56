//! Pure rollout state machines: from a Deployment, what its App reports, analysis verdicts and
//! the time, to the Deployment's next status. No I/O; the Deployment controller applies the
//! result. `rolling` rollouts are decided by ECS and reported by [`rolling`]; canary and
//! blue-green rollouts walk the [`steps`] of their strategy in [`progressive`].

pub mod progressive;
pub mod rolling;
pub mod steps;
