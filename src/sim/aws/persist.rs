//! The simulated world on disk, for `cygni run --aws-backend sim --sim-state DIR` and the
//! playground: the whole world as one JSON file, written atomically (to a temporary file, then
//! renamed) after every call, and read back at start, so an operator killed with `kill -9` and
//! started again meets the AWS it left. Scripted CloudWatch series are closures and are not kept;
//! metric alarms are.
//!
//! The world keeps moving while nobody runs: a world read back is advanced by the wall-clock time
//! that passed since it was written, times the speed it runs at.

use super::alarms::MetricAlarm;
use super::calls::{CallLog, FaultState, OperationCount};
use super::cloudwatch::{Flow, MetricsState, Timeline};
use super::config::{Faults, ImageBehaviour, SimService, Timings};
use super::world::{IdGen, Vpc, World};
use super::{acm::AcmState, ecs::EcsState, elbv2::ElbState, route53::DnsState};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file the world is kept in, inside the state folder.
pub const FILE: &str = "aws.json";

/// Each (target group, load balancer) pair's traffic timeline.
type FlowTimelines = Vec<((String, String), Timeline<Option<Flow>>)>;

/// Everything of a world that is kept.
#[derive(Serialize, Deserialize)]
pub(crate) struct Persisted {
    /// Sim time the world is settled to.
    now: Timestamp,
    /// Wall-clock time it was written.
    written_at: Timestamp,
    region: String,
    account: String,
    timings: Timings,
    requests_per_second: f64,
    seed: u64,
    ids_generated: u64,
    images: BTreeMap<String, ImageBehaviour>,
    vpcs: Vec<Vpc>,
    ecs: EcsState,
    elb: ElbState,
    dns: DnsState,
    acm: AcmState,
    flows: FlowTimelines,
    unserved: BTreeMap<String, Timeline<f64>>,
    /// Metric alarms (absent from files written before alarms were simulated).
    #[serde(default)]
    alarms: Vec<MetricAlarm>,
    faults: BTreeMap<SimService, Faults>,
    calls: Vec<(SimService, String, OperationCount)>,
}

impl Persisted {
    /// What of `world` is kept.
    pub fn of(world: &World) -> Self {
        Persisted {
            now: world.now,
            written_at: Timestamp::now(),
            region: world.region.clone(),
            account: world.account.clone(),
            timings: world.timings.clone(),
            requests_per_second: world.requests_per_second,
            seed: world.seed,
            ids_generated: world.ids.generated,
            images: world.images.clone(),
            vpcs: world.vpcs.clone(),
            ecs: world.ecs.clone(),
            elb: world.elb.clone(),
            dns: world.dns.clone(),
            acm: world.acm.clone(),
            flows: world
                .metrics
                .flows
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            unserved: world.metrics.unserved.clone(),
            alarms: world.metrics.alarms.values().cloned().collect(),
            faults: world
                .faults
                .iter()
                .map(|(s, f)| (*s, f.faults.clone()))
                .collect(),
            calls: world.calls.entries(),
        }
    }

    /// The world it describes, and the sim time it has reached by now at `speed`.
    pub fn into_world(self, speed: f64) -> (World, Timestamp) {
        let away = self.written_at.duration_until(Timestamp::now());
        let away = jiff::SignedDuration::try_from_secs_f64(away.as_secs_f64().max(0.0) * speed)
            .unwrap_or_default();
        let resumed_at = self.now.saturating_add(away).unwrap_or(self.now);
        let seed = self.seed;
        let mut faults = BTreeMap::new();
        for service in SimService::ALL {
            let mut state = FaultState::new(seed, service);
            if let Some(f) = self.faults.get(&service) {
                state.set(seed, service, f.clone());
            }
            faults.insert(service, state);
        }
        let world = World {
            now: self.now,
            region: self.region,
            account: self.account,
            timings: self.timings,
            requests_per_second: self.requests_per_second,
            seed,
            ids: IdGen::resumed(seed, self.ids_generated),
            images: self.images,
            vpcs: self.vpcs,
            ecs: self.ecs,
            elb: self.elb,
            dns: self.dns,
            acm: self.acm,
            metrics: MetricsState {
                flows: self.flows.into_iter().collect(),
                unserved: self.unserved,
                scripted: Vec::new(),
                alarms: self
                    .alarms
                    .into_iter()
                    .map(|a| (a.name.clone(), a))
                    .collect(),
            },
            faults,
            calls: CallLog::restore(self.calls),
        };
        (world, resumed_at)
    }
}

/// Where a world is kept.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The world file in `dir` (created when missing).
    pub fn in_dir(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(StateFile {
            path: dir.join(FILE),
        })
    }

    /// The world kept there, if any.
    pub(crate) fn read(&self) -> std::io::Result<Option<Persisted>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `world` atomically: a reader (or a restart after a kill) sees the old world or the
    /// new one, never half of one.
    pub(crate) fn write(&self, world: &World) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&Persisted::of(world))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
