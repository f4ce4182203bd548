//! The operator's IAM policy: every action gascale itself calls, scoped to
//! what the deployment owns where IAM can scope it (roles and profiles under
//! `/gascale/`, buckets named `gascale-*` or `cache.bucket`, the public AMI
//! parameters, the two service-linked roles AWS may need). `gascale
//! permissions` prints it, the README shows it, and `scripts/test` checks
//! that every action here is one the tests saw gascale call, and every call
//! they saw is here.

use serde_json::{json, Value};

/// EC2 has no resource-level scoping for most of these (Describe*,
/// Create* of new resources): `*`.
pub const EC2: &[&str] = &[
    "AllocateAddress",
    "AssociateAddress",
    "AssociateRouteTable",
    "AttachInternetGateway",
    "AttachVolume",
    "AuthorizeSecurityGroupIngress",
    "CancelSpotInstanceRequests",
    "CreateInternetGateway",
    "CreateLaunchTemplate",
    "CreateLaunchTemplateVersion",
    "CreateNatGateway",
    "CreateRoute",
    "CreateRouteTable",
    "CreateSecurityGroup",
    "CreateSnapshot",
    "CreateSubnet",
    "CreateTags",
    "CreateVolume",
    "CreateVpc",
    "CreateVpcEndpoint",
    "DeleteInternetGateway",
    "DeleteKeyPair",
    "DeleteLaunchTemplate",
    "DeleteNatGateway",
    "DeleteRouteTable",
    "DeleteSecurityGroup",
    "DeleteSnapshot",
    "DeleteSubnet",
    "DeleteVolume",
    "DeleteVpc",
    "DeleteVpcEndpoints",
    "DescribeAccountAttributes",
    "DescribeAddresses",
    "DescribeAvailabilityZones",
    "DescribeInstanceTypeOfferings",
    "DescribeInstanceTypes",
    "DescribeInstances",
    "DescribeInternetGateways",
    "DescribeKeyPairs",
    "DescribeLaunchTemplates",
    "DescribeNatGateways",
    "DescribeRouteTables",
    "DescribeSecurityGroups",
    "DescribeSnapshots",
    "DescribeSpotInstanceRequests",
    "DescribeSubnets",
    "DescribeVolumes",
    "DescribeVpcEndpoints",
    "DescribeVpcs",
    "DetachInternetGateway",
    "DisassociateAddress",
    "DisassociateRouteTable",
    "ModifyVpcAttribute",
    "ModifyVpcEndpoint",
    "ReleaseAddress",
    "RevokeSecurityGroupIngress",
    "RunInstances",
    "TerminateInstances",
];

pub const AUTOSCALING: &[&str] = &[
    "CreateAutoScalingGroup",
    "CreateOrUpdateTags",
    "DeleteAutoScalingGroup",
    "DescribeAutoScalingGroups",
    "DescribeScalingActivities",
    "SuspendProcesses",
    "UpdateAutoScalingGroup",
];

/// On `role/gascale/*`. PassRole: RunInstances and the launch template pass
/// the roles, AddRoleToInstanceProfile too (IAM user guide, "Granting a user
/// permissions to pass a role").
pub const IAM_ROLES: &[&str] = &[
    "AttachRolePolicy",
    "CreateRole",
    "DeleteRole",
    "DeleteRolePolicy",
    "DetachRolePolicy",
    "GetRole",
    "GetRolePolicy",
    "ListAttachedRolePolicies",
    "ListInstanceProfilesForRole",
    "ListRolePolicies",
    "PassRole",
    "PutRolePolicy",
    "TagRole",
];

pub const IAM_PROFILES: &[&str] = &[
    "AddRoleToInstanceProfile",
    "CreateInstanceProfile",
    "DeleteInstanceProfile",
    "GetInstanceProfile",
    "RemoveRoleFromInstanceProfile",
];

/// S3 actions are named after the permission, not the API call
/// (PutBucketEncryption needs s3:PutEncryptionConfiguration, …: S3 user
/// guide, "Required permissions for Amazon S3 API operations").
pub const S3_BUCKET: &[&str] = &[
    "CreateBucket",
    "DeleteBucket",
    "GetBucketTagging",
    "GetEncryptionConfiguration",
    "GetLifecycleConfiguration",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketTagging",
    "PutEncryptionConfiguration",
    "PutLifecycleConfiguration",
];

pub const S3_OBJECTS: &[&str] = &["AbortMultipartUpload", "DeleteObject", "DeleteObjectVersion"];

pub const DLM: &[&str] =
    &["CreateLifecyclePolicy", "DeleteLifecyclePolicy", "GetLifecyclePolicies", "TagResource", "UpdateLifecyclePolicy"];

fn actions(service: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{service}:{n}")).collect()
}

/// The policy; `bucket` is the cache bucket's name or a pattern.
pub fn operator_policy(bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "Network", "Effect": "Allow", "Action": actions("ec2", EC2), "Resource": "*" },
            {
                "Sid": "WorkerGroup", "Effect": "Allow", "Action": actions("autoscaling", AUTOSCALING), "Resource": "*"
            },
            {
                "Sid": "Roles", "Effect": "Allow", "Action": actions("iam", IAM_ROLES),
                "Resource": "arn:aws:iam::*:role/gascale/*"
            },
            {
                "Sid": "InstanceProfiles", "Effect": "Allow", "Action": actions("iam", IAM_PROFILES),
                "Resource": "arn:aws:iam::*:instance-profile/gascale/*"
            },
            {
                // EC2 Spot for docker-machine's spot workers, Auto Scaling on
                // first use (EC2 user guide, "Service-linked role for Spot
                // Instance requests"; Auto Scaling user guide).
                "Sid": "ServiceLinkedRoles", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
                "Resource": "arn:aws:iam::*:role/aws-service-role/*",
                "Condition": { "StringEquals": { "iam:AWSServiceName": ["spot.amazonaws.com", "autoscaling.amazonaws.com"] } }
            },
            {
                "Sid": "CacheBucket", "Effect": "Allow", "Action": actions("s3", S3_BUCKET),
                "Resource": format!("arn:aws:s3:::{bucket}")
            },
            {
                "Sid": "CacheObjects", "Effect": "Allow", "Action": actions("s3", S3_OBJECTS),
                "Resource": format!("arn:aws:s3:::{bucket}/*")
            },
            {
                // The preflight's VPC headroom ("VPCs per Region").
                "Sid": "VpcQuota", "Effect": "Allow", "Action": "servicequotas:GetServiceQuota",
                "Resource": "arn:aws:servicequotas:*:*:vpc/L-F678F1CE"
            },
            {
                // backup.schedule: the deployment's Data Lifecycle Manager
                // policy (discovery lists them by target tag), run by the
                // account's default DLM role, created when missing.
                "Sid": "SnapshotSchedule", "Effect": "Allow", "Action": actions("dlm", DLM), "Resource": "*"
            },
            {
                "Sid": "SnapshotScheduleRole", "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:CreateRole", "iam:GetRole", "iam:PassRole"],
                "Resource": format!("arn:aws:iam::*:role/{}", crate::aws::dlm::DEFAULT_ROLE)
            },
            {
                // The deployment's lock (aws::lock): /gascale/<name>/lock
                // and its takeover section, in the deployment's region.
                "Sid": "DeploymentLock", "Effect": "Allow",
                "Action": ["ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParametersByPath", "ssm:PutParameter"],
                "Resource": ["arn:aws:ssm:*:*:parameter/gascale", "arn:aws:ssm:*:*:parameter/gascale/*"]
            },
            {
                "Sid": "PublicAmiParameters", "Effect": "Allow", "Action": "ssm:GetParameter",
                "Resource": "arn:aws:ssm:*::parameter/aws/service/*"
            },
            {
                // fetch-root-password, exec, runner updates and stopping the
                // runner on destroy: AWS-RunShellScript on the host.
                "Sid": "HostCommands", "Effect": "Allow", "Action": "ssm:SendCommand",
                "Resource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ssm:*::document/AWS-RunShellScript"]
            },
            { "Sid": "HostCommandResults", "Effect": "Allow", "Action": "ssm:GetCommandInvocation", "Resource": "*" }
        ]
    })
}
