//! What a Domain may claim and which Route53 changes bring its zone to the desired records: the
//! ownership registry (TXT records naming the Domain that owns each hostname), how claims by
//! other Domains, other operator instances and external-dns are recognised, and the changes of
//! each phase (claim, certificate validation, aliases, release). Pure: no I/O.
//!
//! The registry: for every hostname `h` a Domain serves, a TXT record at `_cygni-owner.h` holds
//! `"heritage=cygni,cygni/owner=<owner id>,cygni/resource=domain/<namespace>/<name>,cygni/uid=<uid>"`.
//! A separate name keeps the registry out of the way of whatever else lives at `h` (a CNAME cannot
//! share its name with a TXT record; an apex TXT set belongs to its zone's owner). Route53 decides
//! claims: the record is created with `CREATE`, which fails when another claimant's exists, so
//! two Domains applied at the same moment cannot both win.

use crate::aws::route53::{AliasTarget, Change, ChangeAction, RecordSet, RecordType};
use std::collections::BTreeMap;

/// Prefix of the registry record's name.
pub const OWNER_LABEL: &str = "_cygni-owner";

/// The record sets of one zone, by (name with trailing dot, type).
pub type ZoneRecords = BTreeMap<(String, RecordType), RecordSet>;

/// Who a Domain is, as its registry records say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimant {
    /// The operator instance (`--dns-owner-id`).
    pub owner: String,
    /// Namespace of the Domain.
    pub namespace: String,
    /// Name of the Domain.
    pub name: String,
    /// UID of the Domain.
    pub uid: String,
}

impl Claimant {
    /// The TXT value (with its quotes) that records this claim: one string, or several of at
    /// most 255 characters each when a long Domain name needs it (DNS character strings hold
    /// 255 bytes).
    pub fn txt_value(&self) -> String {
        let text = format!(
            "heritage=cygni,cygni/owner={},cygni/resource=domain/{}/{},cygni/uid={}",
            self.owner, self.namespace, self.name, self.uid
        );
        let chunks: Vec<String> = text
            .as_bytes()
            .chunks(255)
            .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
            .collect();
        chunks.join(" ")
    }

    /// Reads a registry TXT value; `None` when it is not one of ours.
    pub fn parse(value: &str) -> Option<Claimant> {
        let fields = registry_fields(value);
        if fields.get("heritage").map(String::as_str) != Some("cygni") {
            return None;
        }
        let resource = fields.get("cygni/resource")?;
        let (namespace, name) = resource.strip_prefix("domain/")?.split_once('/')?;
        Some(Claimant {
            owner: fields.get("cygni/owner")?.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: fields.get("cygni/uid").cloned().unwrap_or_default(),
        })
    }

    /// The same Domain: this operator instance and the same namespace and name. The UID may
    /// differ: a Domain deleted with `deletionPolicy: Retain` and created again takes its
    /// records back.
    pub fn same_domain(&self, other: &Claimant) -> bool {
        self.owner == other.owner && self.namespace == other.namespace && self.name == other.name
    }
}

/// `key=value` pairs of a registry TXT value (external-dns's format, which ours follows).
fn registry_fields(value: &str) -> BTreeMap<String, String> {
    value
        .trim()
        .trim_matches('"')
        .replace("\" \"", "")
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A fully qualified name: lowercase with the trailing dot.
pub fn fqdn(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

/// Whether a name lies in a zone (both fully qualified): the zone's apex or below it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    let (name, zone) = (fqdn(name), fqdn(zone));
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// The registry record's name for a hostname.
pub fn owner_record_name(hostname: &str) -> String {
    format!("{OWNER_LABEL}.{}", fqdn(hostname))
}

/// Why a hostname cannot be claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// Another Domain (of this or another operator instance) holds the registry record.
    Domain(Claimant),
    /// external-dns's registry owns the name.
    ExternalDns {
        /// Its `external-dns/owner`.
        owner: String,
        /// Its `external-dns/resource`, when it says.
        resource: Option<String>,
        /// The TXT record that says so.
        record: String,
    },
    /// A record nobody's registry claims already answers for the name.
    Unowned {
        /// Its type.
        type_: RecordType,
    },
}

impl Blocker {
    /// One clause naming the claimant, for a condition message.
    pub fn describe(&self, hostname: &str) -> String {
        match self {
            Blocker::Domain(c) => format!(
                "{hostname} is claimed by Domain {}/{} (owner {})",
                c.namespace, c.name, c.owner
            ),
            Blocker::ExternalDns {
                owner,
                resource,
                record,
            } => format!(
                "{hostname} is owned by external-dns (owner {owner}{}, TXT {record})",
                resource
                    .as_ref()
                    .map(|r| format!(", resource {r}"))
                    .unwrap_or_default()
            ),
            Blocker::Unowned { type_ } => format!(
                "{hostname} already has a {} record that no Domain owns",
                type_.as_str()
            ),
        }
    }
}

/// Who holds a hostname, as the zone's records say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This Domain holds it; `record` is the registry record as it is (to UPSERT when the UID
    /// changed, or to DELETE exactly).
    Ours {
        /// The registry record.
        record: RecordSet,
    },
    /// Nobody: it can be claimed.
    Free,
    /// Someone else.
    Blocked(Blocker),
}

/// Names where external-dns keeps the registry record of `hostname`: the name itself (its
/// original format) and `<type>-<hostname>` (the format of external-dns 0.12 and later).
fn external_dns_names(hostname: &str) -> Vec<String> {
    let h = fqdn(hostname);
    let mut names = vec![h.clone()];
    for prefix in ["a-", "aaaa-", "cname-"] {
        names.push(format!("{prefix}{h}"));
    }
    names
}

/// Who holds `hostname` in `records`, seen by `me`.
pub fn claim_of(records: &ZoneRecords, hostname: &str, me: &Claimant) -> Claim {
    let h = fqdn(hostname);
    if let Some(record) = records.get(&(owner_record_name(&h), RecordType::Txt)) {
        let claimants: Vec<Claimant> = record
            .values
            .iter()
            .filter_map(|v| Claimant::parse(v))
            .collect();
        return match claimants.first() {
            Some(c) if c.same_domain(me) && claimants.len() == 1 => Claim::Ours {
                record: record.clone(),
            },
            Some(c) => Claim::Blocked(Blocker::Domain(c.clone())),
            // A TXT at our registry name that is not ours: someone wrote it by hand.
            None => Claim::Blocked(Blocker::Unowned {
                type_: RecordType::Txt,
            }),
        };
    }
    for name in external_dns_names(&h) {
        let Some(record) = records.get(&(name.clone(), RecordType::Txt)) else {
            continue;
        };
        for value in &record.values {
            let fields = registry_fields(value);
            if fields.get("heritage").map(String::as_str) == Some("external-dns") {
                return Claim::Blocked(Blocker::ExternalDns {
                    owner: fields
                        .get("external-dns/owner")
                        .cloned()
                        .unwrap_or_else(|| "unknown".to_string()),
                    resource: fields.get("external-dns/resource").cloned(),
                    record: name,
                });
            }
        }
    }
    for type_ in [RecordType::A, RecordType::Aaaa, RecordType::Cname] {
        if records.contains_key(&(h.clone(), type_)) {
            return Claim::Blocked(Blocker::Unowned { type_ });
        }
    }
    Claim::Free
}

/// The registry record of `me` for `hostname`.
pub fn owner_record(hostname: &str, me: &Claimant, ttl: i64) -> RecordSet {
    RecordSet {
        name: owner_record_name(hostname),
        type_: RecordType::Txt,
        ttl: Some(ttl),
        values: vec![me.txt_value()],
        alias: None,
    }
}

/// The changes that bring one record set to `desired` from what `records` hold: CREATE when it
/// is absent (so that a record someone wrote since the zone was read makes the batch fail
/// instead of being overwritten), UPSERT when it differs, nothing when it matches.
pub fn converge(records: &ZoneRecords, desired: RecordSet) -> Option<Change> {
    match records.get(&(desired.name.clone(), desired.type_)) {
        None => Some(Change {
            action: ChangeAction::Create,
            record: desired,
        }),
        Some(current) if same(current, &desired) => None,
        Some(_) => Some(Change {
            action: ChangeAction::Upsert,
            record: desired,
        }),
    }
}

/// A DELETE of the record set as it is in `records` (Route53 deletes only exact matches).
pub fn delete(records: &ZoneRecords, name: &str, type_: RecordType) -> Option<Change> {
    records.get(&(fqdn(name), type_)).map(|r| Change {
        action: ChangeAction::Delete,
        record: r.clone(),
    })
}

/// Whether two record sets say the same thing (values in any order, names and targets in any
/// case, with or without the trailing dot).
pub fn same(a: &RecordSet, b: &RecordSet) -> bool {
    let mut va = a.values.clone();
    let mut vb = b.values.clone();
    va.sort();
    vb.sort();
    let alias = match (&a.alias, &b.alias) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            fqdn(&x.dns_name) == fqdn(&y.dns_name)
                && x.hosted_zone_id == y.hosted_zone_id
                && x.evaluate_target_health == y.evaluate_target_health
        }
        _ => false,
    };
    fqdn(&a.name) == fqdn(&b.name) && a.type_ == b.type_ && a.ttl == b.ttl && va == vb && alias
}

/// The alias records of `hostname` to a load balancer: A, and AAAA when it is dual-stack.
pub fn alias_records(
    hostname: &str,
    dns_name: &str,
    zone_id: &str,
    dual_stack: bool,
) -> Vec<RecordSet> {
    let target = AliasTarget {
        // Route53 aliases to an ALB use its `dualstack.` name, which answers both families.
        dns_name: fqdn(&format!("dualstack.{}", dns_name.trim_end_matches('.'))),
        hosted_zone_id: zone_id.to_string(),
        evaluate_target_health: true,
    };
    let mut types = vec![RecordType::A];
    if dual_stack {
        types.push(RecordType::Aaaa);
    }
    types
        .into_iter()
        .map(|type_| RecordSet {
            name: fqdn(hostname),
            type_,
            ttl: None,
            values: Vec::new(),
            alias: Some(target.clone()),
        })
        .collect()
}

/// A validation CNAME.
pub fn validation_record(name: &str, value: &str, ttl: i64) -> RecordSet {
    RecordSet {
        name: fqdn(name),
        type_: RecordType::Cname,
        ttl: Some(ttl),
        values: vec![fqdn(value)],
        alias: None,
    }
}

/// Applies a successful change batch to a zone's records, as Route53 did.
pub fn apply(records: &mut ZoneRecords, changes: &[Change]) {
    for change in changes {
        let mut record = change.record.clone();
        record.name = fqdn(&record.name);
        let key = (record.name.clone(), record.type_);
        match change.action {
            ChangeAction::Delete => {
                records.remove(&key);
            }
            ChangeAction::Create | ChangeAction::Upsert => {
                records.insert(key, record);
            }
        }
    }
}

/// Whether a certificate name covers a hostname: equal, or a wildcard one label above it.
pub fn covers(certificate_name: &str, hostname: &str) -> bool {
    let c = certificate_name.trim_end_matches('.').to_ascii_lowercase();
    let h = hostname.trim_end_matches('.').to_ascii_lowercase();
    match c.strip_prefix("*.") {
        Some(base) => h
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == base),
        None => c == h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Claimant {
        Claimant {
            owner: "default".into(),
            namespace: "shop".into(),
            name: "www".into(),
            uid: "1111".into(),
        }
    }

    fn zone(records: &[RecordSet]) -> ZoneRecords {
        records
            .iter()
            .map(|r| ((fqdn(&r.name), r.type_), r.clone()))
            .collect()
    }

    fn txt(name: &str, value: &str) -> RecordSet {
        RecordSet {
            name: fqdn(name),
            type_: RecordType::Txt,
            ttl: Some(300),
            values: vec![value.to_string()],
            alias: None,
        }
    }

    #[test]
    fn a_claim_reads_back_as_the_same_claimant() {
        let value = me().txt_value();
        assert_eq!(Claimant::parse(&value), Some(me()));
        assert!(value.len() < 255, "one TXT string: {value}");
    }

    #[test]
    fn a_claim_of_a_long_domain_name_splits_into_strings_and_reads_back_whole() {
        let long = Claimant {
            name: "d".repeat(253),
            ..me()
        };
        let value = long.txt_value();
        assert!(
            value
                .split("\" \"")
                .all(|s| s.trim_matches('"').len() <= 255)
        );
        assert_eq!(Claimant::parse(&value), Some(long));
    }

    #[test]
    fn a_free_name_is_claimable_and_our_record_is_ours() {
        let empty = ZoneRecords::new();
        assert_eq!(claim_of(&empty, "shop.example.com", &me()), Claim::Free);
        let ours = owner_record("shop.example.com", &me(), 300);
        let records = zone(std::slice::from_ref(&ours));
        assert_eq!(
            claim_of(&records, "shop.example.com.", &me()),
            Claim::Ours { record: ours }
        );
    }

    #[test]
    fn the_same_domain_created_again_takes_its_retained_records_back() {
        let old = Claimant {
            uid: "0000".into(),
            ..me()
        };
        let records = zone(&[owner_record("shop.example.com", &old, 300)]);
        assert!(matches!(
            claim_of(&records, "shop.example.com", &me()),
            Claim::Ours { .. }
        ));
    }

    #[test]
    fn another_domain_or_another_instance_blocks_the_name() {
        for other in [
            Claimant {
                namespace: "other".into(),
                ..me()
            },
            Claimant {
                owner: "cluster-b".into(),
                ..me()
            },
        ] {
            let records = zone(&[owner_record("shop.example.com", &other, 300)]);
            let claim = claim_of(&records, "shop.example.com", &me());
            assert_eq!(claim, Claim::Blocked(Blocker::Domain(other.clone())));
            let Claim::Blocked(blocker) = claim else {
                unreachable!()
            };
            let text = blocker.describe("shop.example.com");
            assert!(text.contains(&other.namespace), "{text}");
            assert!(text.contains(&other.owner), "{text}");
        }
    }

    #[test]
    fn external_dns_registry_records_in_both_formats_block_the_name() {
        let value = "\"heritage=external-dns,external-dns/owner=k8s,external-dns/resource=ingress/web/shop\"";
        for name in [
            "shop.example.com",
            "a-shop.example.com",
            "cname-shop.example.com",
        ] {
            let records = zone(&[txt(name, value)]);
            match claim_of(&records, "shop.example.com", &me()) {
                Claim::Blocked(Blocker::ExternalDns {
                    owner,
                    resource,
                    record,
                }) => {
                    assert_eq!(owner, "k8s");
                    assert_eq!(resource.as_deref(), Some("ingress/web/shop"));
                    assert_eq!(record, fqdn(name));
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_record_nobody_claims_blocks_the_name_and_an_unrelated_txt_does_not() {
        let a = RecordSet {
            name: "shop.example.com.".into(),
            type_: RecordType::A,
            ttl: Some(60),
            values: vec!["192.0.2.1".into()],
            alias: None,
        };
        assert_eq!(
            claim_of(&zone(&[a]), "shop.example.com", &me()),
            Claim::Blocked(Blocker::Unowned {
                type_: RecordType::A
            })
        );
        let spf = txt("shop.example.com", "\"v=spf1 -all\"");
        assert_eq!(
            claim_of(&zone(&[spf]), "shop.example.com", &me()),
            Claim::Free
        );
    }

    #[test]
    fn converging_creates_what_is_missing_upserts_what_differs_and_leaves_what_matches() {
        let desired = owner_record("shop.example.com", &me(), 300);
        let empty = ZoneRecords::new();
        assert_eq!(
            converge(&empty, desired.clone()).map(|c| c.action),
            Some(ChangeAction::Create)
        );
        let same_zone = zone(std::slice::from_ref(&desired));
        assert_eq!(converge(&same_zone, desired.clone()), None);
        let longer = RecordSet {
            ttl: Some(600),
            ..desired.clone()
        };
        assert_eq!(
            converge(&same_zone, longer).map(|c| c.action),
            Some(ChangeAction::Upsert)
        );
    }

    #[test]
    fn aliases_point_at_the_dualstack_name_and_aaaa_only_for_dual_stack() {
        let v4 = alias_records("shop.example.com", "lb-1.elb.amazonaws.com", "Z1", false);
        assert_eq!(v4.len(), 1);
        assert_eq!(
            v4[0].alias.as_ref().map(|a| a.dns_name.as_str()),
            Some("dualstack.lb-1.elb.amazonaws.com.")
        );
        let both = alias_records("shop.example.com", "lb-1.elb.amazonaws.com", "Z1", true);
        assert_eq!(
            both.iter().map(|r| r.type_).collect::<Vec<_>>(),
            [RecordType::A, RecordType::Aaaa]
        );
    }

    #[test]
    fn applying_a_batch_matches_what_route53_keeps() {
        let mut records = ZoneRecords::new();
        let claim = owner_record("shop.example.com", &me(), 300);
        apply(
            &mut records,
            &[Change {
                action: ChangeAction::Create,
                record: claim.clone(),
            }],
        );
        assert!(records.contains_key(&(claim.name.clone(), RecordType::Txt)));
        let removal = delete(&records, &claim.name, RecordType::Txt).expect("present");
        apply(&mut records, &[removal]);
        assert!(records.is_empty());
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "shop.example.com"));
        assert!(!covers("*.example.com", "a.shop.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("shop.example.com.", "SHOP.example.com"));
    }
}
