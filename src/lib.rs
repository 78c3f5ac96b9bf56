//! Cygni: a Kubernetes operator that deploys container apps to Amazon ECS on Fargate, shifts traffic
//! progressively and manages their domains. The binary in `main.rs` is a thin CLI over this library.

pub mod analysis;
pub mod api;
pub mod aws;
pub mod cli;
pub mod clock;
pub mod config;
pub mod controller;
pub mod cost;
pub mod doctor;
pub mod plan;
pub mod playground;
pub mod rollout;
pub mod sim;
pub mod telemetry;
