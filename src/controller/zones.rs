//! Route53 economy for the Domain controller: one view of each hosted zone's record sets shared
//! by every Domain in it (read once per resync period, kept current with the operator's own
//! writes), change batches gathered from many Domains into as few ChangeResourceRecordSets
//! requests as Route53's per-request limits allow, and the propagation status of each change
//! asked once however many Domains wait on it.
//!
//! Every call goes through the [`Route53`] trait, whose clients share one client-side rate
//! limit (five requests per second per account, as Route53 allows): while a batch waits for its
//! turn, more Domains' changes join the next one.
//!
//! Domains do not wait for their batch: [`Zones::submit`] queues their changes and returns, and
//! the next reconcile reads the [`Outcome`]. So a batch can hold the changes of far more Domains
//! than reconcile at once.

use crate::aws::route53::{Change, ChangeAction, ChangeInfo, ChangeStatus, HostedZone, Route53};
use crate::aws::{AwsError, AwsErrorKind, AwsResult};
use crate::plan::domain::{self, ZoneRecords};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// ChangeResourceRecordSets: at most 1,000 ResourceRecord elements per request (UPSERT counts
/// twice).
pub const MAX_RECORDS_PER_REQUEST: usize = 1000;
/// ChangeResourceRecordSets: at most 32,000 characters of Value elements per request (UPSERT
/// counts twice).
pub const MAX_VALUE_CHARACTERS_PER_REQUEST: usize = 32_000;
/// A zone writes at most one batch per this interval: changes that arrive meanwhile join the
/// next one, and Route53's five requests per second are left for reads and other zones.
const BATCH_INTERVAL: Duration = Duration::from_secs(1);
/// How often a pending change's status is asked at most, however many Domains wait on it
/// (Route53 propagates in about a minute; asking more often only spends its rate).
const CHANGE_POLL: Duration = Duration::from_secs(5);
/// Change statuses kept (the oldest in-sync ones are forgotten first).
const KEPT_CHANGES: usize = 10_000;

/// What became of the changes a Domain submitted.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Waiting in the zone's queue or in flight.
    Queued,
    /// Written in this change batch.
    Written(ChangeInfo),
    /// Route53 refused them (or kept failing); the zone is read again before the next attempt.
    Failed(AwsError),
}

/// The weight of one change against the per-request limits: (records, value characters).
pub fn weight(change: &Change) -> (usize, usize) {
    let times = if change.action == ChangeAction::Upsert {
        2
    } else {
        1
    };
    let record = &change.record;
    (
        times * record.values.len().max(1),
        times * record.values.iter().map(String::len).sum::<usize>(),
    )
}

/// The fewest requests that can carry `changes` under the per-request limits.
pub fn minimum_requests<'a>(changes: impl IntoIterator<Item = &'a Change>) -> usize {
    let (records, characters) = changes
        .into_iter()
        .map(weight)
        .fold((0, 0), |acc, w| (acc.0 + w.0, acc.1 + w.1));
    records
        .div_ceil(MAX_RECORDS_PER_REQUEST)
        .max(characters.div_ceil(MAX_VALUE_CHARACTERS_PER_REQUEST))
}

/// One Domain's changes: written together or not at all.
struct Group {
    key: String,
    changes: Vec<Change>,
}

impl Group {
    fn weight(&self) -> (usize, usize) {
        self.changes
            .iter()
            .map(weight)
            .fold((0, 0), |acc, w| (acc.0 + w.0, acc.1 + w.1))
    }

    fn names(&self) -> impl Iterator<Item = (String, crate::aws::route53::RecordType)> + '_ {
        self.changes
            .iter()
            .map(|c| (domain::fqdn(&c.record.name), c.record.type_))
    }
}

/// One hosted zone: its record view and its write queue.
#[derive(Default)]
struct Zone {
    /// Held while the zone is read or written, so that a read never misses a write in flight.
    io: tokio::sync::Mutex<()>,
    /// The record sets and when they were read.
    records: Mutex<Option<(Instant, Arc<ZoneRecords>)>>,
    /// Groups waiting for a batch, and whether a writer drains them.
    queue: Mutex<(VecDeque<Group>, bool)>,
}

/// The shared Route53 state of the Domain controller.
pub struct Zones {
    route53: Arc<dyn Route53>,
    max_age: Duration,
    hosted: tokio::sync::Mutex<Option<(Instant, Vec<HostedZone>)>>,
    named: tokio::sync::Mutex<HashMap<String, (Instant, Vec<HostedZone>)>>,
    zones: Mutex<HashMap<String, Arc<Zone>>>,
    outcomes: Mutex<HashMap<String, Outcome>>,
    changes: Mutex<HashMap<String, (ChangeStatus, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn bare(zone_id: &str) -> &str {
    zone_id.trim_start_matches("/hostedzone/")
}

type Sending<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

impl Zones {
    /// Zones read through `route53`, whose views are read again once older than `max_age` (the
    /// resync period: drift in a zone is seen within one pass).
    pub fn new(route53: Arc<dyn Route53>, max_age: Duration) -> Self {
        Zones {
            route53,
            max_age,
            hosted: tokio::sync::Mutex::default(),
            named: tokio::sync::Mutex::default(),
            zones: Mutex::default(),
            outcomes: Mutex::default(),
            changes: Mutex::default(),
        }
    }

    fn zone(&self, zone_id: &str) -> Arc<Zone> {
        lock(&self.zones)
            .entry(bare(zone_id).to_string())
            .or_default()
            .clone()
    }

    /// The account's hosted zones, listed at most once per `max_age` unless `refresh`.
    pub async fn hosted_zones(&self, refresh: bool) -> AwsResult<Vec<HostedZone>> {
        let mut hosted = self.hosted.lock().await;
        if let Some((at, zones)) = hosted.as_ref()
            && !refresh
            && at.elapsed() < self.max_age
        {
            return Ok(zones.clone());
        }
        let zones = self.route53.list_hosted_zones().await?;
        *hosted = Some((Instant::now(), zones.clone()));
        Ok(zones)
    }

    /// The zones named `name` (ListHostedZonesByName), asked at most once per `max_age` for
    /// all the Domains that name it.
    pub async fn zones_named(&self, name: &str) -> AwsResult<Vec<HostedZone>> {
        let wanted = domain::fqdn(name);
        if let Some((at, zones)) = self.hosted.lock().await.as_ref()
            && at.elapsed() < self.max_age
        {
            let found: Vec<HostedZone> =
                zones.iter().filter(|z| z.name == wanted).cloned().collect();
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let mut named = self.named.lock().await;
        if let Some((at, zones)) = named.get(&wanted)
            && at.elapsed() < self.max_age
        {
            return Ok(zones.clone());
        }
        let zones = self.route53.hosted_zones_by_name(&wanted).await?;
        named.insert(wanted, (Instant::now(), zones.clone()));
        Ok(zones)
    }

    /// The zone's record sets: the shared view while it is younger than `max_age`, else read
    /// again (once, however many Domains ask at the same time).
    pub async fn records(&self, zone_id: &str) -> AwsResult<Arc<ZoneRecords>> {
        let zone = self.zone(zone_id);
        if let Some(records) = fresh(&zone, self.max_age) {
            return Ok(records);
        }
        let _io = zone.io.lock().await;
        if let Some(records) = fresh(&zone, self.max_age) {
            return Ok(records);
        }
        let listed = self.route53.list_record_sets(bare(zone_id)).await?;
        let records: ZoneRecords = listed
            .into_iter()
            .map(|mut r| {
                r.name = domain::fqdn(&r.name);
                ((r.name.clone(), r.type_), r)
            })
            .collect();
        let records = Arc::new(records);
        *lock(&zone.records) = Some((Instant::now(), records.clone()));
        Ok(records)
    }

    /// Forgets the zone's view: the next [`Zones::records`] reads it.
    pub fn invalidate(&self, zone_id: &str) {
        *lock(&self.zone(zone_id).records) = None;
    }

    /// Queues `changes` of the Domain `key` for the zone's next batch and returns at once; the
    /// result is [`Zones::outcome`]'s.
    pub fn submit(self: &Arc<Self>, zone_id: &str, key: &str, changes: Vec<Change>) {
        lock(&self.outcomes).insert(key.to_string(), Outcome::Queued);
        let zone = self.zone(zone_id);
        let start = {
            let mut queue = lock(&zone.queue);
            queue.0.push_back(Group {
                key: key.to_string(),
                changes,
            });
            !std::mem::replace(&mut queue.1, true)
        };
        if start {
            let zones = self.clone();
            let zone_id = bare(zone_id).to_string();
            tokio::spawn(async move { zones.drain(&zone_id, zone).await });
        }
    }

    /// What became of the Domain's last submission: a failure is reported once, a written
    /// batch until the next submission.
    pub fn outcome(&self, key: &str) -> Option<Outcome> {
        let mut outcomes = lock(&self.outcomes);
        match outcomes.get(key) {
            Some(Outcome::Failed(_)) => outcomes.remove(key),
            other => other.cloned(),
        }
    }

    /// Forgets a deleted Domain's outcome.
    pub fn forget(&self, key: &str) {
        lock(&self.outcomes).remove(key);
    }

    /// Whether a change batch is INSYNC: asked at most every [`CHANGE_POLL`] for all the
    /// Domains it carried; an INSYNC change stays so.
    pub async fn change_status(&self, change_id: &str) -> AwsResult<ChangeStatus> {
        if let Some((status, at)) = lock(&self.changes).get(change_id)
            && (*status == ChangeStatus::InSync || at.elapsed() < CHANGE_POLL)
        {
            return Ok(*status);
        }
        let info = match self.route53.get_change(change_id).await {
            Ok(info) => info,
            // Route53 keeps changes for a while only; an unknown old change went INSYNC.
            Err(e) if e.kind == AwsErrorKind::NotFound => ChangeInfo {
                id: change_id.to_string(),
                status: ChangeStatus::InSync,
            },
            Err(e) => return Err(e),
        };
        self.remember(&info);
        Ok(info.status)
    }

    fn remember(&self, info: &ChangeInfo) {
        let mut changes = lock(&self.changes);
        if changes.len() >= KEPT_CHANGES
            && let Some(oldest) = changes
                .iter()
                .filter(|(_, (s, _))| *s == ChangeStatus::InSync)
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| id.clone())
        {
            changes.remove(&oldest);
        }
        changes.insert(info.id.clone(), (info.status, Instant::now()));
    }

    /// Writes the zone's queue in batches until it is empty.
    async fn drain(self: Arc<Self>, zone_id: &str, zone: Arc<Zone>) {
        loop {
            tokio::time::sleep(BATCH_INTERVAL).await;
            let batch = {
                let mut queue = lock(&zone.queue);
                let batch = next_batch(&mut queue.0);
                if batch.is_empty() {
                    queue.1 = false;
                    return;
                }
                batch
            };
            let _io = zone.io.lock().await;
            self.send(zone_id, &zone, batch).await;
        }
    }

    /// Sends one batch; a batch Route53 refuses is split in halves until the refused Domain's
    /// changes stand alone, so one Domain's conflict never holds back the others.
    fn send<'a>(&'a self, zone_id: &'a str, zone: &'a Zone, batch: Vec<Group>) -> Sending<'a> {
        Box::pin(async move {
            let changes: Vec<Change> = batch.iter().flat_map(|g| g.changes.clone()).collect();
            match self.route53.change_record_sets(zone_id, &changes).await {
                Ok(info) => {
                    if let Some((_, records)) = lock(&zone.records).as_mut() {
                        domain::apply(Arc::make_mut(records), &changes);
                    }
                    self.remember(&info);
                    let mut outcomes = lock(&self.outcomes);
                    for group in &batch {
                        outcomes.insert(group.key.clone(), Outcome::Written(info.clone()));
                    }
                }
                Err(e) if e.kind == AwsErrorKind::InvalidRequest && batch.len() > 1 => {
                    *lock(&zone.records) = None;
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    self.send(zone_id, zone, first).await;
                    self.send(zone_id, zone, second).await;
                }
                Err(e) => {
                    if e.kind == AwsErrorKind::InvalidRequest {
                        // What Route53 refused was planned from a view that is out of date.
                        *lock(&zone.records) = None;
                    }
                    let mut outcomes = lock(&self.outcomes);
                    for group in &batch {
                        outcomes.insert(group.key.clone(), Outcome::Failed(e.clone()));
                    }
                }
            }
        })
    }
}

fn fresh(zone: &Zone, max_age: Duration) -> Option<Arc<ZoneRecords>> {
    lock(&zone.records)
        .as_ref()
        .filter(|(at, _)| at.elapsed() < max_age)
        .map(|(_, r)| r.clone())
}

/// Takes from the front of the queue the groups that fit in one request: within the limits, and
/// no two touching the same record set (Route53 would refuse the whole batch). Groups passed
/// over stay in the queue in their order.
fn next_batch(queue: &mut VecDeque<Group>) -> Vec<Group> {
    let mut batch = Vec::new();
    let mut kept = VecDeque::new();
    let mut touched = BTreeSet::new();
    let (mut records, mut characters) = (0, 0);
    while let Some(group) = queue.pop_front() {
        let (r, c) = group.weight();
        let fits = records + r <= MAX_RECORDS_PER_REQUEST
            && characters + c <= MAX_VALUE_CHARACTERS_PER_REQUEST;
        let overlaps = group.names().any(|n| touched.contains(&n));
        // A group too large for any request goes alone, so that Route53 says what is wrong.
        if (fits || batch.is_empty()) && !overlaps {
            touched.extend(group.names());
            records += r;
            characters += c;
            batch.push(group);
        } else {
            kept.push_back(group);
        }
        if records >= MAX_RECORDS_PER_REQUEST {
            break;
        }
    }
    kept.extend(queue.drain(..));
    *queue = kept;
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::route53::{RecordSet, RecordType};

    fn txt(name: &str) -> Change {
        Change {
            action: ChangeAction::Create,
            record: RecordSet {
                name: format!("{name}."),
                type_: RecordType::Txt,
                ttl: Some(300),
                values: vec!["\"v\"".into()],
                alias: None,
            },
        }
    }

    fn group(key: &str, names: &[&str]) -> Group {
        Group {
            key: key.into(),
            changes: names.iter().map(|n| txt(n)).collect(),
        }
    }

    #[test]
    fn a_batch_takes_groups_up_to_the_record_limit_and_leaves_the_rest_in_order() {
        let mut queue: VecDeque<Group> = (0..1500)
            .map(|i| group(&format!("d{i}"), &[&format!("h{i}.example.com")]))
            .collect();
        let batch = next_batch(&mut queue);
        assert_eq!(batch.len(), MAX_RECORDS_PER_REQUEST);
        assert_eq!(queue.len(), 500);
        assert_eq!(queue.front().map(|g| g.key.as_str()), Some("d1000"));
    }

    #[test]
    fn two_groups_touching_one_record_set_go_in_different_batches() {
        let mut queue: VecDeque<Group> = [
            group("a", &["shop.example.com"]),
            group("b", &["shop.example.com"]),
            group("c", &["other.example.com"]),
        ]
        .into_iter()
        .collect();
        let keys = |b: &[Group]| b.iter().map(|g| g.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&next_batch(&mut queue)), ["a", "c"]);
        assert_eq!(keys(&next_batch(&mut queue)), ["b"]);
        assert!(next_batch(&mut queue).is_empty());
    }

    fn sim_zones() -> (crate::sim::aws::AwsSim, Arc<Zones>, String) {
        let sim = crate::sim::aws::AwsSim::new(crate::sim::aws::SimConfig::default());
        let zone = sim.add_hosted_zone("example.com");
        let zones = Arc::new(Zones::new(sim.services().route53, Duration::from_secs(300)));
        (sim, zones, zone)
    }

    /// The final outcome of each key (a failure is handed out once, so it is kept here).
    async fn settled(zones: &Zones, keys: &[String]) -> Vec<Outcome> {
        let mut done: Vec<Option<Outcome>> = vec![None; keys.len()];
        loop {
            for (key, slot) in keys.iter().zip(done.iter_mut()) {
                if slot.is_none() {
                    match zones.outcome(key).expect("submitted") {
                        Outcome::Queued => {}
                        outcome => *slot = Some(outcome),
                    }
                }
            }
            if done.iter().all(Option::is_some) {
                return done.into_iter().flatten().collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn changes_from_many_domains_share_one_request_and_the_view_follows_them() {
        let (sim, zones, zone) = sim_zones();
        zones.records(&zone).await.expect("read");
        sim.reset_calls();
        let keys: Vec<String> = (0..300).map(|i| format!("d{i}")).collect();
        for key in &keys {
            zones.submit(&zone, key, vec![txt(&format!("{key}.example.com"))]);
        }
        let outcomes = settled(&zones, &keys).await;
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Written(_))));
        let calls = sim.calls();
        assert_eq!(
            calls.get(
                crate::sim::aws::SimService::Route53,
                "ChangeResourceRecordSets"
            ),
            1
        );
        // The view has the writes: nothing is read again.
        let records = zones.records(&zone).await.expect("view");
        assert_eq!(records.len(), 300);
        assert_eq!(
            sim.calls().get(
                crate::sim::aws::SimService::Route53,
                "ListResourceRecordSets"
            ),
            0
        );
    }

    #[tokio::test]
    async fn a_refused_domain_does_not_hold_back_the_others_in_its_batch() {
        let (_sim, zones, zone) = sim_zones();
        zones.records(&zone).await.expect("read");
        // "taken" exists already (written outside), so its CREATE is refused.
        zones.submit(&zone, "outside", vec![txt("taken.example.com")]);
        settled(&zones, &["outside".to_string()]).await;
        let keys: Vec<String> = ["a", "b", "loser", "c"].map(String::from).to_vec();
        for key in &keys {
            let name = if key == "loser" {
                "taken"
            } else {
                key.as_str()
            };
            zones.submit(&zone, key, vec![txt(&format!("{name}.example.com"))]);
        }
        let outcomes = settled(&zones, &keys).await;
        for (key, outcome) in keys.iter().zip(&outcomes) {
            match (key.as_str(), outcome) {
                ("loser", Outcome::Failed(e)) => assert_eq!(e.code, "InvalidChangeBatch"),
                (_, Outcome::Written(_)) if key != "loser" => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn upserts_count_twice_toward_the_minimum() {
        let creates: Vec<Change> = (0..1000).map(|i| txt(&format!("h{i}"))).collect();
        assert_eq!(minimum_requests(&creates), 1);
        let upserts: Vec<Change> = creates
            .iter()
            .map(|c| Change {
                action: ChangeAction::Upsert,
                ..c.clone()
            })
            .collect();
        assert_eq!(minimum_requests(&upserts), 2);
    }
}
