//! An in-process, deterministic simulation of the parts of AWS the operator uses (ECS on Fargate,
//! ELBv2, Route53, ACM, CloudWatch), behind the same traits as the SDK adapters
//! ([`AwsSim::services`]), for `cygni playground`, the end-to-end tests and the benchmarks.
//!
//! Unlike a stateful API mock, the world has dynamics. It is lazy: every call first settles the
//! world up to the clock's `now()`, event by event, so with a [`crate::clock::ManualClock`] a
//! test decides exactly when things happen and never sleeps, and with a
//! [`crate::clock::ScaledClock`] the playground runs minutes of AWS time in seconds. Given the
//! same seed, clock readings and calls, the world (IDs, ARNs, injected faults) is the same.
//!
//! - **ECS**: a deployment's tasks go PROVISIONING -> PENDING -> RUNNING ([`Timings`]), register
//!   in the target group, and become healthy after `healthy_threshold x interval`; older
//!   deployments drain within minimumHealthyPercent/maximumPercent; the deployment circuit
//!   breaker fails a rollout and rolls back; deleted services go DRAINING, then INACTIVE.
//! - **ELBv2**: target health (`initial`, `healthy`, `unhealthy`, `unused`, `draining`), weighted
//!   forward rules with AWS's limits, certificates on listeners checked against ACM.
//! - **Route53**: change batches validated and applied all or nothing, PENDING then INSYNC.
//! - **ACM**: DNS validation records deterministic per domain; a certificate issues only once
//!   every name's CNAME is INSYNC in a simulated public zone.
//! - **CloudWatch**: AWS/ApplicationELB metrics that follow the rule weights and the images'
//!   behaviour, series scripted with [`AwsSim::script_metric`], metric math expressions over them
//!   in GetMetricData, and metric alarms ([`AwsSim::put_metric_alarm`]) that DescribeAlarms
//!   evaluates from them. A caller on a slower clock than the world's
//!   ([`SimConfig::caller_clock`], the operator beside a 20x playground) has its GetMetricData
//!   windows moved to end at the world's now, and the answer's timestamps moved back.
//! - **Faults** per service ([`Faults`]), seeded; **call counts** per operation ([`CallCounts`]).
//!
//! # Image behaviour convention
//!
//! An image behaves as set with [`AwsSim::set_image_behaviour`] (matched on the exact image
//! string); otherwise by its name and tag (the part after the last `/`, case-insensitive), the
//! first that applies: containing `unhealthy` it runs but fails health checks
//! ([`ImageBehaviour::Unhealthy`]); containing `bad` or `crash` it crashes on start
//! ([`ImageBehaviour::Crash`]); containing `5xx` or `errors` it answers half its requests with a
//! 5xx ([`ImageBehaviour::Errors`]); containing `slow` its p99 response time is 2 s
//! ([`ImageBehaviour::Slow`]); anything else is [`ImageBehaviour::Healthy`]. So a playground user
//! tries a failing rollout by editing the image in YAML alone, e.g. `nginx:bad`,
//! `web:1.2-unhealthy`, or, for a rollout that only CloudWatch analysis stops, `web:2-5xx` or
//! `web:2-slow`.
//!
//! # Differences from AWS
//!
//! Simplifications, each deliberate:
//!
//! - **One region and account** per world; ARNs of other regions or accounts are unknown. There is
//!   no IAM: role ARNs are only checked for their shape, and every caller may do everything
//!   (SimulatePrincipalPolicy allows every action). The caller is the role `cygni-operator`
//!   ([`CALLER_ROLE`]).
//! - **EC2** is a fixed default VPC with two subnets and one security group ([`AwsSim::network`]);
//!   task IPs are handed out in order from the subnets (no ENIs, no public IPs). DescribeSubnets
//!   places the subnets in zones `a` and `b` of the region; an unknown ID fails the whole call
//!   naming the unknown IDs, as EC2 does.
//! - **ECS**: only Fargate services with one container, one target group and the rolling
//!   deployment controller with the circuit breaker and rollback enabled. Clusters come from
//!   [`AwsSim::add_cluster`] and are only described (DescribeClusters: ACTIVE, no capacity
//!   providers; an unknown one is a `MISSING` failure); no RunTask, no service events, no
//!   capacity providers, no task protection, no service discovery or Service Connect. The task lifecycle folds
//!   ACTIVATING into PENDING and STOPPING/DEPROVISIONING into DEACTIVATING/STOPPED. Every failed
//!   task counts towards the circuit breaker while the deployment is IN_PROGRESS (ECS's exact
//!   stage-1/stage-2 accounting is not reproduced); task launch backoff after repeated failures
//!   is a doubling delay rather than ECS's undocumented throttle. Task placement across AZs is
//!   round-robin over the subnets. Stopped tasks are forgotten after an hour, INACTIVE services
//!   after [`Timings::inactive_service_retention`]. ClientToken is remembered for as long as the
//!   service exists. Messages of a few validation errors (deployment bounds, tag limits, family
//!   names) are paraphrased.
//! - **ELBv2**: load balancers and listeners are not created through the API
//!   ([`AwsSim::add_load_balancer`] makes an internet-facing ALB with an HTTPS:443 listener whose
//!   default certificate is an imported ACM certificate and whose default rule is a fixed 404).
//!   Only `host-header` and `path-pattern` conditions and weighted forward actions exist; no
//!   stickiness, no target group attributes other than the deregistration delay (global,
//!   [`Timings::deregistration_delay`]). Health checks are not probed: a target's health follows
//!   from its registration time, the thresholds, the interval and its image. Internally ECS keeps
//!   seeing a target's health even while the target group is `unused`. The TargetGroupNotFound of
//!   DescribeTargetGroups for unknown names is not raised (the trait wants them absent).
//!   CertificateNotFound is answered for unknown and not-yet-issued certificates alike;
//!   UnsupportedCertificate never (there are no key algorithms to reject).
//! - **Route53**: no SOA/NS records (the trait's record types do not have them), no routing
//!   policies, health checks, DNSSEC, traffic policies or delegation: a name resolves in the most
//!   specific public zone enclosing it. ListResourceRecordSets shows changes at once (as Route53
//!   does); only resolution (what ACM sees) waits for INSYNC. Value syntax checks cover A, AAAA,
//!   TXT quoting and a single CNAME value, not every RFC rule.
//! - **ACM**: DNS validation only; no email validation, renewal, export, private CA or key
//!   algorithms. Validation is checked at every settle instead of ACM's periodic polling, and
//!   issuance follows [`Timings::acm_issuance`] later. InUseBy lists load balancer ARNs (as ACM
//!   does) and updates at once, without ACM's lag.
//! - **CloudWatch**: only GetMetricData and DescribeAlarms, over the AWS/ApplicationELB metrics
//!   RequestCount, HTTPCode_Target_2XX_Count, HTTPCode_Target_5XX_Count, HTTPCode_ELB_5XX_Count,
//!   TargetResponseTime, HealthyHostCount and UnHealthyHostCount for the dimension sets
//!   {TargetGroup, LoadBalancer} and {LoadBalancer} (as ALB publishes them: a query with
//!   `TargetGroup` alone has no data), plus scripted series. Values are the expected values of a
//!   steady request rate (no noise); latency is a log-normal per image; there is no ingestion
//!   delay, no pagination limits, and data never expires. Metric math covers arithmetic and the
//!   functions listed in `metric_math` (no arrays of series, METRICS(), SEARCH, IF or comparisons);
//!   its error messages other than `Invalid syntax` are paraphrased. Alarms are metric alarms
//!   with datapoints to alarm equal to their evaluation periods and missing data treated as
//!   missing, evaluated whenever they are described (no actions, history, composite, anomaly
//!   detection or expression alarms). One call is answered as AWS answers it: more than 500
//!   queries or 100 alarm names are refused (the SDK adapter splits larger requests).
//! - **Faults** are drawn per call from a generator per service; latency is a fixed real-time
//!   sleep (not sim time). A lost response applies the call, then returns `Timeout`.

mod account;
mod acm;
mod alarms;
mod calls;
mod cloudwatch;
mod config;
mod ecs;
mod elbv2;
mod metric_math;
mod persist;
mod route53;
mod snapshot;
mod world;

pub use account::CALLER_ROLE;
pub use alarms::{ComparisonOperator, MetricAlarm};
pub use calls::{CallCounts, OperationCount};
pub use config::{Faults, ImageBehaviour, SimConfig, SimService, Timings};
pub use snapshot::{
    ListenerSnapshot, LoadBalancerSnapshot, ScriptedMetricSnapshot, ServiceSnapshot,
    TargetGroupSnapshot, TaskSnapshot, TrafficSnapshot, WorldSnapshot, ZoneSnapshot,
};

use crate::aws::sdk::RateLimit;
use crate::aws::{AwsResult, AwsServices};
use crate::clock::Clock;
use crate::config::OperatorDefaults;
use calls::FaultOutcome;
use cloudwatch::ScriptedMetric;
use persist::StateFile;
use std::sync::{Arc, Mutex, MutexGuard};
use world::{SimResult, World};

/// The Route53 client rate of a world read back from its file.
fn default_route53_rate() -> RateLimit {
    RateLimit::spaced(crate::aws::sdk::route53::DEFAULT_REQUESTS_PER_SECOND)
}

/// The simulated AWS: cheap to clone, every clone sees the same world.
#[derive(Clone)]
pub struct AwsSim {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
    /// The caller's clock, when it is not the world's ([`SimConfig::caller_clock`]).
    caller_clock: Option<Arc<dyn Clock>>,
    /// Where the world is kept on disk, when it is.
    state: Option<Arc<StateFile>>,
    /// The client-side Route53 rate every clone's Route53 client waits on: Route53 allows five
    /// requests per second per account, as the SDK adapter's default limit does.
    route53_rate: RateLimit,
    /// Client-side rates of the other services' clients, when set ([`AwsSim::set_client_rate`]).
    client_rates: Arc<Mutex<std::collections::BTreeMap<SimService, RateLimit>>>,
}

impl std::fmt::Debug for AwsSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let world = self.lock();
        f.debug_struct("AwsSim")
            .field("region", &world.region)
            .field("account", &world.account)
            .field("now", &world.now)
            .finish()
    }
}

/// One destination of a routed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTarget {
    /// The target group.
    pub target_group_arn: String,
    /// Its weight in the forward action (above zero).
    pub weight: i32,
    /// The images of the tasks behind its healthy targets.
    pub healthy_images: Vec<String>,
}

/// The simulated VPC: what Apps put in their network settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimNetwork {
    /// VPC ID (target groups need it).
    pub vpc_id: String,
    /// Subnet IDs.
    pub subnets: Vec<String>,
    /// Security group IDs.
    pub security_groups: Vec<String>,
}

impl AwsSim {
    /// An empty world (a default VPC, nothing else) at the clock's current time.
    pub fn new(config: SimConfig) -> Self {
        let world = World::new(
            config.seed,
            config.clock.now(),
            config.region,
            config.account_id,
            config.timings,
            config.requests_per_second,
        );
        AwsSim {
            world: Arc::new(Mutex::new(world)),
            clock: config.clock,
            caller_clock: config.caller_clock,
            state: None,
            route53_rate: RateLimit::spaced(config.route53_requests_per_second),
            client_rates: Arc::default(),
        }
    }

    /// A ready world for the playground and e2e tests: region and account from the config
    /// (eu-west-1 and 123456789012 by default), the ECS cluster `playground`, the default VPC with
    /// two subnets and a security group, the internet-facing ALB `playground` with an HTTPS:443
    /// listener and an HTTPS:8443 listener for blue-green previews, the public hosted zone
    /// `example.com.` and a task execution role. Returns the
    /// operator defaults that point at them. Pass [`Timings::playground`] for short delays.
    pub fn playground(config: SimConfig) -> (Self, OperatorDefaults) {
        let sim = AwsSim::new(config);
        let defaults = sim.playground_defaults();
        (sim, defaults)
    }

    /// Makes the playground's cluster, load balancer, listeners and zone (each setup call finds
    /// what exists) and returns the operator defaults that point at them.
    fn playground_defaults(&self) -> OperatorDefaults {
        let sim = self;
        let cluster = sim.add_cluster("playground");
        let (lb, listener) = sim.add_load_balancer("playground");
        // Dual-stack, as public ALBs increasingly are: Domains get alias AAAA records beside A.
        sim.set_dual_stack(&lb, true);
        let preview = sim.add_listener(&lb, 8443);
        sim.add_hosted_zone("example.com");
        let network = sim.network();
        let account = sim.lock().account.clone();
        OperatorDefaults {
            ecs_cluster: Some(
                cluster
                    .rsplit('/')
                    .next()
                    .unwrap_or("playground")
                    .to_string(),
            ),
            subnets: network.subnets,
            security_groups: network.security_groups,
            listener_arn: Some(listener),
            preview_listener_arn: preview,
            execution_role_arn: Some(format!("arn:aws:iam::{account}:role/ecsTaskExecutionRole")),
        }
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The world, settled to the clock's now.
    fn settled(&self) -> MutexGuard<'_, World> {
        let mut world = self.lock();
        world.settle(self.clock.now());
        world
    }

    /// The AWS traits over this world, as the controllers use them.
    pub fn services(&self) -> AwsServices {
        let region = self.lock().region.clone();
        AwsServices {
            ecs: Arc::new(ecs::SimEcs { sim: self.clone() }),
            elbv2: Arc::new(elbv2::SimElbv2 { sim: self.clone() }),
            route53: Arc::new(route53::SimRoute53 {
                sim: self.clone(),
                rate: self.route53_rate.clone(),
            }),
            acm: Arc::new(acm::SimAcm { sim: self.clone() }),
            cloudwatch: Arc::new(cloudwatch::SimCloudWatch { sim: self.clone() }),
            region,
        }
    }

    /// The clock the world follows.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The default VPC, its subnets and security group.
    pub fn network(&self) -> SimNetwork {
        let world = self.lock();
        let vpc = world.default_vpc();
        SimNetwork {
            vpc_id: vpc.id.clone(),
            subnets: vpc.subnets.iter().map(|s| s.id.clone()).collect(),
            security_groups: vpc.security_groups.clone(),
        }
    }

    /// Adds an ECS cluster (idempotent) and returns its ARN.
    pub fn add_cluster(&self, name: &str) -> String {
        self.settled().ecs_add_cluster(name)
    }

    /// Adds an internet-facing ALB named `name` in the default VPC with an HTTPS:443 listener
    /// (default certificate: an imported ACM certificate; default rule: fixed 404). Returns the
    /// load balancer and listener ARNs; the same name returns the existing one.
    pub fn add_load_balancer(&self, name: &str) -> (String, String) {
        self.settled().elb_add_load_balancer(name)
    }

    /// Imports an issued certificate for `domain` (a wildcard such as `*.example.com` too), as
    /// ImportCertificate would, and returns its ARN.
    pub fn import_certificate(&self, domain: &str) -> String {
        self.settled().acm_import_certificate(domain)
    }

    /// Adds a plain HTTP listener on `port` (no certificate) to the load balancer `lb_arn` and
    /// returns its ARN; `None` when the load balancer does not exist.
    pub fn add_http_listener(&self, lb_arn: &str, port: i32) -> Option<String> {
        self.settled().elb_add_listener_with(lb_arn, port, "HTTP")
    }

    /// Makes the load balancer `lb_arn` dual-stack (IPv4 and IPv6) or IPv4 only.
    pub fn set_dual_stack(&self, lb_arn: &str, dual_stack: bool) -> bool {
        self.settled().elb_set_dual_stack(lb_arn, dual_stack)
    }

    /// Adds an HTTPS listener on `port` to the load balancer `lb_arn` and returns its ARN (the
    /// existing one on that port, if any); `None` when the load balancer does not exist.
    pub fn add_listener(&self, lb_arn: &str, port: i32) -> Option<String> {
        self.settled().elb_add_listener(lb_arn, port)
    }

    /// Where a request to `url` goes: the load balancer is found by the URL's host (its DNS name)
    /// or, for an App's own hostname, by `load_balancer`'s listeners on the URL's port; the result
    /// is each target group the matching rule forwards to with a weight above zero, with the
    /// images of its healthy targets' tasks. Empty when nothing answers but the default rule.
    pub fn route(&self, load_balancer_dns: &str, url: &str) -> Vec<RouteTarget> {
        let world = self.settled();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Vec::new();
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().unwrap_or(0)),
            None => (authority, if scheme == "https" { 443 } else { 80 }),
        };
        let Some(lb) = world
            .elb
            .load_balancers
            .iter()
            .find(|l| l.dns_name == load_balancer_dns)
        else {
            return Vec::new();
        };
        let Some(listener) = world
            .elb
            .listeners
            .iter()
            .find(|l| l.load_balancer_arn == lb.arn && l.port == port)
        else {
            return Vec::new();
        };
        let now = world.now;
        world
            .elb_route(&listener.arn, host, path)
            .into_iter()
            .map(|target| {
                let images = world
                    .elb
                    .target_group(&target.target_group_arn)
                    .map(|tg| {
                        tg.targets
                            .iter()
                            .filter(|t| {
                                world.elb.target_health(&tg.arn, &t.ip, now)
                                    == Some(elbv2::Health::Healthy)
                            })
                            .filter_map(|t| world.ecs_image_of_ip(&t.ip))
                            .collect()
                    })
                    .unwrap_or_default();
                RouteTarget {
                    target_group_arn: target.target_group_arn,
                    weight: target.weight,
                    healthy_images: images,
                }
            })
            .collect()
    }

    /// Adds a public hosted zone (the name with or without its trailing dot) and returns its ID
    /// (`Z` and 20 uppercase alphanumerics); the same name returns the existing one.
    pub fn add_hosted_zone(&self, name: &str) -> String {
        self.settled().dns_add_zone(name, false)
    }

    /// Adds a private hosted zone (ACM never validates through it) and returns its ID.
    pub fn add_private_hosted_zone(&self, name: &str) -> String {
        self.settled().dns_add_zone(name, true)
    }

    /// How containers of `image` (the exact string in the task definition) behave from now on;
    /// tasks already started keep their behaviour.
    pub fn set_image_behaviour(&self, image: &str, behaviour: ImageBehaviour) {
        self.settled().images.insert(image.to_string(), behaviour);
    }

    /// Faults of one service's calls from now on (reseeds its generator).
    pub fn set_faults(&self, service: SimService, faults: Faults) {
        let mut world = self.lock();
        let seed = world.seed;
        if let Some(state) = world.faults.get_mut(&service) {
            state.set(seed, service, faults);
        }
    }

    /// Requests per second each listener rule receives from now on.
    pub fn set_requests_per_second(&self, rate: f64) {
        let mut world = self.settled();
        world.requests_per_second = rate.max(0.0);
        world.record_traffic();
    }

    /// Scripts a CloudWatch series: GetMetricData for exactly this namespace, metric name and
    /// dimension set samples `series` once a minute (or once per period when shorter) and applies
    /// the query's statistic; `None` means no datapoint. It replaces a built-in metric of the same
    /// identity.
    pub fn script_metric(
        &self,
        namespace: &str,
        name: &str,
        dimensions: &[(&str, &str)],
        series: impl Fn(jiff::Timestamp) -> Option<f64> + Send + Sync + 'static,
    ) {
        let mut dimensions: Vec<(String, String)> = dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        dimensions.sort();
        let mut world = self.lock();
        world.metrics.scripted.retain(|s| {
            !(s.namespace == namespace && s.name == name && s.dimensions == dimensions)
        });
        world.metrics.scripted.push(ScriptedMetric {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions,
            series: Arc::new(series),
        });
    }

    /// Defines a metric alarm on the simulated account, as PutMetricAlarm does (an alarm of the
    /// same name is replaced): DescribeAlarms evaluates it from the simulated metrics whenever it
    /// is asked (see the module docs). Fails as PutMetricAlarm's validation does (a statistic,
    /// period or name CloudWatch would refuse). It is kept with the world on disk.
    pub fn put_metric_alarm(&self, alarm: MetricAlarm) -> AwsResult<()> {
        let mut world = self.settled();
        world
            .cw_put_metric_alarm(alarm)
            .map_err(|f| f.into_error(SimService::CloudWatch, "PutMetricAlarm"))?;
        self.persist(&world);
        Ok(())
    }

    /// Calls per (service, operation) since the start or the last [`AwsSim::reset_calls`].
    pub fn calls(&self) -> CallCounts {
        self.lock().calls.snapshot()
    }

    /// The most Route53 calls that arrived within any one second of real time since the world
    /// was made or [`AwsSim::reset_calls`].
    pub fn route53_peak_per_second(&self) -> usize {
        self.peak_per_second(SimService::Route53)
    }

    /// The most calls of one service that arrived within any one second of real time since the
    /// world was made or [`AwsSim::reset_calls`].
    pub fn peak_per_second(&self, service: SimService) -> usize {
        self.lock().calls.peak_per_second(service)
    }

    /// Makes every client of one service (ECS, ELBv2; Route53 has its own) wait for a spaced
    /// client-side rate of `per_second` requests from now on, as the SDK adapters' limiters do,
    /// so that a run with throttling on shows the rate the operator's clients keep.
    pub fn set_client_rate(&self, service: SimService, per_second: u32) {
        self.client_rates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(service, RateLimit::spaced(per_second));
    }

    /// Forgets the call counts.
    pub fn reset_calls(&self) {
        self.lock().calls.reset();
    }

    /// Settles the dynamics up to the clock's now (every call does this first).
    pub fn advance(&self) {
        drop(self.settled());
    }

    /// Everything in the world, settled to the clock's now.
    pub fn snapshot(&self) -> WorldSnapshot {
        self.settled().snapshot()
    }

    /// Runs one trait call: counts it, draws its fault, waits the injected latency, settles the
    /// world, then applies the operation (or the fault).
    pub(crate) async fn call<T, F>(
        &self,
        service: SimService,
        operation: &'static str,
        write: bool,
        op: F,
    ) -> AwsResult<T>
    where
        F: FnOnce(&mut World) -> SimResult<T> + Send,
        T: Send,
    {
        let rate = self
            .client_rates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&service)
            .cloned();
        if let Some(rate) = rate {
            rate.acquire().await;
        }
        let (outcome, latency) = {
            let mut world = self.lock();
            world.calls.count(service, operation, write);
            match world.faults.get_mut(&service) {
                Some(state) => (state.draw(), state.faults.latency),
                None => (FaultOutcome::None, std::time::Duration::ZERO),
            }
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut world = self.settled();
        let fail = |f: world::Fail| f.into_error(service, operation);
        match outcome {
            FaultOutcome::Throttle => return Err(fail(calls::throttling(service, operation))),
            FaultOutcome::ServerError => return Err(fail(calls::server_error(service))),
            FaultOutcome::None | FaultOutcome::LostResponse => {}
        }
        let result = op(&mut world);
        if write && result.is_ok() {
            // Let the schedulers react to the write at once (a new deployment launches tasks).
            world.step();
        }
        self.persist(&world);
        match (result, outcome) {
            (Ok(_), FaultOutcome::LostResponse) => Err(fail(calls::lost_response())),
            (result, _) => result.map_err(fail),
        }
    }

    /// Writes the world to its file, when it is kept in one. A failure is logged: the world in
    /// memory is still right, and the next call writes it again.
    fn persist(&self, world: &World) {
        if let Some(file) = &self.state
            && let Err(error) = file.write(world)
        {
            tracing::warn!(%error, path = %file.path().display(), "cannot write the simulated AWS world");
        }
    }

    /// Keeps this world in `file` from now on: written now and after every call.
    fn keep(mut self, file: StateFile) -> Self {
        self.state = Some(Arc::new(file));
        let world = self.lock();
        self.persist(&world);
        drop(world);
        self
    }

    /// A copy of the world kept in `dir` as it was last written, to look at (it is not kept: the
    /// process that keeps it goes on writing). `None` when nothing is kept there.
    pub fn load(dir: &std::path::Path) -> std::io::Result<Option<AwsSim>> {
        let file = StateFile::in_dir(dir)?;
        Ok(file.read()?.map(|persisted| {
            let (world, now) = persisted.into_world(0.0);
            AwsSim {
                world: Arc::new(Mutex::new(world)),
                clock: Arc::new(crate::clock::ManualClock::new(now)),
                caller_clock: None,
                state: None,
                route53_rate: default_route53_rate(),
                client_rates: Arc::default(),
            }
        }))
    }

    /// The playground world kept in `dir`: the one written there before (advanced by the
    /// wall-clock time that passed since, at `speed`), else a new one (see
    /// [`AwsSim::playground`]). Returns it, the operator defaults that point at it, and whether it
    /// was read back.
    pub fn playground_in(
        dir: &std::path::Path,
        speed: f64,
        timings: Timings,
    ) -> std::io::Result<(AwsSim, OperatorDefaults, bool)> {
        let file = StateFile::in_dir(dir)?;
        match file.read()? {
            Some(persisted) => {
                let (world, now) = persisted.into_world(speed);
                let clock: Arc<dyn Clock> =
                    Arc::new(crate::clock::ScaledClock::starting_at(now, speed));
                let sim = AwsSim {
                    world: Arc::new(Mutex::new(world)),
                    clock,
                    // The operator beside a playground keeps real time (see SimConfig::playground).
                    caller_clock: Some(Arc::new(crate::clock::SystemClock)),
                    state: None,
                    route53_rate: default_route53_rate(),
                    client_rates: Arc::default(),
                };
                // The setup finds what it made the first time and returns it.
                let defaults = sim.playground_defaults();
                Ok((sim.keep(file), defaults, true))
            }
            None => {
                let clock: Arc<dyn Clock> = Arc::new(crate::clock::ScaledClock::new(speed));
                let (sim, defaults) = AwsSim::playground(SimConfig {
                    timings,
                    ..SimConfig::playground(clock)
                });
                Ok((sim.keep(file), defaults, false))
            }
        }
    }
}
