//! The narrow AWS Certificate Manager interface the Domain controller uses: DNS-validated
//! certificates, requested idempotently and described until issued.

use super::{AwsResult, Tag};
use async_trait::async_trait;

/// Input of RequestCertificate (always `ValidationMethod=DNS`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateRequest {
    /// Main domain name.
    pub domain_name: String,
    /// Subject alternative names besides the main one.
    pub subject_alternative_names: Vec<String>,
    /// Idempotency token (1-32 word characters): the same token within an hour returns the same ARN.
    pub idempotency_token: String,
    /// Tags.
    pub tags: Vec<Tag>,
}

/// ACM certificate status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CertificateStatus {
    /// Waiting for the validation records.
    PendingValidation,
    /// Issued.
    Issued,
    /// Inactive.
    Inactive,
    /// Expired.
    Expired,
    /// Validation did not complete within 72 hours.
    ValidationTimedOut,
    /// Revoked.
    Revoked,
    /// Failed.
    Failed,
}

impl CertificateStatus {
    /// The status as ACM spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::PendingValidation => "PENDING_VALIDATION",
            CertificateStatus::Issued => "ISSUED",
            CertificateStatus::Inactive => "INACTIVE",
            CertificateStatus::Expired => "EXPIRED",
            CertificateStatus::ValidationTimedOut => "VALIDATION_TIMED_OUT",
            CertificateStatus::Revoked => "REVOKED",
            CertificateStatus::Failed => "FAILED",
        }
    }
}

/// The CNAME ACM asks for to validate one domain name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidationRecord {
    /// Record name, e.g. `_x1.shop.example.com.`.
    pub name: String,
    /// Record value, e.g. `_x2.acm-validations.aws.`.
    pub value: String,
}

/// Validation of one domain name of a certificate.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DomainValidation {
    /// Domain name.
    pub domain_name: String,
    /// The CNAME to create; ACM fills it in shortly after the request.
    pub record: Option<ValidationRecord>,
    /// `PENDING_VALIDATION`, `SUCCESS` or `FAILED`.
    pub status: String,
}

/// A certificate as DescribeCertificate returns it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Certificate {
    /// ARN.
    pub arn: String,
    /// Main domain name.
    pub domain_name: String,
    /// All names it covers, the main one first.
    pub subject_alternative_names: Vec<String>,
    /// Status.
    pub status: CertificateStatus,
    /// Per-name validation.
    pub validations: Vec<DomainValidation>,
    /// ARNs of the resources (load balancers) that use it.
    pub in_use_by: Vec<String>,
    /// End of validity (`NotAfter`); absent until issued.
    pub not_after: Option<jiff::Timestamp>,
}

/// One certificate as ListCertificates summarises it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateSummary {
    /// ARN.
    pub arn: String,
    /// Main domain name.
    pub domain_name: String,
    /// Status.
    pub status: CertificateStatus,
}

/// AWS Certificate Manager, as far as the operator uses it.
#[async_trait]
pub trait Acm: Send + Sync {
    /// RequestCertificate with DNS validation; returns the ARN.
    async fn request_certificate(&self, request: &CertificateRequest) -> AwsResult<String>;
    /// DescribeCertificate; `None` when the ARN is unknown.
    async fn describe_certificate(&self, arn: &str) -> AwsResult<Option<Certificate>>;
    /// ListCertificates (all pages, every status) for certificates whose main name is
    /// `domain_name`.
    async fn list_certificates(&self, domain_name: &str) -> AwsResult<Vec<CertificateSummary>>;
    /// ListTagsForCertificate.
    async fn list_tags(&self, arn: &str) -> AwsResult<Vec<Tag>>;
    /// DeleteCertificate; not found counts as done; `InUse` while a listener uses it.
    async fn delete_certificate(&self, arn: &str) -> AwsResult<()>;
}
