//! Call accounting and fault injection: every trait call is counted per (service, operation)
//! before anything else happens, then the service's seeded fault generator decides whether it is
//! throttled, fails with a 5xx, or loses its response.

use super::config::{Faults, SimService};
use super::world::Fail;
use crate::aws::AwsErrorKind;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;

/// Calls of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OperationCount {
    /// How many times it was called (faults included).
    pub calls: u64,
    /// Whether the operation changes AWS state.
    pub write: bool,
}

/// Calls per (service, operation) since the world was made or [`super::AwsSim::reset_calls`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    operations: BTreeMap<(SimService, &'static str), OperationCount>,
}

impl CallCounts {
    /// Calls of one operation, e.g. `(SimService::Ecs, "DescribeServices")`.
    pub fn get(&self, service: SimService, operation: &str) -> u64 {
        self.operations
            .iter()
            .find(|((s, op), _)| *s == service && *op == operation)
            .map_or(0, |(_, c)| c.calls)
    }

    /// All calls.
    pub fn total(&self) -> u64 {
        self.operations.values().map(|c| c.calls).sum()
    }

    /// Calls of operations that change state.
    pub fn writes(&self) -> u64 {
        self.operations
            .values()
            .filter(|c| c.write)
            .map(|c| c.calls)
            .sum()
    }

    /// Calls of operations that only read.
    pub fn reads(&self) -> u64 {
        self.operations
            .values()
            .filter(|c| !c.write)
            .map(|c| c.calls)
            .sum()
    }

    /// The write operations that were called, with their counts (for a readable assertion
    /// message).
    pub fn write_operations(&self) -> Vec<(SimService, &'static str, u64)> {
        self.iter()
            .filter(|(_, _, c)| c.write)
            .map(|(s, op, c)| (s, op, c.calls))
            .collect()
    }

    /// Every counted operation.
    pub fn iter(&self) -> impl Iterator<Item = (SimService, &'static str, OperationCount)> + '_ {
        self.operations.iter().map(|((s, op), c)| (*s, *op, *c))
    }
}

/// Call instants kept per service for the peak-rate figure (the newest ones).
const KEPT_INSTANTS: usize = 100_000;

/// The world's running tally.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallLog {
    counts: CallCounts,
    /// When each call arrived, per service, in the caller's real time: AWS API rates are per
    /// account and per second of real time.
    instants: BTreeMap<SimService, std::collections::VecDeque<std::time::Instant>>,
}

impl CallLog {
    pub fn count(&mut self, service: SimService, operation: &'static str, write: bool) {
        let entry = self
            .counts
            .operations
            .entry((service, operation))
            .or_default();
        entry.calls += 1;
        entry.write = write;
        let instants = self.instants.entry(service).or_default();
        if instants.len() == KEPT_INSTANTS {
            instants.pop_front();
        }
        instants.push_back(std::time::Instant::now());
    }

    /// The most calls of one service that arrived within any one second.
    pub fn peak_per_second(&self, service: SimService) -> usize {
        let Some(times) = self.instants.get(&service) else {
            return 0;
        };
        let mut peak = 0;
        let mut first = 0;
        for (last, at) in times.iter().enumerate() {
            while at.duration_since(times[first]) >= std::time::Duration::from_secs(1) {
                first += 1;
            }
            peak = peak.max(last - first + 1);
        }
        peak
    }

    pub fn snapshot(&self) -> CallCounts {
        self.counts.clone()
    }

    pub fn reset(&mut self) {
        self.counts = CallCounts::default();
        self.instants.clear();
    }

    /// Every count, for the world's file.
    pub fn entries(&self) -> Vec<(SimService, String, OperationCount)> {
        self.counts
            .operations
            .iter()
            .map(|((s, op), c)| (*s, (*op).to_string(), *c))
            .collect()
    }

    /// Counts read back from the world's file.
    pub fn restore(entries: Vec<(SimService, String, OperationCount)>) -> Self {
        let mut log = CallLog::default();
        for (service, operation, count) in entries {
            // Instants are not kept across runs: they only mean something within one.
            log.counts
                .operations
                .insert((service, intern(&operation)), count);
        }
        log
    }
}

/// The `&'static` name of an operation read back from a file: operation names are a small fixed
/// set, each leaked once.
fn intern(name: &str) -> &'static str {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// What the fault generator decided for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultOutcome {
    /// The call runs normally.
    None,
    /// Refused with the service's throttling error; no effect.
    Throttle,
    /// Fails with a 5xx; no effect.
    ServerError,
    /// Runs, then the answer is lost.
    LostResponse,
}

/// One service's faults and their generator.
pub(crate) struct FaultState {
    pub faults: Faults,
    rng: StdRng,
}

impl FaultState {
    pub fn new(seed: u64, service: SimService) -> Self {
        FaultState {
            faults: Faults::default(),
            rng: StdRng::seed_from_u64(fault_seed(seed, service)),
        }
    }

    /// New faults, with the generator reseeded so outcomes depend only on the seed and the calls
    /// that follow.
    pub fn set(&mut self, seed: u64, service: SimService, faults: Faults) {
        self.faults = faults;
        self.rng = StdRng::seed_from_u64(fault_seed(seed, service));
    }

    /// Draws the outcome of one call: always three draws, so one call's outcome never shifts
    /// another's.
    pub fn draw(&mut self) -> FaultOutcome {
        let throttle: f64 = self.rng.random();
        let server: f64 = self.rng.random();
        let lost: f64 = self.rng.random();
        if throttle < self.faults.throttle_rate {
            FaultOutcome::Throttle
        } else if server < self.faults.server_error_rate {
            FaultOutcome::ServerError
        } else if lost < self.faults.lost_response_rate {
            FaultOutcome::LostResponse
        } else {
            FaultOutcome::None
        }
    }
}

fn fault_seed(seed: u64, service: SimService) -> u64 {
    seed ^ 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(service.index() + 1)
}

/// The throttling error each service returns.
pub(crate) fn throttling(service: SimService, operation: &str) -> Fail {
    let (code, message) = match service {
        // ECS API Reference, Common Errors: ThrottlingException, "Rate exceeded".
        SimService::Ecs => ("ThrottlingException", "Rate exceeded"),
        // ELBv2 API Reference, Common Errors: Throttling.
        SimService::Elbv2 => ("Throttling", "Rate exceeded"),
        // Route53 API Reference, ChangeResourceRecordSets errors: PriorRequestNotComplete while a
        // previous change to the zone is being applied; Throttling elsewhere.
        SimService::Route53 if operation == "ChangeResourceRecordSets" => (
            "PriorRequestNotComplete",
            "The request was rejected because Route 53 was still processing a prior request.",
        ),
        SimService::Route53 => ("Throttling", "Rate exceeded"),
        // ACM API Reference, Common Errors: ThrottlingException.
        SimService::Acm => ("ThrottlingException", "Rate exceeded"),
        // CloudWatch API Reference, Common Errors: Throttling.
        SimService::CloudWatch => ("Throttling", "Rate exceeded"),
        // STS and IAM Common Errors: Throttling.
        SimService::Sts | SimService::Iam => ("Throttling", "Rate exceeded"),
        // EC2 API Reference, Error codes: RequestLimitExceeded.
        SimService::Ec2 => ("RequestLimitExceeded", "Request limit exceeded."),
    };
    Fail::new(AwsErrorKind::Throttling, code, message)
}

/// The 5xx error each service returns.
pub(crate) fn server_error(service: SimService) -> Fail {
    let (code, message) = match service {
        // ECS API Reference, Errors: ServerException (HTTP 500).
        SimService::Ecs => (
            "ServerException",
            "Service Unavailable. Please try again later.",
        ),
        // ELBv2, Route53, ACM, CloudWatch Common Errors: InternalFailure / ServiceUnavailable.
        SimService::Elbv2 => (
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
        ),
        SimService::Route53 => ("ServiceUnavailable", "Service unavailable."),
        SimService::Acm => (
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
        ),
        SimService::CloudWatch => ("InternalServiceError", "Internal service error."),
        SimService::Sts | SimService::Iam => (
            "InternalFailure",
            "The request processing has failed because of an unknown error.",
        ),
        // EC2 API Reference, Error codes: InternalError.
        SimService::Ec2 => (
            "InternalError",
            "An internal error has occurred. Try your request again.",
        ),
    };
    Fail::new(AwsErrorKind::ServerError, code, message)
}

/// The error a caller sees when the answer was lost after the call took effect.
pub(crate) fn lost_response() -> Fail {
    Fail::new(
        AwsErrorKind::Timeout,
        "TimeoutError",
        "no response before the timeout (simulated lost response: the request was applied)",
    )
}
