//! Simulated Route53: hosted zones, record sets, and ChangeResourceRecordSets validated the way
//! Route53 validates a change batch (all or nothing, with its InvalidChangeBatch wording), with
//! changes PENDING until they propagate and then INSYNC.

use super::AwsSim;
use super::config::SimService;
use super::world::{Fail, SimResult, World, after};
use crate::aws::AwsResult;
use crate::aws::route53::{
    AliasTarget, Change, ChangeAction, ChangeInfo, ChangeStatus, HostedZone, RecordSet, RecordType,
    Route53,
};
use crate::aws::sdk::RateLimit;
use async_trait::async_trait;
use jiff::Timestamp;
use std::net::{Ipv4Addr, Ipv6Addr};

/// ChangeResourceRecordSets quota: ResourceRecord elements per request (UPSERT counts twice).
const MAX_RECORDS_PER_BATCH: usize = 1000;
/// ChangeResourceRecordSets quota: characters of all Value elements per request (UPSERT counts
/// twice).
const MAX_VALUE_CHARACTERS_PER_BATCH: usize = 32_000;
/// ListResourceRecordSets: record sets per page (`MaxItems` at most 300).
const RECORDS_PER_PAGE: usize = 300;
/// ListHostedZonesByName: zones per page (`MaxItems` at most 100).
const ZONES_PER_PAGE: usize = 100;

/// A record set and the change that last wrote it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredRecord {
    pub set: RecordSet,
    pub change_id: String,
}

/// A hosted zone.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ZoneRecord {
    pub id: String,
    pub name: String,
    pub private: bool,
    pub records: Vec<StoredRecord>,
}

/// A submitted change batch.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChangeRecord {
    pub id: String,
    pub insync_at: Timestamp,
}

/// Route53 state.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct DnsState {
    pub zones: Vec<ZoneRecord>,
    pub changes: Vec<ChangeRecord>,
}

impl DnsState {
    fn zone(&self, id: &str) -> Option<&ZoneRecord> {
        let id = id.trim_start_matches("/hostedzone/");
        self.zones.iter().find(|z| z.id == id)
    }

    pub fn change_status(&self, id: &str, now: Timestamp) -> Option<ChangeStatus> {
        let change = self.changes.iter().find(|c| c.id == id)?;
        Some(if now >= change.insync_at {
            ChangeStatus::InSync
        } else {
            ChangeStatus::Pending
        })
    }

    /// What a public DNS resolver sees for (name, type): the record in the most specific public
    /// zone enclosing the name (the first one created, when a name has several), once INSYNC.
    pub fn resolve(&self, name: &str, type_: RecordType, now: Timestamp) -> Option<&RecordSet> {
        let name = normalise(name);
        let zone = self
            .zones
            .iter()
            .filter(|z| !z.private && in_zone(&name, &z.name))
            .max_by_key(|z| {
                (
                    z.name.len(),
                    std::cmp::Reverse(self.zones.iter().position(|o| o.id == z.id)),
                )
            })?;
        zone.records
            .iter()
            .find(|r| r.set.name == name && r.set.type_ == type_)
            .filter(|r| self.change_status(&r.change_id, now) == Some(ChangeStatus::InSync))
            .map(|r| &r.set)
    }

    /// Records of a zone in ListResourceRecordSets order (by name with labels reversed, then type).
    pub fn sorted_records(zone: &ZoneRecord) -> Vec<RecordSet> {
        let mut records: Vec<RecordSet> = zone.records.iter().map(|r| r.set.clone()).collect();
        records.sort_by_key(|r| {
            let reversed: Vec<&str> = r.name.trim_end_matches('.').rsplit('.').collect();
            (reversed.join("."), r.type_.as_str())
        });
        records
    }
}

/// Lowercase with the trailing dot, as Route53 stores names.
pub(crate) fn normalise(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

fn action_name(action: ChangeAction) -> &'static str {
    match action {
        ChangeAction::Create => "CREATE",
        ChangeAction::Delete => "DELETE",
        ChangeAction::Upsert => "UPSERT",
    }
}

fn invalid_input(message: impl Into<String>) -> Fail {
    // Route53 API Reference, ChangeResourceRecordSets errors: InvalidInput (HTTP 400).
    Fail::invalid("InvalidInput", message)
}

fn same_alias(a: &Option<AliasTarget>, b: &Option<AliasTarget>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            normalise(&a.dns_name) == normalise(&b.dns_name)
                && a.hosted_zone_id == b.hosted_zone_id
                && a.evaluate_target_health == b.evaluate_target_health
        }
        _ => false,
    }
}

/// Whether a DELETE's record set matches the stored one exactly.
fn same_record(a: &RecordSet, b: &RecordSet) -> bool {
    let mut va = a.values.clone();
    let mut vb = b.values.clone();
    va.sort();
    vb.sort();
    a.ttl == b.ttl && va == vb && same_alias(&a.alias, &b.alias)
}

/// Value errors of one record set, as Route53 words them (ResourceRecord, "Supported DNS record
/// types" in the Route53 Developer Guide).
fn value_errors(record: &RecordSet) -> Vec<String> {
    let mut errors = Vec::new();
    let fatal = |code: &str, what: &str, value: &str| {
        format!(
            "Invalid Resource Record: 'FATAL problem: {code} ({what}) encountered with '{value}''"
        )
    };
    for (i, value) in record.values.iter().enumerate() {
        if record.values[..i].contains(value) {
            errors.push(format!("Duplicate Resource Record: '{value}'"));
            continue;
        }
        match record.type_ {
            RecordType::A if value.parse::<Ipv4Addr>().is_err() => {
                errors.push(fatal(
                    "ARRDATAIllegalIPv4Address",
                    "Value is not a valid IPv4 address",
                    value,
                ));
            }
            RecordType::Aaaa if value.parse::<Ipv6Addr>().is_err() => {
                errors.push(fatal(
                    "AAAARRDATAIllegalIPv6Address",
                    "Value is not a valid IPv6 address",
                    value,
                ));
            }
            RecordType::Txt => {
                let v = value.trim();
                if v.len() < 2 || !v.starts_with('"') || !v.ends_with('"') {
                    errors.push(fatal(
                        "InvalidCharacterString",
                        "Value should be enclosed in quotation marks",
                        value,
                    ));
                } else if v.split("\" \"").any(|s| s.trim_matches('"').len() > 255) {
                    errors.push(fatal("TXTRDATATooLong", "Value is too long", value));
                }
            }
            RecordType::Cname if value.trim().is_empty() || value.contains(' ') => {
                errors.push(fatal("DomainLabelEmpty", "Domain label is empty", value));
            }
            _ => {}
        }
    }
    if record.type_ == RecordType::Cname && record.values.len() > 1 {
        errors.push(format!(
            "RRSet of type CNAME with DNS name {} is not permitted to have more than one resource record",
            record.name
        ));
    }
    errors
}

impl World {
    /// Adds a public hosted zone (as CreateHostedZone would) and returns its ID.
    pub fn dns_add_zone(&mut self, name: &str, private: bool) -> String {
        let name = normalise(name);
        if let Some(z) = self
            .dns
            .zones
            .iter()
            .find(|z| z.name == name && z.private == private)
        {
            return z.id.clone();
        }
        let id = format!("Z0{}", self.ids.upper_alnum(19));
        self.dns.zones.push(ZoneRecord {
            id: id.clone(),
            name,
            private,
            records: Vec::new(),
        });
        id
    }

    pub fn dns_list_hosted_zones(&self) -> SimResult<Vec<HostedZone>> {
        Ok(self
            .dns
            .zones
            .iter()
            .map(|z| HostedZone {
                id: z.id.clone(),
                name: z.name.clone(),
                private: z.private,
            })
            .collect())
    }

    pub fn dns_list_record_sets(&self, zone_id: &str) -> SimResult<Vec<RecordSet>> {
        let zone = self
            .dns
            .zone(zone_id)
            .ok_or_else(|| no_such_zone(zone_id))?;
        Ok(DnsState::sorted_records(zone))
    }

    /// One page of ListResourceRecordSets: the record sets from index `start`, and whether more
    /// follow.
    pub fn dns_list_record_sets_page(
        &self,
        zone_id: &str,
        start: usize,
    ) -> SimResult<(Vec<RecordSet>, bool)> {
        let all = self.dns_list_record_sets(zone_id)?;
        let end = (start + RECORDS_PER_PAGE).min(all.len());
        let page = all.get(start..end).map(<[RecordSet]>::to_vec);
        Ok((page.unwrap_or_default(), end < all.len()))
    }

    /// ListHostedZonesByName from `dns_name`: zones sorted by reversed labels, from the first
    /// whose name is not before it; the first page only.
    pub fn dns_hosted_zones_by_name(&self, dns_name: &str) -> SimResult<Vec<HostedZone>> {
        let key = |name: &str| {
            let labels: Vec<&str> = name.trim_end_matches('.').rsplit('.').collect();
            labels.join(".")
        };
        let from = key(&normalise(dns_name));
        let mut zones = self.dns_list_hosted_zones()?;
        zones.sort_by_key(|z| (key(&z.name), z.id.clone()));
        Ok(zones
            .into_iter()
            .filter(|z| key(&z.name) >= from)
            .take(ZONES_PER_PAGE)
            .collect())
    }

    pub fn dns_get_change(&self, change_id: &str) -> SimResult<ChangeInfo> {
        let id = change_id.trim_start_matches("/change/");
        let status = self.dns.change_status(id, self.now).ok_or_else(|| {
            Fail::not_found(
                "NoSuchChange",
                format!("A change with the specified change ID does not exist: {id}"),
            )
        })?;
        Ok(ChangeInfo {
            id: id.to_string(),
            status,
        })
    }

    /// Alias target check: an ALB of this world (optionally `dualstack.`-prefixed) in its
    /// canonical zone, or a record of the same type in one of our zones.
    fn alias_error(
        &self,
        zone: &ZoneRecord,
        working: &[StoredRecord],
        record: &RecordSet,
        alias: &AliasTarget,
    ) -> Option<String> {
        let target = normalise(&alias.dns_name);
        let type_ = record.type_.as_str();
        let zid = &alias.hosted_zone_id;
        let outside = || {
            Some(format!(
                "Tried to create an alias that targets {target}, type {type_} in zone {zid}, but the alias target name does not lie within the target zone"
            ))
        };
        if World::elb_zone_ids().contains(&zid.as_str()) {
            let bare = target.trim_start_matches("dualstack.");
            let found = self
                .elb
                .load_balancers
                .iter()
                .any(|lb| lb.zone_id == *zid && normalise(&lb.dns_name) == bare);
            return if found { None } else { outside() };
        }
        let records: Vec<&RecordSet> = if *zid == zone.id {
            working.iter().map(|r| &r.set).collect()
        } else if let Some(other) = self.dns.zones.iter().find(|z| z.id == *zid) {
            if !in_zone(&target, &other.name) {
                return outside();
            }
            other.records.iter().map(|r| &r.set).collect()
        } else {
            return outside();
        };
        if records
            .iter()
            .any(|r| r.name == target && r.type_ == record.type_)
        {
            None
        } else {
            Some(format!(
                "Tried to create an alias that targets {target}, type {type_} in zone {zid}, but that target was not found"
            ))
        }
    }

    pub fn dns_change_record_sets(
        &mut self,
        zone_id: &str,
        changes: &[Change],
    ) -> SimResult<ChangeInfo> {
        let zone = self
            .dns
            .zone(zone_id)
            .cloned()
            .ok_or_else(|| no_such_zone(zone_id))?;
        // ChangeBatch.Changes: at least one change; at most 1000 ResourceRecord elements.
        if changes.is_empty() {
            return Err(invalid_input(
                "1 validation error detected: Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        // "UPSERT requests count twice toward the limits" (Route53 quotas, "Quotas on API requests").
        let weight = |c: &Change| {
            if c.action == ChangeAction::Upsert {
                2
            } else {
                1
            }
        };
        let record_count: usize = changes
            .iter()
            .map(|c| weight(c) * c.record.values.len().max(1))
            .sum();
        if record_count > MAX_RECORDS_PER_BATCH {
            return Err(Fail::invalid(
                "InvalidChangeBatch",
                format!("[Number of records limit of {MAX_RECORDS_PER_BATCH} exceeded.]"),
            ));
        }
        let characters: usize = changes
            .iter()
            .map(|c| weight(c) * c.record.values.iter().map(String::len).sum::<usize>())
            .sum();
        if characters > MAX_VALUE_CHARACTERS_PER_BATCH {
            return Err(Fail::invalid(
                "InvalidChangeBatch",
                format!(
                    "[Number of characters limit of {MAX_VALUE_CHARACTERS_PER_BATCH} exceeded.]"
                ),
            ));
        }
        // Normalise and check each change's shape first: InvalidInput rejects the request before
        // any semantic check (ResourceRecordSet: exactly one of AliasTarget or TTL+ResourceRecords).
        let mut normalised: Vec<(ChangeAction, RecordSet)> = Vec::new();
        for change in changes {
            let mut record = change.record.clone();
            record.name = normalise(&record.name);
            if let Some(alias) = &mut record.alias {
                alias.dns_name = normalise(&alias.dns_name);
            }
            let plain = record.ttl.is_some() || !record.values.is_empty();
            let described = format!(
                "Change with [Action={}, Name={}, Type={}, SetIdentifier=null]",
                action_name(change.action),
                record.name,
                record.type_.as_str()
            );
            let expected = "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found";
            if record.alias.is_some() && plain {
                return Err(invalid_input(format!(
                    "{expected} more than one in {described}"
                )));
            }
            if record.alias.is_none() && (record.ttl.is_none() || record.values.is_empty()) {
                return Err(invalid_input(format!("{expected} none in {described}")));
            }
            if let Some(ttl) = record.ttl
                && !(0..=2_147_483_647).contains(&ttl)
            {
                return Err(invalid_input(format!(
                    "1 validation error detected: Value '{ttl}' at 'changeBatch.changes.member.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value between 0 and 2147483647"
                )));
            }
            normalised.push((change.action, record));
        }

        // Apply the batch in order to a working copy; any error rejects all of it
        // (ChangeResourceRecordSets: "the request is processed as a single transaction").
        let mut working = zone.records.clone();
        let mut errors: Vec<String> = Vec::new();
        for (action, record) in &normalised {
            let (name, type_) = (&record.name, record.type_);
            // ResourceRecordSet.Name: a record set must be in the hosted zone (the zone name or a
            // subdomain of it).
            if !in_zone(name, &zone.name) {
                errors.push(format!(
                    "RRSet with DNS name {name} is not permitted in zone {}",
                    zone.name
                ));
                continue;
            }
            let value_problems = value_errors(record);
            if !value_problems.is_empty() {
                errors.extend(value_problems);
                continue;
            }
            let existing = working
                .iter()
                .position(|r| r.set.name == *name && r.set.type_ == type_);
            let rrset = format!(
                "resource record set [name='{name}', type='{}']",
                type_.as_str()
            );
            // Change.Action: DELETE needs the record set to exist with exactly these values;
            // CREATE fails when it exists; UPSERT creates or replaces.
            if *action == ChangeAction::Delete {
                match existing {
                    None => errors.push(format!("Tried to delete {rrset} but it was not found")),
                    Some(i) if !same_record(&working[i].set, record) => errors.push(format!(
                        "Tried to delete {rrset} but the values provided do not match the current values"
                    )),
                    Some(i) => {
                        working.remove(i);
                    }
                }
                continue;
            }
            if *action == ChangeAction::Create && existing.is_some() {
                errors.push(format!("Tried to create {rrset} but it already exists"));
                continue;
            }
            // CNAME records cannot coexist with other types at the same name, nor sit at the apex
            // ("Choosing between alias and non-alias records", RFC 1034 section 3.6.2).
            if type_ == RecordType::Cname {
                if *name == zone.name {
                    errors.push(format!(
                        "RRSet of type CNAME with DNS name {name} is not permitted at apex in zone {}",
                        zone.name
                    ));
                    continue;
                }
                if working
                    .iter()
                    .any(|r| r.set.name == *name && r.set.type_ != RecordType::Cname)
                {
                    errors.push(format!(
                        "RRSet of type CNAME with DNS name {name} is not permitted as it conflicts with other records with the same DNS name in zone {}",
                        zone.name
                    ));
                    continue;
                }
            } else if working
                .iter()
                .any(|r| r.set.name == *name && r.set.type_ == RecordType::Cname)
            {
                errors.push(format!(
                    "RRSet of type {} with DNS name {name} is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone {}",
                    type_.as_str(),
                    zone.name
                ));
                continue;
            }
            // AliasTarget: the target must exist (an ELB in its canonical hosted zone, or a
            // record of the same type in a hosted zone of the account).
            if let Some(alias) = &record.alias
                && let Some(error) = self.alias_error(&zone, &working, record, alias)
            {
                errors.push(error);
                continue;
            }
            let stored = StoredRecord {
                set: record.clone(),
                change_id: String::new(),
            };
            match existing {
                Some(i) => working[i] = stored,
                None => working.push(stored),
            }
        }
        if !errors.is_empty() {
            return Err(Fail::invalid(
                "InvalidChangeBatch",
                format!("[{}]", errors.join(", ")),
            ));
        }

        // ChangeInfo: the change is PENDING until all Route53 servers have it, then INSYNC
        // (GetChange).
        let id = format!("C0{}", self.ids.upper_alnum(18));
        for record in &mut working {
            if record.change_id.is_empty() {
                record.change_id = id.clone();
            }
        }
        let insync_at = after(self.now, self.timings.dns_propagation);
        self.dns.changes.push(ChangeRecord {
            id: id.clone(),
            insync_at,
        });
        if let Some(z) = self.dns.zones.iter_mut().find(|z| z.id == zone.id) {
            z.records = working;
        }
        Ok(ChangeInfo {
            id,
            status: ChangeStatus::Pending,
        })
    }

    /// Times at which a change goes INSYNC.
    pub fn dns_events(&self, out: &mut Vec<Timestamp>) {
        out.extend(self.dns.changes.iter().map(|c| c.insync_at));
    }
}

fn no_such_zone(id: &str) -> Fail {
    Fail::not_found(
        "NoSuchHostedZone",
        format!(
            "No hosted zone found with ID: {}",
            id.trim_start_matches("/hostedzone/")
        ),
    )
}

/// The [`Route53`] trait over the shared world, behind the client-side rate limit every Route53
/// client of the account shares (each page of a listing waits for its own token).
pub(crate) struct SimRoute53 {
    pub sim: AwsSim,
    pub rate: RateLimit,
}

const R53: SimService = SimService::Route53;

#[async_trait]
impl Route53 for SimRoute53 {
    async fn list_hosted_zones(&self) -> AwsResult<Vec<HostedZone>> {
        self.rate.acquire().await;
        self.sim
            .call(R53, "ListHostedZones", false, |w| w.dns_list_hosted_zones())
            .await
    }

    async fn hosted_zones_by_name(&self, dns_name: &str) -> AwsResult<Vec<HostedZone>> {
        self.rate.acquire().await;
        let name = normalise(dns_name);
        let zones = self
            .sim
            .call(R53, "ListHostedZonesByName", false, |w| {
                w.dns_hosted_zones_by_name(&name)
            })
            .await?;
        Ok(zones.into_iter().filter(|z| z.name == name).collect())
    }

    async fn list_record_sets(&self, zone_id: &str) -> AwsResult<Vec<RecordSet>> {
        let mut records = Vec::new();
        loop {
            self.rate.acquire().await;
            let start = records.len();
            let (page, more) = self
                .sim
                .call(R53, "ListResourceRecordSets", false, |w| {
                    w.dns_list_record_sets_page(zone_id, start)
                })
                .await?;
            let empty = page.is_empty();
            records.extend(page);
            if !more || empty {
                return Ok(records);
            }
        }
    }

    async fn change_record_sets(&self, zone_id: &str, changes: &[Change]) -> AwsResult<ChangeInfo> {
        self.rate.acquire().await;
        self.sim
            .call(R53, "ChangeResourceRecordSets", true, |w| {
                w.dns_change_record_sets(zone_id, changes)
            })
            .await
    }

    async fn get_change(&self, change_id: &str) -> AwsResult<ChangeInfo> {
        self.rate.acquire().await;
        self.sim
            .call(R53, "GetChange", false, |w| w.dns_get_change(change_id))
            .await
    }
}
