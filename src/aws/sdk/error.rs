//! The one mapping from the SDK's `SdkError<E>` to [`AwsError`]: service, operation, the error
//! code AWS returned (`ProvideErrorMetadata`), its message, and the [`AwsErrorKind`] the
//! controllers act on. Every adapter maps its failures here; service-specific refinements (an ECS
//! `ClientException` that means "no such task definition") are applied by the adapter on top.

use crate::aws::{AwsError, AwsErrorKind};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::error::Error as StdError;
use std::fmt::Display;

/// Codes AWS uses for throttling, across services (checked before the `LimitExceeded` and
/// `TooMany*` families, which also hold `RequestLimitExceeded` and `TooManyRequestsException`).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "BandwidthLimitExceeded",
    "SlowDown",
    "EC2ThrottledException",
    "ProvisionedThroughputExceededException",
];

/// Codes for a failure on AWS's side.
const SERVER_ERROR_CODES: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Codes for a request that did not complete in time on AWS's side.
const TIMEOUT_CODES: &[&str] = &["RequestTimeout", "RequestTimeoutException"];

/// Codes for bad or missing credentials and missing permissions.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthFailure",
    "NotAuthorized",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// Codes for an invalid request that are not in the `Invalid*` family.
const INVALID_REQUEST_CODES: &[&str] = &[
    "ValidationError",
    "ValidationException",
    "ClientException",
    "MissingParameter",
    "MalformedQueryString",
    "SerializationException",
    "OperationNotPermitted",
    "UnsupportedProtocol",
    "IncompatibleProtocols",
    "UnsupportedFeatureException",
    "PlatformUnknownException",
    "PlatformTaskDefinitionIncompatibilityException",
];

/// Codes for a resource that is busy or referenced, besides the `*InUse*` family.
const IN_USE_CODES: &[&str] = &[
    "ConcurrentModification",
    "ConcurrentModificationException",
    "ConflictException",
    "HostedZoneNotEmpty",
];

/// Classifies an AWS error code (`None` when the code says nothing the caller can act on).
pub fn kind_of_code(code: &str) -> Option<AwsErrorKind> {
    let kind = if THROTTLING_CODES.contains(&code) {
        AwsErrorKind::Throttling
    } else if SERVER_ERROR_CODES.contains(&code) {
        AwsErrorKind::ServerError
    } else if TIMEOUT_CODES.contains(&code) {
        AwsErrorKind::Timeout
    } else if ACCESS_DENIED_CODES.contains(&code) {
        AwsErrorKind::AccessDenied
    } else if code.contains("NotFound") || code.starts_with("NoSuch") {
        // ServiceNotFoundException, ClusterNotFoundException, TargetGroupNotFound, RuleNotFound,
        // ListenerNotFound, ResourceNotFoundException, NoSuchHostedZone, NoSuchChange, ...
        AwsErrorKind::NotFound
    } else if code.contains("AlreadyExists")
        || code.starts_with("Duplicate")
        || code == "PriorityInUse"
    {
        // DuplicateTargetGroupName, HostedZoneAlreadyExists, a listener rule priority taken.
        AwsErrorKind::AlreadyExists
    } else if code.contains("InUse") || IN_USE_CODES.contains(&code) {
        // ResourceInUse (ELBv2), ResourceInUseException (ACM, ECS).
        AwsErrorKind::InUse
    } else if code.contains("LimitExceeded")
        || code.starts_with("TooMany")
        || code.contains("QuotaExceeded")
    {
        AwsErrorKind::LimitExceeded
    } else if code.starts_with("Invalid") || INVALID_REQUEST_CODES.contains(&code) {
        // InvalidParameterException, InvalidChangeBatch, InvalidInput, InvalidArnException, ...
        AwsErrorKind::InvalidRequest
    } else {
        return None;
    };
    Some(kind)
}

/// Classifies an HTTP status that came without a code the caller can act on.
fn kind_of_status(status: u16) -> AwsErrorKind {
    match status {
        429 => AwsErrorKind::Throttling,
        403 => AwsErrorKind::AccessDenied,
        500..=599 => AwsErrorKind::ServerError,
        _ => AwsErrorKind::Other,
    }
}

/// Maps a failed SDK call of `service` (e.g. `ecs`) and `operation` (e.g. `CreateService`).
pub fn from_sdk<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let status = err
        .raw_response()
        .map(|response| response.status().as_u16());
    let (kind, code, message) = match &err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or_default().to_owned();
            let kind = kind_of_code(&code)
                .unwrap_or_else(|| status.map_or(AwsErrorKind::Other, kind_of_status));
            let message = match err.message() {
                Some(message) if !message.is_empty() => message.to_owned(),
                _ => error_chain(&err),
            };
            let code = if code.is_empty() {
                status.map_or_else(|| "Unknown".to_owned(), |status| format!("Http{status}"))
            } else {
                code
            };
            (kind, code, message)
        }
        SdkError::TimeoutError(_) => (
            AwsErrorKind::Timeout,
            "TimeoutError".to_owned(),
            error_chain(&err),
        ),
        SdkError::DispatchFailure(failure) => {
            // No response: the connection failed or timed out. A "user" failure (an invalid
            // request or endpoint) will not go away by retrying.
            let kind = if failure.is_user() {
                AwsErrorKind::InvalidRequest
            } else {
                AwsErrorKind::Timeout
            };
            (kind, "DispatchFailure".to_owned(), error_chain(&err))
        }
        SdkError::ResponseError(_) => (
            status.map_or(AwsErrorKind::Other, kind_of_status),
            "ResponseError".to_owned(),
            error_chain(&err),
        ),
        SdkError::ConstructionFailure(_) => (
            AwsErrorKind::InvalidRequest,
            "ConstructionFailure".to_owned(),
            error_chain(&err),
        ),
        _ => (AwsErrorKind::Other, "Unknown".to_owned(), error_chain(&err)),
    };
    AwsError::new(service, operation, kind, code, message)
}

/// The mapper for one call, for `map_err`: `.send().await.map_err(failed("ecs", "CreateService"))`.
pub fn failed<E>(
    service: &'static str,
    operation: &'static str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    move |err| from_sdk(service, operation, err)
}

/// An input the adapter could not build (a required field left empty): the request is invalid
/// and was never sent.
pub fn invalid_input(
    service: &'static str,
    operation: &'static str,
    err: impl Display,
) -> AwsError {
    AwsError::new(
        service,
        operation,
        AwsErrorKind::InvalidRequest,
        "InvalidInput",
        err.to_string(),
    )
}

/// An answer that lacks a field the SDK models as optional but AWS always sends.
pub fn missing_field(service: &'static str, operation: &'static str, field: &str) -> AwsError {
    AwsError::new(
        service,
        operation,
        AwsErrorKind::Other,
        "MissingField",
        format!("the response has no {field}"),
    )
}

/// The error and its sources, `: `-separated (the SDK's own `Display` says only "service error").
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::delete_service::DeleteServiceError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).expect("valid status"),
            SdkBody::empty(),
        )
    }

    fn service_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<DeleteServiceError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(DeleteServiceError::generic(meta), response(status))
    }

    fn kind(status: u16, code: &str) -> AwsErrorKind {
        from_sdk("ecs", "DeleteService", service_error(status, code, "m")).kind
    }

    #[test]
    fn a_service_error_keeps_service_operation_code_and_message() {
        let err = from_sdk(
            "ecs",
            "DeleteService",
            service_error(400, "ServiceNotFoundException", "Service not found."),
        );
        assert_eq!(
            err,
            AwsError::new(
                "ecs",
                "DeleteService",
                AwsErrorKind::NotFound,
                "ServiceNotFoundException",
                "Service not found."
            )
        );
    }

    #[test]
    fn throttling_codes_are_throttling_even_when_they_look_like_limits() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
            "RequestLimitExceeded",
            "PriorRequestNotComplete",
        ] {
            assert_eq!(kind(400, code), AwsErrorKind::Throttling, "{code}");
        }
    }

    #[test]
    fn not_found_codes_of_every_service_are_not_found() {
        for code in [
            "ServiceNotFoundException",
            "ClusterNotFoundException",
            "TargetGroupNotFound",
            "RuleNotFound",
            "ListenerNotFound",
            "LoadBalancerNotFound",
            "NoSuchHostedZone",
            "NoSuchChange",
            "ResourceNotFoundException",
        ] {
            assert_eq!(kind(400, code), AwsErrorKind::NotFound, "{code}");
        }
    }

    #[test]
    fn validation_codes_are_invalid_requests() {
        for code in [
            "ValidationError",
            "ValidationException",
            "InvalidParameterException",
            "InvalidParameterValue",
            "InvalidChangeBatch",
            "InvalidInput",
            "ClientException",
            "InvalidArnException",
        ] {
            assert_eq!(kind(400, code), AwsErrorKind::InvalidRequest, "{code}");
        }
    }

    #[test]
    fn credentials_and_permissions_are_access_denied() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "InvalidClientTokenId",
            "UnrecognizedClientException",
        ] {
            assert_eq!(kind(403, code), AwsErrorKind::AccessDenied, "{code}");
        }
    }

    #[test]
    fn resource_in_use_is_in_use_and_a_taken_priority_already_exists() {
        assert_eq!(kind(400, "ResourceInUse"), AwsErrorKind::InUse);
        assert_eq!(kind(400, "ResourceInUseException"), AwsErrorKind::InUse);
        assert_eq!(kind(400, "PriorityInUse"), AwsErrorKind::AlreadyExists);
        assert_eq!(
            kind(400, "DuplicateTargetGroupName"),
            AwsErrorKind::AlreadyExists
        );
    }

    #[test]
    fn quotas_are_limit_exceeded() {
        for code in [
            "LimitExceeded",
            "LimitExceededException",
            "TooManyTargetGroups",
            "TooManyRules",
            "TooManyTagsException",
        ] {
            assert_eq!(kind(400, code), AwsErrorKind::LimitExceeded, "{code}");
        }
    }

    #[test]
    fn server_codes_and_unknown_codes_with_5xx_are_server_errors() {
        assert_eq!(kind(500, "InternalFailure"), AwsErrorKind::ServerError);
        assert_eq!(kind(503, "ServiceUnavailable"), AwsErrorKind::ServerError);
        assert_eq!(kind(400, "ServerException"), AwsErrorKind::ServerError);
        assert_eq!(kind(502, "SomethingNew"), AwsErrorKind::ServerError);
        assert_eq!(kind(429, "SomethingNew"), AwsErrorKind::Throttling);
        assert_eq!(kind(400, "SomethingNew"), AwsErrorKind::Other);
    }

    #[test]
    fn a_service_error_without_code_is_named_after_its_status() {
        let meta = ErrorMetadata::builder().build();
        let err: SdkError<DeleteServiceError, HttpResponse> =
            SdkError::service_error(DeleteServiceError::generic(meta), response(503));
        let err = from_sdk("ecs", "DeleteService", err);
        assert_eq!(
            (err.kind, err.code.as_str()),
            (AwsErrorKind::ServerError, "Http503")
        );
        assert!(!err.message.is_empty());
    }

    #[test]
    fn a_timeout_is_a_timeout() {
        let err: SdkError<DeleteServiceError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        let err = from_sdk("ecs", "DeleteService", err);
        assert_eq!(
            (err.kind, err.code.as_str()),
            (AwsErrorKind::Timeout, "TimeoutError")
        );
    }

    #[test]
    fn a_connection_failure_is_a_timeout_and_a_bad_request_of_ours_is_invalid() {
        let io: SdkError<DeleteServiceError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        let err = from_sdk("ecs", "DeleteService", io);
        assert_eq!(
            (err.kind, err.code.as_str()),
            (AwsErrorKind::Timeout, "DispatchFailure")
        );
        assert!(
            err.message.contains("connection refused"),
            "{}",
            err.message
        );

        let timeout: SdkError<DeleteServiceError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("read timed out".into()));
        assert_eq!(
            from_sdk("ecs", "DeleteService", timeout).kind,
            AwsErrorKind::Timeout
        );

        let user: SdkError<DeleteServiceError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::user("invalid URI".into()));
        assert_eq!(
            from_sdk("ecs", "DeleteService", user).kind,
            AwsErrorKind::InvalidRequest
        );
    }

    #[test]
    fn an_unparseable_5xx_response_is_a_server_error() {
        let err: SdkError<DeleteServiceError, HttpResponse> =
            SdkError::response_error("truncated body", response(502));
        let err = from_sdk("ecs", "DeleteService", err);
        assert_eq!(
            (err.kind, err.code.as_str()),
            (AwsErrorKind::ServerError, "ResponseError")
        );
    }

    #[test]
    fn a_request_that_could_not_be_built_is_invalid() {
        let err: SdkError<DeleteServiceError, HttpResponse> =
            SdkError::construction_failure("missing cluster");
        let err = from_sdk("ecs", "DeleteService", err);
        assert_eq!(
            (err.kind, err.code.as_str()),
            (AwsErrorKind::InvalidRequest, "ConstructionFailure")
        );
        assert!(err.message.contains("missing cluster"), "{}", err.message);
    }

    #[test]
    fn failed_builds_the_same_error_for_map_err() {
        let err = failed("ecs", "DeleteService")(service_error(400, "ClientException", "bad"));
        assert_eq!(err.label(), "ecs_invalid_request");
    }
}
