//! [`Route53`] over the AWS SDK: hosted zones, the record sets of a zone, change batches and
//! their propagation.
//!
//! Ids are accepted with or without their `/hostedzone/` and `/change/` prefixes and returned
//! without. Record names come back as Route53 writes them, with `\NNN` octal escapes (`\052` for
//! `*`); they are decoded and lowercased. TXT values are passed through as they are: quoting them
//! is the caller's job (they include their quotes both ways). Only the record types the trait
//! knows (A, AAAA, CNAME, TXT) are listed; NS, SOA, MX and the rest are left out.

use super::RateLimit;
use super::error::{failed, from_sdk, invalid_input, missing_field};
use crate::aws::AwsResult;
use crate::aws::route53::{
    AliasTarget, Change, ChangeAction, ChangeInfo, ChangeStatus, HostedZone, RecordSet, RecordType,
    Route53,
};
use async_trait::async_trait;
use aws_sdk_route53::Client;
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{self as sdk, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};

/// Service name in errors.
const SERVICE: &str = "route53";
/// Default client-side rate: Route53 allows five requests per second per account.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 5;
/// Prefix of hosted zone ids in Route53's answers.
const ZONE_PREFIX: &str = "/hostedzone/";
/// Prefix of change ids in Route53's answers.
const CHANGE_PREFIX: &str = "/change/";

/// Route53 through the SDK, with a client-side rate limit.
#[derive(Clone, Debug)]
pub struct SdkRoute53 {
    client: Client,
    rate: RateLimit,
}

impl SdkRoute53 {
    /// The adapter with the default rate ([`DEFAULT_REQUESTS_PER_SECOND`]), spaced so that no
    /// second holds more (Route53 counts requests per second, bursts included).
    pub fn new(client: Client) -> Self {
        Self::with_rate_limit(client, RateLimit::spaced(DEFAULT_REQUESTS_PER_SECOND))
    }

    /// The adapter with the given rate limit.
    pub fn with_rate_limit(client: Client, rate: RateLimit) -> Self {
        SdkRoute53 { client, rate }
    }
}

/// A zone id without its `/hostedzone/` prefix.
pub fn bare_zone_id(id: &str) -> &str {
    id.strip_prefix(ZONE_PREFIX).unwrap_or(id)
}

/// A change id without its `/change/` prefix.
pub fn bare_change_id(id: &str) -> &str {
    id.strip_prefix(CHANGE_PREFIX).unwrap_or(id)
}

/// A DNS name as Route53 answers it, with its `\NNN` octal escapes decoded and lowercased:
/// `\052.example.com.` is `*.example.com.`.
pub fn decode_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4).filter(|digits| {
            bytes[i] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        match escape.map(|digits| {
            digits
                .iter()
                .fold(0u32, |value, digit| value * 8 + u32::from(digit - b'0'))
        }) {
            Some(value) if value <= 0xff => {
                decoded.push(value as u8);
                i += 4;
            }
            _ => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).to_lowercase()
}

fn record_type_to_sdk(type_: RecordType) -> RrType {
    match type_ {
        RecordType::A => RrType::A,
        RecordType::Aaaa => RrType::Aaaa,
        RecordType::Cname => RrType::Cname,
        RecordType::Txt => RrType::Txt,
    }
}

fn record_type_from_sdk(type_: &RrType) -> Option<RecordType> {
    match type_ {
        RrType::A => Some(RecordType::A),
        RrType::Aaaa => Some(RecordType::Aaaa),
        RrType::Cname => Some(RecordType::Cname),
        RrType::Txt => Some(RecordType::Txt),
        _ => None,
    }
}

fn change_status(status: &sdk::ChangeStatus) -> ChangeStatus {
    match status {
        sdk::ChangeStatus::Insync => ChangeStatus::InSync,
        _ => ChangeStatus::Pending,
    }
}

fn change_info(info: &sdk::ChangeInfo) -> ChangeInfo {
    ChangeInfo {
        id: bare_change_id(&info.id).to_owned(),
        status: change_status(&info.status),
    }
}

fn record_set_to_sdk(record: &RecordSet, operation: &'static str) -> AwsResult<ResourceRecordSet> {
    let invalid = |err| invalid_input(SERVICE, operation, err);
    let records = record
        .values
        .iter()
        .map(|value| {
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(invalid)
        })
        .collect::<AwsResult<Vec<_>>>()?;
    let alias = record
        .alias
        .as_ref()
        .map(|alias| {
            sdk::AliasTarget::builder()
                .dns_name(&alias.dns_name)
                .hosted_zone_id(&alias.hosted_zone_id)
                .evaluate_target_health(alias.evaluate_target_health)
                .build()
                .map_err(invalid)
        })
        .transpose()?;
    ResourceRecordSet::builder()
        .name(&record.name)
        .r#type(record_type_to_sdk(record.type_))
        .set_ttl(record.ttl)
        .set_resource_records((!records.is_empty()).then_some(records))
        .set_alias_target(alias)
        .build()
        .map_err(invalid)
}

fn record_set_from_sdk(record: &ResourceRecordSet) -> Option<RecordSet> {
    Some(RecordSet {
        name: decode_name(&record.name),
        type_: record_type_from_sdk(&record.r#type)?,
        ttl: record.ttl,
        values: record
            .resource_records()
            .iter()
            .map(|value| value.value.clone())
            .collect(),
        alias: record.alias_target().map(|alias| AliasTarget {
            dns_name: alias.dns_name.clone(),
            hosted_zone_id: alias.hosted_zone_id.clone(),
            evaluate_target_health: alias.evaluate_target_health,
        }),
    })
}

fn change_to_sdk(change: &Change, operation: &'static str) -> AwsResult<sdk::Change> {
    let action = match change.action {
        ChangeAction::Create => sdk::ChangeAction::Create,
        ChangeAction::Delete => sdk::ChangeAction::Delete,
        ChangeAction::Upsert => sdk::ChangeAction::Upsert,
    };
    sdk::Change::builder()
        .action(action)
        .resource_record_set(record_set_to_sdk(&change.record, operation)?)
        .build()
        .map_err(|err| invalid_input(SERVICE, operation, err))
}

#[async_trait]
impl Route53 for SdkRoute53 {
    async fn list_hosted_zones(&self) -> AwsResult<Vec<HostedZone>> {
        const OP: &str = "ListHostedZones";
        let mut zones = Vec::new();
        let mut marker = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .list_hosted_zones()
                .set_marker(marker)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            zones.extend(output.hosted_zones().iter().map(|zone| HostedZone {
                id: bare_zone_id(&zone.id).to_owned(),
                name: decode_name(&zone.name),
                private: zone.config().is_some_and(|config| config.private_zone),
            }));
            marker = output.next_marker.filter(|_| output.is_truncated);
            if marker.is_none() {
                return Ok(zones);
            }
        }
    }

    async fn hosted_zones_by_name(&self, dns_name: &str) -> AwsResult<Vec<HostedZone>> {
        const OP: &str = "ListHostedZonesByName";
        let wanted = decode_name(dns_name.trim_end_matches('.')) + ".";
        self.rate.acquire().await;
        let output = self
            .client
            .list_hosted_zones_by_name()
            .dns_name(&wanted)
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(output
            .hosted_zones()
            .iter()
            .map(|zone| HostedZone {
                id: bare_zone_id(&zone.id).to_owned(),
                name: decode_name(&zone.name),
                private: zone.config().is_some_and(|config| config.private_zone),
            })
            .filter(|zone| zone.name == wanted)
            .collect())
    }

    async fn list_record_sets(&self, zone_id: &str) -> AwsResult<Vec<RecordSet>> {
        const OP: &str = "ListResourceRecordSets";
        let mut records = Vec::new();
        let mut start: Option<(String, RrType, Option<String>)> = None;
        loop {
            let (name, type_, identifier) = match start.take() {
                Some((name, type_, identifier)) => (Some(name), Some(type_), identifier),
                None => (None, None, None),
            };
            self.rate.acquire().await;
            let output = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(bare_zone_id(zone_id))
                .set_start_record_name(name)
                .set_start_record_type(type_)
                .set_start_record_identifier(identifier)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            records.extend(
                output
                    .resource_record_sets()
                    .iter()
                    .filter_map(record_set_from_sdk),
            );
            if !output.is_truncated {
                return Ok(records);
            }
            match (output.next_record_name, output.next_record_type) {
                (Some(name), Some(type_)) => {
                    start = Some((name, type_, output.next_record_identifier))
                }
                _ => return Ok(records),
            }
        }
    }

    async fn change_record_sets(&self, zone_id: &str, changes: &[Change]) -> AwsResult<ChangeInfo> {
        const OP: &str = "ChangeResourceRecordSets";
        let changes = changes
            .iter()
            .map(|change| change_to_sdk(change, OP))
            .collect::<AwsResult<Vec<_>>>()?;
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes))
            .build()
            .map_err(|err| invalid_input(SERVICE, OP, err))?;
        self.rate.acquire().await;
        let output = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(bare_zone_id(zone_id))
            .change_batch(batch)
            .send()
            .await
            .map_err(|err| {
                // InvalidChangeBatch lists what failed in `messages`, not in `message`.
                let details = match err.as_service_error() {
                    Some(ChangeResourceRecordSetsError::InvalidChangeBatch(batch)) => {
                        batch.messages().join("; ")
                    }
                    _ => String::new(),
                };
                let mut err = from_sdk(SERVICE, OP, err);
                if !details.is_empty() && !err.message.contains(&details) {
                    err.message = if err.message.is_empty() {
                        details
                    } else {
                        format!("{}: {details}", err.message)
                    };
                }
                err
            })?;
        output
            .change_info()
            .map(change_info)
            .ok_or_else(|| missing_field(SERVICE, OP, "ChangeInfo"))
    }

    async fn get_change(&self, change_id: &str) -> AwsResult<ChangeInfo> {
        const OP: &str = "GetChange";
        self.rate.acquire().await;
        let output = self
            .client
            .get_change()
            .id(bare_change_id(change_id))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        output
            .change_info()
            .map(change_info)
            .ok_or_else(|| missing_field(SERVICE, OP, "ChangeInfo"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_lose_their_prefixes_and_bare_ids_stay_as_they_are() {
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
        assert_eq!(bare_change_id("/change/C9"), "C9");
        assert_eq!(bare_change_id("C9"), "C9");
    }

    #[test]
    fn names_are_unescaped_and_lowercased() {
        assert_eq!(decode_name("\\052.Example.COM."), "*.example.com.");
        assert_eq!(decode_name("a\\100b.example.com."), "a@b.example.com.");
        assert_eq!(decode_name("plain.example.com."), "plain.example.com.");
        assert_eq!(decode_name("trailing\\05"), "trailing\\05");
    }

    #[test]
    fn records_round_trip_through_the_sdk_shape() {
        let txt = RecordSet {
            name: "shop.example.com.".into(),
            type_: RecordType::Txt,
            ttl: Some(300),
            values: vec!["\"heritage=cygni\"".into()],
            alias: None,
        };
        let alias = RecordSet {
            name: "shop.example.com.".into(),
            type_: RecordType::Aaaa,
            ttl: None,
            values: Vec::new(),
            alias: Some(AliasTarget {
                dns_name: "lb-1.eu-west-1.elb.amazonaws.com.".into(),
                hosted_zone_id: "Z32O12XQLNTSW2".into(),
                evaluate_target_health: true,
            }),
        };
        for record in [txt, alias] {
            let sdk = record_set_to_sdk(&record, "Test").expect("valid record");
            assert_eq!(record_set_from_sdk(&sdk), Some(record));
        }
    }

    #[test]
    fn record_types_the_trait_does_not_know_are_left_out() {
        let ns = ResourceRecordSet::builder()
            .name("example.com.")
            .r#type(RrType::Ns)
            .build()
            .expect("valid record");
        assert_eq!(record_set_from_sdk(&ns), None);
    }
}
