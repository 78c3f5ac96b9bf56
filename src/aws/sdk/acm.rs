//! [`Acm`] over the AWS SDK: certificates requested with `ValidationMethod=DNS` and an
//! idempotency token, described with the CNAME each name is validated by (its
//! `DomainValidationOptions`' `ResourceRecord`) and their expiry, listed by main name, their tags,
//! and their deletion.
//!
//! Not found: `ResourceNotFoundException` is `None` on describe and done on delete.

use super::RateLimit;
use super::error::{failed, invalid_input, missing_field};
use crate::aws::acm::{
    Acm, Certificate, CertificateRequest, CertificateStatus, CertificateSummary, DomainValidation,
    ValidationRecord,
};
use crate::aws::{AwsResult, Tag};
use async_trait::async_trait;
use aws_sdk_acm::Client;
use aws_sdk_acm::types::{self as sdk, CertificateDetail, ValidationMethod};

/// Service name in errors.
const SERVICE: &str = "acm";
/// Default client-side rate for ACM (DescribeCertificate allows 10 requests per second).
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 10;

/// AWS Certificate Manager through the SDK, with a client-side rate limit.
#[derive(Clone, Debug)]
pub struct SdkAcm {
    client: Client,
    rate: RateLimit,
}

impl SdkAcm {
    /// The adapter with the default rate ([`DEFAULT_REQUESTS_PER_SECOND`]).
    pub fn new(client: Client) -> Self {
        Self::with_rate_limit(client, RateLimit::per_second(DEFAULT_REQUESTS_PER_SECOND))
    }

    /// The adapter with the given rate limit.
    pub fn with_rate_limit(client: Client, rate: RateLimit) -> Self {
        SdkAcm { client, rate }
    }
}

fn status_from_sdk(status: Option<&sdk::CertificateStatus>) -> CertificateStatus {
    match status {
        // A certificate has a status from the moment it is requested; none at all is that moment.
        None | Some(sdk::CertificateStatus::PendingValidation) => {
            CertificateStatus::PendingValidation
        }
        Some(sdk::CertificateStatus::Issued) => CertificateStatus::Issued,
        Some(sdk::CertificateStatus::Inactive) => CertificateStatus::Inactive,
        Some(sdk::CertificateStatus::Expired) => CertificateStatus::Expired,
        Some(sdk::CertificateStatus::ValidationTimedOut) => CertificateStatus::ValidationTimedOut,
        Some(sdk::CertificateStatus::Revoked) => CertificateStatus::Revoked,
        // Failed, and any status newer than this SDK: unusable either way.
        Some(_) => CertificateStatus::Failed,
    }
}

fn validation_from_sdk(validation: &sdk::DomainValidation) -> DomainValidation {
    DomainValidation {
        domain_name: validation.domain_name.clone(),
        record: validation.resource_record().map(|record| ValidationRecord {
            name: record.name.clone(),
            value: record.value.clone(),
        }),
        status: validation
            .validation_status()
            .map_or("PENDING_VALIDATION", |status| status.as_str())
            .to_owned(),
    }
}

fn certificate_from_sdk(detail: &CertificateDetail) -> Certificate {
    let domain_name = detail.domain_name().unwrap_or_default().to_owned();
    // The main name first (ACM puts it there; an emulator may not), then the others in order.
    let mut names = vec![domain_name.clone()];
    names.extend(
        detail
            .subject_alternative_names()
            .iter()
            .filter(|name| **name != domain_name)
            .cloned(),
    );
    Certificate {
        arn: detail.certificate_arn().unwrap_or_default().to_owned(),
        domain_name,
        subject_alternative_names: names,
        status: status_from_sdk(detail.status()),
        validations: detail
            .domain_validation_options()
            .iter()
            .map(validation_from_sdk)
            .collect(),
        in_use_by: detail.in_use_by().to_vec(),
        not_after: detail
            .not_after()
            .and_then(|at| jiff::Timestamp::new(at.secs(), at.subsec_nanos() as i32).ok()),
    }
}

#[async_trait]
impl Acm for SdkAcm {
    async fn request_certificate(&self, request: &CertificateRequest) -> AwsResult<String> {
        const OP: &str = "RequestCertificate";
        let tags = request
            .tags
            .iter()
            .map(|tag| {
                sdk::Tag::builder()
                    .key(&tag.key)
                    .value(&tag.value)
                    .build()
                    .map_err(|err| invalid_input(SERVICE, OP, err))
            })
            .collect::<AwsResult<Vec<_>>>()?;
        // ACM adds the main name to the alternative names itself; listing it again is harmless.
        let alternative_names =
            Some(request.subject_alternative_names.clone()).filter(|names| !names.is_empty());
        self.rate.acquire().await;
        let output = self
            .client
            .request_certificate()
            .domain_name(&request.domain_name)
            .validation_method(ValidationMethod::Dns)
            .set_subject_alternative_names(alternative_names)
            .idempotency_token(&request.idempotency_token)
            .set_tags(Some(tags).filter(|tags| !tags.is_empty()))
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        output
            .certificate_arn
            .ok_or_else(|| missing_field(SERVICE, OP, "CertificateArn"))
    }

    async fn describe_certificate(&self, arn: &str) -> AwsResult<Option<Certificate>> {
        const OP: &str = "DescribeCertificate";
        self.rate.acquire().await;
        match self
            .client
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(output) => Ok(output.certificate().map(certificate_from_sdk)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn list_certificates(&self, domain_name: &str) -> AwsResult<Vec<CertificateSummary>> {
        const OP: &str = "ListCertificates";
        // Without a status filter ListCertificates answers only some statuses; ask for all.
        let statuses = [
            sdk::CertificateStatus::PendingValidation,
            sdk::CertificateStatus::Issued,
            sdk::CertificateStatus::Inactive,
            sdk::CertificateStatus::Expired,
            sdk::CertificateStatus::ValidationTimedOut,
            sdk::CertificateStatus::Revoked,
            sdk::CertificateStatus::Failed,
        ];
        let wanted = domain_name.to_ascii_lowercase();
        let mut found = Vec::new();
        let mut token = None;
        loop {
            self.rate.acquire().await;
            let output = self
                .client
                .list_certificates()
                .set_certificate_statuses(Some(statuses.to_vec()))
                .set_next_token(token)
                .send()
                .await
                .map_err(failed(SERVICE, OP))?;
            found.extend(
                output
                    .certificate_summary_list()
                    .iter()
                    .filter(|c| {
                        c.domain_name()
                            .is_some_and(|name| name.eq_ignore_ascii_case(&wanted))
                    })
                    .map(|c| CertificateSummary {
                        arn: c.certificate_arn().unwrap_or_default().to_owned(),
                        domain_name: wanted.clone(),
                        status: status_from_sdk(c.status()),
                    }),
            );
            token = output.next_token;
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    async fn list_tags(&self, arn: &str) -> AwsResult<Vec<Tag>> {
        const OP: &str = "ListTagsForCertificate";
        self.rate.acquire().await;
        let output = self
            .client
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))?;
        Ok(output
            .tags()
            .iter()
            .map(|tag| Tag::new(&tag.key, tag.value().unwrap_or_default()))
            .collect())
    }

    async fn delete_certificate(&self, arn: &str) -> AwsResult<()> {
        const OP: &str = "DeleteCertificate";
        self.rate.acquire().await;
        match self
            .client
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(failed(SERVICE, OP))
        {
            Ok(_) => Ok(()),
            Err(err) if err.is_not_found() => Ok(()),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_acm::types::{DomainStatus, RecordType, ResourceRecord};

    #[test]
    fn a_described_certificate_lists_its_main_name_first_and_its_validation_cnames() {
        let detail = CertificateDetail::builder()
            .certificate_arn("arn:aws:acm:eu-west-1:123456789012:certificate/1")
            .domain_name("shop.example.com")
            .subject_alternative_names("www.shop.example.com")
            .subject_alternative_names("shop.example.com")
            .status(sdk::CertificateStatus::PendingValidation)
            .domain_validation_options(
                sdk::DomainValidation::builder()
                    .domain_name("shop.example.com")
                    .validation_status(DomainStatus::PendingValidation)
                    .resource_record(
                        ResourceRecord::builder()
                            .name("_x1.shop.example.com.")
                            .r#type(RecordType::Cname)
                            .value("_x2.acm-validations.aws.")
                            .build()
                            .expect("valid record"),
                    )
                    .build()
                    .expect("valid validation"),
            )
            .domain_validation_options(
                sdk::DomainValidation::builder()
                    .domain_name("www.shop.example.com")
                    .build()
                    .expect("valid validation"),
            )
            .build();
        let certificate = certificate_from_sdk(&detail);
        assert_eq!(
            certificate.subject_alternative_names,
            ["shop.example.com", "www.shop.example.com"]
        );
        assert_eq!(certificate.status, CertificateStatus::PendingValidation);
        assert_eq!(
            certificate.validations,
            [
                DomainValidation {
                    domain_name: "shop.example.com".into(),
                    record: Some(ValidationRecord {
                        name: "_x1.shop.example.com.".into(),
                        value: "_x2.acm-validations.aws.".into(),
                    }),
                    status: "PENDING_VALIDATION".into(),
                },
                DomainValidation {
                    domain_name: "www.shop.example.com".into(),
                    record: None,
                    status: "PENDING_VALIDATION".into(),
                },
            ]
        );
    }

    #[test]
    fn every_acm_status_maps_to_its_namesake() {
        for status in [
            CertificateStatus::PendingValidation,
            CertificateStatus::Issued,
            CertificateStatus::Inactive,
            CertificateStatus::Expired,
            CertificateStatus::ValidationTimedOut,
            CertificateStatus::Revoked,
            CertificateStatus::Failed,
        ] {
            let sdk_status = sdk::CertificateStatus::from(status.as_str());
            assert_eq!(status_from_sdk(Some(&sdk_status)), status);
        }
    }
}
