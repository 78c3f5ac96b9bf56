//! The simulated world: every service's state behind one lock, the seeded ID generator, and the
//! lazy event loop that settles the dynamics up to the clock's current time before each call.
//!
//! Time only moves in [`World::settle`]: it jumps from one scheduled event (a task starting, a
//! target passing its health checks, a Route53 change going INSYNC, ...) to the next, and at each
//! one [`World::step`] applies what is due and lets the schedulers react (ECS launching and
//! stopping tasks, ACM checking DNS). So a world left alone for an hour and then described is in
//! exactly the state it would have reached had it been watched every second.

use super::acm::AcmState;
use super::calls::{CallLog, FaultState};
use super::cloudwatch::MetricsState;
use super::config::{ImageBehaviour, SimService, Timings};
use super::ecs::EcsState;
use super::elbv2::ElbState;
use super::route53::DnsState;
use crate::aws::{AwsError, AwsErrorKind};
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::time::Duration;

/// Upper bound of scheduler rounds at one instant (each round is a fixed point attempt).
const MAX_ROUNDS_PER_INSTANT: usize = 64;

/// A failure inside the world, before the service and operation names are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fail {
    pub kind: AwsErrorKind,
    pub code: String,
    pub message: String,
}

impl Fail {
    pub fn new(kind: AwsErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Fail {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn invalid(code: impl Into<String>, message: impl Into<String>) -> Self {
        Fail::new(AwsErrorKind::InvalidRequest, code, message)
    }

    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Fail::new(AwsErrorKind::NotFound, code, message)
    }

    pub fn into_error(self, service: SimService, operation: &'static str) -> AwsError {
        AwsError::new(
            service.name(),
            operation,
            self.kind,
            self.code,
            self.message,
        )
    }
}

/// Result of an operation on the world.
pub(crate) type SimResult<T> = Result<T, Fail>;

/// `t + d`, saturating.
pub(crate) fn after(t: Timestamp, d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX);
    t.saturating_add(d).unwrap_or(t)
}

/// `t + seconds`, saturating.
pub(crate) fn after_secs(t: Timestamp, seconds: f64) -> Timestamp {
    let d = SignedDuration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(SignedDuration::MAX);
    t.saturating_add(d).unwrap_or(t)
}

/// The seeded source of IDs: the same seed and call sequence give the same ARNs.
pub(crate) struct IdGen {
    rng: StdRng,
    /// IDs handed out so far (a world read back from disk reseeds from it, so its new IDs do not
    /// repeat the ones it already holds).
    pub generated: u64,
}

impl IdGen {
    pub fn new(seed: u64) -> Self {
        IdGen {
            rng: StdRng::seed_from_u64(seed),
            generated: 0,
        }
    }

    /// The generator of a world read back after `generated` IDs.
    pub fn resumed(seed: u64, generated: u64) -> Self {
        let mixed = seed ^ generated.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
        IdGen {
            rng: StdRng::seed_from_u64(mixed),
            generated,
        }
    }

    fn pick(&mut self, alphabet: &[u8], len: usize) -> String {
        self.generated += 1;
        (0..len)
            .map(|_| alphabet[self.rng.random_range(0..alphabet.len())] as char)
            .collect()
    }

    /// Lowercase hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        self.pick(b"0123456789abcdef", len)
    }

    /// Decimal digits, the first one not zero.
    pub fn digits(&mut self, len: usize) -> String {
        let mut out = self.pick(b"123456789", 1);
        out.push_str(&self.pick(b"0123456789", len.saturating_sub(1)));
        out
    }

    /// Uppercase letters and digits.
    pub fn upper_alnum(&mut self, len: usize) -> String {
        self.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", len)
    }

    /// A version 4 UUID, lowercase.
    pub fn uuid(&mut self) -> String {
        let variant = self.pick(b"89ab", 1);
        format!(
            "{}-{}-4{}-{}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            variant,
            self.hex(3),
            self.hex(12)
        )
    }
}

/// A subnet of the simulated VPC; task IPs are taken from it in order.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Subnet {
    pub id: String,
    /// First two octets and the third octet's base, e.g. `10.0.16`.
    pub base: (u8, u8, u8),
    pub next_host: u32,
}

/// A VPC with its subnets and security groups (what `ec2` would hold).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Vpc {
    pub id: String,
    pub subnets: Vec<Subnet>,
    pub security_groups: Vec<String>,
}

/// Everything simulated, behind the `AwsSim` lock.
pub(crate) struct World {
    /// The instant the world is settled to.
    pub now: Timestamp,
    pub region: String,
    pub account: String,
    pub timings: Timings,
    pub requests_per_second: f64,
    pub seed: u64,
    pub ids: IdGen,
    pub images: BTreeMap<String, ImageBehaviour>,
    pub vpcs: Vec<Vpc>,
    pub ecs: EcsState,
    pub elb: ElbState,
    pub dns: DnsState,
    pub acm: AcmState,
    pub metrics: MetricsState,
    pub faults: BTreeMap<SimService, FaultState>,
    pub calls: CallLog,
}

impl World {
    pub fn new(
        seed: u64,
        now: Timestamp,
        region: String,
        account: String,
        timings: Timings,
        requests_per_second: f64,
    ) -> Self {
        let mut world = World {
            now,
            region,
            account,
            timings,
            requests_per_second,
            seed,
            ids: IdGen::new(seed),
            images: BTreeMap::new(),
            vpcs: Vec::new(),
            ecs: EcsState::default(),
            elb: ElbState::default(),
            dns: DnsState::default(),
            acm: AcmState::default(),
            metrics: MetricsState::default(),
            faults: SimService::ALL
                .iter()
                .map(|s| (*s, FaultState::new(seed, *s)))
                .collect(),
            calls: CallLog::default(),
        };
        world.add_default_vpc();
        world
    }

    /// Every account has a default VPC per region; the simulated one has two subnets and a
    /// security group.
    fn add_default_vpc(&mut self) {
        let vpc = Vpc {
            id: format!("vpc-{}", self.ids.hex(17)),
            subnets: vec![
                Subnet {
                    id: format!("subnet-{}", self.ids.hex(17)),
                    base: (10, 0, 0),
                    next_host: 10,
                },
                Subnet {
                    id: format!("subnet-{}", self.ids.hex(17)),
                    base: (10, 0, 16),
                    next_host: 10,
                },
            ],
            security_groups: vec![format!("sg-{}", self.ids.hex(17))],
        };
        self.vpcs.push(vpc);
    }

    /// The default VPC.
    pub fn default_vpc(&self) -> &Vpc {
        &self.vpcs[0]
    }

    pub fn subnet_exists(&self, id: &str) -> bool {
        self.vpcs
            .iter()
            .any(|v| v.subnets.iter().any(|s| s.id == id))
    }

    pub fn security_group_exists(&self, id: &str) -> bool {
        self.vpcs
            .iter()
            .any(|v| v.security_groups.iter().any(|s| s == id))
    }

    pub fn vpc_exists(&self, id: &str) -> bool {
        self.vpcs.iter().any(|v| v.id == id)
    }

    /// Next free private IP in a subnet (a /20: 4096 addresses, wrapping).
    pub fn allocate_ip(&mut self, subnet_id: &str) -> String {
        for vpc in &mut self.vpcs {
            if let Some(subnet) = vpc.subnets.iter_mut().find(|s| s.id == subnet_id) {
                let host = subnet.next_host;
                subnet.next_host = if host >= 4090 { 10 } else { host + 1 };
                let (a, b, c) = subnet.base;
                return format!("{a}.{b}.{}.{}", c as u32 + host / 256, host % 256);
            }
        }
        "10.255.255.254".to_string()
    }

    /// The behaviour of an image: what `set_image_behaviour` said, else the naming convention.
    pub fn image_behaviour(&self, image: &str) -> ImageBehaviour {
        self.images
            .get(image)
            .cloned()
            .unwrap_or_else(|| ImageBehaviour::by_convention(image))
    }

    /// Moves the world to `until`, event by event. A clock that went backwards changes nothing.
    ///
    /// Between events nothing changes by itself (every write steps the world at once), so when no
    /// event is due only the clock moves: a read then costs a lookup, not a pass over every
    /// service, which keeps a world of thousands of services cheap to ask.
    pub fn settle(&mut self, until: Timestamp) {
        loop {
            match self.next_event() {
                Some(t) if t <= until => {
                    self.now = t;
                    self.step();
                }
                _ => break,
            }
        }
        if until > self.now {
            self.now = until;
        }
    }

    /// Applies what is due at `self.now` and lets the schedulers react until nothing changes.
    pub fn step(&mut self) {
        for _ in 0..MAX_ROUNDS_PER_INSTANT {
            let mut changed = false;
            changed |= self.ecs_progress_tasks();
            changed |= self.elb_expire_draining();
            changed |= self.ecs_schedule();
            changed |= self.acm_progress();
            if !changed {
                break;
            }
        }
        self.ecs_purge();
        self.record_traffic();
    }

    /// The earliest scheduled event strictly after `self.now`.
    fn next_event(&self) -> Option<Timestamp> {
        let now = self.now;
        let mut candidates: Vec<Timestamp> = Vec::new();
        self.ecs_events(&mut candidates);
        self.elb_events(&mut candidates);
        self.dns_events(&mut candidates);
        self.acm_events(&mut candidates);
        candidates.into_iter().filter(|t| *t > now).min()
    }

    pub fn arn_prefix(&self, service: &str) -> String {
        format!("arn:aws:{service}:{}:{}", self.region, self.account)
    }
}
