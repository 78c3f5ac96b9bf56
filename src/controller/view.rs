//! The AWS view every App reconcile reads from: the ECS services, target groups, listener rules
//! and target health of all Apps, read in batches for all of them at once and kept current with
//! the operator's own writes.
//!
//! - **On demand**: a reconcile asks for its part ([`View::part`]). What the view holds is handed
//!   out without a call; what it lacks is queued, and one loader reads everything queued at that
//!   moment (services in DescribeServices calls of [`SERVICES_PER_CALL`], target groups in
//!   DescribeTargetGroups calls of [`TARGET_GROUPS_PER_CALL`], each listener's rules once).
//! - **Write-through**: what a write returns replaces what the view held, so the next reconcile
//!   does not read it again.
//! - **Passes**: every resync period the view reads again everything it holds, in the same
//!   batches ([`View::pass`]); services that are changing (an ECS deployment under way, a service
//!   draining) are read again every [`SETTLE_POLL`] ([`View::poll_settling`]). An App whose part
//!   changed is marked (see [`super::memo`]) and woken, so that drift is corrected within one
//!   resync and progress is seen without each App polling. The poll wakes an App only at a
//!   milestone of its service (a deployment started, completed or failed, a count requested), not
//!   for each task that starts.
//! - **Failures**: a refresh that fails (throttling that outlasted the client's retries) leaves
//!   the part marked stale; an App whose part is stale reads it itself, and waits (an error,
//!   retried with backoff) rather than writing from what it last saw.

use super::memo::Memo;
use crate::aws::ecs::{Ecs, RolloutState, Service};
use crate::aws::elbv2::{Elbv2, Rule, TargetGroup, TargetState};
use crate::aws::{AwsError, AwsResult};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Names per DescribeServices call: the ECS limit.
pub const SERVICES_PER_CALL: usize = 10;
/// Names per DescribeTargetGroups call.
pub const TARGET_GROUPS_PER_CALL: usize = 20;
/// How often services that are changing are read again, and how long a target health read is
/// used.
pub const SETTLE_POLL: Duration = Duration::from_secs(5);

/// How long a loader waits for other Apps' asks before it reads.
const GATHER: Duration = Duration::from_millis(2);

/// What one App needs to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    /// The App (`<namespace>/<name>`), woken when its part changes.
    pub owner: String,
    /// Its ECS cluster.
    pub cluster: String,
    /// Its services' names.
    pub services: Vec<String>,
    /// Its target groups' names.
    pub target_groups: Vec<String>,
    /// The listeners whose rules it needs.
    pub listeners: Vec<String>,
}

/// One App's part of the view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Part {
    /// Its services that exist (in any status), by name.
    pub services: BTreeMap<String, Service>,
    /// Its target groups that exist, by name.
    pub target_groups: BTreeMap<String, TargetGroup>,
    /// The rules of each listener asked for.
    pub rules: BTreeMap<String, Arc<Vec<Rule>>>,
}

/// A value the view holds, with the version that guards it against older answers.
#[derive(Clone, Debug)]
struct Held<T> {
    value: T,
    /// Set when a refresh failed or a write's outcome is unknown: the value must be read again
    /// before it is acted on.
    stale: bool,
    /// Bumped by every write-through, so that an answer read before a write does not replace it.
    version: u64,
}

impl<T> Held<T> {
    fn fresh(value: T, version: u64) -> Self {
        Held {
            value,
            stale: false,
            version,
        }
    }
}

type ServiceKey = (String, String);

#[derive(Default)]
struct State {
    services: HashMap<ServiceKey, Held<Option<Service>>>,
    target_groups: HashMap<String, Held<Option<TargetGroup>>>,
    rules: HashMap<String, Held<Arc<Vec<Rule>>>>,
    /// Healthy targets of the target groups of changing services, with when they were read.
    health: HashMap<String, (i32, Instant)>,
    /// Which App a service or target group belongs to.
    service_owners: HashMap<ServiceKey, String>,
    target_group_owners: HashMap<String, String>,
    listener_owners: HashMap<String, HashSet<String>>,
    /// Keys asked for and not held yet, for the next loader.
    pending: Pending,
    version: u64,
}

#[derive(Default)]
struct Pending {
    services: BTreeMap<String, BTreeSet<String>>,
    target_groups: BTreeSet<String>,
    listeners: BTreeSet<String>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.services.is_empty() && self.target_groups.is_empty() && self.listeners.is_empty()
    }
}

/// The shared AWS view (see the module docs).
pub struct View {
    ecs: Arc<dyn Ecs>,
    elbv2: Arc<dyn Elbv2>,
    memo: Arc<Memo>,
    state: Mutex<State>,
    /// One loader at a time: the others' keys wait in `pending` and go in its batches.
    loading: tokio::sync::Mutex<()>,
}

impl View {
    /// A view over these clients that marks changed Apps in `memo`.
    pub fn new(ecs: Arc<dyn Ecs>, elbv2: Arc<dyn Elbv2>, memo: Arc<Memo>) -> Self {
        View {
            ecs,
            elbv2,
            memo,
            state: Mutex::default(),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The App's part: what the view holds, and what it lacks read in batches with what other
    /// Apps lack at the same moment. Fails when a read fails (after the client's retries).
    pub async fn part(&self, ask: &Ask) -> AwsResult<Part> {
        {
            let mut state = self.lock();
            state.register(ask);
            if let Some(part) = state.part(ask) {
                return Ok(part);
            }
            state.queue(ask);
        }
        // A write between a read and its answer makes the answer be dropped; such races are
        // rare, and a few rounds settle them.
        for _ in 0..3 {
            let _loading = self.loading.lock().await;
            // Reconciles started together (a GitOps sync, a restart) ask within moments of each
            // other: a short wait lets them queue, so that they share the loader's batches.
            tokio::time::sleep(GATHER).await;
            // A loader before this one may have read the keys while this one waited.
            let pending = {
                let mut state = self.lock();
                if let Some(part) = state.part(ask) {
                    return Ok(part);
                }
                state.queue(ask);
                std::mem::take(&mut state.pending)
            };
            let failures = self.load(pending).await;
            if let Some(part) = self.lock().part(ask) {
                return Ok(part);
            }
            // Only a failure of a read this App needed is its failure.
            if let Some((_, error)) = failures.into_iter().find(|(scope, _)| scope.concerns(ask)) {
                return Err(error);
            }
        }
        Err(AwsError::new(
            "view",
            "Observe",
            crate::aws::AwsErrorKind::Other,
            "ViewChanging",
            "the App's part of the AWS view kept changing while it was read; it is read again",
        ))
    }

    /// Reads the queued keys in batches and keeps the answers (unless a write came in between).
    /// A failed batch does not stop the others: its failure is returned with what it covered.
    async fn load(&self, pending: Pending) -> Vec<(Scope, AwsError)> {
        let mut failures = Vec::new();
        for (cluster, names) in &pending.services {
            let names: Vec<String> = names.iter().cloned().collect();
            for chunk in names.chunks(SERVICES_PER_CALL) {
                let versions = self.service_versions(cluster, chunk);
                match self.ecs.describe_services(cluster, chunk).await {
                    Ok(found) => {
                        self.keep_services(cluster, chunk, &found, &versions, Wake::Never);
                    }
                    Err(error) => failures.push((Scope::Services(cluster.clone()), error)),
                }
            }
        }
        let names: Vec<String> = pending.target_groups.iter().cloned().collect();
        for chunk in names.chunks(TARGET_GROUPS_PER_CALL) {
            let versions = self.target_group_versions(chunk);
            match self.elbv2.describe_target_groups(chunk).await {
                Ok(found) => {
                    self.keep_target_groups(chunk, &found, &versions, false);
                }
                Err(error) => failures.push((Scope::TargetGroups, error)),
            }
        }
        for listener in &pending.listeners {
            let version = self.rules_version(listener);
            match self.elbv2.describe_rules(listener).await {
                Ok(rules) => {
                    self.keep_rules(listener, rules, version, false);
                }
                Err(error) => failures.push((Scope::Rules(listener.clone()), error)),
            }
        }
        failures
    }

    fn service_versions(&self, cluster: &str, names: &[String]) -> Vec<Option<u64>> {
        let state = self.lock();
        names
            .iter()
            .map(|n| {
                state
                    .services
                    .get(&(cluster.to_string(), n.clone()))
                    .map(|h| h.version)
            })
            .collect()
    }

    fn target_group_versions(&self, names: &[String]) -> Vec<Option<u64>> {
        let state = self.lock();
        names
            .iter()
            .map(|n| state.target_groups.get(n).map(|h| h.version))
            .collect()
    }

    fn rules_version(&self, listener: &str) -> Option<u64> {
        self.lock().rules.get(listener).map(|h| h.version)
    }

    /// Keeps an answer of DescribeServices and marks the owners of services that changed as
    /// `wake` says. Returns whether any was marked.
    fn keep_services(
        &self,
        cluster: &str,
        names: &[String],
        found: &[Service],
        versions: &[Option<u64>],
        wake: Wake,
    ) -> bool {
        let mut state = self.lock();
        let mut changed = false;
        for (name, version) in names.iter().zip(versions) {
            let key = (cluster.to_string(), name.clone());
            // An INACTIVE service is a deleted one: the view holds it as absent, and stops reading it.
            let now = found
                .iter()
                .find(|s| &s.name == name && s.status != "INACTIVE")
                .cloned();
            if state.services.get(&key).map(|h| h.version) != *version {
                continue;
            }
            let differs = state.services.get(&key).is_none_or(|h| {
                h.stale
                    || match wake {
                        // A changing service is the poll's: the pass would wake its App for a
                        // task that started.
                        Wake::OnAnyChange if !h.value.as_ref().is_some_and(changing) => {
                            h.value != now
                        }
                        Wake::Never => h.value != now,
                        Wake::OnAnyChange | Wake::OnMilestone => {
                            h.value.as_ref().map(milestones) != now.as_ref().map(milestones)
                        }
                    }
            });
            if wake != Wake::Never
                && differs
                && let Some(owner) = state.service_owners.get(&key)
            {
                self.memo.wake(owner, "its service changed");
                changed = true;
            }
            let version = state.next_version();
            state.services.insert(key, Held::fresh(now, version));
        }
        changed
    }

    fn keep_target_groups(
        &self,
        names: &[String],
        found: &[TargetGroup],
        versions: &[Option<u64>],
        compare: bool,
    ) -> bool {
        let mut state = self.lock();
        let mut changed = false;
        for (name, version) in names.iter().zip(versions) {
            let now = found.iter().find(|t| &t.name == name).cloned();
            if state.target_groups.get(name).map(|h| h.version) != *version {
                continue;
            }
            let differs = state
                .target_groups
                .get(name)
                .is_none_or(|h| h.value != now || h.stale);
            if compare
                && differs
                && let Some(owner) = state.target_group_owners.get(name)
            {
                self.memo.wake(owner, "its target group changed");
                changed = true;
            }
            let version = state.next_version();
            state
                .target_groups
                .insert(name.clone(), Held::fresh(now, version));
        }
        changed
    }

    fn keep_rules(
        &self,
        listener: &str,
        rules: Vec<Rule>,
        version: Option<u64>,
        compare: bool,
    ) -> bool {
        let mut state = self.lock();
        if state.rules.get(listener).map(|h| h.version) != version {
            return false;
        }
        let before = state.rules.get(listener).cloned();
        let mut changed = false;
        if compare && let Some(before) = before {
            // Only the Apps whose rule changed (or whose rule another one now clashes with, which
            // a new rule of another App means) need to look: compare rule by rule.
            let old: HashMap<&str, &Rule> =
                before.value.iter().map(|r| (r.arn.as_str(), r)).collect();
            let new: HashMap<&str, &Rule> = rules.iter().map(|r| (r.arn.as_str(), r)).collect();
            let mut touched: BTreeSet<String> = BTreeSet::new();
            for (arn, rule) in &new {
                if old.get(arn) != Some(rule) || before.stale {
                    touched.extend(rule.forward.iter().map(|w| w.target_group_arn.clone()));
                }
            }
            for (arn, rule) in &old {
                if !new.contains_key(arn) {
                    touched.extend(rule.forward.iter().map(|w| w.target_group_arn.clone()));
                }
            }
            let mut owners: BTreeSet<String> = BTreeSet::new();
            let mut known: BTreeSet<&str> = BTreeSet::new();
            for held in state.target_groups.values() {
                if let Some(tg) = &held.value
                    && touched.contains(&tg.arn)
                    && let Some(owner) = state.target_group_owners.get(&tg.name)
                {
                    owners.insert(owner.clone());
                    known.insert(tg.arn.as_str());
                }
            }
            // A rule that forwards to no target group of an App (written by hand, or one whose
            // target groups are gone) may clash with any App on the listener.
            let strangers = touched.len() > known.len()
                || new.values().chain(old.values()).any(|r| {
                    r.forward.is_empty()
                        && r.priority.is_some()
                        && (old.get(r.arn.as_str()) != new.get(r.arn.as_str()))
                });
            if strangers && let Some(all) = state.listener_owners.get(listener) {
                owners.extend(all.iter().cloned());
            }
            for owner in &owners {
                self.memo.wake(owner, "its listener's rules changed");
            }
            changed = !owners.is_empty();
        }
        let version = state.next_version();
        state
            .rules
            .insert(listener.to_string(), Held::fresh(Arc::new(rules), version));
        changed
    }

    /// Reads again everything the view holds, in batches, and marks the Apps whose part changed.
    /// A batch that fails leaves its part stale. Returns whether any App was marked.
    pub async fn pass(&self) -> bool {
        let (services, target_groups, listeners) = {
            let state = self.lock();
            let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for ((cluster, name), held) in &state.services {
                // A service known not to exist is asked for again only by its App's writes.
                if held.value.is_some() || held.stale {
                    services
                        .entry(cluster.clone())
                        .or_default()
                        .push(name.clone());
                }
            }
            let target_groups: Vec<String> = state
                .target_groups
                .iter()
                .filter(|(_, h)| h.value.is_some() || h.stale)
                .map(|(n, _)| n.clone())
                .collect();
            let listeners: Vec<String> = state
                .listener_owners
                .iter()
                .filter(|(_, owners)| !owners.is_empty())
                .map(|(l, _)| l.clone())
                .collect();
            (services, target_groups, listeners)
        };
        let mut changed = false;
        for (cluster, mut names) in services {
            names.sort();
            changed |= self
                .refresh_services(&cluster, &names, Wake::OnAnyChange)
                .await;
        }
        let mut target_groups = target_groups;
        target_groups.sort();
        for chunk in target_groups.chunks(TARGET_GROUPS_PER_CALL) {
            let versions = self.target_group_versions(chunk);
            match self.elbv2.describe_target_groups(chunk).await {
                Ok(found) => changed |= self.keep_target_groups(chunk, &found, &versions, true),
                Err(error) => {
                    tracing::warn!(%error, "cannot read target groups for the shared view; they are read again before use");
                    let mut state = self.lock();
                    for name in chunk {
                        if let Some(held) = state.target_groups.get_mut(name) {
                            held.stale = true;
                        }
                    }
                }
            }
        }
        for listener in listeners {
            let version = self.rules_version(&listener);
            match self.elbv2.describe_rules(&listener).await {
                Ok(rules) => changed |= self.keep_rules(&listener, rules, version, true),
                Err(error) => {
                    tracing::warn!(%error, %listener, "cannot read the listener's rules for the shared view; they are read again before use");
                    if let Some(held) = self.lock().rules.get_mut(&listener) {
                        held.stale = true;
                    }
                }
            }
        }
        changed
    }

    async fn refresh_services(&self, cluster: &str, names: &[String], wake: Wake) -> bool {
        let mut changed = false;
        for chunk in names.chunks(SERVICES_PER_CALL) {
            let versions = self.service_versions(cluster, chunk);
            match self.ecs.describe_services(cluster, chunk).await {
                Ok(found) => changed |= self.keep_services(cluster, chunk, &found, &versions, wake),
                Err(error) => {
                    tracing::warn!(%error, %cluster, "cannot read services for the shared view; they are read again before use");
                    let mut state = self.lock();
                    for name in chunk {
                        if let Some(held) =
                            state.services.get_mut(&(cluster.to_string(), name.clone()))
                        {
                            held.stale = true;
                        }
                    }
                }
            }
        }
        changed
    }

    /// Reads again the services that are changing, and marks the Apps whose service reached a
    /// milestone (see [`Wake::OnMilestone`]). Returns whether any App was marked.
    pub async fn poll_settling(&self) -> bool {
        let settling: BTreeMap<String, Vec<String>> = {
            let state = self.lock();
            let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for ((cluster, name), held) in &state.services {
                if held.value.as_ref().is_some_and(changing) {
                    by_cluster
                        .entry(cluster.clone())
                        .or_default()
                        .push(name.clone());
                }
            }
            by_cluster
        };
        let mut changed = false;
        for (cluster, mut names) in settling {
            names.sort();
            changed |= self
                .refresh_services(&cluster, &names, Wake::OnMilestone)
                .await;
        }
        // No target health here: a slot takes traffic only once ECS completes its deployment,
        // which it does once the targets pass, and that is a milestone. The App reads the count
        // it reports itself when it reconciles.
        changed
    }

    /// Healthy targets of a changing service's target group: a read of the last few seconds, else
    /// read now.
    pub async fn healthy_targets(&self, target_group_arn: &str) -> AwsResult<i32> {
        if let Some((healthy, at)) = self.lock().health.get(target_group_arn)
            && at.elapsed() < SETTLE_POLL
        {
            return Ok(*healthy);
        }
        let healthy = healthy(&self.elbv2.describe_target_health(target_group_arn).await?);
        self.lock()
            .health
            .insert(target_group_arn.to_string(), (healthy, Instant::now()));
        Ok(healthy)
    }

    /// Keeps what a CreateService or UpdateService answered.
    pub fn service_written(&self, cluster: &str, service: &Service) {
        let mut state = self.lock();
        let version = state.next_version();
        state.services.insert(
            (cluster.to_string(), service.name.clone()),
            Held::fresh(Some(service.clone()), version),
        );
    }

    /// Keeps what a CreateTargetGroup or ModifyTargetGroup answered.
    pub fn target_group_written(&self, target_group: &TargetGroup) {
        let mut state = self.lock();
        let version = state.next_version();
        state.target_groups.insert(
            target_group.name.clone(),
            Held::fresh(Some(target_group.clone()), version),
        );
    }

    /// Keeps what a CreateRule or ModifyRule answered on a listener. ELB attaches the target
    /// groups a rule forwards to to the listener's load balancer, which the view records too.
    pub fn rule_written(&self, listener: &str, load_balancer: &str, rule: &Rule) {
        let mut state = self.lock();
        let version = state.next_version();
        if let Some(held) = state.rules.get_mut(listener) {
            let mut rules = (*held.value).clone();
            match rules.iter_mut().find(|r| r.arn == rule.arn) {
                Some(known) => *known = rule.clone(),
                None => rules.push(rule.clone()),
            }
            held.value = Arc::new(rules);
            held.version = version;
        }
        let forwarded: HashSet<&str> = rule
            .forward
            .iter()
            .map(|w| w.target_group_arn.as_str())
            .collect();
        for held in state.target_groups.values_mut() {
            if let Some(tg) = &mut held.value
                && forwarded.contains(tg.arn.as_str())
                && !tg.load_balancer_arns.iter().any(|l| l == load_balancer)
            {
                tg.load_balancer_arns.push(load_balancer.to_string());
                held.version = version;
            }
        }
    }

    /// Records a DeleteRule.
    pub fn rule_deleted(&self, listener: &str, rule_arn: &str) {
        let mut state = self.lock();
        let version = state.next_version();
        if let Some(held) = state.rules.get_mut(listener) {
            let rules: Vec<Rule> = held
                .value
                .iter()
                .filter(|r| r.arn != rule_arn)
                .cloned()
                .collect();
            held.value = Arc::new(rules);
            held.version = version;
        }
    }

    /// Marks what a write touched as unknown, after the write failed or its outcome cannot be
    /// predicted (a deleted service drains first): it is read again before it is used.
    pub fn invalidate(&self, what: Touched) {
        let mut state = self.lock();
        let version = state.next_version();
        match what {
            Touched::Service(cluster, name) => {
                state.services.remove(&(cluster, name));
            }
            Touched::TargetGroup(name) => {
                state.target_groups.remove(&name);
            }
            Touched::Rules(listener) => {
                if let Some(held) = state.rules.get_mut(&listener) {
                    held.stale = true;
                    held.version = version;
                }
            }
        }
    }

    /// Forgets an App that is gone: its services and target groups are no longer read.
    pub fn forget(&self, owner: &str) {
        let mut state = self.lock();
        let services: Vec<ServiceKey> = state
            .service_owners
            .iter()
            .filter(|(_, o)| *o == owner)
            .map(|(k, _)| k.clone())
            .collect();
        for key in services {
            state.service_owners.remove(&key);
            state.services.remove(&key);
        }
        let target_groups: Vec<String> = state
            .target_group_owners
            .iter()
            .filter(|(_, o)| *o == owner)
            .map(|(k, _)| k.clone())
            .collect();
        for name in target_groups {
            state.target_group_owners.remove(&name);
            state.target_groups.remove(&name);
        }
        for owners in state.listener_owners.values_mut() {
            owners.remove(owner);
        }
    }

    /// How much the view holds: services, target groups and rules.
    pub fn held(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (
            state.services.len(),
            state.target_groups.len(),
            state.rules.values().map(|h| h.value.len()).sum(),
        )
    }
}

/// What a failed read covered.
#[derive(Clone, Debug)]
enum Scope {
    Services(String),
    TargetGroups,
    Rules(String),
}

impl Scope {
    fn concerns(&self, ask: &Ask) -> bool {
        match self {
            Scope::Services(cluster) => *cluster == ask.cluster,
            Scope::TargetGroups => !ask.target_groups.is_empty(),
            Scope::Rules(listener) => ask.listeners.contains(listener),
        }
    }
}

/// What a write touched, for [`View::invalidate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Touched {
    /// A service: its cluster and name.
    Service(String, String),
    /// A target group, by name.
    TargetGroup(String),
    /// A listener's rules.
    Rules(String),
}

impl State {
    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn register(&mut self, ask: &Ask) {
        for name in &ask.services {
            self.service_owners
                .insert((ask.cluster.clone(), name.clone()), ask.owner.clone());
        }
        for name in &ask.target_groups {
            self.target_group_owners
                .insert(name.clone(), ask.owner.clone());
        }
        for listener in &ask.listeners {
            self.listener_owners
                .entry(listener.clone())
                .or_default()
                .insert(ask.owner.clone());
        }
    }

    /// The part, when every key of it is held and not stale.
    fn part(&self, ask: &Ask) -> Option<Part> {
        let mut part = Part::default();
        for name in &ask.services {
            let key = (ask.cluster.clone(), name.clone());
            if let Some(service) = usable(self.services.get(&key))? {
                part.services.insert(name.clone(), service.clone());
            }
        }
        for name in &ask.target_groups {
            if let Some(tg) = usable(self.target_groups.get(name))? {
                part.target_groups.insert(name.clone(), tg.clone());
            }
        }
        for listener in &ask.listeners {
            let rules = usable(self.rules.get(listener))?;
            part.rules.insert(listener.clone(), rules.clone());
        }
        Some(part)
    }

    /// Queues the keys of `ask` that are not held (or are stale) for the next loader.
    fn queue(&mut self, ask: &Ask) {
        for name in &ask.services {
            let key = (ask.cluster.clone(), name.clone());
            if self.services.get(&key).is_none_or(|h| h.stale) {
                self.pending
                    .services
                    .entry(ask.cluster.clone())
                    .or_default()
                    .insert(name.clone());
            }
        }
        for name in &ask.target_groups {
            if self.target_groups.get(name).is_none_or(|h| h.stale) {
                self.pending.target_groups.insert(name.clone());
            }
        }
        for listener in &ask.listeners {
            if self.rules.get(listener).is_none_or(|h| h.stale) {
                self.pending.listeners.insert(listener.clone());
            }
        }
        debug_assert!(!self.pending.is_empty() || self.part(ask).is_some());
    }
}

/// What an entry holds, when it is held and not stale.
fn usable<T>(held: Option<&Held<T>>) -> Option<&T> {
    held.filter(|h| !h.stale).map(|h| &h.value)
}

/// When a read service wakes its App.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// A read the App asked for itself.
    Never,
    /// The resync pass: any difference in a settled service is drift or news the App reports
    /// (a changing one wakes it at milestones, as the poll does).
    OnAnyChange,
    /// The poll of changing services: only what the App decides on. Task counts rise one by one
    /// while tasks start; waking for each would cost a reconcile per task, and the App's
    /// progress backstop refreshes the counts it reports.
    OnMilestone,
}

/// What the App decides on in a changing service: everything but the task counts, which only
/// add up to the deployment states ECS reports.
fn milestones(service: &Service) -> Service {
    let mut service = service.clone();
    service.running_count = 0;
    service.pending_count = 0;
    for deployment in &mut service.deployments {
        deployment.running_count = 0;
        deployment.pending_count = 0;
        deployment.failed_tasks = 0;
    }
    service
}

/// Whether ECS is still changing a service: a deployment under way, or the service draining.
pub fn changing(service: &Service) -> bool {
    service.status == "DRAINING" || (service.status == "ACTIVE" && !settled(service))
}

/// Whether ECS has finished changing a service: one deployment, completed.
pub fn settled(service: &Service) -> bool {
    service.status == "ACTIVE"
        && service.deployments.len() == 1
        && service.deployments[0].rollout_state == Some(RolloutState::Completed)
}

fn healthy(targets: &[crate::aws::elbv2::TargetHealth]) -> i32 {
    targets
        .iter()
        .filter(|t| t.state == TargetState::Healthy)
        .count() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::{HealthCheckConfig, TargetGroupInput};
    use crate::sim::aws::{AwsSim, Faults, SimConfig, SimService};

    struct World {
        sim: AwsSim,
        view: View,
        memo: Arc<Memo>,
        listener: String,
    }

    fn world() -> World {
        let (sim, defaults) = AwsSim::playground(SimConfig::default());
        let aws = sim.services();
        let memo = Arc::new(Memo::default());
        World {
            view: View::new(aws.ecs.clone(), aws.elbv2.clone(), memo.clone()),
            memo,
            listener: defaults.listener_arn.clone().expect("a listener"),
            sim,
        }
    }

    fn ask(world: &World, app: &str) -> Ask {
        Ask {
            owner: format!("shop/{app}"),
            cluster: "playground".to_string(),
            services: vec![format!("{app}-a"), format!("{app}-b")],
            target_groups: vec![format!("{app}-a"), format!("{app}-b")],
            listeners: vec![world.listener.clone()],
        }
    }

    fn health_check(path: &str) -> HealthCheckConfig {
        HealthCheckConfig {
            path: path.to_string(),
            port: None,
            interval_seconds: 10,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: "200-399".to_string(),
        }
    }

    async fn target_group(world: &World, name: &str) -> TargetGroup {
        world
            .sim
            .services()
            .elbv2
            .create_target_group(&TargetGroupInput {
                name: name.to_string(),
                port: 8080,
                vpc_id: world.sim.network().vpc_id,
                health_check: health_check("/"),
                tags: Vec::new(),
            })
            .await
            .expect("target group")
    }

    fn calls(world: &World, service: SimService, operation: &str) -> u64 {
        world.sim.calls().get(service, operation)
    }

    #[tokio::test]
    async fn apps_asking_at_once_share_batched_reads() {
        let world = world();
        let asks: Vec<Ask> = (0..10).map(|i| ask(&world, &format!("app{i}"))).collect();
        let parts = futures::future::join_all(asks.iter().map(|a| world.view.part(a))).await;
        assert!(parts.iter().all(Result::is_ok), "{parts:?}");
        // One loader reads for all ten: 20 names in 2 DescribeServices and 1
        // DescribeTargetGroups, the listener's rules once.
        assert_eq!(calls(&world, SimService::Ecs, "DescribeServices"), 2);
        assert_eq!(calls(&world, SimService::Elbv2, "DescribeTargetGroups"), 1);
        assert_eq!(calls(&world, SimService::Elbv2, "DescribeRules"), 1);
    }

    #[tokio::test]
    async fn a_part_the_view_holds_or_an_own_write_is_handed_out_without_a_read() {
        let world = world();
        let web = ask(&world, "web");
        world.view.part(&web).await.expect("read");
        world.sim.reset_calls();
        let tg = target_group(&world, "web-a").await;
        world.view.target_group_written(&tg);
        let part = world.view.part(&web).await.expect("held");
        assert_eq!(part.target_groups.get("web-a"), Some(&tg));
        assert_eq!(world.sim.calls().reads(), 0, "{:?}", world.sim.calls());
    }

    #[tokio::test]
    async fn a_pass_marks_only_the_app_whose_part_changed_outside() {
        let world = world();
        let (web, api) = (ask(&world, "web"), ask(&world, "api"));
        target_group(&world, "web-a").await;
        target_group(&world, "api-a").await;
        world.view.part(&web).await.expect("read");
        world.view.part(&api).await.expect("read");
        assert!(!world.view.pass().await, "nothing changed");
        let tg = world.view.part(&web).await.expect("held").target_groups["web-a"].clone();
        world
            .sim
            .services()
            .elbv2
            .modify_target_group(&tg.arn, &health_check("/changed"))
            .await
            .expect("outside change");
        assert!(world.view.pass().await, "the change is seen");
        assert!(world.memo.is_marked("shop/web"));
        assert!(!world.memo.is_marked("shop/api"));
        let part = world.view.part(&web).await.expect("held");
        assert_eq!(part.target_groups["web-a"].health_check.path, "/changed");
    }

    #[tokio::test]
    async fn a_part_a_pass_could_not_refresh_is_read_again_and_its_failure_returned() {
        let world = world();
        let web = ask(&world, "web");
        target_group(&world, "web-a").await;
        world.view.part(&web).await.expect("read");
        world
            .sim
            .set_faults(SimService::Elbv2, Faults::throttling(1.0));
        world.view.pass().await;
        let failed = world
            .view
            .part(&web)
            .await
            .expect_err("stale, and unreadable");
        assert_eq!(failed.kind, crate::aws::AwsErrorKind::Throttling);
        world.sim.set_faults(SimService::Elbv2, Faults::none());
        let part = world.view.part(&web).await.expect("read again");
        assert!(part.target_groups.contains_key("web-a"));
    }

    #[tokio::test]
    async fn a_rule_written_by_hand_on_the_listener_wakes_every_app_on_it() {
        let world = world();
        let (web, api) = (ask(&world, "web"), ask(&world, "api"));
        target_group(&world, "web-a").await;
        world.view.part(&web).await.expect("read");
        world.view.part(&api).await.expect("read");
        let stranger = target_group(&world, "by-hand").await;
        world
            .sim
            .services()
            .elbv2
            .create_rule(
                &world.listener,
                7,
                &crate::aws::elbv2::RuleConditions {
                    host_headers: vec!["shop.example.com".to_string()],
                    path_patterns: Vec::new(),
                },
                &[crate::aws::elbv2::WeightedTarget {
                    target_group_arn: stranger.arn,
                    weight: 1,
                }],
                &[],
            )
            .await
            .expect("rule by hand");
        assert!(world.view.pass().await);
        assert!(world.memo.is_marked("shop/web") && world.memo.is_marked("shop/api"));
    }

    fn starting_service(name: &str, running: i32, rollout: RolloutState) -> Service {
        Service {
            arn: format!("arn:aws:ecs:eu-west-1:123456789012:service/playground/{name}"),
            name: name.to_string(),
            cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/playground".to_string(),
            status: "ACTIVE".to_string(),
            desired_count: 3,
            running_count: running,
            pending_count: 3 - running,
            task_definition_arn: "td:1".to_string(),
            deployments: vec![crate::aws::ecs::EcsDeployment {
                id: "ecs-svc/1".to_string(),
                status: "PRIMARY".to_string(),
                task_definition_arn: "td:1".to_string(),
                desired_count: 3,
                running_count: running,
                pending_count: 3 - running,
                failed_tasks: 0,
                rollout_state: Some(rollout),
                rollout_state_reason: None,
            }],
            network: Default::default(),
            target_group_arn: None,
            deployment_bounds: (100, 200),
            tags: Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_poll_wakes_an_app_when_its_deployment_completes_not_for_each_task_that_starts() {
        let world = world();
        let web = ask(&world, "web");
        world.view.part(&web).await.expect("read");
        world.memo.forget("shop/web");
        let name = "web-a".to_string();
        world.view.service_written(
            "playground",
            &starting_service(&name, 0, RolloutState::InProgress),
        );
        let keep = |service: Service, wake: Wake| {
            let versions = world
                .view
                .service_versions("playground", std::slice::from_ref(&name));
            world.view.keep_services(
                "playground",
                std::slice::from_ref(&name),
                &[service],
                &versions,
                wake,
            )
        };
        assert!(
            !keep(
                starting_service(&name, 1, RolloutState::InProgress),
                Wake::OnMilestone
            ),
            "a task that starts is no milestone"
        );
        assert!(
            !keep(
                starting_service(&name, 2, RolloutState::InProgress),
                Wake::OnAnyChange
            ),
            "nor is it for the resync pass while the service changes"
        );
        assert!(!world.memo.is_marked("shop/web"));
        assert_eq!(
            world
                .view
                .part(&web)
                .await
                .expect("held")
                .services
                .get("web-a")
                .map(|s| s.running_count),
            Some(2),
            "the count is kept for the next reconcile"
        );
        assert!(
            keep(
                starting_service(&name, 3, RolloutState::Completed),
                Wake::OnMilestone
            ),
            "a completed deployment is one"
        );
        assert!(world.memo.is_marked("shop/web"));
        world.memo.forget("shop/web");
        // The resync pass wakes for any difference: a task lost in steady state is news.
        assert!(keep(
            starting_service(&name, 2, RolloutState::Completed),
            Wake::OnAnyChange
        ));
        assert!(world.memo.is_marked("shop/web"));
    }
}
