//! The narrow Route53 interface the Domain controller uses: hosted zones, record sets per zone,
//! change batches and their propagation.

use super::AwsResult;
use async_trait::async_trait;

/// A hosted zone.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostedZone {
    /// ID without the `/hostedzone/` prefix, e.g. `Z0123456789ABC`.
    pub id: String,
    /// Name with the trailing dot, e.g. `example.com.`.
    pub name: String,
    /// Private (VPC) zone.
    pub private: bool,
}

/// Record types the operator writes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum RecordType {
    /// IPv4 address (alias to the load balancer).
    A,
    /// IPv6 address (alias to the load balancer).
    Aaaa,
    /// Canonical name (certificate validation).
    Cname,
    /// Text (ownership registry).
    Txt,
}

impl RecordType {
    /// The type as Route53 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Txt => "TXT",
        }
    }
}

/// Target of an alias record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AliasTarget {
    /// DNS name of the target (the load balancer), with the trailing dot.
    pub dns_name: String,
    /// Hosted zone of the target.
    pub hosted_zone_id: String,
    /// Whether Route53 checks the target's health.
    pub evaluate_target_health: bool,
}

/// A record set (the operator never uses routing policies, so no set identifier).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordSet {
    /// Fully qualified name with the trailing dot, lowercase.
    pub name: String,
    /// Type.
    pub type_: RecordType,
    /// TTL in seconds; `None` for aliases.
    pub ttl: Option<i64>,
    /// Values (TXT values include their quotes); empty for aliases.
    pub values: Vec<String>,
    /// Alias target.
    pub alias: Option<AliasTarget>,
}

/// A change's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChangeAction {
    /// Fails if the record set exists.
    Create,
    /// Fails unless the record set matches exactly.
    Delete,
    /// Creates or replaces.
    Upsert,
}

/// One change of a batch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// Action.
    pub action: ChangeAction,
    /// The record set.
    pub record: RecordSet,
}

/// Propagation status of a change batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChangeStatus {
    /// Not yet on all Route53 servers.
    Pending,
    /// Applied everywhere.
    InSync,
}

/// A submitted change batch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeInfo {
    /// Change ID without the `/change/` prefix.
    pub id: String,
    /// Status.
    pub status: ChangeStatus,
}

/// Route53, as far as the operator uses it.
#[async_trait]
pub trait Route53: Send + Sync {
    /// ListHostedZones (all pages).
    async fn list_hosted_zones(&self) -> AwsResult<Vec<HostedZone>>;
    /// ListHostedZonesByName from `dns_name`: the zones with exactly that name (public and
    /// private), read from the first page of the answer.
    async fn hosted_zones_by_name(&self, dns_name: &str) -> AwsResult<Vec<HostedZone>>;
    /// ListResourceRecordSets of a zone (all pages).
    async fn list_record_sets(&self, zone_id: &str) -> AwsResult<Vec<RecordSet>>;
    /// ChangeResourceRecordSets: the batch is applied atomically or not at all
    /// (`InvalidChangeBatch` names the failing changes).
    async fn change_record_sets(&self, zone_id: &str, changes: &[Change]) -> AwsResult<ChangeInfo>;
    /// GetChange.
    async fn get_change(&self, change_id: &str) -> AwsResult<ChangeInfo>;
}
