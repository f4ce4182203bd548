//! The one error classifier: turns SDK errors into `Error::Aws` (operation,
//! resource, message, request ID) and answers "is this not-found / a
//! dependency violation / throttling / already there" by error code, so no
//! other module matches on error strings.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

/// The AWS error code of a service error, if the call got that far.
pub fn code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// Codes meaning "the thing is not there" across EC2, IAM, S3 and SSM.
pub fn is_not_found_code(code: &str) -> bool {
    code == "NoSuchEntity"
        || code == "NoSuchBucket"
        || code == "ParameterNotFound"
        || code == "InvalidInstanceId"
        || code == "NotFound"
        || (code.starts_with("Invalid") && code.ends_with(".NotFound"))
        || code.ends_with("NotFound") && !code.starts_with("Invalid")
}

/// Whether the call failed because its resource is not there — also as
/// Auto Scaling says it, a generic `ValidationError` "... not found".
pub fn is_gone<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    let message = match err {
        SdkError::ServiceError(se) => se.err().message().unwrap_or_default(),
        _ => "",
    };
    code(err).is_some_and(|c| is_not_found_code(c) || (c == "ValidationError" && message.contains("not found")))
}

pub fn is_dependency_violation_code(code: &str) -> bool {
    code == "DependencyViolation"
        || code == "DeleteConflict"
        || code == "BucketNotEmpty"
        || code == "InvalidIPAddress.InUse"
}

pub fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "SlowDown"
            | "TooManyRequestsException"
            | "RequestThrottled"
    )
}

pub fn is_already_exists_code(code: &str) -> bool {
    matches!(
        code,
        "EntityAlreadyExists"
            | "BucketAlreadyOwnedByYou"
            | "InvalidPermission.Duplicate"
            | "RouteAlreadyExists"
            | "Resource.AlreadyAssociated"
    )
}

/// Instance profile not yet visible to EC2 after IAM created it.
pub fn is_propagation_code(code: &str, message: &str) -> bool {
    code == "InvalidParameterValue" && message.contains("iamInstanceProfile")
}

pub fn is_not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    code(err).is_some_and(is_not_found_code)
}

/// Converts an SDK error into our error, naming the call and the resource.
pub fn aws_error<E, R>(operation: &str, resource: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = code(&err).map(str::to_owned);
    let (message, request_id) = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let msg = match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => DisplayErrorContext(&err).to_string(),
            };
            (msg, e.meta().extra("aws_request_id").map(str::to_owned))
        }
        _ => {
            let chain = cause_chain(&err);
            if chain.contains("credentials") {
                (format!("no usable AWS credentials (set --profile or AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`): {chain}"), None)
            } else if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
                (format!("cannot reach the AWS endpoint: {chain}"), None)
            } else {
                (chain, None)
            }
        }
    };
    Error::Aws { operation: operation.to_owned(), resource: resource.to_owned(), code, message, request_id }
}

/// `map_err(on("ec2:CreateVpc", cidr))`: names the call and the resource.
pub fn on<E, R>(operation: &'static str, resource: &str) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let resource = resource.to_owned();
    move |e| aws_error(operation, &resource, e)
}

/// The error and its sources as one line, without Debug dumps.
fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codes() {
        assert!(is_not_found_code("InvalidVpcID.NotFound"));
        assert!(is_not_found_code("NoSuchEntity"));
        assert!(is_not_found_code("NatGatewayNotFound"));
        assert!(!is_not_found_code("DependencyViolation"));
        assert!(is_dependency_violation_code("DependencyViolation"));
        assert!(is_throttling_code("RequestLimitExceeded"));
        assert!(is_already_exists_code("EntityAlreadyExists"));
    }
}
