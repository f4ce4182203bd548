//! The one error classifier: turns SDK errors into `Error::Aws` (operation,
//! resource, message, request ID), answers "is this not-found / a dependency
//! violation / already there" by error code, and decides which failures are
//! AWS catching up (eventual consistency, IAM propagation, conflicting
//! writes) and for how long — so no other module matches on error strings.
//! Throttling and 5xx are the SDK's own standard retry mode's.

use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
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

/// How long a failure may be AWS catching up rather than a real answer:
/// `Some(window)` when `op` (`service:Operation`) failing with `code` and
/// `message` is worth retrying for that long, `None` when it is final. The
/// one place that decides; `retry::send` carries it out. Each rule follows
/// AWS's documentation and the retry terraform-provider-aws carries for it.
pub fn transient_for(op: &str, code: &str, message: &str) -> Option<Duration> {
    let (service, name) = op.split_once(':').unwrap_or(("", op));
    let deleting = ["Delete", "Terminate", "Release", "Disassociate", "Detach", "Revoke", "Cancel", "Remove"]
        .iter()
        .any(|verb| name.starts_with(verb));
    match (service, code) {
        // IAM → EC2 / Auto Scaling: a new instance profile, or its role, not
        // yet visible (terraform ec2_instance.go and autoscaling/group.go,
        // both messages, iamPropagationTimeout = 2 min).
        ("ec2" | "autoscaling", "InvalidParameterValue" | "ValidationError") if is_propagation_message(message) => {
            Some(PROPAGATION)
        }
        // IAM itself: a role created moments ago (terraform
        // instance_profile.go retries AddRoleToInstanceProfile on "The role
        // with name"), and two writes on one entity at once.
        ("iam", "NoSuchEntity") if !deleting && name != "GetRole" && name != "GetInstanceProfile" => Some(PROPAGATION),
        ("iam", "ConcurrentModification") => Some(PROPAGATION),
        // S3: conflicting writes on one bucket, and configuration of a bucket
        // created moments ago (terraform s3/service_package.go,
        // bucket_public_access_block.go: bucketPropagationTimeout = 2 min).
        ("s3", "OperationAborted") => Some(PROPAGATION),
        // SSM: "There are concurrent updates for a resource that supports one
        // update at a time" (API reference, PutParameter: TooManyUpdates).
        ("ssm", "TooManyUpdates") => Some(PROPAGATION),
        ("s3", "NoSuchBucket") if name.starts_with("Put") => Some(PROPAGATION),
        // EC2 is eventually consistent: an ID created moments ago may be
        // unknown to the next call (EC2 developer guide, "Eventual
        // consistency"; terraform create_tags_gen.go: 5 min). A delete's
        // not-found is its success, decided by the caller.
        ("ec2", c) if !deleting && is_not_found_code(c) => Some(EC2_CONSISTENCY),
        // A volume whose instance just terminated is still detaching
        // (terraform ebs_volume.go retries VolumeInUse on delete).
        ("ec2", "VolumeInUse" | "IncorrectState") if name == "DeleteVolume" || name == "AttachVolume" => {
            Some(EC2_CONSISTENCY)
        }
        // Throttling the SDK's standard mode gave up on (its attempts, or its
        // retry quota, spent: AWS SDKs and Tools reference guide, "Retry
        // behavior") is still only "not now".
        (_, c) if THROTTLING.contains(&c) => Some(PROPAGATION),
        // A group whose capacity just changed (terraform autoscaling/group.go).
        ("autoscaling", "ScalingActivityInProgress" | "ResourceInUse") if name == "DeleteAutoScalingGroup" => {
            Some(EC2_CONSISTENCY)
        }
        _ => None,
    }
}

/// The throttling error codes of the SDKs' standard retry mode (AWS SDKs and
/// Tools reference guide, "Retry behavior"), as the SDK itself lists them.
use aws_runtime::retries::classifiers::THROTTLING_ERRORS as THROTTLING;

/// How long IAM changes take to reach EC2 and Auto Scaling (terraform's
/// `iamPropagationTimeout`).
pub const PROPAGATION: Duration = Duration::from_secs(120);
/// How long EC2 takes to know an ID it just created (terraform's
/// `eventualConsistencyTimeout`).
pub const EC2_CONSISTENCY: Duration = Duration::from_secs(300);

/// The two texts EC2 answers while an instance profile or its role has not
/// reached it yet (terraform ec2_instance.go retries on both).
fn is_propagation_message(message: &str) -> bool {
    message.contains("Invalid IAM Instance Profile") || message.contains("has no associated IAM Roles")
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
                // No AWS error in the answer (a proxy's page, an emulator's
                // 500): the cause chain, without the SDK's Debug dump.
                _ => cause_chain(&err),
            };
            (msg, e.meta().extra("aws_request_id").map(str::to_owned))
        }
        _ => {
            let chain = cause_chain(&err);
            if chain.contains("credentials") {
                (format!("no usable AWS credentials (set --profile or AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`): {chain}"), None)
            } else if matches!(err, SdkError::DispatchFailure(_)) && chain.contains("dns error") {
                let why = "its name does not resolve: is the region one AWS has, and is there a network?";
                (format!("cannot reach the AWS endpoint, {why} ({chain})"), None)
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
        assert!(is_already_exists_code("EntityAlreadyExists"));
    }

    #[test]
    fn transient_failures_follow_aws() {
        let both = [
            "Value (p) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
            "IAM Instance Profile \"arn:aws:iam::1:instance-profile/p\" has no associated IAM Roles",
        ];
        for message in both {
            assert_eq!(transient_for("ec2:RunInstances", "InvalidParameterValue", message), Some(PROPAGATION));
            assert_eq!(
                transient_for("autoscaling:CreateAutoScalingGroup", "ValidationError", message),
                Some(PROPAGATION)
            );
        }
        assert_eq!(transient_for("ec2:RunInstances", "InvalidParameterValue", "bad AMI"), None);
        assert!(transient_for("ec2:CreateTags", "InvalidVpcID.NotFound", "").is_some());
        assert!(transient_for("ec2:DescribeNatGateways", "NatGatewayNotFound", "").is_some());
        assert_eq!(transient_for("ec2:DeleteVpc", "InvalidVpcID.NotFound", ""), None, "a delete's not-found is done");
        assert!(transient_for("s3:PutBucketPolicy", "OperationAborted", "").is_some());
        assert!(transient_for("s3:CreateBucket", "OperationAborted", "").is_some());
        assert!(transient_for("s3:PutBucketTagging", "NoSuchBucket", "").is_some());
        assert_eq!(transient_for("s3:GetBucketTagging", "NoSuchBucket", ""), None);
        assert!(transient_for("iam:AddRoleToInstanceProfile", "NoSuchEntity", "").is_some());
        assert_eq!(transient_for("iam:GetRole", "NoSuchEntity", ""), None, "discovery's answer");
        assert_eq!(transient_for("iam:DeleteRole", "NoSuchEntity", ""), None);
        assert!(transient_for("iam:PutRolePolicy", "ConcurrentModification", "").is_some());
        assert!(transient_for("ec2:DeleteVolume", "VolumeInUse", "").is_some());
        assert!(transient_for("autoscaling:DeleteAutoScalingGroup", "ScalingActivityInProgress", "").is_some());
        assert_eq!(transient_for("ec2:DeleteVpc", "DependencyViolation", ""), None, "the executor's, until --timeout");
    }
}
