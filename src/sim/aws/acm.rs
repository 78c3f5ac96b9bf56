//! Simulated AWS Certificate Manager: DNS-validated certificates whose validation CNAMEs are
//! deterministic per domain, issued only once every name's CNAME resolves in a simulated public
//! hosted zone, with RequestCertificate's idempotency token and DeleteCertificate's in-use check.

use super::AwsSim;
use super::config::SimService;
use super::world::{Fail, SimResult, World, after};
use crate::aws::acm::{
    Acm, Certificate, CertificateRequest, CertificateStatus, CertificateSummary, DomainValidation,
    ValidationRecord,
};
use crate::aws::route53::RecordType;
use crate::aws::{AwsErrorKind, AwsResult, Tag};
use async_trait::async_trait;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// RequestCertificate: "Idempotency tokens time out after one hour."
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(60 * 60);
/// ACM quotas: domain names per certificate (default 10).
const MAX_NAMES_PER_CERTIFICATE: usize = 10;
/// Validity of an ACM certificate: 395 days from issuance ("ACM certificates are valid for 13
/// months (395 days)").
const VALIDITY: Duration = Duration::from_secs(395 * 24 * 60 * 60);

/// A certificate.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct CertificateRecord {
    pub arn: String,
    /// All names, the main one first.
    pub names: Vec<String>,
    pub status: CertificateStatus,
    pub requested_at: Timestamp,
    /// When the validation records appear in DescribeCertificate.
    pub records_at: Timestamp,
    /// Per name: when its validation CNAME was first seen.
    pub validated: BTreeMap<String, Timestamp>,
    pub issue_at: Option<Timestamp>,
    pub tags: Vec<Tag>,
    pub token: String,
    /// Imported certificates (the listeners' defaults) have no validation.
    pub imported: bool,
}

/// ACM state.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct AcmState {
    pub certificates: Vec<CertificateRecord>,
}

/// 64-bit FNV-1a.
fn fnv(data: &str, seed: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for byte in data.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The validation CNAME of a name: `_<32 hex>.<name>.` -> `_<32 hex>.<10 letters>.acm-validations.aws.`,
/// the same for every certificate of the account that covers the name (a wildcard validates
/// through its base name, as ACM does).
pub(crate) fn validation_record(account: &str, name: &str) -> ValidationRecord {
    let base = name.trim_start_matches("*.").to_ascii_lowercase();
    let key = format!("{account}/{base}");
    let record_hash = format!("{:016x}{:016x}", fnv(&key, 1), fnv(&key, 2));
    let value_hash = format!("{:016x}{:016x}", fnv(&key, 3), fnv(&key, 4));
    let mut letters = fnv(&key, 5);
    let tag: String = (0..10)
        .map(|_| {
            let c = (b'a' + (letters % 26) as u8) as char;
            letters /= 26;
            c
        })
        .collect();
    ValidationRecord {
        name: format!("_{record_hash}.{base}."),
        value: format!("_{value_hash}.{tag}.acm-validations.aws."),
    }
}

/// RequestCertificate, DomainName pattern: `^(\*\.)?(((?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\.)+((?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])$`.
fn valid_domain(name: &str) -> bool {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = bare.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|l| l.len() >= 2)
}

fn validation_exception(message: impl Into<String>) -> Fail {
    Fail::invalid("ValidationException", message)
}

impl World {
    /// The status of a certificate, `None` when unknown.
    pub fn acm_status(&self, arn: &str) -> Option<CertificateStatus> {
        self.acm
            .certificates
            .iter()
            .find(|c| c.arn == arn)
            .map(|c| c.status)
    }

    /// An imported, issued certificate (ImportCertificate), used as a listener's default.
    pub fn acm_import_certificate(&mut self, domain: &str) -> String {
        let arn = format!("{}:certificate/{}", self.arn_prefix("acm"), self.ids.uuid());
        self.acm.certificates.push(CertificateRecord {
            arn: arn.clone(),
            names: vec![domain.to_string()],
            status: CertificateStatus::Issued,
            requested_at: self.now,
            records_at: self.now,
            validated: BTreeMap::new(),
            issue_at: Some(self.now),
            tags: Vec::new(),
            token: String::new(),
            imported: true,
        });
        arn
    }

    pub fn acm_request_certificate(&mut self, request: &CertificateRequest) -> SimResult<String> {
        // RequestCertificate, IdempotencyToken: 1-32 characters matching \w+.
        let token = &request.idempotency_token;
        if !token.is_empty()
            && (token.len() > 32 || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(validation_exception(format!(
                "1 validation error detected: Value '{token}' at 'idempotencyToken' failed to satisfy constraint: Member must satisfy regular expression pattern: \\w+"
            )));
        }
        let mut names: Vec<String> = vec![request.domain_name.to_ascii_lowercase()];
        for san in &request.subject_alternative_names {
            let san = san.to_ascii_lowercase();
            if !names.contains(&san) {
                names.push(san);
            }
        }
        for name in &names {
            if !valid_domain(name) {
                return Err(validation_exception(format!(
                    "1 validation error detected: Value '{name}' at 'domainName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(\\*\\.)?(((?!-)[A-Za-z0-9-]{{0,62}}[A-Za-z0-9])\\.)+((?!-)[A-Za-z0-9-]{{1,62}}[A-Za-z0-9])$"
                )));
            }
        }
        if names.len() > MAX_NAMES_PER_CERTIFICATE {
            return Err(Fail::new(
                AwsErrorKind::LimitExceeded,
                "LimitExceededException",
                format!(
                    "Cannot request a certificate for more than {MAX_NAMES_PER_CERTIFICATE} domain names."
                ),
            ));
        }
        if request.tags.len() > 50 {
            return Err(Fail::new(
                AwsErrorKind::LimitExceeded,
                "TooManyTagsException",
                "the request contains too many tags (at most 50)",
            ));
        }
        // RequestCertificate: the same token within an hour for the same names returns the
        // certificate the first request made.
        if !token.is_empty()
            && let Some(existing) = self.acm.certificates.iter().find(|c| {
                c.token == *token
                    && c.names == names
                    && after(c.requested_at, IDEMPOTENCY_WINDOW) > self.now
            })
        {
            return Ok(existing.arn.clone());
        }
        let arn = format!("{}:certificate/{}", self.arn_prefix("acm"), self.ids.uuid());
        self.acm.certificates.push(CertificateRecord {
            arn: arn.clone(),
            names,
            status: CertificateStatus::PendingValidation,
            requested_at: self.now,
            records_at: after(self.now, self.timings.acm_validation_records),
            validated: BTreeMap::new(),
            issue_at: None,
            tags: request.tags.clone(),
            token: token.clone(),
            imported: false,
        });
        Ok(arn)
    }

    fn check_arn(&self, arn: &str) -> SimResult<()> {
        // InvalidArnException: "The requested Amazon Resource Name (ARN) does not refer to an
        // existing resource" when malformed.
        if !arn.starts_with("arn:aws:acm:") || !arn.contains(":certificate/") {
            return Err(Fail::invalid(
                "InvalidArnException",
                format!("String '{arn}' is not a valid ARN"),
            ));
        }
        Ok(())
    }

    pub fn acm_describe_certificate(&self, arn: &str) -> SimResult<Option<Certificate>> {
        self.check_arn(arn)?;
        let Some(cert) = self.acm.certificates.iter().find(|c| c.arn == arn) else {
            return Ok(None);
        };
        let records_ready = self.now >= cert.records_at;
        let validations = if cert.imported {
            Vec::new()
        } else {
            cert.names
                .iter()
                .map(|name| DomainValidation {
                    domain_name: name.clone(),
                    record: records_ready.then(|| validation_record(&self.account, name)),
                    status: if cert.validated.contains_key(name) {
                        "SUCCESS"
                    } else if cert.status == CertificateStatus::ValidationTimedOut {
                        "FAILED"
                    } else {
                        "PENDING_VALIDATION"
                    }
                    .to_string(),
                })
                .collect()
        };
        Ok(Some(Certificate {
            arn: cert.arn.clone(),
            domain_name: cert.names[0].clone(),
            subject_alternative_names: cert.names.clone(),
            status: cert.status,
            validations,
            in_use_by: self.elb.certificate_users(&cert.arn),
            not_after: (cert.status == CertificateStatus::Issued)
                .then(|| cert.issue_at.map(|at| after(at, VALIDITY)))
                .flatten(),
        }))
    }

    /// ListCertificates, every status, for one main domain name.
    pub fn acm_list_certificates(&self, domain_name: &str) -> SimResult<Vec<CertificateSummary>> {
        let name = domain_name.to_ascii_lowercase();
        Ok(self
            .acm
            .certificates
            .iter()
            .filter(|c| c.names[0] == name)
            .map(|c| CertificateSummary {
                arn: c.arn.clone(),
                domain_name: c.names[0].clone(),
                status: c.status,
            })
            .collect())
    }

    pub fn acm_list_tags(&self, arn: &str) -> SimResult<Vec<Tag>> {
        self.check_arn(arn)?;
        self.acm
            .certificates
            .iter()
            .find(|c| c.arn == arn)
            .map(|c| c.tags.clone())
            .ok_or_else(|| not_found(arn))
    }

    pub fn acm_delete_certificate(&mut self, arn: &str) -> SimResult<()> {
        self.check_arn(arn)?;
        if !self.acm.certificates.iter().any(|c| c.arn == arn) {
            return Ok(());
        }
        // DeleteCertificate: "You cannot delete an ACM certificate that is being used by another
        // AWS service" (ResourceInUseException).
        let users = self.elb.certificate_users(arn);
        if !users.is_empty() {
            return Err(Fail::new(
                AwsErrorKind::InUse,
                "ResourceInUseException",
                format!("Certificate {arn} in account {} is in use.", self.account),
            ));
        }
        self.acm.certificates.retain(|c| c.arn != arn);
        Ok(())
    }

    /// DNS validation: a name is validated once its CNAME resolves (INSYNC in a public zone) with
    /// the expected value; the certificate is issued `acm_issuance` after its last name.
    pub fn acm_progress(&mut self) -> bool {
        let now = self.now;
        let mut changed = false;
        let account = self.account.clone();
        let issuance = self.timings.acm_issuance;
        let timeout = self.timings.acm_validation_timeout;
        for cert in &mut self.acm.certificates {
            if cert.status != CertificateStatus::PendingValidation || now < cert.records_at {
                continue;
            }
            for name in &cert.names {
                if cert.validated.contains_key(name) {
                    continue;
                }
                let expected = validation_record(&account, name);
                let found = self
                    .dns
                    .resolve(&expected.name, RecordType::Cname, now)
                    .is_some_and(|r| {
                        r.values
                            .iter()
                            .any(|v| super::route53::normalise(v) == expected.value)
                    });
                if found {
                    cert.validated.insert(name.clone(), now);
                    changed = true;
                }
            }
            if cert.issue_at.is_none() && cert.names.iter().all(|n| cert.validated.contains_key(n))
            {
                cert.issue_at = Some(after(now, issuance));
                changed = true;
            }
            if cert.issue_at.is_some_and(|t| t <= now) {
                cert.status = CertificateStatus::Issued;
                changed = true;
            } else if after(cert.requested_at, timeout) <= now {
                // "If ACM is unable to validate within 72 hours, the status becomes
                // VALIDATION_TIMED_OUT."
                cert.status = CertificateStatus::ValidationTimedOut;
                changed = true;
            }
        }
        changed
    }

    /// Times at which a certificate's records appear, it issues, or it times out.
    pub fn acm_events(&self, out: &mut Vec<Timestamp>) {
        for cert in &self.acm.certificates {
            if cert.status != CertificateStatus::PendingValidation {
                continue;
            }
            out.push(cert.records_at);
            out.extend(cert.issue_at);
            out.push(after(
                cert.requested_at,
                self.timings.acm_validation_timeout,
            ));
        }
    }
}

fn not_found(arn: &str) -> Fail {
    Fail::not_found(
        "ResourceNotFoundException",
        format!("Could not find certificate {arn}."),
    )
}

/// The [`Acm`] trait over the shared world.
pub(crate) struct SimAcm {
    pub sim: AwsSim,
}

const ACM: SimService = SimService::Acm;

#[async_trait]
impl Acm for SimAcm {
    async fn request_certificate(&self, request: &CertificateRequest) -> AwsResult<String> {
        self.sim
            .call(ACM, "RequestCertificate", true, |w| {
                w.acm_request_certificate(request)
            })
            .await
    }

    async fn describe_certificate(&self, arn: &str) -> AwsResult<Option<Certificate>> {
        self.sim
            .call(ACM, "DescribeCertificate", false, |w| {
                w.acm_describe_certificate(arn)
            })
            .await
    }

    async fn list_certificates(&self, domain_name: &str) -> AwsResult<Vec<CertificateSummary>> {
        self.sim
            .call(ACM, "ListCertificates", false, |w| {
                w.acm_list_certificates(domain_name)
            })
            .await
    }

    async fn list_tags(&self, arn: &str) -> AwsResult<Vec<Tag>> {
        self.sim
            .call(ACM, "ListTagsForCertificate", false, |w| {
                w.acm_list_tags(arn)
            })
            .await
    }

    async fn delete_certificate(&self, arn: &str) -> AwsResult<()> {
        self.sim
            .call(ACM, "DeleteCertificate", true, |w| {
                w.acm_delete_certificate(arn)
            })
            .await
    }
}
