//! The `Domain` resource: a hostname (and aliases) for one App, with its Route53 records and ACM
//! certificate, and the status the Domain controller reports.

// kube's `printcolumn(...)` attributes repeat the same keys by design; clippy reads that as a mistake.
#![allow(clippy::duplicated_attributes)]

use super::{DeletionPolicy, FQDN_PATTERN};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A custom domain for an App: alias records in Route53 pointing at the App's load balancer, and a
/// TLS certificate from ACM (requested and DNS-validated by the operator, or an existing one).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "cygni.io",
    version = "v1alpha1",
    kind = "Domain",
    namespaced,
    status = "DomainStatus",
    shortname = "cxdomain",
    category = "cygni",
    doc = "A hostname for an App, with Route53 records and an ACM certificate.",
    printcolumn(name = "Hostname", type_ = "string", json_path = ".spec.hostname"),
    printcolumn(name = "App", type_ = "string", json_path = ".spec.appRef.name"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Certificate",
        type_ = "string",
        json_path = ".status.certificate.status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.aliases.exists(a, a == self.hostname)")
    .message("aliases must not repeat the hostname").field_path(".aliases"))]
pub struct DomainSpec {
    /// The hostname, e.g. `shop.example.com`. Immutable: DNS records and the certificate are made for
    /// it, so a different hostname is a different Domain.
    #[schemars(regex(pattern = FQDN_PATTERN), length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("hostname is immutable; create a new Domain for another hostname"))]
    pub hostname: String,
    /// More hostnames served by the same App and covered by the same certificate.
    #[serde(default)]
    #[schemars(length(max = 9), inner(regex(pattern = FQDN_PATTERN), length(max = 253)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub aliases: Vec<String>,
    /// The App (same namespace) the hostname points at.
    pub app_ref: AppRef,
    /// The Route53 public hosted zone that holds the records. Omit to use the allowed zone whose
    /// name is the longest suffix of the hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone: Option<HostedZoneRef>,
    /// The TLS certificate. Omit to have the operator request one from ACM and validate it by DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateSpec>,
    /// TTL in seconds of the records that are not aliases (validation CNAMEs, ownership TXT).
    #[serde(default = "default_ttl")]
    #[schemars(range(min = 30, max = 86400))]
    pub ttl: i64,
    /// What happens in AWS when the Domain is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_ttl() -> i64 {
    300
}

/// Reference to an App in the Domain's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppRef {
    /// Name of the App.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A Route53 hosted zone, by ID or by name.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) || has(self.name)").message("set id, name or both"))]
pub struct HostedZoneRef {
    /// Hosted zone ID, e.g. `Z0123456789ABCDEFGHIJ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^Z[A-Z0-9]{1,32}$"), length(max = 33))]
    pub id: Option<String>,
    /// Zone name, e.g. `example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = FQDN_PATTERN), length(max = 253))]
    pub name: Option<String>,
}

/// Which certificate serves the hostname.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// ARN of an existing ACM certificate that covers the hostname and aliases. The operator attaches
    /// it to the listener and never deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$"),
        length(max = 2048)
    )]
    pub arn: Option<String>,
}

/// What the Domain controller observed in AWS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (the hostnames resolve to the App's load balancer with an issued certificate
    /// attached, and the App may route them) and Progressing (the operator is still working
    /// towards that).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Hosted zone that holds the records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    /// Name of that hosted zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_name: Option<String>,
    /// The certificate and its ACM state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateStatus>,
    /// Certificates the operator requested for an earlier set of hostnames, removed from the
    /// listener and deleted once the current one serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_certificates: Vec<String>,
    /// The hostnames the App may route: those the Domain served when it was last Ready (less
    /// any removed since). While a changed Domain converges again, its App keeps routing these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routable_hostnames: Vec<String>,
    /// The HTTPS listener the certificate is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_arn: Option<String>,
    /// DNS records ACM asked for to validate the certificate.
    #[serde(default)]
    pub validation_records: Vec<DnsRecord>,
    /// Records the operator wrote and owns: ownership TXT records, validation CNAMEs, alias
    /// A/AAAA records.
    #[serde(default)]
    pub records: Vec<DnsRecord>,
    /// The last Route53 change batch that carried this Domain's records, and whether it is
    /// INSYNC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeStatus>,
}

/// A Route53 change batch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeStatus {
    /// Change ID.
    pub id: String,
    /// `PENDING` or `INSYNC`.
    pub status: String,
}

/// The certificate as ACM reports it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// Certificate ARN.
    pub arn: String,
    /// ACM status: `PENDING_VALIDATION`, `ISSUED`, `FAILED`, ...
    pub status: String,
    /// Whether the operator requested it (and so deletes it with the Domain).
    #[serde(default)]
    pub managed: bool,
    /// End of validity (RFC 3339), once issued. ACM renews the certificates the operator
    /// requested while their validation records stay in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// Whether it is attached to the listener.
    #[serde(default)]
    pub attached: bool,
}

/// One DNS record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecord {
    /// Record name.
    pub name: String,
    /// Record type (`A`, `AAAA`, `CNAME`, `TXT`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Record value; for aliases, the target DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
