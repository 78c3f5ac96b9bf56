//! Pure planners: functions from desired state, observed state and time to the changes that
//! converge them. No I/O here; every planner is unit-tested without a client.

pub mod app;
pub mod diff;
pub mod domain;
pub mod naming;
pub mod routing;
